//! Prometheus metrics (`GET /metrics`), through the `metrics` facade.
//!
//! Every name starts with `livechat_`. Labels are bounded: a route template, a close code, a
//! command type, an outcome, never a session id or a uid. Metrics of the hot paths are handles
//! made once ([`Metrics`]), so counting is an atomic add; the others go through the macros.
//! The recorder is process-wide: several servers in one process (tests) share it.

use std::sync::OnceLock;
use std::time::Duration;

use metrics::{
    Counter, Gauge, Histogram, Unit, counter, describe_counter, describe_gauge, describe_histogram,
    gauge, histogram,
};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Latency buckets, in seconds: from well under a millisecond (an event to a socket) to the
/// store's time-out.
const BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

/// Handles of the metrics counted on hot paths.
pub struct Metrics {
    pub events_delivered: Counter,
    pub sockets_open: Gauge,
    pub sessions_live: Gauge,
    pub commits_ok: Counter,
    pub commits_conflict: Counter,
    pub commits_failed: Counter,
    pub commit_duration: Histogram,
    pub broadcast_duration: Histogram,
    pub resumes_replayed: Counter,
    pub resumes_snapshot: Counter,
    pub catch_ups: Counter,
    pub key_fetches_ok: Counter,
    pub key_fetches_failed: Counter,
}

/// The gauge of the Redis subscription; registered only by a server that uses Redis, so that a
/// single instance does not report itself disconnected.
pub fn redis_connected() -> Gauge {
    gauge!("livechat_redis_connected")
}

/// The gauge of commits the SQLite store has journaled and not yet written into its tables;
/// registered only by a server on SQLite.
pub fn sqlite_journaled_commits() -> Gauge {
    gauge!("livechat_sqlite_journaled_commits")
}

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
static METRICS: OnceLock<Metrics> = OnceLock::new();

/// Installs the process's recorder (once; later calls return the same handle) and describes
/// every metric. Must run before anything is counted.
pub fn install() -> anyhow::Result<PrometheusHandle> {
    if let Some(handle) = HANDLE.get() {
        return Ok(handle.clone());
    }
    let recorder = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), BUCKETS)?
        .build_recorder();
    let handle = recorder.handle();
    // Another thread may have won the race; then its recorder is the one in use.
    if metrics::set_global_recorder(recorder).is_err() {
        return HANDLE
            .get()
            .cloned()
            .ok_or_else(|| anyhow::anyhow!("another metrics recorder is installed"));
    }
    describe();
    let _ = METRICS.set(Metrics::register());
    let _ = HANDLE.set(handle.clone());
    // Histogram samples queue up until folded into their buckets: fold them now and then, so
    // that memory stays flat however rarely Prometheus scrapes.
    let upkeep = handle.clone();
    std::thread::Builder::new()
        .name("metrics-upkeep".into())
        .spawn(move || {
            loop {
                std::thread::sleep(Duration::from_secs(5));
                upkeep.run_upkeep();
            }
        })?;
    Ok(handle)
}

/// The hot-path handles; no-ops until [`install`] has run.
pub fn metrics() -> &'static Metrics {
    static NOOP: OnceLock<Metrics> = OnceLock::new();
    METRICS
        .get()
        .unwrap_or_else(|| NOOP.get_or_init(Metrics::noop))
}

impl Metrics {
    fn register() -> Self {
        Self {
            events_delivered: counter!("livechat_events_delivered_total"),
            sockets_open: gauge!("livechat_sockets_open"),
            sessions_live: gauge!("livechat_sessions_live"),
            commits_ok: counter!("livechat_store_commits_total", "result" => "ok"),
            commits_conflict: counter!("livechat_store_commits_total", "result" => "conflict"),
            commits_failed: counter!("livechat_store_commits_total", "result" => "error"),
            commit_duration: histogram!("livechat_store_commit_duration_seconds"),
            broadcast_duration: histogram!("livechat_broadcast_duration_seconds"),
            resumes_replayed: counter!("livechat_resumes_total", "outcome" => "replayed"),
            resumes_snapshot: counter!("livechat_resumes_total", "outcome" => "snapshot"),
            catch_ups: counter!("livechat_socket_catch_ups_total"),
            key_fetches_ok: counter!("livechat_auth_key_fetches_total", "result" => "ok"),
            key_fetches_failed: counter!("livechat_auth_key_fetches_total", "result" => "error"),
        }
    }

    fn noop() -> Self {
        Self {
            events_delivered: Counter::noop(),
            sockets_open: Gauge::noop(),
            sessions_live: Gauge::noop(),
            commits_ok: Counter::noop(),
            commits_conflict: Counter::noop(),
            commits_failed: Counter::noop(),
            commit_duration: Histogram::noop(),
            broadcast_duration: Histogram::noop(),
            resumes_replayed: Counter::noop(),
            resumes_snapshot: Counter::noop(),
            catch_ups: Counter::noop(),
            key_fetches_ok: Counter::noop(),
            key_fetches_failed: Counter::noop(),
        }
    }
}

/// One HTTP request answered: `route` is the matched template (`/api/live-chat-sessions/{id}`),
/// or `unmatched`.
pub fn http_request(method: &'static str, route: &'static str, status: u16, elapsed: Duration) {
    counter!(
        "livechat_http_requests_total",
        "method" => method,
        "route" => route,
        "status" => status_label(status),
    )
    .increment(1);
    histogram!(
        "livechat_http_request_duration_seconds",
        "method" => method,
        "route" => route,
    )
    .record(elapsed.as_secs_f64());
}

/// A socket ended: `code` is the close code the server sent, or `None` when the peer closed
/// first or vanished.
/// A held answer was compressed with `encoding` (once per version and coding).
pub fn body_compressed(encoding: &'static str) {
    counter!("livechat_body_compressions_total", "encoding" => encoding).increment(1);
}

pub fn socket_closed(code: Option<u16>) {
    let code = match code {
        Some(code) => code.to_string(),
        None => "peer".to_owned(),
    };
    counter!("livechat_socket_closes_total", "code" => code).increment(1);
}

/// A connection over `--max-connections` was answered 503 and closed.
pub fn connection_refused() {
    counter!("livechat_connections_refused_total").increment(1);
}

/// One operation of a store and the calls it made one after another (calls made at once
/// count once).
pub fn store_operation(store: &'static str, op: &'static str, calls: u64) {
    counter!("livechat_store_calls_total", "store" => store, "op" => op).increment(calls);
    counter!("livechat_store_operations_total", "store" => store, "op" => op).increment(1);
}

/// A read of a session's messages and images (one per session read, both queried at once);
/// a read that finds the session's body held at its version makes none.
pub fn subcollection_read(store: &'static str) {
    counter!("livechat_store_subcollection_reads_total", "store" => store).increment(1);
}

/// A restore queried for sessions still in the original one-document shape.
pub fn original_session_query() {
    counter!("livechat_store_original_queries_total").increment(1);
}

/// A command a socket sent, by its `type` (unknown types are counted as `unknown`).
pub fn socket_command(kind: &'static str) {
    counter!("livechat_socket_commands_total", "type" => kind).increment(1);
}

/// An error reply a socket was sent, by its code.
pub fn socket_error_reply(code: &'static str) {
    counter!("livechat_socket_error_replies_total", "code" => code).increment(1);
}

/// A token refused (or not checkable), by why.
pub fn auth_refused(reason: &'static str) {
    counter!("livechat_auth_refusals_total", "reason" => reason).increment(1);
}

/// The codes the server answers with as themselves, anything else by its class.
#[allow(clippy::match_overlapping_arm)] // the exact codes come first on purpose
fn status_label(status: u16) -> &'static str {
    match status {
        101 => "101",
        200 => "200",
        304 => "304",
        400 => "400",
        401 => "401",
        403 => "403",
        404 => "404",
        405 => "405",
        409 => "409",
        413 => "413",
        429 => "429",
        503 => "503",
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    }
}

fn describe() {
    describe_counter!(
        "livechat_http_requests_total",
        "HTTP requests answered, by method, route template and status."
    );
    describe_histogram!(
        "livechat_http_request_duration_seconds",
        Unit::Seconds,
        "Time from a request's arrival to its answer, by method and route template."
    );
    describe_gauge!("livechat_sockets_open", "WebSockets open on this instance.");
    describe_gauge!(
        "livechat_sessions_live",
        "Sessions whose actor is in memory on this instance."
    );
    describe_counter!(
        "livechat_store_commits_total",
        "Group commits to the store, by result: ok, conflict (lost a seq race, retried), error."
    );
    describe_histogram!(
        "livechat_store_commit_duration_seconds",
        Unit::Seconds,
        "Time one group commit took in the store."
    );
    describe_counter!(
        "livechat_events_delivered_total",
        "Session events queued to sockets (one per event per socket, replays included)."
    );
    describe_histogram!(
        "livechat_broadcast_duration_seconds",
        Unit::Seconds,
        "Time from a commit's acknowledgement by the store to its events reaching the session's room."
    );
    describe_counter!(
        "livechat_socket_closes_total",
        "Sockets ended, by the close code the server sent (peer: the client closed or vanished)."
    );
    describe_counter!(
        "livechat_connections_refused_total",
        "Connections answered 503 and closed because --max-connections were open."
    );
    describe_counter!(
        "livechat_resumes_total",
        "Sockets that attached with sinceSeq, by outcome: replayed (the missed events), snapshot (too far behind)."
    );
    describe_counter!(
        "livechat_socket_catch_ups_total",
        "Times a socket fell behind its session's in-memory ring and caught up from the event log."
    );
    describe_counter!(
        "livechat_store_calls_total",
        "Calls to the store made one after another (round trips), by store and operation; calls made at once count once."
    );
    describe_counter!(
        "livechat_store_operations_total",
        "Store operations, by store and operation (calls ÷ operations is the round trips of one)."
    );
    describe_counter!(
        "livechat_store_subcollection_reads_total",
        "Reads of a session's messages and images (Firestore); a read that finds the session's body held at its version makes none."
    );
    describe_counter!(
        "livechat_store_original_queries_total",
        "Restores that also queried for sessions in the original one-document shape (until migrate-firestore --apply records that none is left)."
    );
    describe_counter!(
        "livechat_socket_commands_total",
        "Commands received over sockets, by type."
    );
    describe_counter!(
        "livechat_socket_error_replies_total",
        "Error replies sent over sockets, by code."
    );
    describe_gauge!(
        "livechat_sqlite_journaled_commits",
        "Commits acknowledged from the SQLite journal and not yet written into its tables (only on SQLite)."
    );
    describe_gauge!(
        "livechat_redis_connected",
        "1 while the Redis subscription between instances is up, 0 while it is not (only with Redis)."
    );
    describe_counter!(
        "livechat_auth_key_fetches_total",
        "Fetches of token signing keys (Firebase, JWKS), by result."
    );
    describe_counter!(
        "livechat_auth_refusals_total",
        "Tokens refused, by reason: missing, expired, invalid, unavailable (keys not fetched yet)."
    );
}
