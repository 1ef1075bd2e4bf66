//! livechat-sessions: the session backend of a live image-editing chat.
//!
//! Data flows one way (ARCHITECTURE.md draws it):
//!
//! - [`api`] (HTTP) and [`live`] (subscriptions, and the WebSocket that carries them) are the
//!   transports: they hand what clients send to [`protocol`], which parses it into validated
//!   domain values and writes every shape sent back, and they call [`session`];
//! - [`session`] is the domain's behaviour: one actor per live session that serializes its
//!   writes and commits them in groups, rooms, the users' lists, signals;
//! - [`store`] persists sessions behind the [`store::SessionStore`] trait (SQLite, Firestore);
//! - [`fanout`] tells other server instances about commits (Redis pub/sub), so each instance's
//!   actor can bring its own sockets up to date;
//! - [`domain`] holds the values they all share, and imports none of them.
//!
//! [`app`] wires these together from a [`config::ServeConfig`] and runs the server on a listener
//! it is given, so the binary and the tests start it the same way. [`auth`] verifies the tokens
//! every route requires (and issues the server's own). [`telemetry`] is what operators see:
//! logs and metrics.

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
