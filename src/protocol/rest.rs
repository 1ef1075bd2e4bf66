//! The REST envelopes (`protocol/openapi.yaml`): `{"status":"success","message":M,"data":D}`
//! with the seed's messages, and `{"status":"error","message":…,"data":{"code":…, …}}`.

use serde::Serialize;
use serde_json::{Map, Value, json};

use super::code::ErrorCode;
use super::view::{SessionView, SummaryView};
use crate::domain::model::{Session, Summary};
use crate::session::Appended;

#[derive(Serialize)]
pub struct Success<T> {
    status: &'static str,
    message: &'static str,
    data: T,
}

fn success<T: Serialize>(message: &'static str, data: T) -> Success<T> {
    Success {
        status: "success",
        message,
        data,
    }
}

pub fn created(id: &str) -> Success<Value> {
    success("Session created", json!({ "sessionDocId": id }))
}

pub fn found_or_created(id: &str, created: bool) -> Success<Value> {
    success("OK", json!({ "sessionDocId": id, "created": created }))
}

#[derive(Serialize)]
pub struct SessionData<'a> {
    session: SessionView<'a>,
}

pub fn session(session: &Session) -> Success<SessionData<'_>> {
    success(
        "OK",
        SessionData {
            session: SessionView(session),
        },
    )
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PageData<'a> {
    sessions: Vec<SessionView<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_cursor: Option<String>,
}

pub fn page(sessions: &[Session], next_cursor: Option<String>) -> Success<PageData<'_>> {
    success(
        "OK",
        PageData {
            sessions: sessions.iter().map(SessionView).collect(),
            next_cursor,
        },
    )
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SummaryPageData<'a> {
    sessions: Vec<SummaryView<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_cursor: Option<String>,
}

/// A page of the list with `view=summary`.
pub fn summary_page(
    summaries: &[Summary],
    next_cursor: Option<String>,
) -> Success<SummaryPageData<'_>> {
    success(
        "OK",
        SummaryPageData {
            sessions: summaries.iter().map(SummaryView).collect(),
            next_cursor,
        },
    )
}

pub fn signalled(seq: u64) -> Success<Value> {
    success("Signal sent", json!({ "seq": seq }))
}

pub fn appended(appended: &Appended) -> Success<Value> {
    success(
        "Message added",
        json!({
            "messageId": appended.message_id,
            "orders": appended.orders,
            "seq": appended.seq,
        }),
    )
}

pub fn completed(seq: u64) -> Success<Value> {
    success("Session completed", json!({ "seq": seq }))
}

pub fn updated(seq: u64) -> Success<Value> {
    success("Session updated", json!({ "seq": seq }))
}

pub fn deleted() -> Success<Value> {
    success("Session deleted", json!({}))
}

/// The error envelope: `details` go into `data` beside `code` (and `retryable`, for the codes
/// that may be retried).
pub fn error(code: ErrorCode, message: &str, details: Map<String, Value>) -> Value {
    let mut data = Map::new();
    data.insert("code".into(), Value::from(code.as_str()));
    if code.retryable() {
        data.insert("retryable".into(), Value::Bool(true));
    }
    data.extend(details);
    json!({ "status": "error", "message": message, "data": data })
}
