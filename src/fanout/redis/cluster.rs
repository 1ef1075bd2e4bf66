//! Sharded pub/sub on a Redis Cluster: a notice is published with `SPUBLISH` on its channel's
//! shard, and each watched channel is subscribed with `SSUBSCRIBE` on the shard that owns it, so
//! that one session's or one user's notices touch one shard and the cluster grows with its shards.
//!
//! One cluster connection (RESP3) does both: it follows the cluster's topology and subscribes
//! again on a channel's new owner after a slot moves or a replica takes over. Every shard this
//! instance needs is checked each second; when one could not be reached, the instance counts as
//! cut off, and once all are back it subscribes every watched channel again and tells every
//! watched session and list to compare itself with the store, as after a restart of one Redis.

use std::collections::HashSet;
use std::time::Duration;

use redis::cluster::{ClusterClient, ClusterClientBuilder};
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{MultipleNodeRoutingInfo, ResponsePolicy, RoutingInfo};
use redis::{PushInfo, PushKind};
use tokio::sync::mpsc;
use tracing::Instrument as _;

use super::{Backoff, Queued, Receiver, Subscription, apply};

/// What the cluster's nodes push to this instance: messages, subscription confirmations and
/// lost connections.
pub(super) type Pushes = mpsc::UnboundedReceiver<PushInfo>;

/// The cluster URL schemes, and the scheme of each node they list.
const SCHEMES: [(&str, &str); 2] = [
    ("redis+cluster://", "redis://"),
    ("rediss+cluster://", "rediss://"),
];

/// How often the shards are checked.
const CHECK_EVERY: Duration = Duration::from_secs(1);

/// The nodes a cluster URL lists (`redis+cluster://[user:password@]h1:p1,h2:p2[/?…]`), each as
/// a node URL with the credentials and options given once; `None` when `url` names one Redis.
pub(super) fn nodes(url: &str) -> Option<redis::RedisResult<Vec<String>>> {
    let (rest, scheme) = SCHEMES
        .iter()
        .find_map(|(cluster, node)| url.strip_prefix(cluster).map(|rest| (rest, *node)))?;
    let (userinfo, hosts) = match rest.rsplit_once('@') {
        Some((userinfo, hosts)) => (Some(userinfo), hosts),
        None => (None, rest),
    };
    let (hosts, options) = hosts.split_at(hosts.find(['/', '?']).unwrap_or(hosts.len()));
    let nodes: Vec<String> = hosts
        .split(',')
        .filter(|host| !host.is_empty())
        .map(|host| match userinfo {
            Some(userinfo) => format!("{scheme}{userinfo}@{host}{options}"),
            None => format!("{scheme}{host}{options}"),
        })
        .collect();
    if nodes.is_empty() {
        return Some(Err((
            redis::ErrorKind::InvalidClientConfig,
            "a redis+cluster:// URL must list at least one node (host:port, comma-separated)",
        )
            .into()));
    }
    Some(Ok(nodes))
}

/// A client of the cluster whose `nodes` are given, and where its nodes' pushes arrive.
pub(super) fn client(nodes: Vec<String>) -> redis::RedisResult<(ClusterClient, Pushes)> {
    let (pushes, pushed) = mpsc::unbounded_channel();
    let client = ClusterClientBuilder::new(nodes)
        .use_protocol(redis::ProtocolVersion::RESP3)
        .push_sender(pushes)
        .connection_timeout(Duration::from_secs(1))
        .response_timeout(Duration::from_secs(2))
        .retries(2)
        .build()?;
    Ok((client, pushed))
}

/// Publishes what is queued, subscribes what is watched, and hands on what arrives, for as long
/// as the instance runs.
pub(super) async fn run(
    client: ClusterClient,
    mut pushes: Pushes,
    queue: mpsc::Receiver<Queued>,
    mut requests: mpsc::UnboundedReceiver<Subscription>,
    receiver: Receiver,
) {
    let mut watched: HashSet<String> = HashSet::new();
    let mut backoff = Backoff::new();
    let mut connection = loop {
        match client.get_async_connection().await {
            Ok(connection) => break connection,
            Err(err) => {
                tracing::warn!(%err, "redis cluster unreachable: sockets on other instances miss this one's events until it is back");
                while let Ok(request) = requests.try_recv() {
                    apply(&mut watched, request);
                }
                backoff.wait().await;
            }
        }
    };
    tokio::spawn(publish(connection.clone(), queue));
    // Whether a shard was out of reach since the channels were last subscribed.
    let mut outage = true;
    let mut check = tokio::time::interval(CHECK_EVERY);
    check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            request = requests.recv() => {
                let Some(request) = request else { return };
                let result = match &request {
                    Subscription::Watch(channel) => connection.ssubscribe(channel).await,
                    Subscription::Unwatch(channel) => connection.sunsubscribe(channel).await,
                };
                if let Err(err) = result {
                    tracing::debug!(%err, "sharded subscription failed; retried when the cluster answers");
                    outage = true;
                }
                apply(&mut watched, request);
            }
            push = pushes.recv() => {
                let Some(push) = push else { return };
                if push.kind == PushKind::Disconnection {
                    // A node's connection closed: until every shard answers again, notices
                    // may be missed.
                    outage = true;
                    receiver.link.set(false);
                } else if let Some(message) = redis::Msg::from_push_info(push)
                    && let Ok(payload) = message.get_payload::<String>()
                {
                    receiver.receive(message.get_channel_name(), &payload);
                }
            }
            _ = check.tick() => {
                if !reachable(&mut connection).await {
                    if !outage {
                        tracing::warn!("a redis cluster shard is out of reach: sockets on other instances may miss this one's events until it is back");
                    }
                    outage = true;
                    receiver.link.set(false);
                    continue;
                }
                if outage && resubscribe(&mut connection, &watched).await {
                    tracing::info!(channels = watched.len(), "redis cluster answers: watched sessions and lists resynchronised from the store");
                    receiver.resync(&watched);
                    outage = false;
                }
                receiver.link.set(!outage);
            }
        }
    }
}

/// Whether every primary answers, so that every channel's shard can be reached.
async fn reachable(connection: &mut ClusterConnection) -> bool {
    let every_primary = RoutingInfo::MultiNode((
        MultipleNodeRoutingInfo::AllMasters,
        Some(ResponsePolicy::AllSucceeded),
    ));
    connection
        .route_command(redis::cmd("PING"), every_primary)
        .await
        .is_ok()
}

/// Subscribes every watched channel on its shard (again: a channel already subscribed stays
/// so); whether all succeeded.
async fn resubscribe(connection: &mut ClusterConnection, watched: &HashSet<String>) -> bool {
    for channel in watched {
        if let Err(err) = connection.ssubscribe(channel).await {
            tracing::debug!(%err, "sharded subscription failed; retried at the next check");
            return false;
        }
    }
    true
}

/// Publishes each queued notice on its channel's shard; a notice that cannot be published is
/// dropped (its receivers fill the gap from the store).
async fn publish(mut connection: ClusterConnection, mut queue: mpsc::Receiver<Queued>) {
    while let Some((channel, payload, span)) = queue.recv().await {
        let sent: redis::RedisResult<()> = redis::cmd("SPUBLISH")
            .arg(&channel)
            .arg(&payload)
            .query_async(&mut connection)
            .instrument(span)
            .await;
        if let Err(err) = sent {
            tracing::debug!(%err, "redis cluster publish failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::nodes;

    #[test]
    fn a_cluster_url_lists_its_nodes_with_the_credentials_and_options_given_once() {
        assert!(nodes("redis://127.0.0.1:6379").is_none());
        assert_eq!(
            nodes("redis+cluster://10.0.0.1:7000,10.0.0.2:7001")
                .unwrap()
                .unwrap(),
            ["redis://10.0.0.1:7000", "redis://10.0.0.2:7001"]
        );
        assert_eq!(
            nodes("rediss+cluster://:secret@a:7000,b:7001/?insecure")
                .unwrap()
                .unwrap(),
            [
                "rediss://:secret@a:7000/?insecure",
                "rediss://:secret@b:7001/?insecure"
            ]
        );
        assert!(nodes("redis+cluster://").unwrap().is_err());
    }
}
