//! A token bucket: `rate` commands per second on average, up to `burst` at once.

use tokio::time::Instant;

pub(super) struct TokenBucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    pub(super) fn new(rate: u32, burst: u32, now: Instant) -> Self {
        Self {
            rate: f64::from(rate),
            burst: f64::from(burst),
            tokens: f64::from(burst),
            last: now,
        }
    }

    /// Takes one token if there is one.
    pub(super) fn try_take(&mut self, now: Instant) -> bool {
        let refill = now.saturating_duration_since(self.last).as_secs_f64() * self.rate;
        self.tokens = (self.tokens + refill).min(self.burst);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn allows_the_burst_then_the_rate() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(50, 100, start);
        assert_eq!((0..150).filter(|_| bucket.try_take(start)).count(), 100);
        let later = start + Duration::from_millis(100);
        assert_eq!((0..150).filter(|_| bucket.try_take(later)).count(), 5);
        let much_later = start + Duration::from_secs(60);
        assert_eq!(
            (0..150).filter(|_| bucket.try_take(much_later)).count(),
            100
        );
    }
}
