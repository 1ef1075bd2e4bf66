//! Keeping a session's watchers in step with other instances: the room and what it announces,
//! publishing this instance's commits, taking the others' notices, and catching up with the
//! store whenever a notice is missing.

use std::sync::Arc;

use tokio::time::Instant;

use super::{SessionActor, SessionState, Stop};
use crate::domain::commit::Commit;
use crate::domain::model::SessionEvent;
use crate::fanout::{Notice, Topic};
use crate::session::push::Signal;
use crate::session::room::Room;

impl SessionActor {
    /// The room, created for the first watcher: it announces this instance's watchers to the
    /// others, and the fan-out starts bringing their notices.
    pub(super) fn open_room(&mut self) -> Room {
        let (fanout, id) = (Arc::clone(&self.fanout), self.id.clone());
        let announce = Box::new(move |connections| {
            let instance = fanout.instance().to_owned();
            fanout.publish(
                Topic::Session(&id),
                &Notice::Presence {
                    instance,
                    connections,
                },
            );
        });
        if !self.subscribed {
            self.fanout.watch(Topic::Session(&self.id));
            self.subscribed = true;
        }
        Room::new(
            self.settings.room_capacity,
            self.settings.presence_interval,
            announce,
        )
    }

    /// A commit of this instance: to this instance's watchers, then to the other instances.
    pub(super) fn published(&mut self, commit: &Commit) {
        if let Some(room) = &self.room {
            for event in &commit.events {
                room.publish_event(event.clone());
            }
        }
        self.published_seq = commit.meta.seq;
        if self.fanout.is_shared() {
            let events = commit.events.clone();
            self.fanout
                .publish(Topic::Session(&self.id), &Notice::Committed { events });
        }
    }

    /// The session as it now stands, to its user's lists.
    pub(super) fn listed(&self, state: &SessionState) {
        if self.lists.wanted(&state.meta().uid) {
            self.lists.changed(Arc::new(state.summary()));
        }
    }

    /// A signal: to this instance's watchers, then to the other instances'.
    pub(super) fn signal(&self, seq: u64, from: Arc<str>, data: serde_json::Value) {
        let signal = Signal { from, seq, data };
        if self.fanout.is_shared() {
            let notice = Notice::Signal {
                from: signal.from.to_string(),
                seq,
                data: signal.data.clone(),
            };
            self.fanout.publish(Topic::Session(&self.id), &notice);
        }
        if let Some(room) = &self.room {
            room.publish_signal(Arc::new(signal));
        }
    }

    /// What another instance said about the session.
    pub(super) async fn take_notice(
        &mut self,
        mut state: SessionState,
        notice: Notice,
    ) -> Result<SessionState, Stop> {
        match notice {
            Notice::Committed { mut events } => {
                events.sort_by_key(SessionEvent::seq);
                for event in events {
                    let seq = event.seq();
                    if seq <= self.published_seq {
                        continue; // already shown (a duplicate, or filled from the store)
                    }
                    if seq != self.published_seq + 1 {
                        // A notice was lost: the store has every event.
                        return self.catch_up(state).await;
                    }
                    if let Some(room) = &self.room {
                        room.publish_event(event);
                    }
                    self.published_seq = seq;
                }
                Ok(state)
            }
            Notice::Deleted => {
                if let Some(room) = &self.room {
                    room.publish_deleted(self.published_seq + 1);
                }
                Err(Stop::Gone)
            }
            Notice::Presence {
                instance,
                connections,
            } => {
                self.remote_presence
                    .insert(instance, (connections, Instant::now()));
                self.update_remote_presence();
                Ok(state)
            }
            Notice::Signal { from, seq, data } => {
                if let Some(room) = &self.room {
                    let from = from.into();
                    room.publish_signal(Arc::new(Signal { from, seq, data }));
                }
                Ok(state)
            }
            Notice::Resync => {
                state = self.catch_up(state).await?;
                Ok(state)
            }
            // A user's notices are not a session's.
            Notice::Listed { .. } | Notice::Unlisted { .. } => Ok(state),
        }
    }

    /// Periodic, with other instances about: catch up with the store (in case a notice was
    /// lost), say how many watchers this instance has, and forget instances gone silent.
    pub(super) async fn resync(&mut self, state: SessionState) -> Result<SessionState, Stop> {
        let state = match self.store.load(&self.id).await {
            Ok(Some(fresh)) => self.caught_up(fresh).await?,
            Ok(None) => return Err(self.gone()),
            Err(err) => {
                // The store is slow or away: the watchers keep what they have, and the next
                // resync (or commit) tries again, rather than every socket reconnecting.
                tracing::warn!(session = %self.id, error = %err, "cannot resync with the store");
                state
            }
        };
        if let Some(room) = &self.room {
            let instance = self.fanout.instance().to_owned();
            let connections = room.watchers();
            self.fanout.publish(
                Topic::Session(&self.id),
                &Notice::Presence {
                    instance,
                    connections,
                },
            );
        }
        let horizon = self.settings.resync_interval * 3;
        self.remote_presence
            .retain(|_, (_, said)| said.elapsed() < horizon);
        self.update_remote_presence();
        Ok(state)
    }

    fn update_remote_presence(&self) {
        if let Some(room) = &self.room {
            room.set_remote(self.remote_presence.values().map(|(n, _)| n).sum());
        }
    }

    /// Reloads the session from the store and publishes to the room every event it has not
    /// shown yet, from the store's event log. If the log no longer holds them, the room closes:
    /// its sockets reconnect and start from a snapshot.
    pub(super) async fn catch_up(&mut self, _stale: SessionState) -> Result<SessionState, Stop> {
        // The events the room has not shown are read beside the session, not after it: one
        // round trip to the store rather than two, which a writer losing races to writers on
        // other instances feels most.
        let (loaded, events) = match &self.room {
            Some(_) => {
                let (loaded, events) = tokio::join!(
                    self.store.load(&self.id),
                    self.store.events_since(&self.id, self.published_seq)
                );
                (loaded, events.ok().flatten())
            }
            None => (self.store.load(&self.id).await, None),
        };
        match loaded {
            Ok(Some(fresh)) => self.caught_up_with(fresh, events).await,
            Ok(None) => Err(self.gone()),
            Err(err) => Err(Stop::Failed(err.to_string())),
        }
    }

    /// The session is no longer in the store: its watchers are told.
    pub(super) fn gone(&self) -> Stop {
        if let Some(room) = &self.room {
            room.publish_deleted(self.published_seq + 1);
        }
        Stop::Gone
    }

    /// Publishes what `fresh` (just read from the store) holds that the room has not shown.
    pub(super) async fn caught_up(
        &mut self,
        fresh: crate::domain::model::Session,
    ) -> Result<SessionState, Stop> {
        self.caught_up_with(fresh, None).await
    }

    /// As [`Self::caught_up`], with the events after the room's last read beside `fresh`, if
    /// they were: used when they are exactly those up to `fresh`, read again otherwise.
    async fn caught_up_with(
        &mut self,
        fresh: crate::domain::model::Session,
        read_beside: Option<Vec<SessionEvent>>,
    ) -> Result<SessionState, Stop> {
        if fresh.meta.seq > self.published_seq && self.room.is_some() {
            let wanted = self.published_seq + 1..=fresh.meta.seq;
            let beside = read_beside.map(|mut events| {
                events.retain(|event| wanted.contains(&event.seq()));
                events
            });
            let exact = beside.filter(|events| {
                events.len() as u64 == fresh.meta.seq - self.published_seq
                    && events.iter().map(SessionEvent::seq).eq(wanted.clone())
            });
            let events = match exact {
                Some(events) => Ok(Some(events)),
                None => self.store.events_since(&self.id, self.published_seq).await,
            };
            match events {
                Ok(Some(events)) => {
                    if let Some(room) = &self.room {
                        for event in events {
                            self.published_seq += 1;
                            room.publish_event(event);
                        }
                    }
                }
                Ok(None) => {
                    tracing::warn!(session = %self.id, "events no longer replayable; watchers restart");
                    self.room = None;
                }
                Err(err) => return Err(Stop::Failed(err.to_string())),
            }
        }
        self.published_seq = self.published_seq.max(fresh.meta.seq);
        Ok(SessionState::new(fresh))
    }
}
