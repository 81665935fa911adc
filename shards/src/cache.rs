//! The content a shard holds in memory, and how it maps to the block store.
//!
//! Content is cut into fixed blocks (`block_bytes`). A block being written lives
//! here as a growable buffer ("open"); once it is full, or space is needed, it
//! is sealed: frozen and put into the block store under `{share}/{ino}/{index}`.
//! A write into a sealed block copies it back first. Every open block written
//! since its last seal is *dirty* and pins the sequence number of the first WAL
//! record that dirtied it: the WAL may only reuse space below the lowest pin.
//! Everything here is synchronous and owned by one core; the async glue (WAL,
//! waiting) is in `shard.rs`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use bytes::{Bytes, BytesMut};

use crate::block_store::BlockStore;
use crate::shard::{ContentError, ContentKey, FILE_BYTES_MAX};

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
    pub(crate) fn new(block_stores: Vec<(u32, Arc<dyn BlockStore>)>, block_bytes: u64) -> Cache {
        assert!(block_bytes.is_power_of_two() && block_bytes >= 4096);
        assert!(usize::try_from(block_bytes).is_ok());
        Cache {
            block_stores: block_stores.into_iter().collect(),
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
    fn file(&mut self, key: ContentKey) -> Result<&mut FileContent, ContentError> {
        use std::collections::hash_map::Entry;
        let store = self.store(key.share)?;
        match self.files.entry(key) {
            Entry::Occupied(entry) => Ok(entry.into_mut()),
            Entry::Vacant(entry) => {
                let prefix = key.prefix();
                let mut file = FileContent::default();
                for object in store.list(&prefix)? {
                    if let Ok(index) = object[prefix.len()..].parse::<u64>() {
                        file.sealed_blocks.insert(index);
                    }
                }
                Ok(entry.insert(file))
            }
        }
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
    pub(crate) fn read(
        &mut self,
        key: ContentKey,
        offset: u64,
        len: u32,
    ) -> Result<Bytes, ContentError> {
        let len = u64::from(len);
        check_range(offset, len)?;
        let store = self.store(key.share)?;
        let pieces = self.pieces(offset, len);
        let file = self.file(key)?;
        // Zero copy when the whole read is one piece of one sealed block.
        if let [(index, inner, n)] = pieces[..] {
            if !file.open_blocks.contains_key(&index) && file.sealed_blocks.contains(&index) {
                let data = store.get(&key.block_key(index), inner as u64, n as u64)?;
                if data.len() == n {
                    return Ok(data);
                }
            }
        }
        let mut out = BytesMut::with_capacity(len as usize);
        for (index, inner, n) in pieces {
            let start = out.len();
            if let Some(block) = file.open_blocks.get(&index) {
                let avail = block.len().saturating_sub(inner).min(n);
                if avail > 0 {
                    out.extend_from_slice(&block[inner..inner + avail]);
                }
            } else if file.sealed_blocks.contains(&index) {
                let data = store.get(&key.block_key(index), inner as u64, n as u64)?;
                out.extend_from_slice(&data[..data.len().min(n)]);
            }
            out.resize(start + n, 0);
        }
        Ok(out.freeze())
    }

    /// Writes `data` at `offset`; the dirtied blocks pin `seq` (when given).
    /// Blocks written up to their end are sealed right away.
    pub(crate) fn write(
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
            let store = self.store(key.share)?;
            let file = self.file(key)?;
            let block = open_block(file, &*store, key, index)?;
            if block.len() < inner + n {
                block.resize(inner + n, 0);
            }
            block[inner..inner + n].copy_from_slice(&data[consumed..consumed + n]);
            consumed += n;
            let newly_dirty = match seq {
                Some(seq) if !file.dirty.contains_key(&index) => {
                    file.dirty.insert(index, seq);
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
            match (self.seal(key, index), seq) {
                (Ok(()), _) => {}
                (Err(e), Some(_)) => log::warn!("sealing block {index} of {key:?} failed: {e}"),
                (Err(e), None) => return Err(e),
            }
        }
        Ok(())
    }

    /// Cuts the content to `size`; the tail block (if any) pins `seq`. Returns
    /// the objects to delete once the truncation is durable.
    pub(crate) fn truncate(
        &mut self,
        key: ContentKey,
        size: u64,
        seq: Option<u64>,
    ) -> Result<Deferred, ContentError> {
        if size > FILE_BYTES_MAX {
            return Err(ContentError::TooLarge);
        }
        let block_bytes = self.block_bytes;
        let store = self.store(key.share)?;
        let file = self.file(key)?;
        let first_gone = size.div_ceil(block_bytes);
        let gone: Vec<u64> = file.sealed_blocks.range(first_gone..).copied().collect();
        for index in &gone {
            file.sealed_blocks.remove(index);
        }
        file.open_blocks.split_off(&first_gone);
        let unpinned: Vec<u64> = file.dirty.split_off(&first_gone).into_values().collect();
        let tail = size % block_bytes;
        let mut pin_tail = false;
        if tail != 0 {
            let index = size / block_bytes;
            if file.open_blocks.contains_key(&index) || file.sealed_blocks.contains(&index) {
                let block = open_block(file, &*store, key, index)?;
                // tail < block_bytes, which fits usize.
                block.truncate(tail as usize);
                if let Some(seq) = seq {
                    if let std::collections::btree_map::Entry::Vacant(e) = file.dirty.entry(index) {
                        e.insert(seq);
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
    pub(crate) fn remove(&mut self, key: ContentKey) -> Result<Deferred, ContentError> {
        self.file(key)?;
        let Some(file) = self.files.remove(&key) else {
            return Ok(Deferred::default());
        };
        for (_, seq) in file.dirty {
            self.unpin(seq);
        }
        Ok(Deferred {
            key: Some(key),
            indices: file.sealed_blocks.into_iter().collect(),
        })
    }

    /// Deletes deferred objects, except blocks sealed again in the meantime.
    pub(crate) fn delete_deferred(&mut self, deferred: Deferred) -> Result<(), ContentError> {
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
                store.delete(&key.block_key(index))?;
            }
        }
        Ok(())
    }

    /// Seals every open block of the file.
    pub(crate) fn flush_file(&mut self, key: ContentKey) -> Result<(), ContentError> {
        let Some(file) = self.files.get(&key) else {
            return Ok(());
        };
        let open: Vec<u64> = file.open_blocks.keys().copied().collect();
        for index in open {
            self.seal(key, index)?;
        }
        Ok(())
    }

    /// Seals every dirty block of every file (to let the WAL reuse space).
    pub(crate) fn flush_dirty(&mut self) -> Result<(), ContentError> {
        let dirty: Vec<(ContentKey, u64)> = self
            .files
            .iter()
            .flat_map(|(k, f)| f.dirty.keys().map(move |&i| (*k, i)))
            .collect();
        for (key, index) in dirty {
            self.seal(key, index)?;
        }
        Ok(())
    }

    /// Moves block `index` from the cache into the block store.
    fn seal(&mut self, key: ContentKey, index: u64) -> Result<(), ContentError> {
        let store = self.store(key.share)?;
        let Some(file) = self.files.get_mut(&key) else {
            return Ok(());
        };
        let Some(block) = file.open_blocks.remove(&index) else {
            return Ok(());
        };
        let data = block.freeze();
        if let Err(e) = store.put(&key.block_key(index), data.clone()) {
            // Keep the data: nothing acknowledged may be lost because a put failed.
            file.open_blocks.insert(index, BytesMut::from(&data[..]));
            return Err(e.into());
        }
        file.sealed_blocks.insert(index);
        if let Some(seq) = file.dirty.remove(&index) {
            self.unpin(seq);
        }
        Ok(())
    }
}

/// The open buffer of block `index`, loading it from the block store when sealed.
fn open_block<'a>(
    file: &'a mut FileContent,
    store: &dyn BlockStore,
    key: ContentKey,
    index: u64,
) -> Result<&'a mut BytesMut, ContentError> {
    use std::collections::btree_map::Entry;
    match file.open_blocks.entry(index) {
        Entry::Occupied(e) => Ok(e.into_mut()),
        Entry::Vacant(e) => {
            let mut block = BytesMut::new();
            if file.sealed_blocks.contains(&index) {
                let data = store.get(&key.block_key(index), 0, u64::MAX)?;
                block.extend_from_slice(&data);
            }
            Ok(e.insert(block))
        }
    }
}
