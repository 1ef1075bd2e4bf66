//! livechat-sessions: the session backend of a live image-editing chat.
//!
//! Data flows one way:
//!
//! - [`api`] (HTTP transport) and [`live`] (WebSocket transport) parse what clients send into
//!   domain values and call the domain;
//! - [`session`] is the domain: the session model, input validation, and one actor per live
//!   session that serializes its writes and commits them in groups;
//! - [`store`] persists sessions behind the [`store::SessionStore`] trait (SQLite, Firestore);
//! - [`fanout`] tells other server instances about commits (Redis pub/sub), so each instance's
//!   actor can bring its own sockets up to date.
//!
//! [`app`] wires these together from a [`config::ServeConfig`] and runs the server on a listener
//! it is given, so the binary and the tests start it the same way. [`auth`] verifies the tokens
//! every route requires (and issues the server's own). [`bodies`] holds the serialized answers
//! of sessions read, with their tags. [`telemetry`] is what operators see: logs and metrics.

pub mod api;
pub mod app;
pub mod auth;
pub mod config;
pub mod domain;
pub mod fanout;
pub mod listener;
pub mod live;
pub mod protocol;
pub mod quota;
pub mod session;
pub mod store;
pub mod telemetry;
