use std::io::Write as _;

use anyhow::Context as _;
use clap::Parser as _;
use livechat_sessions::app::Server;
use livechat_sessions::auth::{self, TokenIssuer};
use livechat_sessions::config::{Cli, Command, MigrateArgs, ServeConfig, TokenArgs};
use livechat_sessions::store::firestore::migrate;
use tokio::net::TcpListener;
use tracing_subscriber::EnvFilter;

/// mimalloc rather than the system allocator: the server makes many small, short-lived
/// allocations (frames, JSON) and holds many small long-lived ones (sockets); it is faster at
/// the first and keeps less memory for the second.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Token(args)) => print_token(&args),
        Some(Command::Serve(config)) => serve(*config),
        Some(Command::MigrateFirestore(args)) => migrate_firestore(&args),
        None => serve(cli.serve),
    }
}

fn init_logs() {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}

fn migrate_firestore(args: &MigrateArgs) -> anyhow::Result<()> {
    init_logs();
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let store = livechat_sessions::app::connect_firestore(&args.firestore).await?;
        let progress = std::io::IsTerminal::is_terminal(&std::io::stderr());
        let summary = migrate::migrate(&store, args.apply, progress).await?;
        println!("{summary}");
        if !args.apply && summary.original > 0 {
            println!("dry run: nothing was written; run again with --apply to convert");
        }
        anyhow::ensure!(
            summary.failed == 0,
            "{} sessions failed to convert",
            summary.failed
        );
        Ok(())
    })
}

fn print_token(args: &TokenArgs) -> anyhow::Result<()> {
    let secret = auth::load_secret(&args.secret.data_dir, args.secret.jwt_secret.as_deref())
        .context("cannot read or create the JWT secret")?;
    let token = TokenIssuer::hs256(&secret).issue(&args.uid, args.ttl)?;
    println!("{token}");
    Ok(())
}

fn serve(config: ServeConfig) -> anyhow::Result<()> {
    init_logs();
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let server = Server::build(&config).await?;
        let listener = TcpListener::bind(&config.addr)
            .await
            .with_context(|| format!("cannot listen on {}", config.addr))?;
        let addr = listener.local_addr()?;
        let mut stdout = std::io::stdout();
        writeln!(stdout, "listening on http://{addr}")?;
        stdout.flush()?;
        tracing::info!(%addr, data_dir = %config.secret.data_dir.display(), "serving");
        server.run(listener, shutdown_signal()).await?;
        tracing::info!("stopped");
        Ok(())
    })
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
    tracing::info!("shutting down: finishing requests in flight");
}
