//! One core's content shard: the file content owned by this core.
//!
//! Content is cut into fixed blocks (`block_bytes`, 4 MiB by default). A block
//! that is being written lives in the shard's cache as a growable buffer; once it
//! is full, or the file is flushed, it is sealed: frozen and put into the block
//! store under `{share}/{ino}/{index}`. A write into a sealed block copies it
//! back into the cache first. Only the owning core touches a shard, so nothing
//! here is locked. The durable WAL in front of the cache arrives with the
//! data-path work; until then "flushed" means "in the block store".

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use bytes::{Bytes, BytesMut};

use crate::block_store::{BlockStore, BlockStoreError};

/// Largest file size a shard accepts (2^63 - 1: NFS offsets are unsigned but
/// POSIX `off_t` is signed).
pub const FILE_BYTES_MAX: u64 = i64::MAX as u64;

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

/// Content of one file held by its owner shard.
#[derive(Default)]
struct FileContent {
    /// Blocks being written, by index; a buffer may be shorter than a block
    /// (the rest reads as zeros).
    open_blocks: BTreeMap<u64, BytesMut>,
    /// Indices of blocks present in the block store.
    sealed_blocks: BTreeSet<u64>,
}

/// The content owned by one core.
pub struct Shard {
    block_stores: HashMap<u32, Arc<dyn BlockStore>>,
    block_bytes: u64,
    files: HashMap<ContentKey, FileContent>,
}

impl Shard {
    /// A shard serving the given block stores (by share id) with blocks of `block_bytes`.
    pub fn new(block_stores: Vec<(u32, Arc<dyn BlockStore>)>, block_bytes: u64) -> Shard {
        assert!(block_bytes.is_power_of_two() && block_bytes >= 4096);
        assert!(usize::try_from(block_bytes).is_ok());
        Shard {
            block_stores: block_stores.into_iter().collect(),
            block_bytes,
            files: HashMap::new(),
        }
    }

    /// The shard's state of `key`, created on first touch from the objects the
    /// block store already holds (content written before a restart).
    fn file(
        &mut self,
        key: ContentKey,
        store: &dyn BlockStore,
    ) -> Result<&mut FileContent, ContentError> {
        use std::collections::hash_map::Entry;
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

    fn store(&self, key: ContentKey) -> Result<Arc<dyn BlockStore>, ContentError> {
        self.block_stores
            .get(&key.share)
            .cloned()
            .ok_or(ContentError::UnknownShare(key.share))
    }

    /// Splits `[offset, offset + len)` into per-block pieces `(index, offset in block, len)`.
    fn pieces(&self, offset: u64, len: u64) -> impl Iterator<Item = (u64, usize, usize)> + '_ {
        let end = offset + len;
        let mut pos = offset;
        std::iter::from_fn(move || {
            if pos >= end {
                return None;
            }
            let index = pos / self.block_bytes;
            let inner = pos % self.block_bytes;
            let n = (self.block_bytes - inner).min(end - pos);
            pos += n;
            // inner and n are below block_bytes, which fits usize (asserted in new).
            Some((index, inner as usize, n as usize))
        })
    }

    /// Reads exactly `len` bytes at `offset`; holes read as zeros.
    pub fn read(&mut self, key: ContentKey, offset: u64, len: u32) -> Result<Bytes, ContentError> {
        let len = u64::from(len);
        if offset
            .checked_add(len)
            .is_none_or(|end| end > FILE_BYTES_MAX)
        {
            return Err(ContentError::TooLarge);
        }
        let store = self.store(key)?;
        let pieces: Vec<_> = self.pieces(offset, len).collect();
        let file = self.file(key, &*store)?;
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

    /// Writes `data` at `offset`.
    pub fn write(&mut self, key: ContentKey, offset: u64, data: &[u8]) -> Result<(), ContentError> {
        let len = data.len() as u64;
        if offset
            .checked_add(len)
            .is_none_or(|end| end > FILE_BYTES_MAX)
        {
            return Err(ContentError::TooLarge);
        }
        let store = self.store(key)?;
        let block_bytes = self.block_bytes as usize;
        let pieces: Vec<_> = self.pieces(offset, len).collect();
        let file = self.file(key, &*store)?;
        let mut consumed = 0usize;
        for (index, inner, n) in pieces {
            let block = open_block(file, &*store, key, index)?;
            if block.len() < inner + n {
                block.resize(inner + n, 0);
            }
            block[inner..inner + n].copy_from_slice(&data[consumed..consumed + n]);
            consumed += n;
            // A block written up to its end is sealed right away: sequential
            // writers never keep more than one open block per file.
            if inner + n == block_bytes {
                seal_block(file, &*store, key, index)?;
            }
        }
        debug_assert_eq!(consumed, data.len());
        Ok(())
    }

    /// Cuts the content to `size` bytes (growing needs nothing: holes read as zeros).
    pub fn truncate(&mut self, key: ContentKey, size: u64) -> Result<(), ContentError> {
        if size > FILE_BYTES_MAX {
            return Err(ContentError::TooLarge);
        }
        let store = self.store(key)?;
        let block_bytes = self.block_bytes;
        let file = self.file(key, &*store)?;
        let first_gone = size.div_ceil(block_bytes);
        let gone: Vec<u64> = file.sealed_blocks.range(first_gone..).copied().collect();
        for index in gone {
            store.delete(&key.block_key(index))?;
            file.sealed_blocks.remove(&index);
        }
        file.open_blocks.split_off(&first_gone);
        let tail = size % block_bytes;
        if tail != 0 {
            let index = size / block_bytes;
            let had_block =
                file.open_blocks.contains_key(&index) || file.sealed_blocks.contains(&index);
            if had_block {
                let block = open_block(file, &*store, key, index)?;
                // tail < block_bytes, which fits usize.
                block.truncate(tail as usize);
            }
        }
        Ok(())
    }

    /// Seals every open block of the file into the block store.
    pub fn flush(&mut self, key: ContentKey) -> Result<(), ContentError> {
        let store = self.store(key)?;
        let Some(file) = self.files.get_mut(&key) else {
            return Ok(());
        };
        let open: Vec<u64> = file.open_blocks.keys().copied().collect();
        for index in open {
            seal_block(file, &*store, key, index)?;
        }
        Ok(())
    }

    /// Drops all content of the file.
    pub fn remove(&mut self, key: ContentKey) -> Result<(), ContentError> {
        let store = self.store(key)?;
        self.file(key, &*store)?;
        if let Some(file) = self.files.remove(&key) {
            for index in file.sealed_blocks {
                store.delete(&key.block_key(index))?;
            }
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
    if !file.open_blocks.contains_key(&index) {
        let mut block = BytesMut::new();
        if file.sealed_blocks.contains(&index) {
            let data = store.get(&key.block_key(index), 0, u64::MAX)?;
            block.extend_from_slice(&data);
        }
        file.open_blocks.insert(index, block);
    }
    Ok(file.open_blocks.get_mut(&index).expect("inserted above"))
}

/// Moves block `index` from the cache into the block store.
fn seal_block(
    file: &mut FileContent,
    store: &dyn BlockStore,
    key: ContentKey,
    index: u64,
) -> Result<(), ContentError> {
    if let Some(block) = file.open_blocks.remove(&index) {
        let data = block.freeze();
        if let Err(e) = store.put(&key.block_key(index), data.clone()) {
            // Keep the data: nothing acknowledged may be lost because a put failed.
            file.open_blocks.insert(index, BytesMut::from(&data[..]));
            return Err(e.into());
        }
        file.sealed_blocks.insert(index);
    }
    Ok(())
}
