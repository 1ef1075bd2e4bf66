//! One task per live session. It owns the session's state, applies commands one at a time in
//! arrival order, and commits them in groups: every command that queued up while the previous
//! commit was in flight goes into the next one. Each command is answered only after the commit
//! that holds its change, so an acknowledged write is a durable write.

use std::collections::HashMap;
use std::sync::Arc;
use tracing::Instrument as _;

use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

mod commit;
mod sync;

use super::handle::Command;
use super::lists::Lists;
use super::registry::Lease;
use super::room::Room;
use super::rules::{Op, Outcome, SessionState};
use super::{ActorSettings, AttachStart, Attachment, SessionError};
use crate::fanout::{Fanout, Notice, Topic};
use crate::store::SessionStore;

/// Most commands in one group commit.
const MAX_GROUP: usize = 256;
/// Commits retried after losing a `seq` race to another writer before giving up.
const MAX_COMMIT_ATTEMPTS: usize = 16;
/// The longest a group of writes keeps retrying lost races: past it, its writes fail with a
/// retryable error rather than wait on.
const COMMIT_PATIENCE: std::time::Duration = std::time::Duration::from_secs(10);

/// What every actor of this process shares.
pub(super) struct ActorParts {
    pub(super) store: Arc<dyn SessionStore>,
    pub(super) settings: Arc<ActorSettings>,
    pub(super) fanout: Arc<dyn Fanout>,
    pub(super) lists: Lists,
}

pub(super) struct SessionActor {
    id: String,
    /// Its hold on the session's registry entry: no other actor of the session runs meanwhile.
    lease: Lease,
    store: Arc<dyn SessionStore>,
    settings: Arc<ActorSettings>,
    commands: mpsc::Receiver<Command>,
    /// The session's watchers, while there are any.
    room: Option<Room>,
    fanout: Arc<dyn Fanout>,
    /// Where the session's summary goes after each change.
    lists: Lists,
    /// The last `seq` published to the room: the room only ever receives the next one.
    published_seq: u64,
    /// Sockets attached to this session on other instances, and when each last said so.
    remote_presence: HashMap<String, (usize, Instant)>,
    /// Whether this actor asked the fan-out for the session's notices.
    subscribed: bool,
}

struct PendingWatch {
    since: Option<u64>,
    reply: oneshot::Sender<Result<Attachment, SessionError>>,
}

struct PendingSignal {
    from: Arc<str>,
    data: serde_json::Value,
    reply: oneshot::Sender<Result<u64, SessionError>>,
}

struct PendingWrite {
    op: Op,
    reply: oneshot::Sender<Result<Outcome, SessionError>>,
    origin: crate::telemetry::traces::Origin,
}

/// Why an actor stops, and what the commands still queued are told.
enum Stop {
    /// Idle, and already out of the registry with nothing queued.
    Retired,
    Gone,
    Failed(String),
}

impl SessionActor {
    /// Starts the actor of session `id`, which holds `lease`; returns its mailbox.
    pub(super) fn spawn(id: String, lease: Lease, parts: &ActorParts) -> mpsc::Sender<Command> {
        let settings = Arc::clone(&parts.settings);
        let (sender, commands) = mpsc::channel(settings.mailbox.max(1));
        let actor = SessionActor {
            id,
            lease,
            store: Arc::clone(&parts.store),
            settings,
            commands,
            room: None,
            fanout: Arc::clone(&parts.fanout),
            lists: parts.lists.clone(),
            published_seq: 0,
            remote_presence: HashMap::new(),
            subscribed: false,
        };
        // A root span: the actor outlives the request that started it.
        let span = tracing::info_span!(parent: None, "actor", session = %actor.id);
        tokio::spawn(tracing::Instrument::instrument(actor.run(), span));
        sender
    }

    async fn run(mut self) {
        let live = &crate::telemetry::metrics::metrics().sessions_live;
        live.increment(1.0);
        let stop = match self.store.load(&self.id).await {
            Ok(Some(session)) => {
                self.published_seq = session.meta.seq;
                self.serve(SessionState::new(session)).await
            }
            Ok(None) => Stop::Gone,
            Err(err) => Stop::Failed(err.to_string()),
        };
        self.stop(stop).await;
        live.decrement(1.0);
    }

    async fn serve(&mut self, mut state: SessionState) -> Stop {
        loop {
            let watched = self.room.as_ref().is_some_and(Room::is_watched);
            // Watched sessions stay in memory (their actor is their watchers' source), and
            // with other instances about, compare with the store now and then.
            let resyncs = watched && self.fanout.is_shared();
            let wait = if resyncs {
                self.settings.resync_interval
            } else {
                self.settings.idle_timeout
            };
            let first = match tokio::time::timeout(wait, self.commands.recv()).await {
                Ok(Some(command)) => vec![command],
                Err(_) if resyncs => {
                    state = match self.resync(state).await {
                        Ok(next) => next,
                        Err(stop) => return stop,
                    };
                    continue;
                }
                Err(_) if watched => continue,
                Ok(None) => return Stop::Retired,
                Err(_) => match self.retire().await {
                    None => return Stop::Retired,
                    // Commands raced the idle timeout: this actor serves them, and goes on.
                    Some(late) => late,
                },
            };
            let mut group = first;
            while group.len() < MAX_GROUP {
                match self.commands.try_recv() {
                    Ok(command) => group.push(command),
                    Err(_) => break,
                }
            }
            state = match self.process(state, group).await {
                Ok(next) => next,
                Err(stop) => return stop,
            };
        }
    }

    /// Runs one group: writes first, committed together and published, then new watchers
    /// (who start from the state after those writes), then any deletion. Returns the state to
    /// continue with, or why the actor must stop.
    async fn process(
        &mut self,
        mut state: SessionState,
        group: Vec<Command>,
    ) -> Result<SessionState, Stop> {
        let owner = state.meta().uid.clone();
        let mut writes = Vec::with_capacity(group.len());
        let mut watches = Vec::new();
        let mut deletions = Vec::new();
        let mut reads = Vec::new();
        let mut signals = Vec::new();
        let mut notices = Vec::new();
        for command in group {
            match command {
                Command::Notice(notice, origin) => notices.push((notice, origin)),
                Command::Write {
                    uid,
                    op,
                    reply,
                    origin,
                } if uid == owner && deletions.is_empty() => {
                    writes.push(PendingWrite {
                        op: *op,
                        reply,
                        origin,
                    });
                }
                Command::Watch { uid, since, reply } if uid == owner && deletions.is_empty() => {
                    watches.push(PendingWatch { since, reply });
                }
                Command::Delete { uid, reply } if uid == owner && deletions.is_empty() => {
                    deletions.push(reply);
                }
                Command::Read { uid, reply } if uid == owner && deletions.is_empty() => {
                    reads.push(reply);
                }
                Command::Signal {
                    uid,
                    from,
                    data,
                    reply,
                } if uid == owner && deletions.is_empty() => {
                    signals.push(PendingSignal { from, data, reply });
                }
                other => other.refuse(SessionError::NotFound),
            }
        }

        // Other instances' changes come first: they committed before ours can.
        for (notice, origin) in notices {
            let delivery = origin.span().cloned().unwrap_or_else(tracing::Span::none);
            state = self.take_notice(state, notice).instrument(delivery).await?;
        }
        if !writes.is_empty() {
            state = self.commit_writes(state, writes).await?;
        }
        // Reads see the writes queued before them, committed.
        for reply in reads {
            let _ = reply.send(Ok(state.shared()));
        }
        if !watches.is_empty() && !self.store.exclusive() {
            // Other instances write too, and what they committed reaches this one only as
            // notices, if it is subscribed at all and they have arrived: a new watcher starts
            // from the store's state as of now, so that it never starts behind a `sinceSeq`
            // it was given (nor behind what the room shows). A store that cannot be read
            // refuses these attaches only: the watchers already here keep their room.
            match self.store.load(&self.id).await {
                Ok(Some(fresh)) => state = self.caught_up(fresh).await?,
                Ok(None) => return Err(self.gone()),
                Err(err) => {
                    let refusal = SessionError::from(err);
                    for watch in watches.drain(..) {
                        let _ = watch.reply.send(Err(refusal.clone()));
                    }
                }
            }
        }
        for watch in watches {
            let attachment = self.attach(&state, watch.since).await;
            // A watcher that went away meanwhile is dropped here, which updates presence.
            let _ = watch.reply.send(attachment);
        }
        for signal in signals {
            let seq = self.published_seq.max(state.meta().seq);
            self.signal(seq, signal.from, signal.data);
            let _ = signal.reply.send(Ok(seq));
        }
        if let Some(reply) = deletions.pop() {
            let result = self
                .store
                .delete(&self.id)
                .await
                .map_err(SessionError::from);
            let deleted = result.is_ok();
            let _ = reply.send(result);
            if deleted {
                tracing::debug!(session = %self.id, "session deleted");
                let seq = state.meta().seq + 1;
                if let Some(room) = &self.room {
                    room.publish_deleted(seq);
                }
                self.fanout
                    .publish(Topic::Session(&self.id), &Notice::Deleted);
                self.lists.removed(&owner, &self.id, seq);
                return Err(Stop::Gone);
            }
        }
        Ok(state)
    }

    /// Where a new watcher starts: the events after `since` when the log still has them all,
    /// else a snapshot. Subscribed at the current `seq`, so it misses and repeats nothing.
    async fn attach(
        &mut self,
        state: &SessionState,
        since: Option<u64>,
    ) -> Result<Attachment, SessionError> {
        let seq = state.meta().seq;
        let replay = match since {
            Some(since) if since == seq => Some(Vec::new()),
            Some(since) if since < seq => {
                // Only up to `seq`: later events reach the watcher through the room.
                let events = self.store.events_since(&self.id, since).await?;
                events.map(|mut events| {
                    events.truncate((seq - since) as usize);
                    events
                })
            }
            _ => None,
        };
        let start = match replay {
            Some(events) => AttachStart::Replay(events),
            None => AttachStart::Snapshot(Box::new(state.session().clone())),
        };
        let room = match self.room.take() {
            Some(room) => room,
            None => self.open_room(),
        };
        let (pushes, watcher) = room.watch();
        self.room = Some(room);
        Ok(Attachment {
            start,
            seq,
            pushes,
            watcher,
        })
    }

    /// After an idle timeout: leaves the registry, unless commands are on their way, which are
    /// returned (the actor then goes on, with a fresh mailbox). Atomic with the registry entry:
    /// while the actor decides, new commands wait at the entry rather than reach a mailbox on
    /// its way out, and a late one either reaches this actor or, once it has left, a new one.
    async fn retire(&mut self) -> Option<Vec<Command>> {
        let closing = self.lease.close()?;
        // Senders that took the handle before the entry closed may still be sending: new
        // sends are refused, and `recv` ends once those holding a place in the mailbox have
        // sent.
        self.commands.close();
        let mut late = Vec::new();
        while let Some(command) = self.commands.recv().await {
            late.push(command);
        }
        if late.is_empty() {
            return None; // `closing` dropped: the entry goes
        }
        let (sender, commands) = mpsc::channel(self.settings.mailbox.max(1));
        self.commands = commands;
        closing.reopen(sender);
        Some(late)
    }

    /// Leaves the registry (if still there) and answers whatever is still queued.
    async fn stop(mut self, stop: Stop) {
        self.lease.release();
        self.commands.close();
        if self.subscribed {
            self.fanout.unwatch(Topic::Session(&self.id));
        }
        let refusal = match stop {
            // Nothing can be queued: the mailbox was empty when the actor left the registry.
            Stop::Retired => return,
            Stop::Gone => SessionError::NotFound,
            Stop::Failed(cause) => {
                tracing::warn!(session = %self.id, %cause, "session actor stopped");
                SessionError::Unavailable(cause)
            }
        };
        while let Ok(command) = self.commands.try_recv() {
            command.refuse(refusal.clone());
        }
    }
}
