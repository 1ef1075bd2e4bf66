//! A session's state as its actor holds it, and the rules that turn a command into a change:
//! order numbering, idempotent retries, reactivation, status transitions, limits.
//!
//! `apply` mutates the state and returns the event to commit; the actor commits the events of a
//! whole group at once and, should that fail, reloads the state from the store.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use super::SessionError;
use super::validation::{InvalidInput, Limits, NewImage, NewMessage};
use crate::domain::commit::WriteSize;
use crate::domain::model::{
    FieldChanges, Image, Message, SUMMARY_IMAGES, Session, SessionEvent, SessionMeta, Status,
    Summary, SummaryImage,
};
use crate::domain::new_id;
use crate::domain::time::Timestamp;

/// A write the actor applies.
#[derive(Debug, Clone)]
pub enum Op {
    Append(NewMessage),
    /// One more image for an existing message, as a generation finishes.
    AddImage {
        message_id: String,
        image: NewImage,
    },
    Complete {
        completed_at: Option<Timestamp>,
    },
    Update(FieldChanges),
}

impl Op {
    /// What the write adds to a commit, for stores whose commits have a size limit.
    pub fn size(&self) -> WriteSize {
        match self {
            Op::Append(message) => WriteSize {
                messages: 1,
                images: message.images.len(),
            },
            Op::AddImage { .. } => WriteSize {
                messages: 0,
                images: 1,
            },
            Op::Complete { .. } | Op::Update(_) => WriteSize::default(),
        }
    }
}

/// What a write answers once committed.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Appended {
        message_id: String,
        orders: Vec<u32>,
        seq: u64,
    },
    ImageAdded {
        order: u32,
        seq: u64,
    },
    Updated {
        seq: u64,
    },
}

impl Outcome {
    /// The session's `seq` once the write (or the retry it was) is committed.
    pub fn seq(&self) -> u64 {
        match self {
            Outcome::Appended { seq, .. }
            | Outcome::ImageAdded { seq, .. }
            | Outcome::Updated { seq } => *seq,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct ImageRef {
    order: u32,
    message: usize,
}

pub struct SessionState {
    /// Shared with readers (see [`Self::shared`]); a write after a read copies it once.
    session: Arc<Session>,
    /// Lookups that make retries cheap to recognise, kept in step with `session`.
    image_ids: HashMap<String, ImageRef>,
    image_urls: HashMap<String, ImageRef>,
    message_ids: HashMap<String, usize>,
    /// The images of greatest order (at most [`SUMMARY_IMAGES`]), ascending: the summary's,
    /// kept as images are added rather than found again in every message at every change.
    last_images: VecDeque<SummaryImage>,
}

impl SessionState {
    pub fn new(session: Session) -> Self {
        let mut state = Self {
            session: Arc::new(Session {
                meta: session.meta,
                messages: Vec::with_capacity(session.messages.len()),
            }),
            image_ids: HashMap::new(),
            image_urls: HashMap::new(),
            message_ids: HashMap::new(),
            last_images: VecDeque::with_capacity(SUMMARY_IMAGES + 1),
        };
        for message in session.messages {
            state.push_message(message);
        }
        state
    }

    pub fn meta(&self) -> &SessionMeta {
        &self.session.meta
    }

    pub fn session(&self) -> &Session {
        &self.session
    }

    /// The session as a history list shows it.
    pub fn summary(&self) -> Summary {
        Summary {
            meta: self.session.meta.clone(),
            last_images: self.last_images.iter().cloned().collect(),
        }
    }

    /// The session as it stands, without a copy.
    pub fn shared(&self) -> Arc<Session> {
        Arc::clone(&self.session)
    }

    fn session_mut(&mut self) -> &mut Session {
        Arc::make_mut(&mut self.session)
    }

    fn push_message(&mut self, message: Message) {
        let index = self.session.messages.len();
        self.message_ids.insert(message.id.clone(), index);
        for image in &message.images {
            self.index_image(image, index, &message.id);
        }
        self.session_mut().messages.push(message);
    }

    fn index_image(&mut self, image: &Image, message: usize, message_id: &str) {
        let at = ImageRef {
            order: image.order,
            message,
        };
        self.image_ids.insert(image.id.clone(), at);
        self.image_urls.insert(image.url.clone(), at);
        // New images take the next order; only a session loaded message by message brings
        // them out of order (an image added to an earlier message).
        let last = &mut self.last_images;
        if last.len() == SUMMARY_IMAGES && last.front().is_some_and(|l| l.order > image.order) {
            return;
        }
        let at = last.partition_point(|l| l.order < image.order);
        last.insert(
            at,
            SummaryImage {
                url: image.url.clone(),
                order: image.order,
                message_id: message_id.to_owned(),
            },
        );
        if last.len() > SUMMARY_IMAGES {
            last.pop_front();
        }
    }

    fn existing_image(&self, id: Option<&str>, url: &str) -> Option<ImageRef> {
        id.and_then(|id| self.image_ids.get(id))
            .or_else(|| self.image_urls.get(url))
            .copied()
    }

    /// Applies one write. `Ok((outcome, None))` is a retry or a no-op: nothing to commit.
    pub fn apply(
        &mut self,
        op: &Op,
        now: Timestamp,
        limits: &Limits,
    ) -> Result<(Outcome, Option<SessionEvent>), SessionError> {
        match op {
            Op::Append(message) => self.append(message, now, limits),
            Op::AddImage { message_id, image } => self.add_image(message_id, image, now, limits),
            Op::Complete { completed_at } => {
                let meta = &self.session.meta;
                let unchanged = meta.status == Status::Completed
                    && completed_at.is_none_or(|at| meta.completed_at == Some(at));
                let changes = if unchanged {
                    FieldChanges::default()
                } else {
                    FieldChanges {
                        status: Some(Status::Completed),
                        completed_at: Some(Some(completed_at.unwrap_or(now))),
                        ..FieldChanges::default()
                    }
                };
                Ok(self.change_fields(changes, now))
            }
            Op::Update(requested) => {
                let changes = self.resolve_update(requested, now)?;
                Ok(self.change_fields(changes, now))
            }
        }
    }

    fn append(
        &mut self,
        new: &NewMessage,
        now: Timestamp,
        limits: &Limits,
    ) -> Result<(Outcome, Option<SessionEvent>), SessionError> {
        let seq = self.session.meta.seq;
        if let Some(&index) = new
            .message_id
            .as_ref()
            .and_then(|id| self.message_ids.get(id))
        {
            let message = &self.session.messages[index];
            let orders = message.images.iter().map(|i| i.order).collect();
            return Ok((self.appended(message.id.clone(), orders, seq), None));
        }

        let mut fresh = Vec::with_capacity(new.images.len());
        let mut existing = Vec::new();
        for image in &new.images {
            let seen_in_request = fresh.iter().any(|f: &&NewImage| {
                f.url == image.url || (image.id.is_some() && f.id == image.id)
            });
            match self.existing_image(image.id.as_deref(), &image.url) {
                Some(at) => existing.push(at),
                None if !seen_in_request => fresh.push(image),
                None => {}
            }
        }
        if fresh.is_empty() && !existing.is_empty() {
            let message_id = self.session.messages[existing[0].message].id.clone();
            let mut orders: Vec<u32> = Vec::with_capacity(existing.len());
            for at in existing {
                if !orders.contains(&at.order) {
                    orders.push(at.order);
                }
            }
            return Ok((self.appended(message_id, orders, seq), None));
        }

        let meta = &mut self.session_mut().meta;
        if meta.total_images as usize + fresh.len() > limits.max_images_per_session as usize {
            return Err(SessionError::SessionFull {
                max: limits.max_images_per_session,
            });
        }
        let first_order = meta.total_images + 1;
        let images: Vec<Image> = fresh
            .iter()
            .zip(first_order..)
            .map(|(image, order)| {
                let id = image.id.clone().unwrap_or_else(|| {
                    self.generated_id('i', order.into(), |id| {
                        self.image_ids.contains_key(id)
                            || fresh.iter().any(|f| f.id.as_deref() == Some(id))
                    })
                });
                image.to_image(id, order)
            })
            .collect();
        let orders: Vec<u32> = images.iter().map(|i| i.order).collect();
        self.session_mut().meta.total_images += images.len() as u32;
        self.reactivate();
        let seq = self.touch(now);
        let message = Message {
            id: new.message_id.clone().unwrap_or_else(|| {
                self.generated_id('m', seq, |id| self.message_ids.contains_key(id))
            }),
            prompt: new.prompt.clone(),
            timestamp: new.timestamp.unwrap_or(now),
            images,
        };
        self.push_message(message.clone());
        let outcome = self.appended(message.id.clone(), orders, seq);
        Ok((outcome, Some(SessionEvent::MessageAdded { seq, message })))
    }

    fn add_image(
        &mut self,
        message_id: &str,
        new: &NewImage,
        now: Timestamp,
        limits: &Limits,
    ) -> Result<(Outcome, Option<SessionEvent>), SessionError> {
        let Some(&index) = self.message_ids.get(message_id) else {
            return Err(invalid(
                "messageId",
                "the session has no message with this messageId",
            ));
        };
        if let Some(at) = self.existing_image(new.id.as_deref(), &new.url) {
            let seq = self.session.meta.seq;
            return Ok((
                Outcome::ImageAdded {
                    order: at.order,
                    seq,
                },
                None,
            ));
        }
        let meta = &mut self.session_mut().meta;
        if meta.total_images >= limits.max_images_per_session {
            return Err(SessionError::SessionFull {
                max: limits.max_images_per_session,
            });
        }
        meta.total_images += 1;
        let order = meta.total_images;
        let id = new.id.clone().unwrap_or_else(|| {
            self.generated_id('i', order.into(), |id| self.image_ids.contains_key(id))
        });
        let image = new.to_image(id, order);
        self.reactivate();
        let seq = self.touch(now);
        self.index_image(&image, index, message_id);
        self.session_mut().messages[index]
            .images
            .push(image.clone());
        let order = image.order;
        let event = SessionEvent::ImageAdded {
            seq,
            message_id: message_id.to_owned(),
            image,
        };
        Ok((Outcome::ImageAdded { order, seq }, Some(event)))
    }

    /// An id for a message or image the client sent without one: the session's id, a letter for
    /// the kind and a number no other of its kind in the session has (a message's `seq`, an
    /// image's `order`), as `k3Xq…Ba-m12`, or a random one where `taken` says a client already
    /// chose that id. Unique across sessions as the session's id is, and cheap to compress: a
    /// session's answer repeats each id far apart (a message's in `messages` and again in
    /// `images`), beyond gzip's 32 KiB window, where twenty random characters stay some fifteen
    /// bytes each time.
    fn generated_id(&self, kind: char, number: u64, taken: impl Fn(&str) -> bool) -> String {
        let id = format!("{}-{kind}{number}", self.session.meta.id);
        if taken(&id) {
            return new_id();
        }
        id
    }

    /// Adding to a completed or failed session makes it active again.
    fn reactivate(&mut self) {
        let meta = &mut self.session_mut().meta;
        meta.status = Status::Active;
        meta.completed_at = None;
    }

    fn appended(&self, message_id: String, orders: Vec<u32>, seq: u64) -> Outcome {
        Outcome::Appended {
            message_id,
            orders,
            seq,
        }
    }

    /// Turns a `PATCH` into the changes it really makes, enforcing the status rules: an active
    /// session has no `completedAt`; a completed one always has one.
    fn resolve_update(
        &self,
        requested: &FieldChanges,
        now: Timestamp,
    ) -> Result<FieldChanges, SessionError> {
        let meta = &self.session.meta;
        let status = requested.status.unwrap_or(meta.status);
        // Asked for in the request itself, a contradiction is invalid input (400); with the
        // status the session already has, it contradicts the session's state (409).
        let refuse = |reason: &'static str| match requested.status {
            Some(_) => invalid("completedAt", reason),
            None => SessionError::Contradicts {
                id: meta.id.clone(),
                reason,
            },
        };
        let completed_at = match (status, requested.completed_at) {
            (Status::Active, Some(Some(_))) => {
                return Err(refuse("an active session has no completedAt"));
            }
            (Status::Active, _) => None,
            (Status::Completed, Some(None)) => {
                return Err(refuse("a completed session needs a completedAt"));
            }
            (Status::Completed, Some(Some(at))) => Some(at),
            (Status::Completed, None) => Some(meta.completed_at.unwrap_or(now)),
            (Status::Failed, Some(at)) => at,
            (Status::Failed, None) => meta.completed_at,
        };
        let differs = |new: &Option<String>, old: &Option<String>| new != old;
        Ok(FieldChanges {
            status: Some(status).filter(|s| *s != meta.status),
            completed_at: Some(completed_at).filter(|c| *c != meta.completed_at),
            model: requested.model.clone().filter(|m| *m != meta.model),
            frame_size: requested
                .frame_size
                .clone()
                .filter(|f| differs(f, &meta.frame_size)),
            style: requested.style.clone().filter(|s| differs(s, &meta.style)),
        })
    }

    fn change_fields(
        &mut self,
        changes: FieldChanges,
        now: Timestamp,
    ) -> (Outcome, Option<SessionEvent>) {
        if changes.is_empty() {
            let seq = self.session.meta.seq;
            return (Outcome::Updated { seq }, None);
        }
        let meta = &mut self.session_mut().meta;
        if let Some(status) = changes.status {
            meta.status = status;
        }
        if let Some(completed_at) = changes.completed_at {
            meta.completed_at = completed_at;
        }
        if let Some(model) = &changes.model {
            meta.model = model.clone();
        }
        if let Some(frame_size) = &changes.frame_size {
            meta.frame_size = frame_size.clone();
        }
        if let Some(style) = &changes.style {
            meta.style = style.clone();
        }
        let seq = self.touch(now);
        (
            Outcome::Updated { seq },
            Some(SessionEvent::SessionUpdated { seq, changes }),
        )
    }

    /// Counts one change: the next `seq`, and `updatedAt` moved forward (never backward, even
    /// if the clock steps back).
    fn touch(&mut self, now: Timestamp) -> u64 {
        let meta = &mut self.session_mut().meta;
        meta.seq += 1;
        meta.updated_at = meta.updated_at.max(now);
        meta.seq
    }
}

fn invalid(field: &str, message: &str) -> SessionError {
    SessionError::Invalid(InvalidInput::new(field, message))
}

impl NewImage {
    /// The image as stored, with its id and order.
    fn to_image(&self, id: String, order: u32) -> Image {
        Image {
            id,
            url: self.url.clone(),
            storage_path: self.storage_path.clone(),
            original_url: self.original_url.clone(),
            firebase_url: self.firebase_url.clone(),
            order,
        }
    }
}
