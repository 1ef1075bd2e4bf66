//! Close codes (`protocol/README.md`, "Close codes"). "Reconnect" codes: 1000, 1001, 1011,
//! 4008, 4029 (resume with `sinceSeq`). "Stop" codes: 1009, 4001 (until a new token), 4004, 4009.

/// The peer was silent too long.
pub const SILENT: u16 = 1000;
pub const SHUTTING_DOWN: u16 = 1001;
pub const TOO_BIG: u16 = 1009;
/// The session's state had to be reloaded on the server, or the token's keys are not at hand
/// yet: reconnect.
pub const RELOAD: u16 = 1011;
pub const UNAUTHENTICATED: u16 = 4001;
pub const NOT_FOUND: u16 = 4004;
pub const SLOW_CONSUMER: u16 = 4008;
pub const PROTOCOL_ERROR: u16 = 4009;
/// The user has as many sockets open as they may: reconnect after a backoff.
pub const TOO_MANY_SOCKETS: u16 = 4029;
