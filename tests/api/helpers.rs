//! Starting the server for a test, talking to it, and checking what it answers.

use std::collections::HashMap;
use std::path::Path;
use std::process::Stdio;
use std::sync::OnceLock;
use std::time::Duration;

use livechat_sessions::app::Server;
use livechat_sessions::auth::TokenIssuer;
use livechat_sessions::config::ServeConfig;
use reqwest::Method;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::TcpListener;
use tokio::process::{Child, Command};

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub secret: String,
    pub server: livechat_sessions::state::AppState,
    _data_dir: tempfile::TempDir,
}

/// An answer from the server: status and parsed JSON body.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub body: Value,
}

impl Reply {
    /// `data` of a success envelope; panics (with the body) on anything else.
    #[track_caller]
    pub fn ok(&self) -> &Value {
        assert_eq!(self.status, 200, "expected success, got {self:#?}");
        assert_eq!(self.body["status"], "success", "{self:#?}");
        &self.body["data"]
    }

    /// Asserts an error envelope with this status and machine code.
    #[track_caller]
    pub fn assert_error(&self, status: u16, code: &str) {
        assert_eq!(self.status, status, "{self:#?}");
        assert_eq!(self.body["status"], "error", "{self:#?}");
        assert_eq!(self.body["data"]["code"], code, "{self:#?}");
        assert!(
            self.body["message"].as_str().is_some_and(|m| !m.is_empty()),
            "an error says what is wrong: {self:#?}"
        );
    }

    #[track_caller]
    pub fn assert_invalid(&self, field: &str) {
        self.assert_error(400, "invalid_argument");
        assert_eq!(self.body["data"]["field"], field, "{self:#?}");
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Starts the server in this process on port 0, with a fresh data dir and known secret.
pub async fn spawn_app_with(configure: impl FnOnce(&mut ServeConfig)) -> TestApp {
    // Server logs, shown for failing tests (`RUST_LOG` filters; nothing by default).
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    let data_dir = tempfile::tempdir().expect("temp dir");
    let secret = livechat_sessions::session::new_id();
    let mut config = ServeConfig::from_env(data_dir.path().to_path_buf());
    config.secret.jwt_secret = Some(secret.clone());
    config.firestore.firestore_project = Some(project_for(data_dir.path()));
    // Only the tests of the Firebase Auth emulator accept its unsigned tokens.
    config.auth.firebase_auth_emulator_host = None;
    configure(&mut config);
    let server = Server::build(&config).await.expect("server builds");
    let state = server.state().clone();
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(server.run(listener, std::future::pending()));
    TestApp {
        address,
        client: reqwest::Client::new(),
        secret,
        server: state,
        _data_dir: data_dir,
    }
}

pub const BASE: &str = "/api/live-chat-sessions";

impl TestApp {
    pub fn token(&self, uid: &str) -> String {
        TokenIssuer::hs256(self.secret.as_bytes())
            .issue(uid, 3600)
            .unwrap()
    }

    /// A request with `uid`'s token (or none), the body sent as `text/plain` like the web
    /// client does. The reply is checked against the OpenAPI description.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        uid: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        let mut request = self
            .client
            .request(method.clone(), format!("{}{path}", self.address));
        if let Some(uid) = uid {
            request = request.bearer_auth(self.token(uid));
        }
        if let Some(body) = body {
            request = request
                .header("content-type", "text/plain;charset=UTF-8")
                .body(body.to_string());
        }
        self.send(method, path, request).await
    }

    /// A request with this bearer token (any kind, not only the server's own).
    pub async fn call_with_token(
        &self,
        method: Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> Reply {
        let mut request = self
            .client
            .request(method.clone(), format!("{}{path}", self.address))
            .bearer_auth(token);
        if let Some(body) = body {
            request = request.body(body.to_string());
        }
        self.send(method, path, request).await
    }

    /// Sends a prepared request and checks the reply against the OpenAPI description.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        request: reqwest::RequestBuilder,
    ) -> Reply {
        let response = request.send().await.expect("request reaches the server");
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        let body: Value = serde_json::from_str(&text).unwrap_or_else(|e| {
            panic!("{method} {path} answered {status} with non-JSON {text:?}: {e}")
        });
        assert_ne!(status, 500, "{method} {path} answered 500: {body}");
        openapi().check(&method, path, status, &body);
        Reply { status, body }
    }

    pub async fn get(&self, path: &str, uid: &str) -> Reply {
        self.call(Method::GET, path, Some(uid), None).await
    }

    pub async fn post(&self, path: &str, uid: &str, body: Value) -> Reply {
        self.call(Method::POST, path, Some(uid), Some(body)).await
    }

    pub async fn patch(&self, path: &str, uid: &str, body: Value) -> Reply {
        self.call(Method::PATCH, path, Some(uid), Some(body)).await
    }

    /// Creates a session for `uid` and returns its `sessionDocId`.
    pub async fn create_session(&self, uid: &str, session_id: &str) -> String {
        let reply = self
            .post(
                BASE,
                uid,
                json!({ "sessionId": session_id, "model": "flux-kontext-pro" }),
            )
            .await;
        reply.ok()["sessionDocId"].as_str().unwrap().to_owned()
    }

    /// Creates a session for `uid` holding one message with one image at `url`.
    pub async fn session_with_image(&self, uid: &str, session_id: &str, url: &str) -> String {
        let id = self.create_session(uid, session_id).await;
        let body = json!({ "prompt": "p", "images": [image(url)] });
        self.append(uid, &id, body).await.ok();
        id
    }

    pub async fn append(&self, uid: &str, id: &str, body: Value) -> Reply {
        self.post(&format!("{BASE}/{id}/messages"), uid, body).await
    }

    /// The session object, as `GET /:id` returns it.
    pub async fn session(&self, uid: &str, id: &str) -> Value {
        self.get(&format!("{BASE}/{id}"), uid).await.ok()["session"].clone()
    }
}

/// One image for an append body.
pub fn image(url: &str) -> Value {
    json!({ "url": url })
}

/// Percent-encodes a query value.
pub fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// `protocol/openapi.yaml`, and the check that a response is one it describes.
pub struct OpenApi {
    doc: Value,
    validators: std::sync::Mutex<HashMap<String, std::sync::Arc<jsonschema::Validator>>>,
}

pub fn openapi() -> &'static OpenApi {
    static DOC: OnceLock<OpenApi> = OnceLock::new();
    DOC.get_or_init(|| {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/protocol/openapi.yaml");
        let text = std::fs::read_to_string(path).expect("protocol/openapi.yaml exists");
        let doc: Value = serde_norway::from_str(&text).expect("openapi.yaml is valid YAML");
        OpenApi {
            doc,
            validators: Default::default(),
        }
    })
}

impl OpenApi {
    /// The path template (`/api/live-chat-sessions/{id}`) that a concrete path matches;
    /// literal segments win over parameters.
    fn template(&self, path: &str) -> Option<String> {
        let path = path.split('?').next().unwrap_or(path);
        let segments: Vec<&str> = path.split('/').collect();
        let paths = self.doc["paths"].as_object()?;
        paths
            .keys()
            .filter(|template| {
                let parts: Vec<&str> = template.split('/').collect();
                parts.len() == segments.len()
                    && parts
                        .iter()
                        .zip(&segments)
                        .all(|(t, s)| (t.starts_with('{') && !s.is_empty()) || t == s)
            })
            .min_by_key(|template| template.matches('{').count())
            .cloned()
    }

    fn resolve<'a>(&'a self, value: &'a Value) -> &'a Value {
        match value.get("$ref").and_then(Value::as_str) {
            Some(reference) => {
                let pointer = reference.trim_start_matches('#');
                self.resolve(
                    self.doc
                        .pointer(pointer)
                        .unwrap_or_else(|| panic!("dangling $ref {reference}")),
                )
            }
            None => value,
        }
    }

    fn validator(&self, key: &str, schema: &Value) -> std::sync::Arc<jsonschema::Validator> {
        let mut cache = self.validators.lock().unwrap();
        cache
            .entry(key.to_owned())
            .or_insert_with(|| {
                let mut root = schema.clone();
                if let Some(obj) = root.as_object_mut() {
                    obj.insert("components".into(), self.doc["components"].clone());
                }
                std::sync::Arc::new(
                    jsonschema::draft202012::new(&root)
                        .unwrap_or_else(|e| panic!("schema for {key} does not compile: {e}")),
                )
            })
            .clone()
    }

    /// Panics unless `body` is what the description says `method path` answers with `status`.
    #[track_caller]
    pub fn check(&self, method: &Method, path: &str, status: u16, body: &Value) {
        let (key, schema) = match self.template(path) {
            Some(template) => {
                let operation = &self.doc["paths"][&template][method.as_str().to_lowercase()];
                if operation.is_null() {
                    assert_eq!(
                        status, 405,
                        "{method} {template} is not described, yet answered {status}"
                    );
                    (
                        String::from("error"),
                        json!({"$ref": "#/components/schemas/Error"}),
                    )
                } else {
                    let response = operation["responses"]
                        .get(status.to_string())
                        .map(|r| self.resolve(r))
                        .unwrap_or_else(|| {
                            panic!("{method} {template} answered {status}, which the description does not list: {body}")
                        });
                    let schema = self
                        .resolve(&response["content"]["application/json"]["schema"])
                        .clone();
                    (format!("{method} {template} {status}"), schema)
                }
            }
            None => {
                assert!(
                    status >= 400,
                    "{method} {path} is not described, yet answered {status}"
                );
                (
                    String::from("error"),
                    json!({"$ref": "#/components/schemas/Error"}),
                )
            }
        };
        let validator = self.validator(&key, &schema);
        let errors: Vec<String> = validator
            .iter_errors(body)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        assert!(
            errors.is_empty(),
            "{key}: the response does not match openapi.yaml:\n{}\n{body:#}",
            errors.join("\n")
        );
    }
}

/// A name no other call returns, for ids that must not collide.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", livechat_sessions::session::new_id())
}

/// The Firestore project of the server on `data_dir`: one per test, so tests sharing an
/// emulator never see each other's data. (Used when `LIVECHAT_STORE=firestore`.)
pub fn project_for(data_dir: &Path) -> String {
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(data_dir.to_string_lossy().as_bytes());
    let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    format!("test-{hex}")
}

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

    pub async fn on(data_dir: &Path) -> Self {
        Self::start(
            &[
                "serve",
                "--addr",
                "127.0.0.1:0",
                "--data-dir",
                data_dir.to_str().unwrap(),
            ],
            &[],
        )
        .await
    }

    /// The binary on `data_dir` with the embedded store, whatever the suite's store.
    pub async fn on_sqlite(data_dir: &Path) -> Self {
        Self::start(
            &[
                "serve",
                "--addr",
                "127.0.0.1:0",
                "--data-dir",
                data_dir.to_str().unwrap(),
            ],
            &[("LIVECHAT_STORE", "sqlite")],
        )
        .await
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

/// Asserts that every acknowledged image (url → order) is in `session` with its order, and
/// that the session's orders and `seq` have no gap. Returns the number of images.
#[track_caller]
pub fn assert_kept(session: &Value, acknowledged: &std::collections::BTreeMap<String, u64>) -> u64 {
    let stored: std::collections::BTreeMap<String, u64> = session["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["url"].as_str().unwrap().to_owned(),
                i["order"].as_u64().unwrap(),
            )
        })
        .collect();
    for (url, order) in acknowledged {
        assert_eq!(
            stored.get(url),
            Some(order),
            "acknowledged {url} (order {order}) was lost"
        );
    }
    let total = stored.len() as u64;
    let mut orders: Vec<u64> = stored.values().copied().collect();
    orders.sort();
    assert_eq!(
        orders,
        (1..=total).collect::<Vec<_>>(),
        "orders stay gap-free"
    );
    assert_eq!(session["seq"].as_u64(), Some(total), "one change per image");
    total
}
