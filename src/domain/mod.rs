//! The domain's values, shared by every layer: the session model and its events and summaries,
//! timestamps, ids, the list query, and commits. It imports no other module of the crate, and
//! every module that speaks of sessions (`session`, `store`, `fanout`, the transports) imports
//! it.

pub mod commit;
pub mod list;
pub mod model;
pub mod time;

use rand::Rng;
use rand::distr::Alphanumeric;

/// A 20-character alphanumeric id, as Firestore generates them.
pub fn new_id() -> String {
    rand::rng()
        .sample_iter(Alphanumeric)
        .take(20)
        .map(char::from)
        .collect()
}
