//! The content a shard holds in memory, and how it maps to the block store.
//!
//! Content is cut into fixed blocks (`block_bytes`). Each block of a file is
//! one [`Block`]: an *open* buffer being written, a *frozen* copy (being
//! uploaded, or clean = identical to the object the block map points at), and
//! the block map entry (`mapped`: generation and length of the object
//! `{share}/{ino}/{index}.{generation}`). A seal freezes the open buffer and
//! hands it to an upload task (`seal.rs`); the shard's lock is not held across
//! the upload. A write into a block being uploaded copies it into a new open
//! buffer (copy-on-write) and dirties it again. When the store acknowledged
//! the object, the upload task records it in the block map (`BlockIndex`),
//! and only then unpins the WAL records it covered and deletes the superseded
//! object: a crash before the map points at the new object replays the WAL.
//!
//! Memory: open buffers and frozen blocks being uploaded are *held* (never
//! evicted; writers wait while they exceed `shard_bytes_max`); clean frozen
//! blocks are a cache evicted by a scan-resistant policy (`evict.rs`).
//! Generations are per file and only grow: a new seal takes one above every
//! generation the file's map held when it was loaded or this process used, so
//! an object key is never written twice in one process (crash orphans aside,
//! which only the sweep deletes, under the lock).

mod evict;
pub(crate) mod read;
pub(crate) mod seal;
mod write;

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Poll, Waker};
use std::time::Instant;

use bytes::{Bytes, BytesMut};

use crate::block_index::BlockIndex;
use crate::block_store::BlockStore;
use crate::shard::{ContentError, ContentKey, FILE_BYTES_MAX};
use crate::uploader::StoreIo;

pub(crate) use read::{Fetch, ReadPlan};
pub(crate) use write::Deferred;

/// The block map entry of one block: which object holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MappedBlock {
    /// Object generation (the key is `{share}/{ino}/{index}.{generation}`).
    pub generation: u64,
    /// Bytes of the object.
    pub len: u64,
}

/// A block being uploaded: its generation and the WAL pin of its changes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Upload {
    pub(crate) generation: u64,
    pub(crate) pin: Option<u64>,
}

/// One block of a file.
#[derive(Default)]
pub(crate) struct Block {
    /// Being written (newer than `frozen`); may be shorter than a block.
    pub(crate) open: Option<BytesMut>,
    /// The open buffer has changes not in the store.
    pub(crate) dirty: bool,
    /// WAL sequence number pinned by the open buffer's changes.
    pub(crate) pin: Option<u64>,
    /// Immutable copy: being uploaded (`upload` set) or clean.
    pub(crate) frozen: Option<Bytes>,
    pub(crate) upload: Option<Upload>,
    /// What the block map says.
    pub(crate) mapped: Option<MappedBlock>,
    /// Seal again when the running upload ends.
    pub(crate) reseal: bool,
    /// In the seal queue.
    pub(crate) queued: bool,
    /// A read-ahead fetch is running.
    pub(crate) prefetching: bool,
    /// A ranged read missed this block (the next miss caches it whole).
    pub(crate) ghost: bool,
    /// Eviction bookkeeping (`evict.rs`): list token (0: in no list),
    /// protected segment, CLOCK reference bit.
    pub(crate) token: u64,
    pub(crate) protected: bool,
    pub(crate) referenced: bool,
}

impl Block {
    /// (held, clean) bytes of memory.
    fn usage(&self) -> (u64, u64) {
        let open = self.open.as_ref().map_or(0, |b| b.len() as u64);
        let frozen = self.frozen.as_ref().map_or(0, |b| b.len() as u64);
        if self.upload.is_some() {
            (open + frozen, 0)
        } else {
            (open, frozen)
        }
    }

    /// What the block adds to the dirty gauges of `crate::stats`: 1 block
    /// and its buffers' bytes while it has changes not yet in the store
    /// (dirty, or being uploaded), else nothing.
    fn dirty_usage(&self) -> (i64, i64) {
        let open = match &self.open {
            Some(b) if self.dirty => b.len() as i64,
            _ => 0,
        };
        let uploading = match &self.frozen {
            Some(b) if self.upload.is_some() => b.len() as i64,
            _ => 0,
        };
        let blocks = i64::from(self.dirty || self.upload.is_some());
        (blocks, open + uploading)
    }

    /// Clean copy present (evictable).
    pub(crate) fn is_clean(&self) -> bool {
        self.frozen.is_some() && self.upload.is_none() && self.open.is_none()
    }
}

/// Content of one file held by its owner shard.
#[derive(Default)]
pub(crate) struct FileContent {
    pub(crate) blocks: BTreeMap<u64, Block>,
    /// Highest generation of this file seen in its map or used since.
    pub(crate) generation_max: u64,
    /// Last write or truncate (for idle sealing).
    pub(crate) last_change: Option<Instant>,
    /// End of the last read and how many reads in a row continued the one
    /// before (sequential detection for read-ahead).
    pub(crate) read_end: u64,
    pub(crate) read_streak: u32,
    /// An upload of this file failed since the last look.
    pub(crate) failed: Option<ContentError>,
    /// Upload tasks still deleting superseded objects.
    pub(crate) deleting: usize,
    /// Uploads still running for blocks truncated away meanwhile.
    pub(crate) cancelled: usize,
}

impl FileContent {
    pub(crate) fn busy(&self) -> bool {
        self.deleting > 0
            || self.cancelled > 0
            || self.blocks.values().any(|b| b.dirty || b.upload.is_some())
    }
}

/// Wakes waiters when uploads end (memory freed, pins released).
#[derive(Default)]
pub(crate) struct Event {
    epoch: Cell<u64>,
    wakers: RefCell<Vec<Waker>>,
}

impl Event {
    pub(crate) fn epoch(&self) -> u64 {
        self.epoch.get()
    }

    pub(crate) fn notify(&self) {
        self.epoch.set(self.epoch.get() + 1);
        for w in self.wakers.take() {
            w.wake();
        }
    }

    /// Returns once `notify` ran after `epoch` was read.
    pub(crate) async fn wait(&self, epoch: u64) {
        std::future::poll_fn(|cx| {
            if self.epoch.get() != epoch {
                Poll::Ready(())
            } else {
                self.wakers.borrow_mut().push(cx.waker().clone());
                Poll::Pending
            }
        })
        .await
    }

    /// Like `wait`, but at most `ms` milliseconds.
    pub(crate) async fn wait_ms(&self, epoch: u64, ms: u64) {
        futures_lite::future::or(self.wait(epoch), async {
            glommio::timer::sleep(std::time::Duration::from_millis(ms)).await
        })
        .await
    }
}

/// Counters for tests and logs.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct CacheStats {
    /// Ranged or whole-object reads from the block store.
    pub store_reads: u64,
    /// Reads (pieces) served from memory.
    pub hits: u64,
    /// Clean blocks evicted.
    pub evictions: u64,
    /// Read-ahead fetches started.
    pub prefetches: u64,
    /// Objects uploaded and recorded in the block map.
    pub uploads: u64,
}

/// All content of one shard.
pub(crate) struct Cache {
    block_stores: HashMap<u32, Arc<dyn BlockStore>>,
    pub(crate) io: StoreIo,
    pub(crate) index: Rc<dyn BlockIndex>,
    pub(crate) block_bytes: u64,
    pub(crate) files: HashMap<ContentKey, FileContent>,
    /// WAL sequence number → number of dirty blocks (and pending deletes) pinning it.
    pins: BTreeMap<u64, usize>,
    /// Bytes of open buffers and blocks being uploaded.
    pub(crate) held_bytes: u64,
    /// Bytes of clean blocks.
    pub(crate) clean_bytes: u64,
    /// Memory budget (`cache.shard_bytes_max`).
    pub(crate) budget_bytes: u64,
    /// Blocks fetched ahead of a sequential reader (0: none).
    pub(crate) read_ahead_blocks: u64,
    /// Uploads running, and the most that may run at once.
    pub(crate) uploads: usize,
    pub(crate) uploads_max: usize,
    pub(crate) seal_queue: VecDeque<(ContentKey, u64)>,
    pub(crate) lists: evict::Lists,
    pub(crate) stats: CacheStats,
    /// Uploads that failed (put or record), ever.
    pub(crate) failures: u64,
    pub(crate) changed: Rc<Event>,
    /// Finished puts waiting to be recorded (`seal.rs`); reachable without the lock.
    pub(crate) done: Rc<RefCell<Vec<seal::Done>>>,
}

pub(crate) fn check_range(offset: u64, len: u64) -> Result<(), ContentError> {
    if offset
        .checked_add(len)
        .is_none_or(|end| end > FILE_BYTES_MAX)
    {
        return Err(ContentError::TooLarge);
    }
    Ok(())
}

/// Moves this core's dirty-block and dirty-byte gauges (metrics).
fn shift_dirty(blocks: i64, bytes: i64) {
    if blocks != 0 || bytes != 0 {
        let stats = crate::stats::local();
        crate::stats::shift(&stats.dirty_blocks, blocks);
        crate::stats::shift(&stats.dirty_bytes, bytes);
    }
}

/// Object key of generation `generation` of block `index` of `key`.
pub(crate) fn object_key(key: ContentKey, index: u64, generation: u64) -> String {
    format!("{}{index}.{generation}", key.prefix())
}

/// Parses the part of an object key after `{share}/{ino}/`.
pub(crate) fn parse_object(rest: &str) -> Option<(u64, u64)> {
    let (index, generation) = rest.split_once('.')?;
    Some((index.parse().ok()?, generation.parse().ok()?))
}

impl Cache {
    pub(crate) fn new(
        block_stores: Vec<(u32, Arc<dyn BlockStore>)>,
        block_bytes: u64,
        io: StoreIo,
        index: Rc<dyn BlockIndex>,
    ) -> Cache {
        assert!(block_bytes.is_power_of_two() && block_bytes >= 4096);
        assert!(usize::try_from(block_bytes).is_ok());
        Cache {
            block_stores: block_stores.into_iter().collect(),
            io,
            index,
            block_bytes,
            files: HashMap::new(),
            pins: BTreeMap::new(),
            held_bytes: 0,
            clean_bytes: 0,
            budget_bytes: crate::shard::SHARD_BYTES_MAX_DEFAULT,
            read_ahead_blocks: crate::shard::READ_AHEAD_BLOCKS_DEFAULT,
            uploads: 0,
            uploads_max: crate::shard::UPLOADS_IN_FLIGHT_MAX,
            seal_queue: VecDeque::new(),
            lists: evict::Lists::default(),
            stats: CacheStats::default(),
            failures: 0,
            changed: Rc::new(Event::default()),
            done: Rc::new(RefCell::new(Vec::new())),
        }
    }

    /// Lowest pinned WAL sequence number.
    pub(crate) fn lowest_pin(&self) -> Option<u64> {
        self.pins.keys().next().copied()
    }

    pub(crate) fn pin(&mut self, seq: u64) {
        *self.pins.entry(seq).or_default() += 1;
    }

    pub(crate) fn unpin(&mut self, seq: u64) {
        if let Some(n) = self.pins.get_mut(&seq) {
            *n -= 1;
            if *n == 0 {
                self.pins.remove(&seq);
            }
        }
    }

    pub(crate) fn store(&self, share: u32) -> Result<Arc<dyn BlockStore>, ContentError> {
        self.block_stores
            .get(&share)
            .cloned()
            .ok_or(ContentError::UnknownShare(share))
    }

    /// Loads the state of `key` from the block map on first touch.
    pub(crate) async fn load_file(&mut self, key: ContentKey) -> Result<(), ContentError> {
        if self.files.contains_key(&key) {
            return Ok(());
        }
        self.store(key.share)?;
        let index = self.index.clone();
        let map = index.load(key.share, key.ino).await?;
        let mut file = FileContent::default();
        for (i, mapped) in map {
            file.generation_max = file.generation_max.max(mapped.generation);
            file.blocks.insert(
                i,
                Block {
                    mapped: Some(mapped),
                    ..Block::default()
                },
            );
        }
        self.files.insert(key, file);
        Ok(())
    }

    /// Runs `f` on block `index` of `key` (created when missing; the file must
    /// be loaded) and keeps the memory counters right.
    pub(crate) fn with_block<R>(
        &mut self,
        key: ContentKey,
        index: u64,
        f: impl FnOnce(&mut Block) -> R,
    ) -> Result<R, ContentError> {
        let file = self
            .files
            .get_mut(&key)
            .ok_or_else(|| ContentError::Io("file state not loaded".into()))?;
        let block = file.blocks.entry(index).or_default();
        let before = block.usage();
        let dirty_before = block.dirty_usage();
        let was_protected_clean = block.protected && block.is_clean();
        let r = f(block);
        let after = block.usage();
        let dirty_after = block.dirty_usage();
        let is_protected_clean = block.protected && block.is_clean();
        if !block.is_clean() {
            block.token = 0;
            block.protected = false;
        }
        self.held_bytes = self.held_bytes + after.0 - before.0;
        self.clean_bytes = self.clean_bytes + after.1 - before.1;
        shift_dirty(
            dirty_after.0 - dirty_before.0,
            dirty_after.1 - dirty_before.1,
        );
        if was_protected_clean && !is_protected_clean {
            self.lists.protected_bytes -= before.1;
        }
        Ok(r)
    }

    /// Forgets a removed block: memory counters and pins.
    pub(crate) fn forget_block(&mut self, block: &Block) {
        let (held, clean) = block.usage();
        let (dirty_blocks, dirty_bytes) = block.dirty_usage();
        shift_dirty(-dirty_blocks, -dirty_bytes);
        self.held_bytes -= held;
        self.clean_bytes -= clean;
        if block.protected && block.is_clean() {
            self.lists.protected_bytes -= clean;
        }
        if let Some(seq) = block.pin {
            self.unpin(seq);
        }
        if let Some(seq) = block.upload.and_then(|u| u.pin) {
            self.unpin(seq);
        }
    }

    /// Queues block `index` of `key` for sealing (see `seal::pump`).
    pub(crate) fn request_seal(&mut self, key: ContentKey, index: u64) {
        let Some(block) = self
            .files
            .get_mut(&key)
            .and_then(|f| f.blocks.get_mut(&index))
        else {
            return;
        };
        if !block.dirty {
            return;
        }
        if block.upload.is_some() {
            block.reseal = true;
        } else if !block.queued {
            block.queued = true;
            self.seal_queue.push_back((key, index));
        }
    }

    /// Queues every dirty block of `key`.
    pub(crate) fn request_seal_file(&mut self, key: ContentKey) {
        let dirty: Vec<u64> = self.files.get(&key).map_or_else(Vec::new, |f| {
            f.blocks
                .iter()
                .filter(|(_, b)| b.dirty)
                .map(|(&i, _)| i)
                .collect()
        });
        for i in dirty {
            self.request_seal(key, i);
        }
    }

    /// Queues every dirty block of every file; returns how many are dirty.
    pub(crate) fn request_seal_all(&mut self) -> usize {
        let dirty: Vec<(ContentKey, u64)> = self
            .files
            .iter()
            .flat_map(|(k, f)| {
                f.blocks
                    .iter()
                    .filter(|(_, b)| b.dirty)
                    .map(move |(&i, _)| (*k, i))
            })
            .collect();
        let n = dirty.len();
        for (key, i) in dirty {
            self.request_seal(key, i);
        }
        n
    }

    /// Queues the dirty blocks of files unchanged for `idle`; returns how many.
    pub(crate) fn request_seal_idle(&mut self, idle: std::time::Duration) -> usize {
        let now = Instant::now();
        let keys: Vec<ContentKey> = self
            .files
            .iter()
            .filter(|(_, f)| f.last_change.is_none_or(|t| now.duration_since(t) >= idle))
            .filter(|(_, f)| f.blocks.values().any(|b| b.dirty))
            .map(|(k, _)| *k)
            .collect();
        let mut n = 0;
        for key in keys {
            n += 1;
            self.request_seal_file(key);
        }
        n
    }

    /// No dirty block and no upload left anywhere.
    pub(crate) fn idle(&self) -> bool {
        self.uploads == 0 && self.files.values().all(|f| !f.busy())
    }

    /// Whether `key` has dirty blocks or uploads; with `failure`, also the
    /// upload error seen since the last call.
    pub(crate) fn file_busy(&mut self, key: ContentKey) -> (bool, Option<ContentError>) {
        match self.files.get_mut(&key) {
            Some(f) => (f.busy(), f.failed.take()),
            None => (false, None),
        }
    }
}

impl Cache {
    /// Share ids this cache serves.
    pub(crate) fn shares(&self) -> Vec<u32> {
        self.block_stores.keys().copied().collect()
    }

    /// Whether the cache maps or is uploading this generation of the block.
    pub(crate) fn uses_generation(&self, key: ContentKey, index: u64, generation: u64) -> bool {
        self.files
            .get(&key)
            .and_then(|f| f.blocks.get(&index))
            .is_some_and(|b| {
                b.mapped.is_some_and(|m| m.generation == generation)
                    || b.upload.is_some_and(|u| u.generation == generation)
            })
    }
}
