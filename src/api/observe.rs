//! Around every request: its id (`X-Request-Id`, accepted or generated, and echoed), the span
//! its log lines are written in (continuing the caller's trace, when traces are exported), and
//! its count and duration in the metrics.

use std::collections::HashSet;
use std::sync::{OnceLock, RwLock};
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderName, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument as _;

use crate::telemetry::metrics;

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Longest request id accepted from a client; a longer or odder one is replaced.
const MAX_REQUEST_ID: usize = 128;

/// The request's id, for the handlers that start work of their own (sockets).
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

pub async fn observe(mut request: Request, next: Next) -> Response {
    let started = Instant::now();
    let id = request
        .headers()
        .get(&REQUEST_ID)
        .and_then(|value| value.to_str().ok())
        .filter(|id| is_acceptable(id))
        .map(str::to_owned)
        .unwrap_or_else(new_request_id);
    let method = method_label(request.method());
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", |path| intern(path.as_str()));
    let span = tracing::info_span!(
        "request",
        request_id = %id,
        method,
        route,
        uid = tracing::field::Empty,
        trace_id = tracing::field::Empty,
        span_id = tracing::field::Empty,
    );
    if crate::telemetry::traces::enabled() {
        crate::telemetry::traces::continue_from_headers(&span, request.headers());
        crate::telemetry::traces::record_ids(&span);
    }
    request.extensions_mut().insert(RequestId(id.clone()));
    let mut response = next.run(request).instrument(span.clone()).await;
    let status = response.status().as_u16();
    let elapsed = started.elapsed();
    span.in_scope(|| {
        if status >= 500 {
            tracing::warn!(status, elapsed_ms = elapsed.as_secs_f64() * 1e3, "answered");
        } else {
            tracing::debug!(status, elapsed_ms = elapsed.as_secs_f64() * 1e3, "answered");
        }
    });
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID, value);
    }
    metrics::http_request(method, route, status, elapsed);
    response
}

/// A client's id is kept if it is short and plain (letters, digits and `-_.:/+=`), so that it
/// cannot garble a log line.
fn is_acceptable(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_REQUEST_ID
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:/+=".contains(&b))
}

/// 128 random bits in hex.
fn new_request_id() -> String {
    format!("{:032x}", rand::random::<u128>())
}

fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::PUT => "PUT",
        Method::OPTIONS => "OPTIONS",
        Method::HEAD => "HEAD",
        _ => "other",
    }
}

/// Route templates as `'static` labels. They are the router's own, so the set is small and
/// fixed; interning spares an allocation per request.
fn intern(route: &str) -> &'static str {
    static ROUTES: OnceLock<RwLock<HashSet<&'static str>>> = OnceLock::new();
    let routes = ROUTES.get_or_init(Default::default);
    if let Some(known) = routes.read().unwrap_or_else(|e| e.into_inner()).get(route) {
        return known;
    }
    let mut routes = routes.write().unwrap_or_else(|e| e.into_inner());
    if let Some(known) = routes.get(route) {
        return known;
    }
    let leaked: &'static str = Box::leak(route.to_owned().into_boxed_str());
    routes.insert(leaked);
    leaked
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn odd_request_ids_are_replaced() {
        assert!(is_acceptable("req-123_abc.def:1/2+3="));
        for odd in ["", "a b", "line\nbreak", "{\"json\"}", &"x".repeat(129)] {
            assert!(!is_acceptable(odd), "{odd:?}");
        }
        assert_eq!(new_request_id().len(), 32);
    }

    #[test]
    fn routes_are_interned_once() {
        let a = intern("/api/live-chat-sessions/{id}");
        let b = intern(&String::from("/api/live-chat-sessions/{id}"));
        assert!(std::ptr::eq(a, b));
    }
}
