//! The SQL of the SQLite store: statements and the mapping between rows and the model.

use rusqlite::{Connection, OptionalExtension, Row, params};
use sha2::{Digest, Sha256};

use super::unavailable;
use crate::domain::commit::Commit;
use crate::domain::list::ListQuery;
use crate::domain::model::{Image, Message, Session, SessionEvent, SessionMeta, Status};
use crate::domain::time::Timestamp;
use crate::store::{EVENT_LOG_LENGTH, StoreError, codec};

const META_COLUMNS: &str = "s.doc_id, s.uid, s.session_id, s.model, s.frame_size, s.style, \
     s.status, s.started_at, s.completed_at, s.created_at, s.updated_at, s.seq, s.total_images";

/// Every session of the user holding the URL, with its `updatedAt` and `seq`: the caller picks
/// the most recent once the commits not yet in the tables are accounted for (usually there is
/// one row).
pub(super) const FIND_BY_URL: &str = "SELECT s.doc_id, s.updated_at, s.seq FROM image_lookups l \
     JOIN sessions s ON s.doc_id = l.doc_id \
     WHERE l.uid = ?1 AND l.url_hash = ?2";

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

pub(super) fn with_messages(conn: &Connection, meta: SessionMeta) -> Result<Session, StoreError> {
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

/// A session that may answer a restore: its id, `updatedAt` and `seq`.
pub(super) struct Candidate {
    pub id: String,
    pub updated_at: Timestamp,
    pub seq: u64,
}

/// The sessions of the user holding an image under `url`.
pub(super) fn image_url_candidates(
    conn: &Connection,
    uid: &str,
    url: &str,
) -> Result<Vec<Candidate>, StoreError> {
    conn.prepare_cached(FIND_BY_URL)
        .and_then(|mut stmt| {
            stmt.query_map(params![uid, url_hash(url).as_slice()], |r| {
                Ok(Candidate {
                    id: r.get(0)?,
                    updated_at: Timestamp::from_millis(r.get(1)?),
                    seq: r.get(2)?,
                })
            })?
            .collect()
        })
        .map_err(unavailable)
}

/// The session's owner and `seq`, if it exists.
pub(super) fn session_version(
    conn: &Connection,
    id: &str,
) -> Result<Option<(String, u64)>, StoreError> {
    conn.prepare_cached("SELECT uid, seq FROM sessions WHERE doc_id = ?1")
        .and_then(|mut stmt| {
            stmt.query_row([id], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()
        })
        .map_err(unavailable)
}

/// The session's `seq`, if it exists.
pub(super) fn session_seq(conn: &Connection, id: &str) -> Result<Option<u64>, StoreError> {
    conn.prepare_cached("SELECT seq FROM sessions WHERE doc_id = ?1")
        .and_then(|mut stmt| stmt.query_row([id], |r| r.get(0)).optional())
        .map_err(unavailable)
}

/// Up to `fetch` of the user's session rows matching the query, in list order.
pub(super) fn list_metas(
    conn: &Connection,
    uid: &str,
    query: &ListQuery,
    fetch: usize,
) -> Result<Vec<SessionMeta>, StoreError> {
    let sql = list_sql(query.status.is_some(), query.after.is_some());
    let status = query.status.map(Status::as_str);
    let (after_time, after_id) = query
        .after
        .as_ref()
        .map(|p| (p.updated_at.millis(), p.id.as_str()))
        .unzip();
    conn.prepare_cached(&sql)
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
        .map_err(unavailable)
}

/// Writes consecutive commits of one session into the tables: the compare-and-set of the
/// session row from the first commit's `expected_seq` to the last one's metadata, then their
/// messages, images and events.
pub(super) fn write_commits(conn: &Connection, commits: &[&Commit]) -> Result<(), StoreError> {
    let (Some(first), Some(last)) = (commits.first(), commits.last()) else {
        return Ok(());
    };
    update_meta(conn, &last.meta, first.expected_seq)?;
    for commit in commits {
        for event in &commit.events {
            match event {
                SessionEvent::MessageAdded { message, .. } => {
                    insert_message(conn, &commit.meta, message)?;
                }
                SessionEvent::ImageAdded {
                    message_id, image, ..
                } => insert_image(conn, &commit.meta, message_id, image)?,
                SessionEvent::SessionUpdated { .. } => {}
            }
        }
        log_events(conn, commit)?;
    }
    trim_events(conn, &last.meta)
}

/// The compare-and-set at the heart of every commit: the row moves to `meta` only if its
/// `seq` is still `expected_seq`.
fn update_meta(conn: &Connection, meta: &SessionMeta, expected_seq: u64) -> Result<(), StoreError> {
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

fn insert_message(
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

fn insert_image(
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

/// Deletes the session and every row of it (the tables carry no cascading keys).
pub(super) fn delete_session(conn: &Connection, id: &str) -> Result<(), StoreError> {
    for table in ["messages", "images", "image_lookups", "events"] {
        conn.prepare_cached(&format!("DELETE FROM {table} WHERE doc_id = ?1"))
            .and_then(|mut stmt| stmt.execute([id]))
            .map_err(unavailable)?;
    }
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

fn log_events(conn: &Connection, commit: &Commit) -> Result<(), StoreError> {
    let meta = &commit.meta;
    let mut insert = conn
        .prepare_cached("INSERT INTO events (doc_id, seq, event) VALUES (?1, ?2, ?3)")
        .map_err(unavailable)?;
    for event in &commit.events {
        insert
            .execute(params![meta.id, event.seq(), codec::encode(event)])
            .map_err(unavailable)?;
    }
    Ok(())
}

/// Keeps the latest [`EVENT_LOG_LENGTH`] events of the session.
fn trim_events(conn: &Connection, meta: &SessionMeta) -> Result<(), StoreError> {
    let oldest_kept = meta.seq.saturating_sub(EVENT_LOG_LENGTH);
    if oldest_kept > 0 {
        conn.prepare_cached("DELETE FROM events WHERE doc_id = ?1 AND seq <= ?2")
            .and_then(|mut stmt| stmt.execute(params![meta.id, oldest_kept]))
            .map_err(unavailable)?;
    }
    Ok(())
}

/// The session's `seq` and the events its log holds after `after_seq`, in order; `NotFound`
/// if there is no such session.
pub(super) fn logged_events(
    conn: &Connection,
    id: &str,
    after_seq: u64,
) -> Result<(u64, Vec<(u64, String)>), StoreError> {
    let current = session_seq(conn, id)?.ok_or(StoreError::NotFound)?;
    let rows = conn
        .prepare_cached("SELECT seq, event FROM events WHERE doc_id = ?1 AND seq > ?2 ORDER BY seq")
        .and_then(|mut stmt| {
            stmt.query_map(params![id, after_seq], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect()
        })
        .map_err(unavailable)?;
    Ok((current, rows))
}
