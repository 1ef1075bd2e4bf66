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
