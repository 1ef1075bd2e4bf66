//! The user's list and signals across instances: a change made on one instance reaches the
//! list sockets of the others, a signal reaches the session's sockets everywhere, and with
//! Redis away the lists still converge from the store.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::*;
use crate::live_client::*;
use crate::{Cluster, RedisServer, redis_url};

/// The next list push about session `id` (others skipped).
async fn about(tab: &mut LiveClient, id: &str) -> Value {
    loop {
        let frame = tab.event().await;
        if frame["id"] == id {
            return frame;
        }
    }
}

/// A socket of `uid`'s list on `server`, past its first page.
async fn list_on(server: &ServerProcess, token: &str) -> LiveClient {
    let mut tab = LiveClient::connect(&list_url(&server.address, ""), Some(token)).await;
    assert_eq!(tab.event().await["type"], "sessions");
    tab
}

#[tokio::test]
async fn a_change_on_one_instance_reaches_list_sockets_on_the_others_and_a_signal_every_socket_of_its_session()
 {
    let mut cluster = Cluster::new(&redis_url());
    let (servers, token, users) = cluster.start_all(3, "u").await;
    let mut lists = vec![
        list_on(&servers[1], &token).await,
        list_on(&servers[2], &token).await,
    ];
    // The feeds subscribe on Redis as their first socket attaches: give that a moment.
    tokio::time::sleep(Duration::from_millis(300)).await;

    let id = users[0].create("elsewhere").await;
    for list in &mut lists {
        let frame = about(list, &id).await;
        assert_eq!(
            (frame["type"].as_str(), frame["seq"].as_u64()),
            (Some("session.changed"), Some(0))
        );
    }
    users[0].append(&id, "https://img/a/1").await.unwrap();
    for list in &mut lists {
        let frame = about(list, &id).await;
        assert_eq!(frame["seq"], 1);
        assert_eq!(frame["session"]["lastImages"][0]["url"], "https://img/a/1");
    }

    // Signals: sockets of the session on B and C, the sender on A.
    let mut tabs = Vec::new();
    for server in &servers {
        let mut tab =
            LiveClient::connect(&live_url(&server.address, &id, None), Some(&token)).await;
        assert_eq!(tab.event().await["type"], "snapshot");
        tabs.push(tab);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (status, reply) = users[0]
        .call(
            Method::POST,
            &format!("{BASE}/{id}/signals"),
            Some(json!({ "data": { "state": "started" } })),
        )
        .await
        .unwrap();
    assert_eq!(status, 200, "{reply}");
    let reply = tabs[0]
        .request("signal", json!({ "data": { "state": "progress" } }))
        .await;
    assert_eq!(reply["ok"], true, "{reply}");
    for tab in &mut tabs[1..] {
        let rest = tab.event().await;
        assert_eq!(
            (rest["type"].as_str(), rest["from"].as_str()),
            (Some("signal"), Some("rest"))
        );
        let socket = tab.event().await;
        assert_eq!(socket["type"], "signal");
        assert_eq!(socket["data"], json!({ "state": "progress" }));
    }
    // The sender on A got the REST one only.
    assert_eq!(tabs[0].event().await["from"], "rest");

    // Deletion on A leaves the lists on B and C.
    users[0]
        .call(Method::DELETE, &format!("{BASE}/{id}"), None)
        .await
        .unwrap();
    for list in &mut lists {
        let frame = about(list, &id).await;
        assert_eq!(
            frame,
            json!({ "type": "session.removed", "id": id, "seq": 2 })
        );
    }
    for server in servers {
        server.kill9().await;
    }
}

#[tokio::test]
async fn with_redis_stopped_list_sockets_converge_from_the_store_within_the_resync_interval() {
    let mut redis = RedisServer::start().await;
    let mut cluster = Cluster::new(&redis.url());
    let servers = vec![cluster.start(0).await, cluster.start(1).await];
    let token = cluster.token("u");
    let writer = ProcessUser::new(&servers[0], &token);
    let kept = writer.create("kept").await;
    let doomed = writer.create("doomed").await;
    let mut list = LiveClient::connect(&list_url(&servers[1].address, ""), Some(&token)).await;
    assert_eq!(list.event().await["sessions"].as_array().unwrap().len(), 2);

    redis.kill().await;
    let started = tokio::time::Instant::now();
    writer.append(&kept, "https://img/1").await.unwrap();
    writer.append(&kept, "https://img/2").await.unwrap();
    let created = writer.create("new").await;
    writer
        .call(Method::DELETE, &format!("{BASE}/{doomed}"), None)
        .await
        .unwrap();

    // The resync interval is 500 ms (Cluster::start): every change shows within a few.
    let mut pending: std::collections::BTreeMap<String, Value> = [
        (kept.clone(), json!("session.changed")),
        (created.clone(), json!("session.changed")),
        (doomed.clone(), json!("session.removed")),
    ]
    .into();
    while !pending.is_empty() {
        let frame = tokio::time::timeout(Duration::from_secs(3), list.event())
            .await
            .expect("the list converges without Redis");
        let id = frame["id"].as_str().unwrap_or_default().to_owned();
        if id == kept && frame["seq"] != 2 {
            continue; // an older summary, when the store was read between the two appends
        }
        if pending.get(&id) == Some(&frame["type"]) {
            pending.remove(&id);
        }
    }
    assert!(started.elapsed() < Duration::from_secs(5));
    for server in servers {
        server.kill9().await;
    }
}
