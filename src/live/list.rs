//! What a socket following the user's list has shown, and what it owes the client next: each
//! session's summary only moves forward in `seq`, a session that leaves the list (deleted, or no
//! longer matching the socket's `status`) is announced once, and a page read from the store
//! (after a lost notice, or a burst the socket fell behind on) is compared with what was shown.
//! The feed's coalesced pushes are held back for the socket's own delay, so that the tabs of
//! one user are each sent the interval's summaries at a different moment.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use crate::domain::model::{Status, Summary};
use crate::domain::time::Timestamp;
use crate::protocol::push;
use crate::session::{Push, PushKind};

pub(super) struct ListView {
    /// Only sessions of this status are listed.
    status: Option<Status>,
    shown: HashMap<Arc<str>, Shown>,
    /// How long a coalesced push is held back before it is sent.
    delay: Duration,
    /// The coalesced push being held back, and until when.
    held: Option<(Instant, Arc<Push>)>,
}

/// What the socket last told of a session.
struct Shown {
    seq: u64,
    updated_at: Timestamp,
    /// When the socket learned it: a page read before then may not reflect it.
    learned: Instant,
    /// Whether the session is on the client's list (or was removed from it).
    listed: bool,
}

/// A frame to send: its own, or one shared with the other sockets of the user's list.
pub(super) enum Owed {
    Own(String),
    Shared(Arc<str>),
}

impl ListView {
    pub(super) fn new(status: Option<Status>, delay: Duration) -> Self {
        Self {
            status,
            shown: HashMap::new(),
            delay,
            held: None,
        }
    }

    /// The `sessions` frame that starts the socket's list.
    pub(super) fn begin(&mut self, summaries: &[Summary], next_cursor: Option<&str>) -> String {
        let now = Instant::now();
        for summary in summaries {
            self.show(summary, now);
        }
        push::sessions(summaries, next_cursor)
    }

    fn matches(&self, summary: &Summary) -> bool {
        self.status
            .is_none_or(|status| summary.meta.status == status)
    }

    fn show(&mut self, summary: &Summary, learned: Instant) {
        let shown = Shown {
            seq: summary.meta.seq,
            updated_at: summary.meta.updated_at,
            learned,
            listed: true,
        };
        self.shown.insert(summary.meta.id.as_str().into(), shown);
    }

    /// Whether the socket already told something at least as new of the session.
    fn told(&self, id: &str, seq: u64) -> bool {
        self.shown.get(id).is_some_and(|shown| shown.seq >= seq)
    }

    /// The session left the list (`seq`: the change that made it leave, or one past the last
    /// event of a deleted session).
    fn remove(&mut self, id: &str, seq: u64, owed: &mut Vec<Owed>) {
        let was_listed = self.shown.get(id).is_none_or(|shown| shown.listed);
        let gone = Shown {
            seq,
            updated_at: Timestamp::from_millis(i64::MIN),
            learned: Instant::now(),
            listed: false,
        };
        self.shown.insert(id.into(), gone);
        if was_listed {
            owed.push(Owed::Own(push::session_removed(id, seq)));
        }
    }

    /// What a push of the user's feed owes the client now: a push held back goes first, and a
    /// coalesced one is held back for the socket's delay (see [`ListView::release`]).
    pub(super) fn on_push(&mut self, push: Arc<Push>) -> Vec<Owed> {
        let mut owed = self.release();
        if matches!(push.kind, PushKind::Batch(_)) && !self.delay.is_zero() {
            self.held = Some((push.at + self.delay, push));
        } else {
            self.take(&push, &mut owed);
        }
        owed
    }

    /// When the push held back is due.
    pub(super) fn held_until(&self) -> Option<Instant> {
        self.held.as_ref().map(|(until, _)| *until)
    }

    /// What the push held back owes the client (nothing when none is).
    pub(super) fn release(&mut self) -> Vec<Owed> {
        let mut owed = Vec::new();
        if let Some((_, push)) = self.held.take() {
            self.take(&push, &mut owed);
        }
        owed
    }

    fn take(&mut self, push: &Push, owed: &mut Vec<Owed>) {
        match &push.kind {
            PushKind::Listed(summary) => self.changed(summary, Some(push), owed),
            PushKind::Unlisted { id, seq } if !self.told(id, *seq) => {
                self.remove(id, *seq, owed);
            }
            PushKind::Relisted(page) => {
                self.reconcile(&page.summaries, page.complete, page.read_at, owed);
            }
            PushKind::Batch(pushes) => {
                for push in pushes.iter() {
                    self.take(push, owed);
                }
            }
            _ => {}
        }
    }

    fn changed(&mut self, summary: &Summary, push: Option<&Push>, owed: &mut Vec<Owed>) {
        let (id, seq) = (summary.meta.id.as_str(), summary.meta.seq);
        if self.told(id, seq) {
            return;
        }
        if !self.matches(summary) {
            if self.shown.get(id).is_some_and(|shown| shown.listed) {
                self.remove(id, seq, owed);
            }
            return;
        }
        self.show(summary, Instant::now());
        owed.push(match push {
            Some(push) => Owed::Shared(push.encoded(push::push)),
            None => Owed::Own(push::session_changed(summary)),
        });
    }

    /// Compares a page of the list, read from the store at `read_at`, with what was shown: the
    /// sessions it holds newer than shown are sent, and a session shown before the read that
    /// would be on the page but is not has left the list.
    pub(super) fn reconcile(
        &mut self,
        summaries: &[Arc<Summary>],
        complete: bool,
        read_at: Instant,
        owed: &mut Vec<Owed>,
    ) {
        for summary in summaries {
            self.changed(summary, None, owed);
        }
        // The page ends at its oldest session, unless it holds them all.
        let cutoff = match summaries.last() {
            Some(last) if !complete => Some((last.meta.updated_at, last.meta.id.as_str())),
            None if !complete => return,
            _ => None,
        };
        let on_page: std::collections::HashSet<&str> =
            summaries.iter().map(|s| s.meta.id.as_str()).collect();
        let left: Vec<(Arc<str>, u64)> = self
            .shown
            .iter()
            .filter(|(id, shown)| {
                shown.listed
                    && shown.learned < read_at
                    && !on_page.contains(&***id)
                    && cutoff.is_none_or(|cut| (shown.updated_at, &***id) > cut)
            })
            .map(|(id, shown)| (Arc::clone(id), shown.seq + 1))
            .collect();
        for (id, seq) in left {
            self.remove(&id, seq, owed);
        }
    }
}
