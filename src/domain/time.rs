//! Timestamps as the API speaks them: RFC 3339 UTC with milliseconds on output, any RFC 3339 on
//! input, stored as milliseconds since the Unix epoch.

use chrono::{DateTime, Datelike as _, SecondsFormat, Utc};

/// A point in time with millisecond precision (sub-millisecond input is truncated).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

impl Timestamp {
    pub fn now() -> Self {
        Self(Utc::now().timestamp_millis())
    }

    pub fn from_millis(millis: i64) -> Self {
        Self(millis)
    }

    pub fn millis(self) -> i64 {
        self.0
    }

    /// Parses any RFC 3339 timestamp (`2025-01-15T10:00:00Z`, `…+02:00`, `….123456Z`) whose
    /// UTC year has four digits, so that it can be written back in the same form.
    pub fn parse_rfc3339(text: &str) -> Option<Self> {
        let parsed = DateTime::parse_from_rfc3339(text).ok()?.with_timezone(&Utc);
        (0..=9999)
            .contains(&parsed.year())
            .then(|| Self(parsed.timestamp_millis()))
    }

    /// `2025-01-15T10:00:00.000Z`.
    pub fn to_rfc3339(self) -> String {
        DateTime::<Utc>::from_timestamp_millis(self.0)
            .unwrap_or_default()
            .to_rfc3339_opts(SecondsFormat::Millis, true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_utc_with_milliseconds() {
        let t = Timestamp::parse_rfc3339("2025-01-15T12:00:00.1234+02:00").unwrap();
        assert_eq!(t.to_rfc3339(), "2025-01-15T10:00:00.123Z");
    }

    #[test]
    fn rejects_what_is_not_rfc3339() {
        for text in [
            "",
            "2025-01-15",
            "2025-01-15 10:00:00",
            "yesterday",
            "2025-13-01T00:00:00Z",
        ] {
            assert_eq!(Timestamp::parse_rfc3339(text), None, "{text}");
        }
    }
}
