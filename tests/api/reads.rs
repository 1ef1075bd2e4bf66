//! On the embedded store one process owns the data: a session its live actor holds is read
//! from the actor, not the store, and is still exactly what was committed.

use crate::exposition::Exposition;
use crate::helpers::*;

async fn loads(server: &ServerProcess) -> f64 {
    let text = reqwest::get(format!("{}/metrics", server.address))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    Exposition::parse(&text).count(
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
