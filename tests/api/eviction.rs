//! Actors leave memory when idle, atomically with their registry entry: a socket or a write
//! that arrives just as an actor decides to leave reaches the live actor or a new one, never
//! one on its way out. With actors evicted after 2 ms, tabs attach and write between
//! evictions: none is dropped, and none misses an event.

use std::collections::BTreeMap;
use std::time::Duration;

use rand::Rng as _;
use serde_json::json;

use crate::helpers::*;
use crate::live_client::{LiveClient, live_url};

/// One user's loop: append over REST, pause about as long as an actor idles, attach a tab
/// resuming from the last `seq` it knows, write over it, check what it receives, leave.
async fn writer(app: &TestApp, id: &str, name: &str, rounds: usize) -> BTreeMap<String, u64> {
    let mut acknowledged = BTreeMap::new();
    for round in 0..rounds {
        let url = format!("https://img/{name}/{round}/rest");
        let reply = app
            .append("u", id, json!({ "prompt": "p", "images": [image(&url)] }))
            .await;
        let since = reply.ok()["seq"].as_u64().unwrap();
        acknowledged.insert(url, reply.ok()["orders"][0].as_u64().unwrap());
        // Around the idle time, so that tabs often arrive as the actor decides to leave.
        let pause = rand::rng().random_range(1_500..3_500);
        tokio::time::sleep(Duration::from_micros(pause)).await;

        let mut tab = LiveClient::connect(
            &live_url(&app.address, id, Some(since)),
            Some(&app.token("u")),
        )
        .await;
        // The events after `since` (another writer's), then `resumed`: in order, no gap.
        let mut seq = since;
        loop {
            let frame = tab.event().await;
            if frame["type"] == "resumed" {
                assert!(frame["seq"].as_u64().unwrap() >= seq);
                seq = frame["seq"].as_u64().unwrap();
                break;
            }
            seq += 1;
            assert_eq!(frame["seq"], seq, "{name}: a gap in the replay: {frame}");
        }
        let url = format!("https://img/{name}/{round}/socket");
        let added = tab
            .request(
                "message.add",
                json!({ "prompt": "p", "images": [image(&url)] }),
            )
            .await;
        assert_eq!(added["ok"], true, "{name}: {added}");
        acknowledged.insert(url, added["result"]["orders"][0].as_u64().unwrap());
        let mine = added["result"]["seq"].as_u64().unwrap();
        // Every event up to its own write reaches the tab, in order.
        while seq < mine {
            let event = tab.event().await;
            seq += 1;
            assert_eq!(event["seq"], seq, "{name}: a gap while attached: {event}");
        }
        tab.close().await;
    }
    acknowledged
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn attaching_and_writing_while_actors_evict_drops_no_socket_and_misses_no_event() {
    let app = spawn_app_with(|config| config.actor_idle_secs = 0.002).await;
    let app = &app;
    // Two writers on each of four sessions.
    let mut sessions = Vec::new();
    for n in 0..4 {
        sessions.push(app.create_session("u", &format!("s-{n}")).await);
    }
    let rounds = 100;
    let runs = sessions.iter().enumerate().flat_map(|(n, id)| {
        ["a", "b"].map(move |w| async move {
            (
                id.clone(),
                writer(app, id, &format!("{n}{w}"), rounds).await,
            )
        })
    });
    let mut acknowledged: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
    for (id, kept) in futures::future::join_all(runs).await {
        acknowledged.entry(id).or_default().extend(kept);
    }
    for (id, kept) in &acknowledged {
        let session = app.session("u", id).await;
        assert_eq!(assert_kept(&session, kept), 4 * rounds as u64);
    }
}
