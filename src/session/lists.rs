//! The users' lists, live: every committed change of a session, as its summary, to the sockets
//! that follow its user's list on this instance, and (through the fan-out) on the others.
//!
//! One feed per user followed here, while anyone follows it. A feed's pushes are coalesced: the
//! first change after a quiet interval goes out at once, and the changes made after it go out in
//! their sessions' slots, one per session, the latest. The interval is cut into a few slots and
//! each session has one (by its id), so that a user writing many sessions at once sends their
//! summaries spread over the interval, a few at a time, instead of all of them to every tab at
//! one instant; and a session is sent at most once per interval while it keeps changing. With other
//! instances about, the feed also reads the user's list from the store every resync interval
//! (and when the fan-out was away), so that a notice lost between instances reaches the
//! sockets anyway.

use std::collections::HashMap;
use std::hash::{Hash as _, Hasher as _};
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
    /// The longest `limit` a follower asked for: what a resync reads.
    limit: AtomicUsize,
    held: Mutex<Held>,
    /// Where the slots of the feed's intervals are counted from.
    epoch: Instant,
    /// Wakes the resync task early (the fan-out may have missed notices).
    resync: Notify,
}

/// How many slots an interval is cut into: a busy feed sends at most this many pushes per
/// interval, which its followers' rings must hold while they are busy.
const SLOTS: u32 = 5;

/// What the feed holds back until each session's slot.
#[derive(Default)]
struct Held {
    /// When the feed last sent a push.
    last: Option<Instant>,
    /// The latest push held per session, with when it is due.
    pushes: HashMap<Arc<str>, HeldPush>,
    /// Whether a task is waiting to send the held pushes.
    waiting: bool,
}

struct HeldPush {
    seq: u64,
    kind: PushKind,
    due: Instant,
}

/// One socket following a user's list. Dropping it stops the following.
pub struct Follower {
    lists: Lists,
    uid: String,
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
        let receiver = {
            let feed = inner.feeds.entry(uid.to_owned()).or_insert_with(|| {
                created = true;
                Arc::new(Feed {
                    sender: broadcast::channel(inner.capacity).0,
                    followers: AtomicUsize::new(0),
                    limit: AtomicUsize::new(limit),
                    held: Mutex::default(),
                    epoch: Instant::now(),
                    resync: Notify::new(),
                })
            });
            feed.followers.fetch_add(1, Ordering::AcqRel);
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
            feed.sender.subscribe()
        };
        let follower = Follower {
            lists: self.clone(),
            uid: uid.to_owned(),
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
        let quiet = !held.waiting && held.last.is_none_or(|last| last + interval <= now);
        let runtime = match tokio::runtime::Handle::try_current() {
            Ok(runtime) if !quiet => runtime,
            _ => {
                held.last = Some(now);
                drop(held);
                let _ = self.sender.send(Push::new(kind));
                return;
            }
        };
        let due = self.slot_after(&id, now, interval);
        held.hold(id, seq, kind, due);
        if !held.waiting {
            // One task per busy feed, waking at the start of every slot while anything is held.
            held.waiting = true;
            let (next, length) = self.next_slot(now, interval);
            let first = self.slot_start(next, length);
            let feed = Arc::downgrade(self);
            runtime.spawn(async move {
                let mut at = first;
                loop {
                    tokio::time::sleep_until(at).await;
                    let Some(feed) = feed.upgrade() else { return };
                    match feed.flush(interval) {
                        Some(next) => at = next,
                        None => return,
                    }
                }
            });
        }
    }

    /// The start of the session's next slot after `now`: the interval is cut into `SLOTS`
    /// slots, counted from the feed's epoch, and a session's is chosen by its id.
    fn slot_after(&self, id: &str, now: Instant, interval: Duration) -> Instant {
        let mut hasher = std::hash::DefaultHasher::new();
        id.hash(&mut hasher);
        let slot = hasher.finish() % u64::from(SLOTS);
        let (next, length) = self.next_slot(now, interval);
        let ahead = (slot + u64::from(SLOTS) - next % u64::from(SLOTS)) % u64::from(SLOTS);
        self.slot_start(next + ahead, length)
    }

    /// The number of the first slot to start after `now`, and the slots' length in nanoseconds.
    fn next_slot(&self, now: Instant, interval: Duration) -> (u64, u64) {
        let length = u64::try_from(interval.as_nanos() / u128::from(SLOTS))
            .unwrap_or(u64::MAX)
            .max(1);
        let elapsed = u64::try_from(now.duration_since(self.epoch).as_nanos()).unwrap_or(u64::MAX);
        (elapsed / length + 1, length)
    }

    fn slot_start(&self, slot: u64, length: u64) -> Instant {
        self.epoch + Duration::from_nanos(slot.saturating_mul(length))
    }

    /// Sends the held pushes that are due as one push, and tells when the next slot starts if
    /// anything is still held.
    fn flush(&self, interval: Duration) -> Option<Instant> {
        let now = Instant::now();
        let mut batch = Vec::new();
        let next = {
            let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
            let due: Vec<Arc<str>> = held
                .pushes
                .iter()
                .filter(|(_, push)| push.due <= now)
                .map(|(id, _)| Arc::clone(id))
                .collect();
            for id in due {
                if let Some(push) = held.pushes.remove(&id) {
                    batch.push(Push::new(push.kind));
                }
            }
            if !batch.is_empty() {
                held.last = Some(now);
            }
            held.waiting = !held.pushes.is_empty();
            held.waiting.then(|| {
                let (next, length) = self.next_slot(now, interval);
                self.slot_start(next, length)
            })
        };
        match batch.len() {
            0 => {}
            1 => {
                let _ = self.sender.send(batch.swap_remove(0));
            }
            _ => {
                let _ = self.sender.send(Push::new(PushKind::Batch(batch.into())));
            }
        }
        next
    }
}

impl Held {
    /// Keeps the latest push of the session (notices from other instances may arrive late).
    fn hold(&mut self, id: Arc<str>, seq: u64, kind: PushKind, due: Instant) {
        match self.pushes.get_mut(&id) {
            Some(held) if held.seq >= seq => {}
            Some(held) => {
                held.seq = seq;
                held.kind = kind;
            }
            None => {
                self.pushes.insert(id, HeldPush { seq, kind, due });
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
    use std::collections::HashSet;

    use super::*;
    use crate::fanout::LocalFanout;
    use crate::store::sqlite::{SqliteOptions, SqliteStore, Synchronous};

    const INTERVAL: Duration = Duration::from_millis(500);

    fn lists(dir: &tempfile::TempDir) -> Lists {
        let options = SqliteOptions {
            synchronous: Synchronous::Normal,
            readers: 1,
        };
        let store = SqliteStore::open(&dir.path().join("s.sqlite3"), &options).unwrap();
        Lists::new(
            Arc::new(LocalFanout),
            Arc::new(store),
            1024,
            INTERVAL,
            Duration::from_secs(5),
        )
    }

    /// The sessions and `seq`s a push carries.
    fn carried(push: &Push) -> Vec<(Arc<str>, u64)> {
        match &push.kind {
            PushKind::Unlisted { id, seq } => vec![(Arc::clone(id), *seq)],
            PushKind::Batch(pushes) => pushes.iter().flat_map(|push| carried(push)).collect(),
            _ => Vec::new(),
        }
    }

    /// Receives pushes until every session of `ids` arrived at `seq`, each once, and answers
    /// at how many distinct moments they arrived, each no later than one interval after `from`.
    async fn receive_each_once(
        pushes: &mut broadcast::Receiver<Arc<Push>>,
        ids: &[String],
        seq: u64,
        from: Instant,
    ) -> usize {
        let mut seen = HashSet::new();
        let mut instants = HashSet::new();
        while seen.len() < ids.len() {
            let push = pushes.recv().await.unwrap();
            let waited = Instant::now() - from;
            assert!(waited <= INTERVAL, "a held change waited {waited:?}");
            instants.insert(waited);
            for (id, sent) in carried(&push) {
                assert_eq!(sent, seq, "{id} was sent at {sent}, not its latest");
                assert!(seen.insert(id.clone()), "{id} was sent twice");
            }
        }
        instants.len()
    }

    #[tokio::test(start_paused = true)]
    async fn changes_of_many_sessions_leave_spread_over_the_interval_each_session_once() {
        let dir = tempfile::tempdir().unwrap();
        let lists = lists(&dir);
        let (mut pushes, _follower) = lists.follow("u", 50);
        let ids: Vec<String> = (0..100).map(|i| format!("session-{i:03}")).collect();

        // The first change after a quiet interval goes out at once.
        lists.removed("u", "first", 1);
        let push = pushes.try_recv().expect("the first change went out at once");
        assert_eq!(carried(&push), vec![(Arc::from("first"), 1)]);

        // Three changes of each of 100 sessions right after: held, and the latest of each
        // sent once, in its own slot of the interval.
        let start = Instant::now();
        for seq in 2..=4 {
            for id in &ids {
                lists.removed("u", id, seq);
            }
        }
        assert!(pushes.try_recv().is_err(), "a held change went out at once");
        let instants = receive_each_once(&mut pushes, &ids, 4, start).await;
        assert_eq!(
            instants, SLOTS as usize,
            "100 sessions' changes left at {instants} moments of the interval"
        );

        // While they keep changing, each is sent once per interval.
        let start = Instant::now();
        for id in &ids {
            lists.removed("u", id, 5);
        }
        receive_each_once(&mut pushes, &ids, 5, start).await;
        tokio::time::sleep(INTERVAL * 2).await;
        assert!(pushes.try_recv().is_err(), "something was sent twice");
    }
}
