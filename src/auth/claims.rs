//! What every verifier checks in a token's payload once its signature holds (or, for the
//! Firebase Auth emulator, without one): one set of rules, so the kinds cannot drift apart.

use serde::Deserialize;

use super::AuthError;

/// Tolerated difference between the issuer's clock and ours on the claims that must not lie in
/// the future (`nbf`, `iat`, `auth_time`): a token minted a moment ago by a clock slightly
/// ahead is not refused. Expiry is exact, so a socket closes at the second its token expires.
pub const CLOCK_SKEW_SECS: f64 = 60.0;

/// Longest uid accepted (Firebase's own limit).
pub const MAX_UID_CHARS: usize = 128;

/// The registered claims the verifiers look at; anything else in the payload is ignored.
/// Optional everywhere, so that a missing claim is reported as such rather than as malformed
/// JSON.
#[derive(Debug, Default, Deserialize)]
pub struct Claims {
    #[serde(default)]
    pub iss: Option<String>,
    #[serde(default)]
    pub sub: Option<String>,
    #[serde(default)]
    pub aud: Option<Audience>,
    #[serde(default)]
    pub exp: Option<f64>,
    #[serde(default)]
    pub nbf: Option<f64>,
    #[serde(default)]
    pub iat: Option<f64>,
    #[serde(default)]
    pub auth_time: Option<f64>,
}

/// `aud` is a string or an array of strings (RFC 7519 §4.1.3).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum Audience {
    One(String),
    Many(Vec<String>),
}

impl Audience {
    fn contains(&self, wanted: &str) -> bool {
        match self {
            Audience::One(aud) => aud == wanted,
            Audience::Many(auds) => auds.iter().any(|aud| aud == wanted),
        }
    }
}

/// What a verifier requires of the claims.
#[derive(Debug, Clone)]
pub struct Rules {
    /// The `iss` the token must carry; `None`: it must carry none.
    pub issuer: Option<String>,
    /// A value `aud` must hold; `None`: `aud` is not looked at.
    pub audience: Option<String>,
    /// Firebase tokens always carry `iat` and `auth_time`; one without them is not Firebase's.
    pub require_issued_at: bool,
}

/// The parts of verified claims the server keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    pub uid: String,
    pub expires_at: u64,
}

impl Rules {
    /// Checks `claims` at `now` (seconds since the Unix epoch).
    pub fn check(&self, claims: Claims, now: u64) -> Result<Checked, AuthError> {
        let now = now as f64;
        if claims.iss != self.issuer {
            return Err(AuthError::Invalid("the token's issuer is not accepted"));
        }
        if let Some(audience) = &self.audience
            && !claims.aud.is_some_and(|aud| aud.contains(audience))
        {
            return Err(AuthError::Invalid("the token is for another audience"));
        }
        let exp = time(claims.exp)?.ok_or(AuthError::Invalid("the token has no expiry"))?;
        if exp <= now {
            return Err(AuthError::Expired);
        }
        if time(claims.nbf)?.is_some_and(|nbf| nbf > now + CLOCK_SKEW_SECS) {
            return Err(AuthError::Invalid("the token is not valid yet"));
        }
        for (claim, name) in [(claims.iat, "iat"), (claims.auth_time, "auth_time")] {
            match time(claim)? {
                Some(at) if at > now + CLOCK_SKEW_SECS => {
                    return Err(AuthError::Invalid(if name == "iat" {
                        "the token was issued in the future"
                    } else {
                        "the token's sign-in time is in the future"
                    }));
                }
                None if self.require_issued_at => {
                    return Err(AuthError::Invalid(if name == "iat" {
                        "the token has no issue time"
                    } else {
                        "the token has no sign-in time"
                    }));
                }
                _ => {}
            }
        }
        let uid = claims
            .sub
            .filter(|sub| !sub.is_empty() && sub.chars().count() <= MAX_UID_CHARS)
            .ok_or(AuthError::Invalid(
                "the token's subject must be 1 to 128 characters",
            ))?;
        Ok(Checked {
            uid,
            expires_at: exp as u64,
        })
    }
}

/// A NumericDate claim: a finite, non-negative number of seconds.
fn time(value: Option<f64>) -> Result<Option<f64>, AuthError> {
    match value {
        Some(t) if !t.is_finite() || t < 0.0 => {
            Err(AuthError::Invalid("a time claim is not a valid date"))
        }
        other => Ok(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_800_000_000;

    fn firebase() -> Rules {
        Rules {
            issuer: Some("https://securetoken.google.com/p".into()),
            audience: Some("p".into()),
            require_issued_at: true,
        }
    }

    fn claims() -> Claims {
        Claims {
            iss: Some("https://securetoken.google.com/p".into()),
            sub: Some("alice".into()),
            aud: Some(Audience::One("p".into())),
            exp: Some((NOW + 60) as f64),
            nbf: None,
            iat: Some(NOW as f64),
            auth_time: Some(NOW as f64),
        }
    }

    #[test]
    fn valid_claims_give_the_subject_and_expiry() {
        let checked = firebase().check(claims(), NOW).unwrap();
        assert_eq!(checked.uid, "alice");
        assert_eq!(checked.expires_at, NOW + 60);
    }

    #[test]
    fn a_token_expires_at_the_second_its_exp_names() {
        let at_expiry = Claims {
            exp: Some(NOW as f64),
            ..claims()
        };
        assert_eq!(firebase().check(at_expiry, NOW), Err(AuthError::Expired));
    }

    #[test]
    fn times_ahead_by_less_than_the_skew_pass_and_beyond_it_fail() {
        let slightly = Claims {
            iat: Some(NOW as f64 + 30.0),
            ..claims()
        };
        assert!(firebase().check(slightly, NOW).is_ok());
        for late in [
            Claims {
                iat: Some(NOW as f64 + 3600.0),
                ..claims()
            },
            Claims {
                auth_time: Some(NOW as f64 + 3600.0),
                ..claims()
            },
            Claims {
                nbf: Some(NOW as f64 + 3600.0),
                ..claims()
            },
        ] {
            assert!(matches!(
                firebase().check(late, NOW),
                Err(AuthError::Invalid(_))
            ));
        }
    }

    #[test]
    fn audience_may_be_a_list() {
        let listed = Claims {
            aud: Some(Audience::Many(vec!["other".into(), "p".into()])),
            ..claims()
        };
        assert!(firebase().check(listed, NOW).is_ok());
    }

    #[test]
    fn nonsense_times_are_invalid_not_a_panic() {
        for exp in [f64::NAN, f64::INFINITY, -1.0] {
            let odd = Claims {
                exp: Some(exp),
                ..claims()
            };
            assert!(matches!(
                firebase().check(odd, NOW),
                Err(AuthError::Invalid(_))
            ));
        }
    }
}
