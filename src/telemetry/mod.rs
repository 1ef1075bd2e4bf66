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
    use tracing_subscriber::Layer as _;
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;

    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        // A log line that cannot be written (stderr on a full disk) is dropped: the fallback
        // would print the failure to stderr, and a failed print panics the task logging it.
        .log_internal_errors(false);
    let fmt = match format {
        LogFormat::Text => fmt
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .with_filter(filter)
            .boxed(),
        LogFormat::Json => fmt
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(true)
            .with_filter(filter)
            .boxed(),
    };
    let (traces, otel) = match traces::from_env() {
        Ok(Some((traces, tracer))) => {
            // The server's own spans, whatever RUST_LOG lets the log show.
            let spans = tracing_subscriber::filter::Targets::new()
                .with_target("livechat_sessions", tracing::Level::INFO);
            let layer = tracing_opentelemetry::layer()
                .with_tracer(tracer)
                .with_filter(spans);
            (Some(traces), Some(layer))
        }
        Ok(None) => (None, None),
        Err(err) => {
            eprintln!("traces are off: cannot set up the OTLP exporter: {err}");
            (None, None)
        }
    };
    tracing_subscriber::registry().with(fmt).with(otel).init();
    if traces.is_some() {
        tracing::info!("exporting traces over OTLP");
    }
    traces
}
