//! Push frames: what the server sends a socket without being asked (`protocol/README.md`,
//! "Pushes"). Sequenced events carry their `seq`; presence does not.

use serde::Serialize;

use super::view::{ChangesView, ImageView, MessageView, SessionView, SummaryView};
use crate::domain::model::{Session, SessionEvent, Summary};
use crate::session::PushKind;

/// The frame of a committed event.
pub fn event(event: &SessionEvent) -> String {
    #[derive(Serialize)]
    #[serde(tag = "type")]
    enum Frame<'a> {
        #[serde(rename = "message.added")]
        MessageAdded { seq: u64, message: MessageView<'a> },
        #[serde(rename = "image.added", rename_all = "camelCase")]
        ImageAdded {
            seq: u64,
            message_id: &'a str,
            image: ImageView<'a>,
        },
        #[serde(rename = "session.updated")]
        SessionUpdated { seq: u64, changes: ChangesView<'a> },
    }
    let frame = match event {
        SessionEvent::MessageAdded { seq, message } => Frame::MessageAdded {
            seq: *seq,
            message: MessageView(message),
        },
        SessionEvent::ImageAdded {
            seq,
            message_id,
            image,
        } => Frame::ImageAdded {
            seq: *seq,
            message_id,
            image: ImageView(image),
        },
        SessionEvent::SessionUpdated { seq, changes } => Frame::SessionUpdated {
            seq: *seq,
            changes: ChangesView(changes),
        },
    };
    text(&frame)
}

/// The frame of anything a session's room pushes.
pub fn push(kind: &PushKind) -> String {
    match kind {
        PushKind::Event(e) => event(e),
        PushKind::Presence { connections } => presence(*connections),
        PushKind::Deleted { seq } => {
            text(&serde_json::json!({ "type": "session.deleted", "seq": seq }))
        }
        PushKind::Signal(signal) => text(&serde_json::json!({
            "type": "signal", "from": &*signal.from, "seq": signal.seq, "data": &signal.data,
        })),
        PushKind::Listed(summary) => session_changed(summary),
        PushKind::Unlisted { id, seq } => session_removed(id, *seq),
        // Never sent as they are: a list socket compares the page with what it showed, and
        // sends a batch's pushes one by one.
        PushKind::Relisted(_) | PushKind::Batch(_) => String::new(),
    }
}

/// The first page of the user's list, sent when a list socket attaches.
pub fn sessions(summaries: &[Summary], next_cursor: Option<&str>) -> String {
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Frame<'a> {
        r#type: &'static str,
        sessions: Vec<SummaryView<'a>>,
        #[serde(skip_serializing_if = "Option::is_none")]
        next_cursor: Option<&'a str>,
    }
    text(&Frame {
        r#type: "sessions",
        sessions: summaries.iter().map(SummaryView).collect(),
        next_cursor,
    })
}

/// One of the user's sessions changed (or was created).
pub fn session_changed(summary: &Summary) -> String {
    #[derive(Serialize)]
    struct Frame<'a> {
        r#type: &'static str,
        id: &'a str,
        seq: u64,
        session: SummaryView<'a>,
    }
    text(&Frame {
        r#type: "session.changed",
        id: &summary.meta.id,
        seq: summary.meta.seq,
        session: SummaryView(summary),
    })
}

/// The session left the user's list (deleted, or no longer matching its filter).
pub fn session_removed(id: &str, seq: u64) -> String {
    text(&serde_json::json!({ "type": "session.removed", "id": id, "seq": seq }))
}

pub fn presence(connections: usize) -> String {
    text(&serde_json::json!({ "type": "presence", "connections": connections }))
}

pub fn snapshot(seq: u64, session: &Session) -> String {
    #[derive(Serialize)]
    struct Frame<'a> {
        r#type: &'static str,
        seq: u64,
        session: SessionView<'a>,
    }
    text(&Frame {
        r#type: "snapshot",
        seq,
        session: SessionView(session),
    })
}

pub fn resumed(seq: u64) -> String {
    text(&serde_json::json!({ "type": "resumed", "seq": seq }))
}

/// Serializing these plain values cannot fail.
pub(super) fn text(value: &impl Serialize) -> String {
    serde_json::to_string(value).unwrap_or_default()
}
