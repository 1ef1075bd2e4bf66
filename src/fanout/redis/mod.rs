//! Redis pub/sub between instances: one channel per session (`livechat:session:{id}`), on which
//! the committing instance publishes, and one per user (`livechat:user:{uid}`) for their lists.
//! An instance subscribes only to the sessions its sockets watch and the users whose lists its
//! sockets follow. Redis keeps nothing: a notice lost in flight is a gap the receiver fills from the
//! store, and after a lost connection every watched session is resynchronised.
//!
//! On one Redis (`redis://…`) the channels are plain pub/sub ([`single`]); on a Redis Cluster
//! (`redis+cluster://h1:p1,h2:p2`) they are sharded ([`cluster`]: `SPUBLISH`, `SSUBSCRIBE`), so
//! that each notice touches the one shard that owns its channel.

mod cluster;
mod single;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use super::{Deliver, Fanout, Notice, Topic};
use crate::telemetry::traces;

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
    /// The W3C trace context of the publish, when the sender exports traces: the receiver's
    /// delivery joins the same trace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    traceparent: Option<String>,
}

/// A notice waiting to be published: its channel, its message, and the span of its publish
/// (disabled unless traces are on and the notice comes from traced work).
type Queued = (String, String, tracing::Span);

enum Backend {
    Single(redis::Client),
    Cluster(Box<(redis::cluster::ClusterClient, cluster::Pushes)>),
}

/// Where the notices of other instances go, and what the link's state is told to.
struct Receiver {
    deliver: Arc<OnceLock<Deliver>>,
    instance: String,
    link: Arc<Link>,
}

impl Receiver {
    /// A message on `channel`: handed on, unless it is this instance's own.
    fn receive(&self, channel: &str, payload: &str) {
        let Some(topic) = topic(channel) else { return };
        match serde_json::from_str::<Envelope>(payload) {
            Ok(envelope) if envelope.origin != self.instance => {
                if let Some(deliver) = self.deliver.get() {
                    let span = match &envelope.traceparent {
                        Some(traceparent) => {
                            let span = crate::traced_span!("deliver", channel);
                            traces::continue_from(&span, traceparent);
                            span
                        }
                        None => tracing::Span::none(),
                    };
                    let _entered = span.enter();
                    deliver(topic, envelope.notice);
                }
            }
            Ok(_) => {}
            Err(err) => tracing::debug!(%err, "unreadable notice"),
        }
    }

    /// After an outage, every watched session and list may have missed notices: each is told
    /// to compare itself with the store.
    fn resync<'c>(&self, channels: impl IntoIterator<Item = &'c String>) {
        if let Some(deliver) = self.deliver.get() {
            for topic in channels.into_iter().filter_map(|channel| topic(channel)) {
                deliver(topic, Notice::Resync);
            }
        }
    }
}

/// A change to the channels subscribed, each named in full.
enum Subscription {
    Watch(String),
    Unwatch(String),
}

pub struct RedisFanout {
    instance: String,
    publishes: mpsc::Sender<Queued>,
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
    /// Starts the publishing and subscribing tasks for the Redis at `url`, or for the cluster
    /// whose nodes a `redis+cluster://` (`rediss+cluster://`) URL lists. Connection problems
    /// are not errors here: the tasks retry with backoff and log the outage.
    pub fn start(url: &str) -> redis::RedisResult<Self> {
        let backend = match cluster::nodes(url) {
            Some(nodes) => Backend::Cluster(Box::new(cluster::client(nodes?)?)),
            None => Backend::Single(redis::Client::open(url)?),
        };
        let instance = crate::domain::new_id();
        let (publishes, queue) = mpsc::channel(PUBLISH_QUEUE);
        let (subscriptions, requests) = mpsc::unbounded_channel();
        let deliver: Arc<OnceLock<Deliver>> = Arc::new(OnceLock::new());
        let link = Arc::new(Link {
            up: AtomicBool::new(false),
            gauge: crate::telemetry::metrics::redis_connected(),
        });
        link.set(false);
        let receiver = Receiver {
            deliver: Arc::clone(&deliver),
            instance: instance.clone(),
            link: Arc::clone(&link),
        };
        match backend {
            Backend::Single(client) => {
                tokio::spawn(single::publish(client.clone(), queue));
                tokio::spawn(single::subscribe(client, requests, receiver));
            }
            Backend::Cluster(cluster) => {
                let (client, pushes) = *cluster;
                tokio::spawn(cluster::run(client, pushes, queue, requests, receiver));
            }
        }
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
        let channel = channel(topic);
        // Traced when the work publishing is (a commit, a signal): not the timers' presence.
        let span = if traces::enabled() && !tracing::Span::current().is_none() {
            tracing::info_span!("redis.publish", channel = %channel)
        } else {
            tracing::Span::none()
        };
        let envelope = Envelope {
            origin: self.instance.clone(),
            notice: notice.clone(),
            traceparent: traces::traceparent(&span),
        };
        let Ok(payload) = serde_json::to_string(&envelope) else {
            return;
        };
        if self.publishes.try_send((channel, payload, span)).is_err() {
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
