//! What one user may take of one instance, so that one client cannot hurt the others: REST
//! requests per second (a token bucket per user, refused with 429 `rate_limited` and
//! `Retry-After`) and open sockets (refused at the upgrade with 429 when the upgrade names its
//! user, closed with 4029 after the `auth` frame otherwise). Counted per instance: behind a load
//! balancer a user's budget is this times the instances they reach.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use dashmap::DashMap;
use governor::clock::{Clock as _, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

/// The limits, from `serve`'s flags.
#[derive(Debug, Clone, Copy)]
pub struct QuotaSettings {
    /// REST requests per second per user; 0 turns the limit off.
    pub rest_rate: u32,
    /// Requests a user may make at once above the rate.
    pub rest_burst: u32,
    /// Sockets per user; 0 turns the limit off.
    pub sockets_per_user: usize,
}

impl Default for QuotaSettings {
    fn default() -> Self {
        Self {
            rest_rate: 0,
            rest_burst: 1,
            sockets_per_user: 0,
        }
    }
}

pub struct Quotas {
    /// One token bucket per user seen recently (a keyed `governor` limiter, on a `DashMap`).
    requests: Option<DefaultKeyedRateLimiter<String>>,
    /// Open sockets per user; an entry goes when its last socket closes, so the map holds only
    /// users with a socket open.
    sockets: DashMap<Box<str>, usize>,
    sockets_per_user: usize,
}

/// One open socket of a user, counted until dropped.
pub struct SocketPermit {
    quotas: Arc<Quotas>,
    uid: Box<str>,
}

/// No limits (tests that are not about them).
impl Default for Quotas {
    fn default() -> Self {
        Self::new(QuotaSettings::default())
    }
}

impl Quotas {
    pub fn new(settings: QuotaSettings) -> Self {
        let requests = NonZeroU32::new(settings.rest_rate).map(|rate| {
            let burst = NonZeroU32::new(settings.rest_burst).unwrap_or(rate);
            RateLimiter::keyed(Quota::per_second(rate).allow_burst(burst))
        });
        Self {
            requests,
            sockets: DashMap::new(),
            sockets_per_user: settings.sockets_per_user,
        }
    }

    /// Takes one request from the user's bucket; when it is empty, how long until it is not.
    pub fn take_request(&self, uid: &str) -> Result<(), Duration> {
        let Some(requests) = &self.requests else {
            return Ok(());
        };
        requests
            .check_key(&uid.to_owned())
            .map_err(|not_until| not_until.wait_time_from(DefaultClock::default().now()))
    }

    /// Forgets the buckets of users who have not called for a while (full buckets): memory
    /// follows the users of the last minutes, not every user ever seen.
    pub fn forget_idle(&self) {
        if let Some(requests) = &self.requests {
            requests.retain_recent();
            requests.shrink_to_fit();
        }
    }

    /// Whether the user has as many sockets open as they may.
    pub fn sockets_full(&self, uid: &str) -> bool {
        self.sockets_per_user > 0
            && self
                .sockets
                .get(uid)
                .is_some_and(|open| *open >= self.sockets_per_user)
    }

    /// Counts one more socket for the user, unless they have as many as they may.
    pub fn open_socket(self: &Arc<Self>, uid: &str) -> Option<SocketPermit> {
        let mut open = self.sockets.entry(uid.into()).or_insert(0);
        if self.sockets_per_user > 0 && *open >= self.sockets_per_user {
            return None;
        }
        *open += 1;
        Some(SocketPermit {
            quotas: Arc::clone(self),
            uid: uid.into(),
        })
    }

    pub fn sockets_per_user(&self) -> usize {
        self.sockets_per_user
    }
}

impl Drop for SocketPermit {
    fn drop(&mut self) {
        let sockets = &self.quotas.sockets;
        if let Some(mut open) = sockets.get_mut(&self.uid) {
            *open = open.saturating_sub(1);
        }
        sockets.remove_if(&self.uid, |_, open| *open == 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_user_gets_the_burst_then_waits_while_another_user_is_untouched() {
        let quotas = Quotas::new(QuotaSettings {
            rest_rate: 1,
            rest_burst: 3,
            sockets_per_user: 0,
        });
        for _ in 0..3 {
            assert_eq!(quotas.take_request("a"), Ok(()));
        }
        let wait = quotas.take_request("a").unwrap_err();
        assert!(
            wait > Duration::ZERO && wait <= Duration::from_secs(1),
            "{wait:?}"
        );
        assert_eq!(quotas.take_request("b"), Ok(()));
    }

    #[test]
    fn sockets_are_counted_per_user_until_their_permits_drop() {
        let quotas = Arc::new(Quotas::new(QuotaSettings {
            sockets_per_user: 2,
            ..QuotaSettings::default()
        }));
        let first = quotas.open_socket("a").unwrap();
        let _second = quotas.open_socket("a").unwrap();
        assert!(quotas.sockets_full("a"));
        assert!(quotas.open_socket("a").is_none());
        assert!(quotas.open_socket("b").is_some());
        drop(first);
        assert!(!quotas.sockets_full("a"));
        assert!(quotas.open_socket("a").is_some());
    }

    #[test]
    fn a_user_without_sockets_leaves_no_entry() {
        let quotas = Arc::new(Quotas::new(QuotaSettings {
            sockets_per_user: 2,
            ..QuotaSettings::default()
        }));
        drop(quotas.open_socket("a"));
        assert!(quotas.sockets.is_empty());
    }
}
