//! A commit: a group of consecutive changes to one session, as the actor makes them and the
//! stores persist them, and how it applies to the session it was computed from.

use super::model::{Session, SessionEvent, SessionMeta};

/// A group of consecutive changes to one session, committed atomically.
#[derive(Debug, Clone)]
pub struct Commit {
    /// The `seq` the changes were computed from; the commit fails with
    /// [`StoreError::SeqMismatch`] unless the stored session still has it.
    pub expected_seq: u64,
    /// The session's metadata after the changes (its `seq` is that of the last event).
    pub meta: SessionMeta,
    /// The changes, in `seq` order, numbered `expected_seq + 1 ..= meta.seq`.
    pub events: Vec<SessionEvent>,
}

impl Commit {
    pub fn new(expected_seq: u64, meta: SessionMeta, events: Vec<SessionEvent>) -> Self {
        Self {
            expected_seq,
            meta,
            events,
        }
    }

    /// Brings `session` (at `expected_seq`) to the state after this commit.
    pub fn apply_to(&self, session: &mut Session) {
        session.meta = self.meta.clone();
        for event in &self.events {
            match event {
                SessionEvent::MessageAdded { message, .. } => {
                    session.messages.push(message.clone())
                }
                SessionEvent::ImageAdded {
                    message_id, image, ..
                } => {
                    if let Some(message) = session
                        .messages
                        .iter_mut()
                        .rev()
                        .find(|m| &m.id == message_id)
                    {
                        message.images.push(image.clone());
                    }
                }
                SessionEvent::SessionUpdated { .. } => {}
            }
        }
    }
}

/// What one write adds to a commit, counted: for the stores whose commits have a size limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriteSize {
    pub messages: usize,
    pub images: usize,
}
