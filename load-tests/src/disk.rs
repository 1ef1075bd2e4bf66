//! What the server wrote to disk while a scenario ran: `write_bytes` of `/proc/PID/io`, the
//! bytes the process caused to be sent to storage (a page counts when it is dirtied, so the
//! same page dirtied again before the kernel writes it back counts once); and the CPU time it
//! used (`utime` + `stime` of `/proc/PID/stat`), a cost that the machine's load moves less than
//! it moves latencies.

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

/// The CPU time the process has used, in seconds.
fn cpu_seconds(pid: u32) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("cannot read /proc/{pid}/stat"))?;
    // The fields after the command's name (which ends with the last ')'): utime and stime are
    // the 14th and 15th of the line, the 12th and 13th after it.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .context("no command name in /proc/PID/stat")?
        .1
        .split_whitespace()
        .collect();
    let ticks = |n: usize| -> anyhow::Result<u64> {
        fields
            .get(n)
            .and_then(|field| field.parse().ok())
            .context("no utime or stime in /proc/PID/stat")
    };
    // In USER_HZ, which Linux reports /proc's times in: 100 per second on its architectures.
    Ok((ticks(11)? + ticks(12)?) as f64 / 100.0)
}

/// What the server wrote to disk and the CPU time it used, from `start` on.
pub struct ServerMeter {
    pid: u32,
    start: u64,
    cpu_start: f64,
}

impl ServerMeter {
    pub fn start(pid: u32) -> anyhow::Result<Self> {
        Ok(Self {
            pid,
            start: written(pid)?,
            cpu_start: cpu_seconds(pid)?,
        })
    }

    /// The server's CPU time since `start`, in seconds and in microseconds per unit of work:
    /// read when the measurement ends, before anything else the scenario does.
    pub fn cpu(&self, units: u64) -> anyhow::Result<Value> {
        let seconds = cpu_seconds(self.pid)? - self.cpu_start;
        let per_unit_us = seconds * 1e6 / units.max(1) as f64;
        println!("  server CPU: {seconds:.2} s, {per_unit_us:.1} µs per unit ({units})");
        Ok(json!({ "cpu_seconds": seconds, "cpu_us_per_unit": per_unit_us, "units": units }))
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
