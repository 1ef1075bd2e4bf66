//! The writer thread, the only one that writes the tables: creations and deletions (each a
//! job in a savepoint of one shared transaction), and the flushes the journal thread hands
//! over, which write journaled commits into the tables a session at a time. Also how the
//! journal a crash left is applied on open.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::Duration;

use rusqlite::Connection;
use tokio::sync::oneshot;

use super::checkpoint::checkpoint;
use super::journal::Journal;
use super::overlay::Overlay;
use super::rows;
use super::{MAX_WRITES_PER_TRANSACTION, StoreError, unavailable};
use crate::domain::commit::Commit;

/// How long the writer waits before trying a failed flush again.
const FLUSH_RETRY: Duration = Duration::from_secs(1);

/// What the writer thread does.
pub(super) enum SqlJob {
    Write(Box<dyn WriteJob>),
    /// Write a batch sealed from the overlay into the tables, then remove its segment.
    Flush {
        commits: Vec<Arc<Commit>>,
        segment: u64,
    },
}

pub(super) struct Writer {
    pub(super) conn: Connection,
    pub(super) overlay: Arc<Overlay>,
    pub(super) journal_dir: PathBuf,
    pub(super) restart_due: Arc<AtomicBool>,
}

impl Writer {
    pub(super) fn run(self, queue: mpsc::Receiver<SqlJob>) {
        // A flush that failed, tried again until it succeeds; no other is sealed meanwhile.
        let mut failed: Option<(Vec<Arc<Commit>>, u64)> = None;
        loop {
            let first = if failed.is_some() {
                match queue.recv_timeout(FLUSH_RETRY) {
                    Ok(job) => Some(job),
                    Err(RecvTimeoutError::Timeout) => None,
                    Err(RecvTimeoutError::Disconnected) => break,
                }
            } else {
                match queue.recv() {
                    Ok(job) => Some(job),
                    Err(_) => break,
                }
            };
            if let Some((commits, segment)) = failed.take() {
                failed = self.flush(commits, segment);
            }
            let mut jobs: Vec<Box<dyn WriteJob>> = Vec::new();
            for job in first
                .into_iter()
                .chain(std::iter::from_fn(|| queue.try_recv().ok()))
            {
                match job {
                    SqlJob::Write(job) => {
                        jobs.push(job);
                        if jobs.len() == MAX_WRITES_PER_TRANSACTION {
                            self.transaction(std::mem::take(&mut jobs));
                        }
                    }
                    SqlJob::Flush { commits, segment } => {
                        self.transaction(std::mem::take(&mut jobs));
                        failed = self.flush(commits, segment);
                    }
                }
            }
            self.transaction(jobs);
            if self.restart_due.load(Ordering::Acquire) {
                if let Err(err) = checkpoint(&self.conn) {
                    tracing::warn!(error = %err, "sqlite checkpoint failed");
                }
                self.restart_due.store(false, Ordering::Release);
            }
        }
    }

    /// Runs the jobs in one transaction and answers each.
    fn transaction(&self, mut jobs: Vec<Box<dyn WriteJob>>) {
        if jobs.is_empty() {
            return;
        }
        let committed = run_transaction(&self.conn, &mut jobs).map_err(|e| format!("sqlite: {e}"));
        if let Err(cause) = &committed {
            tracing::error!(%cause, writes = jobs.len(), "sqlite transaction failed");
            let _ = self.conn.execute_batch("ROLLBACK");
        }
        for job in jobs {
            job.finish(committed.clone());
        }
    }

    /// Writes a sealed batch into the tables; answers it back if that failed.
    fn flush(&self, commits: Vec<Arc<Commit>>, segment: u64) -> Option<(Vec<Arc<Commit>>, u64)> {
        crate::telemetry::metrics::store_operation("sqlite", "flush", 1);
        match flush(&self.conn, &commits) {
            Ok(()) => {
                self.overlay.flushed();
                crate::telemetry::metrics::sqlite_journaled_commits()
                    .set(self.overlay.len() as f64);
                Journal::remove(&self.journal_dir, segment);
                None
            }
            Err(err) => {
                tracing::error!(error = %err, commits = commits.len(), "writing journaled commits into the tables failed; retrying");
                Some((commits, segment))
            }
        }
    }
}

/// Applies the segments a previous run left in the journal to the tables, then removes them;
/// answers the number the next segment takes.
pub(super) fn replay(conn: &Connection, dir: &Path) -> Result<u64, StoreError> {
    let segments = Journal::recover(dir)
        .map_err(|e| StoreError::Unavailable(format!("cannot read the journal: {e}")))?;
    let Some(last) = segments.last().map(|segment| segment.number) else {
        return Ok(0);
    };
    let mut by_session: HashMap<String, Vec<Arc<Commit>>> = HashMap::new();
    let mut count = 0;
    for commit in segments.into_iter().flat_map(|segment| segment.commits) {
        count += 1;
        by_session
            .entry(commit.meta.id.clone())
            .or_default()
            .push(Arc::new(commit));
    }
    let commits: Vec<Arc<Commit>> = by_session.into_values().flatten().collect();
    flush(conn, &commits).map_err(unavailable)?;
    for number in 0..=last {
        if journal_dir_has(dir, number) {
            Journal::remove(dir, number);
        }
    }
    tracing::info!(
        commits = count,
        "applied the journal left by the previous run"
    );
    Ok(last + 1)
}

fn journal_dir_has(dir: &Path, number: u64) -> bool {
    dir.join(format!("{number:012}.jsonl")).exists()
}

/// Writes journaled commits into the tables in one transaction. `commits` holds each
/// session's commits together, in order. A commit the tables already have (a segment applied
/// again after a crash) is skipped; so are those of a session deleted meanwhile.
fn flush(conn: &Connection, commits: &[Arc<Commit>]) -> rusqlite::Result<()> {
    conn.execute_batch("BEGIN IMMEDIATE")?;
    let written = commits
        .chunk_by(|a, b| a.meta.id == b.meta.id)
        .try_for_each(|session| flush_session(conn, session));
    match written {
        Ok(()) => conn.execute_batch("COMMIT"),
        Err(err) => {
            let _ = conn.execute_batch("ROLLBACK");
            Err(err)
        }
    }
}

/// One session's commits, inside a savepoint, as one update of the session row: a group that
/// cannot be applied leaves none of its rows behind.
fn flush_session(conn: &Connection, commits: &[Arc<Commit>]) -> rusqlite::Result<()> {
    let Some(id) = commits.first().map(|commit| commit.meta.id.as_str()) else {
        return Ok(());
    };
    let Some(stored) = rows::session_seq(conn, id).ok().flatten() else {
        // Deleted since.
        return Ok(());
    };
    let fresh: Vec<&Commit> = commits
        .iter()
        .map(|commit| &**commit)
        .filter(|commit| commit.meta.seq > stored)
        .collect();
    if fresh.is_empty() {
        return Ok(());
    }
    conn.prepare_cached("SAVEPOINT flush")?.execute([])?;
    if let Err(err) = rows::write_commits(conn, &fresh) {
        tracing::error!(
            session = %id,
            seq = stored,
            error = %err,
            "journaled commits cannot be written into the tables"
        );
        conn.prepare_cached("ROLLBACK TO flush")?.execute([])?;
    }
    conn.prepare_cached("RELEASE flush")?.execute([])?;
    Ok(())
}

/// A write waiting for the writer thread: it runs inside the shared transaction, and learns
/// afterwards whether that transaction committed.
pub(super) trait WriteJob: Send {
    fn run(&mut self, conn: &Connection) -> bool;
    fn finish(self: Box<Self>, committed: Result<(), String>);
}

pub(super) struct Job<T, F> {
    pub(super) work: Option<F>,
    pub(super) outcome: Option<Result<T, StoreError>>,
    pub(super) reply: oneshot::Sender<Result<T, StoreError>>,
}

impl<T, F> WriteJob for Job<T, F>
where
    T: Send,
    F: FnOnce(&Connection) -> Result<T, StoreError> + Send,
{
    fn run(&mut self, conn: &Connection) -> bool {
        let outcome = match self.work.take() {
            Some(work) => work(conn),
            None => Err(StoreError::Unavailable("write ran twice".into())),
        };
        let ok = outcome.is_ok();
        self.outcome = Some(outcome);
        ok
    }

    fn finish(self: Box<Self>, committed: Result<(), String>) {
        let outcome = match (self.outcome, committed) {
            (Some(Ok(value)), Ok(())) => Ok(value),
            (Some(Err(err)), _) => Err(err),
            (_, Err(cause)) => Err(StoreError::Unavailable(cause)),
            (None, Ok(())) => Err(StoreError::Unavailable("write never ran".into())),
        };
        // The caller may have gone away (its request was cancelled); the write stands.
        let _ = self.reply.send(outcome);
    }
}

/// Runs each job in its own savepoint (a failed job leaves no trace), then commits them all.
fn run_transaction(conn: &Connection, jobs: &mut [Box<dyn WriteJob>]) -> rusqlite::Result<()> {
    conn.execute_batch("BEGIN IMMEDIATE")?;
    for job in jobs.iter_mut() {
        conn.execute_batch("SAVEPOINT job")?;
        if job.run(conn) {
            conn.execute_batch("RELEASE job")?;
        } else {
            conn.execute_batch("ROLLBACK TO job; RELEASE job")?;
        }
    }
    conn.execute_batch("COMMIT")?;
    Ok(())
}
