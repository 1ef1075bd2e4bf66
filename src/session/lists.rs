//! The users' lists, live: every committed change of a session, as its summary, to the sockets
//! that follow its user's list on this instance, and (through the fan-out) on the others.
//!
//! One feed per user followed here, while anyone follows it. A feed's pushes are coalesced:
//! the first change after a quiet interval goes out at once, and the changes made within the
//! interval that follows go out together at its end, one per session, the latest, which each
//! follower holds back for its own delay (so that a user's tabs are not all sent them at one
//! instant). With other instances about, the feed also reads the user's list from the store
//! every resync interval (and when the fan-out was away), so that a notice lost between
//! instances reaches the sockets anyway.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use dashmap::DashMap;
use tokio::sync::{Notify, broadcast};
use tokio::time::Instant;

use super::push::{Push, PushKind, Relisted};
use crate::domain::list::ListQuery;
use crate::domain::model::Summary;
use crate::fanout::{Fanout, Notice, Topic};
use crate::store::SessionStore;

#[derive(Clone)]
pub(super) struct Lists {
    inner: Arc<Inner>,
}

struct Inner {
    /// The feeds of the users followed here; a feed is removed by its last follower.
    feeds: DashMap<String, Arc<Feed>>,
    fanout: Arc<dyn Fanout>,
    store: Arc<dyn SessionStore>,
    /// Pushes buffered per feed for followers that read more slowly than others.
    capacity: usize,
    /// The shortest time between two pushes of a feed (0: none is held back).
    interval: Duration,
    /// With other instances about: how often a followed list is read from the store.
    resync_interval: Duration,
}

struct Feed {
    sender: broadcast::Sender<Arc<Push>>,
    /// Followers on this instance; changed under the feed's entry lock.
    followers: AtomicUsize,
    /// Followers that have joined the feed, ever: each one's place for its [`Follower::delay`].
    joined: AtomicUsize,
    /// The longest `limit` a follower asked for: what a resync reads.
    limit: AtomicUsize,
    held: Mutex<Held>,
    /// Wakes the resync task early (the fan-out may have missed notices).
    resync: Notify,
}

/// What the feed holds back until the end of the interval.
#[derive(Default)]
struct Held {
    last: Option<Instant>,
    due: bool,
    /// The latest push per session.
    pushes: HashMap<Arc<str>, (u64, PushKind)>,
}

/// One socket following a user's list. Dropping it stops the following.
pub struct Follower {
    lists: Lists,
    uid: String,
    delay: Duration,
}

impl Follower {
    /// How long this follower holds each of the feed's coalesced pushes back: its own share of
    /// the first half of the interval, so that a user's tabs are not all sent the interval's
    /// summaries at one instant. The first follower of a feed holds nothing back; the
    /// following ones take the golden ratio's steps, spread evenly however many there are.
    pub fn delay(&self) -> Duration {
        self.delay
    }
}

/// The `n`th follower's share of `span`: the fractional part of `n` times the golden ratio.
fn share(n: usize, span: Duration) -> Duration {
    const GOLDEN: f64 = 0.618_033_988_749_895;
    span.mul_f64((n as f64 * GOLDEN).fract())
}

impl Drop for Follower {
    fn drop(&mut self) {
        let inner = &self.lists.inner;
        // Under the entry's lock, as the watch of a new feed is: the fan-out hears the two in
        // the order they happened, and never stops listening for a feed that exists.
        inner.feeds.remove_if(&self.uid, |_, feed| {
            let last = feed.followers.fetch_sub(1, Ordering::AcqRel) == 1;
            if last {
                inner.fanout.unwatch(Topic::User(&self.uid));
            }
            last
        });
    }
}

impl Lists {
    pub(super) fn new(
        fanout: Arc<dyn Fanout>,
        store: Arc<dyn SessionStore>,
        capacity: usize,
        interval: Duration,
        resync_interval: Duration,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                feeds: DashMap::new(),
                fanout,
                store,
                capacity: capacity.max(1),
                interval,
                resync_interval,
            }),
        }
    }

    /// Follows the user's list from now on: every change committed after this call is pushed.
    pub(super) fn follow(
        &self,
        uid: &str,
        limit: usize,
    ) -> (broadcast::Receiver<Arc<Push>>, Follower) {
        let inner = &self.inner;
        let mut created = false;
        let (receiver, delay) = {
            let feed = inner.feeds.entry(uid.to_owned()).or_insert_with(|| {
                created = true;
                Arc::new(Feed {
                    sender: broadcast::channel(inner.capacity).0,
                    followers: AtomicUsize::new(0),
                    joined: AtomicUsize::new(0),
                    limit: AtomicUsize::new(limit),
                    held: Mutex::default(),
                    resync: Notify::new(),
                })
            });
            feed.followers.fetch_add(1, Ordering::AcqRel);
            let joined = feed.joined.fetch_add(1, Ordering::AcqRel);
            feed.limit.fetch_max(limit, Ordering::AcqRel);
            if created {
                inner.fanout.watch(Topic::User(uid));
                if inner.fanout.is_shared() {
                    tokio::spawn(resync(
                        Arc::downgrade(&*feed),
                        Arc::clone(&inner.store),
                        uid.to_owned(),
                        inner.resync_interval,
                    ));
                }
            }
            (feed.sender.subscribe(), share(joined, inner.interval / 2))
        };
        let follower = Follower {
            lists: self.clone(),
            uid: uid.to_owned(),
            delay,
        };
        (receiver, follower)
    }

    /// Whether a change of this user's sessions has anywhere to go: followers here, or other
    /// instances (so that the summary is made only when needed).
    pub(super) fn wanted(&self, uid: &str) -> bool {
        self.inner.fanout.is_shared() || self.inner.feeds.contains_key(uid)
    }

    /// A session of this instance changed: to the followers here and on the other instances.
    pub(super) fn changed(&self, summary: Arc<Summary>) {
        let uid = summary.meta.uid.clone();
        if self.inner.fanout.is_shared() {
            let notice = Notice::Listed {
                summary: Arc::clone(&summary),
            };
            self.inner.fanout.publish(Topic::User(&uid), &notice);
        }
        self.offer(&uid, PushKind::Listed(summary));
    }

    /// A session of this instance was deleted (`seq`: one past its last event).
    pub(super) fn removed(&self, uid: &str, id: &str, seq: u64) {
        if self.inner.fanout.is_shared() {
            let notice = Notice::Unlisted {
                id: id.to_owned(),
                seq,
            };
            self.inner.fanout.publish(Topic::User(uid), &notice);
        }
        self.offer(uid, PushKind::Unlisted { id: id.into(), seq });
    }

    /// What another instance said about the user's sessions.
    pub(super) fn take_notice(&self, uid: &str, notice: Notice) {
        match notice {
            Notice::Listed { summary } => self.offer(uid, PushKind::Listed(summary)),
            Notice::Unlisted { id, seq } => {
                self.offer(uid, PushKind::Unlisted { id: id.into(), seq })
            }
            Notice::Resync => {
                if let Some(feed) = self.inner.feeds.get(uid) {
                    feed.resync.notify_one();
                }
            }
            _ => {}
        }
    }

    fn offer(&self, uid: &str, kind: PushKind) {
        let Some(feed) = self.inner.feeds.get(uid).map(|feed| Arc::clone(&feed)) else {
            return;
        };
        feed.offer(kind, self.inner.interval);
    }
}

impl Feed {
    fn offer(self: &Arc<Self>, kind: PushKind, interval: Duration) {
        let (id, seq) = match &kind {
            PushKind::Listed(summary) => (Arc::from(summary.meta.id.as_str()), summary.meta.seq),
            PushKind::Unlisted { id, seq } => (Arc::clone(id), *seq),
            _ => return,
        };
        let now = Instant::now();
        let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        if held.due {
            held.hold(id, seq, kind);
            return;
        }
        let next = held.last.map(|last| last + interval);
        match (next, tokio::runtime::Handle::try_current()) {
            (Some(next), Ok(runtime)) if next > now => {
                held.due = true;
                held.hold(id, seq, kind);
                let feed = Arc::downgrade(self);
                runtime.spawn(async move {
                    tokio::time::sleep_until(next).await;
                    if let Some(feed) = feed.upgrade() {
                        feed.flush();
                    }
                });
            }
            _ => {
                held.last = Some(now);
                drop(held);
                let _ = self.sender.send(Push::new(kind));
            }
        }
    }

    /// Sends what was held back as one push: however many sessions changed, a follower
    /// that keeps up with one push per interval never falls behind the ring.
    fn flush(&self) {
        let pushes = {
            let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
            held.last = Some(Instant::now());
            held.due = false;
            std::mem::take(&mut held.pushes)
        };
        let batch: Arc<[Arc<Push>]> = pushes
            .into_values()
            .map(|(_, kind)| Push::new(kind))
            .collect();
        let _ = self.sender.send(Push::new(PushKind::Batch(batch)));
    }
}

impl Held {
    /// Keeps the latest push of the session (notices from other instances may arrive late).
    fn hold(&mut self, id: Arc<str>, seq: u64, kind: PushKind) {
        match self.pushes.get(&id) {
            Some((held, _)) if *held >= seq => {}
            _ => {
                self.pushes.insert(id, (seq, kind));
            }
        }
    }
}

/// With other instances about: reads the user's list every interval (or when told) and pushes
/// it for the followers to compare, until the feed is gone.
async fn resync(feed: Weak<Feed>, store: Arc<dyn SessionStore>, uid: String, every: Duration) {
    loop {
        let Some(strong) = feed.upgrade() else { return };
        let limit = strong.limit.load(Ordering::Acquire);
        let woken = Arc::clone(&strong);
        drop(strong);
        tokio::select! {
            () = tokio::time::sleep(every) => {}
            () = woken.resync.notified() => {}
        }
        drop(woken);
        let query = ListQuery {
            limit,
            status: None,
            after: None,
        };
        let read_at = Instant::now();
        let page = match store.list(&uid, &query).await {
            Ok(page) => page,
            Err(err) => {
                tracing::debug!(%err, "cannot resync a user's list");
                continue;
            }
        };
        let Some(feed) = feed.upgrade() else { return };
        let relisted = Relisted {
            read_at,
            complete: page.next.is_none(),
            summaries: page
                .sessions
                .iter()
                .map(|session| Arc::new(session.summary()))
                .collect(),
        };
        let _ = feed
            .sender
            .send(Push::new(PushKind::Relisted(Arc::new(relisted))));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_follower_waits_for_nothing_and_ten_followers_spread_over_the_half_interval() {
        let span = Duration::from_millis(250);
        assert_eq!(share(0, span), Duration::ZERO);
        let mut delays: Vec<Duration> = (0..10).map(|n| share(n, span)).collect();
        assert!(delays.iter().all(|delay| *delay < span));
        delays.sort();
        // Evenly enough: no two of ten closer than a twentieth of the span.
        for pair in delays.windows(2) {
            assert!(pair[1] - pair[0] >= span / 20, "{delays:?}");
        }
    }
}
