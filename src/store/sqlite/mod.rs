//! The embedded store: one SQLite file in WAL mode under the data dir, and a journal beside it.
//!
//! A commit (an append, an update) is acknowledged once it is a line in the journal
//! (`journal`): one sequential write of a few hundred bytes, however many sessions are being
//! written. The journal thread takes every commit waiting, checks each against the session's
//! `seq`, and appends them together. Until the commits are in the tables, reads find them in
//! the overlay (`overlay`), which every read consults. About once a second the writer thread
//! writes the commits held there into the tables in one transaction (a *flush*), where a
//! session's many appends share the pages they touch, and the journal segment is removed.
//! After a crash the segments left are applied again on open.
//!
//! Creations and deletions go straight to the tables on the writer thread, which takes every
//! write waiting in its queue, runs each inside a savepoint of one transaction, and commits
//! them together. Reads run on a small pool of read connections, which WAL lets proceed while
//! the writer commits. A third thread checkpoints the WAL into the database file, so that
//! copying pages and syncing them mostly happens beside the commits rather than inside them;
//! see `run_checkpointer`.

mod journal;
mod overlay;
mod read;
mod rows;
mod schema;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use rusqlite::{Connection, OpenFlags};
use tokio::sync::{Semaphore, oneshot};

use super::{Commit, Located, Page, SessionStore, StoreError};
use crate::session::model::{Session, SessionEvent, SessionMeta};
use crate::session::validation::ListQuery;
use journal::Journal;
use overlay::Overlay;

/// How far the store goes to make a commit durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Synchronous {
    /// Survives a crash of the process (`kill -9`); the last commits may be lost if the
    /// machine itself loses power.
    Normal,
    /// Every commit is synced to the disk before it is acknowledged.
    Full,
}

#[derive(Debug, Clone)]
pub struct SqliteOptions {
    pub synchronous: Synchronous,
    /// Read connections; reads beyond this many wait for one to be free.
    pub readers: usize,
}

/// Most writes merged into one transaction, and most commits into one append to the journal.
const MAX_WRITES_PER_TRANSACTION: usize = 256;

/// How long a commit may wait in the overlay before it is written into the tables.
const FLUSH_EVERY: Duration = Duration::from_secs(1);

/// Commits held in the overlay that make a flush due at once.
const FLUSH_AT: usize = 16_384;

/// Commits the overlay may hold, should flushes fall behind (or fail, on a full disk): beyond
/// this many, commits are refused as `Unavailable` rather than held in memory without bound.
const MAX_HELD: usize = 131_072;

/// How long the writer waits before trying a failed flush again.
const FLUSH_RETRY: Duration = Duration::from_secs(1);

/// How often the checkpointer copies the WAL into the database file.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(100);

/// The writer's page cache, in KiB (as `PRAGMA cache_size` takes it, negated).
const WRITER_CACHE_KIB: i64 = -32 * 1024;

/// WAL pages (4 KiB each) past which the checkpointer makes the WAL start over.
const WAL_RESTART_PAGES: i64 = 1024;

pub struct SqliteStore {
    commits: mpsc::Sender<CommitJob>,
    writes: mpsc::Sender<SqlJob>,
    readers: Arc<ReaderPool>,
    /// Commits journaled and not yet in the tables; shared by the journal thread (which adds
    /// them), the writer thread (which lets them go once flushed) and every read.
    overlay: Arc<Overlay>,
    /// Set while appending to the journal fails, so that readiness says so.
    journal_failing: Arc<AtomicBool>,
    /// Dropped with the store, which stops the checkpointer.
    _checkpoints: mpsc::Sender<()>,
    /// The journal and writer threads, waited for when the store is dropped so that the
    /// database is closed by then (and may be opened again).
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Drop for SqliteStore {
    fn drop(&mut self) {
        // Closing the queues ends the threads once they have done what was queued.
        self.commits = mpsc::channel().0;
        self.writes = mpsc::channel().0;
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

/// Where the journal of the database at `path` lives.
pub fn journal_dir(path: &Path) -> PathBuf {
    path.with_extension("journal")
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path`, brings its schema up to date, and
    /// applies what a previous run left in the journal.
    pub fn open(path: &Path, options: &SqliteOptions) -> Result<Self, StoreError> {
        let mut writer = open_connection(path, options.synchronous)?;
        schema::migrate(&mut writer).map_err(unavailable)?;
        let dir = journal_dir(path);
        let next_segment = replay(&writer, &dir)?;
        let sync = options.synchronous == Synchronous::Full;
        let journal = Journal::start(&dir, next_segment, sync)
            .map_err(|e| StoreError::Unavailable(format!("cannot start the journal: {e}")))?;
        let read_only = || -> Result<Connection, StoreError> {
            let conn = open_connection(path, options.synchronous)?;
            conn.pragma_update(None, "query_only", true)
                .map_err(unavailable)?;
            Ok(conn)
        };
        let readers = (0..options.readers.max(1))
            .map(|_| read_only())
            .collect::<Result<Vec<_>, StoreError>>()?;
        let journal_reader = read_only()?;
        // Commits never checkpoint; the checkpointer thread does, on its own connection.
        writer
            .pragma_update(None, "wal_autocheckpoint", 0)
            .map_err(unavailable)?;
        // A flush walks every index an append touches; a larger page cache than SQLite's
        // default 2 MiB saves it a read syscall for most of those pages.
        writer
            .pragma_update(None, "cache_size", WRITER_CACHE_KIB)
            .map_err(unavailable)?;
        let checkpointer = open_connection(path, options.synchronous)?;
        let overlay = Arc::new(Overlay::default());
        let journal_failing = Arc::new(AtomicBool::new(false));
        let (writes, queue) = mpsc::channel();
        let restart_due = Arc::new(AtomicBool::new(false));
        let writer_thread = Writer {
            conn: writer,
            overlay: Arc::clone(&overlay),
            journal_dir: dir,
            restart_due: Arc::clone(&restart_due),
        };
        let writer_thread = spawn("sqlite-writer", move || writer_thread.run(queue))?;
        let (commits, commit_queue) = mpsc::channel();
        let journal_thread = JournalThread {
            journal,
            conn: journal_reader,
            overlay: Arc::clone(&overlay),
            flushes: writes.clone(),
            failing: Arc::clone(&journal_failing),
        };
        let journal_thread = spawn("sqlite-journal", move || journal_thread.run(commit_queue))?;
        let (checkpoints, stop) = mpsc::channel();
        spawn("sqlite-checkpoint", move || {
            run_checkpointer(checkpointer, restart_due, stop)
        })?;
        Ok(Self {
            commits,
            writes,
            readers: Arc::new(ReaderPool {
                permits: Semaphore::new(readers.len()),
                connections: Mutex::new(readers),
            }),
            overlay,
            journal_failing,
            _checkpoints: checkpoints,
            threads: vec![journal_thread, writer_thread],
        })
    }

    /// Runs `f` on the writer thread, within its next transaction; `op` names it in the
    /// metrics (each is one call).
    async fn write<T, F>(&self, op: &'static str, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        crate::telemetry::metrics::store_operation("sqlite", op, 1);
        let (reply, answer) = oneshot::channel();
        let job = Box::new(Job {
            work: Some(f),
            outcome: None,
            reply,
        });
        self.writes
            .send(SqlJob::Write(job))
            .map_err(|_| StoreError::Unavailable("the writer thread has stopped".into()))?;
        answer
            .await
            .map_err(|_| StoreError::Unavailable("the writer thread has stopped".into()))?
    }

    /// Runs `f` on a read connection; `op` names it in the metrics (each is one call).
    async fn read<T, F>(&self, op: &'static str, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        crate::telemetry::metrics::store_operation("sqlite", op, 1);
        let pool = Arc::clone(&self.readers);
        let permit = pool
            .permits
            .acquire()
            .await
            .map_err(|_| StoreError::Unavailable("the read pool is closed".into()))?;
        let pool_in_task = Arc::clone(&pool);
        let result = tokio::task::spawn_blocking(move || {
            let conn = pool_in_task.take();
            let result = f(&conn);
            pool_in_task.give_back(conn);
            result
        })
        .await
        .map_err(|e| StoreError::Unavailable(format!("read task failed: {e}")))?;
        drop(permit);
        result
    }
}

fn spawn(
    name: &str,
    run: impl FnOnce() + Send + 'static,
) -> Result<std::thread::JoinHandle<()>, StoreError> {
    std::thread::Builder::new()
        .name(name.into())
        .spawn(run)
        .map_err(|e| StoreError::Unavailable(format!("cannot start the {name} thread: {e}")))
}

#[async_trait]
impl SessionStore for SqliteStore {
    fn exclusive(&self) -> bool {
        // One process owns the file.
        true
    }

    async fn create(&self, meta: &SessionMeta) -> Result<(), StoreError> {
        let meta = meta.clone();
        self.write("create", move |conn| {
            match rows::insert_session(conn, &meta)? {
                None => Ok(()),
                Some(existing_id) => Err(StoreError::DuplicateSession { existing_id }),
            }
        })
        .await
    }

    async fn find_or_create(&self, meta: &SessionMeta) -> Result<(String, bool), StoreError> {
        let meta = meta.clone();
        self.write("find-or-create", move |conn| {
            match rows::insert_session(conn, &meta)? {
                None => Ok((meta.id, true)),
                Some(existing_id) => Ok((existing_id, false)),
            }
        })
        .await
    }

    async fn load(&self, id: &str) -> Result<Option<Session>, StoreError> {
        let id = id.to_owned();
        let held = self.overlay.session(&id);
        self.read("load", move |conn| read::load(conn, &id, &held))
            .await
    }

    async fn find_by_image_url(&self, uid: &str, url: &str) -> Result<Option<Session>, StoreError> {
        let (uid, url) = (uid.to_owned(), url.to_owned());
        let (held, holding) = self.overlay.user_with_url(&uid, &url);
        self.read("restore", move |conn| {
            read::find_by_image_url(conn, &uid, &url, &held, &holding)
        })
        .await
    }

    async fn locate(&self, id: &str) -> Result<Option<Located>, StoreError> {
        let id = id.to_owned();
        let held = self.overlay.session(&id);
        let version = self
            .read("locate", move |conn| read::locate(conn, &id, &held))
            .await?;
        Ok(version.map(Located::Version))
    }

    async fn locate_by_image_url(
        &self,
        uid: &str,
        url: &str,
    ) -> Result<Option<Located>, StoreError> {
        let (uid, url) = (uid.to_owned(), url.to_owned());
        let (held, holding) = self.overlay.user_with_url(&uid, &url);
        let version = self
            .read("locate-restore", move |conn| {
                read::locate_by_image_url(conn, &uid, &url, &held, &holding)
            })
            .await?;
        Ok(version.map(Located::Version))
    }

    async fn list(&self, uid: &str, query: &ListQuery) -> Result<Page, StoreError> {
        let (uid, query) = (uid.to_owned(), query.clone());
        let held = self.overlay.user(&uid);
        self.read("list", move |conn| read::list(conn, &uid, &query, &held))
            .await
    }

    async fn commit(&self, commit: &Commit) -> Result<(), StoreError> {
        crate::telemetry::metrics::store_operation("sqlite", "commit", 1);
        let (reply, answer) = oneshot::channel();
        let job = CommitJob {
            commit: Arc::new(commit.clone()),
            reply,
        };
        let stopped = || StoreError::Unavailable("the journal thread has stopped".into());
        self.commits.send(job).map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }

    async fn events_since(
        &self,
        id: &str,
        after_seq: u64,
    ) -> Result<Option<Vec<SessionEvent>>, StoreError> {
        let id = id.to_owned();
        let held = self.overlay.session(&id);
        self.read("events", move |conn| {
            read::events_since(conn, &id, after_seq, &held)
        })
        .await
    }

    async fn delete(&self, id: &str) -> Result<(), StoreError> {
        let owned = id.to_owned();
        self.write("delete", move |conn| rows::delete_session(conn, &owned))
            .await?;
        self.overlay.forget(id);
        Ok(())
    }

    async fn ping(&self) -> Result<(), StoreError> {
        if self.journal_failing.load(Ordering::Relaxed) {
            return Err(StoreError::Unavailable(
                "the last append to the journal failed".into(),
            ));
        }
        self.load("ping").await.map(|_| ())
    }
}

/// Applies the segments a previous run left in the journal to the tables, then removes them;
/// answers the number the next segment takes.
fn replay(conn: &Connection, dir: &Path) -> Result<u64, StoreError> {
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

/// A commit on its way to the journal.
struct CommitJob {
    commit: Arc<Commit>,
    reply: oneshot::Sender<Result<(), StoreError>>,
}

/// What the writer thread does.
enum SqlJob {
    Write(Box<dyn WriteJob>),
    /// Write a batch sealed from the overlay into the tables, then remove its segment.
    Flush {
        commits: Vec<Arc<Commit>>,
        segment: u64,
    },
}

struct JournalThread {
    journal: Journal,
    /// Reads the `seq` of sessions the overlay holds nothing of.
    conn: Connection,
    overlay: Arc<Overlay>,
    flushes: mpsc::Sender<SqlJob>,
    failing: Arc<AtomicBool>,
}

impl JournalThread {
    fn run(mut self, queue: mpsc::Receiver<CommitJob>) {
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

struct Writer {
    conn: Connection,
    overlay: Arc<Overlay>,
    journal_dir: PathBuf,
    restart_due: Arc<AtomicBool>,
}

impl Writer {
    fn run(self, queue: mpsc::Receiver<SqlJob>) {
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

fn unavailable(err: rusqlite::Error) -> StoreError {
    StoreError::Unavailable(format!("sqlite: {err}"))
}

fn open_connection(path: &Path, synchronous: Synchronous) -> Result<Connection, StoreError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags).map_err(unavailable)?;
    conn.pragma_update(None, "journal_mode", "WAL")
        .map_err(unavailable)?;
    let sync = match synchronous {
        Synchronous::Normal => "NORMAL",
        Synchronous::Full => "FULL",
    };
    conn.pragma_update(None, "synchronous", sync)
        .map_err(unavailable)?;
    // Savepoints' statement journals stay in memory rather than in temporary files.
    conn.pragma_update(None, "temp_store", "MEMORY")
        .map_err(unavailable)?;
    conn.busy_timeout(std::time::Duration::from_secs(5))
        .map_err(unavailable)?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(conn)
}

/// Read connections, each used by one blocking task at a time.
struct ReaderPool {
    /// One permit per idle connection, so `take` never finds the pool empty.
    permits: Semaphore,
    connections: Mutex<Vec<Connection>>,
}

impl ReaderPool {
    fn take(&self) -> Connection {
        let mut connections = self.connections.lock().unwrap_or_else(|e| e.into_inner());
        connections
            .pop()
            .expect("a read permit guarantees an idle connection")
    }

    fn give_back(&self, conn: Connection) {
        let mut connections = self.connections.lock().unwrap_or_else(|e| e.into_inner());
        connections.push(conn);
    }
}

/// A write waiting for the writer thread: it runs inside the shared transaction, and learns
/// afterwards whether that transaction committed.
trait WriteJob: Send {
    fn run(&mut self, conn: &Connection) -> bool;
    fn finish(self: Box<Self>, committed: Result<(), String>);
}

struct Job<T, F> {
    work: Option<F>,
    outcome: Option<Result<T, StoreError>>,
    reply: oneshot::Sender<Result<T, StoreError>>,
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

/// Copies committed pages from the WAL into the database file every [`CHECKPOINT_EVERY`], in
/// `PASSIVE` mode, which never waits for (or blocks) the writer or the readers.
///
/// The WAL starts over (at the writer's next commit) only once a checkpoint has copied all of
/// it, which a pass running beside a steady stream of commits never does: the writer adds to it
/// meanwhile. So once the WAL holds more than [`WAL_RESTART_PAGES`], the writer runs one pass
/// itself between two transactions (`restart_due`), copying only what it committed since this
/// thread's last pass. A `RESTART` checkpoint from this thread would end the same way, but the
/// writer would wait for it in SQLite's busy handler, which sleeps in steps of many
/// milliseconds.
fn run_checkpointer(conn: Connection, restart_due: Arc<AtomicBool>, stop: mpsc::Receiver<()>) {
    while let Err(RecvTimeoutError::Timeout) = stop.recv_timeout(CHECKPOINT_EVERY) {
        if restart_due.load(Ordering::Acquire) {
            // The writer's turn; a pass from here would hold the lock its pass needs.
            continue;
        }
        match checkpoint(&conn) {
            Ok(pages) if pages > WAL_RESTART_PAGES => restart_due.store(true, Ordering::Release),
            Ok(_) => {}
            Err(err) => tracing::warn!(error = %err, "sqlite checkpoint failed; retrying"),
        }
    }
}

/// A `PASSIVE` checkpoint; answers the pages in the WAL.
fn checkpoint(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| row.get(1))
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

#[cfg(test)]
mod tests;
