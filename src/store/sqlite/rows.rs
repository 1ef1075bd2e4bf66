//! The SQL of the SQLite store: statements and the mapping between rows and the model.

use rusqlite::{Connection, OptionalExtension, Row, params};
use sha2::{Digest, Sha256};

use super::unavailable;
use crate::session::model::{Image, Message, Session, SessionEvent, SessionMeta, Status};
use crate::session::time::Timestamp;
use crate::session::validation::{ListPosition, ListQuery};
use crate::store::{Commit, EVENT_LOG_LENGTH, Page, StoreError, codec};

const META_COLUMNS: &str = "s.doc_id, s.uid, s.session_id, s.model, s.frame_size, s.style, \
     s.status, s.started_at, s.completed_at, s.created_at, s.updated_at, s.seq, s.total_images";

pub(super) const FIND_BY_URL: &str = "SELECT s.doc_id FROM image_lookups l \
     JOIN sessions s ON s.doc_id = l.doc_id \
     WHERE l.uid = ?1 AND l.url_hash = ?2 \
     ORDER BY s.updated_at DESC, s.doc_id DESC LIMIT 1";

/// The list query for the given filters; parameters are bound by name.
pub(super) fn list_sql(with_status: bool, with_cursor: bool) -> String {
    let mut sql = format!("SELECT {META_COLUMNS} FROM sessions s WHERE s.uid = :uid");
    if with_status {
        sql.push_str(" AND s.status = :status");
    }
    if with_cursor {
        sql.push_str(" AND (s.updated_at, s.doc_id) < (:updated_at, :doc_id)");
    }
    sql.push_str(" ORDER BY s.updated_at DESC, s.doc_id DESC LIMIT :limit");
    sql
}

pub(super) fn url_hash(url: &str) -> [u8; 32] {
    Sha256::digest(url.as_bytes()).into()
}

fn meta_from_row(row: &Row<'_>) -> rusqlite::Result<SessionMeta> {
    let status: String = row.get(6)?;
    Ok(SessionMeta {
        id: row.get(0)?,
        uid: row.get(1)?,
        session_id: row.get(2)?,
        model: row.get(3)?,
        frame_size: row.get(4)?,
        style: row.get(5)?,
        // The table's CHECK constraint admits only the three statuses.
        status: Status::parse(&status).unwrap_or(Status::Active),
        started_at: Timestamp::from_millis(row.get(7)?),
        completed_at: row.get::<_, Option<i64>>(8)?.map(Timestamp::from_millis),
        created_at: Timestamp::from_millis(row.get(9)?),
        updated_at: Timestamp::from_millis(row.get(10)?),
        seq: row.get(11)?,
        total_images: row.get(12)?,
    })
}

/// Inserts a new session unless its user already has its `sessionId`; then returns the id of
/// the existing one.
pub(super) fn insert_session(
    conn: &Connection,
    meta: &SessionMeta,
) -> Result<Option<String>, StoreError> {
    let inserted = conn
        .prepare_cached(
            "INSERT INTO sessions (doc_id, uid, session_id, model, frame_size, style, status, \
             started_at, completed_at, created_at, updated_at, seq, total_images) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13) \
             ON CONFLICT (uid, session_id) DO NOTHING",
        )
        .and_then(|mut stmt| {
            stmt.execute(params![
                meta.id,
                meta.uid,
                meta.session_id,
                meta.model,
                meta.frame_size,
                meta.style,
                meta.status.as_str(),
                meta.started_at.millis(),
                meta.completed_at.map(Timestamp::millis),
                meta.created_at.millis(),
                meta.updated_at.millis(),
                meta.seq,
                meta.total_images,
            ])
        })
        .map_err(unavailable)?;
    if inserted == 1 {
        return Ok(None);
    }
    conn.prepare_cached("SELECT doc_id FROM sessions WHERE uid = ?1 AND session_id = ?2")
        .and_then(|mut stmt| stmt.query_row(params![meta.uid, meta.session_id], |r| r.get(0)))
        .map(Some)
        .map_err(unavailable)
}

pub(super) fn load_session(conn: &Connection, id: &str) -> Result<Option<Session>, StoreError> {
    let meta = conn
        .prepare_cached(&format!(
            "SELECT {META_COLUMNS} FROM sessions s WHERE s.doc_id = ?1"
        ))
        .and_then(|mut stmt| stmt.query_row([id], meta_from_row).optional())
        .map_err(unavailable)?;
    meta.map(|meta| with_messages(conn, meta)).transpose()
}

fn with_messages(conn: &Connection, meta: SessionMeta) -> Result<Session, StoreError> {
    let messages: Vec<Message> = conn
        .prepare_cached(
            "SELECT message_id, prompt, timestamp FROM messages WHERE doc_id = ?1 ORDER BY position",
        )
        .and_then(|mut stmt| {
            stmt.query_map([&meta.id], |row| {
                Ok(Message {
                    id: row.get(0)?,
                    prompt: row.get(1)?,
                    timestamp: Timestamp::from_millis(row.get(2)?),
                    images: Vec::new(),
                })
            })?
            .collect()
        })
        .map_err(unavailable)?;
    let images: Vec<(String, Image)> = conn
        .prepare_cached(
            "SELECT message_id, image_id, url, storage_path, original_url, firebase_url, ord \
             FROM images WHERE doc_id = ?1 ORDER BY ord",
        )
        .and_then(|mut stmt| {
            stmt.query_map([&meta.id], |row| {
                Ok((
                    row.get(0)?,
                    Image {
                        id: row.get(1)?,
                        url: row.get(2)?,
                        storage_path: row.get(3)?,
                        original_url: row.get(4)?,
                        firebase_url: row.get(5)?,
                        order: row.get(6)?,
                    },
                ))
            })?
            .collect()
        })
        .map_err(unavailable)?;
    Ok(Session::assemble(meta, messages, images))
}

pub(super) fn find_by_image_url(
    conn: &Connection,
    uid: &str,
    url: &str,
) -> Result<Option<Session>, StoreError> {
    let id: Option<String> = conn
        .prepare_cached(FIND_BY_URL)
        .and_then(|mut stmt| {
            stmt.query_row(params![uid, url_hash(url).as_slice()], |r| r.get(0))
                .optional()
        })
        .map_err(unavailable)?;
    match id {
        Some(id) => load_session(conn, &id),
        None => Ok(None),
    }
}

pub(super) fn list_sessions(
    conn: &Connection,
    uid: &str,
    query: &ListQuery,
) -> Result<Page, StoreError> {
    let sql = list_sql(query.status.is_some(), query.after.is_some());
    let fetch = query.limit + 1;
    let status = query.status.map(Status::as_str);
    let (after_time, after_id) = query
        .after
        .as_ref()
        .map(|p| (p.updated_at.millis(), p.id.as_str()))
        .unzip();
    let mut metas: Vec<SessionMeta> = conn
        .prepare_cached(&sql)
        .and_then(|mut stmt| {
            let mut named: Vec<(&str, &dyn rusqlite::ToSql)> =
                vec![(":uid", &uid), (":limit", &fetch)];
            if let Some(status) = &status {
                named.push((":status", status));
            }
            if let (Some(time), Some(id)) = (&after_time, &after_id) {
                named.push((":updated_at", time));
                named.push((":doc_id", id));
            }
            stmt.query_map(named.as_slice(), meta_from_row)?.collect()
        })
        .map_err(unavailable)?;
    let next = if metas.len() > query.limit {
        metas.truncate(query.limit);
        metas.last().map(|m| ListPosition {
            updated_at: m.updated_at,
            id: m.id.clone(),
        })
    } else {
        None
    };
    let sessions = metas
        .into_iter()
        .map(|meta| with_messages(conn, meta))
        .collect::<Result<_, _>>()?;
    Ok(Page { sessions, next })
}

/// The compare-and-set at the heart of every commit: the row moves to `meta` only if its
/// `seq` is still `expected_seq`.
pub(super) fn update_meta(
    conn: &Connection,
    meta: &SessionMeta,
    expected_seq: u64,
) -> Result<(), StoreError> {
    let updated = conn
        .prepare_cached(
            "UPDATE sessions SET model = ?1, frame_size = ?2, style = ?3, status = ?4, \
             completed_at = ?5, updated_at = ?6, seq = ?7, total_images = ?8 \
             WHERE doc_id = ?9 AND seq = ?10",
        )
        .and_then(|mut stmt| {
            stmt.execute(params![
                meta.model,
                meta.frame_size,
                meta.style,
                meta.status.as_str(),
                meta.completed_at.map(Timestamp::millis),
                meta.updated_at.millis(),
                meta.seq,
                meta.total_images,
                meta.id,
                expected_seq,
            ])
        })
        .map_err(unavailable)?;
    if updated == 1 {
        return Ok(());
    }
    let exists = conn
        .prepare_cached("SELECT 1 FROM sessions WHERE doc_id = ?1")
        .and_then(|mut stmt| stmt.exists([&meta.id]))
        .map_err(unavailable)?;
    Err(if exists {
        StoreError::SeqMismatch
    } else {
        StoreError::NotFound
    })
}

pub(super) fn insert_message(
    conn: &Connection,
    meta: &SessionMeta,
    message: &Message,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO messages (doc_id, position, message_id, prompt, timestamp) \
         VALUES (?1, (SELECT COALESCE(MAX(position), 0) + 1 FROM messages WHERE doc_id = ?1), \
         ?2, ?3, ?4)",
    )
    .and_then(|mut stmt| {
        stmt.execute(params![
            meta.id,
            message.id,
            message.prompt,
            message.timestamp.millis()
        ])
    })
    .map_err(unavailable)?;
    for image in &message.images {
        insert_image(conn, meta, &message.id, image)?;
    }
    Ok(())
}

pub(super) fn insert_image(
    conn: &Connection,
    meta: &SessionMeta,
    message_id: &str,
    image: &Image,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO images (doc_id, ord, message_id, image_id, url, storage_path, \
         original_url, firebase_url) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )
    .and_then(|mut stmt| {
        stmt.execute(params![
            meta.id,
            image.order,
            message_id,
            image.id,
            image.url,
            image.storage_path,
            image.original_url,
            image.firebase_url,
        ])
    })
    .map_err(unavailable)?;
    let mut lookup = conn
        .prepare_cached(
            "INSERT OR IGNORE INTO image_lookups (uid, url_hash, doc_id) VALUES (?1, ?2, ?3)",
        )
        .map_err(unavailable)?;
    for url in image.lookup_urls() {
        lookup
            .execute(params![meta.uid, url_hash(url).as_slice(), meta.id])
            .map_err(unavailable)?;
    }
    Ok(())
}

pub(super) fn delete_session(conn: &Connection, id: &str) -> Result<(), StoreError> {
    let deleted = conn
        .prepare_cached("DELETE FROM sessions WHERE doc_id = ?1")
        .and_then(|mut stmt| stmt.execute([id]))
        .map_err(unavailable)?;
    if deleted == 1 {
        Ok(())
    } else {
        Err(StoreError::NotFound)
    }
}

pub(super) fn log_events(conn: &Connection, commit: &Commit) -> Result<(), StoreError> {
    let meta = &commit.meta;
    let mut insert = conn
        .prepare_cached("INSERT INTO events (doc_id, seq, event) VALUES (?1, ?2, ?3)")
        .map_err(unavailable)?;
    for event in &commit.events {
        insert
            .execute(params![meta.id, event.seq(), codec::encode(event)])
            .map_err(unavailable)?;
    }
    let oldest_kept = meta.seq.saturating_sub(EVENT_LOG_LENGTH);
    if oldest_kept > 0 {
        conn.prepare_cached("DELETE FROM events WHERE doc_id = ?1 AND seq <= ?2")
            .and_then(|mut stmt| stmt.execute(params![meta.id, oldest_kept]))
            .map_err(unavailable)?;
    }
    Ok(())
}

pub(super) fn events_since(
    conn: &Connection,
    id: &str,
    after_seq: u64,
) -> Result<Option<Vec<SessionEvent>>, StoreError> {
    let Some(current) = conn
        .prepare_cached("SELECT seq FROM sessions WHERE doc_id = ?1")
        .and_then(|mut stmt| stmt.query_row([id], |r| r.get::<_, u64>(0)).optional())
        .map_err(unavailable)?
    else {
        return Err(StoreError::NotFound);
    };
    let rows: Vec<(u64, String)> = conn
        .prepare_cached("SELECT seq, event FROM events WHERE doc_id = ?1 AND seq > ?2 ORDER BY seq")
        .and_then(|mut stmt| {
            stmt.query_map(params![id, after_seq], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect()
        })
        .map_err(unavailable)?;
    let complete = rows.len() as u64 == current.saturating_sub(after_seq)
        && rows
            .iter()
            .zip(after_seq + 1..)
            .all(|((seq, _), expected)| *seq == expected);
    if !complete {
        return Ok(None);
    }
    let mut events = Vec::with_capacity(rows.len());
    for (seq, text) in rows {
        match codec::decode(&text) {
            Ok(event) => events.push(event),
            Err(cause) => {
                // Not replayable: the socket gets a snapshot instead.
                tracing::error!(session = %id, seq, %cause, "an event of the log does not decode");
                return Ok(None);
            }
        }
    }
    Ok(Some(events))
}
