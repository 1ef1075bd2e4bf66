//! Public keys fetched from an identity provider, cached by key id (`kid`).
//!
//! Two shapes are served: Google's x509 map (`{"kid": "-----BEGIN CERTIFICATE-----…"}`, used
//! for Firebase ID tokens and session cookies) and JWKS documents (RFC 7517, every other
//! provider). A [`KeySource`] keeps the last good set for the `Cache-Control: max-age` of its
//! answer and refreshes it in the background before it expires. A token naming a `kid` the set
//! lacks (the provider rotated its keys) triggers one fetch, shared by every request waiting on
//! it and at most one per [`KeySettings::min_refetch`]; a failed fetch keeps the keys held.
//!
//! No crate covers both shapes with these rules: the JWKS caches written for `jsonwebtoken`
//! (`jsonwebtoken-jwks-cache`, `jwks-cache`) do not read Google's x509 map, which Firebase's
//! session-cookie keys are published in only.

use std::collections::HashMap;
use std::sync::{Arc, RwLock, Weak};
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, JwkSet, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};
use tokio::sync::OwnedMutexGuard;

/// How a key server publishes its keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyFormat {
    /// A JSON object from `kid` to an X.509 certificate in PEM (Google's; RS256 keys).
    X509Map,
    /// A JWK Set; each key's algorithm comes from its `alg`, or from its type and curve.
    Jwks,
}

/// A verification key and the one algorithm it verifies.
pub struct Key {
    pub decoding: DecodingKey,
    pub algorithm: Algorithm,
}

/// Why no key came back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyError {
    /// Keys are held, and none has this `kid` (even after a refetch, when one was allowed).
    Unknown,
    /// No key was ever fetched: the server cannot tell a good token from a bad one yet.
    Unavailable,
}

#[derive(Debug, Clone)]
pub struct KeySettings {
    /// Unknown `kid`s trigger at most one fetch per URL this often.
    pub min_refetch: Duration,
    /// A fetch that takes longer fails.
    pub fetch_timeout: Duration,
}

impl Default for KeySettings {
    fn default() -> Self {
        Self {
            min_refetch: Duration::from_secs(30),
            fetch_timeout: Duration::from_secs(5),
        }
    }
}

/// Bounds on how long a fetched set is trusted (`Cache-Control: max-age`).
const MIN_TTL: Duration = Duration::from_secs(60);
const MAX_TTL: Duration = Duration::from_secs(24 * 60 * 60);
/// When the answer carries no `max-age`.
const DEFAULT_TTL: Duration = Duration::from_secs(60 * 60);
/// A key document larger than this is refused (Google's are a few KiB).
const MAX_DOCUMENT_BYTES: usize = 1024 * 1024;
/// Retries of a failed background refresh back off from the first to the last.
const RETRY_FIRST: Duration = Duration::from_secs(1);
const RETRY_LAST: Duration = Duration::from_secs(60);

/// A fetched set of keys, by `kid`.
type KeySet = HashMap<String, Arc<Key>>;

/// One key URL and what was last fetched from it. Cheap to clone.
#[derive(Clone)]
pub struct KeySource {
    inner: Arc<Inner>,
}

struct Inner {
    url: String,
    format: KeyFormat,
    client: reqwest::Client,
    settings: KeySettings,
    /// The last good set; replaced whole, so a reader never sees half a rotation. A
    /// `std` lock: held only to clone an `Arc`, never across an await.
    keys: RwLock<Option<Arc<KeySet>>>,
    /// Serializes fetches on demand (one flight, the others wait for its result) and holds when
    /// the last one ran, for the rate limit on unknown `kid`s.
    refetch: Arc<tokio::sync::Mutex<Option<Instant>>>,
}

impl KeySource {
    /// A source for `url`, fetching its keys now and refreshing them in the background for as
    /// long as the source is alive. Must be called within a Tokio runtime.
    pub fn start(
        url: &str,
        format: KeyFormat,
        client: reqwest::Client,
        settings: KeySettings,
    ) -> Self {
        let source = Self {
            inner: Arc::new(Inner {
                url: url.to_owned(),
                format,
                client,
                settings,
                keys: RwLock::new(None),
                refetch: Arc::new(tokio::sync::Mutex::new(None)),
            }),
        };
        // Taken before the first request can arrive, so that requests wait for the first fetch
        // rather than race it (and spend their refetch on keys that are on their way).
        let first = Arc::clone(&source.inner.refetch)
            .try_lock_owned()
            .expect("a new lock is free");
        tokio::spawn(refresh(Arc::downgrade(&source.inner), first));
        source
    }

    pub fn url(&self) -> &str {
        &self.inner.url
    }

    /// The key named `kid`, fetching the set again if it is unknown and a fetch is allowed.
    pub async fn key(&self, kid: &str) -> Result<Arc<Key>, KeyError> {
        if let Some(key) = self.inner.held(kid) {
            return Ok(key);
        }
        let mut last = self.inner.refetch.lock().await;
        // Another request's fetch may have brought it while this one waited.
        if let Some(key) = self.inner.held(kid) {
            return Ok(key);
        }
        let allowed = last.is_none_or(|at| at.elapsed() >= self.inner.settings.min_refetch);
        if allowed {
            *last = Some(Instant::now());
            let _ = self.inner.fetch().await;
            if let Some(key) = self.inner.held(kid) {
                return Ok(key);
            }
        }
        drop(last);
        if self.inner.holds_any() {
            Err(KeyError::Unknown)
        } else {
            Err(KeyError::Unavailable)
        }
    }
}

impl Inner {
    fn current(&self) -> Option<Arc<KeySet>> {
        self.keys.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn held(&self, kid: &str) -> Option<Arc<Key>> {
        self.current()?.get(kid).cloned()
    }

    fn holds_any(&self) -> bool {
        self.current().is_some()
    }

    /// Fetches the set and, when it parses, replaces the held one. Returns how long it may be
    /// trusted.
    async fn fetch(&self) -> Result<Duration, String> {
        let result = self.try_fetch().await;
        match &result {
            Ok((keys, ttl)) => {
                tracing::debug!(url = %self.url, keys = keys.len(), ttl_secs = ttl.as_secs(), "fetched signing keys");
            }
            Err(cause) => {
                let held = self.holds_any();
                tracing::warn!(url = %self.url, %cause, keeping_last_keys = held, "cannot fetch signing keys");
            }
        }
        let metrics = crate::telemetry::metrics::metrics();
        match &result {
            Ok(_) => metrics.key_fetches_ok.increment(1),
            Err(_) => metrics.key_fetches_failed.increment(1),
        }
        let (keys, ttl) = result?;
        *self.keys.write().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(keys));
        Ok(ttl)
    }

    async fn try_fetch(&self) -> Result<(KeySet, Duration), String> {
        let mut response = self
            .client
            .get(&self.url)
            .timeout(self.settings.fetch_timeout)
            .send()
            .await
            .map_err(|err| format!("request failed: {err}"))?;
        if !response.status().is_success() {
            return Err(format!("answered {}", response.status()));
        }
        let ttl = response
            .headers()
            .get_all(reqwest::header::CACHE_CONTROL)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .find_map(max_age)
            .unwrap_or(DEFAULT_TTL)
            .clamp(MIN_TTL, MAX_TTL);
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|err| format!("reading the answer failed: {err}"))?
        {
            if body.len() + chunk.len() > MAX_DOCUMENT_BYTES {
                return Err(format!("the answer is over {MAX_DOCUMENT_BYTES} bytes"));
            }
            body.extend_from_slice(&chunk);
        }
        let keys = parse(self.format, &body)?;
        if keys.is_empty() {
            return Err("the answer holds no usable key".into());
        }
        Ok((keys, ttl))
    }
}

/// Keeps the source's keys fresh: fetches at start, again a little before each set expires,
/// and after a failure with a growing delay. Ends when the source is dropped.
async fn refresh(source: Weak<Inner>, first: OwnedMutexGuard<Option<Instant>>) {
    let mut retry = RETRY_FIRST;
    let mut first = Some(first);
    loop {
        let Some(inner) = source.upgrade() else {
            return;
        };
        // Through the on-demand lock, so requests arriving meanwhile wait for this fetch rather
        // than start their own; it does not count against their rate limit.
        let fetched = {
            let _flight = match first.take() {
                Some(guard) => guard,
                None => Arc::clone(&inner.refetch).lock_owned().await,
            };
            inner.fetch().await
        };
        drop(inner);
        let wait = match fetched {
            Ok(ttl) => {
                retry = RETRY_FIRST;
                refresh_delay(ttl)
            }
            Err(_) => {
                let wait = retry;
                retry = (retry * 2).min(RETRY_LAST);
                wait
            }
        };
        tokio::time::sleep(wait).await;
    }
}

/// When to refresh a set trusted for `ttl`: once nine tenths of it have passed.
pub fn refresh_delay(ttl: Duration) -> Duration {
    ttl.mul_f64(0.9)
}

/// The `max-age` of a `Cache-Control` value.
pub fn max_age(value: &str) -> Option<Duration> {
    value.split(',').find_map(|directive| {
        let (name, seconds) = directive.trim().split_once('=')?;
        if !name.trim().eq_ignore_ascii_case("max-age") {
            return None;
        }
        let seconds = seconds.trim().trim_matches('"').parse::<u64>().ok()?;
        Some(Duration::from_secs(seconds))
    })
}

/// The keys of a document; entries that cannot be used are skipped (and logged), so one odd
/// key does not lose the others.
pub fn parse(format: KeyFormat, body: &[u8]) -> Result<KeySet, String> {
    let mut keys = HashMap::new();
    match format {
        KeyFormat::X509Map => {
            let map: HashMap<String, String> = serde_json::from_slice(body)
                .map_err(|err| format!("not a JSON map of certificates: {err}"))?;
            for (kid, pem) in map {
                match DecodingKey::from_rsa_pem(pem.as_bytes()) {
                    Ok(decoding) => {
                        let key = Key {
                            decoding,
                            algorithm: Algorithm::RS256,
                        };
                        keys.insert(kid, Arc::new(key));
                    }
                    Err(err) => {
                        tracing::warn!(%kid, %err, "skipping a certificate that does not parse")
                    }
                }
            }
        }
        KeyFormat::Jwks => {
            let set: JwkSet =
                serde_json::from_slice(body).map_err(|err| format!("not a JWK Set: {err}"))?;
            for jwk in &set.keys {
                let Some(kid) = jwk.common.key_id.clone() else {
                    continue;
                };
                if jwk.common.public_key_use == Some(PublicKeyUse::Encryption) {
                    continue;
                }
                let Some(algorithm) = jwk_algorithm(jwk) else {
                    tracing::warn!(%kid, "skipping a key of an algorithm not accepted");
                    continue;
                };
                match DecodingKey::from_jwk(jwk) {
                    Ok(decoding) => {
                        keys.insert(
                            kid,
                            Arc::new(Key {
                                decoding,
                                algorithm,
                            }),
                        );
                    }
                    Err(err) => tracing::warn!(%kid, %err, "skipping a key that does not parse"),
                }
            }
        }
    }
    Ok(keys)
}

/// The algorithm a JWK verifies: RS256, ES256 or EdDSA, as it declares (its `alg`, else its
/// key type and curve). Anything else is not accepted.
fn jwk_algorithm(jwk: &jsonwebtoken::jwk::Jwk) -> Option<Algorithm> {
    let by_type = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => Algorithm::RS256,
        AlgorithmParameters::EllipticCurve(ec) if ec.curve == EllipticCurve::P256 => {
            Algorithm::ES256
        }
        AlgorithmParameters::OctetKeyPair(okp) if okp.curve == EllipticCurve::Ed25519 => {
            Algorithm::EdDSA
        }
        _ => return None,
    };
    match jwk.common.key_algorithm {
        None => Some(by_type),
        Some(KeyAlgorithm::RS256) if by_type == Algorithm::RS256 => Some(by_type),
        Some(KeyAlgorithm::ES256) if by_type == Algorithm::ES256 => Some(by_type),
        Some(KeyAlgorithm::EdDSA) if by_type == Algorithm::EdDSA => Some(by_type),
        Some(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_age_is_read_among_other_directives() {
        assert_eq!(
            max_age("public, max-age=19302, must-revalidate, no-transform"),
            Some(Duration::from_secs(19302))
        );
        assert_eq!(max_age("no-cache"), None);
        assert_eq!(max_age("max-age=abc"), None);
        assert_eq!(max_age("MAX-AGE = 5"), Some(Duration::from_secs(5)));
    }

    #[test]
    fn refresh_comes_before_expiry() {
        for ttl in [MIN_TTL, DEFAULT_TTL, MAX_TTL] {
            let delay = refresh_delay(ttl);
            assert!(delay < ttl && delay >= ttl / 2, "{ttl:?} → {delay:?}");
        }
    }

    #[test]
    fn documents_that_are_not_keys_are_errors_not_panics() {
        for body in [
            &b""[..],
            b"[]",
            b"{\"k\": 5}",
            b"{\"keys\": 5}",
            b"\xff\xfe",
        ] {
            assert!(
                parse(KeyFormat::Jwks, body).is_err()
                    || parse(KeyFormat::Jwks, body).unwrap().is_empty()
            );
            assert!(
                parse(KeyFormat::X509Map, body).is_err()
                    || parse(KeyFormat::X509Map, body).unwrap().is_empty()
            );
        }
        let junk = parse(KeyFormat::X509Map, br#"{"k": "not a certificate"}"#).unwrap();
        assert!(junk.is_empty());
    }

    #[test]
    fn a_jwk_of_another_algorithm_family_is_skipped() {
        let set = br#"{"keys":[{"kty":"oct","kid":"h","k":"c2VjcmV0"},
                                 {"kty":"RSA","kid":"r","alg":"ES256","n":"AQAB","e":"AQAB"}]}"#;
        assert!(parse(KeyFormat::Jwks, set).unwrap().is_empty());
    }
}
