//! The uploader: block store calls run here, never on a data core.
//!
//! Block stores are blocking (a local directory with fsync, an S3 client), and a
//! data core that blocks stalls every connection and shard on it. So the shards
//! hand each block store call (seal = put, read-back = ranged get, delete, list)
//! to a small pool of plain threads over a crossbeam channel and await the
//! answer on a futures oneshot; the pool size bounds the parallel uploads of the
//! whole process. Without a pool (tests, the fs core's unit tests) the calls
//! run inline.

use std::sync::Arc;
use std::thread::JoinHandle;

use crossbeam_channel::{Receiver, Sender};
use futures_channel::oneshot;

use crate::block_store::BlockStoreError;
use crate::shard::ContentError;

type Job = Box<dyn FnOnce() + Send>;

/// A pool of threads doing blocking block store calls.
pub struct Uploader {
    jobs: Sender<Job>,
    threads: Vec<JoinHandle<()>>,
}

impl Uploader {
    /// Starts `threads` worker threads (at least one).
    pub fn start(threads: usize) -> std::io::Result<Arc<Uploader>> {
        let (jobs, rx): (Sender<Job>, Receiver<Job>) = crossbeam_channel::unbounded();
        let mut handles = Vec::new();
        for n in 0..threads.max(1) {
            let rx = rx.clone();
            handles.push(
                std::thread::Builder::new()
                    .name(format!("dittofs-upload-{n}"))
                    .spawn(move || {
                        while let Ok(job) = rx.recv() {
                            job();
                        }
                    })?,
            );
        }
        Ok(Arc::new(Uploader {
            jobs,
            threads: handles,
        }))
    }

    /// Number of worker threads.
    pub fn threads(&self) -> usize {
        self.threads.len()
    }

    /// Jobs waiting for a worker (the upload backlog, for metrics).
    pub fn queue_len(&self) -> usize {
        self.jobs.len()
    }

    /// Runs `f` on a worker and returns its result.
    pub async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, ContentError> {
        let (tx, rx) = oneshot::channel();
        self.jobs
            .send(Box::new(move || {
                let _ = tx.send(f());
            }))
            .map_err(|_| ContentError::ShardGone)?;
        rx.await.map_err(|_| ContentError::ShardGone)
    }
}

/// How a shard reaches its block stores: through the uploader, or inline.
#[derive(Clone, Default)]
pub(crate) struct StoreIo {
    pool: Option<Arc<Uploader>>,
}

impl StoreIo {
    pub(crate) fn new(pool: Option<Arc<Uploader>>) -> StoreIo {
        StoreIo { pool }
    }

    /// Runs one block store call.
    pub(crate) async fn call<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> Result<T, BlockStoreError> + Send + 'static,
    ) -> Result<T, ContentError> {
        match &self.pool {
            None => Ok(f()?),
            Some(pool) => Ok(pool.run(f).await??),
        }
    }
}
