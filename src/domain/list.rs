//! The list query: which of a user's sessions, in (`updatedAt` desc, id desc) order, from where.

use super::model::Status;
use super::time::Timestamp;

/// A query of the user's list (`GET /?limit&cursor&status`, a list socket).
#[derive(Debug, Clone, PartialEq)]
pub struct ListQuery {
    pub limit: usize,
    pub status: Option<Status>,
    /// Continue strictly after this position in (`updatedAt` desc, id desc) order.
    pub after: Option<ListPosition>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListPosition {
    pub updated_at: Timestamp,
    pub id: String,
}

impl ListQuery {
    pub const DEFAULT_LIMIT: usize = 20;
    pub const MAX_LIMIT: usize = 100;

    /// The first page, of every status.
    pub fn first(limit: usize) -> Self {
        Self {
            limit,
            status: None,
            after: None,
        }
    }
}
