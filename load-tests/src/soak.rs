//! `soak`: live sessions writing over WebSocket with every tab reading (the fanout scenario at
//! a modest rate), plus restores over REST from `--connections` connections, for `--minutes`.
//! Every 10 s it samples the server's resident memory and open descriptors; at the end it
//! reports errors, gaps and the growth of both after the first minute (warm-up).

use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::Rng as _;
use serde_json::json;

use crate::idle::{open_fds, rss_kib};
use crate::{Client, Common, fanout, run_workers, seed};

const SAMPLE_EVERY: Duration = Duration::from_secs(10);
const WARM_UP: Duration = Duration::from_secs(60);

pub async fn soak(
    common: Common,
    minutes: u64,
    sessions: usize,
    tabs: usize,
    rate: u32,
    server_pid: u32,
) -> anyhow::Result<()> {
    let seconds = minutes.max(1) * 60;
    let run = Common {
        duration: seconds,
        ..common.clone()
    };
    let client = Arc::new(Client::new(&common, "load-soak")?);
    let targets = Arc::new(seed(&client, 20, 20).await?);

    let live = {
        let run = run.clone();
        tokio::spawn(async move { fanout::drive(&run, sessions, tabs, rate, Vec::new()).await })
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

    let after_warm_up: Vec<&(u64, u64, usize)> = samples
        .iter()
        .filter(|(at, _, _)| *at >= WARM_UP.as_secs())
        .collect();
    let (first, last) = match (after_warm_up.first(), after_warm_up.last()) {
        (Some(first), Some(last)) => (**first, **last),
        _ => anyhow::bail!("run at least two minutes to see growth after the warm-up"),
    };
    let growth = |a: f64, b: f64| if a > 0.0 { (b - a) / a * 100.0 } else { 0.0 };
    let rss_growth = growth(first.1 as f64, last.1 as f64);
    let fd_growth = growth(first.2 as f64, last.2 as f64);
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
            "rss_kib_after_warm_up": first.1, "rss_kib_at_end": last.1, "rss_growth_percent": rss_growth,
            "fds_after_warm_up": first.2, "fds_at_end": last.2, "fd_growth_percent": fd_growth,
            "samples": samples.iter().map(|(at, rss, fds)| json!([at, rss, fds])).collect::<Vec<_>>(),
        })
    );
    Ok(())
}
