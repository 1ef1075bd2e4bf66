//! What operators see: logs (text or JSON on stderr), Prometheus metrics, and OpenTelemetry
//! traces when asked for.
//!
//! Work is logged inside spans that name it: a request's span carries its `request_id`,
//! `method`, `route` and, once authenticated, `uid`; a socket's carries its `request_id`,
//! `session`, `socket` number and `uid`. Every line logged within one carries those fields.

pub mod metrics;
pub mod traces;

use clap::ValueEnum;
use tracing_subscriber::EnvFilter;

/// `--log-format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines (coloured on a terminal).
    #[default]
    Text,
    /// One JSON object per line, with the fields of every enclosing span.
    Json,
}

/// Logs to stderr in `format`, filtered by `RUST_LOG` (default `info`); and, when the
/// environment names an OTLP endpoint, exports traces (see [`traces`]). The answer, if any,
/// must be kept until exit: dropping it flushes the spans not yet exported.
pub fn init_logs(format: LogFormat) -> Option<traces::Traces> {
    let filter = || EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let (traces, tracer) = match traces::from_env() {
        Ok(Some((traces, tracer))) => (traces, tracer),
        Ok(None) => {
            // Without traces, one global filter: per-layer filtering costs every span.
            init_logs_only(format, filter());
            return None;
        }
        Err(err) => {
            init_logs_only(format, filter());
            tracing::warn!(error = %err, "traces are off: cannot set up the OTLP exporter");
            return None;
        }
    };
    use tracing_subscriber::Layer as _;
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .log_internal_errors(false);
    let fmt = match format {
        LogFormat::Text => fmt
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .with_filter(filter())
            .boxed(),
        LogFormat::Json => fmt
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(true)
            .with_filter(filter())
            .boxed(),
    };
    // The server's own spans, whatever RUST_LOG lets the log show.
    let spans = tracing_subscriber::filter::Targets::new()
        .with_target("livechat_sessions", tracing::Level::INFO);
    let otel = tracing_opentelemetry::layer()
        .with_tracer(tracer)
        .with_filter(spans);
    tracing_subscriber::registry().with(fmt).with(otel).init();
    tracing::info!("exporting traces over OTLP");
    Some(traces)
}

fn init_logs_only(format: LogFormat, filter: EnvFilter) {
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // A log line that cannot be written (stderr on a full disk) is dropped: the fallback
        // would print the failure to stderr, and a failed print panics the task logging it.
        .log_internal_errors(false);
    match format {
        LogFormat::Text => builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(true)
            .init(),
    }
}
