//! Latency histograms and the table/JSON a scenario prints.

use std::time::Duration;

use hdrhistogram::Histogram;
use serde_json::{Value, json};

use crate::Common;

pub struct Recorder {
    latency_us: Histogram<u64>,
    errors: u64,
    first_error: Option<String>,
    elapsed: Duration,
}

impl Recorder {
    pub fn new() -> Self {
        Self {
            latency_us: Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid bounds"),
            errors: 0,
            first_error: None,
            elapsed: Duration::ZERO,
        }
    }

    pub fn record(&mut self, latency: Duration, error: Option<anyhow::Error>) {
        match error {
            None => {
                let us = (latency.as_micros() as u64).clamp(1, 60_000_000);
                let _ = self.latency_us.record(us);
            }
            Some(err) => {
                self.errors += 1;
                self.first_error.get_or_insert_with(|| format!("{err:#}"));
            }
        }
    }

    pub fn merge(&mut self, other: Recorder) {
        let _ = self.latency_us.add(&other.latency_us);
        self.errors += other.errors;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
    }

    pub fn ok(&self) -> u64 {
        self.latency_us.len()
    }

    pub fn errors(&self) -> u64 {
        self.errors
    }

    pub fn finish(&mut self, elapsed: Duration) {
        self.elapsed = elapsed;
    }

    /// The figures of a run: acknowledged calls, errors, and latency quantiles in ms.
    pub fn figures(&self) -> Value {
        let ms = |q: f64| self.latency_us.value_at_quantile(q) as f64 / 1000.0;
        let ok = self.latency_us.len();
        json!({
            "ok": ok,
            "per_second": ok as f64 / self.elapsed.as_secs_f64().max(1e-9),
            "p50_ms": ms(0.5), "p95_ms": ms(0.95), "p99_ms": ms(0.99),
            "max_ms": self.latency_us.max() as f64 / 1000.0,
            "errors": self.errors,
        })
    }

    pub fn print(&self, scenario: &str, common: &Common, params: Value) {
        let ms = |q: f64| self.latency_us.value_at_quantile(q) as f64 / 1000.0;
        let ok = self.latency_us.len();
        let rate = ok as f64 / self.elapsed.as_secs_f64().max(1e-9);
        println!(
            "{scenario}: {} connections, {:.1} s",
            common.connections,
            self.elapsed.as_secs_f64()
        );
        println!(
            "  {:>12} {:>9} {:>9} {:>9} {:>9} {:>9}",
            "ok/s", "p50 ms", "p95 ms", "p99 ms", "max ms", "errors"
        );
        println!(
            "  {rate:>12.0} {:>9.2} {:>9.2} {:>9.2} {:>9.2} {:>9}",
            ms(0.5),
            ms(0.95),
            ms(0.99),
            self.latency_us.max() as f64 / 1000.0,
            self.errors
        );
        if let Some(err) = &self.first_error {
            println!("  first error: {err}");
        }
        let summary = json!({
            "scenario": scenario,
            "connections": common.connections,
            "params": params,
            "seconds": self.elapsed.as_secs_f64(),
            "ok": ok,
            "per_second": rate,
            "p50_ms": ms(0.5), "p95_ms": ms(0.95), "p99_ms": ms(0.99),
            "max_ms": self.latency_us.max() as f64 / 1000.0,
            "errors": self.errors,
        });
        println!("{summary}");
    }
}
