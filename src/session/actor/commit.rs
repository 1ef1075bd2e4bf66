//! Committing a group of writes: cut as the store says, applied to the state, committed as a
//! compare-and-set on `seq`, retried on top of the other writer's changes after a lost race,
//! and answered once durable.

use tokio::time::Instant;
use tracing::Instrument as _;

use super::{COMMIT_PATIENCE, MAX_COMMIT_ATTEMPTS, PendingWrite, SessionActor, SessionState, Stop};
use crate::domain::commit::{Commit, WriteSize};
use crate::domain::time::Timestamp;
use crate::session::SessionError;
use crate::session::rules::Outcome;
use crate::store::StoreError;
use crate::telemetry::traces;

impl SessionActor {
    /// Commits the group's writes, cut into as many commits as the store says it needs.
    pub(super) async fn commit_writes(
        &mut self,
        mut state: SessionState,
        mut writes: Vec<PendingWrite>,
    ) -> Result<SessionState, Stop> {
        let sizes: Vec<WriteSize> = writes.iter().map(|write| write.op.size()).collect();
        let runs = self.store.split_group(&sizes);
        for run in runs {
            let rest = writes.split_off(run.min(writes.len()));
            let group = std::mem::replace(&mut writes, rest);
            if !group.is_empty() {
                state = self.traced_commit(state, group).await?;
            }
        }
        // What a store's cut left out still goes, as one more commit.
        if !writes.is_empty() {
            state = self.traced_commit(state, writes).await?;
        }
        Ok(state)
    }

    /// One commit, in a span of its own when traces are on: a child of the first traced write
    /// it carries, linked to each of them.
    async fn traced_commit(
        &mut self,
        state: SessionState,
        writes: Vec<PendingWrite>,
    ) -> Result<SessionState, Stop> {
        let traced = || writes.iter().filter_map(|write| write.origin.span());
        let Some(first) = traced().next() else {
            return self.commit_group(state, writes).await;
        };
        let span = tracing::info_span!(
            parent: first,
            "commit",
            session = %self.id,
            writes = writes.len()
        );
        for write in traced() {
            traces::link(&span, write);
        }
        self.commit_group(state, writes).instrument(span).await
    }

    async fn commit_group(
        &mut self,
        mut state: SessionState,
        writes: Vec<PendingWrite>,
    ) -> Result<SessionState, Stop> {
        let first_try = Instant::now();
        for attempt in 1..=MAX_COMMIT_ATTEMPTS {
            let expected_seq = state.meta().seq;
            let now = Timestamp::now();
            let mut events = Vec::new();
            let results: Vec<Result<Outcome, SessionError>> = writes
                .iter()
                .map(|write| {
                    let (outcome, event) = state.apply(&write.op, now, &self.settings.limits)?;
                    events.extend(event);
                    Ok(outcome)
                })
                .collect();
            if events.is_empty() {
                answer(writes, results);
                return Ok(state);
            }
            let commit = Commit::new(expected_seq, state.meta().clone(), events);
            let started = Instant::now();
            let committed = self.store.commit(&commit).await;
            let metrics = crate::telemetry::metrics::metrics();
            metrics.commit_duration.record(started.elapsed());
            match &committed {
                Ok(()) => metrics.commits_ok.increment(1),
                Err(StoreError::SeqMismatch) => metrics.commits_conflict.increment(1),
                Err(_) => metrics.commits_failed.increment(1),
            }
            match committed {
                Ok(()) => {
                    self.published(&commit);
                    answer(writes, results);
                    self.listed(&state);
                    return Ok(state);
                }
                Err(StoreError::SeqMismatch) => {
                    tracing::debug!(session = %self.id, attempt, "lost a seq race; reloading");
                    // Another writer committed first: show its events to this instance's
                    // watchers, then apply the group again on top (the state held this
                    // attempt's uncommitted changes; the reload discards them). No pause: the
                    // store makes writers that keep colliding (other instances write too) take
                    // turns.
                    state = match self.catch_up(state).await {
                        Ok(fresh) => fresh,
                        Err(stop) => {
                            let err = match &stop {
                                Stop::Gone => SessionError::NotFound,
                                _ => SessionError::Unavailable("cannot reload the session".into()),
                            };
                            return Err(fail_all(writes, err, stop));
                        }
                    };
                    if first_try.elapsed() >= COMMIT_PATIENCE {
                        break;
                    }
                }
                Err(StoreError::NotFound) => {
                    return Err(fail_all(writes, SessionError::NotFound, Stop::Gone));
                }
                Err(err) => {
                    tracing::warn!(session = %self.id, error = %err, "commit failed");
                    let cause: SessionError = err.into();
                    for write in writes {
                        let _ = write.reply.send(Err(cause.clone()));
                    }
                    // The state holds changes the store may or may not have: it goes on from
                    // what the store says (showing the watchers whatever did commit), and only
                    // a store it cannot read stops it, closing its sockets.
                    let fresh = self.catch_up(state).await?;
                    if fresh.meta().seq > expected_seq {
                        self.listed(&fresh);
                    }
                    return Ok(fresh);
                }
            }
        }
        // Still losing after every attempt, or for too long: the writes fail (retryable), the
        // session goes on from the state just reloaded.
        tracing::warn!(session = %self.id, "gave up a commit after losing races for {:?}", first_try.elapsed());
        for write in writes {
            let _ = write.reply.send(Err(StoreError::SeqMismatch.into()));
        }
        Ok(state)
    }
}

fn answer(writes: Vec<PendingWrite>, results: Vec<Result<Outcome, SessionError>>) {
    for (write, result) in writes.into_iter().zip(results) {
        let _ = write.reply.send(result);
    }
}

fn fail_all(writes: Vec<PendingWrite>, err: SessionError, stop: Stop) -> Stop {
    for write in writes {
        let _ = write.reply.send(Err(err.clone()));
    }
    stop
}

#[cfg(test)]
mod tests {
    use crate::domain::commit::WriteSize;
    use crate::session::validation::Limits;
    use crate::store::firestore::limits::{MAX_WRITES, SESSION, op_writes};

    #[test]
    fn the_largest_append_validation_allows_fits_one_commit() {
        let largest = WriteSize {
            messages: 1,
            images: Limits::default().max_images_per_message,
        };
        assert!(SESSION + op_writes(&largest) <= MAX_WRITES);
    }
}
