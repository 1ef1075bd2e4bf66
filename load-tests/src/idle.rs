//! `idle`: N sockets attached and silent, spread over S sessions; the server's resident memory
//! before and after, per socket (from `/proc/PID/status` of `--server-pid`). Past ~28,000
//! sockets one source address runs out of ports, so sockets spread over 127.0.0.x. With
//! `--list`, the sockets follow the user's list (`GET /api/live-chat-sessions/live`) instead.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use futures::StreamExt as _;
use serde_json::json;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;

use crate::{Client, Common, run_id};

/// Sockets per source address.
const PER_SOURCE: usize = 20_000;

pub fn rss_kib(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("no process {pid}"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .context("no VmRSS")
}

pub fn open_fds(pid: u32) -> anyhow::Result<usize> {
    Ok(std::fs::read_dir(format!("/proc/{pid}/fd"))?.count())
}

pub async fn idle(
    common: Common,
    sockets: usize,
    sessions: usize,
    server_pid: u32,
    hold: u64,
    list: bool,
) -> anyhow::Result<()> {
    let client = Client::new(&common, "load-idle")?;
    let run = run_id();
    let mut ids = Vec::with_capacity(sessions);
    for s in 0..sessions.max(1) {
        ids.push(client.create(&format!("idle-{run}-{s}")).await?);
    }
    let target: SocketAddr = common
        .target
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .parse()
        .context("--target must be http://IP:PORT")?;
    let ws_base = common
        .target
        .trim_end_matches('/')
        .replacen("http", "ws", 1);
    // Settle, then measure the baseline memory with every session in place.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = rss_kib(server_pid)?;
    let started = Instant::now();
    let mut held = Vec::with_capacity(sockets);
    for n in 0..sockets {
        let source = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1 + (n / PER_SOURCE) as u8));
        let socket = tokio::net::TcpSocket::new_v4()?;
        socket.bind(SocketAddr::new(source, 0))?;
        let stream = socket.connect(target).await?;
        let url = if list {
            format!("{ws_base}/api/live-chat-sessions/live")
        } else {
            format!(
                "{ws_base}/api/live-chat-sessions/{}/live",
                ids[n % ids.len()]
            )
        };
        let mut request = url.into_client_request()?;
        request
            .headers_mut()
            .insert("authorization", format!("Bearer {}", client.token).parse()?);
        let (mut ws, _) = tokio_tungstenite::client_async(
            request,
            tokio_tungstenite::MaybeTlsStream::Plain(stream),
        )
        .await?;
        // The snapshot (or the list's `sessions` page), so the socket is fully attached.
        ws.next().await.context("no snapshot")??;
        held.push(ws);
        if (n + 1) % 1_000 == 0 {
            eprint!("\r{} sockets open", n + 1);
        }
    }
    eprintln!();
    // Let the presence pushes settle, then hold.
    tokio::time::sleep(Duration::from_secs(hold)).await;
    let after = rss_kib(server_pid)?;
    let fds = open_fds(server_pid)?;
    let added = after.saturating_sub(before);
    let per_socket = added as f64 * 1024.0 / sockets.max(1) as f64;
    let kind = if list { "the user's list" } else { "sessions" };
    println!(
        "idle: {sockets} sockets on {kind} ({sessions} sessions), opened in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    println!(
        "  {:>14} {:>14} {:>14} {:>16} {:>10}",
        "RSS before MB", "RSS after MB", "added MB", "bytes per socket", "server fds"
    );
    println!(
        "  {:>14.1} {:>14.1} {:>14.1} {:>16.0} {:>10}",
        before as f64 / 1024.0,
        after as f64 / 1024.0,
        added as f64 / 1024.0,
        per_socket,
        fds
    );
    println!(
        "{}",
        json!({ "scenario": if list { "idle-list" } else { "idle" }, "sockets": sockets, "sessions": sessions,
        "rss_before_kib": before, "rss_after_kib": after, "bytes_per_socket": per_socket, "server_fds": fds })
    );
    drop(held);
    Ok(())
}
