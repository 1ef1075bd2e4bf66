//! The machine's ceiling, for comparison in the same sitting: a bare axum server that answers
//! the routes the scenarios use with no store, no auth and no actor.
//!
//! - `GET /api/live-chat-sessions/by-image-url` and `GET /api/live-chat-sessions/:id` answer a
//!   session of `--images` images, serialized per request like a real answer;
//! - `POST /api/live-chat-sessions` and `POST /api/live-chat-sessions/:id/messages` answer at
//!   once (so the scenarios can seed);
//! - `GET /api/live-chat-sessions/:id/live` is a bare broadcast room: a `message.add` from any
//!   socket becomes a `message.added` with the room's next `seq` on every socket of the room.
//!
//! `cargo run --release -p load-tests --bin baseline -- --addr 127.0.0.1:8099`

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::{get, post};
use axum::serve::ListenerExt as _;
use clap::Parser;
use futures::{SinkExt as _, StreamExt as _};
use serde_json::{Value, json};
use tokio::sync::broadcast;

/// The same allocator as the server, so that the comparison is of the server's work.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
struct Args {
    #[arg(long, default_value = "127.0.0.1:8099")]
    addr: String,
    /// Images in the session answered by the read routes.
    #[arg(long, default_value_t = 20)]
    images: usize,
}

#[derive(Clone)]
struct Baseline {
    session: Arc<Value>,
    rooms: Arc<Mutex<HashMap<String, Room>>>,
}

#[derive(Clone)]
struct Room {
    sender: broadcast::Sender<Arc<str>>,
    seq: Arc<AtomicU64>,
}

/// A session shaped like the real answer, with `images` images of one message each.
fn session(images: usize) -> Value {
    let messages: Vec<Value> = (1..=images)
        .map(|n| {
            json!({ "id": format!("message{n:011}"), "prompt": "make the sky a little bluer",
                "timestamp": "2025-01-15T10:05:00.000Z",
                "images": [{ "id": format!("image{n:015}"), "url": format!("https://img.example/run/0/{n}.png"),
                    "storagePath": null, "originalUrl": null, "firebaseUrl": null, "order": n }] })
        })
        .collect();
    let flat: Vec<Value> = messages
        .iter()
        .map(|m| {
            let mut image = m["images"][0].clone();
            image["prompt"] = m["prompt"].clone();
            image["timestamp"] = m["timestamp"].clone();
            image["messageId"] = m["id"].clone();
            image
        })
        .collect();
    let urls: Vec<Value> = flat.iter().map(|i| i["url"].clone()).collect();
    let order_map: serde_json::Map<String, Value> = flat
        .iter()
        .map(|i| {
            (
                i["url"].as_str().unwrap_or_default().to_owned(),
                i["order"].clone(),
            )
        })
        .collect();
    json!({ "id": "Qm3xK2baselineSess01", "sessionId": "session-1", "uid": "load", "model": "m",
        "frameSize": null, "style": null, "status": "active", "startedAt": "2025-01-15T10:00:00.000Z",
        "createdAt": "2025-01-15T10:00:00.000Z", "updatedAt": "2025-01-15T10:05:00.000Z",
        "messages": messages, "images": flat, "imageUrls": urls, "imageOrderMap": order_map,
        "totalImages": images, "seq": images })
}

async fn read(State(baseline): State<Baseline>) -> Response {
    // Serialized per request, as a server that builds its answer would.
    Json(json!({ "status": "success", "message": "OK", "data": { "session": &*baseline.session } }))
        .into_response()
}

async fn create() -> Json<Value> {
    let id: String = format!("{:020}", rand::random::<u64>());
    Json(
        json!({ "status": "success", "message": "Session created", "data": { "sessionDocId": id } }),
    )
}

async fn append() -> Json<Value> {
    Json(
        json!({ "status": "success", "message": "Message added", "data": { "messageId": "m", "orders": [1], "seq": 1 } }),
    )
}

async fn live(
    State(baseline): State<Baseline>,
    Path(id): Path<String>,
    upgrade: WebSocketUpgrade,
) -> Response {
    let room = {
        let mut rooms = baseline.rooms.lock().unwrap_or_else(|e| e.into_inner());
        rooms
            .entry(id)
            .or_insert_with(|| Room {
                sender: broadcast::channel(256).0,
                seq: Arc::new(AtomicU64::new(0)),
            })
            .clone()
    };
    upgrade
        .read_buffer_size(4096)
        .on_upgrade(move |socket| relay(socket, room))
}

async fn relay(socket: WebSocket, room: Room) {
    let (mut sink, mut stream) = socket.split();
    let mut pushes = room.sender.subscribe();
    let snapshot =
        json!({ "type": "snapshot", "seq": room.seq.load(Ordering::Acquire) }).to_string();
    if sink.send(Message::Text(snapshot.into())).await.is_err() {
        return;
    }
    loop {
        tokio::select! {
            push = pushes.recv() => match push {
                Ok(frame) => {
                    if sink.send(Message::Text((*frame).into())).await.is_err() {
                        return;
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => return,
            },
            frame = stream.next() => {
                let Some(Ok(Message::Text(text))) = frame else {
                    if matches!(frame, None | Some(Err(_)) | Some(Ok(Message::Close(_)))) { return; }
                    continue;
                };
                let Ok(command) = serde_json::from_str::<Value>(&text) else { continue };
                if command["type"] == "message.add" {
                    // The room's lock-free counter orders the events; send under no lock.
                    let seq = room.seq.fetch_add(1, Ordering::AcqRel) + 1;
                    let frame = json!({ "type": "message.added", "seq": seq,
                        "message": { "prompt": command["prompt"], "images": command["images"] } });
                    let _ = room.sender.send(frame.to_string().into());
                }
            }
        }
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let baseline = Baseline {
        session: Arc::new(session(args.images)),
        rooms: Arc::default(),
    };
    let base = "/api/live-chat-sessions";
    let router = Router::new()
        .route(base, post(create))
        .route(&format!("{base}/by-image-url"), get(read))
        .route(&format!("{base}/{{id}}"), get(read))
        .route(&format!("{base}/{{id}}/messages"), post(append))
        .route(&format!("{base}/{{id}}/live"), get(live))
        .with_state(baseline);
    let listener = tokio::net::TcpListener::bind(&args.addr).await?;
    println!("listening on http://{}", listener.local_addr()?);
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, router).await?;
    Ok(())
}
