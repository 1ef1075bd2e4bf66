//! The behavioural suite: the real server on port 0, real SQLite, real HTTP.
//! Every response a test receives is also checked against `protocol/openapi.yaml`.

mod event_stream;
mod exposition;
mod helpers;
mod identity;
mod live_client;

mod auth;
mod auth_fuzz;
mod compression;
mod concurrency;
mod connections;
mod cors;
mod disk_full;
mod durability;
mod etag;
mod events;
mod eviction;
mod firebase;
mod flow;
mod idempotency;
mod image;
mod jwks;
mod keys;
mod lifecycle;
mod list;
mod lists;
mod live;
mod live_process;
mod operations;
mod properties;
mod quotas;
mod reads;
mod restore;
mod signals;
mod upgrade;
mod validation;
