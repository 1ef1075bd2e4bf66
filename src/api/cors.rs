//! CORS for the REST API, from `--cors-origins` ([`OriginPolicy`]): preflights from an allowed
//! origin are answered, and answers to such origins carry `Access-Control-Allow-Origin`.

use std::time::Duration;

use axum::http::{HeaderName, HeaderValue, Method, header};
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::auth::origin::OriginPolicy;

/// How long a browser may cache a preflight's answer.
const PREFLIGHT_MAX_AGE: Duration = Duration::from_secs(600);

/// The CORS layer for the REST API, if CORS is enabled.
pub fn layer(policy: &OriginPolicy) -> Option<CorsLayer> {
    let base = CorsLayer::new()
        .allow_methods([Method::GET, Method::POST, Method::PATCH, Method::DELETE])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::IF_NONE_MATCH,
            HeaderName::from_static("x-request-id"),
        ])
        .expose_headers([
            header::ETAG,
            header::RETRY_AFTER,
            HeaderName::from_static("x-request-id"),
        ])
        .max_age(PREFLIGHT_MAX_AGE);
    match policy {
        OriginPolicy::Unset => None,
        OriginPolicy::Any => Some(base.allow_origin(AllowOrigin::any())),
        OriginPolicy::Listed(origins) => {
            let values: Vec<HeaderValue> = origins
                .iter()
                .filter_map(|o| HeaderValue::from_str(o).ok())
                .collect();
            Some(
                base.allow_origin(AllowOrigin::list(values))
                    .allow_credentials(true),
            )
        }
    }
}
