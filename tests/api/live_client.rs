//! A WebSocket client for the tests: it sends commands, sorts what arrives into replies and
//! pushes, and checks every frame the server sends against `protocol/live.schema.json`.

use std::collections::VecDeque;
use std::sync::OnceLock;
use std::time::Duration;

use futures::{SinkExt as _, StreamExt as _};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::helpers::{BASE, TestApp};

pub struct LiveClient {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    next_id: i64,
    /// Frames read while looking for something else, in arrival order.
    buffered: VecDeque<Value>,
    /// Every frame received, in order.
    pub log: Vec<Value>,
}

/// How long a test waits for any one frame.
const WAIT: Duration = Duration::from_secs(10);

pub fn live_url(address: &str, id: &str, since: Option<u64>) -> String {
    let mut url = format!("{}{BASE}/{id}/live", address.replacen("http", "ws", 1));
    if let Some(since) = since {
        url.push_str(&format!("?sinceSeq={since}"));
    }
    url
}

/// The address of the user's list socket, with `query` (`status=…&limit=…`, or empty).
pub fn list_url(address: &str, query: &str) -> String {
    let mut url = format!("{}{BASE}/live", address.replacen("http", "ws", 1));
    if !query.is_empty() {
        url.push('?');
        url.push_str(query);
    }
    url
}

/// The frames a socket resuming from `since` receives, up to and including `resumed`
/// (presence left out).
pub async fn replay(address: &str, id: &str, token: &str, since: u64) -> Vec<Value> {
    let mut tab = LiveClient::connect(&live_url(address, id, Some(since)), Some(token)).await;
    let mut frames = Vec::new();
    loop {
        let frame = tab.event().await;
        let done = frame["type"] == "resumed";
        frames.push(frame);
        if done {
            return frames;
        }
    }
}

impl TestApp {
    /// A socket of `uid`'s list, authenticated by header.
    #[allow(dead_code)] // not every test binary follows lists
    pub async fn list_tab(&self, uid: &str, query: &str) -> LiveClient {
        LiveClient::connect(&list_url(&self.address, query), Some(&self.token(uid))).await
    }

    /// A tab of `uid` on session `id`, authenticated by header, having read its first frame
    /// (the snapshot, or the replay) into its buffer.
    pub async fn tab(&self, uid: &str, id: &str) -> LiveClient {
        LiveClient::connect(&live_url(&self.address, id, None), Some(&self.token(uid))).await
    }
}

impl LiveClient {
    /// Opens a socket, with an `Authorization` header when a token is given.
    pub async fn connect(url: &str, token: Option<&str>) -> Self {
        let mut request = url.into_client_request().unwrap();
        if let Some(token) = token {
            request
                .headers_mut()
                .insert("authorization", format!("Bearer {token}").parse().unwrap());
        }
        let (ws, _) = tokio_tungstenite::connect_async(request)
            .await
            .expect("the upgrade succeeds");
        Self::over(ws)
    }

    /// Opens a socket with these upgrade headers; `Err` is the status of a refused upgrade
    /// (with its body, checked against the error envelope).
    pub async fn connect_with(url: &str, headers: &[(&str, &str)]) -> Result<Self, (u16, Value)> {
        let mut request = url.into_client_request().unwrap();
        for (name, value) in headers {
            request.headers_mut().insert(
                tokio_tungstenite::tungstenite::http::HeaderName::from_bytes(name.as_bytes())
                    .unwrap(),
                value.parse().unwrap(),
            );
        }
        match tokio_tungstenite::connect_async(request).await {
            Ok((ws, _)) => Ok(Self::over(ws)),
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                let status = response.status().as_u16();
                let body = response
                    .body()
                    .as_deref()
                    .and_then(|b| serde_json::from_slice(b).ok())
                    .unwrap_or(Value::Null);
                crate::helpers::openapi().check(
                    &reqwest::Method::GET,
                    &format!("{BASE}/x/live"),
                    status,
                    &body,
                );
                Err((status, body))
            }
            Err(err) => panic!("the upgrade failed: {err}"),
        }
    }

    /// A tab whose connection has a tiny receive buffer and that reads nothing until told:
    /// the server's writes to it back up quickly.
    pub async fn stalled(address: &str, id: &str, token: &str) -> Self {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.set_recv_buffer_size(4096).unwrap();
        let addr = address.trim_start_matches("http://").parse().unwrap();
        let stream = socket.connect(addr).await.unwrap();
        let mut request = live_url(address, id, None).into_client_request().unwrap();
        request
            .headers_mut()
            .insert("authorization", format!("Bearer {token}").parse().unwrap());
        let (ws, _) = tokio_tungstenite::client_async(request, MaybeTlsStream::Plain(stream))
            .await
            .unwrap();
        Self::over(ws)
    }

    pub fn over(ws: WebSocketStream<MaybeTlsStream<TcpStream>>) -> Self {
        Self {
            ws,
            next_id: 1,
            buffered: VecDeque::new(),
            log: Vec::new(),
        }
    }

    pub async fn send_text(&mut self, text: impl Into<String>) {
        self.ws
            .send(Message::text(text.into()))
            .await
            .expect("the socket is open");
    }

    /// Sends a command of `kind` with `fields` beside its id and type; returns the id.
    pub async fn send(&mut self, kind: &str, fields: Value) -> i64 {
        let id = self.next_id;
        self.next_id += 1;
        let mut frame = json!({ "id": id, "type": kind });
        if let Value::Object(fields) = fields {
            frame.as_object_mut().unwrap().extend(fields);
        }
        self.send_text(frame.to_string()).await;
        id
    }

    /// Sends a command and waits for its reply (pushes meanwhile stay buffered).
    pub async fn request(&mut self, kind: &str, fields: Value) -> Value {
        let id = self.send(kind, fields).await;
        self.reply(id).await
    }

    /// The next frame from the socket, validated against the schema.
    async fn read(&mut self) -> Value {
        loop {
            let message = tokio::time::timeout(WAIT, self.ws.next())
                .await
                .expect("a frame arrives in time")
                .expect("the socket is still open")
                .expect("the frame is readable");
            match message {
                Message::Text(text) => {
                    let frame: Value = serde_json::from_str(&text).expect("frames are JSON");
                    check_frame(&frame);
                    self.log.push(frame.clone());
                    return frame;
                }
                Message::Ping(_) | Message::Pong(_) => continue,
                Message::Close(close) => panic!("the socket closed unexpectedly: {close:?}"),
                other => panic!("unexpected frame {other:?}"),
            }
        }
    }

    /// The next frame of any kind (buffered first).
    pub async fn next(&mut self) -> Value {
        match self.buffered.pop_front() {
            Some(frame) => frame,
            None => self.read().await,
        }
    }

    /// The reply to command `id`.
    pub async fn reply(&mut self, id: i64) -> Value {
        if let Some(at) = self
            .buffered
            .iter()
            .position(|f| f["type"] == "reply" && f["id"] == id)
        {
            return self.buffered.remove(at).unwrap();
        }
        loop {
            let frame = self.read().await;
            if frame["type"] == "reply" && frame["id"] == id {
                return frame;
            }
            self.buffered.push_back(frame);
        }
    }

    /// The next push of a kind other than `presence` and `reply`.
    pub async fn event(&mut self) -> Value {
        if let Some(at) = self.buffered.iter().position(is_sequenced_push) {
            return self.buffered.remove(at).unwrap();
        }
        loop {
            let frame = self.read().await;
            if is_sequenced_push(&frame) {
                return frame;
            }
            self.buffered.push_back(frame);
        }
    }

    /// The next sequenced push, or `None` if the connection ends first (its server died).
    #[allow(dead_code)] // for the tests that kill servers under their sockets (tests/cluster)
    pub async fn try_event(&mut self) -> Option<Value> {
        if let Some(at) = self.buffered.iter().position(is_sequenced_push) {
            return self.buffered.remove(at);
        }
        loop {
            let message = self.ws.next().await?;
            match message {
                Ok(Message::Text(text)) => {
                    let frame: Value = serde_json::from_str(&text).ok()?;
                    check_frame(&frame);
                    self.log.push(frame.clone());
                    if is_sequenced_push(&frame) {
                        return Some(frame);
                    }
                    self.buffered.push_back(frame);
                }
                Ok(Message::Ping(_) | Message::Pong(_)) => continue,
                _ => return None,
            }
        }
    }

    /// The next `presence` count.
    pub async fn presence(&mut self) -> u64 {
        if let Some(at) = self.buffered.iter().position(|f| f["type"] == "presence") {
            return self.buffered.remove(at).unwrap()["connections"]
                .as_u64()
                .unwrap();
        }
        loop {
            let frame = self.read().await;
            if frame["type"] == "presence" {
                return frame["connections"].as_u64().unwrap();
            }
            self.buffered.push_back(frame);
        }
    }

    /// Reads `presence` frames until one counts `connections` (coalesced presence may skip the
    /// counts in between).
    pub async fn presence_reaches(&mut self, connections: u64) {
        while self.presence().await != connections {}
    }

    /// Reads until the server closes the socket; returns the close code. Frames before the
    /// close are kept in `log`.
    pub async fn closed(&mut self) -> u16 {
        loop {
            let message = tokio::time::timeout(WAIT, self.ws.next())
                .await
                .expect("the socket closes in time");
            match message {
                Some(Ok(Message::Close(Some(frame)))) => return frame.code.into(),
                Some(Ok(Message::Close(None))) => return 1005,
                Some(Ok(Message::Text(text))) => {
                    let frame: Value = serde_json::from_str(&text).unwrap();
                    check_frame(&frame);
                    self.log.push(frame);
                }
                Some(Ok(_)) => {}
                Some(Err(err)) => panic!("the socket failed instead of closing: {err}"),
                None => panic!("the connection ended without a close frame"),
            }
        }
    }

    pub async fn close(mut self) {
        let _ = self.ws.close(None).await;
        // Read until the server's answering close, so it has seen ours.
        while let Ok(Some(Ok(_))) = tokio::time::timeout(WAIT, self.ws.next()).await {}
    }
}

fn is_sequenced_push(frame: &Value) -> bool {
    !matches!(frame["type"].as_str(), Some("reply" | "presence"))
}

/// Panics unless `frame` is a server frame `protocol/live.schema.json` describes.
#[track_caller]
pub fn check_frame(frame: &Value) {
    let errors: Vec<String> = schema(ServerOrClient::Server)
        .iter_errors(frame)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "frame does not match live.schema.json:\n{}\n{frame:#}",
        errors.join("\n")
    );
}

#[derive(Clone, Copy)]
pub enum ServerOrClient {
    Server,
    Client,
}

pub fn schema(which: ServerOrClient) -> &'static jsonschema::Validator {
    static SERVER: OnceLock<jsonschema::Validator> = OnceLock::new();
    static CLIENT: OnceLock<jsonschema::Validator> = OnceLock::new();
    let (cell, entry) = match which {
        ServerOrClient::Server => (&SERVER, "ServerFrame"),
        ServerOrClient::Client => (&CLIENT, "ClientFrame"),
    };
    cell.get_or_init(|| {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/protocol/live.schema.json");
        let mut root: Value =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        root["$ref"] = json!(format!("#/$defs/{entry}"));
        jsonschema::draft202012::new(&root).expect("live.schema.json compiles")
    })
}
