//! The REST transport (described in `protocol/openapi.yaml`): routes, request extraction, and the success envelope. Handlers
//! parse input into domain values, call [`crate::session::Sessions`], and shape the answer.

pub mod bodies;
pub mod cors;
pub mod encoding;
pub mod error;
mod events;
pub(crate) mod extract;
mod health;
mod live;
mod messages;
pub mod observe;
pub mod page;
mod sessions;
pub mod state;
mod updates;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, patch, post};
use tower_http::compression::CompressionLayer;
use tower_http::compression::predicate::{NotForContentType, Predicate as _, SizeAbove};
use tower_http::decompression::RequestDecompressionLayer;

use crate::api::error::ApiError;
use crate::api::state::AppState;

const BASE: &str = "/api/live-chat-sessions";

pub fn router(state: AppState) -> Router {
    let max_body = state.sessions.limits().max_body_bytes;
    let cors = cors::layer(&state.origins);
    let router = Router::new()
        .route("/", get(page::index))
        .route("/assets/{name}", get(page::asset))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route(BASE, post(sessions::create).get(sessions::list))
        .route(
            &format!("{BASE}/"),
            post(sessions::create).get(sessions::list),
        )
        .route(
            &format!("{BASE}/find-or-create"),
            post(sessions::find_or_create),
        )
        .route(&format!("{BASE}/by-image-url"), get(sessions::by_image_url))
        .route(
            &format!("{BASE}/{{id}}"),
            get(sessions::get)
                .patch(updates::update)
                .delete(sessions::delete),
        )
        .route(&format!("{BASE}/{{id}}/messages"), post(messages::append))
        .route(&format!("{BASE}/{{id}}/signals"), post(messages::signal))
        .route(&format!("{BASE}/live"), get(live::follow))
        .route(&format!("{BASE}/events"), get(events::list))
        .route(&format!("{BASE}/{{id}}/events"), get(events::session))
        .route(&format!("{BASE}/{{id}}/complete"), patch(updates::complete))
        .route(&format!("{BASE}/{{id}}/live"), get(live::attach))
        .fallback(|| async { ApiError::NoRoute })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(DefaultBodyLimit::max(max_body))
        // Request bodies in any coding the server answers in; the body limit applies to them
        // decompressed, as the handlers read them.
        .layer(RequestDecompressionLayer::new())
        .layer(axum::middleware::from_fn(encoding::refuse_unknown_codings))
        // Answers compressed as the request prefers, but small ones and event streams (which
        // must not be buffered); held answers come compressed already.
        .layer(
            CompressionLayer::new().compress_when(
                SizeAbove::new(encoding::MIN_COMPRESSED_BYTES as u16)
                    .and(NotForContentType::GRPC)
                    .and(NotForContentType::IMAGES)
                    .and(NotForContentType::SSE),
            ),
        );
    let router = match &state.ops.metrics_here {
        Some(handle) => router.route("/metrics", health::metrics(handle.clone())),
        None => router,
    };
    let router = match cors {
        Some(cors) => router.layer(cors),
        None => router,
    };
    // Outermost, so that every request is counted and logged with its id, preflights included.
    router
        .layer(axum::middleware::from_fn(observe::observe))
        .with_state(state)
}

/// The router of `--metrics-addr`: `/metrics` alone.
pub fn metrics_router(handle: metrics_exporter_prometheus::PrometheusHandle) -> Router {
    Router::new()
        .route("/metrics", health::metrics(handle))
        .fallback(|| async { ApiError::NoRoute })
}
