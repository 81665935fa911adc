//! A token bucket that may go into debt, shared by every core as one atomic.
//!
//! `reserve` takes the cost at once and answers how long the caller must wait
//! for the balance to be non-negative again, so a stream of requests is spaced
//! exactly at the rate once the burst is spent, and a cost bigger than the
//! whole bucket (a 1 MiB READ against a 64 KiB burst) is still served — the
//! requests after it pay the debt. Time is passed in, so tests need no clock.
//!
//! Why one atomic: the state of a debt bucket fits in one number, the instant
//! at which it is (or was) empty, `empty_at` (the GCRA "theoretical arrival
//! time"). The balance at `now` is `(now - empty_at) × rate`, capped at the
//! burst, so `reserve(cost)` is `empty_at = max(empty_at, now - burst/rate) +
//! cost/rate`, one compare-and-swap, and the wait is `empty_at - now`. Every
//! core charging a client's connections updates the same bucket, so the limit
//! holds for the client wherever the kernel put its connections; cores contend
//! only on the cache line of a key that really is used from several of them.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

const NANOS_PER_S: u128 = 1_000_000_000;

/// One bucket: `rate` tokens per second, at most `burst` banked.
#[derive(Debug)]
pub struct Bucket {
    /// Nanoseconds after `origin` at which the balance is zero (before it:
    /// tokens banked; after it: debt).
    empty_at_ns: AtomicI64,
    origin: Instant,
    rate_per_s: u64,
    /// The time the burst takes to refill, in nanoseconds.
    burst_ns: i64,
}

impl Bucket {
    /// A full bucket. `rate_per_s` is raised to at least 1, `burst` too.
    pub fn new(rate_per_s: u64, burst: u64, now: Instant) -> Bucket {
        let rate_per_s = rate_per_s.max(1);
        let burst_ns = cost_ns(burst.max(1), rate_per_s);
        Bucket {
            // Empty long ago: full at any instant (the burst caps the bank).
            empty_at_ns: AtomicI64::new(i64::MIN / 2),
            origin: now,
            rate_per_s,
            burst_ns,
        }
    }

    /// `now` in nanoseconds after the origin (negative before it: another
    /// core may pass an instant taken just before this bucket was made).
    fn at(&self, now: Instant) -> i64 {
        match now.checked_duration_since(self.origin) {
            Some(d) => i64::try_from(d.as_nanos()).unwrap_or(i64::MAX),
            None => {
                let d = self.origin.saturating_duration_since(now);
                -i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
            }
        }
    }

    /// Takes `cost` tokens; returns the new `empty_at` and `now`, both in ns.
    fn take(&self, cost: u64, now: Instant) -> (i64, i64) {
        let now_ns = self.at(now);
        let cost_ns = cost_ns(cost, self.rate_per_s);
        let floor = now_ns.saturating_sub(self.burst_ns);
        // Relaxed: the bucket is this one word, and read-modify-writes of one
        // location are totally ordered; nothing else is published through it.
        let update = |empty_at: i64| Some(empty_at.max(floor).saturating_add(cost_ns));
        let previous =
            match self
                .empty_at_ns
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, update)
            {
                Ok(v) | Err(v) => v,
            };
        (previous.max(floor).saturating_add(cost_ns), now_ns)
    }

    /// Takes `cost` tokens; returns how long until the balance is back to zero
    /// (zero when it did not go negative).
    pub fn reserve(&self, cost: u64, now: Instant) -> Duration {
        let (empty_at, now_ns) = self.take(cost, now);
        wait(empty_at, now_ns)
    }

    /// Takes `cost` tokens after the fact (reply bytes): no wait now, the
    /// debt delays the next reservation.
    pub fn charge(&self, cost: u64, now: Instant) {
        self.take(cost, now);
    }

    /// How long until the balance reaches zero, without taking anything.
    pub fn wait_time(&self, now: Instant) -> Duration {
        wait(self.empty_at_ns.load(Ordering::Relaxed), self.at(now))
    }

    /// Whether the bucket is full at `now` (carries no state worth keeping).
    pub fn is_full(&self, now: Instant) -> bool {
        self.empty_at_ns.load(Ordering::Relaxed) <= self.at(now).saturating_sub(self.burst_ns)
    }
}

/// How long `cost` tokens take to earn at `rate_per_s`, in nanoseconds
/// (rounded to the nearest; saturating).
fn cost_ns(cost: u64, rate_per_s: u64) -> i64 {
    let rate = u128::from(rate_per_s.max(1));
    let ns = (u128::from(cost) * NANOS_PER_S + rate / 2) / rate;
    i64::try_from(ns).unwrap_or(i64::MAX)
}

fn wait(empty_at_ns: i64, now_ns: i64) -> Duration {
    let ns = empty_at_ns.saturating_sub(now_ns);
    Duration::from_nanos(u64::try_from(ns).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_is_free_then_requests_are_spaced_at_the_rate() {
        let t0 = Instant::now();
        let b = Bucket::new(10, 3, t0);
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
        let b = Bucket::new(rate, burst, t0);
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
        let b = Bucket::new(1000, 1000, t0);
        b.charge(3000, t0);
        assert_eq!(b.wait_time(t0), Duration::from_secs(2));
        assert_eq!(b.reserve(0, t0 + Duration::from_secs(2)), Duration::ZERO);
    }

    #[test]
    fn the_bank_never_exceeds_the_burst() {
        let t0 = Instant::now();
        let b = Bucket::new(100, 2, t0);
        let later = t0 + Duration::from_secs(3600);
        assert_eq!(b.reserve(2, later), Duration::ZERO);
        assert!(b.reserve(1, later) > Duration::ZERO);
    }

    #[test]
    fn an_instant_before_the_origin_is_charged_too() {
        let t0 = Instant::now();
        let b = Bucket::new(10, 1, t0 + Duration::from_millis(50));
        // Taken 50 ms before the bucket was made: the burst is there, then debt.
        assert_eq!(b.reserve(1, t0), Duration::ZERO);
        assert_eq!(b.reserve(1, t0), Duration::from_millis(100));
    }

    #[test]
    fn threads_sharing_a_bucket_get_the_rate_together() {
        // 4 threads × 250 reservations at one instant: the debt is exactly
        // (1000 - burst) / rate whatever the interleaving (no lost update).
        let t0 = Instant::now();
        let b = std::sync::Arc::new(Bucket::new(100, 10, t0));
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let b = b.clone();
                std::thread::spawn(move || {
                    for _ in 0..250 {
                        b.reserve(1, t0);
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        assert_eq!(b.wait_time(t0), Duration::from_millis(9900));
    }
}
