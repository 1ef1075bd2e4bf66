//! `soak`: live sessions writing over WebSocket with every tab reading (the fanout scenario at
//! a modest rate, on fresh sessions every `--chat-seconds`), plus restores over REST from
//! `--connections` connections, for `--minutes`.
//! Every 10 s it samples the server's resident memory and open descriptors; at the end it
//! reports errors, gaps and the growth of both from the minute after warm-up to the last.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::Rng as _;
use serde_json::json;

use crate::idle::{open_fds, rss_kib};
use crate::{Client, Common, fanout, run_workers, seed};

const SAMPLE_EVERY: Duration = Duration::from_secs(10);
/// Long enough for the first chats to end and their actors to be evicted (60 s idle).
const WARM_UP: Duration = Duration::from_secs(120);
const WINDOW: Duration = Duration::from_secs(60);

/// The live part of the mix: chats of `sessions` × `tabs`, each lasting `chat_seconds`.
pub struct Live {
    pub sessions: usize,
    pub tabs: usize,
    pub rate: u32,
    pub chat_seconds: u64,
}

pub async fn soak(
    common: Common,
    minutes: u64,
    chats: Live,
    server_pid: u32,
) -> anyhow::Result<()> {
    let Live {
        sessions,
        tabs,
        rate,
        chat_seconds,
    } = chats;
    let seconds = minutes.max(1) * 60;
    let run = Common {
        duration: seconds,
        ..common.clone()
    };
    let client = Arc::new(Client::new(&common, "load-soak")?);
    let targets = Arc::new(
        seed(
            &client,
            crate::Seeding {
                sessions: 20,
                images: 20,
                per_message: 1,
            },
        )
        .await?,
    );

    let live = {
        let run = run.clone();
        tokio::spawn(async move {
            // One generation of chats after another, each on fresh sessions.
            let end = Instant::now() + Duration::from_secs(seconds);
            let mut total = fanout::Totals::new();
            while let Some(left) = end.checked_duration_since(Instant::now()) {
                let appends = fanout::Load::sockets(fanout::Traffic::Appends);
                let chat = Common {
                    duration: chat_seconds.max(1).min(left.as_secs().max(1)),
                    ..run.clone()
                };
                total.add(
                    &fanout::drive(&chat, sessions, tabs, rate, Vec::new(), None, appends)
                        .await?
                        .0,
                );
            }
            anyhow::Ok(total)
        })
    };
    let restores = {
        let run = run.clone();
        tokio::spawn(async move {
            run_workers(&run, move |_| {
                let (client, targets) = (Arc::clone(&client), Arc::clone(&targets));
                async move {
                    let (id, _) = &targets[rand::rng().random_range(0..targets.len())];
                    client
                        .check(client.http.get(format!("{}/{id}", client.base)))
                        .await
                        .map(drop)
                }
            })
            .await
        })
    };

    let started = Instant::now();
    let mut samples: Vec<(u64, u64, usize)> = Vec::new();
    while started.elapsed() < Duration::from_secs(seconds) {
        tokio::time::sleep(SAMPLE_EVERY).await;
        let (rss, fds) = (rss_kib(server_pid)?, open_fds(server_pid)?);
        let at = started.elapsed().as_secs();
        eprintln!("{at:>5} s  RSS {:>7.1} MB  fds {fds}", rss as f64 / 1024.0);
        samples.push((at, rss, fds));
    }
    let live = live.await??;
    let restores = restores.await?;

    // Sockets close and open as chats end, so each figure is the peak over a minute: the
    // minute after warm-up against the last minute.
    let end = samples.last().map_or(0, |(at, _, _)| *at);
    let window = WINDOW.as_secs();
    let peak = |from: u64| {
        samples
            .iter()
            .filter(|(at, _, _)| *at > from && *at <= from + window)
            .fold((0, 0), |(rss, fds), (_, r, f)| (rss.max(*r), fds.max(*f)))
    };
    if end < WARM_UP.as_secs() + 2 * window {
        anyhow::bail!("run at least four minutes to see growth after the warm-up");
    }
    let (first, last) = (peak(WARM_UP.as_secs()), peak(end - window));
    let growth = |a: f64, b: f64| if a > 0.0 { (b - a) / a * 100.0 } else { 0.0 };
    let rss_growth = growth(first.0 as f64, last.0 as f64);
    let fd_growth = growth(first.1 as f64, last.1 as f64);
    println!(
        "soak: {minutes} min; {sessions} live sessions × {tabs} tabs at {rate} writes/s; restores on {} connections",
        common.connections
    );
    println!(
        "  {:>12} {:>6} {:>6} {:>14} {:>10} {:>12} {:>10}",
        "deliveries", "gaps", "errors", "restores", "errors", "RSS growth", "fd growth"
    );
    println!(
        "  {:>12} {:>6} {:>6} {:>14} {:>10} {:>11.1}% {:>9.1}%",
        live.deliveries,
        live.gaps,
        live.errors,
        restores.ok(),
        restores.errors(),
        rss_growth,
        fd_growth
    );
    println!(
        "{}",
        json!({
            "scenario": "soak", "minutes": minutes, "deliveries": live.deliveries, "gaps": live.gaps,
            "live_errors": live.errors, "restores": restores.ok(), "restore_errors": restores.errors(),
            "rss_kib_after_warm_up": first.0, "rss_kib_at_end": last.0, "rss_growth_percent": rss_growth,
            "fds_after_warm_up": first.1, "fds_at_end": last.1, "fd_growth_percent": fd_growth,
            "samples": samples.iter().map(|(at, rss, fds)| json!([at, rss, fds])).collect::<Vec<_>>(),
        })
    );
    Ok(())
}
