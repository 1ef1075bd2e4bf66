//! Any OpenID-style provider that publishes a JWK Set (Auth0, Supabase, Keycloak, Clerk…):
//! RS256, ES256 or EdDSA tokens, each verified with the algorithm its key declares, for one
//! configured issuer and audience.

use super::AuthError;
use super::claims::{Checked, Rules};
use super::keys::{KeyError, KeySource};
use super::token::Token;

pub struct JwksVerifier {
    rules: Rules,
    keys: KeySource,
}

impl JwksVerifier {
    pub fn new(keys: KeySource, issuer: &str, audience: &str) -> Self {
        Self {
            rules: Rules {
                issuer: Some(issuer.to_owned()),
                audience: Some(audience.to_owned()),
                require_issued_at: false,
            },
            keys,
        }
    }

    pub fn issuer(&self) -> &str {
        self.rules.issuer.as_deref().unwrap_or_default()
    }

    pub async fn verify(&self, token: Token<'_>, now: u64) -> Result<Checked, AuthError> {
        if !matches!(token.header.alg.as_str(), "RS256" | "ES256" | "EdDSA") {
            return Err(AuthError::Invalid(
                "the token must be signed with RS256, ES256 or EdDSA",
            ));
        }
        let kid = token
            .header
            .kid
            .as_deref()
            .ok_or(AuthError::Invalid("the token names no key (kid)"))?;
        let key = self.keys.key(kid).await.map_err(|err| match err {
            KeyError::Unknown => AuthError::Invalid("the token's key (kid) is not known"),
            KeyError::Unavailable => AuthError::Unavailable(format!(
                "no signing keys could be fetched from {}",
                self.keys.url()
            )),
        })?;
        // `signed_by` also refuses a header whose algorithm is not the key's own.
        if !token.signed_by(&key) {
            return Err(AuthError::Invalid("the token's signature does not verify"));
        }
        self.rules.check(token.claims, now)
    }
}
