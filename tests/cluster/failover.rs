//! A Redis Cluster losing a primary in the middle of a stream of writes.

use std::time::Duration;

use serde_json::Value;

use crate::helpers::*;
use crate::live_client::*;
use crate::{Cluster, RedisCluster};

/// The `seq` of every sequenced event a tab receives until `last`, then whatever else arrives
/// within a moment (a duplicate would).
async fn history(tab: &mut LiveClient, last: u64) -> Vec<u64> {
    let mut seqs = Vec::new();
    while seqs.last() != Some(&last) {
        let event: Value = tab.event().await;
        seqs.push(event["seq"].as_u64().unwrap());
        assert!(
            seqs.len() <= last as usize,
            "more events than written: {seqs:?}"
        );
    }
    while let Ok(Some(extra)) =
        tokio::time::timeout(Duration::from_millis(500), tab.try_event()).await
    {
        seqs.push(extra["seq"].as_u64().unwrap());
    }
    seqs
}

async fn redis_gauge(address: &str) -> Option<f64> {
    let text = reqwest::get(format!("{address}/metrics"))
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    text.lines()
        .find(|line| line.starts_with("livechat_redis_connected "))
        .and_then(|line| line.split_whitespace().nth(1)?.parse().ok())
}

#[tokio::test]
async fn a_primary_killed_mid_writes_hands_over_to_its_replica_and_every_tab_ends_with_the_whole_history()
 {
    let mut redis = RedisCluster::start().await;
    let mut cluster = Cluster::new(&redis.url());
    let servers = vec![cluster.start(0).await, cluster.start(1).await];
    let token = cluster.token("u");
    let users: Vec<ProcessUser> = servers
        .iter()
        .map(|s| ProcessUser::new(s, &token))
        .collect();
    let id = users[0].create("failover").await;
    let mut tabs = Vec::new();
    for server in &servers {
        for _ in 0..2 {
            let mut tab =
                LiveClient::connect(&live_url(&server.address, &id, None), Some(&token)).await;
            assert_eq!(tab.event().await["type"], "snapshot");
            tabs.push(tab);
        }
    }
    // The shard that carries this session's notices between the two instances.
    let primary = redis
        .primary_of(&format!("livechat:session:{id}"))
        .await
        .expect("a primary serves the session");

    // Writes alternate between the instances without pause; the primary dies after the first
    // third, and the last third is written once its replica has taken over.
    let mut written = 0u64;
    for round in 0..3 {
        if round == 1 {
            redis.kill(primary).await;
        }
        if round == 2 {
            // The replica is promoted once the others see the primary fail (node timeout 1 s).
            let deadline = std::time::Instant::now() + Duration::from_secs(30);
            while redis
                .primary_of(&format!("livechat:session:{id}"))
                .await
                .is_none_or(|p| p == primary)
            {
                assert!(std::time::Instant::now() < deadline, "no replica took over");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            redis.until_healthy().await;
        }
        for n in 0..10 {
            let user = &users[n % 2];
            let url = format!("https://img/{round}/{n}");
            assert!(user.append(&id, &url).await.is_some(), "REST keeps serving");
            written += 1;
        }
    }
    assert_ne!(
        redis.primary_of(&format!("livechat:session:{id}")).await,
        Some(primary),
        "a replica took over the shard"
    );

    let whole: Vec<u64> = (1..=written).collect();
    for (n, tab) in tabs.iter_mut().enumerate() {
        assert_eq!(
            history(tab, written).await,
            whole,
            "tab {n}: every event once, in order"
        );
    }
    // Both instances are connected to the whole cluster again, and say so.
    for server in &servers {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while redis_gauge(&server.address).await != Some(1.0) {
            assert!(
                std::time::Instant::now() < deadline,
                "livechat_redis_connected is back to 1 on {}",
                server.address
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    for server in servers {
        server.kill9().await;
    }
}
