//! The store's own guarantees, beneath the actor: query plans, the `seq` compare-and-set, and
//! migrations.

use std::collections::HashMap;

use super::committer::FLUSH_EVERY;
use super::*;
use crate::domain::model::Status;
use crate::domain::time::Timestamp;

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

fn message_with_image(seq: u64, id: &str, url: &str, order: u32) -> SessionEvent {
    SessionEvent::MessageAdded {
        seq,
        message: crate::domain::model::Message {
            id: id.into(),
            prompt: format!("prompt {id}"),
            timestamp: Timestamp::now(),
            images: vec![crate::domain::model::Image {
                id: format!("img-{id}"),
                url: url.into(),
                storage_path: None,
                original_url: None,
                firebase_url: None,
                order,
            }],
        },
    }
}

/// The commit that adds one message with one image to `session`.
fn append(session: &mut SessionMeta, message: &str, url: &str, at: i64) -> Commit {
    let expected = session.seq;
    session.seq += 1;
    session.total_images += 1;
    session.updated_at = Timestamp::from_millis(at);
    let event = message_with_image(session.seq, message, url, session.total_images);
    Commit::new(expected, session.clone(), vec![event])
}

fn tables(dir: &Path) -> Connection {
    let mut conn = Connection::open(dir.join("db")).unwrap();
    schema::migrate(&mut conn).unwrap();
    conn
}

#[test]
fn reads_see_held_commits_in_their_place() {
    let dir = tempfile::tempdir().unwrap();
    let conn = tables(dir.path());
    let (mut a, mut b) = (meta("a", "alice", "sa"), meta("b", "alice", "sb"));
    for session in [&a, &b] {
        rows::insert_session(&conn, session).unwrap();
    }
    // In the tables, b is the more recent and both hold the shared URL.
    rows::write_commits(&conn, &[&append(&mut a, "a1", "https://x/shared", 1_000)]).unwrap();
    rows::write_commits(&conn, &[&append(&mut b, "b1", "https://x/shared", 2_000)]).unwrap();
    // Held, not in the tables: a moves ahead and gains another URL.
    let held_commit = Arc::new(append(&mut a, "a2", "https://x/new", 3_000));
    let held: HashMap<String, overlay::Commits> =
        [("a".to_owned(), vec![Arc::clone(&held_commit)])].into();

    let loaded = read::load(&conn, "a", &held["a"]).unwrap().unwrap();
    assert_eq!(loaded.meta.seq, 2);
    assert_eq!(loaded.messages.len(), 2);
    assert_eq!(loaded.messages[1].images[0].url, "https://x/new");

    let page = read::list(
        &conn,
        "alice",
        &ListQuery::first(ListQuery::DEFAULT_LIMIT),
        &held,
    )
    .unwrap();
    let order: Vec<&str> = page.sessions.iter().map(|s| s.meta.id.as_str()).collect();
    assert_eq!(
        order,
        ["a", "b"],
        "a's held commit makes it the most recent"
    );
    assert_eq!(page.sessions[0].meta.seq, 2);

    let shared = read::find_by_image_url(&conn, "alice", "https://x/shared", &held, &[]).unwrap();
    assert_eq!(
        shared.unwrap().meta.id,
        "a",
        "the most recent session holding the URL"
    );
    let new = read::find_by_image_url(&conn, "alice", "https://x/new", &held, &["a".into()]);
    assert_eq!(new.unwrap().unwrap().meta.seq, 2);
    let none = read::find_by_image_url(&conn, "bob", "https://x/new", &HashMap::new(), &[]);
    assert!(none.unwrap().is_none());

    let events = read::events_since(&conn, "a", 0, &held["a"])
        .unwrap()
        .unwrap();
    assert_eq!(
        events.iter().map(SessionEvent::seq).collect::<Vec<_>>(),
        [1, 2]
    );

    // Once flushed, the same commit held by a read that started earlier is applied once.
    rows::write_commits(&conn, &[&held_commit]).unwrap();
    let loaded = read::load(&conn, "a", &held["a"]).unwrap().unwrap();
    assert_eq!(loaded.messages.len(), 2);
    let events = read::events_since(&conn, "a", 0, &held["a"])
        .unwrap()
        .unwrap();
    assert_eq!(events.len(), 2);
}

#[tokio::test]
async fn the_journal_left_by_a_crash_is_applied_on_open_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let mut session = meta("doc1", "alice", "s1");
    let first = append(&mut session, "m1", "https://x/1", 1_000);
    {
        let store = SqliteStore::open(&path, &options()).unwrap();
        store.create(&meta("doc1", "alice", "s1")).await.unwrap();
        store.commit(&first).await.unwrap();
    }
    // What a process killed after acknowledging three more commits leaves: a segment holding
    // them (and, again, one already in the tables), its last line cut short.
    let mut lines = Vec::new();
    journal::encode(&first, &mut lines);
    let more: Vec<Commit> = (2..=4)
        .map(|n| {
            append(
                &mut session,
                &format!("m{n}"),
                &format!("https://x/{n}"),
                1_000 + n,
            )
        })
        .collect();
    for commit in &more {
        journal::encode(commit, &mut lines);
    }
    let mut torn = Vec::new();
    journal::encode(&append(&mut session, "m5", "https://x/5", 2_000), &mut torn);
    lines.extend_from_slice(&torn[..torn.len() / 2]);
    let segments = journal_dir(&path);
    std::fs::create_dir_all(&segments).unwrap();
    std::fs::write(segments.join("000000000007.jsonl"), &lines).unwrap();

    let store = SqliteStore::open(&path, &options()).unwrap();
    let loaded = store.load("doc1").await.unwrap().unwrap();
    assert_eq!(
        loaded.meta.seq, 4,
        "the three acknowledged commits, not the torn one"
    );
    let prompts: Vec<&str> = loaded.messages.iter().map(|m| m.prompt.as_str()).collect();
    assert_eq!(
        prompts,
        ["prompt m1", "prompt m2", "prompt m3", "prompt m4"]
    );
    let restored = store
        .find_by_image_url("alice", "https://x/3")
        .await
        .unwrap();
    assert_eq!(restored.unwrap().meta.id, "doc1");
    let names: Vec<String> = std::fs::read_dir(&segments)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(
        names,
        ["000000000008.jsonl"],
        "applied segments are removed"
    );
    // The next commit continues from there.
    let mut current = loaded.meta.clone();
    store
        .commit(&append(&mut current, "m5", "https://x/5", 3_000))
        .await
        .unwrap();
    assert_eq!(store.load("doc1").await.unwrap().unwrap().meta.seq, 5);
}

#[tokio::test]
async fn commits_are_read_back_before_and_after_their_flush() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("db"), &options()).unwrap();
    let mut session = meta("doc1", "alice", "s1");
    store.create(&session).await.unwrap();
    for n in 1..=3 {
        let commit = append(&mut session, &format!("m{n}"), &format!("https://x/{n}"), n);
        store.commit(&commit).await.unwrap();
        assert_eq!(
            store.load("doc1").await.unwrap().unwrap().meta.seq,
            n as u64
        );
    }
    // Past the flush interval the tables hold them and the overlay nothing.
    let deadline = std::time::Instant::now() + 4 * FLUSH_EVERY;
    while store.overlay.len() > 0 && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(store.overlay.len(), 0, "the commits were never flushed");
    let loaded = store.load("doc1").await.unwrap().unwrap();
    assert_eq!(loaded.meta.seq, 3);
    assert_eq!(loaded.messages.len(), 3);
    let events = store.events_since("doc1", 1).await.unwrap().unwrap();
    assert_eq!(
        events.iter().map(SessionEvent::seq).collect::<Vec<_>>(),
        [2, 3]
    );
    store.delete("doc1").await.unwrap();
    assert!(store.load("doc1").await.unwrap().is_none());
}
