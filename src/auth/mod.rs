//! Authentication: who a request or a socket speaks for.
//!
//! [`Authenticator::verify`] is the one entry point: a token from an `Authorization: Bearer`
//! header, a session cookie or a socket's `auth` frame becomes an [`Identity`], or an
//! [`AuthError`]. The token's `iss` picks its verifier, and each verifier pins the algorithms it
//! accepts, so a header can never choose a weaker one:
//!
//! | `iss` | verifier | enabled by |
//! |---|---|---|
//! | none | [`hs256`]: the server's own secret | always |
//! | `https://securetoken.google.com/P` | [`firebase`] ID token | `--firebase-project P` |
//! | `https://session.firebase.google.com/P` | [`firebase`] session cookie | `--firebase-project P` |
//! | `--jwt-issuer` | [`jwks`]: RS256, ES256, EdDSA | `--jwks-url` |
//!
//! Keys fetched from providers are cached by [`keys`].

pub mod claims;
pub mod firebase;
pub mod hs256;
pub mod jwks;
pub mod keys;
pub mod origin;
mod token;

use axum::http::{HeaderMap, header};

use firebase::{FirebaseKind, FirebaseVerifier, Signatures};
use hs256::Hs256Verifier;
pub use hs256::{TokenIssuer, load_secret};
use jwks::JwksVerifier;
use keys::{KeyFormat, KeySettings, KeySource};
use token::Token;

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum AuthError {
    #[error("missing bearer token")]
    Missing,
    #[error("the token has expired")]
    Expired,
    /// Why the token was refused, for the developer reading the 401.
    #[error("invalid token: {0}")]
    Invalid(&'static str),
    /// No key was ever fetched for the token's verifier: retryable, not the caller's fault.
    #[error("{0}")]
    Unavailable(String),
}

impl AuthError {
    /// A label for the metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            AuthError::Missing => "missing",
            AuthError::Expired => "expired",
            AuthError::Invalid(_) => "invalid",
            AuthError::Unavailable(_) => "unavailable",
        }
    }
}

/// Who a valid token speaks for, and until when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub uid: String,
    /// The token's `exp`, in seconds since the Unix epoch.
    pub expires_at: u64,
}

/// Where a request's token came from. A cookie is sent by the browser on its own, so it is
/// trusted only from origins allowed to use credentials (see `api::cors`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    Header,
    Cookie,
}

/// Which verifiers are enabled, and with what.
#[derive(Debug, Clone)]
pub struct AuthSettings {
    /// The HS256 secret (always enabled).
    pub secret: Vec<u8>,
    pub firebase: Option<FirebaseSettings>,
    pub jwks: Option<JwksSettings>,
    /// The cookie a session cookie (or any token) may come in.
    pub session_cookie: String,
    pub keys: KeySettings,
}

#[derive(Debug, Clone)]
pub struct FirebaseSettings {
    pub project: String,
    pub id_keys_url: String,
    pub session_keys_url: String,
    /// `FIREBASE_AUTH_EMULATOR_HOST`, when set: accept the emulator's unsigned tokens.
    pub emulator_host: Option<String>,
}

#[derive(Debug, Clone)]
pub struct JwksSettings {
    pub url: String,
    pub issuer: String,
    pub audience: String,
}

/// Verifies tokens of every enabled kind.
pub struct Authenticator {
    hs256: Hs256Verifier,
    firebase: Vec<FirebaseVerifier>,
    jwks: Option<JwksVerifier>,
    session_cookie: String,
    /// Tokens verified lately, by their exact text. A client sends the same token with every
    /// request for as long as it lives, and checking an RS256 signature costs about 20 µs; a
    /// hit costs a hash of the token. Only valid tokens get in, so the cache cannot be
    /// filled with garbage, and an entry is verified afresh after [`REVERIFY_AFTER`].
    verified: quick_cache::sync::Cache<Box<str>, Verified>,
}

#[derive(Clone)]
struct Verified {
    identity: Identity,
    at: std::time::Instant,
}

/// Tokens kept verified at once (about 1 KiB each).
const VERIFIED_TOKENS: usize = 4096;

/// How long a verification is trusted before the token is checked again: the bound on how long
/// a signing key the provider withdrew still lets its tokens in.
pub const REVERIFY_AFTER: std::time::Duration = std::time::Duration::from_secs(300);

impl Authenticator {
    /// Builds the verifiers and starts fetching their keys. Must be called within a Tokio
    /// runtime.
    pub fn new(settings: &AuthSettings) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .user_agent(concat!("livechat-sessions/", env!("CARGO_PKG_VERSION")))
            .build()?;
        let source = |url: &str, format| {
            KeySource::start(url, format, client.clone(), settings.keys.clone())
        };
        let firebase = match &settings.firebase {
            None => Vec::new(),
            Some(firebase) => {
                let project = &firebase.project;
                let signatures = |url: &str| match &firebase.emulator_host {
                    Some(_) => Signatures::Emulator,
                    None => Signatures::Google(source(url, KeyFormat::X509Map)),
                };
                if let Some(host) = &firebase.emulator_host {
                    tracing::warn!(
                        emulator = %host,
                        project = %project,
                        "FIREBASE_AUTH_EMULATOR_HOST is set: unsigned Firebase Auth emulator tokens are accepted; never set it in production"
                    );
                }
                vec![
                    FirebaseVerifier::new(
                        FirebaseKind::IdToken,
                        project,
                        signatures(&firebase.id_keys_url),
                    ),
                    FirebaseVerifier::new(
                        FirebaseKind::SessionCookie,
                        project,
                        signatures(&firebase.session_keys_url),
                    ),
                ]
            }
        };
        let jwks = settings.jwks.as_ref().map(|jwks| {
            JwksVerifier::new(
                source(&jwks.url, KeyFormat::Jwks),
                &jwks.issuer,
                &jwks.audience,
            )
        });
        Ok(Self {
            hs256: Hs256Verifier::new(&settings.secret),
            firebase,
            jwks,
            session_cookie: settings.session_cookie.clone(),
            verified: quick_cache::sync::Cache::new(VERIFIED_TOKENS),
        })
    }

    /// The identity a token speaks for.
    pub async fn verify(&self, token: &str) -> Result<Identity, AuthError> {
        let verified = match self.verified.get(token) {
            Some(hit) if hit.at.elapsed() < REVERIFY_AFTER => {
                // Still expires at its `exp`, as checked in full.
                if hit.identity.expires_at > jsonwebtoken::get_current_timestamp() {
                    Ok(hit.identity)
                } else {
                    Err(AuthError::Expired)
                }
            }
            _ => self.check(token).await.inspect(|identity| {
                let entry = Verified {
                    identity: identity.clone(),
                    at: std::time::Instant::now(),
                };
                self.verified.insert(token.into(), entry);
            }),
        };
        if let Err(err) = &verified {
            crate::telemetry::metrics::auth_refused(err.reason());
        }
        verified
    }

    async fn check(&self, token: &str) -> Result<Identity, AuthError> {
        let token = Token::parse(token)?;
        let now = jsonwebtoken::get_current_timestamp();
        let checked = match token.claims.iss.as_deref() {
            None => self.hs256.verify(token, now)?,
            Some(iss) => {
                if let Some(firebase) = self.firebase.iter().find(|f| f.issuer() == iss) {
                    firebase.verify(token, now).await?
                } else if let Some(jwks) = self.jwks.as_ref().filter(|j| j.issuer() == iss) {
                    jwks.verify(token, now).await?
                } else {
                    return Err(AuthError::Invalid("the token's issuer is not accepted"));
                }
            }
        };
        Ok(Identity {
            uid: checked.uid,
            expires_at: checked.expires_at,
        })
    }

    /// The identity of a request: its `Authorization: Bearer` token, else its session cookie.
    pub async fn verify_request(&self, headers: &HeaderMap) -> Result<(Identity, Via), AuthError> {
        let (token, via) = self.credential(headers).inspect_err(|err| {
            crate::telemetry::metrics::auth_refused(err.reason());
        })?;
        Ok((self.verify(token).await?, via))
    }

    /// The token a request carries, without verifying it.
    pub fn credential<'h>(&self, headers: &'h HeaderMap) -> Result<(&'h str, Via), AuthError> {
        if let Some(value) = headers.get(header::AUTHORIZATION) {
            let token = value
                .to_str()
                .ok()
                .and_then(|h| h.split_once(' '))
                .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
                .map(|(_, token)| token.trim())
                .filter(|token| !token.is_empty())
                .ok_or(AuthError::Missing)?;
            return Ok((token, Via::Header));
        }
        cookie(headers, &self.session_cookie)
            .map(|token| (token, Via::Cookie))
            .ok_or(AuthError::Missing)
    }
}

/// The value of cookie `name` among the request's `Cookie` headers.
fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.trim().trim_matches('"'))
        .filter(|value| !value.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, value.parse().unwrap());
        }
        map
    }

    fn hs256_only(secret: &[u8]) -> Authenticator {
        Authenticator::new(&AuthSettings {
            secret: secret.to_vec(),
            firebase: None,
            jwks: None,
            session_cookie: "__session".into(),
            keys: KeySettings::default(),
        })
        .unwrap()
    }

    #[tokio::test]
    async fn a_token_verified_before_still_expires_at_its_exp() {
        let auth = hs256_only(b"s");
        let token = TokenIssuer::hs256(b"s").issue("alice", 1).unwrap();
        assert_eq!(auth.verify(&token).await.unwrap().uid, "alice");
        assert_eq!(
            auth.verify(&token).await.unwrap().uid,
            "alice",
            "from the cache"
        );
        tokio::time::sleep(std::time::Duration::from_millis(2_100)).await;
        assert_eq!(auth.verify(&token).await, Err(AuthError::Expired));
        // Refusals are not remembered as anything else.
        let other = TokenIssuer::hs256(b"other").issue("alice", 60).unwrap();
        for _ in 0..2 {
            assert!(matches!(
                auth.verify(&other).await,
                Err(AuthError::Invalid(_))
            ));
        }
    }

    #[tokio::test]
    async fn the_header_wins_over_the_cookie_and_other_schemes_are_missing() {
        let auth = hs256_only(b"s");
        let both = headers(&[
            ("authorization", "bearer abc"),
            ("cookie", "a=1; __session=xyz"),
        ]);
        assert_eq!(auth.credential(&both), Ok(("abc", Via::Header)));
        let cookie = headers(&[("cookie", "a=1"), ("cookie", "b=2; __session=\"xyz\"")]);
        assert_eq!(auth.credential(&cookie), Ok(("xyz", Via::Cookie)));
        for refused in [
            headers(&[("authorization", "Basic abc")]),
            headers(&[("authorization", "Bearer ")]),
            headers(&[("cookie", "__sessionx=1; session=2")]),
            headers(&[]),
        ] {
            assert_eq!(auth.credential(&refused), Err(AuthError::Missing));
        }
    }
}
