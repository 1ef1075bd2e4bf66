//! Where sessions are kept: the embedded SQLite file or a Firestore project.

use clap::{Args, ValueEnum};

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
