//! What a load balancer and Prometheus ask, without a token: liveness (`/healthz`), readiness
//! (`/readyz`) and the metrics (`/metrics`).

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get};
use metrics_exporter_prometheus::PrometheusHandle;
use serde_json::{Map, json};

use crate::api::state::AppState;

/// How long the store has to answer the readiness read.
const STORE_DEADLINE: Duration = Duration::from_secs(1);

/// 200 while the process serves.
pub async fn healthz() -> impl IntoResponse {
    Json(json!({ "status": "ok" }))
}

/// 200 `{"status":"ready"}` when the store answers a read within a second, Redis (when
/// configured) is connected and the server is not draining; otherwise 503 with every check
/// that failed named in `checks`.
pub async fn readyz(State(state): State<AppState>) -> Response {
    let mut failed = Map::new();
    if state.ops.is_draining() {
        failed.insert("draining".into(), json!("the server is shutting down"));
    }
    match tokio::time::timeout(STORE_DEADLINE, state.sessions.ping_store()).await {
        Ok(Ok(())) => {}
        Ok(Err(err)) => {
            failed.insert("store".into(), json!(format!("the store failed: {err}")));
        }
        Err(_) => {
            failed.insert(
                "store".into(),
                json!(format!(
                    "the store did not answer within {STORE_DEADLINE:?}"
                )),
            );
        }
    }
    if state.fanout.connected() == Some(false) {
        failed.insert("redis".into(), json!("not connected to Redis"));
    }
    if failed.is_empty() {
        return Json(json!({ "status": "ready" })).into_response();
    }
    tracing::debug!(checks = %serde_json::Value::Object(failed.clone()), "not ready");
    (
        StatusCode::SERVICE_UNAVAILABLE,
        Json(json!({ "status": "unready", "checks": failed })),
    )
        .into_response()
}

/// `GET /metrics`: the Prometheus text exposition of every metric.
pub fn metrics<S: Clone + Send + Sync + 'static>(handle: PrometheusHandle) -> MethodRouter<S> {
    get(move || {
        let exposition = handle.render();
        std::future::ready(
            (
                [(
                    header::CONTENT_TYPE,
                    "text/plain; version=0.0.4; charset=utf-8",
                )],
                exposition,
            )
                .into_response(),
        )
    })
}
