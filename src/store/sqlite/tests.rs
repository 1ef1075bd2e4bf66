//! The store's own guarantees, beneath the actor: query plans, the `seq` compare-and-set, and
//! migrations.

use super::*;
use crate::session::model::Status;
use crate::session::time::Timestamp;

fn options() -> SqliteOptions {
    SqliteOptions {
        synchronous: Synchronous::Normal,
        readers: 2,
    }
}

fn meta(id: &str, uid: &str, session_id: &str) -> SessionMeta {
    let now = Timestamp::now();
    SessionMeta {
        id: id.into(),
        session_id: session_id.into(),
        uid: uid.into(),
        model: "m".into(),
        frame_size: None,
        style: None,
        status: Status::Active,
        started_at: now,
        completed_at: None,
        created_at: now,
        updated_at: now,
        seq: 0,
        total_images: 0,
    }
}

fn plan(conn: &Connection, sql: &str) -> String {
    let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
    let unbound = std::iter::repeat_n(rusqlite::types::Null, stmt.parameter_count());
    let details: Vec<String> = stmt
        .query_map(rusqlite::params_from_iter(unbound), |row| {
            row.get::<_, String>(3)
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    details.join("\n")
}

#[test]
fn restore_and_list_are_index_lookups_not_scans() {
    let dir = tempfile::tempdir().unwrap();
    let mut conn = Connection::open(dir.path().join("db")).unwrap();
    schema::migrate(&mut conn).unwrap();

    let restore = plan(&conn, rows::FIND_BY_URL);
    assert!(!restore.contains("SCAN"), "restore plan:\n{restore}");
    assert!(
        restore.contains("SEARCH l USING PRIMARY KEY (uid=? AND url_hash=?)"),
        "{restore}"
    );
    assert!(
        restore.contains("SEARCH s USING PRIMARY KEY (doc_id=?)"),
        "{restore}"
    );

    for (status, cursor, index) in [
        (false, false, "sessions_by_user"),
        (false, true, "sessions_by_user"),
        (true, false, "sessions_by_user_status"),
        (true, true, "sessions_by_user_status"),
    ] {
        let list = plan(&conn, &rows::list_sql(status, cursor));
        assert!(!list.contains("SCAN"), "list plan:\n{list}");
        assert!(!list.contains("TEMP B-TREE"), "list must not sort:\n{list}");
        assert!(list.contains(&format!("USING INDEX {index} ")), "{list}");
    }
}

#[tokio::test]
async fn commit_is_a_compare_and_set_on_seq() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("db"), &options()).unwrap();
    let mut session = meta("doc1", "alice", "s1");
    store.create(&session).await.unwrap();

    session.seq = 1;
    let first = Commit::new(0, session.clone(), Vec::new());
    store.commit(&first).await.unwrap();
    let stale = store.commit(&first).await;
    assert!(matches!(stale, Err(StoreError::SeqMismatch)), "{stale:?}");
    assert_eq!(store.load("doc1").await.unwrap().unwrap().meta.seq, 1);
}

#[tokio::test]
async fn a_second_create_of_the_same_pair_names_the_existing_session() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("db"), &options()).unwrap();
    store.create(&meta("doc1", "alice", "s1")).await.unwrap();
    let again = store.create(&meta("doc2", "alice", "s1")).await;
    assert!(
        matches!(&again, Err(StoreError::DuplicateSession { existing_id }) if existing_id == "doc1"),
        "{again:?}"
    );
    store.create(&meta("doc3", "bob", "s1")).await.unwrap();
}

#[test]
fn reopening_keeps_the_schema_version() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    for _ in 0..2 {
        let mut conn = Connection::open(&path).unwrap();
        schema::migrate(&mut conn).unwrap();
        let version: usize = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(version, schema::version());
    }
}

/// The WAL's checkpoint sequence number (its header, bytes 12..16): how many times it started
/// over.
fn wal_restarts(path: &Path) -> u32 {
    let header = std::fs::read(path).unwrap_or_default();
    header
        .get(12..16)
        .map_or(0, |bytes| u32::from_be_bytes(bytes.try_into().unwrap()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_a_steady_stream_of_commits_the_wal_starts_over_and_stays_small() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let wal = dir.path().join("db-wal");
    let store = Arc::new(SqliteStore::open(&path, &options()).unwrap());
    // Eight writers that never pause, so the writer thread always has a commit waiting: the
    // checkpoint thread alone could never catch up with the end of the WAL.
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..8)
        .map(|w| {
            let (store, stop) = (Arc::clone(&store), Arc::clone(&stop));
            tokio::spawn(async move {
                let mut sessions: Vec<SessionMeta> = (0..25)
                    .map(|n| meta(&format!("doc{w}-{n}"), "alice", &format!("s{w}-{n}")))
                    .collect();
                for session in &sessions {
                    store.create(session).await.unwrap();
                }
                while !stop.load(Ordering::Relaxed) {
                    for session in &mut sessions {
                        session.seq += 1;
                        session.updated_at = Timestamp::now();
                        let commit = Commit::new(session.seq - 1, session.clone(), Vec::new());
                        store.commit(&commit).await.unwrap();
                    }
                }
                sessions
            })
        })
        .collect();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while wal_restarts(&wal) < 3 && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    stop.store(true, Ordering::Relaxed);
    let mut sessions = Vec::new();
    for writer in writers {
        sessions.extend(writer.await.unwrap());
    }
    let size = std::fs::metadata(&wal).unwrap().len();
    assert!(
        wal_restarts(&wal) >= 3,
        "the WAL never started over; it is {size} bytes"
    );
    // Past the threshold by what the writer commits in a checkpoint interval or two.
    assert!(size < 64 << 20, "the WAL grew to {size} bytes");
    // Nothing was lost on the way.
    for session in &sessions {
        let stored = store.load(&session.id).await.unwrap().unwrap();
        assert_eq!(stored.meta.seq, session.seq);
    }
}
