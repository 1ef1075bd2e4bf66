use std::io::Write as _;

use anyhow::Context as _;
use clap::Parser as _;
use livechat_sessions::app::Server;
use livechat_sessions::auth::{self, TokenIssuer};
use livechat_sessions::config::{
    Cli, Command, HealthcheckArgs, MigrateArgs, ServeConfig, TokenArgs,
};
use livechat_sessions::store::firestore::migrate;
use livechat_sessions::telemetry::{self, LogFormat};
use tokio::net::TcpListener;

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
        Some(Command::Healthcheck(args)) => healthcheck(&args),
        None => serve(cli.serve),
    }
}

fn migrate_firestore(args: &MigrateArgs) -> anyhow::Result<()> {
    let _traces = telemetry::init_logs(LogFormat::Text);
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

/// Exits 0 when the server answers its health route with 200, 1 otherwise (container health
/// checks run this; the image has no shell or curl).
fn healthcheck(args: &HealthcheckArgs) -> anyhow::Result<()> {
    let addr: std::net::SocketAddr = args
        .addr
        .parse()
        .with_context(|| format!("{} is not HOST:PORT", args.addr))?;
    let host = match addr.ip() {
        ip if ip.is_unspecified() && ip.is_ipv4() => std::net::Ipv4Addr::LOCALHOST.into(),
        ip if ip.is_unspecified() => std::net::Ipv6Addr::LOCALHOST.into(),
        ip => ip,
    };
    let url = format!(
        "http://{}/{}",
        std::net::SocketAddr::new(host, addr.port()),
        if args.ready { "readyz" } else { "healthz" }
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let status = runtime.block_on(async {
        reqwest::Client::new()
            .get(&url)
            .timeout(std::time::Duration::from_millis(args.timeout_ms))
            .send()
            .await
            .map(|response| response.status())
    });
    match status {
        Ok(status) if status.is_success() => Ok(()),
        Ok(status) => {
            eprintln!("{url} answered {status}");
            std::process::exit(1)
        }
        Err(err) => {
            eprintln!("{url}: {err}");
            std::process::exit(1)
        }
    }
}

fn print_token(args: &TokenArgs) -> anyhow::Result<()> {
    let secret = auth::load_secret(&args.secret.data_dir, args.secret.jwt_secret.as_deref())
        .context("cannot read or create the JWT secret")?;
    let token = TokenIssuer::hs256(&secret).issue(&args.uid, args.ttl)?;
    if !(args.link || args.open) {
        println!("{token}");
        return Ok(());
    }
    let link = format!("{}/#token={token}", args.url.trim_end_matches('/'));
    println!("{link}");
    if args.open {
        opener::open_browser(&link).context("cannot open a browser: open the link above")?;
    }
    Ok(())
}

fn serve(config: ServeConfig) -> anyhow::Result<()> {
    // Dropped after the runtime: the last spans are flushed on the way out.
    let _traces = telemetry::init_logs(config.ops.log_format);
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
        if let Some(metrics) = server.metrics_addr() {
            tracing::info!(%metrics, "metrics at http://{metrics}/metrics");
        }
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
    tracing::info!("SIGTERM or Ctrl-C received");
}
