//! Redis pub/sub between instances: one channel per session (`livechat:session:{id}`), on which
//! the committing instance publishes, and one per user (`livechat:user:{uid}`) for their lists.
//! An instance subscribes only to the sessions its sockets watch and the users whose lists its
//! sockets follow. Redis keeps nothing: a notice lost in flight is a gap the receiver fills from the
//! store, and after a lost connection every watched session is resynchronised.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use futures::StreamExt as _;
use redis::AsyncCommands as _;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use super::{Deliver, Fanout, Notice, Topic};

const SESSION_PREFIX: &str = "livechat:session:";
const USER_PREFIX: &str = "livechat:user:";

/// The Redis channel of a topic.
fn channel(topic: Topic<'_>) -> String {
    match topic {
        Topic::Session(id) => format!("{SESSION_PREFIX}{id}"),
        Topic::User(uid) => format!("{USER_PREFIX}{uid}"),
    }
}

/// The topic of a Redis channel.
fn topic(channel: &str) -> Option<Topic<'_>> {
    if let Some(id) = channel.strip_prefix(SESSION_PREFIX) {
        Some(Topic::Session(id))
    } else {
        channel.strip_prefix(USER_PREFIX).map(Topic::User)
    }
}
/// Notices queued for publishing while Redis is slow or away; beyond, they are dropped (the
/// receivers' gap filling and resync make up for them).
const PUBLISH_QUEUE: usize = 10_000;

#[derive(Serialize, Deserialize)]
struct Envelope {
    origin: String,
    notice: Notice,
}

/// A change to the channels subscribed, each named in full.
enum Subscription {
    Watch(String),
    Unwatch(String),
}

pub struct RedisFanout {
    instance: String,
    publishes: mpsc::Sender<(String, String)>,
    subscriptions: mpsc::UnboundedSender<Subscription>,
    deliver: Arc<OnceLock<Deliver>>,
    /// Whether the subscription is up (and so this instance hears the others).
    link: Arc<Link>,
}

/// The state of the subscribing connection, for readiness and the metrics.
struct Link {
    up: AtomicBool,
    gauge: metrics::Gauge,
}

impl Link {
    fn set(&self, up: bool) {
        self.up.store(up, Ordering::Relaxed);
        self.gauge.set(if up { 1.0 } else { 0.0 });
    }
}

impl RedisFanout {
    /// Starts the publishing and subscribing tasks for the Redis at `url`. Connection problems
    /// are not errors here: the tasks retry with backoff and log the outage.
    pub fn start(url: &str) -> redis::RedisResult<Self> {
        let client = redis::Client::open(url)?;
        let instance = crate::domain::new_id();
        let (publishes, queue) = mpsc::channel(PUBLISH_QUEUE);
        let (subscriptions, requests) = mpsc::unbounded_channel();
        let deliver: Arc<OnceLock<Deliver>> = Arc::new(OnceLock::new());
        let link = Arc::new(Link {
            up: AtomicBool::new(false),
            gauge: crate::telemetry::metrics::redis_connected(),
        });
        link.set(false);
        tokio::spawn(publish(client.clone(), queue));
        tokio::spawn(subscribe(
            client,
            requests,
            Arc::clone(&deliver),
            instance.clone(),
            Arc::clone(&link),
        ));
        Ok(Self {
            instance,
            publishes,
            subscriptions,
            deliver,
            link,
        })
    }
}

impl Fanout for RedisFanout {
    fn is_shared(&self) -> bool {
        true
    }

    fn instance(&self) -> &str {
        &self.instance
    }

    fn publish(&self, topic: Topic<'_>, notice: &Notice) {
        let envelope = Envelope {
            origin: self.instance.clone(),
            notice: notice.clone(),
        };
        let Ok(payload) = serde_json::to_string(&envelope) else {
            return;
        };
        if self.publishes.try_send((channel(topic), payload)).is_err() {
            tracing::debug!(?topic, "publish queue full; receivers will fill the gap");
        }
    }

    fn watch(&self, topic: Topic<'_>) {
        let _ = self.subscriptions.send(Subscription::Watch(channel(topic)));
    }

    fn unwatch(&self, topic: Topic<'_>) {
        let _ = self
            .subscriptions
            .send(Subscription::Unwatch(channel(topic)));
    }

    fn deliver_to(&self, deliver: Deliver) {
        let _ = self.deliver.set(deliver);
    }

    fn connected(&self) -> Option<bool> {
        Some(self.link.up.load(Ordering::Relaxed))
    }
}

/// Waits before the next attempt to reach Redis: 100 ms doubling up to 5 s.
struct Backoff(Duration);

impl Backoff {
    fn new() -> Self {
        Self(Duration::from_millis(100))
    }

    async fn wait(&mut self) {
        tokio::time::sleep(self.0).await;
        self.0 = (self.0 * 2).min(Duration::from_secs(5));
    }
}

async fn publish(client: redis::Client, mut queue: mpsc::Receiver<(String, String)>) {
    let mut backoff = Backoff::new();
    let mut connection = None;
    while let Some((channel, payload)) = queue.recv().await {
        if connection.is_none() {
            match client.get_multiplexed_async_connection().await {
                Ok(made) => connection = Some(made),
                Err(err) => {
                    tracing::debug!(%err, "redis unreachable; dropping a notice");
                    backoff.wait().await;
                    continue;
                }
            }
        }
        if let Some(conn) = connection.as_mut() {
            let sent: redis::RedisResult<()> = conn.publish(&channel, &payload).await;
            match sent {
                Ok(()) => backoff = Backoff::new(),
                Err(err) => {
                    tracing::debug!(%err, "redis publish failed");
                    connection = None;
                }
            }
        }
    }
}

async fn subscribe(
    client: redis::Client,
    mut requests: mpsc::UnboundedReceiver<Subscription>,
    deliver: Arc<OnceLock<Deliver>>,
    instance: String,
    link: Arc<Link>,
) {
    let mut watched: HashSet<String> = HashSet::new();
    let mut backoff = Backoff::new();
    let mut outage = false;
    loop {
        let pubsub = match client.get_async_pubsub().await {
            Ok(pubsub) => pubsub,
            Err(err) => {
                if !outage {
                    tracing::warn!(%err, "redis unreachable: sockets on other instances miss this one's events until it is back");
                    outage = true;
                }
                // Keep the watch list current meanwhile.
                while let Ok(request) = requests.try_recv() {
                    apply(&mut watched, request);
                }
                backoff.wait().await;
                continue;
            }
        };
        let (mut sink, mut stream) = pubsub.split();
        let channels: Vec<String> = watched.iter().cloned().collect();
        let mut ok = true;
        for channel in &channels {
            ok &= sink.subscribe(channel).await.is_ok();
        }
        if !ok {
            backoff.wait().await;
            continue;
        }
        // After a lost connection, every watched session and list may have missed notices.
        if outage {
            tracing::warn!(
                channels = channels.len(),
                "redis is back: resynchronising watched sessions and lists from the store"
            );
            if let Some(deliver) = deliver.get() {
                for topic in channels.iter().filter_map(|channel| topic(channel)) {
                    deliver(topic, Notice::Resync);
                }
            }
        }
        backoff = Backoff::new();
        link.set(true);
        loop {
            tokio::select! {
                request = requests.recv() => {
                    let Some(request) = request else { return };
                    let result = match &request {
                        Subscription::Watch(channel) => sink.subscribe(channel).await,
                        Subscription::Unwatch(channel) => sink.unsubscribe(channel).await,
                    };
                    apply(&mut watched, request);
                    if result.is_err() {
                        break;
                    }
                }
                message = stream.next() => {
                    let Some(message) = message else { break };
                    let Some(topic) = topic(message.get_channel_name()) else { continue };
                    let Ok(payload) = message.get_payload::<String>() else { continue };
                    match serde_json::from_str::<Envelope>(&payload) {
                        Ok(envelope) if envelope.origin != instance => {
                            if let Some(deliver) = deliver.get() {
                                deliver(topic, envelope.notice);
                            }
                        }
                        Ok(_) => {}
                        Err(err) => tracing::debug!(%err, "unreadable notice"),
                    }
                }
            }
        }
        link.set(false);
        tracing::warn!("lost the redis connection; reconnecting");
        outage = true;
    }
}

fn apply(watched: &mut HashSet<String>, request: Subscription) {
    match request {
        Subscription::Watch(channel) => {
            watched.insert(channel);
        }
        Subscription::Unwatch(channel) => {
            watched.remove(&channel);
        }
    }
}
