//! One process: the session's room already reaches every socket, so there is nobody to tell.

use super::{Deliver, Fanout, Notice, Topic};

pub struct LocalFanout;

impl Fanout for LocalFanout {
    fn is_shared(&self) -> bool {
        false
    }

    fn instance(&self) -> &str {
        "local"
    }

    fn publish(&self, _topic: Topic<'_>, _notice: &Notice) {}

    fn watch(&self, _topic: Topic<'_>) {}

    fn unwatch(&self, _topic: Topic<'_>) {}

    fn deliver_to(&self, _deliver: Deliver) {}
}
