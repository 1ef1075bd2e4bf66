//! The embedded store: one SQLite file in WAL mode under the data dir.
//!
//! Writes go to a single writer thread that owns the write connection. It takes every write
//! waiting in its queue, runs each inside a savepoint of one transaction, and commits them
//! together, so many sessions' group commits share one fsync. A write is answered only after
//! that commit. Reads run on a small pool of read connections, which WAL lets proceed while the
//! writer commits. A third thread checkpoints the WAL into the database file, so that copying
//! pages and syncing them (the only fsync under `synchronous=NORMAL`) mostly happens beside the
//! commits rather than inside them; see `run_checkpointer`.

mod rows;
mod schema;

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use rusqlite::{Connection, OpenFlags};
use tokio::sync::{Semaphore, mpsc, oneshot};

use super::{Commit, Page, SessionStore, StoreError};
use crate::session::model::{Session, SessionEvent, SessionMeta};
use crate::session::validation::ListQuery;

/// How far SQLite goes to make a commit durable (`PRAGMA synchronous`).
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

/// Most writes merged into one transaction.
const MAX_WRITES_PER_TRANSACTION: usize = 256;

/// How often the checkpointer copies the WAL into the database file.
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_millis(100);

/// The writer's page cache, in KiB (as `PRAGMA cache_size` takes it, negated).
const WRITER_CACHE_KIB: i64 = -32 * 1024;

/// WAL pages (4 KiB each) past which the checkpointer makes the WAL start over.
const WAL_RESTART_PAGES: i64 = 1024;

pub struct SqliteStore {
    writes: mpsc::UnboundedSender<Box<dyn WriteJob>>,
    readers: Arc<ReaderPool>,
    /// Dropped with the store, which stops the checkpointer.
    _checkpoints: std::sync::mpsc::Sender<()>,
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and brings its schema up to date.
    pub fn open(path: &Path, options: &SqliteOptions) -> Result<Self, StoreError> {
        let mut writer = open_connection(path, options.synchronous)?;
        schema::migrate(&mut writer).map_err(unavailable)?;
        let readers = (0..options.readers.max(1))
            .map(|_| {
                let conn = open_connection(path, options.synchronous)?;
                conn.pragma_update(None, "query_only", true)
                    .map_err(unavailable)?;
                Ok(conn)
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        // Commits never checkpoint; the checkpointer thread does, on its own connection.
        writer
            .pragma_update(None, "wal_autocheckpoint", 0)
            .map_err(unavailable)?;
        // The writer walks every index an append touches; a larger page cache than SQLite's
        // default 2 MiB saves it a read syscall for most of those pages.
        writer
            .pragma_update(None, "cache_size", WRITER_CACHE_KIB)
            .map_err(unavailable)?;
        let checkpointer = open_connection(path, options.synchronous)?;
        let (writes, queue) = mpsc::unbounded_channel();
        let restart_due = Arc::new(AtomicBool::new(false));
        let due = Arc::clone(&restart_due);
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || run_writer(writer, queue, due))
            .map_err(|e| StoreError::Unavailable(format!("cannot start the writer thread: {e}")))?;
        let (checkpoints, stop) = std::sync::mpsc::channel();
        let due = Arc::clone(&restart_due);
        std::thread::Builder::new()
            .name("sqlite-checkpoint".into())
            .spawn(move || run_checkpointer(checkpointer, due, stop))
            .map_err(|e| {
                StoreError::Unavailable(format!("cannot start the checkpoint thread: {e}"))
            })?;
        Ok(Self {
            _checkpoints: checkpoints,
            writes,
            readers: Arc::new(ReaderPool {
                permits: Semaphore::new(readers.len()),
                connections: Mutex::new(readers),
            }),
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
            .send(job)
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
        self.read("load", move |conn| rows::load_session(conn, &id))
            .await
    }

    async fn find_by_image_url(&self, uid: &str, url: &str) -> Result<Option<Session>, StoreError> {
        let (uid, url) = (uid.to_owned(), url.to_owned());
        self.read("restore", move |conn| {
            rows::find_by_image_url(conn, &uid, &url)
        })
        .await
    }

    async fn list(&self, uid: &str, query: &ListQuery) -> Result<Page, StoreError> {
        let (uid, query) = (uid.to_owned(), query.clone());
        self.read("list", move |conn| rows::list_sessions(conn, &uid, &query))
            .await
    }

    async fn commit(&self, commit: &Commit) -> Result<(), StoreError> {
        let commit = commit.clone();
        self.write("commit", move |conn| {
            rows::update_meta(conn, &commit.meta, commit.expected_seq)?;
            for event in &commit.events {
                match event {
                    SessionEvent::MessageAdded { message, .. } => {
                        rows::insert_message(conn, &commit.meta, message)?;
                    }
                    SessionEvent::ImageAdded {
                        message_id, image, ..
                    } => rows::insert_image(conn, &commit.meta, message_id, image)?,
                    SessionEvent::SessionUpdated { .. } => {}
                }
            }
            rows::log_events(conn, &commit)
        })
        .await
    }

    async fn events_since(
        &self,
        id: &str,
        after_seq: u64,
    ) -> Result<Option<Vec<SessionEvent>>, StoreError> {
        let id = id.to_owned();
        self.read("events", move |conn| {
            rows::events_since(conn, &id, after_seq)
        })
        .await
    }

    async fn delete(&self, id: &str) -> Result<(), StoreError> {
        let id = id.to_owned();
        self.write("delete", move |conn| rows::delete_session(conn, &id))
            .await
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
    conn.pragma_update(None, "foreign_keys", true)
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

fn run_writer(
    conn: Connection,
    mut queue: mpsc::UnboundedReceiver<Box<dyn WriteJob>>,
    restart_due: Arc<AtomicBool>,
) {
    while let Some(first) = queue.blocking_recv() {
        let mut jobs = vec![first];
        while jobs.len() < MAX_WRITES_PER_TRANSACTION {
            match queue.try_recv() {
                Ok(job) => jobs.push(job),
                Err(_) => break,
            }
        }
        let committed = run_transaction(&conn, &mut jobs).map_err(|e| format!("sqlite: {e}"));
        if let Err(cause) = &committed {
            tracing::error!(%cause, writes = jobs.len(), "sqlite transaction failed");
            let _ = conn.execute_batch("ROLLBACK");
        }
        for job in jobs {
            job.finish(committed.clone());
        }
        if restart_due.load(Ordering::Acquire) {
            if let Err(err) = checkpoint(&conn) {
                tracing::warn!(error = %err, "sqlite checkpoint failed");
            }
            restart_due.store(false, Ordering::Release);
        }
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
fn run_checkpointer(
    conn: Connection,
    restart_due: Arc<AtomicBool>,
    stop: std::sync::mpsc::Receiver<()>,
) {
    while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = stop.recv_timeout(CHECKPOINT_EVERY)
    {
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
