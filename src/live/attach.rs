//! Attaching an authenticated user's subscription, whatever its transport: counted in the
//! user's socket quota, then attached to its session's actor or to the user's list.

use super::link::{Link, Target};
use super::out::End;
use crate::auth::Identity;
use crate::protocol::close::Close;
use crate::quota::SocketPermit;
use crate::session::{Attachment, ListAttachment, SessionError};

/// Where an attached subscription starts.
pub(super) enum Attached {
    Session(Attachment),
    List(ListAttachment),
}

/// Attaches an authenticated user's subscription: to its session (from `since`), or to the
/// user's list; counted in the user's socket quota while the permit lives.
pub(super) async fn attach(
    link: &Link,
    identity: &Identity,
    since: Option<u64>,
) -> Result<(Attached, SocketPermit), End> {
    link.authenticated(&identity.uid);
    let ctx = link.ctx();
    let Some(permit) = ctx.quotas.open_socket(&identity.uid) else {
        return Err(End::Close(Close::TooManySockets));
    };
    // Boxed, as are the other awaits off the steady state: a socket's task is as large as its
    // largest await point, and idle sockets are many.
    let attached = match link.target() {
        Target::Session(id) => Box::pin(ctx.sessions.watch(&identity.uid, id, since))
            .await
            .map(Attached::Session),
        Target::List(query) => Box::pin(ctx.sessions.follow_list(&identity.uid, query))
            .await
            .map(Attached::List),
    };
    match attached {
        Ok(attached) => {
            tracing::debug!(?since, "socket attached");
            Ok((attached, permit))
        }
        Err(SessionError::NotFound) => Err(End::Close(Close::SessionNotFound)),
        Err(err) => {
            tracing::warn!(error = %err, "cannot attach a socket");
            Err(End::Close(Close::SessionUnavailable))
        }
    }
}
