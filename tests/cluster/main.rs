//! Several server processes on one Firestore database and one Redis: every tab of a session,
//! whichever instance it is on, sees the same events in `seq` order, through instance crashes
//! and Redis restarts. Needs the Firestore emulator (`FIRESTORE_EMULATOR_HOST`) and a Redis
//! (`LIVECHAT_TEST_REDIS_URL`, default `redis://127.0.0.1:6379`); fails without them.

// Shared with the behavioural suite; not every helper is used here.
#[allow(dead_code)]
#[path = "../api/event_stream.rs"]
mod event_stream;
#[allow(dead_code)]
#[path = "../api/helpers/mod.rs"]
mod helpers;
#[allow(dead_code)]
#[path = "../api/live_client.rs"]
mod live_client;

mod events;
mod fanout;
mod lists;
mod readiness;
mod resume;

use std::path::PathBuf;

use helpers::ServerProcess;

/// The test's instances: each its own process and data dir, sharing project, Redis and secret.
pub struct Cluster {
    pub project: String,
    pub redis_url: String,
    pub secret: String,
    dirs: Vec<tempfile::TempDir>,
}

pub const SECRET: &str = "cluster-test-secret";

impl Cluster {
    pub fn new(redis_url: &str) -> Self {
        std::env::var("FIRESTORE_EMULATOR_HOST")
            .expect("FIRESTORE_EMULATOR_HOST must name a running emulator (scripts/firestore-emulator start)");
        let mut redis = redis::Client::open(redis_url)
            .and_then(|client| client.get_connection())
            .unwrap_or_else(|err| panic!("these tests need Redis at {redis_url}: {err}"));
        let pong: String = redis::cmd("PING")
            .query(&mut redis)
            .expect("Redis answers PING");
        assert_eq!(pong, "PONG");
        Self {
            project: format!(
                "test-{}",
                livechat_sessions::domain::new_id().to_lowercase()
            ),
            redis_url: redis_url.to_owned(),
            secret: SECRET.to_owned(),
            dirs: Vec::new(),
        }
    }

    /// Starts instance number `n` (a restart of `n` reuses its data dir, so its log continues).
    pub async fn start(&mut self, n: usize) -> ServerProcess {
        while self.dirs.len() <= n {
            self.dirs.push(tempfile::tempdir().unwrap());
        }
        let dir = self.dirs[n].path().to_str().unwrap().to_owned();
        ServerProcess::start(
            &["--addr", "127.0.0.1:0", "--data-dir", &dir],
            &[
                ("LIVECHAT_STORE", "firestore"),
                ("LIVECHAT_FIRESTORE_PROJECT", &self.project),
                ("LIVECHAT_REDIS_URL", &self.redis_url),
                ("LIVECHAT_JWT_SECRET", &self.secret),
                ("LIVECHAT_RESYNC_MS", "500"),
                ("RUST_LOG", "info"),
            ],
        )
        .await
    }

    /// Instances 0..n, with a user of each for `uid`.
    pub async fn start_all(
        &mut self,
        n: usize,
        uid: &str,
    ) -> (Vec<ServerProcess>, String, Vec<helpers::ProcessUser>) {
        let mut servers = Vec::new();
        for i in 0..n {
            servers.push(self.start(i).await);
        }
        let token = self.token(uid);
        let users = servers
            .iter()
            .map(|s| helpers::ProcessUser::new(s, &token))
            .collect();
        (servers, token, users)
    }

    pub fn log(&self, n: usize) -> String {
        let path: PathBuf = self.dirs[n].path().join("server.log");
        std::fs::read_to_string(path).unwrap_or_default()
    }

    pub fn token(&self, uid: &str) -> String {
        livechat_sessions::auth::TokenIssuer::hs256(self.secret.as_bytes())
            .issue(uid, 3600)
            .unwrap()
    }
}

pub fn redis_url() -> String {
    std::env::var("LIVECHAT_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// A Redis of the test's own (no persistence), so that it can be killed and started again on
/// the same port.
pub struct RedisServer {
    pub port: u16,
    child: Option<tokio::process::Child>,
}

impl RedisServer {
    pub async fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut redis = Self { port, child: None };
        redis.restart().await;
        redis
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Starts it (again) on its port and waits until it answers.
    pub async fn restart(&mut self) {
        let child = tokio::process::Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("redis-server starts");
        self.child = Some(child);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while tokio::net::TcpStream::connect(("127.0.0.1", self.port))
            .await
            .is_err()
        {
            assert!(
                std::time::Instant::now() < deadline,
                "redis-server did not come up"
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    pub async fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().await.unwrap();
        }
    }
}
