//! Counters the shards, their WAL and the uploader keep for the metrics endpoint.
//!
//! Recording happens on data cores on every read, write and sync, so it must
//! never take a lock another core could hold: each core has its own
//! [`ShardStats`] slot of relaxed atomics (only that core writes it; the
//! scraper thread reads every slot and sums). Threads that are not data cores
//! (uploader workers, tests) record into one extra shared slot, still lock
//! free. The slots are created once by [`init`] with the number of cores and
//! live for the rest of the process; a core picks its slot with [`bind_core`].
//!
//! [`Histogram`] is the one histogram type of the process: fixed bucket bounds,
//! one atomic per bucket, so observing is a short scan and one `fetch_add`.

use std::cell::Cell;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

/// Latency bucket upper bounds, in microseconds (50 µs .. 10 s).
pub const LATENCY_BOUNDS_US: &[u64] = &[
    50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000,
    1_000_000, 2_500_000, 10_000_000,
];

/// Group-commit batch bucket upper bounds, in records per fdatasync.
pub const BATCH_BOUNDS: &[u64] = &[1, 2, 4, 8, 16, 32, 64, 128, 256, 1024];

/// A histogram with fixed bucket bounds; observations are lock free.
#[derive(Debug)]
pub struct Histogram {
    bounds: &'static [u64],
    /// One per bound, plus the +Inf bucket; not cumulative.
    buckets: Box<[AtomicU64]>,
    sum: AtomicU64,
}

/// A point-in-time copy of a [`Histogram`] (or the sum of several).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistogramSnapshot {
    pub bounds: &'static [u64],
    /// Per bucket (not cumulative), the last one is +Inf.
    pub buckets: Vec<u64>,
    pub sum: u64,
}

impl HistogramSnapshot {
    /// Observations in total.
    pub fn count(&self) -> u64 {
        self.buckets.iter().sum()
    }

    /// Adds another snapshot with the same bounds.
    pub fn merge(&mut self, other: &HistogramSnapshot) {
        debug_assert_eq!(self.bounds, other.bounds);
        for (a, b) in self.buckets.iter_mut().zip(&other.buckets) {
            *a += b;
        }
        self.sum += other.sum;
    }
}

impl Histogram {
    pub fn new(bounds: &'static [u64]) -> Histogram {
        Histogram {
            bounds,
            buckets: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum: AtomicU64::new(0),
        }
    }

    /// A histogram of latencies in microseconds.
    pub fn latency() -> Histogram {
        Histogram::new(LATENCY_BOUNDS_US)
    }

    pub fn observe(&self, value: u64) {
        let i = self
            .bounds
            .iter()
            .position(|&b| value <= b)
            .unwrap_or(self.bounds.len());
        self.buckets[i].fetch_add(1, Ordering::Relaxed);
        self.sum.fetch_add(value, Ordering::Relaxed);
    }

    /// Observes a duration in microseconds (for [`Histogram::latency`]).
    pub fn observe_duration(&self, d: Duration) {
        self.observe(u64::try_from(d.as_micros()).unwrap_or(u64::MAX));
    }

    pub fn snapshot(&self) -> HistogramSnapshot {
        HistogramSnapshot {
            bounds: self.bounds,
            buckets: self
                .buckets
                .iter()
                .map(|b| b.load(Ordering::Relaxed))
                .collect(),
            sum: self.sum.load(Ordering::Relaxed),
        }
    }
}

/// One core's counters for its shard, its WAL and the uploads it started.
#[derive(Debug)]
pub struct ShardStats {
    /// Read pieces served from a block held in memory.
    pub cache_hits: AtomicU64,
    /// Read pieces fetched from the block store.
    pub cache_misses: AtomicU64,
    /// Blocks written but not yet in the block store (gauge).
    pub dirty_blocks: AtomicI64,
    /// Blocks sealed into the block store (they leave the memory cache).
    pub evictions: AtomicU64,
    /// Block uploads (seals) that failed.
    pub upload_failures: AtomicU64,
    /// Latency of one block upload, µs.
    pub upload_latency: Histogram,
    /// WAL records written.
    pub wal_appends: AtomicU64,
    /// WAL payload bytes written.
    pub wal_append_bytes: AtomicU64,
    /// Group fdatasyncs of the WAL.
    pub wal_fsyncs: AtomicU64,
    /// Records made durable by one group fdatasync.
    pub wal_batch: Histogram,
    /// Latency of one group fdatasync, µs.
    pub wal_fsync_latency: Histogram,
    /// WAL segments holding records not yet checkpointed (gauge).
    pub wal_segments_used: AtomicI64,
}

impl Default for ShardStats {
    fn default() -> Self {
        ShardStats {
            cache_hits: AtomicU64::new(0),
            cache_misses: AtomicU64::new(0),
            dirty_blocks: AtomicI64::new(0),
            evictions: AtomicU64::new(0),
            upload_failures: AtomicU64::new(0),
            upload_latency: Histogram::latency(),
            wal_appends: AtomicU64::new(0),
            wal_append_bytes: AtomicU64::new(0),
            wal_fsyncs: AtomicU64::new(0),
            wal_batch: Histogram::new(BATCH_BOUNDS),
            wal_fsync_latency: Histogram::latency(),
            wal_segments_used: AtomicI64::new(0),
        }
    }
}

/// Adds `n` to a counter (relaxed: counters are only summed at scrape time).
pub fn add(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Ordering::Relaxed);
}

/// Moves a gauge by `n`.
pub fn shift(gauge: &AtomicI64, n: i64) {
    gauge.fetch_add(n, Ordering::Relaxed);
}

static SLOTS: OnceLock<Box<[ShardStats]>> = OnceLock::new();
static UNBOUND: OnceLock<ShardStats> = OnceLock::new();

thread_local! {
    static CORE: Cell<Option<usize>> = const { Cell::new(None) };
}

/// Creates one slot per core. Only the first call counts (tests may start
/// several runtimes in one process; later ones share the slots they find).
pub fn init(cores: usize) {
    let _ = SLOTS.get_or_init(|| (0..cores).map(|_| ShardStats::default()).collect());
}

/// Makes the calling thread record into `core`'s slot from now on.
pub fn bind_core(core: usize) {
    CORE.with(|c| c.set(Some(core)));
}

/// The slot of the calling thread: its core's, or the shared one.
pub fn local() -> &'static ShardStats {
    let core = CORE.with(Cell::get);
    if let (Some(core), Some(slots)) = (core, SLOTS.get()) {
        if let Some(slot) = slots.get(core) {
            return slot;
        }
    }
    UNBOUND.get_or_init(ShardStats::default)
}

/// Every per-core slot (empty before [`init`]), for the scraper.
pub fn per_core() -> &'static [ShardStats] {
    SLOTS.get().map_or(&[], |s| &s[..])
}

/// The slot of threads that are not data cores.
pub fn unbound() -> &'static ShardStats {
    UNBOUND.get_or_init(ShardStats::default)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_upper_bounds_inclusive() {
        let h = Histogram::new(&[1, 10]);
        for v in [0, 1, 2, 10, 11, 1000] {
            h.observe(v);
        }
        let s = h.snapshot();
        assert_eq!(s.buckets, vec![2, 2, 2]);
        assert_eq!(s.sum, 1024);
        assert_eq!(s.count(), 6);
    }

    #[test]
    fn merged_snapshots_add_up() {
        let (a, b) = (Histogram::latency(), Histogram::latency());
        a.observe(40);
        b.observe(40);
        b.observe(20_000_000);
        let mut s = a.snapshot();
        s.merge(&b.snapshot());
        assert_eq!(s.count(), 3);
        assert_eq!(s.buckets[0], 2);
        assert_eq!(*s.buckets.last().unwrap(), 1);
        assert_eq!(s.sum, 20_000_080);
    }
}
