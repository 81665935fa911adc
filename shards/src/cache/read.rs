//! Reads: planned under the shard's lock, executed without it.
//!
//! `plan_read` turns a request into parts: bytes already in memory (open
//! buffers are copied, frozen blocks sliced without a copy), zeros (holes,
//! short blocks) and fetches of mapped objects from the block store. The
//! shard runs the fetches with the lock released; an object superseded and
//! deleted meanwhile answers NotFound and the read is planned again. A
//! sequential reader (a read starting where the previous one ended) fetches
//! whole blocks into the clean cache and schedules read-ahead of the next
//! `read_ahead_blocks` mapped blocks; a random reader does ranged reads, and
//! fetches a block whole (into the cache) only on its second miss.

use std::sync::Arc;

use bytes::Bytes;

use super::{check_range, object_key, Cache};
use crate::block_store::BlockStore;
use crate::shard::{ContentError, ContentKey};

/// One object read from the block store.
pub(crate) struct Fetch {
    pub(crate) index: u64,
    pub(crate) generation: u64,
    pub(crate) object: String,
    /// Offset and length wanted within the block.
    pub(crate) inner: u64,
    pub(crate) len: usize,
    /// Fetch the whole object and keep it as a clean block.
    pub(crate) whole: bool,
}

/// A part of a read's answer.
pub(crate) enum Part {
    Data(Bytes),
    Zeros(usize),
    Fetch(Fetch),
}

/// What a read needs.
pub(crate) struct ReadPlan {
    pub(crate) parts: Vec<Part>,
    /// Whole blocks to fetch ahead (read-ahead).
    pub(crate) ahead: Vec<Fetch>,
    pub(crate) store: Arc<dyn BlockStore>,
}

impl Cache {
    /// Splits `[offset, offset + len)` into per-block pieces `(index, offset in block, len)`.
    pub(crate) fn pieces(&self, offset: u64, len: u64) -> Vec<(u64, usize, usize)> {
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

    /// Plans a read of exactly `len` bytes at `offset` (the file must be loaded).
    pub(crate) fn plan_read(
        &mut self,
        key: ContentKey,
        offset: u64,
        len: u32,
    ) -> Result<ReadPlan, ContentError> {
        let len = u64::from(len);
        check_range(offset, len)?;
        let store = self.store(key.share)?;
        let pieces = self.pieces(offset, len);
        let read_ahead = self.read_ahead_blocks;
        let block_bytes = self.block_bytes;
        let file = self
            .files
            .get_mut(&key)
            .ok_or_else(|| ContentError::Io("file state not loaded".into()))?;
        let sequential = offset != 0 && offset == file.read_end;
        file.read_streak = if sequential { file.read_streak + 1 } else { 0 };
        file.read_end = offset + len;
        let mut parts = Vec::new();
        let mut touched = Vec::new();
        let mut fetches = 0;
        let mut open_hits = 0;
        for (index, inner, n) in pieces {
            let Some(block) = file.blocks.get_mut(&index) else {
                parts.push(Part::Zeros(n));
                continue;
            };
            let avail = |have: usize| have.saturating_sub(inner).min(n);
            if let Some(open) = &block.open {
                open_hits += 1;
                let a = avail(open.len());
                if a > 0 {
                    parts.push(Part::Data(Bytes::copy_from_slice(&open[inner..inner + a])));
                }
                parts.push(Part::Zeros(n - a));
            } else if let Some(frozen) = &block.frozen {
                let a = avail(frozen.len());
                if a > 0 {
                    parts.push(Part::Data(frozen.slice(inner..inner + a)));
                }
                parts.push(Part::Zeros(n - a));
                touched.push(index);
            } else if let Some(mapped) = block.mapped {
                fetches += 1;
                // Whole blocks for sequential readers, reads of a whole block,
                // and a block missed before (a ghost: read again, so worth
                // caching); ranged reads otherwise.
                let whole = sequential || block.ghost || n as u64 == block_bytes;
                block.ghost = !whole;
                parts.push(Part::Fetch(Fetch {
                    index,
                    generation: mapped.generation,
                    object: object_key(key, index, mapped.generation),
                    inner: inner as u64,
                    len: n,
                    whole,
                }));
            } else {
                parts.push(Part::Zeros(n));
            }
        }
        let mut ahead = Vec::new();
        if sequential && read_ahead > 0 && len > 0 {
            let last = (offset + len - 1) / block_bytes;
            for index in last + 1..=last.saturating_add(read_ahead) {
                let Some(block) = file.blocks.get_mut(&index) else {
                    continue;
                };
                let Some(mapped) = block.mapped else {
                    continue;
                };
                if block.open.is_some() || block.frozen.is_some() || block.prefetching {
                    continue;
                }
                block.prefetching = true;
                ahead.push(Fetch {
                    index,
                    generation: mapped.generation,
                    object: object_key(key, index, mapped.generation),
                    inner: 0,
                    len: 0,
                    whole: true,
                });
            }
        }
        self.stats.hits += touched.len() as u64;
        self.stats.store_reads += fetches;
        let shard_stats = crate::stats::local();
        crate::stats::add(&shard_stats.cache_hits, touched.len() as u64 + open_hits);
        crate::stats::add(&shard_stats.cache_misses, fetches);
        self.stats.prefetches += ahead.len() as u64;
        for index in touched {
            self.touch(key, index, sequential);
        }
        Ok(ReadPlan {
            parts,
            ahead,
            store,
        })
    }

    /// Keeps a whole object fetched for block `index` as a clean block, if
    /// the map still points at `generation` and memory holds nothing newer.
    pub(crate) fn fill(&mut self, key: ContentKey, index: u64, generation: u64, data: Bytes) {
        let Some(block) = self
            .files
            .get_mut(&key)
            .and_then(|f| f.blocks.get_mut(&index))
        else {
            return;
        };
        block.prefetching = false;
        let fits = block.mapped.is_some_and(|m| m.generation == generation)
            && block.open.is_none()
            && block.frozen.is_none();
        if !fits {
            return;
        }
        if self
            .with_block(key, index, |b| b.frozen = Some(data))
            .is_ok()
        {
            self.admit(key, index);
            self.evict();
        }
    }

    /// A read-ahead fetch failed: let a later read try again.
    pub(crate) fn prefetch_failed(&mut self, key: ContentKey, index: u64) {
        if let Some(block) = self
            .files
            .get_mut(&key)
            .and_then(|f| f.blocks.get_mut(&index))
        {
            block.prefetching = false;
        }
    }
}
