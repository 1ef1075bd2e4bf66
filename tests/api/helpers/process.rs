//! The server binary, run as users run it, and a user of it over plain HTTP.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use super::{BASE, project_for};

/// The server binary, as users run it.
pub const BIN: &str = env!("CARGO_BIN_EXE_livechat-sessions");

pub struct ServerProcess {
    pub child: Child,
    pub address: String,
}

impl ServerProcess {
    /// Starts the binary with `args` and `env`; its Firestore project (should the store be
    /// Firestore) follows from its data dir.
    pub async fn start(args: &[&str], env: &[(&str, &str)]) -> Self {
        let data_dir = args
            .iter()
            .position(|a| *a == "--data-dir")
            .and_then(|at| args.get(at + 1).copied())
            .or_else(|| {
                env.iter()
                    .find(|(k, _)| *k == "LIVECHAT_DATA_DIR")
                    .map(|(_, v)| *v)
            })
            .expect("tests give every server a data dir");
        let mut command = Command::new(BIN);
        command.env(
            "LIVECHAT_FIRESTORE_PROJECT",
            project_for(Path::new(data_dir)),
        );
        // No per-user quotas (as in spawn_app), unless the test sets them: `env` comes later.
        command
            .env("LIVECHAT_REST_RATE", "0")
            .env("LIVECHAT_WS_MAX_SOCKETS_PER_USER", "0");
        // Its log, appended to across restarts, for tests that check what it said.
        std::fs::create_dir_all(data_dir).unwrap();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(Path::new(data_dir).join("server.log"))
            .unwrap();
        command
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .kill_on_drop(true);
        for (key, value) in env {
            command.env(key, value);
        }
        let mut child = command.spawn().expect("the binary starts");
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
            .await
            .expect("it prints its address in time")
            .unwrap()
            .expect("a line on stdout");
        let address = line
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_owned();
        assert!(
            address.starts_with("http://127.0.0.1:") && !address.ends_with(":0"),
            "{address}"
        );
        // Nothing else may appear on stdout.
        tokio::spawn(async move {
            if let Ok(Some(extra)) = lines.next_line().await {
                panic!("unexpected stdout line {extra:?}");
            }
        });
        Self { child, address }
    }

    /// The binary on `data_dir`, on a free port, with more `args` and `env`.
    pub async fn on_with(data_dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Self {
        let mut all = vec![
            "--addr",
            "127.0.0.1:0",
            "--data-dir",
            data_dir.to_str().unwrap(),
        ];
        all.extend_from_slice(args);
        Self::start(&all, env).await
    }

    pub async fn on(data_dir: &Path) -> Self {
        Self::on_with(data_dir, &[], &[]).await
    }

    /// The binary on `data_dir` with the embedded store, whatever the suite's store.
    pub async fn on_sqlite(data_dir: &Path) -> Self {
        Self::on_with(data_dir, &[], &[("LIVECHAT_STORE", "sqlite")]).await
    }

    pub async fn kill9(mut self) {
        self.child.start_kill().unwrap();
        self.child.wait().await.unwrap();
    }

    /// Sends SIGTERM and waits for the process to exit; returns whether it exited cleanly.
    pub async fn terminate(mut self) -> bool {
        let pid = self.child.id().expect("still running").to_string();
        let status = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .await
            .unwrap();
        assert!(status.success());
        let exit = tokio::time::timeout(Duration::from_secs(30), self.child.wait())
            .await
            .expect("the server exits after SIGTERM")
            .unwrap();
        exit.success()
    }
}

pub async fn token_from_cli(data_dir: &Path, uid: &str) -> String {
    let output = Command::new(BIN)
        .args([
            "token",
            "--uid",
            uid,
            "--data-dir",
            data_dir.to_str().unwrap(),
        ])
        .output()
        .await
        .unwrap();
    assert!(output.status.success());
    let stdout = String::from_utf8(output.stdout).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines.len(),
        1,
        "token prints one line and nothing else: {stdout:?}"
    );
    assert_eq!(lines[0].split('.').count(), 3, "a JWT: {stdout:?}");
    lines[0].to_owned()
}

/// A user of a server process, over plain HTTP (responses are not schema-checked here: the
/// process may be killed mid-request).
#[derive(Clone)]
pub struct ProcessUser {
    pub client: reqwest::Client,
    pub address: String,
    pub token: String,
}

impl ProcessUser {
    pub fn new(server: &ServerProcess, token: &str) -> Self {
        Self {
            client: reqwest::Client::new(),
            address: server.address.clone(),
            token: token.to_owned(),
        }
    }

    /// The same user against another server process.
    pub fn on(&self, server: &ServerProcess) -> Self {
        Self {
            address: server.address.clone(),
            ..self.clone()
        }
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> reqwest::Result<(u16, Value)> {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.address))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.body(body.to_string());
        }
        let response = request.send().await?;
        let status = response.status().as_u16();
        Ok((status, response.json().await?))
    }

    pub async fn create(&self, session_id: &str) -> String {
        let (status, reply) = self
            .call(
                Method::POST,
                BASE,
                Some(json!({ "sessionId": session_id, "model": "m" })),
            )
            .await
            .unwrap();
        assert_eq!(status, 200, "{reply}");
        reply["data"]["sessionDocId"].as_str().unwrap().to_owned()
    }

    /// Appends one image; the order it got, or `None` if the append was not acknowledged.
    pub async fn append(&self, id: &str, url: &str) -> Option<u64> {
        let body = json!({ "prompt": "p", "images": [{ "url": url }] });
        match self
            .call(Method::POST, &format!("{BASE}/{id}/messages"), Some(body))
            .await
        {
            Ok((200, reply)) => reply["data"]["orders"][0].as_u64(),
            _ => None,
        }
    }

    pub async fn session(&self, id: &str) -> Value {
        let (status, reply) = self
            .call(Method::GET, &format!("{BASE}/{id}"), None)
            .await
            .unwrap();
        assert_eq!(status, 200, "{reply}");
        reply["data"]["session"].clone()
    }
}
