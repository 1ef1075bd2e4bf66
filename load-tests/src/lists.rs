//! `--list-sockets N` (append and fanout): N sockets on users' lists
//! (`GET /api/live-chat-sessions/live`), opened before the scenario measures and read all
//! along: `--list-writer-sockets K` of them are the writing user's (K tabs showing "My
//! sessions" while the user writes; all N when not given), the others belong to other users,
//! one each (a server's other users, whose lists the writes do not touch). Frames are counted by
//! type, not parsed, so that the load generator passes them through quickly; a socket the
//! server closes is counted and opened again (as a tab reconnects), until the scenario ends.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context as _;
use futures::StreamExt as _;
use serde_json::{Value, json};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;

use crate::{Client, Common};

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Sockets on users' lists beside a scenario.
#[derive(Debug, Clone, Copy, clap::Args)]
pub struct ListArgs {
    /// Sockets on users' lists (`GET /api/live-chat-sessions/live`), opened before measuring
    /// and read all along; what they received is reported.
    #[arg(long, default_value_t = 0)]
    pub list_sockets: usize,
    /// How many of them are the writing user's (all when not given); the others are one each
    /// of other users, whose lists the scenario's writes do not touch.
    #[arg(long)]
    pub list_writer_sockets: Option<usize>,
}

/// What the list sockets received.
#[derive(Default)]
struct Counts {
    /// `sessions` frames: one per attach (reconnects included).
    sessions: u64,
    changed: u64,
    removed: u64,
    other: u64,
    bytes: u64,
    /// Close codes the server sent (1006: the connection ended without one).
    closes: BTreeMap<u16, u64>,
    /// Attaches after a close, and those that failed.
    reconnects: u64,
    failed_reconnects: u64,
}

impl Counts {
    fn add(&mut self, other: &Counts) {
        self.sessions += other.sessions;
        self.changed += other.changed;
        self.removed += other.removed;
        self.other += other.other;
        self.bytes += other.bytes;
        for (code, n) in &other.closes {
            *self.closes.entry(*code).or_default() += n;
        }
        self.reconnects += other.reconnects;
        self.failed_reconnects += other.failed_reconnects;
    }

    /// Counts a frame by its `type`, read from the text without parsing it.
    fn count(&mut self, text: &str) {
        self.bytes += text.len() as u64;
        let kind = text
            .find(r#""type":""#)
            .map(|at| &text[at + 8..])
            .and_then(|rest| rest.split('"').next());
        match kind {
            Some("session.changed") => self.changed += 1,
            Some("sessions") => self.sessions += 1,
            Some("session.removed") => self.removed += 1,
            _ => self.other += 1,
        }
    }
}

/// The list sockets, reading until [`ListSockets::finish`].
pub struct ListSockets {
    sockets: usize,
    stop: watch::Sender<bool>,
    readers: Vec<JoinHandle<Counts>>,
    /// Whether frames are counted: from [`ListSockets::measure`] to [`ListSockets::finish`].
    measuring: Arc<AtomicBool>,
    metrics_url: String,
    catch_ups: Option<f64>,
}

/// Opens a socket on the user's list and reads its first frame, the `sessions` page.
async fn connect(url: &str, token: &str) -> anyhow::Result<(Ws, String)> {
    let mut request = url.into_client_request()?;
    request
        .headers_mut()
        .insert("authorization", format!("Bearer {token}").parse()?);
    let (mut ws, _) = tokio_tungstenite::connect_async(request)
        .await
        .context("connect to the user's list")?;
    let first = ws.next().await.context("no sessions page")??;
    Ok((ws, first.into_text()?.to_string()))
}

impl ListSockets {
    /// Opens the sockets `args` asks for on users' lists (each has read its `sessions` page),
    /// reading: the writer's on `uid`'s list, the others one on each other user's.
    pub async fn open(common: &Common, uid: &str, args: ListArgs) -> anyhow::Result<Self> {
        let sockets = args.list_sockets;
        let writer = args.list_writer_sockets.unwrap_or(sockets);
        let client = Client::new(common, uid)?;
        let base = common.target.trim_end_matches('/');
        let url = format!(
            "{}/api/live-chat-sessions/live",
            base.replacen("http", "ws", 1)
        );
        let (stop, stopped) = watch::channel(false);
        let measuring = Arc::new(AtomicBool::new(false));
        eprintln!("opening {sockets} sockets on the user's list…");
        let mut readers = Vec::with_capacity(sockets);
        for n in 0..sockets {
            let token = if n < writer {
                client.token.clone()
            } else {
                Client::new(common, &format!("{uid}-other-{n}"))?.token
            };
            let (ws, first) = connect(&url, &token).await?;
            drop(first);
            let (url, mut stopped) = (url.clone(), stopped.clone());
            let measuring = Arc::clone(&measuring);
            readers.push(tokio::spawn(async move {
                let mut counts = Counts::default();
                let mut ws = Some(ws);
                loop {
                    let Some(socket) = ws.as_mut() else {
                        // Closed by the server: open again after a short pause, as a tab would.
                        tokio::select! {
                            _ = stopped.changed() => return counts,
                            () = tokio::time::sleep(Duration::from_millis(100)) => {}
                        }
                        match connect(&url, &token).await {
                            Ok((socket, first)) => {
                                counts.reconnects += 1;
                                if measuring.load(Ordering::Relaxed) {
                                    counts.count(&first);
                                }
                                ws = Some(socket);
                            }
                            Err(_) => counts.failed_reconnects += 1,
                        }
                        continue;
                    };
                    tokio::select! {
                        biased;
                        frame = socket.next() => match frame {
                            Some(Ok(Message::Text(text))) => {
                                if measuring.load(Ordering::Relaxed) {
                                    counts.count(&text);
                                }
                            }
                            Some(Ok(Message::Close(close))) => {
                                let code = close.map_or(1005, |c| u16::from(c.code));
                                *counts.closes.entry(code).or_default() += 1;
                                ws = None;
                            }
                            Some(Ok(_)) => {}
                            Some(Err(_)) | None => {
                                *counts.closes.entry(1006).or_default() += 1;
                                ws = None;
                            }
                        },
                        _ = stopped.changed() => {
                            let _ = socket.close(None).await;
                            return counts;
                        }
                    }
                }
            }));
        }
        Ok(Self {
            sockets,
            stop,
            readers,
            measuring,
            metrics_url: format!("{base}/metrics"),
            catch_ups: None,
        })
    }

    /// The measurement starts: frames are counted from here (and the server's catch-ups, when
    /// it serves `/metrics`); the `sessions` pages of the first attaches are not.
    pub async fn measure(&mut self) {
        self.catch_ups = catch_ups(&self.metrics_url).await;
        self.measuring.store(true, Ordering::Relaxed);
    }

    /// Stops the readers; what they received since [`ListSockets::measure`], per second of
    /// the scenario's `seconds` of writing, as JSON.
    pub async fn finish(self, seconds: f64) -> anyhow::Result<Value> {
        self.measuring.store(false, Ordering::Relaxed);
        let seconds = seconds.max(1e-9);
        let catch_ups = match (self.catch_ups, catch_ups(&self.metrics_url).await) {
            (Some(before), Some(after)) => Some(after - before),
            _ => None,
        };
        let _ = self.stop.send(true);
        let mut total = Counts::default();
        for reader in self.readers {
            total.add(&reader.await?);
        }
        let closes: serde_json::Map<String, Value> = total
            .closes
            .iter()
            .map(|(code, n)| (code.to_string(), json!(n)))
            .collect();
        let frames = total.sessions + total.changed + total.removed + total.other;
        println!(
            "  list sockets: {}; frames received {frames} ({:.0}/s: sessions {}, session.changed {}, session.removed {}, other {}); {:.1} MB; closed {}; reconnects {} ({} failed){}",
            self.sockets,
            frames as f64 / seconds,
            total.sessions,
            total.changed,
            total.removed,
            total.other,
            total.bytes as f64 / 1e6,
            total.closes.values().sum::<u64>(),
            total.reconnects,
            total.failed_reconnects,
            catch_ups.map_or(String::new(), |n| format!(
                "; server catch-ups, all sockets {n:.0}"
            )),
        );
        Ok(json!({
            "sockets": self.sockets, "frames": frames, "frames_per_second": frames as f64 / seconds,
            "sessions": total.sessions, "changed": total.changed, "removed": total.removed,
            "other": total.other, "bytes": total.bytes, "closes": closes,
            "reconnects": total.reconnects, "failed_reconnects": total.failed_reconnects,
            "server_catch_ups": catch_ups,
        }))
    }
}

/// The server's `livechat_socket_catch_ups_total`, if it serves `/metrics` on its listener.
async fn catch_ups(url: &str) -> Option<f64> {
    let text = reqwest::get(url).await.ok()?.text().await.ok()?;
    text.lines()
        .filter(|line| line.starts_with("livechat_socket_catch_ups_total"))
        .filter_map(|line| line.split_whitespace().last()?.parse::<f64>().ok())
        .reduce(|a, b| a + b)
}
