//! What this instance remembers of sessions between calls, so that calls can be skipped
//! without ever serving stale data:
//!
//! - [`Versions`]: each session document's version (its update time) as this instance last
//!   wrote or read it, with the `seq` and message count of that version. A commit from the
//!   `seq` it knows is conditioned on that version directly, with no read first; another
//!   writer in between makes the condition fail, and the commit is retried after a read.
//! - [`Bodies`]: whole sessions by version. A read still fetches the session document (so a
//!   write by any instance is seen), and serves the body held for its version rather than
//!   querying messages and images again.
//!
//! Both are bounded caches; losing an entry only costs the calls it would have saved.

use std::sync::Arc;

use firestore::gcloud_sdk::prost_types::Timestamp as Instant;

use crate::domain::commit::Commit;
use crate::domain::model::Session;

/// A document's version: its update time, as Firestore reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Version {
    pub seconds: i64,
    pub nanos: i32,
}

impl Version {
    pub fn of(time: &Instant) -> Self {
        Self {
            seconds: time.seconds,
            nanos: time.nanos,
        }
    }

    /// The version as a write condition's update time.
    pub fn instant(self) -> firestore::FirestoreInstant {
        firestore::FirestoreInstant::new(self.seconds, self.nanos).unwrap_or_default()
    }
}

/// A session document as of a version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Known {
    pub version: Version,
    pub seq: u64,
    pub message_count: usize,
    /// The turn another writer claimed on this version, if any.
    pub turn: Option<i64>,
}

/// Sessions whose documents' versions this instance knows.
const VERSIONS: usize = 65_536;
/// How much of held bodies to keep, in messages and images.
const BODY_WEIGHT: u64 = 1_000_000;

pub struct Versions(quick_cache::sync::Cache<String, Known>);

impl Versions {
    pub fn new() -> Self {
        Self(quick_cache::sync::Cache::new(VERSIONS))
    }

    pub fn get(&self, id: &str) -> Option<Known> {
        self.0.get(id)
    }

    pub fn set(&self, id: &str, known: Known) {
        self.0.insert(id.to_owned(), known);
    }

    pub fn forget(&self, id: &str) {
        self.0.remove(id);
    }
}

#[derive(Clone)]
struct Weight;

impl quick_cache::Weighter<String, (Version, Arc<Session>)> for Weight {
    fn weight(&self, _: &String, (_, session): &(Version, Arc<Session>)) -> u64 {
        1 + session.messages.len() as u64 + u64::from(session.meta.total_images)
    }
}

pub struct Bodies(quick_cache::sync::Cache<String, (Version, Arc<Session>), Weight>);

impl Bodies {
    pub fn new() -> Self {
        Self(quick_cache::sync::Cache::with_weighter(
            VERSIONS,
            BODY_WEIGHT,
            Weight,
        ))
    }

    /// Whether some version of the session is held.
    pub fn holds(&self, id: &str) -> bool {
        self.0.get(id).is_some()
    }

    /// The session as of `version`, if held.
    pub fn get(&self, id: &str, version: Version) -> Option<Arc<Session>> {
        self.0
            .get(id)
            .filter(|(held, _)| *held == version)
            .map(|(_, session)| session)
    }

    pub fn hold(&self, version: Version, session: Session) -> Arc<Session> {
        let session = Arc::new(session);
        self.0
            .insert(session.meta.id.clone(), (version, Arc::clone(&session)));
        session
    }

    /// A commit of this instance, from the version held to `version`: the held body moves
    /// along, so the next read of the session needs no query of its messages and images.
    pub fn committed(&self, commit: &Commit, from: Version, version: Version) {
        let id = &commit.meta.id;
        let Some(held) = self.get(id, from) else {
            return;
        };
        let mut session = Session::clone(&held);
        commit.apply_to(&mut session);
        self.hold(version, session);
    }

    pub fn forget(&self, id: &str) {
        self.0.remove(id);
    }
}
