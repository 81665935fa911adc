//! The Prometheus text exposition format (version 0.0.4), written by hand.
//!
//! A scrape sums the per-core slots of this crate and of the shards into one
//! text page. Histograms in microseconds are exported in seconds (`le` and
//! `_sum`), the Prometheus convention. Label values are escaped (`\\`, `"`,
//! newline) because `who` of the rate-limit table comes from clients.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use dittofs_shards::stats::{self as shard_stats, HistogramSnapshot, ShardStats};

use super::{CoreMetrics, MetaOp, Protocol, STATUS_NAMES};

/// The `Content-Type` of the page.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Writes metric families; each family's HELP/TYPE header comes once.
pub struct Writer {
    out: String,
}

fn escape(v: &str) -> String {
    let mut s = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => s.push_str("\\\\"),
            '"' => s.push_str("\\\""),
            '\n' => s.push_str("\\n"),
            c => s.push(c),
        }
    }
    s
}

fn labels(pairs: &[(&str, &str)]) -> String {
    if pairs.is_empty() {
        return String::new();
    }
    let inner: Vec<String> = pairs
        .iter()
        .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
        .collect();
    format!("{{{}}}", inner.join(","))
}

impl Writer {
    pub fn new() -> Writer {
        Writer { out: String::new() }
    }

    pub fn finish(self) -> String {
        self.out
    }

    /// `# HELP` and `# TYPE` lines of a family.
    pub fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.out, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }

    pub fn sample(&mut self, name: &str, pairs: &[(&str, &str)], value: impl std::fmt::Display) {
        let _ = writeln!(self.out, "{name}{} {value}", labels(pairs));
    }

    /// One histogram series; `scale` divides bounds and sum (1e6: µs → s).
    pub fn histogram(
        &mut self,
        name: &str,
        pairs: &[(&str, &str)],
        h: &HistogramSnapshot,
        scale: f64,
    ) {
        let mut cumulative = 0u64;
        for (i, n) in h.buckets.iter().enumerate() {
            cumulative += n;
            let le = match h.bounds.get(i) {
                Some(b) => format!("{}", *b as f64 / scale),
                None => "+Inf".to_owned(),
            };
            let mut with_le = pairs.to_vec();
            with_le.push(("le", &le));
            self.sample(&format!("{name}_bucket"), &with_le, cumulative);
        }
        self.sample(&format!("{name}_sum"), pairs, h.sum as f64 / scale);
        self.sample(&format!("{name}_count"), pairs, cumulative);
    }
}

impl Default for Writer {
    fn default() -> Self {
        Writer::new()
    }
}

fn load(c: &AtomicU64) -> u64 {
    c.load(Ordering::Relaxed)
}

fn load_i(c: &AtomicI64) -> i64 {
    c.load(Ordering::Relaxed)
}

/// Every slot that requests can be recorded in: the cores, then the shared one.
fn all_cores() -> impl Iterator<Item = &'static CoreMetrics> {
    super::per_core()
        .iter()
        .chain(std::iter::once(super::unbound()))
}

/// Sum of one histogram over all slots.
fn summed<'a>(mut it: impl Iterator<Item = HistogramSnapshot> + 'a) -> Option<HistogramSnapshot> {
    let mut first = it.next()?;
    for s in it {
        first.merge(&s);
    }
    Some(first)
}

/// The whole `/metrics` page.
pub fn render() -> String {
    let mut w = Writer::new();
    w.family(
        "dittofs_build_info",
        "gauge",
        "Version of the running server.",
    );
    w.sample(
        "dittofs_build_info",
        &[("version", env!("CARGO_PKG_VERSION"))],
        1,
    );
    w.family(
        "dittofs_uptime_seconds",
        "gauge",
        "Seconds since the server started.",
    );
    w.sample("dittofs_uptime_seconds", &[], super::uptime().as_secs_f64());
    render_requests(&mut w);
    render_connections(&mut w);
    render_shards(&mut w);
    render_uploads(&mut w);
    render_meta(&mut w);
    render_rate_limited(&mut w);
    w.finish()
}

fn render_requests(w: &mut Writer) {
    w.family(
        "dittofs_requests_total",
        "counter",
        "Requests answered, by protocol and operation.",
    );
    for p in Protocol::ALL {
        for (op, name) in p.ops().iter().enumerate() {
            let n: u64 = all_cores()
                .map(|c| load(&c.protocols[p.index()].requests[op]))
                .sum();
            if n > 0 || p != Protocol::Smb {
                w.sample(
                    "dittofs_requests_total",
                    &[("protocol", p.name()), ("op", name)],
                    n,
                );
            }
        }
    }
    w.family(
        "dittofs_request_errors_total",
        "counter",
        "Requests answered with an error status, by protocol, operation and status.",
    );
    for p in Protocol::ALL {
        for (op, name) in p.ops().iter().enumerate() {
            for (si, status) in STATUS_NAMES.iter().enumerate().skip(1) {
                let i = op * STATUS_NAMES.len() + si;
                let n: u64 = all_cores()
                    .map(|c| load(&c.protocols[p.index()].errors[i]))
                    .sum();
                if n > 0 {
                    w.sample(
                        "dittofs_request_errors_total",
                        &[("protocol", p.name()), ("op", name), ("status", status)],
                        n,
                    );
                }
            }
        }
    }
    w.family(
        "dittofs_request_duration_seconds",
        "histogram",
        "Time from decoding a request to its encoded reply.",
    );
    for p in Protocol::ALL {
        for (op, name) in p.ops().iter().enumerate() {
            let h = summed(all_cores().map(|c| c.protocols[p.index()].latency[op].snapshot()));
            if let Some(h) = h.filter(|h| h.count() > 0) {
                w.histogram(
                    "dittofs_request_duration_seconds",
                    &[("protocol", p.name()), ("op", name)],
                    &h,
                    1e6,
                );
            }
        }
    }
    for (metric, help, pick) in [
        (
            "dittofs_read_bytes_total",
            "File content bytes returned to clients.",
            (|p: &super::ProtoMetrics| load(&p.read_bytes)) as fn(&super::ProtoMetrics) -> u64,
        ),
        (
            "dittofs_written_bytes_total",
            "File content bytes written by clients.",
            |p: &super::ProtoMetrics| load(&p.written_bytes),
        ),
    ] {
        w.family(metric, "counter", help);
        for p in Protocol::ALL {
            let n: u64 = all_cores().map(|c| pick(&c.protocols[p.index()])).sum();
            w.sample(metric, &[("protocol", p.name())], n);
        }
    }
}

fn render_connections(w: &mut Writer) {
    w.family(
        "dittofs_connections",
        "gauge",
        "Open client connections, by core.",
    );
    for (i, c) in super::per_core().iter().enumerate() {
        w.sample(
            "dittofs_connections",
            &[("core", &i.to_string())],
            load_i(&c.connections),
        );
    }
    w.family(
        "dittofs_connections_accepted_total",
        "counter",
        "Client connections accepted, by core.",
    );
    for (i, c) in super::per_core().iter().enumerate() {
        w.sample(
            "dittofs_connections_accepted_total",
            &[("core", &i.to_string())],
            load(&c.connections_accepted),
        );
    }
}

type ShardCounter = fn(&ShardStats) -> u64;

fn render_shards(w: &mut Writer) {
    let shards = shard_stats::per_core();
    let counters: [(&str, &str, &str, ShardCounter); 7] = [
        (
            "dittofs_cache_hits_total",
            "counter",
            "Read pieces served from a block in the shard's memory.",
            |s| load(&s.cache_hits),
        ),
        (
            "dittofs_cache_misses_total",
            "counter",
            "Read pieces fetched from the block store.",
            |s| load(&s.cache_misses),
        ),
        (
            "dittofs_cache_evictions_total",
            "counter",
            "Clean blocks dropped from the shard's memory cache.",
            |s| load(&s.evictions),
        ),
        (
            "dittofs_cache_dirty_blocks",
            "gauge",
            "Blocks written but not yet in the block store.",
            |s| load_i(&s.dirty_blocks).max(0) as u64,
        ),
        (
            "dittofs_wal_appends_total",
            "counter",
            "WAL records written.",
            |s| load(&s.wal_appends),
        ),
        (
            "dittofs_wal_append_bytes_total",
            "counter",
            "WAL payload bytes written.",
            |s| load(&s.wal_append_bytes),
        ),
        (
            "dittofs_wal_fsyncs_total",
            "counter",
            "Group fdatasyncs of the WAL.",
            |s| load(&s.wal_fsyncs),
        ),
    ];
    for (name, kind, help, pick) in counters {
        w.family(name, kind, help);
        for (i, s) in shards.iter().enumerate() {
            w.sample(name, &[("shard", &i.to_string())], pick(s));
        }
    }
    w.family(
        "dittofs_cache_dirty_bytes",
        "gauge",
        "Bytes of the blocks written but not yet in the block store.",
    );
    for (i, s) in shards.iter().enumerate() {
        w.sample(
            "dittofs_cache_dirty_bytes",
            &[("shard", &i.to_string())],
            load_i(&s.dirty_bytes).max(0) as u64,
        );
    }
    w.family(
        "dittofs_cache_hit_ratio",
        "gauge",
        "cache hits / (hits + misses) since start; 0 before any read.",
    );
    for (i, s) in shards.iter().enumerate() {
        let (h, m) = (load(&s.cache_hits), load(&s.cache_misses));
        let ratio = if h + m == 0 {
            0.0
        } else {
            h as f64 / (h + m) as f64
        };
        w.sample(
            "dittofs_cache_hit_ratio",
            &[("shard", &i.to_string())],
            ratio,
        );
    }
    w.family(
        "dittofs_wal_segments_used",
        "gauge",
        "WAL segments holding records not yet checkpointed (after the last fsync).",
    );
    for (i, s) in shards.iter().enumerate() {
        w.sample(
            "dittofs_wal_segments_used",
            &[("shard", &i.to_string())],
            load_i(&s.wal_segments_used),
        );
    }
    w.family(
        "dittofs_wal_group_commit_batch_records",
        "histogram",
        "Records made durable by one group fdatasync.",
    );
    for (i, s) in shards.iter().enumerate() {
        w.histogram(
            "dittofs_wal_group_commit_batch_records",
            &[("shard", &i.to_string())],
            &s.wal_batch.snapshot(),
            1.0,
        );
    }
    w.family(
        "dittofs_wal_fsync_duration_seconds",
        "histogram",
        "Latency of one group fdatasync of the WAL.",
    );
    for (i, s) in shards.iter().enumerate() {
        w.histogram(
            "dittofs_wal_fsync_duration_seconds",
            &[("shard", &i.to_string())],
            &s.wal_fsync_latency.snapshot(),
            1e6,
        );
    }
}

fn render_uploads(w: &mut Writer) {
    let shards = || {
        shard_stats::per_core()
            .iter()
            .chain(std::iter::once(shard_stats::unbound()))
    };
    w.family(
        "dittofs_uploader_queue_depth",
        "gauge",
        "Block store calls waiting for an uploader thread.",
    );
    let depth = super::gauges().uploader_queue.as_ref().map_or(0, |f| f());
    w.sample("dittofs_uploader_queue_depth", &[], depth);
    w.family(
        "dittofs_upload_duration_seconds",
        "histogram",
        "Latency of one block upload (seal) to the block store.",
    );
    if let Some(h) = summed(shards().map(|s| s.upload_latency.snapshot())) {
        w.histogram("dittofs_upload_duration_seconds", &[], &h, 1e6);
    }
    w.family(
        "dittofs_upload_failures_total",
        "counter",
        "Block uploads that failed (the block stays dirty and is retried).",
    );
    let failures: u64 = shards().map(|s| load(&s.upload_failures)).sum();
    w.sample("dittofs_upload_failures_total", &[], failures);
    w.family(
        "dittofs_upload_retries_total",
        "counter",
        "S3 requests retried after a transient failure.",
    );
    let retries: u64 = all_cores().map(|c| load(&c.upload_retries)).sum();
    w.sample("dittofs_upload_retries_total", &[], retries);
    render_lmdb(w);
}

fn render_lmdb(w: &mut Writer) {
    let (commits, mutations) = crate::meta::lmdb::commit_totals();
    w.family(
        "dittofs_lmdb_commits_total",
        "counter",
        "LMDB write transactions committed (one group commit, one fsync, each).",
    );
    w.sample("dittofs_lmdb_commits_total", &[], commits);
    w.family(
        "dittofs_lmdb_mutations_total",
        "counter",
        "Metadata mutations those LMDB commits carried.",
    );
    w.sample("dittofs_lmdb_mutations_total", &[], mutations);
}

fn render_meta(w: &mut Writer) {
    w.family(
        "dittofs_metadata_op_duration_seconds",
        "histogram",
        "Latency of metadata store calls, by operation.",
    );
    for (i, op) in MetaOp::ALL.iter().enumerate() {
        let h = summed(all_cores().map(|c| c.meta_latency[i].snapshot()));
        if let Some(h) = h.filter(|h| h.count() > 0) {
            w.histogram(
                "dittofs_metadata_op_duration_seconds",
                &[("op", op.name())],
                &h,
                1e6,
            );
        }
    }
}

fn render_rate_limited(w: &mut Writer) {
    w.family(
        "dittofs_rate_limited_total",
        "counter",
        "Requests delayed or refused by the rate limiter, by protocol and who.",
    );
    let mut sum: BTreeMap<(&'static str, &'static str, String), u64> = BTreeMap::new();
    for c in all_cores() {
        if let Ok(table) = c.rate_limited.lock() {
            for ((p, kind, who), n) in table.iter() {
                *sum.entry((p.name(), kind, who.clone())).or_default() += n;
            }
        }
    }
    for ((p, kind, who), n) in sum {
        w.sample(
            "dittofs_rate_limited_total",
            &[("protocol", p), ("kind", kind), ("who", &who)],
            n,
        );
    }
}
