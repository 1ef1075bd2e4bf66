//! Commits that are in the journal but not yet in the tables, held in memory so that every read
//! sees them.
//!
//! A read takes its snapshot of the overlay *before* it reads the tables, and the overlay lets
//! go of a batch only after the batch is committed to the tables. So whatever the read finds
//! missing from its snapshot is already in the tables it reads next; what it finds in both is
//! recognised by `seq` and applied once.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use crate::domain::commit::Commit;
use crate::domain::model::{Session, SessionEvent, SessionMeta};

/// The commits of one session, oldest first.
pub(super) type Commits = Vec<Arc<Commit>>;

#[derive(Default)]
pub(super) struct Overlay {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    /// Journaled since the last batch was handed to the flush.
    pending: Batch,
    /// Handed to the flush and not yet committed to the tables; at most one at a time, so the
    /// tables receive the batches in journal order.
    flushing: Option<Batch>,
}

#[derive(Default)]
struct Batch {
    sessions: HashMap<String, Commits>,
    /// The sessions of each user in `sessions`, for lists.
    users: HashMap<String, HashSet<String>>,
    /// uid → URL → the sessions given an image under that URL, for restores.
    urls: HashMap<String, HashMap<String, HashSet<String>>>,
    commits: usize,
    since: Option<Instant>,
}

impl Batch {
    fn add(&mut self, commit: Arc<Commit>) {
        let meta = &commit.meta;
        for event in &commit.events {
            let images: Box<dyn Iterator<Item = _>> = match event {
                SessionEvent::MessageAdded { message, .. } => Box::new(message.images.iter()),
                SessionEvent::ImageAdded { image, .. } => Box::new(std::iter::once(image)),
                SessionEvent::SessionUpdated { .. } => Box::new(std::iter::empty()),
            };
            for image in images {
                for url in image.lookup_urls() {
                    self.urls
                        .entry(meta.uid.clone())
                        .or_default()
                        .entry(url.to_owned())
                        .or_default()
                        .insert(meta.id.clone());
                }
            }
        }
        self.users
            .entry(meta.uid.clone())
            .or_default()
            .insert(meta.id.clone());
        self.sessions
            .entry(meta.id.clone())
            .or_default()
            .push(commit);
        self.commits += 1;
        self.since.get_or_insert_with(Instant::now);
    }

    fn forget(&mut self, id: &str) {
        let Some(commits) = self.sessions.remove(id) else {
            return;
        };
        self.commits -= commits.len();
        if let Some(uid) = commits.first().map(|c| c.meta.uid.as_str()) {
            if let Some(ids) = self.users.get_mut(uid) {
                ids.remove(id);
            }
            if let Some(urls) = self.urls.get_mut(uid) {
                for ids in urls.values_mut() {
                    ids.remove(id);
                }
            }
        }
    }
}

impl Overlay {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The session's `seq` after its last commit held here, if any is.
    pub fn latest_seq(&self, id: &str) -> Option<u64> {
        let inner = self.lock();
        [Some(&inner.pending), inner.flushing.as_ref()]
            .into_iter()
            .flatten()
            .filter_map(|batch| batch.sessions.get(id)?.last())
            .map(|commit| commit.meta.seq)
            .max()
    }

    /// Commits held, in the journal or on their way to the tables.
    pub fn len(&self) -> usize {
        let inner = self.lock();
        inner.pending.commits + inner.flushing.as_ref().map_or(0, |b| b.commits)
    }

    /// Commits just journaled.
    pub fn add(&self, commits: impl IntoIterator<Item = Arc<Commit>>) {
        let mut inner = self.lock();
        for commit in commits {
            inner.pending.add(commit);
        }
    }

    /// Whether a batch is due: no flush is under way, and the pending commits are `at_least`
    /// many or the oldest is older than `age`.
    pub fn due(&self, at_least: usize, age: std::time::Duration) -> bool {
        let inner = self.lock();
        inner.flushing.is_none()
            && inner.pending.commits > 0
            && (inner.pending.commits >= at_least
                || inner
                    .pending
                    .since
                    .is_some_and(|since| since.elapsed() >= age))
    }

    /// Hands the pending commits to the flush (they stay visible to reads until
    /// [`Self::flushed`]); answers them, each session's in order.
    pub fn seal(&self) -> Vec<Arc<Commit>> {
        let mut inner = self.lock();
        let batch = std::mem::take(&mut inner.pending);
        let commits = batch.sessions.values().flatten().cloned().collect();
        inner.flushing = Some(batch);
        commits
    }

    /// The batch handed to the flush is in the tables.
    pub fn flushed(&self) {
        self.lock().flushing = None;
    }

    /// The session is deleted: its commits are of no further use.
    pub fn forget(&self, id: &str) {
        let mut inner = self.lock();
        inner.pending.forget(id);
        if let Some(flushing) = &mut inner.flushing {
            flushing.forget(id);
        }
    }

    /// The session's commits, oldest first.
    pub fn session(&self, id: &str) -> Commits {
        let inner = self.lock();
        let mut commits = Commits::new();
        for batch in [inner.flushing.as_ref(), Some(&inner.pending)]
            .into_iter()
            .flatten()
        {
            if let Some(more) = batch.sessions.get(id) {
                commits.extend(more.iter().cloned());
            }
        }
        commits
    }

    /// The commits of each of the user's sessions held here.
    pub fn user(&self, uid: &str) -> HashMap<String, Commits> {
        let ids: HashSet<String> = {
            let inner = self.lock();
            [inner.flushing.as_ref(), Some(&inner.pending)]
                .into_iter()
                .flatten()
                .filter_map(|batch| batch.users.get(uid))
                .flatten()
                .cloned()
                .collect()
        };
        self.sessions(ids)
    }

    /// The commits of each of the user's sessions held here, and which of them were given an
    /// image under `url` by those commits.
    pub fn user_with_url(&self, uid: &str, url: &str) -> (HashMap<String, Commits>, Vec<String>) {
        let holding: Vec<String> = {
            let inner = self.lock();
            [inner.flushing.as_ref(), Some(&inner.pending)]
                .into_iter()
                .flatten()
                .filter_map(|batch| batch.urls.get(uid)?.get(url))
                .flatten()
                .cloned()
                .collect()
        };
        (self.user(uid), holding)
    }

    fn sessions(&self, ids: HashSet<String>) -> HashMap<String, Commits> {
        ids.into_iter()
            .map(|id| {
                let commits = self.session(&id);
                (id, commits)
            })
            .filter(|(_, commits)| !commits.is_empty())
            .collect()
    }
}

/// The session's metadata after its last commit held here.
pub(super) fn latest_meta(commits: &Commits) -> Option<&SessionMeta> {
    commits.last().map(|commit| &commit.meta)
}

/// `session` as read from the tables, brought up to date with the commits held here. A commit
/// the tables already have is skipped.
pub(super) fn bring_up(session: &mut Session, commits: &Commits) {
    for commit in commits {
        if commit.expected_seq == session.meta.seq {
            commit.apply_to(session);
        }
    }
}
