//! Firebase Authentication: ID tokens (what a signed-in web client sends) and session cookies
//! (what an app behind Firebase Hosting sets), verified as Google's Admin SDKs verify them.
//!
//! Both are RS256 JWTs whose `kid` names a key Google publishes as an x509 map; they differ in
//! issuer and key URL only. While `FIREBASE_AUTH_EMULATOR_HOST` is set, the Firebase Auth
//! emulator's tokens are accepted instead: unsigned (`alg: none`), for the same project, checked
//! claim by claim like real ones, and no keys are fetched (as the Admin SDKs do).

use super::AuthError;
use super::claims::{Checked, Rules};
use super::keys::{KeyError, KeySource};
use super::token::Token;

/// Which of the two Firebase credentials a verifier takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FirebaseKind {
    IdToken,
    SessionCookie,
}

impl FirebaseKind {
    pub fn issuer(self, project: &str) -> String {
        match self {
            FirebaseKind::IdToken => format!("https://securetoken.google.com/{project}"),
            FirebaseKind::SessionCookie => format!("https://session.firebase.google.com/{project}"),
        }
    }
}

/// Where a verifier gets its keys: Google's, or none under the emulator.
pub enum Signatures {
    Google(KeySource),
    Emulator,
}

pub struct FirebaseVerifier {
    rules: Rules,
    signatures: Signatures,
}

impl FirebaseVerifier {
    pub fn new(kind: FirebaseKind, project: &str, signatures: Signatures) -> Self {
        Self {
            rules: Rules {
                issuer: Some(kind.issuer(project)),
                audience: Some(project.to_owned()),
                require_issued_at: true,
            },
            signatures,
        }
    }

    pub fn issuer(&self) -> &str {
        self.rules.issuer.as_deref().unwrap_or_default()
    }

    pub async fn verify(&self, token: Token<'_>, now: u64) -> Result<Checked, AuthError> {
        match &self.signatures {
            Signatures::Emulator => {
                if !token.is_unsigned() {
                    return Err(AuthError::Invalid(
                        "with the Auth emulator configured, Firebase tokens must be the emulator's (unsigned)",
                    ));
                }
            }
            Signatures::Google(keys) => {
                if token.header.alg != "RS256" {
                    return Err(AuthError::Invalid(
                        "Firebase tokens must be signed with RS256",
                    ));
                }
                let kid = token
                    .header
                    .kid
                    .as_deref()
                    .ok_or(AuthError::Invalid("the token names no key (kid)"))?;
                let key = keys.key(kid).await.map_err(|err| match err {
                    KeyError::Unknown => AuthError::Invalid("the token's key (kid) is not known"),
                    KeyError::Unavailable => AuthError::Unavailable(format!(
                        "no Firebase signing keys could be fetched from {}",
                        keys.url()
                    )),
                })?;
                if !token.signed_by(&key) {
                    return Err(AuthError::Invalid("the token's signature does not verify"));
                }
            }
        }
        self.rules.check(token.claims, now)
    }
}
