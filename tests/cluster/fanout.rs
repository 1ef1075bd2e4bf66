//! Tabs spread over instances, writers on every instance.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::join_all;
use serde_json::{Value, json};

use crate::helpers::*;
use crate::live_client::*;
use crate::{Cluster, RedisServer, redis_url};

/// Reads `count` sequenced events from a tab.
async fn events(tab: &mut LiveClient, count: usize) -> Vec<Value> {
    let mut events = Vec::with_capacity(count);
    for _ in 0..count {
        events.push(tab.event().await);
    }
    events
}

fn seqs(events: &[Value]) -> Vec<u64> {
    events.iter().map(|e| e["seq"].as_u64().unwrap()).collect()
}

#[tokio::test]
async fn tabs_on_three_instances_see_one_identical_gap_free_history() {
    let mut cluster = Cluster::new(&redis_url());
    let (servers, token, users) = cluster.start_all(3, "u").await;
    let id = users[0].create("spread").await;

    let mut tabs = Vec::new();
    for server in &servers {
        for _ in 0..2 {
            let mut tab =
                LiveClient::connect(&live_url(&server.address, &id, None), Some(&token)).await;
            assert_eq!(tab.event().await["type"], "snapshot");
            tabs.push(tab);
        }
    }
    // Writers everywhere at once: a socket per instance, and REST on every instance.
    for (i, tab) in tabs.iter_mut().step_by(2).enumerate() {
        for n in 0..15 {
            tab.send(
                "message.add",
                json!({ "prompt": "ws", "images": [{ "url": format!("https://img/ws/{i}/{n}") }] }),
            )
            .await;
        }
    }
    let rest = join_all((0..15).map(|n| {
        let user = users[n % 3].clone();
        let id = id.clone();
        async move { user.append(&id, &format!("https://img/rest/{n}")).await }
    }))
    .await;
    assert!(
        rest.iter().all(Option::is_some),
        "every REST append acknowledged"
    );
    let total = 3 * 15 + 15;

    let mut histories = Vec::new();
    for tab in &mut tabs {
        histories.push(events(tab, total).await);
    }
    assert_eq!(seqs(&histories[0]), (1..=total as u64).collect::<Vec<_>>());
    for history in &histories[1..] {
        assert_eq!(
            history, &histories[0],
            "every tab sees the identical sequence"
        );
    }
    let session = users[1].session(&id).await;
    assert_eq!(session["seq"], total as u64);
    let orders = image_orders(&session);
    assert_eq!(
        orders,
        (1..=total as u64).collect::<Vec<_>>(),
        "orders gap-free across instances"
    );

    // Presence counts the sockets of every instance.
    let mut last = 0;
    for _ in 0..20 {
        last = tabs[0].presence().await;
        if last == 6 {
            break;
        }
    }
    assert_eq!(last, 6);
    for server in servers {
        server.kill9().await;
    }
}

#[tokio::test]
async fn an_instance_killed_under_load_loses_no_acknowledged_write_and_its_tabs_resume_elsewhere() {
    let mut cluster = Cluster::new(&redis_url());
    let (servers, token, users) = cluster.start_all(3, "u").await;
    let id = users[0].create("crash").await;
    let mut tabs: Vec<LiveClient> = Vec::new();
    for server in &servers {
        let mut tab =
            LiveClient::connect(&live_url(&server.address, &id, None), Some(&token)).await;
        assert_eq!(tab.event().await["type"], "snapshot");
        tabs.push(tab);
    }

    let acknowledged: Arc<Mutex<BTreeMap<String, u64>>> = Default::default();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writers: Vec<_> = users
        .iter()
        .enumerate()
        .map(|(w, user)| {
            let (user, id, acknowledged, stop) = (
                user.clone(),
                id.clone(),
                Arc::clone(&acknowledged),
                Arc::clone(&stop),
            );
            tokio::spawn(async move {
                let mut n = 0;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let url = format!("https://img/{w}/{n}");
                    if let Some(order) = user.append(&id, &url).await {
                        acknowledged.lock().unwrap().insert(url, order);
                    }
                    n += 1;
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            })
        })
        .collect();
    while acknowledged.lock().unwrap().len() < 30 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let mut servers = servers;
    let killed = servers.pop().unwrap();
    killed.kill9().await;
    // The killed instance's tab saw up to some seq k before its connection dropped.
    let mut dropped = tabs.pop().unwrap();
    let mut k = 0;
    while let Ok(Some(seq)) =
        tokio::time::timeout(Duration::from_secs(10), dropped_event(&mut dropped)).await
    {
        k = seq;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for writer in writers {
        writer.await.unwrap();
    }
    let acknowledged = acknowledged.lock().unwrap().clone();
    let session = users[0].session(&id).await;
    let total = assert_kept(&session, &acknowledged);

    for tab in &mut tabs {
        assert_eq!(
            seqs(&events(tab, total as usize).await),
            (1..=total).collect::<Vec<_>>(),
            "tabs on the others keep receiving"
        );
    }
    let mut back =
        LiveClient::connect(&live_url(&servers[0].address, &id, Some(k)), Some(&token)).await;
    let missed = events(&mut back, (total - k) as usize).await;
    assert_eq!(seqs(&missed), (k + 1..=total).collect::<Vec<_>>());
    assert_eq!(
        back.event().await,
        json!({ "type": "resumed", "seq": total })
    );
    for server in servers {
        server.kill9().await;
    }
}

/// The seq of the next event on a socket whose server may have died; `None` once it has.
async fn dropped_event(tab: &mut LiveClient) -> Option<u64> {
    tab.try_event().await.map(|e| e["seq"].as_u64().unwrap())
}

#[tokio::test]
async fn a_redis_restart_under_load_loses_no_event_on_any_tab_and_is_logged() {
    let mut redis = RedisServer::start().await;
    let mut cluster = Cluster::new(&redis.url());
    let servers = vec![cluster.start(0).await, cluster.start(1).await];
    let token = cluster.token("u");
    let users: Vec<ProcessUser> = servers
        .iter()
        .map(|s| ProcessUser::new(s, &token))
        .collect();
    let id = users[0].create("redis").await;
    let mut tabs = Vec::new();
    for server in &servers {
        let mut tab =
            LiveClient::connect(&live_url(&server.address, &id, None), Some(&token)).await;
        assert_eq!(tab.event().await["type"], "snapshot");
        tabs.push(tab);
    }

    let mut total = 0;
    for round in 0..3 {
        if round == 1 {
            redis.kill().await;
        }
        if round == 2 {
            redis.restart().await;
            tokio::time::sleep(Duration::from_millis(1_500)).await;
        }
        for n in 0..10 {
            let user = &users[n % 2];
            assert!(
                user.append(&id, &format!("https://img/{round}/{n}"))
                    .await
                    .is_some(),
                "REST keeps serving"
            );
            total += 1;
        }
    }
    for tab in &mut tabs {
        assert_eq!(
            seqs(&events(tab, total).await),
            (1..=total as u64).collect::<Vec<_>>(),
            "every event, in order"
        );
    }
    for n in 0..2 {
        let log = cluster.log(n);
        assert!(
            log.contains("lost the redis connection"),
            "instance {n} logged the outage:\n{log}"
        );
        assert!(
            log.contains("redis is back"),
            "instance {n} logged the recovery:\n{log}"
        );
    }
    for server in servers {
        server.kill9().await;
    }
    redis.kill().await;
}
