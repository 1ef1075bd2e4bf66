//! The answers of `GET /:id` and of restore by image URL, held per session at its `seq`: a
//! session that has not changed since it was last answered is neither read nor serialized
//! again. Each carries an `ETag` (a digest of its bytes), and a request whose `If-None-Match`
//! names it is answered `304 Not Modified` with no body.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use base64::Engine as _;
use headers::{ETag, HeaderMapExt as _, IfNoneMatch};
use sha2::{Digest as _, Sha256};

use crate::domain::model::Session;
use crate::protocol::rest;

/// Bytes of answers held, all sessions together.
const CAPACITY_BYTES: u64 = 64 << 20;
/// Sessions expected to be held (sizes the cache's table).
const ESTIMATED_SESSIONS: usize = 16_384;

/// An answer, as sent.
pub struct Held {
    seq: u64,
    body: Bytes,
    etag: ETag,
}

#[derive(Clone)]
struct Weight;

impl quick_cache::Weighter<String, Arc<Held>> for Weight {
    fn weight(&self, id: &String, held: &Arc<Held>) -> u64 {
        (id.len() + held.body.len()) as u64
    }
}

/// The latest answer of each session recently read.
pub struct Bodies(quick_cache::sync::Cache<String, Arc<Held>, Weight>);

impl Default for Bodies {
    fn default() -> Self {
        Self(quick_cache::sync::Cache::with_weighter(
            ESTIMATED_SESSIONS,
            CAPACITY_BYTES,
            Weight,
        ))
    }
}

impl Bodies {
    /// The answer for the session at `seq`, if held.
    pub fn get(&self, id: &str, seq: u64) -> Option<Arc<Held>> {
        self.0.get(id).filter(|held| held.seq == seq)
    }

    /// Serializes the session's answer and holds it (in place of an older one).
    pub fn hold(&self, session: &Session) -> Arc<Held> {
        // Plain data: serializing it cannot fail.
        let body = Bytes::from(serde_json::to_vec(&rest::session(session)).unwrap_or_default());
        let digest = Sha256::digest(&body);
        let tag = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&digest[..18]);
        let held = Arc::new(Held {
            seq: session.meta.seq,
            etag: format!("\"{tag}\"")
                .parse()
                .expect("a quoted base64url digest is an entity tag"),
            body,
        });
        let newer_held = self
            .0
            .get(&session.meta.id)
            .is_some_and(|current| current.seq > held.seq);
        if !newer_held {
            self.0.insert(session.meta.id.clone(), Arc::clone(&held));
        }
        held
    }
}

impl Held {
    /// `304` if the request's `If-None-Match` names this answer, the answer otherwise.
    pub fn respond(&self, request: &HeaderMap) -> Response {
        let unchanged = request
            .typed_get::<IfNoneMatch>()
            .is_some_and(|condition| !condition.precondition_passes(&self.etag));
        let mut response = if unchanged {
            let mut response = Response::new(Body::empty());
            *response.status_mut() = StatusCode::NOT_MODIFIED;
            response
        } else {
            let mut response = Response::new(Body::from(self.body.clone()));
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            response
        };
        let headers = response.headers_mut();
        headers.typed_insert(self.etag.clone());
        // Cached by the user's browser only, and always revalidated: the session may change.
        headers.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("private, no-cache"),
        );
        response
    }
}
