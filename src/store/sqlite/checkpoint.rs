//! The checkpoint thread: copies the WAL into the database file beside the commits rather
//! than inside them.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::Duration;

use rusqlite::Connection;

/// How often the checkpointer copies the WAL into the database file.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(100);

/// WAL pages (4 KiB each) past which the checkpointer makes the WAL start over.
const WAL_RESTART_PAGES: i64 = 1024;

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
pub(super) fn run_checkpointer(
    conn: Connection,
    restart_due: Arc<AtomicBool>,
    stop: mpsc::Receiver<()>,
) {
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
pub(super) fn checkpoint(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| row.get(1))
}
