//! What operators rely on: readiness, request ids, Prometheus metrics, JSON logs, and the
//! drain on SIGTERM. Metrics are process-wide, so the tests that count them run the binary.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};

use crate::exposition::Exposition;
use crate::helpers::*;
use crate::identity::{KeyServer, Published, SigningKey};
use crate::live_client::{LiveClient, live_url};

#[tokio::test]
async fn readyz_is_ready_on_the_embedded_default_without_a_token() {
    let app = spawn_app().await;
    let reply = app
        .client
        .get(format!("{}/readyz", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 200);
    assert_eq!(
        reply.json::<Value>().await.unwrap(),
        json!({ "status": "ready" })
    );
    let health = app
        .client
        .get(format!("{}/healthz", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
}

#[tokio::test]
async fn a_request_id_is_echoed_when_plain_and_generated_otherwise() {
    let app = spawn_app().await;
    let id_of = |request: reqwest::RequestBuilder| async move {
        let response = request.send().await.unwrap();
        response
            .headers()
            .get("x-request-id")
            .expect("every answer carries a request id")
            .to_str()
            .unwrap()
            .to_owned()
    };
    let url = format!("{}{BASE}", app.address);
    let echoed = id_of(
        app.client
            .get(&url)
            .bearer_auth(app.token("u"))
            .header("x-request-id", "lb-7f3a:42"),
    )
    .await;
    assert_eq!(echoed, "lb-7f3a:42");
    for request in [
        app.client.get(&url),
        app.client.get(&url).header("x-request-id", "two words"),
        app.client.get(format!("{}/nowhere", app.address)),
    ] {
        let generated = id_of(request).await;
        assert_eq!(generated.len(), 32, "{generated}");
        assert!(
            generated.chars().all(|c| c.is_ascii_hexdigit()),
            "{generated}"
        );
    }
}

async fn metrics_of(address: &str) -> Exposition {
    let response = reqwest::get(format!("{address}/metrics")).await.unwrap();
    assert_eq!(response.status(), 200);
    let kind = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(kind.starts_with("text/plain"), "{kind}");
    Exposition::parse(&response.text().await.unwrap())
}

/// Every name SPEC §8 requires (`livechat_redis_connected` only with Redis).
const REQUIRED: &[&str] = &[
    "livechat_http_requests_total",
    "livechat_http_request_duration_seconds",
    "livechat_sockets_open",
    "livechat_sessions_live",
    "livechat_store_commits_total",
    "livechat_store_commit_duration_seconds",
    "livechat_events_delivered_total",
    "livechat_socket_closes_total",
    "livechat_resumes_total",
    "livechat_auth_key_fetches_total",
];

#[tokio::test]
async fn metrics_count_requests_sockets_resumes_and_a_slow_consumer_close() {
    let key = SigningKey::rsa("k1");
    let keys = KeyServer::start(Published::X509Map, &[&key]).await;
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::on_with(
        dir.path(),
        &["--ws-queue", "8"],
        &[
            ("LIVECHAT_STORE", "sqlite"),
            ("LIVECHAT_FIREBASE_PROJECT", "demo-metrics"),
            ("LIVECHAT_FIREBASE_KEYS_URL", &keys.url),
            ("LIVECHAT_FIREBASE_SESSION_KEYS_URL", &keys.url),
        ],
    )
    .await;
    let token = token_from_cli(dir.path(), "u").await;
    let user = ProcessUser::new(&server, &token);

    // REST: a create, three appends, a get, a 404 and a 401.
    let id = user.create("s").await;
    for n in 1..=3 {
        assert_eq!(user.append(&id, &format!("https://img/{n}")).await, Some(n));
    }
    user.session(&id).await;
    let (missing, _) = user
        .call(Method::GET, &format!("{BASE}/AAAAAAAAAAAAAAAAAAAA"), None)
        .await
        .unwrap();
    assert_eq!(missing, 404);
    let anonymous = reqwest::get(format!("{}{BASE}", server.address))
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);

    // Sockets: one attach, one resume that replays, one that is too far ahead (a snapshot).
    let mut tab = LiveClient::connect(&live_url(&server.address, &id, None), Some(&token)).await;
    assert_eq!(tab.event().await["type"], "snapshot");
    let mut resumed =
        LiveClient::connect(&live_url(&server.address, &id, Some(1)), Some(&token)).await;
    assert_eq!(resumed.event().await["seq"], 2);
    assert_eq!(resumed.event().await["seq"], 3);
    assert_eq!(resumed.event().await["type"], "resumed");
    let mut ahead =
        LiveClient::connect(&live_url(&server.address, &id, Some(99)), Some(&token)).await;
    assert_eq!(ahead.event().await["type"], "snapshot");
    ahead.close().await;

    // A slow consumer on a session of its own, so the counts above stay exact.
    let flooded = user.create("flood").await;
    let mut stalled = LiveClient::stalled(&server.address, &flooded, &token).await;
    let mut floods = 0;
    let closed = loop {
        let images: Vec<Value> = (0..64)
            .map(|i| json!({ "url": format!("https://img/{floods}/{i}/{}", "x".repeat(1_900)) }))
            .collect();
        let (status, _) = user
            .call(
                Method::POST,
                &format!("{BASE}/{flooded}/messages"),
                Some(json!({ "prompt": "p", "images": images })),
            )
            .await
            .unwrap();
        assert_eq!(status, 200);
        floods += 1;
        if floods >= 80 {
            break stalled.closed().await;
        }
    };
    assert_eq!(closed, 4008);
    // A closed socket is counted once its closing handshake is over on the server's side.
    let deadline = Instant::now() + Duration::from_secs(10);
    let metrics = loop {
        let metrics = metrics_of(&server.address).await;
        if metrics.count("livechat_sockets_open", &[]) == 2.0 || Instant::now() > deadline {
            break metrics;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    for name in REQUIRED {
        assert!(metrics.types.contains_key(*name), "{name} is missing");
    }
    assert_eq!(
        metrics.types["livechat_http_request_duration_seconds"],
        "histogram"
    );
    assert_eq!(
        metrics.types["livechat_store_commit_duration_seconds"],
        "histogram"
    );
    assert!(
        !metrics.types.contains_key("livechat_redis_connected"),
        "no Redis, no Redis gauge"
    );
    let requests = |method: &str, route: &str, status: &str| {
        metrics.count(
            "livechat_http_requests_total",
            &[("method", method), ("route", route), ("status", status)],
        )
    };
    let messages = "/api/live-chat-sessions/{id}/messages";
    assert_eq!(requests("POST", "/api/live-chat-sessions", "200"), 2.0);
    assert_eq!(requests("POST", messages, "200"), 3.0 + f64::from(floods));
    assert_eq!(requests("GET", "/api/live-chat-sessions/{id}", "200"), 1.0);
    assert_eq!(requests("GET", "/api/live-chat-sessions/{id}", "404"), 1.0);
    assert_eq!(requests("GET", "/api/live-chat-sessions", "401"), 1.0);
    assert_eq!(
        metrics.count(
            "livechat_http_request_duration_seconds_count",
            &[("method", "POST"), ("route", messages)]
        ),
        3.0 + f64::from(floods)
    );
    // Two sockets still open: the attached tab and the resumed one.
    assert_eq!(metrics.count("livechat_sockets_open", &[]), 2.0);
    assert_eq!(metrics.count("livechat_sessions_live", &[]), 2.0);
    let commits = 3.0 + f64::from(floods);
    assert_eq!(
        metrics.count("livechat_store_commits_total", &[("result", "ok")]),
        commits
    );
    assert_eq!(
        metrics.count("livechat_store_commit_duration_seconds_count", &[]),
        commits
    );
    assert_eq!(
        metrics.count("livechat_resumes_total", &[("outcome", "replayed")]),
        1.0
    );
    assert_eq!(
        metrics.count("livechat_resumes_total", &[("outcome", "snapshot")]),
        1.0
    );
    assert_eq!(
        metrics.count("livechat_socket_closes_total", &[("code", "4008")]),
        1.0
    );
    assert_eq!(
        metrics.count("livechat_socket_closes_total", &[("code", "peer")]),
        1.0,
        "the tab that was ahead closed itself"
    );
    // The resumed socket's two replayed events; the stalled tab's queue took some of the
    // flood before it overflowed (at most its queue of 8, plus what was already written).
    let delivered = metrics.count("livechat_events_delivered_total", &[]);
    assert!(
        (2.0..=2.0 + f64::from(floods)).contains(&delivered),
        "{delivered} events delivered"
    );
    assert_eq!(
        metrics.count("livechat_auth_key_fetches_total", &[("result", "ok")]),
        2.0,
        "one fetch per key URL at start"
    );
    drop((tab, resumed));
    server.kill9().await;
}

#[tokio::test]
async fn metrics_can_have_an_address_of_their_own() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let metrics_addr = format!("127.0.0.1:{port}");
    let server = ServerProcess::on_with(dir.path(), &["--metrics-addr", &metrics_addr], &[]).await;
    let main = reqwest::get(format!("{}/metrics", server.address))
        .await
        .unwrap();
    assert_eq!(main.status(), 404, "not on the main listener");
    let metrics = metrics_of(&format!("http://{metrics_addr}")).await;
    assert!(metrics.types.contains_key("livechat_sockets_open"));
    server.kill9().await;
}

/// The binary on SQLite, logging JSON at debug level into `server.log` of its data dir.
async fn json_logging_server(dir: &std::path::Path) -> ServerProcess {
    ServerProcess::on_with(
        dir,
        &["--log-format", "json"],
        &[
            ("RUST_LOG", "livechat_sessions=debug"),
            ("LIVECHAT_STORE", "sqlite"),
        ],
    )
    .await
}

/// The log such a server wrote, and each of its lines (each must be one JSON object).
fn json_log(dir: &std::path::Path) -> (String, Vec<Value>) {
    let log = std::fs::read_to_string(dir.join("server.log")).unwrap();
    let lines = log
        .lines()
        .map(|line| {
            serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("not one JSON object: {line:?}: {e}"))
        })
        .collect();
    (log, lines)
}

#[tokio::test]
async fn json_logs_are_one_object_per_line_and_a_requests_lines_carry_its_id() {
    let dir = tempfile::tempdir().unwrap();
    let server = json_logging_server(dir.path()).await;
    let token = token_from_cli(dir.path(), "u").await;
    let client = reqwest::Client::new();
    let created = client
        .post(format!("{}{BASE}", server.address))
        .bearer_auth(&token)
        .header("x-request-id", "create-1")
        .body(json!({ "sessionId": "s", "model": "m" }).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(created.headers()["x-request-id"], "create-1");
    let missing = client
        .get(format!("{}{BASE}/AAAAAAAAAAAAAAAAAAAA", server.address))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    let generated = missing.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    server.terminate().await;

    let (log, lines) = json_log(dir.path());
    assert!(lines.len() > 3, "{log}");
    for line in &lines {
        assert!(
            line["level"].is_string() && line["timestamp"].is_string(),
            "{line}"
        );
    }
    for (request_id, uid) in [("create-1", "u"), (generated.as_str(), "u")] {
        let of_request: Vec<&Value> = lines
            .iter()
            .filter(|line| {
                line["spans"]
                    .as_array()
                    .is_some_and(|spans| spans.iter().any(|span| span["request_id"] == request_id))
            })
            .collect();
        assert!(
            !of_request.is_empty(),
            "no line carries {request_id}: {log}"
        );
        for line in of_request {
            let span = line["spans"]
                .as_array()
                .unwrap()
                .iter()
                .find(|span| span["name"] == "request")
                .unwrap();
            assert_eq!(span["uid"], uid, "{line}");
            assert!(span["route"].is_string(), "{line}");
        }
    }
}

/// The span named `name` of a JSON log line, if it is inside one.
fn span<'a>(line: &'a Value, name: &str) -> Option<&'a Value> {
    line["spans"]
        .as_array()?
        .iter()
        .find(|span| span["name"] == name)
}

#[tokio::test]
async fn a_sockets_log_lines_name_its_request_session_socket_and_user_and_an_actors_its_session() {
    let dir = tempfile::tempdir().unwrap();
    let server = json_logging_server(dir.path()).await;
    let token = token_from_cli(dir.path(), "u").await;
    let user = ProcessUser::new(&server, &token);
    let id = user.create("s").await;
    let mut tab = LiveClient::connect_with(
        &live_url(&server.address, &id, None),
        &[
            ("authorization", &format!("Bearer {token}")),
            ("x-request-id", "socket-1"),
        ],
    )
    .await
    .unwrap();
    assert_eq!(tab.next().await["type"], "snapshot");
    // Deleting the session stops its actor and closes the socket.
    let (status, _) = user
        .call(Method::DELETE, &format!("{BASE}/{id}"), None)
        .await
        .unwrap();
    assert_eq!(status, 200);
    assert_eq!(tab.closed().await, 4004);
    server.terminate().await;

    let (log, lines) = json_log(dir.path());
    let of = |message: &str| -> Vec<&Value> {
        lines
            .iter()
            .filter(|line| line["message"] == message)
            .collect()
    };
    for message in ["socket attached", "socket closed"] {
        let found = of(message);
        assert_eq!(found.len(), 1, "{message}: {log}");
        let socket = span(found[0], "socket").unwrap_or_else(|| panic!("{message}: {log}"));
        assert_eq!(socket["request_id"], "socket-1", "{socket}");
        assert_eq!(socket["session"], id.as_str(), "{socket}");
        assert_eq!(socket["uid"], "u", "{socket}");
        assert!(socket["socket"].is_u64(), "{socket}");
    }
    let deleted = of("session deleted");
    assert_eq!(deleted.len(), 1, "{log}");
    let actor = span(deleted[0], "actor").unwrap_or_else(|| panic!("{log}"));
    assert_eq!(actor["session"], id.as_str(), "{actor}");
}

#[tokio::test]
async fn sigterm_drains_then_closes_sockets_with_1001_and_loses_no_acknowledged_write() {
    let dir = tempfile::tempdir().unwrap();
    let args = [
        "--addr",
        "127.0.0.1:0",
        "--data-dir",
        dir.path().to_str().unwrap(),
        "--drain-ms",
        "3000",
    ];
    let server = ServerProcess::start(&args, &[("LIVECHAT_STORE", "sqlite")]).await;
    let token = token_from_cli(dir.path(), "u").await;
    let user = ProcessUser::new(&server, &token);
    let id = user.create("s").await;
    let mut tab = LiveClient::connect(&live_url(&server.address, &id, None), Some(&token)).await;
    assert_eq!(tab.event().await["type"], "snapshot");
    let ready = || async {
        reqwest::get(format!("{}/readyz", server.address))
            .await
            .map(|r| r.status().as_u16())
    };
    assert_eq!(ready().await.unwrap(), 200);

    let pid = server.child.id().unwrap().to_string();
    let signalled = Instant::now();
    assert!(
        std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    loop {
        if ready().await.unwrap() == 503 {
            break;
        }
        assert!(
            signalled.elapsed() < Duration::from_millis(100),
            "/readyz still 200 100 ms after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let unready: Value = reqwest::get(format!("{}/readyz", server.address))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(unready["status"], "unready");
    assert!(unready["checks"]["draining"].is_string(), "{unready}");

    // Draining: REST and sockets work as before.
    let mut acknowledged = std::collections::BTreeMap::new();
    for n in 1..=5u64 {
        let url = format!("https://img/drain/{n}");
        let order = user.append(&id, &url).await.expect("served while draining");
        acknowledged.insert(url, order);
        assert_eq!(tab.event().await["seq"], n);
    }
    let mut late =
        LiveClient::connect(&live_url(&server.address, &id, Some(5)), Some(&token)).await;
    assert_eq!(
        late.event().await["type"],
        "resumed",
        "new sockets attach while draining"
    );
    assert!(
        signalled.elapsed() < Duration::from_secs(3),
        "the drain is not over yet"
    );

    // Then: sockets close with 1001 and the process exits.
    assert_eq!(tab.closed().await, 1001);
    assert_eq!(late.closed().await, 1001);
    assert!(
        signalled.elapsed() >= Duration::from_millis(2_900),
        "not before the drain ended"
    );
    let mut child = server.child;
    let exit = tokio::time::timeout(Duration::from_secs(15), child.wait())
        .await
        .expect("the process exits")
        .unwrap();
    assert!(exit.success(), "{exit:?}");

    let restarted = ServerProcess::start(&args, &[("LIVECHAT_STORE", "sqlite")]).await;
    let session = ProcessUser::new(&restarted, &token).session(&id).await;
    assert_eq!(assert_kept(&session, &acknowledged), 5);
    restarted.kill9().await;
}
