//! A token bucket that may go into debt.
//!
//! `reserve` takes the cost at once and answers how long the caller must wait
//! for the balance to be non-negative again, so a stream of requests is spaced
//! exactly at the rate once the burst is spent, and a cost bigger than the
//! whole bucket (a 1 MiB READ against a 64 KiB burst) is still served — the
//! requests after it pay the debt. Time is passed in, so tests need no clock.

use std::time::{Duration, Instant};

/// One bucket: `rate` tokens per second, at most `burst` banked.
#[derive(Debug, Clone)]
pub struct Bucket {
    tokens: f64,
    rate_per_s: f64,
    burst: f64,
    last: Instant,
}

impl Bucket {
    /// A full bucket. `rate_per_s` must be > 0; `burst` is raised to at least 1.
    pub fn new(rate_per_s: u64, burst: u64, now: Instant) -> Bucket {
        let burst = burst.max(1) as f64;
        Bucket {
            tokens: burst,
            rate_per_s: rate_per_s.max(1) as f64,
            burst,
            last: now,
        }
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate_per_s).min(self.burst);
        self.last = now.max(self.last);
    }

    /// Takes `cost` tokens; returns how long until the balance is back to zero
    /// (zero when it did not go negative).
    pub fn reserve(&mut self, cost: u64, now: Instant) -> Duration {
        self.refill(now);
        self.tokens -= cost as f64;
        self.debt_delay()
    }

    /// Takes `cost` tokens after the fact (reply bytes): no wait now, the
    /// debt delays the next reservation.
    pub fn charge(&mut self, cost: u64, now: Instant) {
        self.refill(now);
        self.tokens -= cost as f64;
    }

    /// How long until the balance reaches zero, without taking anything.
    pub fn wait_time(&mut self, now: Instant) -> Duration {
        self.refill(now);
        self.debt_delay()
    }

    fn debt_delay(&self) -> Duration {
        if self.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-self.tokens / self.rate_per_s)
        }
    }

    /// Whether the bucket is full at `now` (carries no state worth keeping).
    pub fn is_full(&mut self, now: Instant) -> bool {
        self.refill(now);
        self.tokens >= self.burst
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_is_free_then_requests_are_spaced_at_the_rate() {
        let t0 = Instant::now();
        let mut b = Bucket::new(10, 3, t0);
        for _ in 0..3 {
            assert_eq!(b.reserve(1, t0), Duration::ZERO);
        }
        // The 4th waits one interval, the 5th two (when asked at the same instant).
        assert_eq!(b.reserve(1, t0), Duration::from_millis(100));
        assert_eq!(b.reserve(1, t0), Duration::from_millis(200));
        // After waiting out the debt, the balance is zero again.
        let later = t0 + Duration::from_millis(200);
        assert_eq!(b.wait_time(later), Duration::ZERO);
        assert!(!b.is_full(later));
        assert!(b.is_full(later + Duration::from_secs(1)));
    }

    #[test]
    fn k_requests_take_k_minus_burst_over_rate() {
        // A client that waits as told: K requests end at (K - burst) / rate.
        let t0 = Instant::now();
        let (rate, burst, k) = (50u64, 5u64, 105u64);
        let mut b = Bucket::new(rate, burst, t0);
        let mut now = t0;
        for _ in 0..k {
            now += b.reserve(1, now);
        }
        let elapsed = now - t0;
        let want = Duration::from_secs_f64((k - burst) as f64 / rate as f64);
        assert!(
            elapsed.abs_diff(want) < Duration::from_millis(1),
            "{elapsed:?}"
        );
    }

    #[test]
    fn a_big_cost_is_served_and_its_debt_delays_the_next() {
        let t0 = Instant::now();
        let mut b = Bucket::new(1000, 1000, t0);
        b.charge(3000, t0);
        assert_eq!(b.wait_time(t0), Duration::from_secs(2));
        assert_eq!(b.reserve(0, t0 + Duration::from_secs(2)), Duration::ZERO);
    }

    #[test]
    fn the_bank_never_exceeds_the_burst() {
        let t0 = Instant::now();
        let mut b = Bucket::new(100, 2, t0);
        let later = t0 + Duration::from_secs(3600);
        assert_eq!(b.reserve(2, later), Duration::ZERO);
        assert!(b.reserve(1, later) > Duration::ZERO);
    }
}
