//! One process: the session's room already reaches every socket, so there is nobody to tell.

use super::{Deliver, Fanout, Notice};

pub struct LocalFanout;

impl Fanout for LocalFanout {
    fn is_shared(&self) -> bool {
        false
    }

    fn instance(&self) -> &str {
        "local"
    }

    fn publish(&self, _session: &str, _notice: &Notice) {}

    fn watch(&self, _session: &str) {}

    fn unwatch(&self, _session: &str) {}

    fn deliver_to(&self, _deliver: Deliver) {}
}
