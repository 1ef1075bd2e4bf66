//! Taking turns on a session that several instances write at once.
//!
//! A commit is a compare-and-set on the session document, so with writers on several instances
//! the one with the slowest link to Firestore would lose every race: by the time its commit
//! arrives, another has committed. Writers therefore take turns, oldest first:
//!
//! - A writer that loses a race claims the next turn at once, with no read first: it raises the
//!   document's `turn` field to its claim (Firestore's `maximum` transform, which needs no
//!   condition). A claim is the age of the writer's pending commit in milliseconds, above a
//!   tag of its instance, so the writer that has waited longest holds the turn, and a younger
//!   writer's claim changes nothing (not even the document's version).
//! - A writer that reads a turn held by another instance waits until the document changes (the
//!   holder committed, which clears the turn), then claims the next turn itself (it has waited
//!   longer than any writer that lost its first race since), or until the turn's lease runs out
//!   (the holder is gone).
//! - The holder reads the session once more and commits on the version its claim left, which
//!   no other writer can change meanwhile.
//!
//! A slow writer thus loses at most once more after its claim, and a fast one waits at most one
//! commit of the slowest. Nothing is held by a writer that crashes beyond the lease.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use firestore::FirestoreDb;
use firestore::errors::FirestoreError;
use firestore::gcloud_sdk::google::firestore::v1::{
    DocumentTransform, Precondition, Value, Write, document_transform, precondition, value, write,
};

use super::docs::{SESSIONS, TURN};

/// How long a writer waits for another's turn before going on without it.
pub const LEASE: Duration = Duration::from_secs(5);
/// How often a writer waiting for another's turn reads the session document.
pub const POLL: Duration = Duration::from_millis(25);
/// Bits of a claim that name the claiming instance.
const TAG_BITS: u32 = 20;
/// A pending commit older than this was given up on.
const STALE: Duration = Duration::from_secs(30);
/// Sessions with a pending commit tracked at once; beyond, the oldest are forgotten.
const TRACKED: usize = 10_000;

/// This instance's pending commits and the turns it holds.
pub struct Turns {
    tag: i64,
    pending: Mutex<HashMap<String, Pending>>,
}

struct Pending {
    since: Instant,
    claim: Option<i64>,
}

impl Turns {
    pub fn new() -> Self {
        Self {
            tag: rand::random_range(0..1i64 << TAG_BITS),
            pending: Mutex::new(HashMap::new()),
        }
    }

    /// A commit of `id` is being tried: its age counts from the first try since the last one
    /// that ended.
    pub fn trying(&self, id: &str) {
        let mut pending = self.pending.lock().unwrap();
        // A commit given up on (its writes failed) leaves its entry: it is not counted as
        // pending for longer than a commit may take.
        if pending.get(id).is_some_and(|p| p.since.elapsed() < STALE) {
            return;
        }
        if pending.len() >= TRACKED {
            pending.clear();
        }
        pending.insert(
            id.to_owned(),
            Pending {
                since: Instant::now(),
                claim: None,
            },
        );
    }

    /// The commit of `id` ended (committed or failed for good): its turn, if it held one, was
    /// cleared by its write or will run out.
    pub fn ended(&self, id: &str) {
        self.pending.lock().unwrap().remove(id);
    }

    /// Whether `turn`, read from the session document, is this instance's own claim.
    pub fn holds(&self, id: &str, turn: i64) -> bool {
        let pending = self.pending.lock().unwrap();
        pending.get(id).and_then(|p| p.claim) == Some(turn)
    }

    /// The claim for `id` now: the pending commit's age above this instance's tag.
    fn claim(&self, id: &str) -> i64 {
        let pending = self.pending.lock().unwrap();
        let age = pending
            .get(id)
            .map_or(0, |p| p.since.elapsed().as_millis() as i64);
        ((age + 1) << TAG_BITS) | self.tag
    }

    fn claimed(&self, id: &str, claim: i64, held: bool) {
        if let Some(pending) = self.pending.lock().unwrap().get_mut(id) {
            pending.claim = held.then_some(claim);
        }
    }

    /// Claims the next turn on session `id` after a lost race: one write, with no condition
    /// but that the session exists. Whether the claim holds is known from its answer; a claim
    /// that does not hold leaves the document as it was.
    pub async fn claim_next(&self, db: &FirestoreDb, id: &str) -> Result<bool, FirestoreError> {
        let claim = self.claim(id);
        let transform = document_transform::FieldTransform {
            field_path: TURN.to_owned(),
            transform_type: Some(document_transform::field_transform::TransformType::Maximum(
                Value {
                    value_type: Some(value::ValueType::IntegerValue(claim)),
                },
            )),
        };
        let write = Write {
            operation: Some(write::Operation::Transform(DocumentTransform {
                document: format!("{}/{SESSIONS}/{id}", db.get_documents_path()),
                field_transforms: vec![transform],
            })),
            current_document: Some(Precondition {
                condition_type: Some(precondition::ConditionType::Exists(true)),
            }),
            ..Default::default()
        };
        let response = super::write::commit_writes(db, vec![write]).await?;
        let now = response
            .write_results
            .first()
            .and_then(|result| result.transform_results.first())
            .and_then(|value| match value.value_type {
                Some(value::ValueType::IntegerValue(turn)) => Some(turn),
                _ => None,
            });
        let held = now == Some(claim);
        self.claimed(id, claim, held);
        Ok(held)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_older_pending_commit_claims_above_a_younger_one() {
        let (old, young) = (Turns::new(), Turns::new());
        old.trying("s");
        std::thread::sleep(Duration::from_millis(5));
        young.trying("s");
        assert!(old.claim("s") > young.claim("s"));
    }

    #[test]
    fn a_turn_is_held_only_by_the_claim_that_won_and_until_the_commit_ends() {
        let turns = Turns::new();
        turns.trying("s");
        let claim = turns.claim("s");
        turns.claimed("s", claim, false);
        assert!(!turns.holds("s", claim));
        turns.claimed("s", claim, true);
        assert!(turns.holds("s", claim));
        assert!(!turns.holds("s", claim + 1));
        turns.ended("s");
        assert!(!turns.holds("s", claim));
    }
}
