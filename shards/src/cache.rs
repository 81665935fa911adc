//! The content a shard holds in memory, and how it maps to the block store.
//!
//! Content is cut into fixed blocks (`block_bytes`). A block being written lives
//! here as a growable buffer ("open"); once it is full, or space is needed, it
//! is sealed: frozen and put into the block store under `{share}/{ino}/{index}`.
//! A write into a sealed block copies it back first. Every open block written
//! since its last seal is *dirty* and pins the sequence number of the first WAL
//! record that dirtied it: the WAL may only reuse space below the lowest pin.
//! Owned by one core and used under the shard's lock; block store calls go
//! through `StoreIo` (the uploader pool) and are awaited, never made inline
//! on a data core. The WAL glue is in `shard.rs`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use bytes::{Bytes, BytesMut};

use crate::block_store::BlockStore;
use crate::shard::{ContentError, ContentKey, FILE_BYTES_MAX};
use crate::uploader::StoreIo;

/// Content of one file held by its owner shard.
#[derive(Default)]
pub(crate) struct FileContent {
    /// Blocks being written, by index; a buffer may be shorter than a block
    /// (the rest reads as zeros).
    open_blocks: BTreeMap<u64, BytesMut>,
    /// Indices of blocks present in the block store.
    sealed_blocks: BTreeSet<u64>,
    /// Open blocks not yet in the block store: index → pinning WAL sequence number.
    dirty: BTreeMap<u64, u64>,
    /// Last write or truncate (for idle sealing).
    last_change: Option<std::time::Instant>,
}

/// Object deletions that must wait until the WAL record of the operation that
/// caused them is durable (a crash before that must find the old objects).
#[derive(Debug, Default)]
pub(crate) struct Deferred {
    pub key: Option<ContentKey>,
    pub indices: Vec<u64>,
}

/// All content of one shard.
pub(crate) struct Cache {
    block_stores: HashMap<u32, Arc<dyn BlockStore>>,
    io: StoreIo,
    pub(crate) block_bytes: u64,
    files: HashMap<ContentKey, FileContent>,
    /// WAL sequence number → number of dirty blocks (and pending deletes) pinning it.
    pins: BTreeMap<u64, usize>,
}

fn check_range(offset: u64, len: u64) -> Result<(), ContentError> {
    if offset
        .checked_add(len)
        .is_none_or(|end| end > FILE_BYTES_MAX)
    {
        return Err(ContentError::TooLarge);
    }
    Ok(())
}

impl Cache {
    pub(crate) fn new(
        block_stores: Vec<(u32, Arc<dyn BlockStore>)>,
        block_bytes: u64,
        io: StoreIo,
    ) -> Cache {
        assert!(block_bytes.is_power_of_two() && block_bytes >= 4096);
        assert!(usize::try_from(block_bytes).is_ok());
        Cache {
            block_stores: block_stores.into_iter().collect(),
            io,
            block_bytes,
            files: HashMap::new(),
            pins: BTreeMap::new(),
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

    /// The state of `key`, created on first touch from the objects the block
    /// store already holds (content written before a restart).
    async fn file(&mut self, key: ContentKey) -> Result<&mut FileContent, ContentError> {
        if !self.files.contains_key(&key) {
            let store = self.store(key.share)?;
            let prefix = key.prefix();
            let p = prefix.clone();
            let objects = self.io.call(move || store.list(&p)).await?;
            let mut file = FileContent::default();
            for object in objects {
                if let Ok(index) = object[prefix.len()..].parse::<u64>() {
                    file.sealed_blocks.insert(index);
                }
            }
            self.files.insert(key, file);
        }
        self.files
            .get_mut(&key)
            .ok_or_else(|| ContentError::Io("file state vanished".into()))
    }

    /// Ranged read of block `index` of `key` from the store.
    async fn get(
        &self,
        key: ContentKey,
        index: u64,
        offset: u64,
        len: u64,
    ) -> Result<Bytes, ContentError> {
        let store = self.store(key.share)?;
        let object = key.block_key(index);
        self.io.call(move || store.get(&object, offset, len)).await
    }

    /// Splits `[offset, offset + len)` into per-block pieces `(index, offset in block, len)`.
    fn pieces(&self, offset: u64, len: u64) -> Vec<(u64, usize, usize)> {
        let end = offset + len;
        let mut pos = offset;
        let mut out = Vec::new();
        while pos < end {
            let index = pos / self.block_bytes;
            let inner = pos % self.block_bytes;
            let n = (self.block_bytes - inner).min(end - pos);
            pos += n;
            // inner and n are below block_bytes, which fits usize (asserted in new).
            out.push((index, inner as usize, n as usize));
        }
        out
    }

    /// Reads exactly `len` bytes at `offset`; holes read as zeros.
    pub(crate) async fn read(
        &mut self,
        key: ContentKey,
        offset: u64,
        len: u32,
    ) -> Result<Bytes, ContentError> {
        let len = u64::from(len);
        check_range(offset, len)?;
        self.store(key.share)?;
        let pieces = self.pieces(offset, len);
        let file = self.file(key).await?;
        // Zero copy when the whole read is one piece of one sealed block.
        if let [(index, inner, n)] = pieces[..] {
            if !file.open_blocks.contains_key(&index) && file.sealed_blocks.contains(&index) {
                let data = self.get(key, index, inner as u64, n as u64).await?;
                if data.len() == n {
                    crate::stats::add(&crate::stats::local().cache_misses, 1);
                    return Ok(data);
                }
            }
        }
        let mut out = BytesMut::with_capacity(len as usize);
        for (index, inner, n) in pieces {
            let start = out.len();
            let (sealed, copied) = match self.files.get(&key) {
                Some(f) => {
                    let mut copied = false;
                    if let Some(block) = f.open_blocks.get(&index) {
                        copied = true;
                        let avail = block.len().saturating_sub(inner).min(n);
                        if avail > 0 {
                            out.extend_from_slice(&block[inner..inner + avail]);
                        }
                    }
                    (f.sealed_blocks.contains(&index), copied)
                }
                None => (false, false),
            };
            let stats = crate::stats::local();
            crate::stats::add(
                if copied {
                    &stats.cache_hits
                } else {
                    &stats.cache_misses
                },
                1,
            );
            if !copied && sealed {
                let data = self.get(key, index, inner as u64, n as u64).await?;
                out.extend_from_slice(&data[..data.len().min(n)]);
            }
            out.resize(start + n, 0);
        }
        Ok(out.freeze())
    }

    /// Writes `data` at `offset`; the dirtied blocks pin `seq` (when given).
    /// Blocks written up to their end are sealed right away.
    pub(crate) async fn write(
        &mut self,
        key: ContentKey,
        offset: u64,
        data: &[u8],
        seq: Option<u64>,
    ) -> Result<(), ContentError> {
        check_range(offset, data.len() as u64)?;
        let block_bytes = self.block_bytes as usize;
        let pieces = self.pieces(offset, data.len() as u64);
        let mut consumed = 0usize;
        let mut full = Vec::new();
        for (index, inner, n) in pieces {
            self.load_block(key, index).await?;
            let Some(file) = self.files.get_mut(&key) else {
                return Err(ContentError::Io("file state vanished".into()));
            };
            file.last_change = Some(std::time::Instant::now());
            let Some(block) = file.open_blocks.get_mut(&index) else {
                return Err(ContentError::Io("open block vanished".into()));
            };
            if block.len() < inner + n {
                block.resize(inner + n, 0);
            }
            block[inner..inner + n].copy_from_slice(&data[consumed..consumed + n]);
            consumed += n;
            let newly_dirty = match seq {
                Some(seq) if !file.dirty.contains_key(&index) => {
                    file.dirty.insert(index, seq);
                    crate::stats::shift(&crate::stats::local().dirty_blocks, 1);
                    Some(seq)
                }
                _ => None,
            };
            if let Some(seq) = newly_dirty {
                self.pin(seq);
            }
            if inner + n == block_bytes {
                full.push(index);
            }
        }
        // A block written up to its end is sealed right away: sequential
        // writers never keep more than one open block per file. With a WAL the
        // write is already safe, so a failing store only delays the seal (the
        // block stays dirty and pinned; WAL space pressure retries it).
        for index in full {
            match (self.seal(key, index).await, seq) {
                (Ok(()), _) => {}
                (Err(e), Some(_)) => log::warn!("sealing block {index} of {key:?} failed: {e}"),
                (Err(e), None) => return Err(e),
            }
        }
        Ok(())
    }

    /// Cuts the content to `size`; the tail block (if any) pins `seq`. Returns
    /// the objects to delete once the truncation is durable.
    pub(crate) async fn truncate(
        &mut self,
        key: ContentKey,
        size: u64,
        seq: Option<u64>,
    ) -> Result<Deferred, ContentError> {
        if size > FILE_BYTES_MAX {
            return Err(ContentError::TooLarge);
        }
        let block_bytes = self.block_bytes;
        let file = self.file(key).await?;
        file.last_change = Some(std::time::Instant::now());
        let first_gone = size.div_ceil(block_bytes);
        let gone: Vec<u64> = file.sealed_blocks.range(first_gone..).copied().collect();
        for index in &gone {
            file.sealed_blocks.remove(index);
        }
        file.open_blocks.split_off(&first_gone);
        let unpinned: Vec<u64> = file.dirty.split_off(&first_gone).into_values().collect();
        crate::stats::shift(
            &crate::stats::local().dirty_blocks,
            -(unpinned.len() as i64),
        );
        let index = size / block_bytes;
        let had_tail_block =
            file.open_blocks.contains_key(&index) || file.sealed_blocks.contains(&index);
        let tail = size % block_bytes;
        let mut pin_tail = false;
        if tail != 0 && had_tail_block {
            self.load_block(key, index).await?;
            if let Some(file) = self.files.get_mut(&key) {
                if let Some(block) = file.open_blocks.get_mut(&index) {
                    // tail < block_bytes, which fits usize.
                    block.truncate(tail as usize);
                }
                if let Some(seq) = seq {
                    if let std::collections::btree_map::Entry::Vacant(e) = file.dirty.entry(index) {
                        e.insert(seq);
                        crate::stats::shift(&crate::stats::local().dirty_blocks, 1);
                        pin_tail = true;
                    }
                }
            }
        }
        for s in unpinned {
            self.unpin(s);
        }
        if let (true, Some(seq)) = (pin_tail, seq) {
            self.pin(seq);
        }
        Ok(Deferred {
            key: Some(key),
            indices: gone,
        })
    }

    /// Drops all content of the file; returns the objects to delete once durable.
    pub(crate) async fn remove(&mut self, key: ContentKey) -> Result<Deferred, ContentError> {
        self.file(key).await?;
        let Some(file) = self.files.remove(&key) else {
            return Ok(Deferred::default());
        };
        crate::stats::shift(
            &crate::stats::local().dirty_blocks,
            -(file.dirty.len() as i64),
        );
        for (_, seq) in file.dirty {
            self.unpin(seq);
        }
        Ok(Deferred {
            key: Some(key),
            indices: file.sealed_blocks.into_iter().collect(),
        })
    }

    /// Deletes deferred objects, except blocks sealed again in the meantime.
    pub(crate) async fn delete_deferred(&mut self, deferred: Deferred) -> Result<(), ContentError> {
        let Some(key) = deferred.key else {
            return Ok(());
        };
        let store = self.store(key.share)?;
        let resealed = self
            .files
            .get(&key)
            .map(|f| f.sealed_blocks.clone())
            .unwrap_or_default();
        for index in deferred.indices {
            if !resealed.contains(&index) {
                let (store, object) = (store.clone(), key.block_key(index));
                self.io.call(move || store.delete(&object)).await?;
            }
        }
        Ok(())
    }

    /// Seals every open block of the file.
    pub(crate) async fn flush_file(&mut self, key: ContentKey) -> Result<(), ContentError> {
        let Some(file) = self.files.get(&key) else {
            return Ok(());
        };
        let open: Vec<u64> = file.open_blocks.keys().copied().collect();
        for index in open {
            self.seal(key, index).await?;
        }
        Ok(())
    }

    /// Seals every dirty block of every file (to let the WAL reuse space).
    pub(crate) async fn flush_dirty(&mut self) -> Result<(), ContentError> {
        let dirty: Vec<(ContentKey, u64)> = self
            .files
            .iter()
            .flat_map(|(k, f)| f.dirty.keys().map(move |&i| (*k, i)))
            .collect();
        for (key, index) in dirty {
            self.seal(key, index).await?;
        }
        Ok(())
    }

    /// Seals the dirty blocks of files not changed for `idle`; returns how many.
    pub(crate) async fn seal_idle(
        &mut self,
        idle: std::time::Duration,
    ) -> Result<usize, ContentError> {
        let now = std::time::Instant::now();
        let idle_blocks: Vec<(ContentKey, u64)> = self
            .files
            .iter()
            .filter(|(_, f)| f.last_change.is_none_or(|t| now.duration_since(t) >= idle))
            .flat_map(|(k, f)| f.dirty.keys().map(move |&i| (*k, i)))
            .collect();
        for &(key, index) in &idle_blocks {
            self.seal(key, index).await?;
        }
        Ok(idle_blocks.len())
    }

    /// Moves block `index` from the cache into the block store. The block
    /// stays readable in the cache until the store has it.
    async fn seal(&mut self, key: ContentKey, index: u64) -> Result<(), ContentError> {
        let store = self.store(key.share)?;
        let Some(block) = self
            .files
            .get_mut(&key)
            .and_then(|f| f.open_blocks.remove(&index))
        else {
            return Ok(());
        };
        // The shard's lock is held for the whole call, so nobody looks for the
        // block while it is out of the map.
        let data = block.freeze();
        let object = key.block_key(index);
        let sent = data.clone();
        let started = std::time::Instant::now();
        let put = self.io.call(move || store.put(&object, sent)).await;
        let stats = crate::stats::local();
        stats.upload_latency.observe_duration(started.elapsed());
        crate::stats::add(
            if put.is_ok() {
                &stats.evictions
            } else {
                &stats.upload_failures
            },
            1,
        );
        let Some(file) = self.files.get_mut(&key) else {
            return put;
        };
        if let Err(e) = put {
            // Keep the data, still dirty: nothing acknowledged may be lost.
            file.open_blocks.insert(index, BytesMut::from(&data[..]));
            return Err(e);
        }
        file.sealed_blocks.insert(index);
        if let Some(seq) = file.dirty.remove(&index) {
            crate::stats::shift(&crate::stats::local().dirty_blocks, -1);
            self.unpin(seq);
        }
        Ok(())
    }

    /// Makes block `index` of `key` open, loading it from the block store when sealed.
    async fn load_block(&mut self, key: ContentKey, index: u64) -> Result<(), ContentError> {
        let file = self.file(key).await?;
        if file.open_blocks.contains_key(&index) {
            return Ok(());
        }
        let sealed = file.sealed_blocks.contains(&index);
        let mut block = BytesMut::new();
        if sealed {
            let data = self.get(key, index, 0, u64::MAX).await?;
            block.extend_from_slice(&data);
        }
        if let Some(file) = self.files.get_mut(&key) {
            file.open_blocks.insert(index, block);
        }
        Ok(())
    }
}
