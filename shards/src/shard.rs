//! One core's content shard: the file content owned by this core, and its WAL.
//!
//! With a WAL every content change is logged before it is acknowledged:
//! a WRITE is applied to the cache and its record queued (that is enough for
//! UNSTABLE); `flush` (COMMIT, FILE_SYNC/DATA_SYNC writes) waits for a group
//! fdatasync covering everything logged so far (and, for a share with
//! `durability = "remote"`, until every dirty block of the file is uploaded
//! and recorded in the block map); truncate and remove wait for their own
//! record to be durable before dropping block map entries and deleting
//! objects. When every WAL segment is in use, the shard seals its dirty
//! blocks, waits for uploads to release their pins, checkpoints, and only
//! then lets writers go on: writers wait, they never fail for lack of log
//! space. The same holds for memory: while open and uploading blocks exceed
//! the shard's budget, writers wait for uploads. Without a WAL (no data_dir)
//! `flush` waits until the file's blocks are uploaded.
//!
//! Only the owning core touches a shard. Its cache sits behind an async lock;
//! a record's sequence number is reserved under the same lock that applies
//! it, so log order is cache order. Uploads (`cache/seal.rs`) and reads from
//! the block store run without the lock.

use std::cell::{Cell, RefCell};
use std::collections::HashSet;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use glommio::sync::{RwLock, RwLockWriteGuard};

use crate::block_index::{BlockIndex, MemoryBlockIndex};
use crate::block_store::{BlockStore, BlockStoreError};
use crate::cache::seal::pump;
use crate::cache::{Cache, CacheStats, Deferred, Fetch, ReadPlan};
use crate::uploader::{StoreIo, Uploader};
use crate::wal::{RecordKind, Recovered, Slot, Wal, WalError, WalOptions};

/// Largest file size a shard accepts (2^63 - 1: NFS offsets are unsigned but
/// POSIX `off_t` is signed).
pub const FILE_BYTES_MAX: u64 = i64::MAX as u64;

/// How long a writer waiting for WAL space sleeps between attempts to make space
/// when sealing blocks into the block store fails (store down).
const SPACE_RETRY_MS: u64 = 50;

/// Default memory budget of a shard (`cache.shard_bytes_max`).
pub const SHARD_BYTES_MAX_DEFAULT: u64 = 1 << 30;

/// Default read-ahead of a sequential reader, in blocks (`cache.read_ahead_blocks`).
pub const READ_AHEAD_BLOCKS_DEFAULT: u64 = 2;

/// Uploads one shard runs at once (the uploader pool bounds the process).
pub const UPLOADS_IN_FLIGHT_MAX: usize = 8;

/// Where COMMIT waits for content of a share.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// In the WAL on local disk (fdatasync).
    #[default]
    Local,
    /// Also uploaded into the block store and recorded in the block map.
    Remote,
}

/// Tunables of a shard's cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardOptions {
    /// Memory budget: open + uploading blocks (writers wait beyond it) and
    /// clean blocks (evicted beyond it).
    pub shard_bytes_max: u64,
    /// Blocks fetched ahead of a sequential reader; 0 disables read-ahead.
    pub read_ahead_blocks: u64,
    /// Shares with `durability = "remote"`.
    pub remote_shares: Vec<u32>,
}

impl Default for ShardOptions {
    fn default() -> Self {
        ShardOptions {
            shard_bytes_max: SHARD_BYTES_MAX_DEFAULT,
            read_ahead_blocks: READ_AHEAD_BLOCKS_DEFAULT,
            remote_shares: Vec::new(),
        }
    }
}

/// Which file's content: share id and inode id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ContentKey {
    pub share: u32,
    pub ino: u64,
}

impl ContentKey {
    /// Object key of generation `generation` of block `index` of this file.
    pub fn object_key(&self, index: u64, generation: u64) -> String {
        crate::cache::object_key(*self, index, generation)
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
    pub(crate) cache: Rc<RwLock<Cache>>,
    pub(crate) wal: Option<Rc<Wal>>,
    /// A task is sealing blocks to free WAL space.
    making_space: Cell<bool>,
    /// Shares with `durability = "remote"`.
    remote: RefCell<HashSet<u32>>,
}

impl Shard {
    /// A shard without a WAL serving the given block stores (by share id) with
    /// blocks of `block_bytes`: content is durable once sealed into the store.
    /// Its block map lives in memory.
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
        Shard::with_index(
            block_stores,
            block_bytes,
            uploader,
            Rc::new(MemoryBlockIndex::new()),
        )
    }

    /// A shard without a WAL whose block maps live in `index`.
    pub fn with_index(
        block_stores: Vec<(u32, Arc<dyn BlockStore>)>,
        block_bytes: u64,
        uploader: Option<Arc<Uploader>>,
        index: Rc<dyn BlockIndex>,
    ) -> Shard {
        Shard {
            cache: Rc::new(RwLock::new(Cache::new(
                block_stores,
                block_bytes,
                StoreIo::new(uploader),
                index,
            ))),
            wal: None,
            making_space: Cell::new(false),
            remote: RefCell::new(HashSet::new()),
        }
    }

    /// A shard with a WAL in `wal.dir`. Replays what the log holds (dropping
    /// records of inodes `index` says are gone, growing sizes the replay
    /// extends), uploads the replayed content into the block store and
    /// records it in the block maps, and starts the log afresh. Must run
    /// before the shard serves anything.
    pub async fn open(
        block_stores: Vec<(u32, Arc<dyn BlockStore>)>,
        block_bytes: u64,
        wal: WalOptions,
        index: Rc<dyn BlockIndex>,
        uploader: Option<Arc<Uploader>>,
    ) -> Result<(Shard, RecoveryReport), ContentError> {
        let (wal, recovered) = Wal::open(wal).await?;
        let mut shard = Shard::with_index(block_stores, block_bytes, uploader, index.clone());
        shard.wal = Some(wal.clone());
        let report = shard.replay(&recovered, index.as_ref()).await?;
        wal.restart(&recovered).await?;
        Ok((shard, report))
    }

    /// Applies the cache options (budget, read-ahead, remote shares).
    pub async fn configure(&self, options: &ShardOptions) -> Result<(), ContentError> {
        let mut cache = self.lock().await?;
        cache.budget_bytes = options.shard_bytes_max.max(cache.block_bytes);
        cache.read_ahead_blocks = options.read_ahead_blocks;
        *self.remote.borrow_mut() = options.remote_shares.iter().copied().collect();
        cache.evict();
        Ok(())
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
            match h.kind {
                RecordKind::Data => {
                    let mut cache = self.lock().await?;
                    cache.write(key, h.offset, &record.payload, None).await?;
                    pump(&self.cache, &mut cache);
                    let end = h.offset + record.payload.len() as u64;
                    let e = ends.entry(key).or_insert(0);
                    *e = (*e).max(end);
                }
                RecordKind::Truncate => {
                    let deferred = self.lock().await?.truncate(key, h.offset, None).await?;
                    self.drop_and_delete(deferred).await?;
                    ends.insert(key, h.offset);
                }
                RecordKind::Remove => {
                    let deferred = self.lock().await?.remove(key).await?;
                    self.drop_and_delete(deferred).await?;
                    ends.remove(&key);
                }
                RecordKind::Checkpoint => continue,
            }
            report.replayed += 1;
        }
        for key in ends.keys() {
            self.wait_uploaded(*key, false).await?;
        }
        for (key, end) in ends {
            index.grow_size(key.share, key.ino, end).await?;
        }
        Ok(report)
    }

    pub(crate) async fn lock(&self) -> Result<RwLockWriteGuard<'_, Cache>, ContentError> {
        self.cache
            .write()
            .await
            .map_err(|_| ContentError::ShardGone)
    }

    /// The WAL of this shard, if any.
    pub fn wal(&self) -> Option<&Rc<Wal>> {
        self.wal.as_ref()
    }

    /// Counters of the cache (tests, logs).
    pub async fn stats(&self) -> Result<CacheStats, ContentError> {
        Ok(self.lock().await?.stats)
    }

    /// Bytes held (open and uploading blocks) and clean (evictable).
    pub async fn memory(&self) -> Result<(u64, u64), ContentError> {
        let cache = self.lock().await?;
        Ok((cache.held_bytes, cache.clean_bytes))
    }

    /// Seals every dirty block and waits until all uploads are recorded
    /// (tests; a failing store makes it return the error).
    pub async fn drain(&self) -> Result<(), ContentError> {
        loop {
            let mut cache = self.lock().await?;
            if cache.idle() {
                return Ok(());
            }
            if let Some(e) = cache.files.values_mut().find_map(|f| f.failed.take()) {
                return Err(e);
            }
            cache.request_seal_all();
            pump(&self.cache, &mut cache);
            let (changed, epoch) = (cache.changed.clone(), cache.changed.epoch());
            drop(cache);
            changed.wait_ms(epoch, SPACE_RETRY_MS).await;
        }
    }

    /// The cache, locked, once open and uploading blocks fit the memory
    /// budget (writers wait for uploads beyond it: replies are delayed,
    /// never failed).
    async fn lock_with_room(&self) -> Result<RwLockWriteGuard<'_, Cache>, ContentError> {
        loop {
            let mut cache = self.lock().await?;
            if cache.held_bytes < cache.budget_bytes {
                return Ok(cache);
            }
            cache.request_seal_all();
            pump(&self.cache, &mut cache);
            let (changed, epoch) = (cache.changed.clone(), cache.changed.epoch());
            drop(cache);
            changed.wait_ms(epoch, SPACE_RETRY_MS).await;
        }
    }

    /// The cache, locked, with a WAL slot for a record of `payload_len` bytes
    /// reserved under that lock; waits while memory is over budget or the
    /// log is full.
    async fn lock_and_reserve(
        &self,
        wal: &Wal,
        payload_len: usize,
    ) -> Result<(RwLockWriteGuard<'_, Cache>, Slot), ContentError> {
        loop {
            let cache = self.lock_with_room().await?;
            if let Some(slot) = wal.try_reserve(payload_len)? {
                return Ok((cache, slot));
            }
            drop(cache);
            self.make_space(wal).await;
        }
    }

    /// Seals dirty blocks, waits for uploads to release pins and checkpoints
    /// so WAL segments become free. Never fails: on error it logs, sleeps and
    /// lets the caller retry.
    async fn make_space(&self, wal: &Wal) {
        if self.making_space.get() {
            wal.changed().await;
            return;
        }
        self.making_space.set(true);
        let waited = match self.lock().await {
            Ok(mut cache) => {
                let failures = cache.failures;
                let busy = cache.request_seal_all() > 0 || cache.uploads > 0;
                pump(&self.cache, &mut cache);
                let (changed, epoch) = (cache.changed.clone(), cache.changed.epoch());
                drop(cache);
                if busy {
                    changed.wait_ms(epoch, SPACE_RETRY_MS).await;
                }
                Ok(failures)
            }
            Err(e) => Err(e),
        };
        let freed = match waited {
            Ok(failures) => match self.lock().await {
                Ok(cache) => {
                    let failed = cache.failures != failures;
                    let lwm = cache.lowest_pin().unwrap_or_else(|| wal.next_seq());
                    drop(cache);
                    match wal.checkpoint(lwm).await {
                        Ok(0) if failed => Err(WalError::Io("uploads failed".into())),
                        other => other,
                    }
                }
                Err(e) => Err(WalError::Io(e.to_string())),
            },
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

    /// Waits until `key` has no dirty block and no upload running (sealing
    /// what is dirty). `keep_trying`: a failing store makes it wait (remote
    /// durability: the WAL already holds the data); otherwise the failure is
    /// returned.
    async fn wait_uploaded(&self, key: ContentKey, keep_trying: bool) -> Result<(), ContentError> {
        let mut first = true;
        loop {
            let mut cache = self.lock().await?;
            let (busy, failed) = cache.file_busy(key);
            if !busy {
                return Ok(());
            }
            if let (Some(e), false, false) = (failed, keep_trying, first) {
                return Err(e);
            }
            first = false;
            cache.request_seal_file(key);
            pump(&self.cache, &mut cache);
            let (changed, epoch) = (cache.changed.clone(), cache.changed.epoch());
            drop(cache);
            changed.wait_ms(epoch, SPACE_RETRY_MS).await;
        }
    }

    /// Reads exactly `len` bytes at `offset`; holes read as zeros.
    pub async fn read(
        &self,
        key: ContentKey,
        offset: u64,
        len: u32,
    ) -> Result<Bytes, ContentError> {
        let mut attempt = 0;
        loop {
            let plan = {
                let mut cache = self.lock().await?;
                cache.load_file(key).await?;
                cache.plan_read(key, offset, len)?
            };
            match self.run_read(key, plan).await {
                Err(ReadError::Gone(object)) if attempt < 4 => {
                    // Superseded and deleted since planned: plan again.
                    log::debug!("object {object} vanished under a read; retrying");
                    attempt += 1;
                }
                Err(ReadError::Gone(object)) => {
                    return Err(ContentError::Io(format!("object {object} not found")))
                }
                Err(ReadError::Other(e)) => return Err(e),
                Ok(data) => return Ok(data),
            }
        }
    }

    /// Executes a read plan without the lock.
    async fn run_read(&self, key: ContentKey, plan: ReadPlan) -> Result<Bytes, ReadError> {
        let io = self.lock().await?.io.clone();
        for fetch in plan.ahead {
            glommio::spawn_local(prefetch(
                Rc::downgrade(&self.cache),
                io.clone(),
                plan.store.clone(),
                key,
                fetch,
            ))
            .detach();
        }
        let mut parts: Vec<Bytes> = Vec::new();
        let mut total = 0usize;
        for part in plan.parts {
            let bytes = match part {
                crate::cache::read::Part::Data(b) => b,
                crate::cache::read::Part::Zeros(0) => continue,
                crate::cache::read::Part::Zeros(n) => Bytes::from(vec![0u8; n]),
                crate::cache::read::Part::Fetch(f) => {
                    let (range_at, range_len) = if f.whole {
                        (0, u64::MAX)
                    } else {
                        (f.inner, f.len as u64)
                    };
                    let data = get(&io, &plan.store, &f.object, range_at, range_len).await?;
                    let piece = if f.whole {
                        let at = (f.inner as usize).min(data.len());
                        let piece = data.slice(at..(at + f.len).min(data.len()));
                        self.lock().await?.fill(key, f.index, f.generation, data);
                        piece
                    } else {
                        data.slice(..f.len.min(data.len()))
                    };
                    if piece.len() < f.len {
                        let mut padded = BytesMut::with_capacity(f.len);
                        padded.extend_from_slice(&piece);
                        padded.resize(f.len, 0);
                        padded.freeze()
                    } else {
                        piece
                    }
                }
            };
            total += bytes.len();
            parts.push(bytes);
        }
        match parts.len() {
            0 => Ok(Bytes::new()),
            1 => Ok(parts.pop().unwrap_or_default()),
            _ => {
                let mut out = BytesMut::with_capacity(total);
                for p in parts {
                    out.extend_from_slice(&p);
                }
                Ok(out.freeze())
            }
        }
    }

    /// Fetches the blocks a partial write needs before taking the lock for it.
    async fn preload(&self, key: ContentKey, offset: u64, len: u64) -> Result<(), ContentError> {
        let (fetches, io, store) = {
            let mut cache = self.lock().await?;
            cache.load_file(key).await?;
            let fetches = cache.needs_load(key, offset, len);
            cache.stats.store_reads += fetches.len() as u64;
            (fetches, cache.io.clone(), cache.store(key.share)?)
        };
        for f in fetches {
            if let Ok(data) = get(&io, &store, &f.object, 0, u64::MAX).await {
                self.lock().await?.fill(key, f.index, f.generation, data);
            }
        }
        Ok(())
    }

    /// Writes `data` at `offset`. Returns once the data is in the cache and its
    /// log record is queued (UNSTABLE); call [`Shard::flush`] for stability.
    pub async fn write(
        &self,
        key: ContentKey,
        offset: u64,
        data: Bytes,
    ) -> Result<(), ContentError> {
        if offset
            .checked_add(data.len() as u64)
            .is_none_or(|end| end > FILE_BYTES_MAX)
        {
            return Err(ContentError::TooLarge);
        }
        self.lock().await?.store(key.share)?;
        self.preload(key, offset, data.len() as u64).await?;
        let Some(wal) = self.wal.clone() else {
            let mut cache = self.lock_with_room().await?;
            let written = cache.write(key, offset, &data, None).await;
            pump(&self.cache, &mut cache);
            return written;
        };
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
            pump(&self.cache, &mut cache);
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
            let deferred = self.lock().await?.truncate(key, size, None).await?;
            return self.drop_and_delete(deferred).await;
        };
        self.lock().await?.store(key.share)?;
        let (mut cache, slot) = self.lock_and_reserve(&wal, 0).await?;
        let seq = slot.seq;
        let deferred = cache.truncate(key, size, Some(seq)).await;
        if deferred.is_ok() {
            // Pinned until the map entries are dropped (see logged_delete).
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
        //
        // The file leaves the cache under the lock; from then on no upload records a
        // block of it (a seal finishing later finds the file gone and deletes its
        // object instead), so the map drop runs without the lock: concurrent removes
        // then share one metadata commit instead of queueing one commit each behind
        // the shard lock (truncates still drop under it: the file stays cached).
        let (deferred, index, io, store) = {
            let mut cache = self.lock().await?;
            let deferred = cache.remove(key).await?;
            let store = cache.store(key.share)?;
            (deferred, cache.index.clone(), cache.io.clone(), store)
        };
        if deferred.key.is_none() {
            return Ok(());
        }
        let dropped = index.drop_from(key.share, key.ino, 0).await?;
        let mut objects = deferred.objects;
        objects.extend(dropped.into_iter().map(|(i, m)| (i, m.generation)));
        objects.sort_unstable();
        objects.dedup();
        for (i, generation) in objects {
            let (store, object) = (store.clone(), key.object_key(i, generation));
            io.call(move || store.delete(&object)).await?;
        }
        Ok(())
    }

    /// Drops the block map entries a durable truncate/remove made obsolete
    /// (under the lock) and deletes their objects (without it).
    async fn drop_and_delete(&self, deferred: Deferred) -> Result<(), ContentError> {
        let Some(key) = deferred.key else {
            return Ok(());
        };
        let (objects, io, store) = {
            let mut cache = self.lock().await?;
            let objects = cache.drop_mapped(deferred).await?;
            (objects, cache.io.clone(), cache.store(key.share)?)
        };
        for object in objects {
            let store = store.clone();
            io.call(move || store.delete(&object)).await?;
        }
        Ok(())
    }

    /// Writes the record of a truncate/remove, waits until it is durable, then
    /// drops the map entries and deletes the objects it made obsolete. The
    /// record stays pinned until then, so a checkpoint cannot pass it while
    /// the map still points at the old objects.
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
                Ok(()) => self.drop_and_delete(deferred).await,
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
    /// (asynchronous uploads, at most `uploads_max` at once) and waits until
    /// no upload runs and no WAL record is pinned — at most `wait`, so a slow
    /// store cannot hold the stop forever (failed uploads are retried until
    /// then) — and checkpoints the WAL up to the lowest record still pinned,
    /// so the next start replays nothing when everything was uploaded and
    /// recorded. Whatever was not stays in the synced WAL and is replayed
    /// then. Returns whether everything was sealed.
    pub async fn stop_cleanly(&self, wait: Duration) -> Result<bool, ContentError> {
        if let Some(wal) = &self.wal {
            wal.sync_all().await?;
        }
        let deadline = std::time::Instant::now() + wait;
        let (pin, idle) = loop {
            let mut cache = self.lock().await?;
            let (pin, idle) = (cache.lowest_pin(), cache.idle());
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if (idle && pin.is_none()) || left.is_zero() {
                break (pin, idle);
            }
            cache.request_seal_all();
            pump(&self.cache, &mut cache);
            let (changed, epoch) = (cache.changed.clone(), cache.changed.epoch());
            drop(cache);
            let ms = u64::try_from(left.as_millis()).unwrap_or(u64::MAX);
            changed.wait_ms(epoch, ms.clamp(1, SPACE_RETRY_MS)).await;
        };
        if !idle {
            log::warn!("stop: uploads still running after {wait:?}; the WAL keeps their records");
        }
        if let Some(wal) = &self.wal {
            wal.checkpoint_at_stop(pin.unwrap_or_else(|| wal.next_seq()))
                .await?;
        }
        Ok(pin.is_none() && idle)
    }

    /// Makes all content written to `key` stable: with a WAL, a group
    /// fdatasync of the log, and for a `durability = "remote"` share also
    /// the upload of every dirty block of the file; without a WAL, the
    /// upload of the file's blocks.
    pub async fn flush(&self, key: ContentKey) -> Result<(), ContentError> {
        match &self.wal {
            Some(wal) => {
                wal.sync_all().await?;
                if self.remote.borrow().contains(&key.share) {
                    self.wait_uploaded(key, true).await?;
                }
                Ok(())
            }
            None => self.wait_uploaded(key, false).await,
        }
    }
}

/// A read's failure: an object gone since the plan (retry) or an error.
enum ReadError {
    Gone(String),
    Other(ContentError),
}

impl From<ContentError> for ReadError {
    fn from(e: ContentError) -> Self {
        ReadError::Other(e)
    }
}

/// Ranged read of `object` on the uploader pool.
async fn get(
    io: &StoreIo,
    store: &Arc<dyn BlockStore>,
    object: &str,
    offset: u64,
    len: u64,
) -> Result<Bytes, ReadError> {
    let (store, o) = (store.clone(), object.to_owned());
    match io.call(move || Ok(store.get(&o, offset, len))).await? {
        Ok(data) => Ok(data),
        Err(BlockStoreError::NotFound(_)) => Err(ReadError::Gone(object.to_owned())),
        Err(e) => Err(ReadError::Other(e.into())),
    }
}

/// Read-ahead of one whole block into the clean cache.
async fn prefetch(
    cache: std::rc::Weak<RwLock<Cache>>,
    io: StoreIo,
    store: Arc<dyn BlockStore>,
    key: ContentKey,
    fetch: Fetch,
) {
    let data = get(&io, &store, &fetch.object, 0, u64::MAX).await;
    let Some(cache) = cache.upgrade() else {
        return;
    };
    let Ok(mut cache) = cache.write().await else {
        return;
    };
    match data {
        Ok(data) => cache.fill(key, fetch.index, fetch.generation, data),
        Err(_) => cache.prefetch_failed(key, fetch.index),
    }
}
