//! Reads: the tables, read in one transaction so that a read sees one state of them, brought
//! up to date with the commits the overlay holds (taken by the caller *before* the read).

use std::collections::{BTreeMap, HashMap};

use rusqlite::Connection;

use super::overlay::{Commits, bring_up, latest_meta};
use super::{rows, unavailable};
use crate::domain::list::{ListPosition, ListQuery};
use crate::domain::model::{Session, SessionEvent, SessionMeta};
use crate::store::{Page, StoreError, Version, codec};

fn snapshot<T>(
    conn: &Connection,
    read: impl FnOnce(&Connection) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    let tx = conn.unchecked_transaction().map_err(unavailable)?;
    let result = read(&tx);
    // Read only: ending it either way changes nothing.
    drop(tx);
    result
}

fn load_with(
    conn: &Connection,
    id: &str,
    held: Option<&Commits>,
) -> Result<Option<Session>, StoreError> {
    let mut session = rows::load_session(conn, id)?;
    if let (Some(session), Some(held)) = (&mut session, held) {
        bring_up(session, held);
    }
    Ok(session)
}

pub(super) fn load(
    conn: &Connection,
    id: &str,
    held: &Commits,
) -> Result<Option<Session>, StoreError> {
    snapshot(conn, |conn| load_with(conn, id, Some(held)))
}

/// The sessions of the user holding `url`, most recently updated first: those the tables say
/// hold it, at the `updatedAt` and `seq` the overlay gives them if it holds commits of theirs,
/// and those given it by commits held in the overlay.
fn ranked_by_url(
    conn: &Connection,
    uid: &str,
    url: &str,
    held: &HashMap<String, Commits>,
    holding: &[String],
) -> Result<Vec<rows::Candidate>, StoreError> {
    let mut candidates = rows::image_url_candidates(conn, uid, url)?;
    for candidate in &mut candidates {
        if let Some(meta) = held.get(&candidate.id).and_then(latest_meta) {
            candidate.updated_at = meta.updated_at;
            candidate.seq = meta.seq;
        }
    }
    for id in holding {
        if !candidates.iter().any(|known| &known.id == id)
            && let Some(meta) = held.get(id).and_then(latest_meta)
        {
            candidates.push(rows::Candidate {
                id: id.clone(),
                updated_at: meta.updated_at,
                seq: meta.seq,
            });
        }
    }
    candidates.sort_unstable_by(|a, b| (b.updated_at, &b.id).cmp(&(a.updated_at, &a.id)));
    Ok(candidates)
}

/// The user's most recently updated session holding `url`.
pub(super) fn find_by_image_url(
    conn: &Connection,
    uid: &str,
    url: &str,
    held: &HashMap<String, Commits>,
    holding: &[String],
) -> Result<Option<Session>, StoreError> {
    snapshot(conn, |conn| {
        for candidate in ranked_by_url(conn, uid, url, held, holding)? {
            if let Some(session) = load_with(conn, &candidate.id, held.get(&candidate.id))? {
                return Ok(Some(session));
            }
        }
        Ok(None)
    })
}

/// The version of the session [`find_by_image_url`] answers, without reading it.
pub(super) fn locate_by_image_url(
    conn: &Connection,
    uid: &str,
    url: &str,
    held: &HashMap<String, Commits>,
    holding: &[String],
) -> Result<Option<Version>, StoreError> {
    snapshot(conn, |conn| {
        Ok(ranked_by_url(conn, uid, url, held, holding)?
            .into_iter()
            .next()
            .map(|best| Version {
                id: best.id,
                uid: uid.to_owned(),
                seq: best.seq,
            }))
    })
}

/// The session's version, without reading it.
pub(super) fn locate(
    conn: &Connection,
    id: &str,
    held: &Commits,
) -> Result<Option<Version>, StoreError> {
    let stored = rows::session_version(conn, id)?;
    Ok(stored.map(|(uid, seq)| Version {
        id: id.to_owned(),
        uid,
        seq: latest_meta(held).map_or(seq, |meta| meta.seq.max(seq)),
    }))
}

fn matches(query: &ListQuery, meta: &SessionMeta) -> bool {
    query.status.is_none_or(|status| status == meta.status)
        && query
            .after
            .as_ref()
            .is_none_or(|after| (meta.updated_at, &meta.id) < (after.updated_at, &after.id))
}

/// A page of the list. The tables order every session by the `updatedAt` they hold; those the
/// overlay holds commits of are taken out of that order and put back at their latest one. Each
/// of them may have left the tables' first rows, so the tables are asked for that many more.
pub(super) fn list(
    conn: &Connection,
    uid: &str,
    query: &ListQuery,
    held: &HashMap<String, Commits>,
) -> Result<Page, StoreError> {
    snapshot(conn, |conn| {
        let mut metas: Vec<SessionMeta> =
            rows::list_metas(conn, uid, query, query.limit + 1 + held.len())?
                .into_iter()
                .filter(|meta| !held.contains_key(&meta.id))
                .collect();
        metas.extend(
            held.values()
                .filter_map(latest_meta)
                .filter(|meta| matches(query, meta))
                .cloned(),
        );
        metas.sort_unstable_by(|a, b| (b.updated_at, &b.id).cmp(&(a.updated_at, &a.id)));
        let more = metas.len() > query.limit;
        metas.truncate(query.limit);
        let next = if more {
            metas.last().map(|m| ListPosition {
                updated_at: m.updated_at,
                id: m.id.clone(),
            })
        } else {
            None
        };
        let mut sessions = Vec::with_capacity(metas.len());
        for meta in metas {
            match held.get(&meta.id) {
                // Deleted since the overlay was read: left out.
                Some(commits) => sessions.extend(load_with(conn, &meta.id, Some(commits))?),
                None => sessions.push(rows::with_messages(conn, meta)?),
            }
        }
        Ok(Page { sessions, next })
    })
}

/// The events after `after_seq`, from the log in the tables and the commits held in the
/// overlay; `None` unless every one up to the session's `seq` is there.
pub(super) fn events_since(
    conn: &Connection,
    id: &str,
    after_seq: u64,
    held: &Commits,
) -> Result<Option<Vec<SessionEvent>>, StoreError> {
    let (stored_seq, logged) = snapshot(conn, |conn| rows::logged_events(conn, id, after_seq))?;
    let mut events = BTreeMap::new();
    for (seq, text) in logged {
        match codec::decode(&text) {
            Ok(event) => {
                events.insert(seq, event);
            }
            Err(cause) => {
                // Not replayable: the socket gets a snapshot instead.
                tracing::error!(session = %id, seq, %cause, "an event of the log does not decode");
                return Ok(None);
            }
        }
    }
    for event in held.iter().flat_map(|commit| &commit.events) {
        if event.seq() > after_seq {
            events.entry(event.seq()).or_insert_with(|| event.clone());
        }
    }
    let current = latest_meta(held).map_or(stored_seq, |meta| meta.seq.max(stored_seq));
    let complete = events.len() as u64 == current.saturating_sub(after_seq)
        && events.keys().copied().eq(after_seq + 1..=current);
    Ok(complete.then(|| events.into_values().collect()))
}
