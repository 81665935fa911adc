//! One core's content shard: the file content owned by this core, and its WAL.
//!
//! With a WAL every content change is logged before it is acknowledged:
//! a WRITE is applied to the cache and its record queued (that is enough for
//! UNSTABLE); `flush` (COMMIT, FILE_SYNC/DATA_SYNC writes) waits for a group
//! fdatasync covering everything logged so far; truncate and remove wait for
//! their own record to be durable before deleting objects from the block
//! store. When every WAL segment is in use, the shard seals its dirty blocks
//! into the block store, checkpoints, and only then lets writers go on: writers
//! wait, they never fail for lack of log space. Without a WAL (no data_dir)
//! `flush` seals the file's blocks into the block store, as before.
//!
//! Only the owning core touches a shard. Its cache sits behind an async lock
//! held for each whole operation (block store calls are awaited on the
//! uploader pool meanwhile), so operations of one shard are serialized and a
//! record's sequence number is reserved under the same lock that applies it.

use std::cell::Cell;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_lite::future::BoxedLocal;
use glommio::sync::{RwLock, RwLockWriteGuard};

use crate::block_store::{BlockStore, BlockStoreError};
use crate::cache::{Cache, Deferred};
use crate::uploader::{StoreIo, Uploader};
use crate::wal::{RecordKind, Recovered, Slot, Wal, WalError, WalOptions};

/// Largest file size a shard accepts (2^63 - 1: NFS offsets are unsigned but
/// POSIX `off_t` is signed).
pub const FILE_BYTES_MAX: u64 = i64::MAX as u64;

/// How long a writer waiting for WAL space sleeps between attempts to make space
/// when sealing blocks into the block store fails (store down).
const SPACE_RETRY_MS: u64 = 50;

/// Which file's content: share id and inode id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ContentKey {
    pub share: u32,
    pub ino: u64,
}

impl ContentKey {
    /// Object key of block `index` of this file.
    pub fn block_key(&self, index: u64) -> String {
        format!("{}{}", self.prefix(), index)
    }

    /// Prefix of every object key of this file.
    pub fn prefix(&self) -> String {
        format!("{}/{}/", self.share, self.ino)
    }
}

/// Error of a content operation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContentError {
    #[error("no space for file content")]
    NoSpace,
    #[error("content I/O error: {0}")]
    Io(String),
    #[error("file too large")]
    TooLarge,
    #[error("no block store for share {0}")]
    UnknownShare(u32),
    #[error("owner shard is gone (shutting down)")]
    ShardGone,
}

impl From<BlockStoreError> for ContentError {
    fn from(e: BlockStoreError) -> Self {
        match e {
            BlockStoreError::NoSpace => ContentError::NoSpace,
            e @ (BlockStoreError::NotFound(_)
            | BlockStoreError::Io(_)
            | BlockStoreError::Denied(_)) => ContentError::Io(e.to_string()),
        }
    }
}

impl From<WalError> for ContentError {
    fn from(e: WalError) -> Self {
        match e {
            WalError::NoSpace => ContentError::NoSpace,
            other => ContentError::Io(other.to_string()),
        }
    }
}

/// What the shard asks of the metadata side during recovery.
pub trait BlockIndex {
    /// Whether inode `ino` of `share` still exists.
    fn exists(&self, share: u32, ino: u64) -> BoxedLocal<Result<bool, ContentError>>;
    /// Makes the file at least `size` bytes long (replayed writes past the
    /// size the metadata recorded).
    fn grow_size(&self, share: u32, ino: u64, size: u64) -> BoxedLocal<Result<(), ContentError>>;
}

/// What recovery did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RecoveryReport {
    /// Records replayed into the cache.
    pub replayed: usize,
    /// Records skipped: covered by a checkpoint.
    pub skipped: usize,
    /// Records dropped: their inode no longer exists.
    pub dropped: usize,
    /// Why the log ended early (torn tail, gap), if it did.
    pub stopped: Option<String>,
}

/// The content owned by one core.
pub struct Shard {
    cache: RwLock<Cache>,
    wal: Option<Rc<Wal>>,
    /// A task is sealing blocks to free WAL space.
    making_space: Cell<bool>,
}

impl Shard {
    /// A shard without a WAL serving the given block stores (by share id) with
    /// blocks of `block_bytes`: content is durable once sealed into the store.
    pub fn new(block_stores: Vec<(u32, Arc<dyn BlockStore>)>, block_bytes: u64) -> Shard {
        Shard::with_uploader(block_stores, block_bytes, None)
    }

    /// Like [`Shard::new`], with block store calls on `uploader`'s threads
    /// (inline when `None`).
    pub fn with_uploader(
        block_stores: Vec<(u32, Arc<dyn BlockStore>)>,
        block_bytes: u64,
        uploader: Option<Arc<Uploader>>,
    ) -> Shard {
        Shard {
            cache: RwLock::new(Cache::new(
                block_stores,
                block_bytes,
                StoreIo::new(uploader),
            )),
            wal: None,
            making_space: Cell::new(false),
        }
    }

    /// A shard with a WAL in `wal.dir`. Replays what the log holds (dropping
    /// records of inodes `index` says are gone, growing sizes the replay
    /// extends), seals the replayed content into the block store and starts
    /// the log afresh. Must run before the shard serves anything.
    pub async fn open(
        block_stores: Vec<(u32, Arc<dyn BlockStore>)>,
        block_bytes: u64,
        wal: WalOptions,
        index: &dyn BlockIndex,
        uploader: Option<Arc<Uploader>>,
    ) -> Result<(Shard, RecoveryReport), ContentError> {
        let (wal, recovered) = Wal::open(wal).await?;
        let shard = Shard {
            cache: RwLock::new(Cache::new(
                block_stores,
                block_bytes,
                StoreIo::new(uploader),
            )),
            wal: Some(wal.clone()),
            making_space: Cell::new(false),
        };
        let report = shard.replay(&recovered, index).await?;
        wal.restart(&recovered).await?;
        Ok((shard, report))
    }

    async fn replay(
        &self,
        recovered: &Recovered,
        index: &dyn BlockIndex,
    ) -> Result<RecoveryReport, ContentError> {
        let mut report = RecoveryReport {
            skipped: recovered.skipped,
            stopped: recovered.stopped.clone(),
            ..RecoveryReport::default()
        };
        let mut exists = std::collections::HashMap::new();
        // Per file: end of the replayed content (reset by truncates).
        let mut ends: std::collections::HashMap<ContentKey, u64> = Default::default();
        for record in &recovered.records {
            let h = &record.header;
            let key = ContentKey {
                share: h.share,
                ino: h.ino,
            };
            let alive = match exists.get(&key) {
                Some(&alive) => alive,
                None => {
                    let alive = index.exists(h.share, h.ino).await?;
                    exists.insert(key, alive);
                    alive
                }
            };
            if !alive {
                report.dropped += 1;
                continue;
            }
            let mut cache = self.lock().await?;
            match h.kind {
                RecordKind::Data => {
                    cache.write(key, h.offset, &record.payload, None).await?;
                    let end = h.offset + record.payload.len() as u64;
                    let e = ends.entry(key).or_insert(0);
                    *e = (*e).max(end);
                }
                RecordKind::Truncate => {
                    let deferred = cache.truncate(key, h.offset, None).await?;
                    cache.delete_deferred(deferred).await?;
                    ends.insert(key, h.offset);
                }
                RecordKind::Remove => {
                    let deferred = cache.remove(key).await?;
                    cache.delete_deferred(deferred).await?;
                    ends.remove(&key);
                }
                RecordKind::Checkpoint => continue,
            }
            report.replayed += 1;
        }
        {
            let mut cache = self.lock().await?;
            for key in ends.keys() {
                cache.flush_file(*key).await?;
            }
        }
        for (key, end) in ends {
            index.grow_size(key.share, key.ino, end).await?;
        }
        Ok(report)
    }

    async fn lock(&self) -> Result<RwLockWriteGuard<'_, Cache>, ContentError> {
        self.cache
            .write()
            .await
            .map_err(|_| ContentError::ShardGone)
    }

    /// The WAL of this shard, if any.
    pub fn wal(&self) -> Option<&Rc<Wal>> {
        self.wal.as_ref()
    }

    /// The cache, locked, with a WAL slot for a record of `payload_len` bytes
    /// reserved under that lock; waits (sealing dirty blocks to free segments)
    /// while the log is full.
    async fn lock_and_reserve(
        &self,
        wal: &Wal,
        payload_len: usize,
    ) -> Result<(RwLockWriteGuard<'_, Cache>, Slot), ContentError> {
        loop {
            let cache = self.lock().await?;
            if let Some(slot) = wal.try_reserve(payload_len)? {
                return Ok((cache, slot));
            }
            drop(cache);
            self.make_space(wal).await;
        }
    }

    /// Seals dirty blocks and checkpoints so WAL segments become free. Never
    /// fails: on error it logs, sleeps and lets the caller retry.
    async fn make_space(&self, wal: &Wal) {
        if self.making_space.get() {
            wal.changed().await;
            return;
        }
        self.making_space.set(true);
        let (flushed, lwm) = match self.lock().await {
            Ok(mut cache) => {
                let flushed = cache.flush_dirty().await;
                (
                    flushed,
                    cache.lowest_pin().unwrap_or_else(|| wal.next_seq()),
                )
            }
            Err(e) => (Err(e), 0),
        };
        let freed = match flushed {
            Ok(()) => wal.checkpoint(lwm).await,
            Err(e) => Err(WalError::Io(e.to_string())),
        };
        self.making_space.set(false);
        match freed {
            Ok(n) if n > 0 => {}
            Ok(_) => glommio::timer::sleep(Duration::from_millis(1)).await,
            Err(e) => {
                log::warn!("WAL full and sealing blocks failed ({e}); writers wait");
                glommio::timer::sleep(Duration::from_millis(SPACE_RETRY_MS)).await;
            }
        }
    }

    /// Starts the task that seals the dirty blocks of files idle for
    /// `flush_delay` (so content reaches the block store and WAL space is
    /// freed without waiting for pressure) and then checkpoints the WAL. The
    /// task ends when the shard is dropped.
    pub fn start_idle_sealer(self: &Rc<Self>, flush_delay: Duration) {
        let shard = Rc::downgrade(self);
        let tick = (flush_delay / 2).max(Duration::from_millis(10));
        glommio::spawn_local(async move {
            loop {
                glommio::timer::sleep(tick).await;
                let Some(shard) = shard.upgrade() else {
                    return;
                };
                let sealed = match shard.lock().await {
                    Ok(mut cache) => cache.seal_idle(flush_delay).await,
                    Err(_) => return,
                };
                match sealed {
                    Ok(0) => continue,
                    Ok(_) => {}
                    Err(e) => {
                        log::debug!("idle sealing failed (retried): {e}");
                        continue;
                    }
                }
                if let Some(wal) = shard.wal.clone() {
                    let lwm = match shard.lock().await {
                        Ok(cache) => cache.lowest_pin().unwrap_or_else(|| wal.next_seq()),
                        Err(_) => return,
                    };
                    if let Err(e) = wal.checkpoint(lwm).await {
                        log::warn!("WAL checkpoint failed: {e}");
                    }
                }
            }
        })
        .detach();
    }

    /// Reads exactly `len` bytes at `offset`; holes read as zeros.
    pub async fn read(
        &self,
        key: ContentKey,
        offset: u64,
        len: u32,
    ) -> Result<Bytes, ContentError> {
        self.lock().await?.read(key, offset, len).await
    }

    /// Writes `data` at `offset`. Returns once the data is in the cache and its
    /// log record is queued (UNSTABLE); call [`Shard::flush`] for stability.
    pub async fn write(
        &self,
        key: ContentKey,
        offset: u64,
        data: Bytes,
    ) -> Result<(), ContentError> {
        let Some(wal) = self.wal.clone() else {
            return self.lock().await?.write(key, offset, &data, None).await;
        };
        if offset
            .checked_add(data.len() as u64)
            .is_none_or(|end| end > FILE_BYTES_MAX)
        {
            return Err(ContentError::TooLarge);
        }
        self.lock().await?.store(key.share)?;
        // A write larger than a segment can hold goes into several records.
        let step = wal.payload_bytes_max().max(1);
        let mut done = 0usize;
        while done < data.len() || data.is_empty() {
            let piece = data.slice(done..(done + step).min(data.len()));
            let at = offset + done as u64;
            // Reserved and applied under one lock: log order is cache order.
            let (mut cache, slot) = self.lock_and_reserve(&wal, piece.len()).await?;
            let seq = slot.seq;
            let applied = cache.write(key, at, &piece, Some(seq)).await;
            drop(cache);
            let wal = wal.clone();
            done += piece.len();
            glommio::spawn_local(async move {
                // An error is remembered by the WAL and fails every later sync.
                let _ = wal
                    .write(slot, RecordKind::Data, key.share, key.ino, at, &piece)
                    .await;
            })
            .detach();
            applied?;
            if data.is_empty() {
                break;
            }
        }
        Ok(())
    }

    /// Cuts the content to `size` bytes; durable when it returns.
    pub async fn truncate(&self, key: ContentKey, size: u64) -> Result<(), ContentError> {
        if size > FILE_BYTES_MAX {
            return Err(ContentError::TooLarge);
        }
        let Some(wal) = self.wal.clone() else {
            let mut cache = self.lock().await?;
            let deferred = cache.truncate(key, size, None).await?;
            return cache.delete_deferred(deferred).await;
        };
        self.lock().await?.store(key.share)?;
        let (mut cache, slot) = self.lock_and_reserve(&wal, 0).await?;
        let seq = slot.seq;
        let deferred = cache.truncate(key, size, Some(seq)).await;
        if deferred.is_ok() {
            // Pinned until the deletes are done (see logged_delete).
            cache.pin(seq);
        }
        drop(cache);
        self.logged_delete(&wal, slot, RecordKind::Truncate, key, size, deferred)
            .await
    }

    /// Drops all content of the file: its last link is gone, and that is already durable
    /// in the metadata store.
    pub async fn remove(&self, key: ContentKey) -> Result<(), ContentError> {
        // No WAL record: the fs core calls this only after the metadata store made the
        // removal durable, and recovery drops every record of an inode the metadata no
        // longer has, so a logged Remove would buy nothing but an fdatasync per unlink.
        // Dirty blocks of the file are unpinned, so checkpoints may pass their records.
        let mut cache = self.lock().await?;
        let deferred = cache.remove(key).await?;
        cache.delete_deferred(deferred).await
    }

    /// Writes the record of a truncate/remove, waits until it is durable, then
    /// deletes the objects it made obsolete. The record stays pinned until then,
    /// so a checkpoint cannot pass it while the old objects still exist.
    async fn logged_delete(
        &self,
        wal: &Wal,
        slot: Slot,
        kind: RecordKind,
        key: ContentKey,
        offset: u64,
        deferred: Result<Deferred, ContentError>,
    ) -> Result<(), ContentError> {
        let seq = slot.seq;
        let pinned = deferred.is_ok();
        let written = wal.write(slot, kind, key.share, key.ino, offset, &[]).await;
        let result = match (written, deferred) {
            (Err(e), _) => Err(e.into()),
            (Ok(()), Err(e)) => Err(e),
            (Ok(()), Ok(deferred)) => match wal.sync_to(seq).await {
                Ok(()) => match self.lock().await {
                    Ok(mut cache) => cache.delete_deferred(deferred).await,
                    Err(e) => Err(e),
                },
                Err(e) => Err(e.into()),
            },
        };
        if pinned {
            if let Ok(mut cache) = self.lock().await {
                cache.unpin(seq);
            }
        }
        result
    }

    /// Clean stop (SIGTERM): makes the WAL durable, seals every dirty block
    /// into the block store (retrying until `wait` has passed, so a slow store
    /// cannot hold the stop forever) and checkpoints the WAL, so the next start
    /// replays nothing. Whatever could not be sealed stays in the synced WAL and
    /// is replayed then. Returns whether everything was sealed.
    pub async fn stop_cleanly(&self, wait: Duration) -> Result<bool, ContentError> {
        if let Some(wal) = &self.wal {
            wal.sync_all().await?;
        }
        let deadline = std::time::Instant::now() + wait;
        let pin = loop {
            let mut cache = self.lock().await?;
            let flushed = cache.flush_dirty().await;
            if let Err(e) = &flushed {
                log::warn!("sealing dirty blocks at stop failed: {e}");
            }
            let pin = cache.lowest_pin();
            let clean = pin.is_none() && flushed.is_ok();
            drop(cache);
            if clean || std::time::Instant::now() >= deadline {
                break pin;
            }
            glommio::timer::sleep(Duration::from_millis(20)).await;
        };
        if let Some(wal) = &self.wal {
            wal.checkpoint_at_stop(pin.unwrap_or_else(|| wal.next_seq()))
                .await?;
        }
        Ok(pin.is_none())
    }

    /// Makes all content written to `key` stable: with a WAL, a group
    /// fdatasync of the log; without one, sealing the file's blocks.
    pub async fn flush(&self, key: ContentKey) -> Result<(), ContentError> {
        match &self.wal {
            Some(wal) => Ok(wal.sync_all().await?),
            None => self.lock().await?.flush_file(key).await,
        }
    }
}
