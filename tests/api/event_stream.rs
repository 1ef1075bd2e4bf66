//! A reader of Server-Sent Events for the tests: it splits a `text/event-stream` into events and
//! checks every frame they carry against `protocol/live.schema.json`.

use std::collections::VecDeque;
use std::time::Duration;

use futures::StreamExt as _;
use serde_json::Value;

use crate::helpers::TestApp;
use crate::live_client::check_frame;

/// One event of a stream; `kind` is `comment` for a heartbeat.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub kind: String,
    pub id: Option<String>,
    pub data: Value,
}

/// A stream of events being read.
pub struct Events {
    body: futures::stream::BoxStream<'static, reqwest::Result<axum::body::Bytes>>,
    text: String,
    ready: VecDeque<Event>,
    pub headers: reqwest::header::HeaderMap,
}

impl Events {
    /// Opens the stream at `url` with this bearer token and these headers.
    pub async fn connect(url: &str, token: &str, headers: &[(&str, &str)]) -> Self {
        let mut request = reqwest::Client::new().get(url).bearer_auth(token);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 200, "{url}");
        Self::over(response)
    }

    /// Reads the stream of an answer.
    pub fn over(response: reqwest::Response) -> Self {
        let headers = response.headers().clone();
        Self {
            body: response.bytes_stream().boxed(),
            text: String::new(),
            ready: VecDeque::new(),
            headers,
        }
    }

    /// `uid`'s stream at `path` of the test's server.
    #[allow(dead_code)] // not every test binary has an in-process server
    pub async fn open(app: &TestApp, path: &str, uid: &str, headers: &[(&str, &str)]) -> Self {
        Self::connect(&format!("{}{path}", app.address), &app.token(uid), headers).await
    }

    /// The next event (heartbeats included), or `None` when the stream ends.
    pub async fn next_any(&mut self) -> Option<Event> {
        loop {
            if let Some(event) = self.ready.pop_front() {
                return Some(event);
            }
            let chunk = tokio::time::timeout(Duration::from_secs(10), self.body.next())
                .await
                .expect("an event in time")?
                .ok()?;
            self.text.push_str(std::str::from_utf8(&chunk).unwrap());
            while let Some(end) = self.text.find("\n\n") {
                let block: String = self.text.drain(..end + 2).collect();
                self.ready.push_back(parse(&block));
            }
        }
    }

    /// The next event that is not a heartbeat or presence.
    pub async fn next(&mut self) -> Event {
        loop {
            let event = self.next_any().await.expect("the stream goes on");
            if event.kind != "comment" && event.kind != "presence" {
                return event;
            }
        }
    }
}

fn parse(block: &str) -> Event {
    let mut event = Event {
        kind: "message".into(),
        id: None,
        data: Value::Null,
    };
    for line in block.lines() {
        if line.starts_with(':') {
            event.kind = "comment".into();
        } else if let Some(kind) = line.strip_prefix("event: ") {
            event.kind = kind.to_owned();
        } else if let Some(id) = line.strip_prefix("id: ") {
            event.id = Some(id.to_owned());
        } else if let Some(data) = line.strip_prefix("data: ") {
            event.data = serde_json::from_str(data).unwrap();
            if event.kind != "close" {
                check_frame(&event.data);
            }
        }
    }
    event
}
