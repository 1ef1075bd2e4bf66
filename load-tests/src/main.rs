//! Load scenarios against a running livechat-sessions server.
//!
//! `restore` seeds sessions, then reads them back by image URL (or by id) over keep-alive
//! connections; `append` appends one-image messages over many sessions. Each prints a table and
//! one line of JSON with throughput and latency percentiles.

mod contend;
mod delay;
mod disk;
mod fanout;
mod identity;
mod idle;
mod lists;
mod report;
mod soak;
mod sse;

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use clap::{Parser, Subcommand, ValueEnum};
use livechat_sessions::auth::TokenIssuer;
use rand::Rng as _;
use serde_json::{Value, json};

use report::Recorder;

#[derive(Parser)]
#[command(about = "Load scenarios for livechat-sessions")]
struct Cli {
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(clap::Args, Clone)]
struct Common {
    /// Base URL of the server.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    target: String,
    /// The server's HS256 secret (`LIVECHAT_JWT_SECRET`, or the contents of DATA_DIR/jwt-secret).
    #[arg(long, env = "LIVECHAT_JWT_SECRET", hide_env_values = true)]
    secret: String,
    /// Authenticate with Firebase ID tokens signed with this key (from `load-tests keys`)
    /// instead of HS256 tokens; the server needs `--firebase-project` and the matching keys URL.
    #[arg(long, requires = "firebase_project")]
    firebase_key: Option<std::path::PathBuf>,
    /// The Firebase project of `--firebase-key`'s tokens.
    #[arg(long)]
    firebase_project: Option<String>,
    /// Concurrent connections.
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// Seconds of measurement.
    #[arg(long, default_value_t = 10)]
    duration: u64,
}

#[derive(Subcommand)]
enum Scenario {
    /// Restore sessions by image URL (or get them by id).
    Restore {
        #[command(flatten)]
        common: Common,
        /// Sessions to seed.
        #[arg(long, default_value_t = 100)]
        sessions: usize,
        /// Images per seeded session.
        #[arg(long, default_value_t = 20)]
        images: usize,
        /// Images per seeded message (each message carries this many, the last one the rest).
        #[arg(long, default_value_t = 1)]
        images_per_message: usize,
        #[arg(long, value_enum, default_value_t = RestoreBy::ImageUrl)]
        by: RestoreBy,
        /// Send each session's `ETag` back in `If-None-Match`, as a client re-opening a
        /// session it holds: the server answers 304 with no body (a server without tags, such
        /// as the baseline, answers in full).
        #[arg(long)]
        revalidate: bool,
        /// The `Accept-Encoding` to send (none by default: answers come uncompressed); the
        /// bytes of the answers' bodies as they came are reported.
        #[arg(long)]
        accept_encoding: Option<String>,
    },
    /// One writer per session over WebSocket, every tab receiving: delivery latency and gaps.
    Fanout {
        #[command(flatten)]
        common: Common,
        #[arg(long, default_value_t = 100)]
        sessions: usize,
        /// Sockets per session (one of them writes).
        #[arg(long, default_value_t = 4)]
        tabs: usize,
        /// `message.add` per second per session.
        #[arg(long, default_value_t = 50)]
        rate: u32,
        /// More instances of one cluster: tabs are spread over `--target` and these, round
        /// robin, while each session's writer stays on `--target`.
        #[arg(long = "spread")]
        spread: Vec<String>,
        /// A rising series of rates instead of `--rate` (`--rates 10,20,40,80`): one run of
        /// `--duration` each, then the highest deliveries/s whose p99 stayed under 50 ms.
        #[arg(long, value_delimiter = ',')]
        rates: Vec<u32>,
        /// The server's process id: its disk writes per durable append are read from /proc.
        #[arg(long, conflicts_with = "rates")]
        server_pid: Option<u32>,
        /// How the tabs other than the writer's receive: sockets, or Server-Sent Events
        /// (`GET /:id/events`); the writer's tab is a socket either way.
        #[arg(long, value_enum, default_value_t = fanout::Transport::Websocket)]
        transport: fanout::Transport,
        #[command(flatten)]
        lists: lists::ListArgs,
    },
    /// One tab per session sends `signal`s, the other tabs receive them: delivery latency and
    /// losses.
    Signal {
        #[command(flatten)]
        common: Common,
        #[arg(long, default_value_t = 100)]
        sessions: usize,
        /// Sockets per session (one of them sends).
        #[arg(long, default_value_t = 4)]
        tabs: usize,
        /// Signals per second per session.
        #[arg(long, default_value_t = 20)]
        rate: u32,
        /// More instances of one cluster, as for `fanout`.
        #[arg(long = "spread")]
        spread: Vec<String>,
    },
    /// A realistic mix for a while: live sessions writing and every tab reading, restores over
    /// REST; errors, gaps, and the server's memory and descriptors over time.
    Soak {
        #[command(flatten)]
        common: Common,
        /// Minutes to run.
        #[arg(long, default_value_t = 10)]
        minutes: u64,
        /// Live sessions, each with `--tabs` sockets and one writer.
        #[arg(long, default_value_t = 50)]
        sessions: usize,
        #[arg(long, default_value_t = 3)]
        tabs: usize,
        /// `message.add` per second per live session.
        #[arg(long, default_value_t = 5)]
        rate: u32,
        /// Seconds each chat lasts: then its tabs close and fresh sessions take over, as real
        /// chats end and new ones start.
        #[arg(long, default_value_t = 60)]
        chat_seconds: u64,
        /// The server's process id (memory and descriptors are read from /proc).
        #[arg(long)]
        server_pid: u32,
    },
    /// Hold N silent sockets and report the server's memory per socket.
    Idle {
        #[command(flatten)]
        common: Common,
        /// Sockets to hold.
        #[arg(long, default_value_t = 10_000)]
        sockets: usize,
        /// Sessions they attach to.
        #[arg(long, default_value_t = 1_000)]
        sessions: usize,
        /// The server's process id (its memory is read from /proc).
        #[arg(long)]
        server_pid: u32,
        /// Seconds to hold the sockets before measuring.
        #[arg(long, default_value_t = 5)]
        hold: u64,
        /// Sockets on the user's list (`GET /api/live-chat-sessions/live`, each reads its
        /// `sessions` page) instead of sessions' sockets; `--sessions` are created all the same.
        #[arg(long)]
        list: bool,
    },
    /// Write a signing key and its x509 map, for `--firebase-key` (serve `x509.json` as the
    /// server's `--firebase-keys-url`).
    Keys {
        #[arg(long)]
        out: std::path::PathBuf,
    },
    /// The cost of verifying a token of each kind, in-process, on fetched keys: the first
    /// time (each of `--iterations` tokens once) and again (the same tokens, held verified).
    Verify {
        #[arg(long, default_value_t = 2_000)]
        iterations: u32,
    },
    /// Writers on several instances appending to one session, each retrying a refused append
    /// by its messageId until acknowledged: each instance's time from first try to
    /// acknowledgement (`--connections` writers per instance).
    Contend {
        #[command(flatten)]
        common: Common,
        /// The other instances of the cluster, beside `--target`.
        #[arg(long = "spread")]
        spread: Vec<String>,
    },
    /// A TCP proxy adding a delay to every round trip through it (what the client sends
    /// arrives that much later), to put one instance on a slow link to its store.
    Delay {
        /// Where to listen (host:port).
        #[arg(long)]
        listen: String,
        /// Where to forward (host:port).
        #[arg(long)]
        to: String,
        /// Milliseconds added to each round trip.
        #[arg(long)]
        delay_ms: u64,
    },
    /// Append one-image messages, spread over sessions.
    Append {
        #[command(flatten)]
        common: Common,
        /// Sessions written to at once; each is replaced by a fresh one after 9,000 appends,
        /// below the server's limit of 10,000 images per session.
        #[arg(long, default_value_t = 100)]
        sessions: usize,
        /// The server's process id: its disk writes per durable append are read from /proc.
        #[arg(long)]
        server_pid: Option<u32>,
        #[command(flatten)]
        lists: lists::ListArgs,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum RestoreBy {
    ImageUrl,
    Id,
}

struct Client {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Client {
    fn new(common: &Common, uid: &str) -> anyhow::Result<Self> {
        Ok(Self {
            // No `Accept-Encoding` of its own and nothing decompressed: a scenario asks for an
            // encoding explicitly, and what it measures is what the server sent.
            http: reqwest::Client::builder()
                .no_gzip()
                .no_brotli()
                .no_zstd()
                .no_deflate()
                .pool_max_idle_per_host(common.connections)
                .tcp_nodelay(true)
                .build()?,
            base: format!(
                "{}/api/live-chat-sessions",
                common.target.trim_end_matches('/')
            ),
            token: match (&common.firebase_key, &common.firebase_project) {
                (Some(key), Some(project)) => identity::firebase_token(key, project, uid)?,
                _ => TokenIssuer::hs256(common.secret.as_bytes()).issue(uid, 24 * 3600)?,
            },
        })
    }

    /// Sends a request whose answer is only checked, not parsed: the load generator shares the
    /// machine, and parsing every body would measure the generator rather than the server.
    /// Answers the status (a success or 304) and the body's length as it came.
    async fn check(
        &self,
        request: reqwest::RequestBuilder,
    ) -> anyhow::Result<(reqwest::StatusCode, usize)> {
        let response = request.bearer_auth(&self.token).send().await?;
        let status = response.status();
        let body = response.bytes().await?;
        if !status.is_success() && status != reqwest::StatusCode::NOT_MODIFIED {
            bail!("{status}: {}", String::from_utf8_lossy(&body));
        }
        Ok((status, body.len()))
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> anyhow::Result<Value> {
        let response = request.bearer_auth(&self.token).send().await?;
        let status = response.status();
        let body: Value = response.json().await?;
        if !status.is_success() {
            bail!("{status}: {body}");
        }
        Ok(body)
    }

    async fn create(&self, session_id: &str) -> anyhow::Result<String> {
        let body = json!({ "sessionId": session_id, "model": "load-test" });
        let reply = self
            .send(self.http.post(&self.base).body(body.to_string()))
            .await?;
        reply["data"]["sessionDocId"]
            .as_str()
            .map(str::to_owned)
            .context("no sessionDocId")
    }

    async fn append(&self, id: &str, urls: &[String]) -> anyhow::Result<Value> {
        let images: Vec<Value> = urls.iter().map(|url| json!({ "url": url })).collect();
        let body = json!({ "prompt": "make the sky a little bluer", "images": images });
        self.send(
            self.http
                .post(format!("{}/{id}/messages", self.base))
                .body(body.to_string()),
        )
        .await
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().scenario {
        Scenario::Restore {
            common,
            sessions,
            images,
            images_per_message,
            by,
            revalidate,
            accept_encoding,
        } => {
            let seeding = Seeding {
                sessions,
                images,
                per_message: images_per_message,
            };
            restore(common, seeding, by, revalidate, accept_encoding).await
        }
        Scenario::Append {
            common,
            sessions,
            server_pid,
            lists,
        } => append(common, sessions, server_pid, lists).await,
        Scenario::Keys { out } => identity::write_keys(&out),
        Scenario::Verify { iterations } => identity::verify_cost(iterations).await,
        Scenario::Soak {
            common,
            minutes,
            sessions,
            tabs,
            rate,
            chat_seconds,
            server_pid,
        } => {
            let live = soak::Live {
                sessions,
                tabs,
                rate,
                chat_seconds,
            };
            soak::soak(common, minutes, live, server_pid).await
        }
        Scenario::Contend { common, spread } => contend::contend(common, spread).await,
        Scenario::Delay {
            listen,
            to,
            delay_ms,
        } => delay::delay(listen, to, Duration::from_millis(delay_ms)).await,
        Scenario::Idle {
            common,
            sockets,
            sessions,
            server_pid,
            hold,
            list,
        } => idle::idle(common, sockets, sessions, server_pid, hold, list).await,
        Scenario::Fanout {
            common,
            sessions,
            tabs,
            rate,
            spread,
            rates,
            server_pid,
            transport,
            lists,
        } if rates.is_empty() => {
            let load = fanout::Load {
                traffic: fanout::Traffic::Appends,
                receivers: transport,
            };
            let observe = fanout::Observe { server_pid, lists };
            fanout::fanout(common, sessions, tabs, rate, spread, load, observe).await
        }
        Scenario::Signal {
            common,
            sessions,
            tabs,
            rate,
            spread,
        } => fanout::signal(common, sessions, tabs, rate, spread).await,
        Scenario::Fanout {
            common,
            sessions,
            tabs,
            spread,
            rates,
            ..
        } => fanout::rising(common, sessions, tabs, rates, spread).await,
    }
}

/// What the restore scenario seeds: `sessions` sessions of `images` images, `per_message` to a
/// message.
#[derive(Clone, Copy)]
struct Seeding {
    sessions: usize,
    images: usize,
    per_message: usize,
}

/// Creates the sessions; returns each id and last URL.
async fn seed(client: &Client, seeding: Seeding) -> anyhow::Result<Vec<(String, String)>> {
    let Seeding {
        sessions,
        images,
        per_message,
    } = seeding;
    let run = run_id();
    eprintln!("seeding {sessions} sessions of {images} images, {per_message} per message…");
    let mut targets = Vec::with_capacity(sessions);
    for s in 0..sessions {
        let id = client.create(&format!("seed-{run}-{s}")).await?;
        let urls: Vec<String> = (0..images)
            .map(|i| format!("https://img.example/{run}/{s}/{i}.png"))
            .collect();
        for message in urls.chunks(per_message.max(1)) {
            client.append(&id, message).await?;
        }
        targets.push((id, urls.last().cloned().unwrap_or_default()));
    }
    Ok(targets)
}

fn run_id() -> String {
    format!("{:x}", rand::rng().random::<u64>())
}

async fn restore(
    common: Common,
    seeding: Seeding,
    by: RestoreBy,
    revalidate: bool,
    accept_encoding: Option<String>,
) -> anyhow::Result<()> {
    let client = Arc::new(Client::new(&common, "load-restore")?);
    let seeded = seed(&client, seeding).await?;
    let coding = accept_encoding.clone();
    let request = move |client: &Client, (id, url): &(String, String)| {
        let get = match by {
            RestoreBy::ImageUrl => client
                .http
                .get(format!("{}/by-image-url", client.base))
                .query(&[("imageUrl", url)]),
            RestoreBy::Id => client.http.get(format!("{}/{id}", client.base)),
        };
        match &coding {
            Some(coding) => get.header(reqwest::header::ACCEPT_ENCODING, coding),
            None => get,
        }
    };
    // Each target with the tag of its answer, when revalidating.
    let mut targets = Vec::with_capacity(seeded.len());
    for target in seeded {
        let tag = if revalidate {
            let response = request(&client, &target)
                .bearer_auth(&client.token)
                .send()
                .await?;
            response
                .headers()
                .get(reqwest::header::ETAG)
                .and_then(|tag| tag.to_str().ok())
                .map(str::to_owned)
        } else {
            None
        };
        targets.push((target, tag));
    }
    let targets = Arc::new(targets);
    let not_modified = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let body_bytes = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let (counted, measured) = (Arc::clone(&not_modified), Arc::clone(&body_bytes));
    let recorder = run_workers(&common, move |_| {
        let (client, counted, measured) = (
            Arc::clone(&client),
            Arc::clone(&counted),
            Arc::clone(&measured),
        );
        let (target, tag) = &targets[rand::rng().random_range(0..targets.len())];
        let mut get = request(&client, target);
        if let Some(tag) = tag {
            get = get.header(reqwest::header::IF_NONE_MATCH, tag);
        }
        async move {
            let (status, bytes) = client.check(get).await?;
            if status == reqwest::StatusCode::NOT_MODIFIED {
                counted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            measured.fetch_add(bytes as u64, std::sync::atomic::Ordering::Relaxed);
            Ok(())
        }
    })
    .await;
    let name = match (by, revalidate) {
        (RestoreBy::ImageUrl, false) => "restore by-image-url",
        (RestoreBy::Id, false) => "restore get-by-id",
        (RestoreBy::ImageUrl, true) => "restore by-image-url, revalidated",
        (RestoreBy::Id, true) => "restore get-by-id, revalidated",
    };
    let not_modified = not_modified.load(std::sync::atomic::Ordering::Relaxed);
    if revalidate {
        println!(
            "  304 Not Modified: {not_modified} of {} answers",
            recorder.ok()
        );
    }
    let answered = recorder.ok().max(1);
    let body_bytes = body_bytes.load(std::sync::atomic::Ordering::Relaxed) / answered;
    println!(
        "  Accept-Encoding: {}; body bytes per answer, as sent: {body_bytes}",
        accept_encoding.as_deref().unwrap_or("(none)")
    );
    recorder.print(
        name,
        &common,
        json!({ "sessions": seeding.sessions, "images": seeding.images,
            "images_per_message": seeding.per_message, "not_modified": not_modified,
            "accept_encoding": accept_encoding, "body_bytes": body_bytes }),
    );
    Ok(())
}

/// Appends one slot makes to a session before moving on to a fresh one: below the server's
/// limit of 10,000 images per session, as a long chat ends and a new one starts.
const APPENDS_PER_SESSION: u64 = 9_000;

/// A slot of the append scenario: the session its appends go to now.
struct Slot {
    generation: u64,
    id: String,
}

async fn append(
    common: Common,
    sessions: usize,
    server_pid: Option<u32>,
    list_args: lists::ListArgs,
) -> anyhow::Result<()> {
    let list_sockets = list_args.list_sockets;
    let client = Arc::new(Client::new(&common, "load-append")?);
    let run = run_id();
    let mut slots = Vec::with_capacity(sessions);
    for s in 0..sessions {
        let id = client.create(&format!("append-{run}-{s}-0")).await?;
        slots.push(tokio::sync::Mutex::new(Slot { generation: 0, id }));
    }
    let slots = Arc::new(slots);
    let lists = if list_sockets > 0 {
        let mut lists = lists::ListSockets::open(&common, "load-append", list_args).await?;
        lists.measure().await;
        Some(lists)
    } else {
        None
    };
    let disk = server_pid.map(disk::ServerMeter::start).transpose()?;
    let recorder = run_workers(&common, move |n| {
        let (client, slots, run) = (Arc::clone(&client), Arc::clone(&slots), run.clone());
        async move {
            let s = n as usize % slots.len();
            let generation = n / slots.len() as u64 / APPENDS_PER_SESSION;
            let id = {
                let mut slot = slots[s].lock().await;
                if slot.generation < generation {
                    slot.id = client
                        .create(&format!("append-{run}-{s}-{generation}"))
                        .await?;
                    slot.generation = generation;
                }
                slot.id.clone()
            };
            let url = format!("https://img.example/{run}/{n}.png");
            let body =
                json!({ "prompt": "make the sky a little bluer", "images": [{ "url": url }] });
            let request = client
                .http
                .post(format!("{}/{id}/messages", client.base))
                .body(body.to_string());
            client.check(request).await.map(drop)
        }
    })
    .await;
    // The server's CPU time per append, read before the list sockets close.
    let cpu = disk
        .as_ref()
        .map(|disk| disk.cpu(recorder.ok()))
        .transpose()?;
    let mut params = json!({ "sessions": sessions, "list_sockets": list_sockets });
    if let Some(cpu) = cpu {
        params["server_cpu"] = cpu;
    }
    if let Some(lists) = lists {
        params["lists"] = lists.finish(common.duration as f64).await?;
    }
    if let Some(disk) = disk {
        params["disk"] = disk.finish(recorder.ok()).await?;
    }
    recorder.print("append (REST, durable)", &common, params);
    Ok(())
}

/// Runs `connections` workers for `duration`, each calling `op` in a loop with a global
/// sequence number, and records every call's latency.
async fn run_workers<F, Fut>(common: &Common, op: F) -> Recorder
where
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = anyhow::Result<()>> + Send,
{
    let op = Arc::new(op);
    let counter = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(common.duration);
    let started = Instant::now();
    let workers: Vec<_> = (0..common.connections)
        .map(|_| {
            let (op, counter) = (Arc::clone(&op), Arc::clone(&counter));
            tokio::spawn(async move {
                let mut recorder = Recorder::new();
                while Instant::now() < deadline {
                    let n = counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let sent = Instant::now();
                    let result = op(n).await;
                    recorder.record(sent.elapsed(), result.err());
                }
                recorder
            })
        })
        .collect();
    let mut total = Recorder::new();
    for worker in workers {
        if let Ok(recorder) = worker.await {
            total.merge(recorder);
        }
    }
    total.finish(started.elapsed());
    total
}
