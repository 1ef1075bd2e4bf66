//! The database going away and coming back: requests fail fast with a retryable 503 within
//! their deadline, and the server recovers by itself.

use std::process::Stdio;
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::json;
use tokio::process::{Child, Command};

use crate::helpers::*;
use crate::new_project;

/// An emulator of this test's own, in its own process group so it can be paused and killed.
struct Emulator {
    child: Child,
}

impl Emulator {
    async fn start(port: u16) -> Self {
        let bin = std::env::var("FIRESTORE_EMULATOR_BIN").unwrap_or_else(|_| {
            "/usr/lib/google-cloud-sdk/platform/cloud-firestore-emulator/cloud_firestore_emulator".into()
        });
        let child = Command::new(bin)
            .args(["start", "--host=127.0.0.1", &format!("--port={port}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .expect("the Firestore emulator starts");
        let emulator = Self { child };
        let deadline = Instant::now() + Duration::from_secs(60);
        while reqwest::get(format!("http://127.0.0.1:{port}/"))
            .await
            .is_err()
        {
            assert!(Instant::now() < deadline, "the emulator did not come up");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        emulator
    }

    fn signal(&self, signal: &str) {
        let group = format!("-{}", self.child.id().unwrap());
        let status = std::process::Command::new("kill")
            .args([signal, "--", &group])
            .status()
            .unwrap();
        assert!(status.success());
    }

    async fn kill(mut self) {
        self.signal("-KILL");
        let _ = self.child.wait().await;
    }
}

/// The emulator's JVM is the launcher's child: end the whole group, even when a test fails
/// before `kill`.
impl Drop for Emulator {
    fn drop(&mut self) {
        if let Some(id) = self.child.id() {
            let group = format!("-{id}");
            let _ = std::process::Command::new("kill")
                .args(["-KILL", "--", &group])
                .status();
        }
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// An emulator of the test's own and a server process on it (a project of its own), with
/// `env` besides.
async fn server_on_own_emulator(
    env: &[(&str, &str)],
) -> (Emulator, ServerProcess, u16, tempfile::TempDir) {
    crate::emulator_host();
    let port = free_port();
    let emulator = Emulator::start(port).await;
    let dir = tempfile::tempdir().unwrap();
    let host = format!("127.0.0.1:{port}");
    let project = new_project();
    let mut all = vec![
        ("LIVECHAT_STORE", "firestore"),
        ("LIVECHAT_FIRESTORE_PROJECT", project.as_str()),
        ("FIRESTORE_EMULATOR_HOST", host.as_str()),
    ];
    all.extend_from_slice(env);
    let server = ServerProcess::on_with(dir.path(), &[], &all).await;
    (emulator, server, port, dir)
}

/// Retries `append` until it is acknowledged; panics after `within`.
async fn until_acknowledged(user: &ProcessUser, id: &str, url: &str, within: Duration) -> u64 {
    let deadline = Instant::now() + within;
    loop {
        if let Some(order) = user.append(id, url).await {
            return order;
        }
        assert!(Instant::now() < deadline, "the server did not recover");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test]
async fn requests_get_503_within_their_deadline_while_the_database_is_away_then_recover() {
    let (emulator, server, port, dir) =
        server_on_own_emulator(&[("LIVECHAT_FIRESTORE_TIMEOUT_MS", "2000")]).await;
    let user = ProcessUser::new(&server, &token_from_cli(dir.path(), "u").await);
    let id = user.create("s").await;
    assert_eq!(user.append(&id, "https://img/1").await, Some(1));

    // Paused: calls hang, and the deadline turns them into 503s.
    emulator.signal("-STOP");
    for (method, path, body) in [
        (
            Method::POST,
            format!("{BASE}/{id}/messages"),
            Some(json!({ "prompt": "p", "images": [{ "url": "https://img/2" }] })),
        ),
        (Method::GET, format!("{BASE}/{id}"), None),
        (
            Method::GET,
            format!("{BASE}/by-image-url?imageUrl=https%3A%2F%2Fimg%2F1"),
            None,
        ),
    ] {
        let started = Instant::now();
        let (status, reply) = user.call(method.clone(), &path, body).await.unwrap();
        let took = started.elapsed();
        assert_eq!(status, 503, "{method} {path}: {reply}");
        assert_eq!(reply["data"]["code"], "unavailable");
        assert_eq!(reply["data"]["retryable"], true);
        assert!(
            !reply["message"].as_str().unwrap().contains("rpc"),
            "Firestore's text is not sent: {reply}"
        );
        assert!(
            took < Duration::from_secs(6),
            "{method} {path} took {took:?}, past its 2 s deadline"
        );
    }

    // Resumed: the same session carries on, nothing lost, orders gap-free.
    emulator.signal("-CONT");
    let order = until_acknowledged(&user, &id, "https://img/3", Duration::from_secs(30)).await;
    let session = user.session(&id).await;
    let total = session["totalImages"].as_u64().unwrap();
    assert_eq!(order, total, "the order continues from what was committed");

    // Gone: connections are refused, still a 503; back (empty, as emulators are): served again.
    emulator.kill().await;
    let (status, _) = user
        .call(Method::GET, &format!("{BASE}/{id}"), None)
        .await
        .unwrap();
    assert_eq!(status, 503);
    let emulator = Emulator::start(port).await;
    let deadline = Instant::now() + Duration::from_secs(90);
    let fresh = loop {
        let body = json!({ "sessionId": "after", "model": "m" });
        match user.call(Method::POST, BASE, Some(body)).await {
            Ok((200, reply)) => break reply["data"]["sessionDocId"].as_str().unwrap().to_owned(),
            _ => {
                assert!(Instant::now() < deadline, "the server did not recover");
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        }
    };
    assert_eq!(user.append(&fresh, "https://img/after").await, Some(1));
    server.kill9().await;
    emulator.kill().await;
}

#[tokio::test]
async fn readyz_names_the_store_while_the_database_is_paused_and_recovers() {
    let (emulator, server, _, _dir) = server_on_own_emulator(&[]).await;
    let readyz = || async {
        let response = reqwest::get(format!("{}/readyz", server.address))
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json::<serde_json::Value>().await.unwrap())
    };
    assert_eq!(readyz().await.0, 200);

    emulator.signal("-STOP");
    let started = Instant::now();
    let (status, body) = readyz().await;
    assert_eq!(status, 503, "{body}");
    assert!(body["checks"]["store"].is_string(), "{body}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "the readiness read gives up after a second, not the store's deadline"
    );

    emulator.signal("-CONT");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, body) = readyz().await;
        if status == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "still unready: {body}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    server.kill9().await;
    emulator.kill().await;
}
