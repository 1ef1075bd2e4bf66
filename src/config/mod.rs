//! The command line. Every setting is a flag and a `LIVECHAT_*` environment
//! variable; flags win over the environment, which wins over the defaults. The settings are
//! grouped by concern, one file each; this file holds the commands and `serve`'s whole set.

mod auth;
mod limits;
mod live;
mod ops;
mod store;

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

pub use auth::{AuthArgs, SecretArgs, TokenArgs};
pub use limits::LimitArgs;
pub use live::LiveArgs;
pub use ops::OpsArgs;
pub use store::{FirestoreArgs, StoreKind};

use crate::session::ActorSettings;
use crate::session::validation::Limits;
use crate::store::sqlite::Synchronous;

#[derive(Debug, Parser)]
#[command(
    name = "livechat-sessions",
    version,
    about = "Real-time session server for live image-editing chats",
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Without a subcommand, `serve` runs with these settings.
    #[command(flatten)]
    pub serve: ServeConfig,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server (the default).
    Serve(Box<ServeConfig>),
    /// Print a signed token for a user, accepted by `serve` on the same data dir or secret.
    Token(TokenArgs),
    /// Convert sessions stored by the original system to the current Firestore layout
    /// (a dry run unless `--apply`).
    MigrateFirestore(MigrateArgs),
    /// Exit 0 if the server on this machine answers `/healthz` (or `/readyz`) with 200, 1
    /// otherwise: a container health check for images without a shell.
    Healthcheck(HealthcheckArgs),
}

#[derive(Debug, Clone, Args)]
pub struct HealthcheckArgs {
    /// The server's listening address, as given to `serve`; a wildcard host is reached on
    /// loopback.
    #[arg(long, env = "LIVECHAT_ADDR", default_value = "127.0.0.1:8080")]
    pub addr: String,

    /// Check readiness (`/readyz`) rather than liveness (`/healthz`).
    #[arg(long)]
    pub ready: bool,

    /// Milliseconds to wait for the answer.
    #[arg(long, default_value_t = 2_000)]
    pub timeout_ms: u64,
}

#[derive(Debug, Clone, Args)]
pub struct MigrateArgs {
    /// Write the conversion; without it, only report what would change.
    #[arg(long)]
    pub apply: bool,

    #[command(flatten)]
    pub firestore: FirestoreArgs,
}

#[derive(Debug, Clone, Args)]
pub struct ServeConfig {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, env = "LIVECHAT_ADDR", default_value = "127.0.0.1:8080")]
    pub addr: String,

    #[command(flatten)]
    pub secret: SecretArgs,

    #[command(flatten)]
    pub auth: AuthArgs,

    /// Where sessions are stored.
    #[arg(long, env = "LIVECHAT_STORE", value_enum, default_value_t = StoreKind::Sqlite)]
    pub store: StoreKind,

    /// SQLite durability: `normal` survives a process crash, `full` also a power loss.
    #[arg(long, env = "LIVECHAT_SQLITE_SYNCHRONOUS", value_enum, default_value_t = Synchronous::Normal)]
    pub sqlite_synchronous: Synchronous,

    /// SQLite read connections.
    #[arg(long, env = "LIVECHAT_SQLITE_READERS", default_value_t = 4)]
    pub sqlite_readers: usize,

    #[command(flatten)]
    pub firestore: FirestoreArgs,

    /// Seconds without a command after which a session's actor leaves memory (fractions
    /// allowed).
    #[arg(long, env = "LIVECHAT_ACTOR_IDLE_SECS", default_value_t = 60.0)]
    pub actor_idle_secs: f64,

    /// Commands queued per session before senders wait.
    #[arg(long, env = "LIVECHAT_ACTOR_MAILBOX", default_value_t = 1024)]
    pub actor_mailbox: usize,

    /// Redis for fan-out between instances (`redis://host:6379`), or a Redis Cluster by some of
    /// its nodes (`redis+cluster://h1:p1,h2:p2`, sharded pub/sub); without it, one instance.
    #[arg(long, env = "LIVECHAT_REDIS_URL")]
    pub redis_url: Option<String>,

    /// With Redis: milliseconds between checks of a watched session against the store.
    #[arg(long, env = "LIVECHAT_RESYNC_MS", default_value_t = 5_000)]
    pub resync_ms: u64,

    #[command(flatten)]
    pub limits: LimitArgs,

    #[command(flatten)]
    pub live: LiveArgs,

    #[command(flatten)]
    pub ops: OpsArgs,
}

impl ServeConfig {
    /// The settings `serve` would run with given no flags (defaults, then `LIVECHAT_*`
    /// variables), on `data_dir`. Tests start from this.
    pub fn from_env(data_dir: PathBuf) -> Self {
        let mut config = Cli::parse_from(["livechat-sessions", "serve"])
            .command
            .and_then(|c| match c {
                Command::Serve(config) => Some(*config),
                Command::Token(_) | Command::MigrateFirestore(_) | Command::Healthcheck(_) => None,
            })
            .unwrap_or_else(|| unreachable!("`serve` parses to Command::Serve"));
        config.secret.data_dir = data_dir;
        config
    }

    pub fn actor_settings(&self) -> ActorSettings {
        ActorSettings {
            limits: Limits::from(&self.limits),
            idle_timeout: Duration::try_from_secs_f64(self.actor_idle_secs.max(0.001))
                .unwrap_or(Duration::from_secs(60)),
            mailbox: self.actor_mailbox.max(1),
            send_timeout: Duration::from_secs(5),
            // Its slots are allocated up front, about 70 bytes each, per watched session.
            room_capacity: self.live.ws_room_slots.max(1),
            resync_interval: Duration::from_millis(self.resync_ms.max(1)),
            presence_interval: Duration::from_millis(self.live.ws_presence_ms),
            list_interval: Duration::from_millis(self.live.ws_list_ms),
        }
    }
}
