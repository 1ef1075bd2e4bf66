//! Readiness follows Redis: an instance that cannot hear the others is not ready.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::RedisServer;
use crate::helpers::ServerProcess;

async fn readyz(address: &str) -> (u16, Value) {
    let response = reqwest::get(format!("{address}/readyz")).await.unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

/// Polls `/readyz` until it answers `status`; panics after 20 s.
async fn until_ready_is(address: &str, status: u16) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (now, body) = readyz(address).await;
        if now == status {
            return body;
        }
        assert!(Instant::now() < deadline, "/readyz stayed {now}: {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn redis_gauge(address: &str) -> Option<f64> {
    let text = reqwest::get(format!("{address}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|line| line.strip_prefix("livechat_redis_connected "))
        .map(|value| value.trim().parse().unwrap())
}

#[tokio::test]
async fn readyz_names_redis_while_it_is_unreachable_and_recovers_when_it_is_back() {
    let mut redis = RedisServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::on_with(
        dir.path(),
        &[],
        &[
            ("LIVECHAT_STORE", "sqlite"),
            ("LIVECHAT_REDIS_URL", &redis.url()),
        ],
    )
    .await;
    until_ready_is(&server.address, 200).await;
    assert_eq!(redis_gauge(&server.address).await, Some(1.0));

    redis.kill().await;
    let unready = until_ready_is(&server.address, 503).await;
    assert_eq!(unready["status"], "unready");
    assert!(unready["checks"]["redis"].is_string(), "{unready}");
    assert!(
        unready["checks"].get("store").is_none(),
        "only Redis failed: {unready}"
    );
    assert_eq!(redis_gauge(&server.address).await, Some(0.0));

    redis.restart().await;
    until_ready_is(&server.address, 200).await;
    assert_eq!(redis_gauge(&server.address).await, Some(1.0));
    server.kill9().await;
    redis.kill().await;
}
