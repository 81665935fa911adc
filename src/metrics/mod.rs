//! Prometheus metrics: per-core recording, summed when `/metrics` is scraped.
//!
//! Every data core records into its own [`CoreMetrics`] slot of relaxed
//! atomics, so recording a request never touches a cache line another core
//! writes and never takes a lock (the rule: no lock shared across
//! cores). The scraper thread reads every slot and adds them up
//! ([`exposition::render`]). Threads that are not data cores (the API thread,
//! blocking store threads, unit tests) record into one extra shared slot.
//! Shard, WAL and upload counters live in `dittofs_shards::stats` (the shards
//! crate cannot depend on this one) with the same layout; both are initialised
//! and bound to a core together by [`init`] and [`bind_core`].
//!
//! Label values are small fixed tables (protocol, operation, status names),
//! except the rate-limit table, which names who was throttled and is bounded
//! per core ([`RATE_LIMITED_KEYS_MAX`]).

pub mod exposition;
pub mod ops;
mod timed_meta;

use std::cell::Cell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

pub use dittofs_shards::stats::{Histogram, HistogramSnapshot};
pub use ops::{status_name, Protocol, STATUS_NAMES};
pub use timed_meta::{MetaOp, TimedMeta};

/// Distinct `who` values of rate-limit rejections kept per core; later ones
/// are counted under `who="other"`.
pub const RATE_LIMITED_KEYS_MAX: usize = 64;

/// Counters of one protocol on one core.
#[derive(Debug)]
pub struct ProtoMetrics {
    /// Requests per operation (index = procedure / command number).
    pub requests: Box<[AtomicU64]>,
    /// Failed requests per operation and status (`ops * STATUS_NAMES.len()`).
    pub errors: Box<[AtomicU64]>,
    /// Latency per operation, µs.
    pub latency: Box<[Histogram]>,
    pub read_bytes: AtomicU64,
    pub written_bytes: AtomicU64,
}

impl ProtoMetrics {
    fn new(ops: usize) -> ProtoMetrics {
        ProtoMetrics {
            requests: (0..ops).map(|_| AtomicU64::new(0)).collect(),
            errors: (0..ops * STATUS_NAMES.len())
                .map(|_| AtomicU64::new(0))
                .collect(),
            latency: (0..ops).map(|_| Histogram::latency()).collect(),
            read_bytes: AtomicU64::new(0),
            written_bytes: AtomicU64::new(0),
        }
    }
}

/// Everything one core records (other than shard counters).
#[derive(Debug)]
pub struct CoreMetrics {
    /// Indexed by [`Protocol::index`].
    pub protocols: [ProtoMetrics; Protocol::ALL.len()],
    /// Open client connections (gauge).
    pub connections: AtomicI64,
    pub connections_accepted: AtomicU64,
    /// Metadata store latency per [`MetaOp`], µs.
    pub meta_latency: Box<[Histogram]>,
    /// S3 requests retried after a transient failure.
    pub upload_retries: AtomicU64,
    /// `(protocol, kind, who)` → rejections. Its own lock per core: only the
    /// owning core and the scraper ever take it, and only on a rejection.
    pub rate_limited: Mutex<HashMap<(Protocol, &'static str, String), u64>>,
}

impl Default for CoreMetrics {
    fn default() -> Self {
        CoreMetrics {
            protocols: Protocol::ALL.map(|p| ProtoMetrics::new(p.ops().len())),
            connections: AtomicI64::new(0),
            connections_accepted: AtomicU64::new(0),
            meta_latency: MetaOp::ALL.iter().map(|_| Histogram::latency()).collect(),
            upload_retries: AtomicU64::new(0),
            rate_limited: Mutex::new(HashMap::new()),
        }
    }
}

/// Process-wide values the scraper reads through callbacks (they belong to
/// objects the runtime owns, such as the uploader's queue).
#[derive(Default)]
pub struct Gauges {
    /// Block store calls waiting for an uploader thread.
    pub uploader_queue: Option<Box<dyn Fn() -> u64 + Send + Sync>>,
    /// `cache.block_bytes`, to turn dirty blocks into bytes.
    pub block_bytes: u64,
}

struct Registry {
    cores: Box<[CoreMetrics]>,
    started: Instant,
}

static REGISTRY: OnceLock<Registry> = OnceLock::new();
static UNBOUND: OnceLock<CoreMetrics> = OnceLock::new();
static GAUGES: OnceLock<Mutex<Arc<Gauges>>> = OnceLock::new();

thread_local! {
    static CORE: Cell<Option<usize>> = const { Cell::new(None) };
}

static ENABLED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(true);

/// Whether request recording is on (`[metrics] port` is not 0).
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// Creates the per-core slots (here and in the shards). Only the first call
/// creates them; a process runs one server. `enabled = false` turns request
/// recording off (the shards' counters are too cheap to switch).
pub fn init(cores: usize, enabled: bool) {
    ENABLED.store(enabled, Ordering::Relaxed);
    let _ = REGISTRY.get_or_init(|| Registry {
        cores: (0..cores).map(|_| CoreMetrics::default()).collect(),
        started: Instant::now(),
    });
    dittofs_shards::stats::init(cores);
}

/// Makes the calling thread (a data core) record into slot `core`.
pub fn bind_core(core: usize) {
    CORE.with(|c| c.set(Some(core)));
    dittofs_shards::stats::bind_core(core);
}

/// Installs the scrape-time gauges.
pub fn set_gauges(gauges: Gauges) {
    let cell = GAUGES.get_or_init(|| Mutex::new(Arc::new(Gauges::default())));
    if let Ok(mut g) = cell.lock() {
        *g = Arc::new(gauges);
    }
}

pub(crate) fn gauges() -> Arc<Gauges> {
    GAUGES
        .get()
        .and_then(|g| g.lock().ok().map(|g| g.clone()))
        .unwrap_or_default()
}

/// The calling thread's slot.
pub fn local() -> &'static CoreMetrics {
    let core = CORE.with(Cell::get);
    if let (Some(core), Some(reg)) = (core, REGISTRY.get()) {
        if let Some(slot) = reg.cores.get(core) {
            return slot;
        }
    }
    UNBOUND.get_or_init(CoreMetrics::default)
}

/// Per-core slots (empty before [`init`]).
pub fn per_core() -> &'static [CoreMetrics] {
    REGISTRY.get().map_or(&[], |r| &r.cores[..])
}

/// The slot of threads that are not data cores.
pub fn unbound() -> &'static CoreMetrics {
    UNBOUND.get_or_init(CoreMetrics::default)
}

/// Time since [`init`].
pub fn uptime() -> Duration {
    REGISTRY
        .get()
        .map_or(Duration::ZERO, |r| r.started.elapsed())
}

fn inc(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Ordering::Relaxed);
}

/// Records one finished request. `status` indexes [`STATUS_NAMES`]; 0 is
/// success. An `op` outside the protocol's table is ignored.
pub fn request(protocol: Protocol, op: u32, status: usize, elapsed: Duration) {
    if !enabled() {
        return;
    }
    let p = &local().protocols[protocol.index()];
    let op = op as usize;
    let Some(requests) = p.requests.get(op) else {
        return;
    };
    inc(requests, 1);
    if status != 0 {
        let status = status.min(STATUS_NAMES.len() - 1);
        if let Some(c) = p.errors.get(op * STATUS_NAMES.len() + status) {
            inc(c, 1);
        }
    }
    if let Some(h) = p.latency.get(op) {
        h.observe_duration(elapsed);
    }
}

/// Records a request that started at `started` and writes its access-log
/// line when `[logging] access_log` is on.
pub fn observe_request(
    protocol: Protocol,
    op: u32,
    status: usize,
    started: Instant,
    peer: std::net::SocketAddr,
) {
    let elapsed = started.elapsed();
    request(protocol, op, status, elapsed);
    if crate::logging::access_log_enabled() {
        let op_name = protocol
            .ops()
            .get(op as usize)
            .copied()
            .unwrap_or("UNKNOWN");
        crate::logging::access(protocol.name(), op_name, peer, status_name(status), elapsed);
    }
}

/// File content bytes returned to clients.
pub fn read_bytes(protocol: Protocol, n: u64) {
    inc(&local().protocols[protocol.index()].read_bytes, n);
}

/// File content bytes written by clients.
pub fn written_bytes(protocol: Protocol, n: u64) {
    inc(&local().protocols[protocol.index()].written_bytes, n);
}

/// A client connection was accepted on this core.
pub fn connection_opened() {
    let m = local();
    inc(&m.connections_accepted, 1);
    m.connections.fetch_add(1, Ordering::Relaxed);
}

/// A client connection of this core ended.
pub fn connection_closed() {
    local().connections.fetch_sub(1, Ordering::Relaxed);
}

/// One metadata store call took `elapsed`.
pub fn meta_op(op: MetaOp, elapsed: Duration) {
    if let Some(h) = local().meta_latency.get(op as usize) {
        h.observe_duration(elapsed);
    }
}

/// One S3 request is retried.
pub fn upload_retry() {
    inc(&local().upload_retries, 1);
}

/// A request of `who` (a client address or user name; `kind` says which:
/// "client" or "user") was delayed or refused by the rate limiter.
pub fn rate_limited(protocol: Protocol, kind: &'static str, who: &str) {
    let Ok(mut table) = local().rate_limited.lock() else {
        return;
    };
    let key = (protocol, kind, who.to_owned());
    if let Some(n) = table.get_mut(&key) {
        *n += 1;
        return;
    }
    let key = if table.len() < RATE_LIMITED_KEYS_MAX {
        key
    } else {
        (protocol, kind, "other".to_owned())
    };
    *table.entry(key).or_default() += 1;
}

/// Sums of every core (and the unbound slot) for the API's status page.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Totals {
    pub connections_per_core: Vec<i64>,
    pub requests: u64,
    pub errors: u64,
    pub read_bytes: u64,
    pub written_bytes: u64,
}

/// Adds up the per-core request counters.
pub fn totals() -> Totals {
    let mut t = Totals {
        connections_per_core: per_core()
            .iter()
            .map(|c| c.connections.load(Ordering::Relaxed))
            .collect(),
        ..Totals::default()
    };
    for core in per_core().iter().chain(std::iter::once(unbound())) {
        for p in &core.protocols {
            let sum = |v: &[AtomicU64]| v.iter().map(|c| c.load(Ordering::Relaxed)).sum::<u64>();
            t.requests += sum(&p.requests);
            t.errors += sum(&p.errors);
            t.read_bytes += p.read_bytes.load(Ordering::Relaxed);
            t.written_bytes += p.written_bytes.load(Ordering::Relaxed);
        }
    }
    t
}

#[cfg(test)]
mod tests;
