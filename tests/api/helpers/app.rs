//! The server in this process on port 0, and requests to it whose answers are checked
//! against `protocol/openapi.yaml`.

use livechat_sessions::app::Server;
use livechat_sessions::auth::TokenIssuer;
use livechat_sessions::config::ServeConfig;
use reqwest::Method;
use serde_json::{Value, json};
use tokio::net::TcpListener;

use super::openapi::openapi;
use super::project_for;

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub secret: String,
    pub server: livechat_sessions::api::state::AppState,
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
    let secret = livechat_sessions::domain::new_id();
    let mut config = ServeConfig::from_env(data_dir.path().to_path_buf());
    config.secret.jwt_secret = Some(secret.clone());
    config.firestore.firestore_project = Some(project_for(data_dir.path()));
    // Only the tests of the Firebase Auth emulator accept its unsigned tokens.
    config.auth.firebase_auth_emulator_host = None;
    // The per-user quotas would throttle the tests that write as fast as they can with one
    // user; the tests of the quotas set them.
    config.live.rest_rate = 0;
    config.live.ws_max_sockets_per_user = 0;
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
    /// The server's data dir.
    pub fn data_dir(&self) -> &std::path::Path {
        self._data_dir.path()
    }

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
