//! One task per live session. It owns the session's state, applies commands one at a time in
//! arrival order, and commits them in groups: every command that queued up while the previous
//! commit was in flight goes into the next one. Each command is answered only after the commit
//! that holds its change, so an acknowledged write is a durable write.

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use super::handle::{Command, SessionHandle};
use super::registry::SessionRegistry;
use super::room::Room;
use super::state::{Op, Outcome, SessionState};
use super::time::Timestamp;
use super::{ActorSettings, AttachStart, Attachment, SessionError};
use crate::store::{Commit, SessionStore, StoreError};

/// Most commands in one group commit.
const MAX_GROUP: usize = 256;
/// Commits retried after losing a `seq` race to another writer before giving up.
const MAX_COMMIT_ATTEMPTS: usize = 16;

pub(super) struct SessionActor {
    id: String,
    actor_id: u64,
    store: Arc<dyn SessionStore>,
    settings: Arc<ActorSettings>,
    registry: SessionRegistry,
    commands: mpsc::Receiver<Command>,
    /// The session's watchers, while there are any.
    room: Option<Room>,
}

struct PendingWatch {
    since: Option<u64>,
    reply: oneshot::Sender<Result<Attachment, SessionError>>,
}

struct PendingWrite {
    op: Op,
    reply: oneshot::Sender<Result<Outcome, SessionError>>,
}

/// Why an actor stops, and what the commands still queued are told.
enum Stop {
    Idle,
    Gone,
    Failed(String),
}

impl SessionActor {
    pub(super) fn spawn(
        id: String,
        actor_id: u64,
        store: Arc<dyn SessionStore>,
        settings: Arc<ActorSettings>,
        registry: SessionRegistry,
    ) -> SessionHandle {
        let (sender, commands) = mpsc::channel(settings.mailbox.max(1));
        let actor = SessionActor {
            id,
            actor_id,
            store,
            settings,
            registry,
            commands,
            room: None,
        };
        tokio::spawn(actor.run());
        SessionHandle {
            actor_id,
            commands: sender,
        }
    }

    async fn run(mut self) {
        let stop = match self.store.load(&self.id).await {
            Ok(Some(session)) => self.serve(SessionState::new(session)).await,
            Ok(None) => Stop::Gone,
            Err(err) => Stop::Failed(err.to_string()),
        };
        self.stop(stop).await;
    }

    async fn serve(&mut self, mut state: SessionState) -> Stop {
        loop {
            let idle = self.settings.idle_timeout;
            let first = match tokio::time::timeout(idle, self.commands.recv()).await {
                Ok(Some(command)) => command,
                // Watched sessions stay in memory: their actor is their watchers' source.
                Err(_) if self.room.as_ref().is_some_and(Room::is_watched) => continue,
                Ok(None) | Err(_) => return Stop::Idle,
            };
            let mut group = vec![first];
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
        for command in group {
            match command {
                Command::Write { uid, op, reply } if uid == owner && deletions.is_empty() => {
                    writes.push(PendingWrite { op, reply });
                }
                Command::Watch { uid, since, reply } if uid == owner && deletions.is_empty() => {
                    watches.push(PendingWatch { since, reply });
                }
                Command::Delete { uid, reply } if uid == owner && deletions.is_empty() => {
                    deletions.push(reply);
                }
                other => other.refuse(SessionError::NotFound),
            }
        }

        if !writes.is_empty() {
            state = self.commit_writes(state, writes).await?;
        }
        for watch in watches {
            let attachment = self.attach(&state, watch.since).await;
            // A watcher that went away meanwhile is dropped here, which updates presence.
            let _ = watch.reply.send(attachment);
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
                if let Some(room) = &self.room {
                    room.publish_deleted(state.meta().seq + 1);
                }
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
            Some(since) if since < seq => self.store.events_since(&self.id, since).await?,
            _ => None,
        };
        let start = match replay {
            Some(frames) => AttachStart::Replay(frames),
            None => AttachStart::Snapshot(Box::new(state.session().clone())),
        };
        let capacity = self.settings.room_capacity;
        let room = self.room.get_or_insert_with(|| Room::new(capacity));
        let (pushes, watcher) = room.watch();
        Ok(Attachment {
            start,
            seq,
            pushes,
            watcher,
        })
    }

    /// Commits the group's writes, in as few commits as the store's write limit allows.
    async fn commit_writes(
        &self,
        mut state: SessionState,
        mut writes: Vec<PendingWrite>,
    ) -> Result<SessionState, Stop> {
        let budget = self.store.max_commit_writes();
        while !writes.is_empty() {
            let (mut cost, mut take) = (1, 0);
            for write in &writes {
                let more = max_store_writes(&write.op);
                if take > 0 && cost + more > budget {
                    break;
                }
                cost += more;
                take += 1;
            }
            let rest = writes.split_off(take);
            state = self.commit_group(state, writes).await?;
            writes = rest;
        }
        Ok(state)
    }

    async fn commit_group(
        &self,
        mut state: SessionState,
        writes: Vec<PendingWrite>,
    ) -> Result<SessionState, Stop> {
        for attempt in 1..=MAX_COMMIT_ATTEMPTS {
            let expected_seq = state.meta().seq;
            let now = Timestamp::now();
            let mut events = Vec::new();
            let results: Vec<Result<Outcome, SessionError>> = writes
                .iter()
                .map(|write| {
                    let (outcome, event) = state.apply(&write.op, now, &self.settings.limits)?;
                    events.extend(event);
                    Ok(outcome)
                })
                .collect();
            if events.is_empty() {
                answer(writes, results);
                return Ok(state);
            }
            let commit = Commit {
                expected_seq,
                meta: state.meta().clone(),
                events,
            };
            match self.store.commit(&commit).await {
                Ok(()) => {
                    if let Some(room) = &self.room {
                        room.publish(&commit.events);
                    }
                    answer(writes, results);
                    return Ok(state);
                }
                Err(StoreError::SeqMismatch) if attempt < MAX_COMMIT_ATTEMPTS => {
                    tracing::debug!(session = %self.id, attempt, "lost a seq race; reloading");
                    // Writers that keep colliding spread out (another instance writes too).
                    let jitter = rand::random_range(0..=attempt as u64 * 5);
                    tokio::time::sleep(std::time::Duration::from_millis(jitter)).await;
                    state = match self.store.load(&self.id).await {
                        Ok(Some(session)) => SessionState::new(session),
                        Ok(None) => {
                            return Err(fail_all(writes, SessionError::NotFound, Stop::Gone));
                        }
                        Err(err) => {
                            let stop = Stop::Failed(err.to_string());
                            return Err(fail_all(writes, err.into(), stop));
                        }
                    };
                }
                Err(StoreError::NotFound) => {
                    return Err(fail_all(writes, SessionError::NotFound, Stop::Gone));
                }
                Err(err) => {
                    tracing::warn!(session = %self.id, error = %err, "commit failed");
                    let stop = Stop::Failed(err.to_string());
                    // The state holds uncommitted changes: the actor stops and its successor
                    // loads what the store really has.
                    return Err(fail_all(writes, err.into(), stop));
                }
            }
        }
        Err(fail_all(
            writes,
            StoreError::SeqMismatch.into(),
            Stop::Failed("kept losing seq races".into()),
        ))
    }

    /// Leaves the registry, then answers whatever is still queued: after an idle stop those
    /// commands were sent in the meantime and are still served; otherwise they are refused.
    async fn stop(mut self, stop: Stop) {
        self.registry.forget_actor(&self.id, self.actor_id);
        self.commands.close();
        match stop {
            Stop::Idle => {
                let mut leftover = Vec::new();
                while let Ok(command) = self.commands.try_recv() {
                    leftover.push(command);
                }
                if leftover.is_empty() {
                    return;
                }
                // Rare: commands raced the idle timeout. Serve them from a fresh load.
                match self.store.load(&self.id).await {
                    Ok(Some(session)) => {
                        let _ = self.process(SessionState::new(session), leftover).await;
                    }
                    Ok(None) => refuse_all(leftover, SessionError::NotFound),
                    Err(err) => refuse_all(leftover, err.into()),
                }
            }
            Stop::Gone => {
                while let Ok(command) = self.commands.try_recv() {
                    command.refuse(SessionError::NotFound);
                }
            }
            Stop::Failed(cause) => {
                tracing::warn!(session = %self.id, %cause, "session actor stopped");
                while let Ok(command) = self.commands.try_recv() {
                    command.refuse(SessionError::Unavailable(cause.clone()));
                }
            }
        }
    }
}

/// An upper bound of the store writes `op` can cause (see `SessionStore::max_commit_writes`).
fn max_store_writes(op: &Op) -> usize {
    // An image is one document and up to three URLs.
    let per_image = 4;
    match op {
        Op::Append(message) => 3 + per_image * message.images.len(),
        Op::AddImage { .. } => 2 + per_image,
        Op::Complete { .. } | Op::Update(_) => 2,
    }
}

fn answer(writes: Vec<PendingWrite>, results: Vec<Result<Outcome, SessionError>>) {
    for (write, result) in writes.into_iter().zip(results) {
        let _ = write.reply.send(result);
    }
}

fn fail_all(writes: Vec<PendingWrite>, err: SessionError, stop: Stop) -> Stop {
    for write in writes {
        let _ = write.reply.send(Err(err.clone()));
    }
    stop
}

fn refuse_all(commands: Vec<Command>, err: SessionError) {
    for command in commands {
        command.refuse(err.clone());
    }
}
