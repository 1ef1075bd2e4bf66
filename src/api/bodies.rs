//! The answers of `GET /:id` and of restore by image URL, held per session at its `seq`: a
//! session that has not changed since it was last answered is neither read nor serialized
//! again, and each content coding of it is compressed once, the first time a request prefers
//! it. Each coding carries its own `ETag` (a digest of the bytes, with the coding's name); a
//! request whose `If-None-Match` names any coding of the answer is answered `304 Not Modified`
//! with no body.

use std::sync::{Arc, OnceLock};

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use base64::Engine as _;
use headers::{ETag, HeaderMapExt as _, IfNoneMatch};
use sha2::{Digest as _, Sha256};

use super::encoding::{Encoding, MIN_COMPRESSED_BYTES};
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
    /// The digest of `body`, from which each coding's tag is made.
    tag: String,
    /// The body in each coding of [`Encoding::ALL`], made when first asked for.
    encoded: [OnceLock<Bytes>; 3],
}

#[derive(Clone)]
struct Weight;

impl quick_cache::Weighter<String, Arc<Held>> for Weight {
    fn weight(&self, id: &String, held: &Arc<Held>) -> u64 {
        // Weighed when held, before any coding is made: the compressed copies add a fraction
        // of the body (a twentieth, for a session's JSON).
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
            tag,
            encoded: Default::default(),
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
    /// The entity tag of the answer in `encoding` (`None`: as it is).
    fn etag(&self, encoding: Option<Encoding>) -> ETag {
        let tag = match encoding {
            None => format!("\"{}\"", self.tag),
            Some(encoding) => format!("\"{}.{}\"", self.tag, encoding.token()),
        };
        tag.parse()
            .expect("a quoted base64url digest and a coding's name are an entity tag")
    }

    /// `304` if the request's `If-None-Match` names any coding of this answer, the answer in
    /// the coding the request prefers otherwise (compressed once, then kept).
    pub fn respond(&self, request: &HeaderMap) -> Response {
        let encoding =
            Encoding::preferred(request).filter(|_| self.body.len() >= MIN_COMPRESSED_BYTES);
        let unchanged = request.typed_get::<IfNoneMatch>().is_some_and(|condition| {
            std::iter::once(None)
                .chain(Encoding::ALL.map(Some))
                .any(|coding| !condition.precondition_passes(&self.etag(coding)))
        });
        let mut response = if unchanged {
            let mut response = Response::new(Body::empty());
            *response.status_mut() = StatusCode::NOT_MODIFIED;
            response
        } else {
            let body = match encoding {
                None => self.body.clone(),
                Some(encoding) => self.encoded(encoding).clone(),
            };
            let mut response = Response::new(Body::from(body));
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            if let Some(encoding) = encoding {
                response
                    .headers_mut()
                    .insert(header::CONTENT_ENCODING, encoding.header_value());
            }
            response
        };
        let headers = response.headers_mut();
        headers.typed_insert(self.etag(encoding));
        headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
        // Cached by the user's browser only, and always revalidated: the session may change.
        headers.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("private, no-cache"),
        );
        response
    }

    fn encoded(&self, encoding: Encoding) -> &Bytes {
        let at = Encoding::ALL
            .iter()
            .position(|e| *e == encoding)
            .unwrap_or_default();
        self.encoded[at].get_or_init(|| Bytes::from(encoding.compress(&self.body)))
    }
}
