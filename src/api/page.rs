//! The web page at `/`: the built assets of `clients/web/` (the TypeScript client and the page
//! on top of it), embedded in the binary so that serving it needs nothing at run time.
//!
//! Scripts and styles are served under names that carry a digest of their bytes
//! (`/assets/app-1f2e3d4c5b6a7980.js`), so browsers may keep them for a year; the page itself
//! is revalidated on every load, so a new binary's assets are picked up at once. Every answer
//! carries the page's Content-Security-Policy: scripts and styles of this server only,
//! connections to this server (and to the Firebase Auth emulator, when one is configured),
//! images from anywhere (the sessions' image URLs are the users').

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use sha2::{Digest as _, Sha256};

use crate::api::error::ApiError;
use crate::auth::AuthSettings;

const INDEX: &str = include_str!("../../clients/web/dist/index.html");
const APP_JS: &[u8] = include_bytes!("../../clients/web/dist/app.js");
const APP_CSS: &[u8] = include_bytes!("../../clients/web/dist/app.css");

/// The page and its assets, rendered once at start.
pub struct Page {
    index: Bytes,
    csp: HeaderValue,
    assets: Vec<Asset>,
}

struct Asset {
    /// The name under `/assets/`, with the digest of `bytes`.
    name: String,
    content_type: &'static str,
    bytes: &'static [u8],
}

/// What the page is told about the server's sign-in, beyond its own HS256 tokens.
#[derive(Debug, Clone, Default)]
pub struct PageSettings {
    /// `FIREBASE_AUTH_EMULATOR_HOST` (`host:port`): the page offers the emulator's sign-in.
    pub auth_emulator_host: Option<String>,
    /// `--firebase-project`.
    pub firebase_project: Option<String>,
}

impl From<&AuthSettings> for PageSettings {
    fn from(settings: &AuthSettings) -> Self {
        Self {
            auth_emulator_host: settings
                .firebase
                .as_ref()
                .and_then(|firebase| firebase.emulator_host.clone()),
            firebase_project: settings
                .firebase
                .as_ref()
                .map(|firebase| firebase.project.clone()),
        }
    }
}

impl Page {
    pub fn new(settings: &PageSettings) -> Self {
        let assets = vec![
            Asset::new("app", "js", "text/javascript; charset=utf-8", APP_JS),
            Asset::new("app", "css", "text/css; charset=utf-8", APP_CSS),
        ];
        let emulator = settings
            .auth_emulator_host
            .as_deref()
            .map(|host| format!("http://{host}"));
        let mut meta = String::new();
        if let (Some(emulator), Some(project)) = (&emulator, &settings.firebase_project) {
            meta = format!(
                "<meta name=\"livechat-auth-emulator\" content=\"{}\">\n    <meta name=\"livechat-firebase-project\" content=\"{}\">",
                attribute(emulator),
                attribute(project)
            );
        }
        let index = INDEX
            .replace("/assets/app.js", &format!("/assets/{}", assets[0].name))
            .replace("/assets/app.css", &format!("/assets/{}", assets[1].name))
            .replace("<!-- settings -->", &meta);
        // The emulator's host comes from the environment: one a header cannot carry is left
        // out of the policy (the page then cannot reach it, and says so when signing in).
        let csp = emulator
            .as_deref()
            .and_then(|emulator| HeaderValue::from_str(&policy(&format!("'self' {emulator}"))).ok())
            .unwrap_or_else(|| HeaderValue::from_str(&policy("'self'")).expect("a static policy"));
        Self {
            index: Bytes::from(index),
            csp,
            assets,
        }
    }
}

impl Asset {
    fn new(stem: &str, extension: &str, content_type: &'static str, bytes: &'static [u8]) -> Self {
        let digest = Sha256::digest(bytes);
        let tag = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&digest[..9]);
        Self {
            name: format!("{stem}-{tag}.{extension}"),
            content_type,
            bytes,
        }
    }
}

/// `GET /`.
pub async fn index(State(page): State<Arc<Page>>) -> Response {
    answer(
        &page,
        "text/html; charset=utf-8",
        "no-cache",
        Body::from(page.index.clone()),
    )
}

/// `GET /assets/{name}`.
pub async fn asset(State(page): State<Arc<Page>>, Path(name): Path<String>) -> Response {
    match page.assets.iter().find(|asset| asset.name == name) {
        Some(asset) => answer(
            &page,
            asset.content_type,
            "public, max-age=31536000, immutable",
            Body::from(Bytes::from_static(asset.bytes)),
        ),
        None => ApiError::NoRoute.into_response(),
    }
}

fn answer(page: &Page, content_type: &'static str, cache: &'static str, body: Body) -> Response {
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (header::CACHE_CONTROL, HeaderValue::from_static(cache)),
            (header::CONTENT_SECURITY_POLICY, page.csp.clone()),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
            (
                header::REFERRER_POLICY,
                HeaderValue::from_static("no-referrer"),
            ),
            (
                HeaderName::from_static("cross-origin-opener-policy"),
                HeaderValue::from_static("same-origin"),
            ),
        ],
        body,
    )
        .into_response()
}

/// The page's Content-Security-Policy, connecting to `connect`.
fn policy(connect: &str) -> String {
    format!(
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src * data: blob:; \
         connect-src {connect}; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )
}

/// Escapes a value for a double-quoted HTML attribute.
fn attribute(value: &str) -> String {
    value
        .replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
