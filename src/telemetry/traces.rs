//! OpenTelemetry traces, exported over OTLP/HTTP (protobuf) when the standard variables ask for
//! them: `OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) turns them on;
//! `OTEL_SERVICE_NAME`, `OTEL_TRACES_SAMPLER` and `OTEL_TRACES_SAMPLER_ARG`, the batch
//! processor's `OTEL_BSP_*` and the exporter's other `OTEL_EXPORTER_OTLP_*` variables are read
//! by the OpenTelemetry SDK as usual. Without an endpoint nothing is set up: the spans below
//! are not even created ([`enabled`] is checked first), so the hot path pays one atomic load.
//!
//! A trace follows a write through the system: the REST request or socket command (continuing
//! the caller's W3C `traceparent`), the actor's group commit (a child of the first write it
//! carries, linked to every other), the store's calls, the Redis publish, and on every other
//! instance the delivery of the notice to its sockets, any gap fill from the store included
//! (the `traceparent` travels inside the Redis message).

use std::sync::atomic::{AtomicBool, Ordering};

use axum::http::HeaderMap;
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator as _};
use opentelemetry::trace::{TraceContextExt as _, TracerProvider as _};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

static ENABLED: AtomicBool = AtomicBool::new(false);

/// Whether traces are exported (and so whether the spans of a write are made at all).
#[inline]
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// The exporting pipeline, flushed when dropped at shutdown.
pub struct Traces {
    provider: SdkTracerProvider,
}

impl Drop for Traces {
    fn drop(&mut self) {
        let _ = self.provider.shutdown();
    }
}

/// Whether the environment asks for traces: an OTLP endpoint is named.
pub fn requested() -> bool {
    [
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        "OTEL_EXPORTER_OTLP_ENDPOINT",
    ]
    .iter()
    .any(|name| std::env::var(name).is_ok_and(|value| !value.trim().is_empty()))
}

/// The exporter and the tracer the `tracing` layer writes to, if the environment asks for
/// traces. Called before the async runtime starts (the exporter's HTTP client is blocking and
/// runs on the batch processor's own thread).
pub fn from_env() -> anyhow::Result<Option<(Traces, opentelemetry_sdk::trace::Tracer)>> {
    if !requested() {
        return Ok(None);
    }
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .build()?;
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .build();
    let tracer = provider.tracer("livechat-sessions");
    ENABLED.store(true, Ordering::Relaxed);
    Ok(Some((Traces { provider }, tracer)))
}

/// Continues the caller's trace (W3C `traceparent` and `tracestate` in `headers`) in `span`.
pub fn continue_from_headers(span: &Span, headers: &HeaderMap) {
    if !enabled() || !headers.contains_key("traceparent") {
        return;
    }
    let parent = TraceContextPropagator::new().extract(&Headers(headers));
    let _ = span.set_parent(parent);
}

/// Continues the trace named by a `traceparent` (a socket command's, a Redis message's).
pub fn continue_from(span: &Span, traceparent: &str) {
    if !enabled() {
        return;
    }
    let carrier = Single(traceparent);
    let parent = TraceContextPropagator::new().extract(&carrier);
    if parent.span().span_context().is_valid() {
        let _ = span.set_parent(parent);
    }
}

/// The `traceparent` naming `span`, to carry to another process; `None` when traces are off.
pub fn traceparent(span: &Span) -> Option<String> {
    if !enabled() {
        return None;
    }
    let mut carrier = Carried(None);
    TraceContextPropagator::new().inject_context(&span.context(), &mut carrier);
    carrier.0
}

/// Links `span` to the work `other` did (a group commit to each write it carries).
pub fn link(span: &Span, other: &Span) {
    if !enabled() {
        return;
    }
    let context = other.context().span().span_context().clone();
    if context.is_valid() {
        span.add_link(context);
    }
}

/// Records the ids of `span`'s trace as its `trace_id` and `span_id` fields (declared empty),
/// so that every log line written within it carries them.
pub fn record_ids(span: &Span) {
    if !enabled() {
        return;
    }
    let context = span.context();
    let otel = context.span();
    let ids = otel.span_context();
    if ids.is_valid() {
        span.record("trace_id", tracing::field::display(ids.trace_id()));
        span.record("span_id", tracing::field::display(ids.span_id()));
    }
}

/// The span of one piece of work when traces are on, a disabled span otherwise.
#[macro_export]
macro_rules! traced_span {
    ($($arg:tt)*) => {
        if $crate::telemetry::traces::enabled() {
            ::tracing::info_span!($($arg)*)
        } else {
            ::tracing::Span::none()
        }
    };
}

struct Headers<'h>(&'h HeaderMap);

impl Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|value| value.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|name| name.as_str()).collect()
    }
}

struct Single<'a>(&'a str);

impl Extractor for Single<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        (key == "traceparent").then_some(self.0)
    }

    fn keys(&self) -> Vec<&str> {
        vec!["traceparent"]
    }
}

struct Carried(Option<String>);

impl Injector for Carried {
    fn set(&mut self, key: &str, value: String) {
        if key == "traceparent" {
            self.0 = Some(value);
        }
    }
}

/// The span a command to a session's actor was sent from (a request, a socket command, a
/// notice from another instance), carried to the actor when traces are on: one pointer, empty
/// otherwise.
#[derive(Default)]
pub struct Origin(Option<Box<Span>>);

impl Origin {
    /// The current span, if traces are on.
    pub fn current() -> Self {
        if enabled() {
            Self(Some(Box::new(Span::current())))
        } else {
            Self(None)
        }
    }

    pub fn span(&self) -> Option<&Span> {
        self.0.as_deref().filter(|span| !span.is_none())
    }
}
