//! Why the server closes a socket (`protocol/README.md`, "Close codes"): each reason is one
//! value that knows its code, the text sent with it, and whether the client should reconnect
//! or stop. The sockets, the close metrics and the test that holds the README's table to this
//! one all read it from here.

/// What the client should do after a close.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Then {
    /// Reconnect (with `sinceSeq`, after a backoff; after 4001, with a new token).
    Reconnect,
    /// Stop: reconnecting would fail the same way.
    Stop,
}

/// Why a socket is closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Close {
    /// The peer sent nothing, not even a pong, for the idle timeout.
    Silent,
    ShuttingDown,
    /// An inbound frame over the size limit.
    TooBig,
    /// The session's state had to be reloaded on the server (its room closed).
    SessionReloaded,
    /// The socket fell behind events the store no longer holds, or missed one.
    MissedEvents,
    /// The session could not be read to attach or catch up the socket.
    SessionUnavailable,
    /// The user's list could not be read again.
    ListUnavailable,
    /// The token's signing keys are not at hand yet.
    AuthUnavailable,
    InvalidToken,
    TokenExpired,
    NoAuthInTime,
    FirstFrameNotAuth,
    SessionNotFound,
    SessionDeleted,
    /// The socket's outbound queue overflowed.
    SlowConsumer,
    BadSinceSeq,
    TooManyMalformed,
    /// The user has as many sockets open as one user may.
    TooManySockets,
}

/// Every close code the server sends, with what the client should do.
pub const CODES: [(u16, Then); 9] = [
    (1000, Then::Reconnect),
    (1001, Then::Reconnect),
    (1009, Then::Stop),
    (1011, Then::Reconnect),
    (4001, Then::Reconnect),
    (4004, Then::Stop),
    (4008, Then::Reconnect),
    (4009, Then::Stop),
    (4029, Then::Reconnect),
];

impl Close {
    pub fn code(self) -> u16 {
        match self {
            Close::Silent => 1000,
            Close::ShuttingDown => 1001,
            Close::TooBig => 1009,
            Close::SessionReloaded
            | Close::MissedEvents
            | Close::SessionUnavailable
            | Close::ListUnavailable
            | Close::AuthUnavailable => 1011,
            Close::InvalidToken
            | Close::TokenExpired
            | Close::NoAuthInTime
            | Close::FirstFrameNotAuth => 4001,
            Close::SessionNotFound | Close::SessionDeleted => 4004,
            Close::SlowConsumer => 4008,
            Close::BadSinceSeq | Close::TooManyMalformed => 4009,
            Close::TooManySockets => 4029,
        }
    }

    /// The text sent in the close frame.
    pub fn reason(self) -> &'static str {
        match self {
            Close::Silent => "no traffic from the peer",
            Close::ShuttingDown => "server shutting down; reconnect",
            Close::TooBig => "frame too large",
            Close::SessionReloaded => "session reloaded; reconnect with sinceSeq",
            Close::MissedEvents => "missed events; reconnect with sinceSeq",
            Close::SessionUnavailable => "session unavailable; reconnect",
            Close::ListUnavailable => "list unavailable; reconnect",
            Close::AuthUnavailable => "authentication unavailable; reconnect",
            Close::InvalidToken => "invalid or expired token",
            Close::TokenExpired => "token expired",
            Close::NoAuthInTime => "no auth frame in time",
            Close::FirstFrameNotAuth => "the first frame must be auth",
            Close::SessionNotFound => "session not found",
            Close::SessionDeleted => "session deleted",
            Close::SlowConsumer => "too far behind; reconnect with sinceSeq",
            Close::BadSinceSeq => "sinceSeq must be a non-negative integer",
            Close::TooManyMalformed => "too many malformed frames",
            Close::TooManySockets => "too many sockets for this user; close one",
        }
    }

    pub fn then(self) -> Then {
        let code = self.code();
        CODES
            .iter()
            .find(|(known, _)| *known == code)
            .map_or(Then::Reconnect, |(_, then)| *then)
    }

    /// Sent at once, ahead of what is queued (the queue is what overflowed).
    pub fn is_urgent(self) -> bool {
        self == Close::SlowConsumer
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The README's table: each code row under its **reconnect** or **stop** heading.
    fn documented() -> Vec<(u16, Then)> {
        let readme = include_str!("../../protocol/README.md");
        let table = readme
            .split("## Close codes")
            .nth(1)
            .and_then(|rest| rest.split("\n## ").next())
            .expect("protocol/README.md has a Close codes section");
        let mut then = None;
        let mut rows = Vec::new();
        for line in table.lines().filter(|line| line.starts_with('|')) {
            let first = line.split('|').nth(1).unwrap_or_default().trim();
            match first {
                "**reconnect**" => then = Some(Then::Reconnect),
                "**stop**" => then = Some(Then::Stop),
                code => {
                    if let (Ok(code), Some(then)) = (code.parse::<u16>(), then) {
                        rows.push((code, then));
                    }
                }
            }
        }
        rows.sort_by_key(|(code, _)| *code);
        rows
    }

    #[test]
    fn the_readme_lists_every_close_code_with_what_the_client_does() {
        assert_eq!(documented(), CODES.to_vec());
    }
}
