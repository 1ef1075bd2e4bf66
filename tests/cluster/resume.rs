//! A resume is answered from what the store has committed, whichever instance committed it:
//! a `sinceSeq` the session has reached is replayed, and no snapshot is older than it.

use serde_json::Value;

use crate::live_client::*;
use crate::{Cluster, redis_url};

/// The frames of an attach up to its first event push or `resumed` (presence left out).
async fn start_of(tab: &mut LiveClient) -> Value {
    tab.event().await
}

#[tokio::test]
async fn a_resume_on_an_instance_that_did_not_see_the_latest_writes_is_a_replay_not_an_older_snapshot()
 {
    let mut cluster = Cluster::new(&redis_url());
    let (servers, token, users) = cluster.start_all(2, "u").await;
    let (a, b) = (&users[0], &users[1]);
    let id = a.create("behind").await;
    // Instance A holds the session's actor (it wrote), but no socket watches it there, so
    // nothing brings it the other instance's commits.
    assert_eq!(a.append(&id, "https://img/a/1").await, Some(1));
    assert_eq!(b.append(&id, "https://img/b/2").await, Some(2));
    assert_eq!(b.append(&id, "https://img/b/3").await, Some(3));

    // A tab that saw seq 3 on B reconnects to A.
    let mut tab =
        LiveClient::connect(&live_url(&servers[0].address, &id, Some(3)), Some(&token)).await;
    let first = start_of(&mut tab).await;
    assert_eq!(
        (first["type"].as_str(), first["seq"].as_u64()),
        (Some("resumed"), Some(3)),
        "a sinceSeq the session has reached is answered by a replay: {first}"
    );

    // One that saw seq 2 gets exactly seq 3, then `resumed`.
    assert_eq!(b.append(&id, "https://img/b/4").await, Some(4));
    let frames = replay(&servers[0].address, &id, &token, 2).await;
    let seqs: Vec<_> = frames
        .iter()
        .map(|f| (f["type"].clone(), f["seq"].clone()))
        .collect();
    assert_eq!(
        seqs,
        vec![
            ("message.added".into(), 3.into()),
            ("message.added".into(), 4.into()),
            ("resumed".into(), 4.into())
        ],
        "exactly the missed events, from the store"
    );

    // And a snapshot (no sinceSeq) shows every write, wherever it was made.
    assert_eq!(b.append(&id, "https://img/b/5").await, Some(5));
    let mut fresh =
        LiveClient::connect(&live_url(&servers[0].address, &id, None), Some(&token)).await;
    let snapshot = fresh.event().await;
    assert_eq!(snapshot["type"], "snapshot");
    assert_eq!(
        snapshot["seq"], 5,
        "the snapshot is the store's, not the instance's"
    );
    assert_eq!(snapshot["session"]["totalImages"], 5);
    for server in servers {
        server.kill9().await;
    }
}
