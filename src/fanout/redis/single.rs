//! Plain pub/sub on one Redis: one connection publishing, one subscribed to the watched
//! channels, subscribed again (and every watched topic resynchronised) after it is lost.

use std::collections::HashSet;

use futures::StreamExt as _;
use redis::AsyncCommands as _;
use tokio::sync::mpsc;

use tracing::Instrument as _;

use super::{Backoff, Queued, Receiver, Subscription, apply};

pub(super) async fn publish(client: redis::Client, mut queue: mpsc::Receiver<Queued>) {
    let mut backoff = Backoff::new();
    let mut connection = None;
    while let Some((channel, payload, span)) = queue.recv().await {
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
            let sent: redis::RedisResult<()> =
                conn.publish(&channel, &payload).instrument(span).await;
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

pub(super) async fn subscribe(
    client: redis::Client,
    mut requests: mpsc::UnboundedReceiver<Subscription>,
    receiver: Receiver,
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
            receiver.resync(&channels);
        }
        backoff = Backoff::new();
        receiver.link.set(true);
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
                    let Ok(payload) = message.get_payload::<String>() else { continue };
                    receiver.receive(message.get_channel_name(), &payload);
                }
            }
        }
        receiver.link.set(false);
        tracing::warn!("lost the redis connection; reconnecting");
        outage = true;
    }
}
