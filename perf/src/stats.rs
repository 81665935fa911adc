//! Per-phase measurements: op and byte counts, a latency histogram, errors by kind.
//!
//! Each executor thread records into its own [`PhaseStats`]; the runner merges them
//! (sums, histogram add, longest elapsed time) into one [`PhaseReport`].

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::nfs::OpError;

/// Highest latency the histogram tracks exactly (larger values saturate).
const LATENCY_NS_MAX: u64 = 120_000_000_000;

fn new_hist() -> Histogram<u64> {
    // 3 significant figures between 1 ns and 120 s: bounds are valid constants.
    Histogram::new_with_bounds(1, LATENCY_NS_MAX, 3).expect("valid histogram bounds")
}

/// What one thread measured in one phase.
#[derive(Debug, Clone)]
pub struct PhaseStats {
    pub name: String,
    pub ops: u64,
    pub bytes: u64,
    /// Workload-specific unit (directory entries listed, files compiled …).
    pub items: u64,
    pub elapsed: Duration,
    pub hist: Histogram<u64>,
    pub errors: BTreeMap<String, u64>,
}

impl PhaseStats {
    pub fn new(name: &str) -> PhaseStats {
        PhaseStats {
            name: name.to_string(),
            ops: 0,
            bytes: 0,
            items: 0,
            elapsed: Duration::ZERO,
            hist: new_hist(),
            errors: BTreeMap::new(),
        }
    }

    /// Adds another thread's stats of the same phase.
    pub fn merge(&mut self, o: &PhaseStats) {
        self.ops += o.ops;
        self.bytes += o.bytes;
        self.items += o.items;
        self.elapsed = self.elapsed.max(o.elapsed);
        let _ = self.hist.add(&o.hist);
        for (k, v) in &o.errors {
            *self.errors.entry(k.clone()).or_default() += v;
        }
    }

    pub fn report(&self) -> PhaseReport {
        let secs = self.elapsed.as_secs_f64().max(1e-9);
        let us = |q: f64| {
            if self.hist.is_empty() {
                0.0
            } else {
                self.hist.value_at_quantile(q) as f64 / 1000.0
            }
        };
        PhaseReport {
            name: self.name.clone(),
            ops: self.ops,
            bytes: self.bytes,
            items: self.items,
            secs: self.elapsed.as_secs_f64(),
            ops_per_s: self.ops as f64 / secs,
            mb_per_s: self.bytes as f64 / secs / 1e6,
            items_per_s: self.items as f64 / secs,
            p50_us: us(0.5),
            p99_us: us(0.99),
            p999_us: us(0.999),
            max_us: self.hist.max() as f64 / 1000.0,
            errors: self.errors.clone(),
            error_count: self.errors.values().sum(),
        }
    }
}

/// The merged result of one phase, as printed and written to JSON.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct PhaseReport {
    pub name: String,
    pub ops: u64,
    pub bytes: u64,
    pub items: u64,
    pub secs: f64,
    pub ops_per_s: f64,
    pub mb_per_s: f64,
    pub items_per_s: f64,
    pub p50_us: f64,
    pub p99_us: f64,
    pub p999_us: f64,
    pub max_us: f64,
    pub errors: BTreeMap<String, u64>,
    pub error_count: u64,
}

/// A thread-local recorder for the phase being run; clones share the stats.
#[derive(Clone)]
pub struct Recorder {
    stats: std::rc::Rc<RefCell<PhaseStats>>,
    /// Ops done by all threads, for the progress line.
    progress: Arc<AtomicU64>,
}

impl Recorder {
    pub fn new(name: &str, progress: Arc<AtomicU64>) -> Recorder {
        Recorder {
            stats: std::rc::Rc::new(RefCell::new(PhaseStats::new(name))),
            progress,
        }
    }

    /// Records the outcome of one op that started at `start`; `Some` on success.
    pub fn op<T>(&self, start: Instant, r: Result<T, OpError>) -> Option<T> {
        match r {
            Ok(v) => {
                let ns = start.elapsed().as_nanos().min(u128::from(LATENCY_NS_MAX)) as u64;
                let mut s = self.stats.borrow_mut();
                s.ops += 1;
                s.hist.saturating_record(ns.max(1));
                self.progress.fetch_add(1, Ordering::Relaxed);
                Some(v)
            }
            Err(e) => {
                self.error(&e);
                None
            }
        }
    }

    pub fn error(&self, e: &OpError) {
        *self.stats.borrow_mut().errors.entry(e.key()).or_default() += 1;
    }

    pub fn add_bytes(&self, n: u64) {
        self.stats.borrow_mut().bytes += n;
    }

    pub fn add_items(&self, n: u64) {
        self.stats.borrow_mut().items += n;
    }

    pub fn error_count(&self) -> u64 {
        self.stats.borrow().errors.values().sum()
    }

    /// The stats with `elapsed` set.
    pub fn finish(&self, elapsed: Duration) -> PhaseStats {
        let mut s = self.stats.borrow().clone();
        s.elapsed = elapsed;
        s
    }
}
