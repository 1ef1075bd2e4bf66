//! The wire contract, in one place: every shape that crosses the wire, REST or socket, is
//! written here and nowhere else. The domain hands over typed values (sessions, events,
//! outcomes, errors); this module turns them into the JSON that `protocol/openapi.yaml` and
//! `protocol/live.schema.json` describe, and turns clients' frames into commands.
//!
//! - [`view`]: the session object (REST answers and snapshots);
//! - [`rest`]: the REST envelopes;
//! - [`push`]: push frames (events, presence, deletion, snapshot, resumed);
//! - [`reply`]: socket replies and their one error shape;
//! - [`input`]: request bodies, command fields and the list's query → validated domain values;
//! - [`command`]: client frames → commands;
//! - [`close`]: the socket's close codes;
//! - [`code`]: the error codes both share, with their HTTP statuses.

pub mod close;
pub mod code;
pub mod command;
pub mod input;
pub mod push;
pub mod reply;
pub mod rest;
pub mod view;

#[cfg(test)]
pub(crate) mod properties;

pub use code::ErrorCode;
