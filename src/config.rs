//! The command line. Every setting is a flag and a `LIVECHAT_*` environment
//! variable; flags win over the environment, which wins over the defaults.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::auth::keys::KeySettings;
use crate::auth::{AuthSettings, FirebaseSettings, JwksSettings};
use crate::live::LiveSettings;
use crate::quota::QuotaSettings;
use crate::session::ActorSettings;
use crate::session::validation::Limits;
use crate::store::sqlite::Synchronous;
use crate::telemetry::LogFormat;

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

/// Where the Firestore store lives.
#[derive(Debug, Clone, Args)]
pub struct FirestoreArgs {
    /// Google Cloud project of the Firestore database (credentials come from the environment;
    /// `FIRESTORE_EMULATOR_HOST` selects an emulator).
    #[arg(long, env = "LIVECHAT_FIRESTORE_PROJECT")]
    pub firestore_project: Option<String>,

    /// Milliseconds any one Firestore call may take before the request fails with 503.
    #[arg(long, env = "LIVECHAT_FIRESTORE_TIMEOUT_MS", default_value_t = 10_000)]
    pub firestore_timeout_ms: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StoreKind {
    /// An embedded SQLite file under the data dir.
    Sqlite,
    /// Cloud Firestore (`--firestore-project`).
    Firestore,
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

    /// Redis for fan-out between instances (`redis://host:6379`); without it, one instance.
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

/// How the server presents itself to operators.
#[derive(Debug, Clone, Args)]
pub struct OpsArgs {
    /// Log lines as text or as one JSON object each.
    #[arg(long, env = "LIVECHAT_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// Serve `/metrics` on this address only (not on the main listener), e.g. `0.0.0.0:9090`.
    #[arg(long, env = "LIVECHAT_METRICS_ADDR")]
    pub metrics_addr: Option<String>,

    /// Milliseconds between SIGTERM and the end of accepting: `/readyz` answers 503 at once,
    /// everything else is served as before, so a load balancer can take the instance out.
    #[arg(long, env = "LIVECHAT_DRAIN_MS", default_value_t = 0)]
    pub drain_ms: u64,

    /// Connections open at once, HTTP and WebSocket (0: no cap); beyond it a new connection is
    /// answered 503 and closed.
    #[arg(long, env = "LIVECHAT_MAX_CONNECTIONS", default_value_t = 20_000)]
    pub max_connections: usize,

    /// Milliseconds a connection has to send a complete request head; a slower one (or one
    /// that sends nothing) is answered 408 and closed.
    #[arg(
        long,
        env = "LIVECHAT_HEADER_READ_TIMEOUT_MS",
        default_value_t = 10_000
    )]
    pub header_read_timeout_ms: u64,
}

/// WebSocket settings.
#[derive(Debug, Clone, Args)]
pub struct LiveArgs {
    /// Milliseconds between the server's pings on each socket.
    #[arg(long, env = "LIVECHAT_WS_PING_MS", default_value_t = 25_000)]
    pub ws_ping_ms: u64,

    /// Milliseconds of silence from a peer after which its socket is closed.
    #[arg(long, env = "LIVECHAT_WS_IDLE_TIMEOUT_MS", default_value_t = 60_000)]
    pub ws_idle_timeout_ms: u64,

    /// Milliseconds a socket without an Authorization header has to send its `auth` frame.
    #[arg(long, env = "LIVECHAT_WS_AUTH_TIMEOUT_MS", default_value_t = 10_000)]
    pub ws_auth_timeout_ms: u64,

    /// Frames queued for a socket that reads slowly before it is closed with 4008.
    #[arg(long, env = "LIVECHAT_WS_QUEUE", default_value_t = 1024)]
    pub ws_queue: usize,

    /// Events a watched session keeps in memory for its sockets to pick up. A socket that falls
    /// further behind (its task busy during a burst) catches up from the store's event log.
    #[arg(long, env = "LIVECHAT_WS_ROOM_SLOTS", default_value_t = 32)]
    pub ws_room_slots: usize,

    /// Largest inbound frame in bytes; larger ones close the socket with 1009.
    #[arg(long, env = "LIVECHAT_WS_MAX_FRAME_BYTES", default_value_t = 64 * 1024)]
    pub ws_max_frame_bytes: usize,

    /// Commands per second a socket may send (beyond it: `rate_limited` replies).
    #[arg(long, env = "LIVECHAT_WS_RATE", default_value_t = 50)]
    pub ws_rate: u32,

    /// Commands a socket may send at once above its rate.
    #[arg(long, env = "LIVECHAT_WS_BURST", default_value_t = 100)]
    pub ws_burst: u32,

    /// Sockets one user may have open on this instance (0: no limit); beyond it an upgrade is
    /// refused with 429, or closed with 4029 after its `auth` frame.
    #[arg(long, env = "LIVECHAT_WS_MAX_SOCKETS_PER_USER", default_value_t = 100)]
    pub ws_max_sockets_per_user: usize,

    /// Milliseconds between two `presence` pushes of one session: the changes in between are
    /// sent as one, so that N tabs opening at once cost O(N) frames, not O(N²).
    #[arg(long, env = "LIVECHAT_WS_PRESENCE_MS", default_value_t = 500)]
    pub ws_presence_ms: u64,

    /// The shortest time between two pushes of a user's list: the changes made meanwhile go
    /// out together at its end, the latest of each session (0: every change at once).
    #[arg(long, env = "LIVECHAT_WS_LIST_MS", default_value_t = 100)]
    pub ws_list_ms: u64,

    /// REST requests per second one user may make (0: no limit); beyond it, 429 `rate_limited`
    /// with `Retry-After`.
    #[arg(long, env = "LIVECHAT_REST_RATE", default_value_t = 50)]
    pub rest_rate: u32,

    /// REST requests one user may make at once above the rate.
    #[arg(long, env = "LIVECHAT_REST_BURST", default_value_t = 100)]
    pub rest_burst: u32,

    /// Milliseconds shutdown waits for sockets to finish their commands and close.
    #[arg(long, env = "LIVECHAT_SHUTDOWN_GRACE_MS", default_value_t = 10_000)]
    pub shutdown_grace_ms: u64,
}

impl From<&LiveArgs> for LiveSettings {
    fn from(args: &LiveArgs) -> Self {
        let ms = Duration::from_millis;
        LiveSettings {
            ping_interval: ms(args.ws_ping_ms.max(1)),
            idle_timeout: ms(args.ws_idle_timeout_ms.max(1)),
            auth_timeout: ms(args.ws_auth_timeout_ms.max(1)),
            queue: args.ws_queue.max(1),
            max_frame_bytes: args.ws_max_frame_bytes.max(1),
            rate_per_sec: args.ws_rate.max(1),
            burst: args.ws_burst.max(1),
            shutdown_grace: ms(args.shutdown_grace_ms),
        }
    }
}

impl From<&LiveArgs> for QuotaSettings {
    fn from(args: &LiveArgs) -> Self {
        QuotaSettings {
            rest_rate: args.rest_rate,
            rest_burst: args.rest_burst.max(1),
            sockets_per_user: args.ws_max_sockets_per_user,
        }
    }
}

/// Where the HS256 secret comes from; shared by `serve` and `token`.
#[derive(Debug, Clone, Args)]
pub struct SecretArgs {
    /// Data directory (the SQLite file and the generated JWT secret live here).
    #[arg(long, env = "LIVECHAT_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,

    /// HS256 secret for tokens; when unset, one is generated into DATA_DIR/jwt-secret.
    #[arg(long, env = "LIVECHAT_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,
}

/// Who may call: the token verifiers beside HS256, and browsers on other origins.
#[derive(Debug, Clone, Args)]
pub struct AuthArgs {
    /// Accept Firebase ID tokens and session cookies of this Firebase project.
    #[arg(long, env = "LIVECHAT_FIREBASE_PROJECT")]
    pub firebase_project: Option<String>,

    /// Where Firebase ID tokens' keys are published (an x509 map: kid → certificate).
    #[arg(
        long,
        env = "LIVECHAT_FIREBASE_KEYS_URL",
        default_value = "https://www.googleapis.com/robot/v1/metadata/x509/securetoken@system.gserviceaccount.com"
    )]
    pub firebase_keys_url: String,

    /// Where Firebase session cookies' keys are published (an x509 map).
    #[arg(
        long,
        env = "LIVECHAT_FIREBASE_SESSION_KEYS_URL",
        default_value = "https://www.googleapis.com/identitytoolkit/v3/relyingparty/publicKeys"
    )]
    pub firebase_session_keys_url: String,

    /// The cookie a session cookie comes in (Firebase Hosting forwards only `__session`).
    #[arg(long, env = "LIVECHAT_SESSION_COOKIE", default_value = "__session")]
    pub session_cookie: String,

    /// The Firebase Auth emulator (`host:port`), as Google's SDKs read it: while set, its
    /// unsigned tokens are accepted. Never set in production.
    #[arg(long, env = "FIREBASE_AUTH_EMULATOR_HOST", hide = true)]
    pub firebase_auth_emulator_host: Option<String>,

    /// Accept tokens of any provider that publishes a JWK Set at this URL (Auth0, Supabase,
    /// Keycloak, Clerk…); needs --jwt-issuer and --jwt-audience.
    #[arg(long, env = "LIVECHAT_JWKS_URL", requires_all = ["jwt_issuer", "jwt_audience"])]
    pub jwks_url: Option<String>,

    /// The `iss` of the JWKS provider's tokens.
    #[arg(long, env = "LIVECHAT_JWT_ISSUER", requires = "jwks_url")]
    pub jwt_issuer: Option<String>,

    /// A value the JWKS provider's tokens must hold in `aud`.
    #[arg(long, env = "LIVECHAT_JWT_AUDIENCE", requires = "jwks_url")]
    pub jwt_audience: Option<String>,

    /// Origins whose pages may call the API (comma-separated, like
    /// `https://app.example.com`), or `*` for any origin without cookies.
    #[arg(long, env = "LIVECHAT_CORS_ORIGINS")]
    pub cors_origins: Option<String>,
}

impl AuthArgs {
    /// The verifiers' settings, with the HS256 secret.
    pub fn settings(&self, secret: Vec<u8>) -> AuthSettings {
        let nonempty = |v: &Option<String>| {
            v.as_deref()
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
        };
        AuthSettings {
            secret,
            firebase: nonempty(&self.firebase_project).map(|project| FirebaseSettings {
                project,
                id_keys_url: self.firebase_keys_url.clone(),
                session_keys_url: self.firebase_session_keys_url.clone(),
                emulator_host: nonempty(&self.firebase_auth_emulator_host),
            }),
            jwks: nonempty(&self.jwks_url).map(|url| JwksSettings {
                url,
                issuer: self.jwt_issuer.clone().unwrap_or_default(),
                audience: self.jwt_audience.clone().unwrap_or_default(),
            }),
            session_cookie: self.session_cookie.clone(),
            keys: KeySettings::default(),
        }
    }
}

#[derive(Debug, Clone, Args)]
pub struct TokenArgs {
    /// The user the token is for (its `sub`).
    #[arg(long)]
    pub uid: String,

    /// Seconds until the token expires.
    #[arg(long, default_value_t = 3600)]
    pub ttl: u64,

    /// Print a link to the server's web page, signed in as this user, instead of the bare
    /// token. The token rides in the link's fragment (`#token=…`), which browsers never send.
    #[arg(long)]
    pub link: bool,

    /// Print the link, and open it in the default browser.
    #[arg(long)]
    pub open: bool,

    /// The server the link points to.
    #[arg(
        long,
        env = "LIVECHAT_PUBLIC_URL",
        default_value = "http://127.0.0.1:8080"
    )]
    pub url: String,

    #[command(flatten)]
    pub secret: SecretArgs,
}

#[derive(Debug, Clone, Args)]
pub struct LimitArgs {
    /// Largest request body, in bytes.
    #[arg(long, env = "LIVECHAT_MAX_BODY_BYTES", default_value_t = Limits::default().max_body_bytes)]
    pub max_body_bytes: usize,

    /// Longest prompt, in characters.
    #[arg(long, env = "LIVECHAT_MAX_PROMPT_CHARS", default_value_t = Limits::default().max_prompt_chars)]
    pub max_prompt_chars: usize,

    /// Most images in one message.
    #[arg(long, env = "LIVECHAT_MAX_IMAGES_PER_MESSAGE", default_value_t = Limits::default().max_images_per_message)]
    pub max_images_per_message: usize,

    /// Longest URL or storage path, in characters.
    #[arg(long, env = "LIVECHAT_MAX_URL_CHARS", default_value_t = Limits::default().max_url_chars)]
    pub max_url_chars: usize,

    /// Longest id, model, style or frameSize, in characters.
    #[arg(long, env = "LIVECHAT_MAX_FIELD_CHARS", default_value_t = Limits::default().max_field_chars)]
    pub max_field_chars: usize,

    /// Most images in one session (then appends get 409 session_full).
    #[arg(
        long,
        env = "LIVECHAT_MAX_IMAGES_PER_SESSION",
        default_value_t = Limits::default().max_images_per_session
    )]
    pub max_images_per_session: u32,

    /// A signal's `data`, in bytes of JSON (larger: 413, or `invalid_argument` on a socket).
    #[arg(long, env = "LIVECHAT_MAX_SIGNAL_BYTES", default_value_t = Limits::default().max_signal_bytes)]
    pub max_signal_bytes: usize,
}

impl From<&LimitArgs> for Limits {
    fn from(args: &LimitArgs) -> Self {
        Limits {
            max_body_bytes: args.max_body_bytes,
            max_prompt_chars: args.max_prompt_chars,
            max_images_per_message: args.max_images_per_message,
            max_url_chars: args.max_url_chars,
            max_field_chars: args.max_field_chars,
            max_images_per_session: args.max_images_per_session,
            max_signal_bytes: args.max_signal_bytes,
        }
    }
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
