//! On the embedded store one process owns the data: a session its live actor holds is read
//! from the actor, not the store, and is still exactly what was committed.

use reqwest::Method;

use crate::exposition::Exposition;
use crate::helpers::*;

async fn loads(server: &ServerProcess) -> f64 {
    Exposition::scrape(&server.address).await.count(
        "livechat_store_operations_total",
        &[("store", "sqlite"), ("op", "load")],
    )
}

#[tokio::test]
async fn a_session_whose_actor_is_live_is_read_from_the_actor_and_matches_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::on_sqlite(dir.path()).await;
    let token = token_from_cli(dir.path(), "u").await;
    let user = ProcessUser::new(&server, &token);
    let id = user.create("s").await;
    for n in 1..=3 {
        assert_eq!(user.append(&id, &format!("https://img/{n}")).await, Some(n));
    }
    // The actor loaded the session once, for the first append.
    let before = loads(&server).await;
    let mut seen = Vec::new();
    for _ in 0..3 {
        seen.push(user.session(&id).await);
    }
    assert_eq!(loads(&server).await, before, "no read of the store");
    assert_eq!(seen[0]["seq"], 3);
    assert!(seen.iter().all(|s| *s == seen[0]));
    // A write is in the very next read.
    assert_eq!(user.append(&id, "https://img/4").await, Some(4));
    assert_eq!(user.session(&id).await["seq"], 4);
    let from_actor = user.session(&id).await;
    server.kill9().await;

    // What the store itself holds, read by a fresh process with no actor.
    let fresh = ServerProcess::on_sqlite(dir.path()).await;
    let from_store = ProcessUser::new(&fresh, &token).session(&id).await;
    assert_eq!(from_actor, from_store);
    fresh.kill9().await;
}

async fn journaled(server: &ServerProcess) -> Option<f64> {
    Exposition::scrape(&server.address)
        .await
        .value("livechat_sqlite_journaled_commits", &[])
}

#[tokio::test]
async fn appends_are_read_back_while_journaled_and_after_they_reach_the_tables() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::on_sqlite(dir.path()).await;
    let token = token_from_cli(dir.path(), "u").await;
    let user = ProcessUser::new(&server, &token);
    let id = user.create("s").await;
    // A read that sees every append while the gauge still counts some of them journaled only
    // (the writer moves them about once a second, so a few tries find one).
    let mut seen_while_journaled = None;
    for n in 1..=5 {
        assert_eq!(user.append(&id, &format!("https://img/{n}")).await, Some(n));
        // The store's own reads (a live actor answers gets, not restores or lists): the URL's
        // lookup and the listing both come from commits the tables may not hold yet.
        let url = format!("https://img/{n}");
        let (status, restored) = user
            .call(
                Method::GET,
                &format!("{BASE}/by-image-url?imageUrl={}", urlencode(&url)),
                None,
            )
            .await
            .unwrap();
        assert_eq!(status, 200);
        assert_eq!(restored["data"]["session"]["seq"], n);
        assert_eq!(restored["data"]["session"]["totalImages"], n);
        let (_, listed) = user
            .call(Method::GET, &format!("{BASE}?limit=10"), None)
            .await
            .unwrap();
        assert_eq!(listed["data"]["sessions"][0]["totalImages"], n);
        let held = journaled(&server)
            .await
            .expect("the gauge is reported on SQLite");
        if held > 0.0 && seen_while_journaled.is_none() {
            seen_while_journaled = Some(n);
        }
    }
    assert!(
        seen_while_journaled.is_some(),
        "every read came after a flush"
    );
    let before = user.session(&id).await;
    // Within a few flush intervals every commit is in the tables, and nothing reads differently.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while journaled(&server).await != Some(0.0) && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(journaled(&server).await, Some(0.0));
    assert_eq!(user.session(&id).await, before);
    server.kill9().await;
    // The tables alone, opened by another program, hold the five appends.
    let conn = rusqlite::Connection::open(dir.path().join("sessions.sqlite3")).unwrap();
    let (seq, images): (u64, u64) = conn
        .query_row(
            "SELECT seq, (SELECT COUNT(*) FROM images WHERE doc_id = ?1) FROM sessions WHERE doc_id = ?1",
            [&id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!((seq, images), (5, 5));
}
