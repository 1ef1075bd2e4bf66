//! The journal thread, where a commit is acknowledged: it takes every commit waiting, checks
//! each against its session's `seq` (the overlay's latest, or the table's), appends those that
//! pass to the journal with one write, adds them to the overlay, and answers each. About once
//! a second (or once [`FLUSH_AT`] commits are held) it closes the segment and hands what the
//! overlay holds to the writer thread.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::Duration;

use rusqlite::Connection;
use tokio::sync::oneshot;

use super::journal::{self, Journal};
use super::overlay::Overlay;
use super::rows;
use super::writer::SqlJob;
use super::{MAX_WRITES_PER_TRANSACTION, StoreError};
use crate::domain::commit::Commit;

/// How long a commit may wait in the overlay before it is written into the tables.
pub(super) const FLUSH_EVERY: Duration = Duration::from_secs(1);

/// Commits held in the overlay that make a flush due at once.
const FLUSH_AT: usize = 16_384;

/// Commits the overlay may hold, should flushes fall behind (or fail, on a full disk): beyond
/// this many, commits are refused as `Unavailable` rather than held in memory without bound.
const MAX_HELD: usize = 131_072;

/// A commit on its way to the journal.
pub(super) struct CommitJob {
    pub(super) commit: Arc<Commit>,
    pub(super) reply: oneshot::Sender<Result<(), StoreError>>,
}

pub(super) struct JournalThread {
    pub(super) journal: Journal,
    /// Reads the `seq` of sessions the overlay holds nothing of.
    pub(super) conn: Connection,
    pub(super) overlay: Arc<Overlay>,
    pub(super) flushes: mpsc::Sender<SqlJob>,
    pub(super) failing: Arc<AtomicBool>,
}

impl JournalThread {
    pub(super) fn run(mut self, queue: mpsc::Receiver<CommitJob>) {
        loop {
            match queue.recv_timeout(FLUSH_EVERY / 4) {
                Ok(first) => {
                    let mut jobs = vec![first];
                    while jobs.len() < MAX_WRITES_PER_TRANSACTION
                        && let Ok(job) = queue.try_recv()
                    {
                        jobs.push(job);
                    }
                    self.append(jobs);
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
            if self.overlay.due(FLUSH_AT, FLUSH_EVERY) {
                self.hand_over();
            }
        }
        // Closing: what is journaled goes to the tables now rather than at the next open.
        if self.overlay.due(1, Duration::ZERO) {
            self.hand_over();
        }
    }

    /// Checks each commit against the session's `seq`, appends those that pass to the journal
    /// at once, and answers each.
    fn append(&mut self, jobs: Vec<CommitJob>) {
        let held = self.overlay.len();
        // The `seq` of sessions given a commit earlier in this group.
        let mut latest: HashMap<String, u64> = HashMap::new();
        let mut lines = Vec::new();
        let mut accepted = Vec::with_capacity(jobs.len());
        for job in jobs {
            let commit = &job.commit;
            let checked = if held + accepted.len() >= MAX_HELD {
                Err(StoreError::Unavailable(
                    "the store is behind writing to its tables; retry shortly".into(),
                ))
            } else {
                self.current_seq(&latest, &commit.meta.id)
                    .and_then(|seq| match seq {
                        None => Err(StoreError::NotFound),
                        Some(seq) if seq != commit.expected_seq => Err(StoreError::SeqMismatch),
                        Some(_) => Ok(()),
                    })
            };
            match checked {
                Ok(()) => {
                    journal::encode(commit, &mut lines);
                    latest.insert(commit.meta.id.clone(), commit.meta.seq);
                    accepted.push(job);
                }
                Err(err) => drop(job.reply.send(Err(err))),
            }
        }
        if accepted.is_empty() {
            return;
        }
        match self.journal.append(&lines) {
            Ok(()) => {
                self.failing.store(false, Ordering::Relaxed);
                self.overlay
                    .add(accepted.iter().map(|job| Arc::clone(&job.commit)));
                crate::telemetry::metrics::sqlite_journaled_commits()
                    .set(self.overlay.len() as f64);
                for job in accepted {
                    // The caller may have gone away (its request was cancelled); the commit
                    // stands.
                    let _ = job.reply.send(Ok(()));
                }
            }
            Err(cause) => {
                tracing::error!(%cause, commits = accepted.len(), "appending to the journal failed");
                self.failing.store(true, Ordering::Relaxed);
                for job in accepted {
                    let _ = job.reply.send(Err(StoreError::Unavailable(cause.clone())));
                }
            }
        }
    }

    fn current_seq(
        &self,
        latest: &HashMap<String, u64>,
        id: &str,
    ) -> Result<Option<u64>, StoreError> {
        if let Some(seq) = latest.get(id) {
            return Ok(Some(*seq));
        }
        match self.overlay.latest_seq(id) {
            Some(seq) => Ok(Some(seq)),
            None => rows::session_seq(&self.conn, id),
        }
    }

    /// Closes the segment and hands the commits it holds to the writer thread.
    fn hand_over(&mut self) {
        match self.journal.rotate() {
            Ok(segment) => {
                let commits = self.overlay.seal();
                if self
                    .flushes
                    .send(SqlJob::Flush { commits, segment })
                    .is_err()
                {
                    tracing::warn!(
                        "the writer thread has stopped; the journal is applied at the next open"
                    );
                }
            }
            Err(err) => {
                tracing::error!(error = %err, "cannot start a new journal segment; retrying")
            }
        }
    }
}
