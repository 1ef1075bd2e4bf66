//! A compact JWS split into its parts, read once: the header (which key and algorithm it names),
//! the claims (whose `iss` picks the verifier) and the signature, not yet checked.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;

use super::AuthError;
use super::claims::Claims;
use super::keys::Key;

/// Longer tokens are refused before anything is decoded (Firebase's are about 1 KiB).
pub const MAX_TOKEN_BYTES: usize = 16 * 1024;

#[derive(Debug, Deserialize)]
pub struct Header {
    /// Kept as text: `none` (the Firebase Auth emulator's) is no algorithm of `jsonwebtoken`.
    pub alg: String,
    #[serde(default)]
    pub kid: Option<String>,
}

/// An unverified token.
pub struct Token<'a> {
    pub header: Header,
    pub claims: Claims,
    /// `header.payload`, what the signature covers.
    signed: &'a str,
    signature: &'a str,
}

impl<'a> Token<'a> {
    pub fn parse(token: &'a str) -> Result<Self, AuthError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(AuthError::Invalid("the token is too long"));
        }
        let malformed = AuthError::Invalid("the token is not a JWT");
        let (signed, signature) = token.rsplit_once('.').ok_or(malformed.clone())?;
        let (header, payload) = signed.split_once('.').ok_or(malformed.clone())?;
        let header: Header = decode_part(header).ok_or(malformed.clone())?;
        let claims: Claims = decode_part(payload).ok_or(malformed)?;
        Ok(Self {
            header,
            claims,
            signed,
            signature,
        })
    }

    /// Whether the signature is `key`'s over this token, with the token naming the key's own
    /// algorithm (so a header can never choose another).
    pub fn signed_by(&self, key: &Key) -> bool {
        self.header.alg.parse::<jsonwebtoken::Algorithm>().ok() == Some(key.algorithm)
            && jsonwebtoken::crypto::verify(
                self.signature,
                self.signed.as_bytes(),
                &key.decoding,
                key.algorithm,
            )
            .unwrap_or(false)
    }

    /// An unsigned token (`alg: none` and an empty signature), as the emulator issues them.
    pub fn is_unsigned(&self) -> bool {
        self.header.alg == "none" && self.signature.is_empty()
    }
}

fn decode_part<T: for<'de> Deserialize<'de>>(part: &str) -> Option<T> {
    let bytes = URL_SAFE_NO_PAD.decode(part).ok()?;
    serde_json::from_slice(&bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_are_read_once_and_junk_is_refused() {
        let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"RS256","kid":"k1"}"#);
        let payload = URL_SAFE_NO_PAD.encode(r#"{"iss":"i","sub":"u","exp":1}"#);
        let text = format!("{header}.{payload}.c2ln");
        let token = Token::parse(&text).unwrap();
        assert_eq!(token.header.alg, "RS256");
        assert_eq!(token.header.kid.as_deref(), Some("k1"));
        assert_eq!(token.claims.iss.as_deref(), Some("i"));
        assert!(!token.is_unsigned());
        for junk in [
            "",
            ".",
            "..",
            "a.b.c",
            "not a token",
            &format!("{header}.{payload}"),
        ] {
            assert!(Token::parse(junk).is_err(), "{junk:?}");
        }
    }
}
