//! The socket's reader and writer driven through in-memory channels: no network, a real
//! session domain on a real SQLite file.

use std::sync::Arc;
use std::time::Duration;

use futures::channel::mpsc;
use futures::{SinkExt as _, StreamExt as _};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use super::frame::{Frame, ReadError};
use super::{LiveSettings, Socket, SocketContext, Start};
use crate::auth::keys::KeySettings;
use crate::auth::{AuthSettings, Authenticator, TokenIssuer};
use crate::fanout::LocalFanout;
use crate::session::validation::{Limits, NewMessage};
use crate::session::{ActorSettings, Sessions};
use crate::store::sqlite::{SqliteOptions, SqliteStore, Synchronous};

const SECRET: &[u8] = b"socket-tests";

fn settings() -> LiveSettings {
    LiveSettings {
        ping_interval: Duration::from_secs(25),
        idle_timeout: Duration::from_secs(60),
        auth_timeout: Duration::from_millis(200),
        queue: 64,
        max_frame_bytes: 64 * 1024,
        rate_per_sec: 50,
        burst: 100,
        shutdown_grace: Duration::from_secs(5),
    }
}

/// A session domain on a fresh SQLite file, and a session of user `u` in it.
struct World {
    ctx: SocketContext,
    id: String,
    _dir: tempfile::TempDir,
}

impl World {
    async fn new(live: LiveSettings, room_capacity: usize) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let options = SqliteOptions {
            synchronous: Synchronous::Normal,
            readers: 2,
        };
        let store = SqliteStore::open(&dir.path().join("s.sqlite3"), &options).unwrap();
        let actors = ActorSettings {
            limits: Limits::default(),
            idle_timeout: Duration::from_secs(60),
            mailbox: 1024,
            send_timeout: Duration::from_secs(5),
            room_capacity,
            resync_interval: Duration::from_secs(5),
            presence_interval: Duration::from_millis(50),
            list_interval: Duration::from_millis(50),
        };
        let sessions = Sessions::new(Arc::new(store), actors, Arc::new(LocalFanout));
        let new = crate::protocol::input::new_session(
            json!({ "sessionId": "s", "model": "m" })
                .as_object()
                .unwrap(),
            &Limits::default(),
        )
        .unwrap();
        let id = sessions.create("u", new).await.unwrap();
        let auth = Authenticator::new(&AuthSettings {
            secret: SECRET.to_vec(),
            firebase: None,
            jwks: None,
            session_cookie: "__session".into(),
            keys: KeySettings::default(),
        })
        .unwrap();
        let ctx = SocketContext {
            sessions,
            auth: Arc::new(auth),
            settings: Arc::new(live),
            quotas: Arc::default(),
            shutdown: CancellationToken::new(),
        };
        Self { ctx, id, _dir: dir }
    }

    /// Appends a message of one image over the domain, as REST would.
    async fn append(&self, n: u64) {
        let message = message(n);
        self.ctx
            .sessions
            .append_message("u", &self.id, message)
            .await
            .unwrap();
    }

    /// A socket on the session, started with `start`, its peer's ends returned.
    fn socket(&self, start: Start, outbound: usize) -> Peer {
        let (to_server, inbound) = mpsc::unbounded::<Result<Frame, ReadError>>();
        let (sink, from_server) = mpsc::channel::<Frame>(outbound);
        let socket = Socket::new(self.ctx.clone(), self.id.clone(), start);
        let ended = tokio::spawn(socket.run(inbound, sink.sink_map_err(|_| ())));
        Peer {
            to_server,
            from_server,
            ended,
            next_id: 1,
        }
    }

    /// A socket authenticated by a valid header.
    fn tab(&self) -> Peer {
        self.socket(header("u", 3600), 64)
    }
}

fn message(n: u64) -> NewMessage {
    let body =
        json!({ "prompt": format!("p{n}"), "images": [{ "url": format!("https://img/{n}") }] });
    crate::protocol::input::new_message(body.as_object().unwrap(), &Limits::default()).unwrap()
}

fn token(uid: &str, ttl: u64) -> String {
    TokenIssuer::hs256(SECRET).issue(uid, ttl).unwrap()
}

/// A socket whose upgrade carried a valid credential for `uid`, good for `ttl` seconds.
fn header(uid: &str, ttl: u64) -> Start {
    Start {
        credential: Some(Ok(crate::auth::Identity {
            uid: uid.to_owned(),
            expires_at: jsonwebtoken::get_current_timestamp() + ttl,
        })),
        since: None,
    }
}

/// The client's side of a socket under test.
struct Peer {
    to_server: mpsc::UnboundedSender<Result<Frame, ReadError>>,
    from_server: mpsc::Receiver<Frame>,
    ended: tokio::task::JoinHandle<Option<u16>>,
    next_id: i64,
}

const WAIT: Duration = Duration::from_secs(10);

impl Peer {
    fn send_text(&self, text: String) {
        self.to_server
            .unbounded_send(Ok(Frame::text(text)))
            .unwrap();
    }

    fn command(&mut self, kind: &str, fields: Value) -> i64 {
        let id = self.next_id;
        self.next_id += 1;
        let mut frame = json!({ "id": id, "type": kind });
        frame
            .as_object_mut()
            .unwrap()
            .extend(fields.as_object().unwrap().clone());
        self.send_text(frame.to_string());
        id
    }

    /// The next text frame, parsed (pings and presence skipped).
    async fn next(&mut self) -> Value {
        loop {
            match tokio::time::timeout(WAIT, self.from_server.next()).await {
                Ok(Some(Frame::Text(text))) => {
                    let frame: Value = serde_json::from_str(&text).unwrap();
                    if frame["type"] != "presence" {
                        return frame;
                    }
                }
                Ok(Some(Frame::Ping)) => {}
                other => panic!("expected a frame, got {other:?}"),
            }
        }
    }

    async fn reply(&mut self, id: i64) -> Value {
        loop {
            let frame = self.next().await;
            if frame["type"] == "reply" && frame["id"] == id {
                return frame;
            }
        }
    }

    /// The close code the server sent, reading past any other frame.
    async fn closed(&mut self) -> u16 {
        loop {
            match tokio::time::timeout(WAIT, self.from_server.next()).await {
                Ok(Some(Frame::Close(Some((code, _))))) => {
                    // Answer it, as a client would, so the server's handshake completes.
                    let _ = self.to_server.unbounded_send(Ok(Frame::Close(None)));
                    return code;
                }
                Ok(Some(_)) => {}
                other => panic!("expected a close frame, got {other:?}"),
            }
        }
    }

    async fn ended(self) -> Option<u16> {
        tokio::time::timeout(WAIT, self.ended)
            .await
            .expect("the socket ends")
            .unwrap()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_socket_without_auth_in_time_is_closed_with_4001() {
    let world = World::new(settings(), 32).await;
    let mut peer = world.socket(
        Start {
            credential: None,
            since: None,
        },
        8,
    );
    assert_eq!(peer.closed().await, 4001);
    assert_eq!(peer.ended().await, Some(4001));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_first_frame_auth_attaches_and_a_refresh_keeps_the_socket_past_the_old_expiry() {
    let world = World::new(settings(), 32).await;
    let mut peer = world.socket(
        Start {
            credential: None,
            since: None,
        },
        64,
    );
    let id = peer.command("auth", json!({ "token": token("u", 2) }));
    assert_eq!(peer.reply(id).await["result"]["uid"], "u");
    assert_eq!(peer.next().await["type"], "snapshot");
    let refresh = peer.command("auth", json!({ "token": token("u", 3600) }));
    assert_eq!(peer.reply(refresh).await["ok"], true);
    let other = peer.command("auth", json!({ "token": token("mallory", 3600) }));
    assert_eq!(peer.reply(other).await["error"]["code"], "unauthenticated");
    tokio::time::sleep(Duration::from_millis(2_300)).await;
    let ping = peer.command("ping", json!({}));
    assert_eq!(
        peer.reply(ping).await["ok"],
        true,
        "open past the first token's exp"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_expired_token_closes_the_socket_with_4001() {
    let world = World::new(settings(), 32).await;
    let mut peer = world.socket(header("u", 1), 64);
    assert_eq!(peer.next().await["type"], "snapshot");
    assert_eq!(peer.closed().await, 4001);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_peer_that_does_not_read_is_closed_with_4008() {
    let world = World::new(
        LiveSettings {
            queue: 4,
            ..settings()
        },
        32,
    )
    .await;
    // The peer's side holds one frame and is never read.
    let peer = world.socket(header("u", 3600), 1);
    for n in 1..=20 {
        world.append(n).await;
    }
    let Peer {
        mut from_server,
        ended,
        to_server,
        ..
    } = peer;
    // Reading now lets the writer deliver what it holds and the close.
    let reader = tokio::spawn(async move {
        while let Some(frame) = from_server.next().await {
            if let Frame::Close(Some((code, _))) = frame {
                let _ = to_server.unbounded_send(Ok(Frame::Close(None)));
                return Some(code);
            }
        }
        None
    });
    let code = tokio::time::timeout(WAIT, ended).await.unwrap().unwrap();
    assert_eq!(code, Some(4008));
    assert_eq!(
        reader.await.unwrap(),
        Some(4008),
        "the close frame jumps the queue"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn a_socket_behind_the_ring_catches_up_from_the_event_log() {
    // A ring of one: a group commit of five events overruns it before the socket's task runs.
    let world = World::new(settings(), 1).await;
    let mut peer = world.tab();
    assert_eq!(peer.next().await["type"], "snapshot");
    let mut pending = Vec::new();
    for n in 1..=5 {
        let op = crate::session::rules::Op::Append(message(n));
        pending.push(world.ctx.sessions.submit("u", &world.id, op).await.unwrap());
    }
    for answer in pending {
        answer.wait().await.unwrap();
    }
    for seq in 1..=5 {
        let event = peer.next().await;
        assert_eq!(
            (&event["type"], &event["seq"]),
            (&json!("message.added"), &json!(seq))
        );
    }
    let ping = peer.command("ping", json!({}));
    assert_eq!(peer.reply(ping).await["ok"], true, "still attached");
}

#[tokio::test(flavor = "multi_thread")]
async fn commands_beyond_the_rate_get_rate_limited_replies() {
    let world = World::new(
        LiveSettings {
            rate_per_sec: 1,
            burst: 2,
            ..settings()
        },
        32,
    )
    .await;
    let mut peer = world.tab();
    assert_eq!(peer.next().await["type"], "snapshot");
    let ids: Vec<i64> = (0..5).map(|_| peer.command("ping", json!({}))).collect();
    let mut limited = 0;
    for id in ids {
        let reply = peer.reply(id).await;
        if reply["ok"] == false {
            assert_eq!(reply["error"]["code"], "rate_limited");
            assert_eq!(reply["error"]["retryable"], true);
            limited += 1;
        }
    }
    assert_eq!(limited, 3, "a burst of 2, then 1 a second");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_frame_over_the_limit_closes_with_1009() {
    let world = World::new(settings(), 32).await;
    let mut peer = world.tab();
    assert_eq!(peer.next().await["type"], "snapshot");
    peer.to_server
        .unbounded_send(Err(ReadError::TooBig))
        .unwrap();
    assert_eq!(peer.closed().await, 1009);
}

#[tokio::test(flavor = "multi_thread")]
async fn five_malformed_frames_in_a_row_close_with_4009_and_a_bad_since_seq_too() {
    let world = World::new(settings(), 32).await;
    let mut peer = world.tab();
    assert_eq!(peer.next().await["type"], "snapshot");
    for _ in 0..5 {
        peer.send_text("not json".into());
    }
    for _ in 0..5 {
        assert_eq!(peer.next().await["error"]["code"], "invalid_frame");
    }
    assert_eq!(peer.closed().await, 4009);

    let start = Start {
        since: Some(Err("-1".into())),
        ..header("u", 3600)
    };
    let mut bad = world.socket(start, 8);
    assert_eq!(bad.closed().await, 4009);
}

#[tokio::test(flavor = "multi_thread")]
async fn shutdown_answers_the_commands_taken_then_closes_with_1001() {
    let world = World::new(settings(), 32).await;
    let mut peer = world.tab();
    assert_eq!(peer.next().await["type"], "snapshot");
    let add = peer.command(
        "message.add",
        json!({ "messageId": "m", "prompt": "p", "images": [] }),
    );
    assert_eq!(peer.reply(add).await["result"]["seq"], 1);
    world.ctx.shutdown.cancel();
    assert_eq!(peer.closed().await, 1001);
    assert_eq!(peer.ended().await, Some(1001));
}
