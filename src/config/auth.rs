//! Who may call: the server's own secret, the token verifiers beside it, browsers on other
//! origins; and the tokens `token` issues.

use std::path::PathBuf;

use clap::Args;

use crate::auth::keys::KeySettings;
use crate::auth::{AuthSettings, FirebaseSettings, JwksSettings};

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
