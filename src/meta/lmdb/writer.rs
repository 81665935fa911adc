//! The single writer thread: group commit and map growth.
//!
//! LMDB allows one write transaction at a time and every commit costs an
//! fsync. So every mutation is a job sent to this thread; it takes everything
//! queued (up to [`BATCH_OPS_MAX`]), runs each job in a child transaction of
//! one write transaction — a job that fails (`Exists`, `NotEmpty`, ...) aborts
//! only its child, the others stay — commits once, and only then answers every
//! job of the batch. No caller hears "done" before its change is durable, and
//! N concurrent mutations cost one fsync instead of N.
//!
//! When the map is full (`MDB_MAP_FULL`) the batch is aborted, the map doubled
//! (up to the configured maximum) and the batch rerun; jobs are `FnMut` and
//! only touch the transaction, so a rerun is exact. Past the maximum, or when
//! the disk is full, every job of the batch fails with `NoSpace`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError};

use crossbeam_channel::Receiver;
use futures_channel::oneshot;
use heed::RwTxn;

use super::txn::{heed_to_meta, OpError, OpResult};
use super::Shared;
use crate::meta::{MetaError, MetaResult};

/// Most jobs committed together.
pub const BATCH_OPS_MAX: usize = 1024;

/// Commits and mutations of every LMDB store of the process (the metrics
/// endpoint shows them as `dittofs_lmdb_commits_total` and
/// `dittofs_lmdb_mutations_total`: their ratio is the group-commit batch size).
static COMMITS_TOTAL: AtomicU64 = AtomicU64::new(0);
static MUTATIONS_TOTAL: AtomicU64 = AtomicU64::new(0);

/// `(commits, mutations)` of every LMDB store of the process so far.
pub fn totals() -> (u64, u64) {
    (
        COMMITS_TOTAL.load(Ordering::Relaxed),
        MUTATIONS_TOTAL.load(Ordering::Relaxed),
    )
}

/// One queued mutation, type-erased for the channel.
pub trait Job: Send {
    /// Runs the op on `txn` in a child transaction and keeps its outcome.
    /// `Err` only for a failure that must abort the whole batch (map full,
    /// broken transaction).
    fn run(&mut self, shared: &Shared, txn: &mut RwTxn<'_>) -> Result<(), OpError>;
    /// Sends the outcome (or the batch's commit failure) to the caller.
    fn finish(self: Box<Self>, commit: &MetaResult<()>);
}

/// A job producing a `T`.
pub struct TypedJob<T, F> {
    pub op: F,
    pub outcome: Option<MetaResult<T>>,
    pub reply: Option<oneshot::Sender<MetaResult<T>>>,
}

impl<T, F> Job for TypedJob<T, F>
where
    T: Send,
    F: FnMut(&Shared, &mut RwTxn<'_>) -> OpResult<T> + Send,
{
    fn run(&mut self, shared: &Shared, txn: &mut RwTxn<'_>) -> Result<(), OpError> {
        let mut child = shared.env.nested_write_txn(txn)?;
        match (self.op)(shared, &mut child) {
            Ok(value) => {
                child.commit()?;
                self.outcome = Some(Ok(value));
            }
            Err(OpError::Meta(e)) => {
                child.abort();
                self.outcome = Some(Err(e));
            }
            Err(fatal) => {
                child.abort();
                return Err(fatal);
            }
        }
        Ok(())
    }

    fn finish(mut self: Box<Self>, commit: &MetaResult<()>) {
        let result = match commit {
            Ok(()) => self
                .outcome
                .take()
                .unwrap_or_else(|| Err(MetaError::Backend("lmdb job was not run".into()))),
            Err(e) => Err(e.clone()),
        };
        if let Some(reply) = self.reply.take() {
            // The caller may have gone away (connection closed): nothing to do.
            let _ = reply.send(result);
        }
    }
}

/// The writer thread's loop: returns when every sender is gone.
pub fn run(shared: Arc<Shared>, rx: Receiver<Box<dyn Job>>) {
    while let Ok(first) = rx.recv() {
        let mut batch = Vec::with_capacity(16);
        batch.push(first);
        batch.extend(rx.try_iter().take(BATCH_OPS_MAX - 1));
        let result = commit_batch(&shared, &mut batch);
        shared.stats.commits.fetch_add(1, Ordering::Relaxed);
        COMMITS_TOTAL.fetch_add(1, Ordering::Relaxed);
        MUTATIONS_TOTAL.fetch_add(batch.len() as u64, Ordering::Relaxed);
        shared
            .stats
            .ops
            .fetch_add(batch.len() as u64, Ordering::Relaxed);
        if let Err(e) = &result {
            log::error!("lmdb: commit of {} operations failed: {e}", batch.len());
        }
        for job in batch {
            job.finish(&result);
        }
    }
}

/// Runs every job in one write transaction and commits it, growing the map
/// and rerunning as needed.
fn commit_batch(shared: &Shared, batch: &mut [Box<dyn Job>]) -> MetaResult<()> {
    loop {
        let mut txn = shared.env.write_txn().map_err(|e| heed_to_meta(&e))?;
        let mut failure = None;
        for job in batch.iter_mut() {
            if let Err(e) = job.run(shared, &mut txn) {
                failure = Some(e);
                break;
            }
        }
        let failure = match failure {
            Some(f) => {
                txn.abort();
                f
            }
            None => match txn.commit() {
                Ok(()) => return Ok(()),
                Err(e) => OpError::from(e),
            },
        };
        match failure {
            OpError::MapFull => grow(shared)?,
            other => return Err(other.into_meta()),
        }
    }
}

/// Doubles the map size (up to the maximum); `NoSpace` when it cannot grow.
fn grow(shared: &Shared) -> MetaResult<()> {
    let current = shared.env.info().map_size;
    let next = current.saturating_mul(2).min(shared.map_size_max_bytes);
    if next <= current {
        log::error!("lmdb: map is full at its maximum of {current} bytes");
        return Err(MetaError::NoSpace);
    }
    // Readers hold this lock shared for the life of their read transactions;
    // taking it exclusively waits until none is open and keeps new ones out.
    let _readers_excluded = shared
        .resize_lock
        .write()
        .unwrap_or_else(PoisonError::into_inner);
    // SAFETY: `mdb_env_set_mapsize` needs no active transaction in this process.
    // The only write transaction lives on this thread and was aborted (or its
    // commit failed, which frees it) before we got here; every read transaction
    // is opened and closed while holding `resize_lock` shared (`Shared::read`),
    // and we hold it exclusively, so none is open. Other processes do not open
    // this environment while the server runs (offline fsck only).
    unsafe { shared.env.resize(next) }.map_err(|e| heed_to_meta(&e))?;
    log::info!("lmdb: map grown from {current} to {next} bytes");
    Ok(())
}
