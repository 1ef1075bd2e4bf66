//! Live sessions across a server restart and a graceful shutdown, with the real binary.

use std::collections::BTreeMap;

use crate::helpers::*;
use crate::live_client::*;
use serde_json::json;

#[tokio::test]
async fn a_tab_resumes_exactly_after_the_server_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::on(dir.path()).await;
    let token = token_from_cli(dir.path(), "u").await;
    let user = ProcessUser::new(&server, &token);
    let id = user.create("live").await;

    let mut tab = LiveClient::connect(&live_url(&server.address, &id, None), Some(&token)).await;
    assert_eq!(tab.event().await["type"], "snapshot");
    for n in 0..3 {
        let reply = tab
            .request(
                "message.add",
                json!({ "prompt": "p", "images": [{ "url": format!("https://img/{n}") }] }),
            )
            .await;
        assert_eq!(reply["ok"], true);
    }
    let mut k = 0;
    for _ in 0..3 {
        k = tab.event().await["seq"].as_u64().unwrap();
    }
    tab.close().await;
    for n in 0..10 {
        let url = format!("https://img/missed/{n}");
        assert!(user.append(&id, &url).await.is_some());
    }
    server.kill9().await;

    let server = ServerProcess::on(dir.path()).await;
    let mut back =
        LiveClient::connect(&live_url(&server.address, &id, Some(k)), Some(&token)).await;
    for n in 0..10u64 {
        let event = back.event().await;
        assert_eq!(event["type"], "message.added");
        assert_eq!(event["seq"], k + 1 + n);
        assert_eq!(
            event["message"]["images"][0]["url"],
            format!("https://img/missed/{n}")
        );
    }
    assert_eq!(
        back.event().await,
        json!({ "type": "resumed", "seq": k + 10 })
    );
    server.kill9().await;
}

#[tokio::test]
async fn sigterm_during_a_burst_loses_no_acknowledged_write_and_closes_every_socket_with_1001() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::on(dir.path()).await;
    let token = token_from_cli(dir.path(), "u").await;
    let user = ProcessUser::new(&server, &token);
    let id = user.create("live").await;

    let mut tabs = Vec::new();
    for _ in 0..3 {
        let mut tab =
            LiveClient::connect(&live_url(&server.address, &id, None), Some(&token)).await;
        assert_eq!(tab.event().await["type"], "snapshot");
        tabs.push(tab);
    }
    // Each tab fires a burst of commands without waiting, then the server is told to stop.
    for (t, tab) in tabs.iter_mut().enumerate() {
        for n in 0..40 {
            tab.send(
                "message.add",
                json!({ "prompt": "p", "images": [{ "url": format!("https://img/{t}/{n}") }] }),
            )
            .await;
        }
    }
    let stopped = tokio::spawn(server.terminate());

    let mut acknowledged: BTreeMap<String, u64> = BTreeMap::new();
    for (t, tab) in tabs.iter_mut().enumerate() {
        assert_eq!(tab.closed().await, 1001, "every socket is closed with 1001");
        for frame in &tab.log {
            if frame["type"] == "reply" && frame["ok"] == true {
                let n = frame["id"].as_u64().unwrap() - 1;
                let order = frame["result"]["orders"][0].as_u64().unwrap();
                acknowledged.insert(format!("https://img/{t}/{n}"), order);
            }
        }
    }
    assert!(stopped.await.unwrap(), "the server exits cleanly");
    assert!(!acknowledged.is_empty());

    let server = ServerProcess::on(dir.path()).await;
    assert_kept(&user.on(&server).session(&id).await, &acknowledged);
    server.kill9().await;
}
