//! `fanout`: S sessions × T tabs; one tab per session writes `message.add` at R per second and
//! every tab receives every event. Latency is from the send to the receipt on each other tab;
//! every tab checks that `seq` arrives without gap.
//!
//! `signal`: the same sessions and tabs, the writing tab sending `signal` commands instead (not
//! stored, pushed to the session's other sockets only): latency from the send to the receipt on
//! each other tab, and the signals each receiving tab missed of those its sender had answered.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use futures::stream::BoxStream;
use futures::{SinkExt as _, StreamExt as _};
use hdrhistogram::Histogram;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;

use crate::disk::ServerMeter;
use crate::lists::{ListArgs, ListSockets};
use crate::{Client, Common, run_id, sse};

/// What the writing tab of each session sends.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Traffic {
    /// `message.add` with one image: committed, then pushed to every tab as `message.added`.
    Appends,
    /// `signal`: pushed to every other tab, never stored.
    Signals,
}

/// How the tabs other than the writer's receive.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Transport {
    Websocket,
    /// Server-Sent Events, `GET /:id/events`.
    Sse,
}

/// What the fanout scenario watches besides the tabs: the server's disk writes (given its
/// pid), and sockets on users' lists.
pub struct Observe {
    pub server_pid: Option<u32>,
    pub lists: ListArgs,
}

/// What a run sends, and how it is received.
#[derive(Clone, Copy)]
pub struct Load {
    pub traffic: Traffic,
    pub receivers: Transport,
}

impl Load {
    /// Writes or signals, every tab a socket.
    pub fn sockets(traffic: Traffic) -> Self {
        Self {
            traffic,
            receivers: Transport::Websocket,
        }
    }
}

pub struct Totals {
    pub latency_us: Histogram<u64>,
    /// The same latencies, of tabs on the writer's instance and of tabs on another.
    pub local_us: Histogram<u64>,
    pub remote_us: Histogram<u64>,
    pub deliveries: u64,
    /// Appends seen by their writer's own socket: each was durable before it was pushed.
    pub appends: u64,
    pub gaps: u64,
    pub errors: u64,
    /// Signals the server answered `ok` to their sender.
    pub signals_sent: u64,
    /// Signals a receiving tab did not get of those its session's sender had answered, and the
    /// receiving tabs that missed any.
    pub signals_lost: u64,
    pub tabs_with_losses: u64,
    /// Signals that came back to the tab that sent them (the server must not echo them).
    pub signals_echoed: u64,
}

impl Totals {
    pub fn new() -> Self {
        let histogram = || Histogram::new_with_bounds(1, 60_000_000, 3).expect("bounds");
        Self {
            latency_us: histogram(),
            local_us: histogram(),
            remote_us: histogram(),
            deliveries: 0,
            appends: 0,
            gaps: 0,
            errors: 0,
            signals_sent: 0,
            signals_lost: 0,
            tabs_with_losses: 0,
            signals_echoed: 0,
        }
    }

    pub fn add(&mut self, other: &Totals) {
        let _ = self.latency_us.add(&other.latency_us);
        let _ = self.local_us.add(&other.local_us);
        let _ = self.remote_us.add(&other.remote_us);
        self.deliveries += other.deliveries;
        self.appends += other.appends;
        self.gaps += other.gaps;
        self.errors += other.errors;
        self.signals_sent += other.signals_sent;
        self.signals_lost += other.signals_lost;
        self.tabs_with_losses += other.tabs_with_losses;
        self.signals_echoed += other.signals_echoed;
    }
}

pub async fn fanout(
    common: Common,
    sessions: usize,
    tabs: usize,
    rate: u32,
    spread: Vec<String>,
    load: Load,
    observe: Observe,
) -> anyhow::Result<()> {
    let Observe {
        server_pid,
        lists: list_args,
    } = observe;
    let list_sockets = list_args.list_sockets;
    let instances = 1 + spread.len();
    let lists = if list_sockets > 0 {
        let mut lists = ListSockets::open(&common, "load-fanout", list_args).await?;
        lists.measure().await;
        Some(lists)
    } else {
        None
    };
    let (total, disk) = drive(&common, sessions, tabs, rate, spread, server_pid, load).await?;
    // The server's CPU time per delivery, read before anything else is done.
    let cpu = disk
        .as_ref()
        .map(|disk| disk.cpu(total.deliveries))
        .transpose()?;
    let seconds = common.duration as f64;
    let ms = |q: f64| total.latency_us.value_at_quantile(q) as f64 / 1000.0;
    let transport = match load.receivers {
        Transport::Websocket => "websocket",
        Transport::Sse => "sse",
    };
    println!(
        "fanout: {sessions} sessions × {tabs} tabs on {instances} instance(s), {rate} writes/s per session, {seconds} s; receiving tabs on {transport}"
    );
    println!(
        "  {:>14} {:>9} {:>9} {:>9} {:>9} {:>7} {:>7}",
        "deliveries/s", "p50 ms", "p95 ms", "p99 ms", "max ms", "gaps", "errors"
    );
    println!(
        "  {:>14.0} {:>9.2} {:>9.2} {:>9.2} {:>9.2} {:>7} {:>7}",
        total.deliveries as f64 / seconds,
        ms(0.5),
        ms(0.95),
        ms(0.99),
        total.latency_us.max() as f64 / 1000.0,
        total.gaps,
        total.errors
    );
    let mut summary = json!({
        "scenario": "fanout", "sessions": sessions, "tabs": tabs, "instances": instances, "rate": rate, "seconds": seconds,
        "deliveries_per_second": total.deliveries as f64 / seconds,
        "p50_ms": ms(0.5), "p95_ms": ms(0.95), "p99_ms": ms(0.99),
        "max_ms": total.latency_us.max() as f64 / 1000.0, "gaps": total.gaps, "errors": total.errors,
        "transport": transport,
    });
    if instances > 1 {
        let at = |h: &Histogram<u64>, q: f64| h.value_at_quantile(q) as f64 / 1000.0;
        let (local, remote) = (&total.local_us, &total.remote_us);
        println!(
            "  tabs on the writer's instance: p50 {:.2} ms, p99 {:.2} ms ({} deliveries); on another: p50 {:.2} ms, p99 {:.2} ms ({} deliveries)",
            at(local, 0.5),
            at(local, 0.99),
            local.len(),
            at(remote, 0.5),
            at(remote, 0.99),
            remote.len()
        );
        summary["local_p50_ms"] = json!(at(local, 0.5));
        summary["local_p99_ms"] = json!(at(local, 0.99));
        summary["remote_p50_ms"] = json!(at(remote, 0.5));
        summary["remote_p99_ms"] = json!(at(remote, 0.99));
    }
    if let Some(disk) = disk {
        summary["disk"] = disk.finish(total.appends).await?;
    }
    if let Some(cpu) = cpu {
        summary["server_cpu"] = cpu;
    }
    summary["list_sockets"] = json!(list_sockets);
    if let Some(lists) = lists {
        summary["lists"] = lists.finish(seconds).await?;
    }
    println!("{summary}");
    Ok(())
}

/// The `signal` scenario: one tab per session sends `signal` at `rate` per second, the other
/// tabs receive them.
pub async fn signal(
    common: Common,
    sessions: usize,
    tabs: usize,
    rate: u32,
    spread: Vec<String>,
) -> anyhow::Result<()> {
    let instances = 1 + spread.len();
    let load = Load::sockets(Traffic::Signals);
    let (total, _) = drive(&common, sessions, tabs, rate, spread, None, load).await?;
    let seconds = common.duration as f64;
    let ms = |q: f64| total.latency_us.value_at_quantile(q) as f64 / 1000.0;
    let expected = total.signals_sent * (tabs as u64).saturating_sub(1);
    println!(
        "signal: {sessions} sessions × {tabs} tabs on {instances} instance(s), {rate} signals/s per session, {seconds} s"
    );
    println!(
        "  {:>9} {:>14} {:>9} {:>9} {:>9} {:>9} {:>7} {:>7} {:>7}",
        "sent/s",
        "deliveries/s",
        "p50 ms",
        "p95 ms",
        "p99 ms",
        "max ms",
        "lost",
        "echoed",
        "errors"
    );
    println!(
        "  {:>9.0} {:>14.0} {:>9.2} {:>9.2} {:>9.2} {:>9.2} {:>7} {:>7} {:>7}",
        total.signals_sent as f64 / seconds,
        total.deliveries as f64 / seconds,
        ms(0.5),
        ms(0.95),
        ms(0.99),
        total.latency_us.max() as f64 / 1000.0,
        total.signals_lost,
        total.signals_echoed,
        total.errors
    );
    println!(
        "  {} signals answered, {expected} deliveries owed to the other tabs, {} received; {} of {} receiving tabs missed some; {} out of order",
        total.signals_sent,
        total.deliveries,
        total.tabs_with_losses,
        sessions * tabs.saturating_sub(1),
        total.gaps
    );
    let summary = json!({
        "scenario": "signal", "sessions": sessions, "tabs": tabs, "instances": instances, "rate": rate, "seconds": seconds,
        "sent": total.signals_sent, "sent_per_second": total.signals_sent as f64 / seconds,
        "expected_deliveries": expected, "deliveries": total.deliveries,
        "deliveries_per_second": total.deliveries as f64 / seconds,
        "p50_ms": ms(0.5), "p95_ms": ms(0.95), "p99_ms": ms(0.99),
        "max_ms": total.latency_us.max() as f64 / 1000.0, "lost": total.signals_lost,
        "tabs_with_losses": total.tabs_with_losses, "out_of_order": total.gaps,
        "echoed": total.signals_echoed, "errors": total.errors,
    });
    println!("{summary}");
    Ok(())
}

/// The fanout scenario at each of `rates` in turn (fresh sessions each time); reports every
/// step and the highest deliveries/s whose p99 stayed under 50 ms.
pub async fn rising(
    common: Common,
    sessions: usize,
    tabs: usize,
    rates: Vec<u32>,
    spread: Vec<String>,
) -> anyhow::Result<()> {
    const P99_LIMIT_MS: f64 = 50.0;
    let seconds = common.duration as f64;
    let mut steps = Vec::new();
    println!("fanout, rising: {sessions} sessions × {tabs} tabs, {seconds} s per step");
    println!(
        "  {:>8} {:>14} {:>9} {:>9} {:>7} {:>7}",
        "rate", "deliveries/s", "p50 ms", "p99 ms", "gaps", "errors"
    );
    let mut over_in_a_row = 0;
    for rate in rates {
        // Two steps in a row over the limit end the series: higher rates only queue more.
        if over_in_a_row == 2 {
            break;
        }
        let load = Load::sockets(Traffic::Appends);
        let (total, _) = drive(&common, sessions, tabs, rate, spread.clone(), None, load).await?;
        let per_second = total.deliveries as f64 / seconds;
        let p50 = total.latency_us.value_at_quantile(0.5) as f64 / 1000.0;
        let p99 = total.latency_us.value_at_quantile(0.99) as f64 / 1000.0;
        println!(
            "  {rate:>8} {per_second:>14.0} {p50:>9.2} {p99:>9.2} {:>7} {:>7}",
            total.gaps, total.errors
        );
        over_in_a_row = if p99 < P99_LIMIT_MS {
            0
        } else {
            over_in_a_row + 1
        };
        let at = |h: &Histogram<u64>, q: f64| h.value_at_quantile(q) as f64 / 1000.0;
        steps.push(
            json!({ "rate": rate, "deliveries_per_second": per_second, "p50_ms": p50, "p99_ms": p99,
            "local_p50_ms": at(&total.local_us, 0.5), "local_p99_ms": at(&total.local_us, 0.99),
            "remote_p50_ms": at(&total.remote_us, 0.5), "remote_p99_ms": at(&total.remote_us, 0.99),
            "gaps": total.gaps, "errors": total.errors }),
        );
    }
    let best = steps
        .iter()
        .filter(|s| s["p99_ms"].as_f64().unwrap_or(f64::MAX) < P99_LIMIT_MS)
        .filter_map(|s| s["deliveries_per_second"].as_f64())
        .fold(0.0, f64::max);
    println!("  highest deliveries/s at p99 < {P99_LIMIT_MS} ms: {best:.0}");
    println!(
        "{}",
        json!({ "scenario": "fanout-rising", "sessions": sessions, "tabs": tabs,
        "steps": steps, "best_deliveries_per_second_p99_under_50ms": best })
    );
    Ok(())
}

/// Opens the sockets, writes (or signals) for `common.duration` seconds, and collects what
/// every tab saw; given the server's pid, its disk writes are metered from the first write on.
pub async fn drive(
    common: &Common,
    sessions: usize,
    tabs: usize,
    rate: u32,
    spread: Vec<String>,
    server_pid: Option<u32>,
    load: Load,
) -> anyhow::Result<(Totals, Option<ServerMeter>)> {
    let traffic = load.traffic;
    let client = Client::new(common, "load-fanout")?;
    let run = run_id();
    let base = Instant::now();
    let targets: Vec<String> = std::iter::once(&common.target)
        .chain(&spread)
        .map(|t| t.trim_end_matches('/').replacen("http", "ws", 1))
        .collect();
    let stop_at = Arc::new(AtomicU64::new(u64::MAX));
    // Writers wait for every socket to be open.
    let (start, started_rx) = tokio::sync::watch::channel(false);
    let mut readers = Vec::new();
    // The session and tab of each reader (tab 0 writes).
    let mut tabs_of = Vec::new();
    let mut writers = Vec::new();
    eprintln!("opening {} sockets…", sessions * tabs);
    for s in 0..sessions {
        let id = client.create(&format!("fanout-{run}-{s}")).await?;
        for t in 0..tabs {
            let target = &targets[t % targets.len()];
            // The writing tab is a socket; the others follow on sockets or event streams.
            let (mut stream, sink) = if t != 0 && load.receivers == Transport::Sse {
                let http = target.replacen("ws", "http", 1);
                let url = format!("{http}/api/live-chat-sessions/{id}/events");
                (sse::open(&client, &url).await?, None)
            } else {
                let url = format!("{target}/api/live-chat-sessions/{id}/live");
                let mut request = url.as_str().into_client_request()?;
                request
                    .headers_mut()
                    .insert("authorization", format!("Bearer {}", client.token).parse()?);
                let (ws, _) = tokio_tungstenite::connect_async(request)
                    .await
                    .context("connect")?;
                let (sink, stream) = ws.split();
                let stream = stream
                    .filter_map(|message| {
                        std::future::ready(match message {
                            Ok(Message::Text(text)) => Some(text.to_string()),
                            _ => None,
                        })
                    })
                    .boxed();
                (stream, Some(sink))
            };
            // The snapshot comes first.
            let snapshot = stream.next().await.context("no snapshot")?;
            let first_seq = first_seq(&snapshot)?;
            if let (0, Some(mut sink)) = (t, sink) {
                let (stop_at, run) = (Arc::clone(&stop_at), run.clone());
                let mut started = started_rx.clone();
                writers.push(tokio::spawn(async move {
                    let _ = started.wait_for(|go| *go).await;
                    // Writers spread evenly over the interval, as independent users would be.
                    let period = Duration::from_secs_f64(1.0 / f64::from(rate));
                    tokio::time::sleep(period.mul_f64(s as f64 / sessions as f64)).await;
                    let mut tick = tokio::time::interval(period);
                    let mut n: u64 = 0;
                    loop {
                        tick.tick().await;
                        let now = base.elapsed().as_micros() as u64;
                        if now >= stop_at.load(Ordering::Relaxed) {
                            return;
                        }
                        n += 1;
                        let frame = match traffic {
                            Traffic::Appends => json!({ "id": n, "type": "message.add", "prompt": format!("{now}"),
                                "images": [{ "url": format!("https://img.example/{run}/{s}/{n}.png") }] }),
                            // The send time and the signal's number, in a generation's progress.
                            Traffic::Signals => json!({ "id": n, "type": "signal", "data": { "kind": "generation",
                                "generation": format!("{run}-{s}"), "state": "progress", "sent": now, "n": n } }),
                        };
                        if sink.send(Message::text(frame.to_string())).await.is_err() {
                            return;
                        }
                    }
                }));
            }
            let stop_at = Arc::clone(&stop_at);
            let tab = Tab {
                t,
                remote: t % targets.len() != 0,
                first_seq,
            };
            readers.push(tokio::spawn(receive(stream, tab, traffic, base, stop_at)));
            tabs_of.push((s, t));
        }
    }
    eprintln!("writing for {} s…", common.duration);
    let disk = server_pid.map(ServerMeter::start).transpose()?;
    let started = base.elapsed();
    let _ = start.send(true);
    stop_at.store(
        (started + Duration::from_secs(common.duration)).as_micros() as u64,
        Ordering::Relaxed,
    );
    for writer in writers {
        let _ = writer.await;
    }
    let mut parts = Vec::with_capacity(readers.len());
    for reader in readers {
        parts.push(reader.await.unwrap_or_else(|_| Totals::new()));
    }
    let mut total = Totals::new();
    if traffic == Traffic::Signals {
        // What each receiving tab missed of the signals its session's writer had answered.
        let mut answered = vec![0; sessions];
        for (part, &(s, _)) in parts.iter().zip(&tabs_of) {
            answered[s] += part.signals_sent;
        }
        for (part, &(s, t)) in parts.iter_mut().zip(&tabs_of) {
            if t != 0 && part.deliveries < answered[s] {
                part.signals_lost = answered[s] - part.deliveries;
                part.tabs_with_losses = 1;
            }
        }
    }
    for part in &parts {
        total.add(part);
    }
    Ok((total, disk))
}

/// The `seq` of a session's first frame, its snapshot.
fn first_seq(snapshot: &str) -> anyhow::Result<u64> {
    let snapshot: Value = serde_json::from_str(snapshot)?;
    snapshot["seq"].as_u64().context("no snapshot seq")
}

/// A receiving tab: its number in its session (0 writes), whether it is on another instance
/// than the writer's, and the `seq` of its snapshot.
struct Tab {
    t: usize,
    remote: bool,
    first_seq: u64,
}

/// Reads one tab's frames until the run is over: deliveries, latencies, gaps, errors.
async fn receive(
    mut stream: BoxStream<'static, String>,
    tab: Tab,
    traffic: Traffic,
    base: Instant,
    stop_at: Arc<AtomicU64>,
) -> Totals {
    let Tab {
        t,
        remote,
        first_seq,
    } = tab;
    let mut totals = Totals::new();
    let mut last_seq = first_seq;
    // The number of the last signal received.
    let mut last_n = 0;
    loop {
        let grace = Duration::from_secs(2);
        let next = tokio::time::timeout(grace, stream.next()).await;
        let text = match next {
            Ok(Some(text)) => text,
            // The connection ended.
            Ok(None) => return totals,
            Err(_) if base.elapsed().as_micros() as u64 >= stop_at.load(Ordering::Relaxed) => {
                return totals;
            }
            Err(_) => continue,
        };
        let frame: Value = serde_json::from_str(&text).unwrap_or_default();
        match frame["type"].as_str() {
            Some("message.added") => {
                let seq = frame["seq"].as_u64().unwrap_or_default();
                if seq != last_seq + 1 {
                    totals.gaps += 1;
                }
                last_seq = seq;
                totals.deliveries += 1;
                if t == 0 {
                    totals.appends += 1;
                }
                let sent: u64 = frame["message"]["prompt"]
                    .as_str()
                    .and_then(|p| p.parse().ok())
                    .unwrap_or(0);
                if t != 0 {
                    let now = base.elapsed().as_micros() as u64;
                    let latency = now.saturating_sub(sent).max(1);
                    let _ = totals.latency_us.record(latency);
                    let _ = if remote {
                        totals.remote_us.record(latency)
                    } else {
                        totals.local_us.record(latency)
                    };
                }
            }
            Some("signal") if t == 0 => totals.signals_echoed += 1,
            Some("signal") => {
                let data = &frame["data"];
                let n = data["n"].as_u64().unwrap_or_default();
                if n != last_n + 1 {
                    totals.gaps += 1;
                }
                last_n = n;
                totals.deliveries += 1;
                let sent = data["sent"].as_u64().unwrap_or(0);
                let now = base.elapsed().as_micros() as u64;
                let _ = totals.latency_us.record(now.saturating_sub(sent).max(1));
            }
            Some("reply") if frame["ok"] == false => totals.errors += 1,
            Some("reply") if traffic == Traffic::Signals => totals.signals_sent += 1,
            _ => {}
        }
    }
}
