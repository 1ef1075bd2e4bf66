//! The REST transport (described in `protocol/openapi.yaml`): routes, request extraction, and the success envelope. Handlers
//! parse input into domain values, call [`crate::session::Sessions`], and shape the answer.

pub mod cors;
pub(crate) mod extract;
mod messages;
mod sessions;
mod updates;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, patch, post};
use axum::{Json, response::IntoResponse};
use serde::Serialize;
use serde_json::json;

use crate::app::AppState;
use crate::error::ApiError;

const BASE: &str = "/api/live-chat-sessions";

pub fn router(state: AppState) -> Router {
    let max_body = state.sessions.limits().max_body_bytes;
    let cors = state.origins.layer();
    let router = Router::new()
        .route("/healthz", get(health))
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
        .route(&format!("{BASE}/{{id}}/complete"), patch(updates::complete))
        .route(&format!("{BASE}/{{id}}/live"), get(crate::live::attach))
        .fallback(|| async { ApiError::NoRoute })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(DefaultBodyLimit::max(max_body))
        .with_state(state);
    match cors {
        Some(cors) => router.layer(cors),
        None => router,
    }
}

async fn health() -> impl IntoResponse {
    Json(json!({ "status": "ok" }))
}

/// `{"status":"success","message":…,"data":…}`.
#[derive(Serialize)]
struct Success<T> {
    status: &'static str,
    message: &'static str,
    data: T,
}

fn success<T: Serialize>(message: &'static str, data: T) -> Json<Success<T>> {
    Json(Success {
        status: "success",
        message,
        data,
    })
}
