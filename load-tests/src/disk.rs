//! What the server wrote to disk while a scenario ran: `write_bytes` of `/proc/PID/io`, the
//! bytes the process caused to be sent to storage (a page counts when it is dirtied, so the
//! same page dirtied again before the kernel writes it back counts once).

use std::time::Duration;

use anyhow::Context as _;
use serde_json::{Value, json};

fn written(pid: u32) -> anyhow::Result<u64> {
    let io = std::fs::read_to_string(format!("/proc/{pid}/io"))
        .with_context(|| format!("cannot read /proc/{pid}/io"))?;
    io.lines()
        .find_map(|line| line.strip_prefix("write_bytes:"))
        .and_then(|n| n.trim().parse().ok())
        .context("no write_bytes in /proc/PID/io")
}

pub struct DiskMeter {
    pid: u32,
    start: u64,
}

impl DiskMeter {
    pub fn start(pid: u32) -> anyhow::Result<Self> {
        Ok(Self {
            pid,
            start: written(pid)?,
        })
    }

    /// Waits until the server has written what it defers (its count unchanged for a second,
    /// or 15 s at most), then answers the bytes written since `start` and per durable append.
    pub async fn finish(&self, appends: u64) -> anyhow::Result<Value> {
        let mut last = written(self.pid)?;
        let mut still = 0;
        for _ in 0..30 {
            tokio::time::sleep(Duration::from_millis(500)).await;
            let now = written(self.pid)?;
            still = if now == last { still + 1 } else { 0 };
            last = now;
            if still == 2 {
                break;
            }
        }
        let bytes = last - self.start;
        let per_append = bytes as f64 / appends.max(1) as f64;
        println!(
            "  disk: {bytes} bytes written by the server, {per_append:.0} per durable append ({appends})"
        );
        Ok(
            json!({ "disk_bytes": bytes, "disk_bytes_per_append": per_append, "durable_appends": appends }),
        )
    }
}
