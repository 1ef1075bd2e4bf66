//! Several server processes on one Firestore database and one Redis: every tab of a session,
//! whichever instance it is on, sees the same events in `seq` order, through instance crashes
//! and Redis restarts. Needs the Firestore emulator (`FIRESTORE_EMULATOR_HOST`) and a Redis
//! (`LIVECHAT_TEST_REDIS_URL`, default `redis://127.0.0.1:6379`, or a Redis Cluster as
//! `redis+cluster://host:port,…`, as `scripts/redis-cluster` starts one); fails without them.
//! The tests of failures start Redis servers (and a cluster) of their own.

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
mod failover;
mod fanout;
mod faults;
mod lists;
mod proxy;
mod readiness;
mod resume;
mod traces;

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
        let mut redis = redis::Client::open(first_node(redis_url))
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
        self.start_with(n, &[]).await
    }

    /// Starts instance number `n` like [`Cluster::start`], with `extra_env` added to (or
    /// overriding) its environment: a proxy as its Redis or Firestore, a shorter deadline.
    pub async fn start_with(&mut self, n: usize, extra_env: &[(&str, &str)]) -> ServerProcess {
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
            ]
            .into_iter()
            .chain(extra_env.iter().copied())
            .collect::<Vec<_>>(),
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

/// A node of `url`: itself, or the first a `redis+cluster://` URL lists.
fn first_node(url: &str) -> String {
    match url.strip_prefix("redis+cluster://") {
        Some(nodes) => format!("redis://{}", nodes.split(',').next().unwrap_or_default()),
        None => url.to_owned(),
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

/// A Redis Cluster of the test's own: three primaries with a replica each, on loopback, so that
/// a primary can be killed and its replica seen to take over.
#[allow(dead_code)]
pub struct RedisCluster {
    pub ports: Vec<u16>,
    nodes: Vec<Option<tokio::process::Child>>,
    _dir: tempfile::TempDir,
}

#[allow(dead_code)]
impl RedisCluster {
    pub async fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let ports = cluster_ports(6);
        let mut nodes = Vec::new();
        for port in &ports {
            let node = tokio::process::Command::new("redis-server")
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                .args(["--cluster-enabled", "yes", "--cluster-node-timeout", "1000"])
                // A replica syncs at once (not after the default 5 s), so that it may take over
                // as soon as the test starts.
                .args(["--repl-diskless-sync-delay", "0"])
                .args(["--cluster-config-file", &format!("nodes-{port}.conf")])
                .args(["--dir", dir.path().to_str().unwrap()])
                .args(["--save", "", "--appendonly", "no"])
                .stdout(std::process::Stdio::null())
                .kill_on_drop(true)
                .spawn()
                .expect("redis-server starts");
            nodes.push(Some(node));
        }
        for port in &ports {
            wait_until_listening(*port).await;
        }
        let addresses: Vec<String> = ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
        let created = tokio::process::Command::new("redis-cli")
            .args(["--cluster", "create"])
            .args(&addresses)
            .args(["--cluster-replicas", "1", "--cluster-yes"])
            .output()
            .await
            .expect("redis-cli runs");
        assert!(
            created.status.success(),
            "redis-cli --cluster create: {}",
            String::from_utf8_lossy(&created.stdout)
        );
        let cluster = Self {
            ports,
            nodes,
            _dir: dir,
        };
        cluster.until_healthy().await;
        cluster.until_replicas_synced().await;
        cluster
    }

    /// Waits until every replica has its primary's data: a replica that never synced refuses to
    /// take over ("disconnected from master for longer than allowed").
    async fn until_replicas_synced(&self) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        for port in &self.ports {
            loop {
                let replication = cli(*port, &["info", "replication"]).await;
                if replication.contains("role:master")
                    || replication.contains("master_link_status:up")
                {
                    break;
                }
                assert!(
                    std::time::Instant::now() < deadline,
                    "the replica on {port} did not sync with its primary"
                );
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
    }

    /// The cluster's URL for the server, naming its three first nodes.
    pub fn url(&self) -> String {
        let nodes: Vec<String> = self.ports[..3]
            .iter()
            .map(|p| format!("127.0.0.1:{p}"))
            .collect();
        format!("redis+cluster://{}", nodes.join(","))
    }

    /// Waits until every node still running says the cluster is ok (all slots served).
    pub async fn until_healthy(&self) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            let mut healthy = true;
            for (port, node) in self.ports.iter().zip(&self.nodes) {
                if node.is_some() {
                    healthy &= cli(*port, &["cluster", "info"])
                        .await
                        .contains("cluster_state:ok");
                }
            }
            if healthy {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the Redis Cluster did not become healthy"
            );
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }

    /// The port of the primary that serves `key`'s slot now, if one does (not during a failover).
    pub async fn primary_of(&self, key: &str) -> Option<u16> {
        // Asked of a node still running: the first may be the one killed.
        let port = self
            .ports
            .iter()
            .zip(&self.nodes)
            .find_map(|(port, node)| node.is_some().then_some(*port))
            .expect("a node of the cluster still runs");
        let slot: u16 = cli(port, &["cluster", "keyslot", key])
            .await
            .trim()
            .parse()
            .unwrap();
        let nodes = cli(port, &["cluster", "nodes"]).await;
        for line in nodes.lines() {
            let fields: Vec<&str> = line.split_whitespace().collect();
            if fields.len() < 9 || !fields[2].contains("master") || fields[2].contains("fail") {
                continue;
            }
            let serves = fields[8..].iter().any(|range| {
                let (low, high) = range.split_once('-').unwrap_or((range, range));
                matches!((low.parse::<u16>(), high.parse::<u16>()), (Ok(low), Ok(high)) if (low..=high).contains(&slot))
            });
            if serves {
                let address = fields[1].split('@').next().unwrap();
                return Some(address.rsplit(':').next().unwrap().parse().unwrap());
            }
        }
        None
    }

    /// Kills the node on `port` at once.
    pub async fn kill(&mut self, port: u16) {
        let at = self.ports.iter().position(|p| *p == port).unwrap();
        if let Some(mut node) = self.nodes[at].take() {
            node.kill().await.unwrap();
        }
    }
}

/// `redis-cli -p PORT ARGS…`'s output.
async fn cli(port: u16, args: &[&str]) -> String {
    let out = tokio::process::Command::new("redis-cli")
        .args(["-p", &port.to_string()])
        .args(args)
        .output()
        .await
        .expect("redis-cli runs");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `n` free ports whose cluster bus ports (10,000 above) are free too.
fn cluster_ports(n: usize) -> Vec<u16> {
    let mut ports = Vec::new();
    while ports.len() < n {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        if port > 55_000 || ports.contains(&port) {
            continue;
        }
        if std::net::TcpListener::bind(("127.0.0.1", port + 10_000)).is_ok() {
            ports.push(port);
        }
    }
    ports
}

async fn wait_until_listening(port: u16) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        assert!(
            std::time::Instant::now() < deadline,
            "redis-server did not come up on {port}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}
