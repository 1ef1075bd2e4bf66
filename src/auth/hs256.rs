//! Tokens signed with the server's own secret (HS256): what `livechat-sessions token` prints,
//! and what a backend that shares the secret can mint. They carry no `iss`.

use std::io::Write as _;
use std::path::Path;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header};
use serde::Serialize;

use super::AuthError;
use super::claims::{Checked, Rules};
use super::keys::Key;
use super::token::Token;

pub struct Hs256Verifier {
    key: Key,
    rules: Rules,
}

impl Hs256Verifier {
    pub fn new(secret: &[u8]) -> Self {
        Self {
            key: Key {
                decoding: DecodingKey::from_secret(secret),
                algorithm: Algorithm::HS256,
            },
            rules: Rules {
                issuer: None,
                audience: None,
                require_issued_at: false,
            },
        }
    }

    pub fn verify(&self, token: Token<'_>, now: u64) -> Result<Checked, AuthError> {
        if !token.signed_by(&self.key) {
            return Err(AuthError::Invalid("the token's signature does not verify"));
        }
        self.rules.check(token.claims, now)
    }
}

#[derive(Serialize)]
struct IssuedClaims<'a> {
    sub: &'a str,
    exp: u64,
    iat: u64,
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
        let claims = IssuedClaims {
            sub: uid,
            exp: now + ttl_secs,
            iat: now,
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
                crate::domain::new_id() + &crate::domain::new_id() + &crate::domain::new_id();
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

#[cfg(test)]
mod tests {
    use super::*;

    fn verify(secret: &[u8], token: &str) -> Result<Checked, AuthError> {
        let now = jsonwebtoken::get_current_timestamp();
        Hs256Verifier::new(secret).verify(Token::parse(token)?, now)
    }

    #[test]
    fn a_token_verifies_only_with_its_own_secret() {
        let token = TokenIssuer::hs256(b"one").issue("alice", 60).unwrap();
        assert_eq!(verify(b"one", &token).unwrap().uid, "alice");
        assert!(matches!(verify(b"two", &token), Err(AuthError::Invalid(_))));
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
