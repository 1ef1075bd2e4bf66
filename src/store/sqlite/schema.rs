//! The SQLite schema, versioned with `PRAGMA user_version`: migration N brings a database from
//! version N-1 to N, inside one transaction.

use rusqlite::Connection;

/// Index choices (each point lookup is shown by `EXPLAIN QUERY PLAN` in the tests):
/// - restore by URL: `image_lookups` primary key (uid, url_hash) → `sessions` primary key;
/// - list: `sessions_by_user` / `sessions_by_user_status` in (updatedAt, id) descending order;
/// - `UNIQUE (uid, session_id)` makes find-or-create atomic.
///
/// URLs are looked up by their SHA-256 so the index stays small whatever their length.
const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE sessions (
    doc_id       TEXT PRIMARY KEY,
    uid          TEXT NOT NULL,
    session_id   TEXT NOT NULL,
    model        TEXT NOT NULL,
    frame_size   TEXT,
    style        TEXT,
    status       TEXT NOT NULL CHECK (status IN ('active', 'completed', 'failed')),
    started_at   INTEGER NOT NULL,
    completed_at INTEGER,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    seq          INTEGER NOT NULL,
    total_images INTEGER NOT NULL,
    UNIQUE (uid, session_id)
) WITHOUT ROWID;
CREATE INDEX sessions_by_user ON sessions (uid, updated_at DESC, doc_id DESC);
CREATE INDEX sessions_by_user_status ON sessions (uid, status, updated_at DESC, doc_id DESC);

CREATE TABLE messages (
    doc_id     TEXT NOT NULL REFERENCES sessions (doc_id) ON DELETE CASCADE,
    position   INTEGER NOT NULL,
    message_id TEXT NOT NULL,
    prompt     TEXT NOT NULL,
    timestamp  INTEGER NOT NULL,
    PRIMARY KEY (doc_id, position),
    UNIQUE (doc_id, message_id)
) WITHOUT ROWID;

CREATE TABLE images (
    doc_id       TEXT NOT NULL REFERENCES sessions (doc_id) ON DELETE CASCADE,
    ord          INTEGER NOT NULL,
    message_id   TEXT NOT NULL,
    image_id     TEXT NOT NULL,
    url          TEXT NOT NULL,
    storage_path TEXT,
    original_url TEXT,
    firebase_url TEXT,
    PRIMARY KEY (doc_id, ord),
    UNIQUE (doc_id, image_id)
) WITHOUT ROWID;

CREATE TABLE image_lookups (
    uid      TEXT NOT NULL,
    url_hash BLOB NOT NULL,
    doc_id   TEXT NOT NULL REFERENCES sessions (doc_id) ON DELETE CASCADE,
    PRIMARY KEY (uid, url_hash, doc_id)
) WITHOUT ROWID;
CREATE INDEX image_lookups_by_session ON image_lookups (doc_id);
"#,
    r#"
-- The frames of recent events, for sockets resuming with sinceSeq.
CREATE TABLE events (
    doc_id TEXT NOT NULL REFERENCES sessions (doc_id) ON DELETE CASCADE,
    seq    INTEGER NOT NULL,
    frame  TEXT NOT NULL,
    PRIMARY KEY (doc_id, seq)
) WITHOUT ROWID;
"#,
    r#"
-- The log holds the store's own encoding of each event (`store::codec`, versioned), no longer
-- the wire text; rows written before read as version 0.
ALTER TABLE events RENAME COLUMN frame TO event;
"#,
    r#"
-- Rows are written in batches from the journal, for sessions whose actor keeps message and image
-- ids unique, and a deletion removes a session's rows itself: the child tables lose the unique
-- indexes and the foreign keys every row paid for (one more B-tree, one parent lookup).
CREATE TABLE messages_v4 (
    doc_id     TEXT NOT NULL,
    position   INTEGER NOT NULL,
    message_id TEXT NOT NULL,
    prompt     TEXT NOT NULL,
    timestamp  INTEGER NOT NULL,
    PRIMARY KEY (doc_id, position)
) WITHOUT ROWID;
INSERT INTO messages_v4 SELECT doc_id, position, message_id, prompt, timestamp FROM messages;
DROP TABLE messages;
ALTER TABLE messages_v4 RENAME TO messages;

CREATE TABLE images_v4 (
    doc_id TEXT NOT NULL, ord INTEGER NOT NULL, message_id TEXT NOT NULL,
    image_id TEXT NOT NULL, url TEXT NOT NULL,
    storage_path TEXT, original_url TEXT, firebase_url TEXT,
    PRIMARY KEY (doc_id, ord)
) WITHOUT ROWID;
INSERT INTO images_v4
    SELECT doc_id, ord, message_id, image_id, url, storage_path, original_url, firebase_url
    FROM images;
DROP TABLE images;
ALTER TABLE images_v4 RENAME TO images;

CREATE TABLE image_lookups_v4 (
    uid      TEXT NOT NULL,
    url_hash BLOB NOT NULL,
    doc_id   TEXT NOT NULL,
    PRIMARY KEY (uid, url_hash, doc_id)
) WITHOUT ROWID;
INSERT INTO image_lookups_v4 SELECT uid, url_hash, doc_id FROM image_lookups;
DROP TABLE image_lookups;
ALTER TABLE image_lookups_v4 RENAME TO image_lookups;
CREATE INDEX image_lookups_by_session ON image_lookups (doc_id);

CREATE TABLE events_v4 (
    doc_id TEXT NOT NULL,
    seq    INTEGER NOT NULL,
    event  TEXT NOT NULL,
    PRIMARY KEY (doc_id, seq)
) WITHOUT ROWID;
INSERT INTO events_v4 SELECT doc_id, seq, event FROM events;
DROP TABLE events;
ALTER TABLE events_v4 RENAME TO events;
"#,
];

/// Brings the database to the newest schema version.
pub fn migrate(conn: &mut Connection) -> rusqlite::Result<()> {
    let current: usize = conn.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(current) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", index + 1)?;
        tx.commit()?;
    }
    Ok(())
}

#[cfg(test)]
pub fn version() -> usize {
    MIGRATIONS.len()
}
