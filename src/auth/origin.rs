//! Browsers on other origins (`--cors-origins`): which may call, and the `Origin` checks that
//! keep another site from using a user's cookie (cross-site request forgery on REST,
//! cross-site WebSocket hijacking on sockets). The CORS answers themselves are `api::cors`.
//!
//! A cookie is sent by the browser whichever page makes the request, so a request it
//! authenticates is trusted only from a listed origin or from the server's own (its `Origin`
//! names the `Host` it was sent to). Requests without `Origin` come from programs, not from a
//! page of another site. With `*`, any origin may call with a bearer token, none with a cookie.

use axum::http::{HeaderMap, header};

/// `--cors-origins`: nobody, a list, or anybody.
#[derive(Debug, Clone, Default)]
pub enum OriginPolicy {
    /// Unset: no CORS answers; only the server's own origin may use the cookie.
    #[default]
    Unset,
    /// These origins (lower case, as `scheme://host[:port]`) may call, cookies included.
    Listed(Vec<String>),
    /// `*`: any origin may call without credentials.
    Any,
}

impl OriginPolicy {
    /// Parses `--cors-origins`: empty (unset), `*`, or comma-separated origins.
    pub fn parse(value: Option<&str>) -> Result<Self, String> {
        let Some(value) = value.map(str::trim).filter(|v| !v.is_empty()) else {
            return Ok(Self::Unset);
        };
        if value == "*" {
            return Ok(Self::Any);
        }
        let mut origins = Vec::new();
        for origin in value.split(',').map(str::trim).filter(|o| !o.is_empty()) {
            let parsed = url::Url::parse(origin)
                .map_err(|_| format!("{origin:?} is not an origin like https://app.example.com"))?;
            let serialized = parsed.origin().ascii_serialization();
            if !matches!(parsed.scheme(), "http" | "https")
                || !serialized.eq_ignore_ascii_case(origin.trim_end_matches('/'))
            {
                return Err(format!(
                    "{origin:?} is not an origin like https://app.example.com (a scheme, a host and an optional port; no path)"
                ));
            }
            origins.push(serialized);
        }
        Ok(Self::Listed(origins))
    }

    pub(crate) fn lists(&self, origin: &str) -> bool {
        match self {
            Self::Listed(origins) => origins.iter().any(|o| o.eq_ignore_ascii_case(origin)),
            Self::Unset | Self::Any => false,
        }
    }

    /// Whether a socket may be opened from the request's `Origin`: any, when the list is unset
    /// or `*`; otherwise a listed one, the server's own, or none (a program, not a page).
    pub fn may_open_socket(&self, headers: &HeaderMap) -> bool {
        match origin(headers) {
            None => true,
            Some(origin) => match self {
                Self::Unset | Self::Any => true,
                Self::Listed(_) => self.lists(origin) || same_origin(origin, headers),
            },
        }
    }

    /// Whether a cookie that came with the request may be trusted: its `Origin`, when it has
    /// one, is listed or the server's own.
    pub fn may_send_credentials(&self, headers: &HeaderMap) -> bool {
        match origin(headers) {
            None => true,
            Some(origin) => self.lists(origin) || same_origin(origin, headers),
        }
    }
}

fn origin(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::ORIGIN)
        .map(|value| value.to_str().unwrap_or("null"))
}

/// Whether `origin` names the host the request was sent to (a page of this server).
fn same_origin(origin: &str, headers: &HeaderMap) -> bool {
    let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) else {
        return false;
    };
    origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"))
        .is_some_and(|authority| authority.eq_ignore_ascii_case(host))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(origin: Option<&str>, host: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, host.parse().unwrap());
        if let Some(origin) = origin {
            headers.insert(header::ORIGIN, origin.parse().unwrap());
        }
        headers
    }

    #[test]
    fn origins_parse_to_their_serialization_and_paths_are_refused() {
        let policy =
            OriginPolicy::parse(Some("https://App.example.com, http://localhost:5173/")).unwrap();
        let OriginPolicy::Listed(origins) = policy else {
            panic!("a list")
        };
        assert_eq!(
            origins,
            ["https://app.example.com", "http://localhost:5173"]
        );
        for bad in [
            "app.example.com",
            "https://a.com/path",
            "ftp://a.com",
            "https://",
        ] {
            assert!(OriginPolicy::parse(Some(bad)).is_err(), "{bad}");
        }
        assert!(matches!(
            OriginPolicy::parse(Some(" ")),
            Ok(OriginPolicy::Unset)
        ));
        assert!(matches!(
            OriginPolicy::parse(Some("*")),
            Ok(OriginPolicy::Any)
        ));
    }

    #[test]
    fn cookies_are_trusted_from_listed_or_own_origins_only() {
        let listed = OriginPolicy::parse(Some("https://app.example.com")).unwrap();
        let host = "api.example.com";
        assert!(listed.may_send_credentials(&request(Some("https://app.example.com"), host)));
        assert!(listed.may_send_credentials(&request(Some("https://api.example.com"), host)));
        assert!(listed.may_send_credentials(&request(None, host)));
        assert!(!listed.may_send_credentials(&request(Some("https://evil.example"), host)));
        assert!(!listed.may_send_credentials(&request(Some("null"), host)));
        for open in [OriginPolicy::Any, OriginPolicy::Unset] {
            assert!(!open.may_send_credentials(&request(Some("https://evil.example"), host)));
            assert!(open.may_open_socket(&request(Some("https://evil.example"), host)));
        }
        assert!(!listed.may_open_socket(&request(Some("https://evil.example"), host)));
        assert!(listed.may_open_socket(&request(Some("https://app.example.com"), host)));
    }
}
