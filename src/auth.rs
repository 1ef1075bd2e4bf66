//! Authentication: every route but `/healthz` needs `Authorization: Bearer <JWT>`; the caller's
//! uid is the token's `sub` (Firebase ID tokens also carry it as `user_id`).
//!
//! [`TokenVerifier`] is the one place tokens are checked. It accepts HS256 tokens signed with
//! the server's secret; other key sources (RS256 via JWKS, Firebase ID tokens) belong beside
//! that key, behind the same `verify`.

use std::io::Write as _;
use std::path::Path;
use std::sync::Arc;

use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::error::ApiError;

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: String,
    exp: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    iat: Option<u64>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AuthError {
    #[error("missing bearer token")]
    Missing,
    #[error("the token has expired")]
    Expired,
    #[error("invalid token")]
    Invalid,
}

impl From<AuthError> for ApiError {
    fn from(err: AuthError) -> Self {
        ApiError::Unauthenticated(err.to_string())
    }
}

/// Who a valid token speaks for, and until when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub uid: String,
    /// The token's `exp`, in seconds since the Unix epoch.
    pub expires_at: u64,
}

/// Verifies tokens and yields the caller's identity.
pub struct TokenVerifier {
    key: DecodingKey,
    validation: Validation,
}

impl TokenVerifier {
    pub fn hs256(secret: &[u8]) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        // Expiry is exact: a token is refused from the second its `exp` names.
        validation.leeway = 0;
        Self {
            key: DecodingKey::from_secret(secret),
            validation,
        }
    }

    /// The identity of a valid token; expired tokens are told apart so clients know to refresh.
    pub fn verify(&self, token: &str) -> Result<Identity, AuthError> {
        use jsonwebtoken::errors::ErrorKind;
        let data =
            jsonwebtoken::decode::<Claims>(token, &self.key, &self.validation).map_err(|err| {
                match err.kind() {
                    ErrorKind::ExpiredSignature => AuthError::Expired,
                    _ => AuthError::Invalid,
                }
            })?;
        let uid = data.claims.sub;
        if uid.is_empty() || uid.len() > 128 {
            return Err(AuthError::Invalid);
        }
        Ok(Identity {
            uid,
            expires_at: data.claims.exp,
        })
    }

    /// The identity from an `Authorization` header value.
    pub fn verify_header(&self, header: Option<&str>) -> Result<Identity, AuthError> {
        let token = header
            .and_then(|h| {
                h.strip_prefix("Bearer ")
                    .or_else(|| h.strip_prefix("bearer "))
            })
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or(AuthError::Missing)?;
        self.verify(token)
    }
}

/// Signs HS256 tokens with the server's secret (the `token` command, and tests).
pub struct TokenIssuer {
    key: EncodingKey,
}

impl TokenIssuer {
    pub fn hs256(secret: &[u8]) -> Self {
        Self {
            key: EncodingKey::from_secret(secret),
        }
    }

    /// A token for `uid` valid for `ttl_secs` from now.
    pub fn issue(&self, uid: &str, ttl_secs: u64) -> Result<String, jsonwebtoken::errors::Error> {
        let now = jsonwebtoken::get_current_timestamp();
        let claims = Claims {
            sub: uid.to_owned(),
            exp: now + ttl_secs,
            iat: Some(now),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.key)
    }
}

/// The HS256 secret: `configured` when given, else the one kept in `DATA_DIR/jwt-secret`,
/// generated (mode 0600) on first use.
pub fn load_secret(data_dir: &Path, configured: Option<&str>) -> std::io::Result<Vec<u8>> {
    if let Some(secret) = configured.filter(|s| !s.is_empty()) {
        return Ok(secret.as_bytes().to_vec());
    }
    std::fs::create_dir_all(data_dir)?;
    let path = data_dir.join("jwt-secret");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(&path) {
        Ok(mut file) => {
            let secret =
                crate::session::new_id() + &crate::session::new_id() + &crate::session::new_id();
            file.write_all(secret.as_bytes())?;
            file.sync_all()?;
            Ok(secret.into_bytes())
        }
        // Another process created it first (or an earlier run did): use theirs.
        Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {
            let secret = std::fs::read(&path)?;
            let trimmed = secret.trim_ascii().to_vec();
            if trimmed.is_empty() {
                return Err(std::io::Error::other(format!(
                    "{} is empty",
                    path.display()
                )));
            }
            Ok(trimmed)
        }
        Err(err) => Err(err),
    }
}

/// The authenticated caller, extracted from the `Authorization` header.
pub struct AuthUser {
    pub uid: String,
}

impl<S> FromRequestParts<S> for AuthUser
where
    Arc<TokenVerifier>: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let verifier = Arc::<TokenVerifier>::from_ref(state);
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        let identity = verifier.verify_header(header)?;
        Ok(AuthUser { uid: identity.uid })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_verifies_only_with_its_own_secret() {
        let token = TokenIssuer::hs256(b"one").issue("alice", 60).unwrap();
        let identity = TokenVerifier::hs256(b"one").verify(&token).unwrap();
        assert_eq!(identity.uid, "alice");
        assert_eq!(
            TokenVerifier::hs256(b"two").verify(&token),
            Err(AuthError::Invalid)
        );
    }

    #[test]
    fn the_generated_secret_is_private_and_stable() {
        let dir = tempfile::tempdir().unwrap();
        let first = load_secret(dir.path(), None).unwrap();
        assert_eq!(load_secret(dir.path(), None).unwrap(), first);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("jwt-secret"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
