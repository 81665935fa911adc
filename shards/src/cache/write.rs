//! Writes, truncates and removes in the cache, and the block map side of
//! truncate/remove (`drop_mapped`), which runs once the operation is durable.

use bytes::BytesMut;

use super::{check_range, object_key, Cache, Fetch};
use crate::shard::{ContentError, ContentKey, FILE_BYTES_MAX};

/// Block map entries and objects a truncate/remove made obsolete; dropped
/// once the operation is durable (a crash before that must find them).
#[derive(Debug, Default)]
pub(crate) struct Deferred {
    pub key: Option<ContentKey>,
    /// First block index dropped from the map.
    pub from: u64,
    /// Objects `(index, generation)` the cache had mapped there.
    pub objects: Vec<(u64, u64)>,
}

impl Cache {
    /// Blocks a write of `len` bytes at `offset` only partly covers whose
    /// content is in the store and not in memory: fetch them before the write.
    pub(crate) fn needs_load(&self, key: ContentKey, offset: u64, len: u64) -> Vec<Fetch> {
        let Some(file) = self.files.get(&key) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for (index, inner, n) in self.pieces(offset, len) {
            if inner == 0 && n as u64 == self.block_bytes {
                continue;
            }
            let Some(block) = file.blocks.get(&index) else {
                continue;
            };
            if let (None, None, Some(m)) = (&block.open, &block.frozen, block.mapped) {
                out.push(Fetch {
                    index,
                    generation: m.generation,
                    object: object_key(key, index, m.generation),
                    inner: 0,
                    len: 0,
                    whole: true,
                });
            }
        }
        out
    }

    /// Makes the content of block `index` present in memory (fetching the
    /// mapped object under the lock: the fallback when `needs_load` raced).
    async fn ensure_loaded(&mut self, key: ContentKey, index: u64) -> Result<(), ContentError> {
        let fetch = self.needs_load(key, index * self.block_bytes, 1);
        for f in fetch {
            let store = self.store(key.share)?;
            self.stats.store_reads += 1;
            let data = self
                .io
                .call(move || store.get(&f.object, 0, u64::MAX))
                .await?;
            // Kept as an open (not yet dirty) buffer: the caller writes it
            // right away, and the eviction must not take it meanwhile.
            self.with_block(key, f.index, |b| {
                let fits = b.mapped.is_some_and(|m| m.generation == f.generation)
                    && b.open.is_none()
                    && b.frozen.is_none();
                if fits {
                    b.open = Some(BytesMut::from(&data[..]));
                }
            })?;
        }
        Ok(())
    }

    /// Writes `data` at `offset`; the dirtied blocks pin `seq` (when given).
    /// Blocks written up to their end are queued for sealing.
    pub(crate) async fn write(
        &mut self,
        key: ContentKey,
        offset: u64,
        data: &[u8],
        seq: Option<u64>,
    ) -> Result<(), ContentError> {
        check_range(offset, data.len() as u64)?;
        self.load_file(key).await?;
        let block_bytes = self.block_bytes as usize;
        let mut consumed = 0usize;
        for (index, inner, n) in self.pieces(offset, data.len() as u64) {
            let whole = inner == 0 && n == block_bytes;
            if !whole {
                self.ensure_loaded(key, index).await?;
            }
            let piece = &data[consumed..consumed + n];
            consumed += n;
            let (newly_pinned, full) = self.with_block(key, index, |b| {
                let open = match b.open.take() {
                    Some(open) => open,
                    None => {
                        let copy = match &b.frozen {
                            Some(f) if !whole => BytesMut::from(&f[..]),
                            _ => BytesMut::new(),
                        };
                        if b.upload.is_none() {
                            b.frozen = None;
                        }
                        copy
                    }
                };
                let mut open = open;
                if open.len() < inner + n {
                    open.resize(inner + n, 0);
                }
                open[inner..inner + n].copy_from_slice(piece);
                let full = open.len() == block_bytes;
                b.open = Some(open);
                b.dirty = true;
                let newly = match seq {
                    Some(s) if b.pin.is_none() => {
                        b.pin = Some(s);
                        Some(s)
                    }
                    _ => None,
                };
                (newly, full && inner + n == block_bytes)
            })?;
            if let Some(seq) = newly_pinned {
                self.pin(seq);
            }
            if full {
                self.request_seal(key, index);
            }
        }
        if let Some(file) = self.files.get_mut(&key) {
            file.last_change = Some(std::time::Instant::now());
        }
        Ok(())
    }

    /// Cuts the content to `size`; the tail block (if cut) pins `seq`.
    /// Returns what to drop from the block map once the truncation is durable.
    pub(crate) async fn truncate(
        &mut self,
        key: ContentKey,
        size: u64,
        seq: Option<u64>,
    ) -> Result<Deferred, ContentError> {
        if size > FILE_BYTES_MAX {
            return Err(ContentError::TooLarge);
        }
        self.load_file(key).await?;
        let block_bytes = self.block_bytes;
        let first_gone = size.div_ceil(block_bytes);
        let Some(file) = self.files.get_mut(&key) else {
            return Err(ContentError::Io("file state not loaded".into()));
        };
        file.last_change = Some(std::time::Instant::now());
        let gone = file.blocks.split_off(&first_gone);
        file.cancelled += gone.values().filter(|b| b.upload.is_some()).count();
        let mut objects = Vec::new();
        for (index, block) in gone {
            if let Some(m) = block.mapped {
                objects.push((index, m.generation));
            }
            // An upload still running finds its block gone and deletes its object.
            self.forget_block(&block);
        }
        let index = size / block_bytes;
        let tail = (size % block_bytes) as usize;
        let content_len = self
            .files
            .get(&key)
            .and_then(|f| f.blocks.get(&index))
            .map_or(0, |b| match (&b.open, &b.frozen, b.mapped) {
                (Some(o), _, _) => o.len(),
                (None, Some(f), _) => f.len(),
                (None, None, Some(m)) => m.len as usize,
                (None, None, None) => 0,
            });
        if tail != 0 && content_len > tail {
            self.ensure_loaded(key, index).await?;
            let newly_pinned = self.with_block(key, index, |b| {
                let mut open = match b.open.take() {
                    Some(open) => open,
                    None => {
                        let copy = b
                            .frozen
                            .as_ref()
                            .map_or_else(BytesMut::new, |f| BytesMut::from(&f[..]));
                        if b.upload.is_none() {
                            b.frozen = None;
                        }
                        copy
                    }
                };
                open.truncate(tail);
                b.open = Some(open);
                b.dirty = true;
                match seq {
                    Some(s) if b.pin.is_none() => {
                        b.pin = Some(s);
                        Some(s)
                    }
                    _ => None,
                }
            })?;
            if let Some(seq) = newly_pinned {
                self.pin(seq);
            }
        }
        Ok(Deferred {
            key: Some(key),
            from: first_gone,
            objects,
        })
    }

    /// Drops all content of the file; returns what to drop once durable.
    pub(crate) async fn remove(&mut self, key: ContentKey) -> Result<Deferred, ContentError> {
        self.load_file(key).await?;
        let Some(file) = self.files.remove(&key) else {
            return Ok(Deferred::default());
        };
        let mut objects = Vec::new();
        for (index, block) in &file.blocks {
            if let Some(m) = block.mapped {
                objects.push((*index, m.generation));
            }
            self.forget_block(block);
        }
        Ok(Deferred {
            key: Some(key),
            from: 0,
            objects,
        })
    }

    /// Drops the block map entries from `deferred.from` on (keeping blocks
    /// sealed again since) and returns the object keys to delete. Runs under
    /// the lock, so no upload records meanwhile; the objects it returns have
    /// generations this process never uses again, so the caller may delete
    /// them without the lock.
    pub(crate) async fn drop_mapped(
        &mut self,
        deferred: Deferred,
    ) -> Result<Vec<String>, ContentError> {
        let Some(key) = deferred.key else {
            return Ok(Vec::new());
        };
        let index = self.index.clone();
        let dropped = index.drop_from(key.share, key.ino, deferred.from).await?;
        let current: Vec<(u64, super::MappedBlock)> = self
            .files
            .get(&key)
            .map(|f| {
                f.blocks
                    .range(deferred.from..)
                    .filter_map(|(&i, b)| b.mapped.map(|m| (i, m)))
                    .collect()
            })
            .unwrap_or_default();
        for &(i, m) in &current {
            index.record(key.share, key.ino, i, m).await?;
        }
        let mut objects: Vec<(u64, u64)> = deferred.objects;
        objects.extend(dropped.into_iter().map(|(i, m)| (i, m.generation)));
        objects.sort_unstable();
        objects.dedup();
        Ok(objects
            .into_iter()
            .filter(|(i, g)| {
                !current
                    .iter()
                    .any(|(ci, cm)| ci == i && cm.generation == *g)
            })
            .map(|(i, g)| object_key(key, i, g))
            .collect())
    }
}
