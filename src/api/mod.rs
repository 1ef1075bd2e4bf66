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
use axum::handler::Handler;
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
        .route(BASE, post(with_body(sessions::create)).get(sessions::list))
        .route(
            &format!("{BASE}/"),
            post(with_body(sessions::create)).get(sessions::list),
        )
        .route(
            &format!("{BASE}/find-or-create"),
            post(with_body(sessions::find_or_create)),
        )
        .route(&format!("{BASE}/by-image-url"), get(sessions::by_image_url))
        .route(
            &format!("{BASE}/{{id}}"),
            get(sessions::get)
                .patch(with_body(updates::update))
                .delete(sessions::delete),
        )
        .route(
            &format!("{BASE}/{{id}}/messages"),
            post(with_body(messages::append)),
        )
        .route(
            &format!("{BASE}/{{id}}/signals"),
            post(with_body(messages::signal)),
        )
        .route(&format!("{BASE}/live"), get(live::follow))
        .route(&format!("{BASE}/events"), get(events::list))
        .route(&format!("{BASE}/{{id}}/events"), get(events::session))
        .route(
            &format!("{BASE}/{{id}}/complete"),
            patch(with_body(updates::complete)),
        )
        .route(&format!("{BASE}/{{id}}/live"), get(live::attach))
        .fallback(|| async { ApiError::NoRoute })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(DefaultBodyLimit::max(max_body))
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

/// A handler that reads a request body, which may come in any coding the server answers in:
/// the body limit applies to it decompressed, as the handler reads it. A coding the server
/// does not read is left in place, for [`extract::JsonObject`] to refuse. (Only these handlers
/// are wrapped: the layer costs every request it sees.)
fn with_body<H, T>(handler: H) -> impl Handler<T, AppState>
where
    H: Handler<T, AppState>,
    T: 'static,
{
    handler.layer(RequestDecompressionLayer::new().pass_through_unaccepted(true))
}

/// The router of `--metrics-addr`: `/metrics` alone.
pub fn metrics_router(handle: metrics_exporter_prometheus::PrometheusHandle) -> Router {
    Router::new()
        .route("/metrics", health::metrics(handle))
        .fallback(|| async { ApiError::NoRoute })
}
