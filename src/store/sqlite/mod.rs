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
//! see `checkpoint`. The journal thread is in `committer`, the writer thread in `writer`.

mod checkpoint;
mod committer;
mod journal;
mod overlay;
mod read;
mod rows;
mod schema;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use tracing::Instrument as _;

use async_trait::async_trait;
use rusqlite::{Connection, OpenFlags};
use tokio::sync::{Semaphore, oneshot};

use super::{Located, Page, SessionStore, StoreError};
use crate::domain::commit::Commit;
use crate::domain::list::ListQuery;
use crate::domain::model::{Session, SessionEvent, SessionMeta};
use checkpoint::run_checkpointer;
use committer::{CommitJob, JournalThread};
use journal::Journal;
use overlay::Overlay;
use writer::{Job, SqlJob, Writer, replay};

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

/// The writer's page cache, in KiB (as `PRAGMA cache_size` takes it, negated).
const WRITER_CACHE_KIB: i64 = -32 * 1024;

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
        let span = crate::traced_span!("store", store = "sqlite", operation = op);
        async {
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
        .instrument(span)
        .await
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
        let span = crate::traced_span!("store", store = "sqlite", operation = "commit");
        let (reply, answer) = oneshot::channel();
        let job = CommitJob {
            commit: Arc::new(commit.clone()),
            reply,
        };
        let stopped = || StoreError::Unavailable("the journal thread has stopped".into());
        self.commits.send(job).map_err(|_| stopped())?;
        answer.instrument(span).await.map_err(|_| stopped())?
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

#[cfg(test)]
mod tests;
