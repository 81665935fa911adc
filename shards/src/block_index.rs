//! The metadata side of a shard: which inodes exist and each file's block map.
//!
//! The shards crate knows nothing of inodes and attributes. Recovery asks
//! whether a file still exists and grows sizes; the cache loads a file's
//! block map on first touch, records every uploaded block (only then may
//! the WAL records it covers be released) and drops entries on truncate and
//! remove. The server implements it over its `MetadataStore`; the in-memory
//! [`MemoryBlockIndex`] serves shards without one (tests, the fs core's unit
//! tests).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};

use futures_lite::future::BoxedLocal;

use crate::cache::MappedBlock;
use crate::shard::ContentError;

/// What the shard asks of the metadata side.
pub trait BlockIndex {
    /// Whether inode `ino` of `share` still exists.
    fn exists(&self, share: u32, ino: u64) -> BoxedLocal<Result<bool, ContentError>>;
    /// Makes the file at least `size` bytes long (replayed writes past the
    /// size the metadata recorded).
    fn grow_size(&self, share: u32, ino: u64, size: u64) -> BoxedLocal<Result<(), ContentError>>;
    /// The block map of the file: block index → object generation and length.
    fn load(
        &self,
        share: u32,
        ino: u64,
    ) -> BoxedLocal<Result<Vec<(u64, MappedBlock)>, ContentError>>;
    /// Points block `index` at a new object (durable when it returns).
    fn record(
        &self,
        share: u32,
        ino: u64,
        index: u64,
        block: MappedBlock,
    ) -> BoxedLocal<Result<(), ContentError>>;
    /// Drops the entries of blocks `>= from` and returns them (a missing
    /// file has none).
    fn drop_from(
        &self,
        share: u32,
        ino: u64,
        from: u64,
    ) -> BoxedLocal<Result<Vec<(u64, MappedBlock)>, ContentError>>;
}

/// Block maps in memory; every inode exists unless marked gone. Clones share
/// the maps (so a test can hand "the same metadata" to a restarted shard,
/// also on another executor).
#[derive(Default, Clone)]
pub struct MemoryBlockIndex {
    state: Arc<Mutex<State>>,
}

#[derive(Default)]
struct State {
    maps: HashMap<(u32, u64), BTreeMap<u64, MappedBlock>>,
    gone: HashSet<(u32, u64)>,
}

impl MemoryBlockIndex {
    /// An empty index.
    pub fn new() -> MemoryBlockIndex {
        MemoryBlockIndex::default()
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves plain maps behind: still usable.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Marks the inode removed (`exists` answers false from now on).
    pub fn set_gone(&self, share: u32, ino: u64) {
        self.state().gone.insert((share, ino));
    }

    /// The map entry of one block.
    pub fn get(&self, share: u32, ino: u64, index: u64) -> Option<MappedBlock> {
        self.state()
            .maps
            .get(&(share, ino))
            .and_then(|m| m.get(&index).copied())
    }
}

impl BlockIndex for MemoryBlockIndex {
    fn exists(&self, share: u32, ino: u64) -> BoxedLocal<Result<bool, ContentError>> {
        let alive = !self.state().gone.contains(&(share, ino));
        Box::pin(async move { Ok(alive) })
    }

    fn grow_size(&self, _: u32, _: u64, _: u64) -> BoxedLocal<Result<(), ContentError>> {
        Box::pin(async { Ok(()) })
    }

    fn load(
        &self,
        share: u32,
        ino: u64,
    ) -> BoxedLocal<Result<Vec<(u64, MappedBlock)>, ContentError>> {
        let map: Vec<(u64, MappedBlock)> = self
            .state()
            .maps
            .get(&(share, ino))
            .map(|m| m.iter().map(|(&i, &b)| (i, b)).collect())
            .unwrap_or_default();
        Box::pin(async move { Ok(map) })
    }

    fn record(
        &self,
        share: u32,
        ino: u64,
        index: u64,
        block: MappedBlock,
    ) -> BoxedLocal<Result<(), ContentError>> {
        self.state()
            .maps
            .entry((share, ino))
            .or_default()
            .insert(index, block);
        Box::pin(async { Ok(()) })
    }

    fn drop_from(
        &self,
        share: u32,
        ino: u64,
        from: u64,
    ) -> BoxedLocal<Result<Vec<(u64, MappedBlock)>, ContentError>> {
        let dropped: Vec<(u64, MappedBlock)> = self
            .state()
            .maps
            .get_mut(&(share, ino))
            .map(|m| m.split_off(&from).into_iter().collect())
            .unwrap_or_default();
        Box::pin(async move { Ok(dropped) })
    }
}
