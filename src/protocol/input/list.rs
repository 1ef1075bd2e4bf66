//! The list query (`GET /?limit&cursor&status`) and its opaque cursor, bound to the user it
//! was issued to.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest as _, Sha256};

use crate::domain::list::{ListPosition, ListQuery};
use crate::domain::model::Status;
use crate::domain::time::Timestamp;
use crate::session::validation::{InvalidInput, Parsed};

/// Parses the query pairs of `GET /` for the caller `uid` (a cursor is only valid for the user
/// it was issued to).
pub fn list_query(pairs: &[(String, String)], uid: &str) -> Parsed<ListQuery> {
    let mut query = ListQuery::first(ListQuery::DEFAULT_LIMIT);
    for (key, value) in pairs {
        match key.as_str() {
            "limit" => {
                query.limit = value
                    .parse()
                    .ok()
                    .filter(|n| (1..=ListQuery::MAX_LIMIT).contains(n))
                    .ok_or_else(|| {
                        InvalidInput::new("limit", "limit must be an integer from 1 to 100")
                    })?;
            }
            "status" => {
                query.status = Some(Status::parse(value).ok_or_else(|| {
                    InvalidInput::new("status", "status must be one of active, completed, failed")
                })?);
            }
            // An empty cursor is no cursor: the first page (as `nextCursor` absent says).
            "cursor" if value.is_empty() => query.after = None,
            "cursor" => {
                query.after = Some(decode(value, uid).ok_or_else(|| {
                    InvalidInput::new("cursor", "cursor is not valid for this listing")
                })?);
            }
            _ => {}
        }
    }
    Ok(query)
}

/// The query of a followed list (a list socket or stream): `status` and `limit` as on `GET /`;
/// it always starts at the first page, so a cursor means nothing there and is ignored.
pub fn followed_list_query(pairs: Vec<(String, String)>) -> Parsed<ListQuery> {
    let pairs: Vec<(String, String)> = pairs
        .into_iter()
        .filter(|(key, _)| key == "status" || key == "limit")
        .collect();
    list_query(&pairs, "")
}

/// An opaque cursor: the position plus a tag of the user it belongs to.
pub fn cursor(position: &ListPosition, uid: &str) -> String {
    let text = format!(
        "{}.{}.{}",
        user_tag(uid),
        position.updated_at.millis(),
        position.id
    );
    URL_SAFE_NO_PAD.encode(text)
}

fn decode(cursor: &str, uid: &str) -> Option<ListPosition> {
    let bytes = URL_SAFE_NO_PAD.decode(cursor).ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let mut parts = text.splitn(3, '.');
    let (tag, millis, id) = (parts.next()?, parts.next()?, parts.next()?);
    if tag != user_tag(uid) || id.is_empty() {
        return None;
    }
    Some(ListPosition {
        updated_at: Timestamp::from_millis(millis.parse().ok()?),
        id: id.to_owned(),
    })
}

fn user_tag(uid: &str) -> String {
    let digest = Sha256::digest(uid.as_bytes());
    digest[..6].iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trips_for_its_user_only() {
        let position = ListPosition {
            updated_at: Timestamp::from_millis(1_736_935_200_000),
            id: "abc".into(),
        };
        let encoded = cursor(&position, "alice");
        assert_eq!(decode(&encoded, "alice"), Some(position));
        assert_eq!(decode(&encoded, "bob"), None);
        assert_eq!(decode("not-a-cursor", "alice"), None);
    }
}
