//! The behavioural suite: the real server on port 0, real SQLite, real HTTP.
//! Every response a test receives is also checked against `protocol/openapi.yaml`.

mod helpers;
mod live_client;

mod auth;
mod concurrency;
mod durability;
mod flow;
mod idempotency;
mod lifecycle;
mod list;
mod live;
mod live_process;
mod restore;
mod validation;
