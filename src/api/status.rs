//! `/api/v1/status` and the store probes behind it and `/ready`.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use dittofs_shards::BlockStore;
use serde_json::{json, Value};

use super::ApiContext;
use crate::meta::MetadataStore;

/// A named store and how to check that it answers.
pub struct StoreProbe {
    /// "metadata" or "block".
    pub kind: &'static str,
    pub name: String,
    check: Box<dyn Fn() -> Result<(), String> + Send + Sync>,
}

impl StoreProbe {
    /// A metadata store answers `stat` (run here, on the API thread).
    pub fn metadata(name: &str, store: Arc<dyn MetadataStore>) -> StoreProbe {
        StoreProbe {
            kind: "metadata",
            name: name.to_owned(),
            check: Box::new(move || {
                futures_lite::future::block_on(store.stat())
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            }),
        }
    }

    /// A block store answers a listing of a prefix that holds nothing.
    pub fn block(name: &str, store: Arc<dyn BlockStore>) -> StoreProbe {
        StoreProbe {
            kind: "block",
            name: name.to_owned(),
            check: Box::new(move || {
                store
                    .list("dittofs-health-probe/")
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            }),
        }
    }

    /// A probe with a custom check (tests).
    pub fn custom(
        kind: &'static str,
        name: &str,
        check: impl Fn() -> Result<(), String> + Send + Sync + 'static,
    ) -> StoreProbe {
        StoreProbe {
            kind,
            name: name.to_owned(),
            check: Box::new(check),
        }
    }

    pub fn check(&self) -> Result<(), String> {
        (self.check)()
    }
}

/// Metadata stores that fail their probe, as `"name: error"`.
pub fn failing_metadata(ctx: &ApiContext) -> Vec<String> {
    ctx.stores
        .iter()
        .filter(|p| p.kind == "metadata")
        .filter_map(|p| p.check().err().map(|e| format!("{}: {e}", p.name)))
        .collect()
}

/// The status page.
pub fn status(ctx: &ApiContext) -> Value {
    let totals = crate::metrics::totals();
    let gauges = crate::metrics::gauges();
    let shards: Vec<Value> = dittofs_shards::stats::per_core()
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let dirty = s.dirty_blocks.load(Ordering::Relaxed).max(0) as u64;
            json!({
                "shard": i,
                "cache": {
                    "hits": s.cache_hits.load(Ordering::Relaxed),
                    "misses": s.cache_misses.load(Ordering::Relaxed),
                    "dirty_blocks": dirty,
                    "dirty_bytes_max": dirty * gauges.block_bytes,
                    "evictions": s.evictions.load(Ordering::Relaxed),
                },
                "wal": {
                    "appends": s.wal_appends.load(Ordering::Relaxed),
                    "fsyncs": s.wal_fsyncs.load(Ordering::Relaxed),
                    "segments_used": s.wal_segments_used.load(Ordering::Relaxed),
                    "segments": ctx.config.wal.segments_per_core,
                },
            })
        })
        .collect();
    let stores: Vec<Value> = ctx
        .stores
        .iter()
        .map(|p| {
            let result = p.check();
            json!({
                "kind": p.kind,
                "name": p.name,
                "healthy": result.is_ok(),
                "error": result.err(),
            })
        })
        .collect();
    json!({
        "version": env!("CARGO_PKG_VERSION"),
        "uptime_seconds": crate::metrics::uptime().as_secs(),
        "ready": ctx.readiness.is_ready(),
        "cores": ctx.cores,
        "connections_per_core": totals.connections_per_core,
        "requests": totals.requests,
        "errors": totals.errors,
        "read_bytes": totals.read_bytes,
        "written_bytes": totals.written_bytes,
        "uploader_backlog": gauges.uploader_queue.as_ref().map_or(0, |f| f()),
        "shards": shards,
        "stores": stores,
    })
}
