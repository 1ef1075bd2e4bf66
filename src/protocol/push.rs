//! Push frames: what the server sends a socket without being asked (`protocol/README.md`,
//! "Pushes"). Sequenced events carry their `seq`; presence does not.

use serde::Serialize;

use super::view::{ChangesView, ImageView, MessageView, SessionView};
use crate::session::PushKind;
use crate::session::model::{Session, SessionEvent};

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
    }
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
