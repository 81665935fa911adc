//! Asynchronous sealing: freeze under the lock, upload without it, record in
//! the block map, then unpin and delete the superseded object.
//!
//! `pump` starts queued seals while fewer than `uploads_max` uploads of this
//! shard run. Each upload is a task holding only a weak reference to the
//! cache: when the shard is gone (a simulated crash in tests) the object it
//! may have put is an orphan, never recorded, and the WAL records it covered
//! are still in the log. Otherwise, under the lock, the object is recorded in
//! the block map (so records and truncates' map drops are serialized) and
//! the block becomes clean (or stays dirty when written meanwhile); a failed
//! put or record puts the data back as dirty, with its pin, for a later retry.
//!
//! Recording happens under the lock, and a metadata commit is an fsync: one
//! record per lock hold serialized a shard's uploads behind its metadata
//! store and stalled its writers meanwhile. So a finished put queues itself
//! (`Cache::done`) before it takes the lock, and whoever gets the lock
//! records everything queued at once, the records running concurrently so a
//! store with group commit (LMDB) makes them one commit.

use std::cell::RefCell;
use std::rc::{Rc, Weak};
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use glommio::sync::RwLock;

use super::{object_key, Cache, MappedBlock, Upload};
use crate::block_store::BlockStore;
use crate::shard::{ContentError, ContentKey};
use crate::uploader::StoreIo;

/// Starts queued seals up to the in-flight limit.
pub(crate) fn pump(shared: &Rc<RwLock<Cache>>, cache: &mut Cache) {
    while cache.uploads < cache.uploads_max {
        let Some((key, index)) = cache.seal_queue.pop_front() else {
            break;
        };
        let Ok(store) = cache.store(key.share) else {
            continue;
        };
        let Some(file) = cache.files.get(&key) else {
            continue;
        };
        if !file.blocks.contains_key(&index) {
            continue;
        }
        let generation = file.generation_max + 1;
        let started = cache.with_block(key, index, |b| {
            b.queued = false;
            if !b.dirty || b.upload.is_some() {
                b.reseal |= b.dirty;
                return None;
            }
            let data = b.open.take()?.freeze();
            b.frozen = Some(data.clone());
            b.upload = Some(Upload {
                generation,
                pin: b.pin.take(),
            });
            b.dirty = false;
            Some(data)
        });
        let Ok(Some(data)) = started else {
            continue;
        };
        if let Some(file) = cache.files.get_mut(&key) {
            file.generation_max = generation;
        }
        cache.uploads += 1;
        let task = upload(
            Rc::downgrade(shared),
            cache.done.clone(),
            cache.io.clone(),
            store,
            key,
            index,
            generation,
            data,
        );
        glommio::spawn_local(task).detach();
    }
}

/// A finished put, waiting for the shard lock to be recorded.
pub(crate) struct Done {
    key: ContentKey,
    index: u64,
    generation: u64,
    len: u64,
    store: Arc<dyn BlockStore>,
    put: Result<(), ContentError>,
}

/// Superseded or orphaned objects to delete once the lock is released.
type Deletes = Vec<(ContentKey, Arc<dyn BlockStore>, String)>;

#[allow(clippy::too_many_arguments)]
async fn upload(
    shared: Weak<RwLock<Cache>>,
    done: Rc<RefCell<Vec<Done>>>,
    io: StoreIo,
    store: Arc<dyn BlockStore>,
    key: ContentKey,
    index: u64,
    generation: u64,
    data: Bytes,
) {
    let object = object_key(key, index, generation);
    let len = data.len() as u64;
    let s = store.clone();
    let started = std::time::Instant::now();
    let put = io.call(move || s.put(&object, data)).await;
    let shard_stats = crate::stats::local();
    shard_stats
        .upload_latency
        .observe_duration(started.elapsed());
    if put.is_err() {
        crate::stats::add(&shard_stats.upload_failures, 1);
    }
    let Some(shared) = shared.upgrade() else {
        return;
    };
    done.borrow_mut().push(Done {
        key,
        index,
        generation,
        len,
        store,
        put,
    });
    let Ok(mut cache) = shared.write().await else {
        return;
    };
    // Puts that finished while another task held the lock are recorded
    // together (their metadata commits share one group commit); a task that
    // finds the queue empty was recorded by such a batch.
    let batch = std::mem::take(&mut *done.borrow_mut());
    if batch.is_empty() {
        return;
    }
    let delete = record_batch(&mut cache, batch).await;
    pump(&shared, &mut cache);
    cache.evict();
    let changed = cache.changed.clone();
    let mut counted = Vec::new();
    for (key, _, _) in &delete {
        if let Some(file) = cache.files.get_mut(key) {
            file.deleting += 1;
            counted.push(*key);
        }
    }
    drop(cache);
    changed.notify();
    for (_, store, object) in delete {
        if let Err(e) = io.call(move || store.delete(&object)).await {
            log::debug!("deleting a superseded object failed (the sweep retries): {e}");
        }
    }
    if !counted.is_empty() {
        if let Ok(mut cache) = shared.write().await {
            for key in counted {
                if let Some(file) = cache.files.get_mut(&key) {
                    file.deleting = file.deleting.saturating_sub(1);
                }
            }
        }
        changed.notify();
    }
}

/// Records the finished puts of `batch` in the block map (concurrently, under
/// the lock the caller holds) and settles their blocks; returns the objects
/// to delete.
async fn record_batch(cache: &mut Cache, batch: Vec<Done>) -> Deletes {
    let mut delete = Vec::new();
    let mut recording = Vec::new();
    for done in batch {
        let (key, index, generation) = (done.key, done.index, done.generation);
        cache.uploads -= 1;
        let current = cache
            .files
            .get(&key)
            .and_then(|f| f.blocks.get(&index))
            .and_then(|b| b.upload)
            .is_some_and(|u| u.generation == generation);
        if !current {
            if let Some(file) = cache.files.get_mut(&key) {
                file.cancelled = file.cancelled.saturating_sub(1);
            }
        }
        match done.put {
            Ok(()) if current => {
                let mapped = MappedBlock {
                    generation,
                    len: done.len,
                };
                let task =
                    glommio::spawn_local(cache.index.record(key.share, key.ino, index, mapped));
                recording.push((done, mapped, task));
            }
            // Truncated or removed meanwhile: an orphan nobody will map.
            Ok(()) => delete.push((key, done.store, object_key(key, index, generation))),
            Err(e) if current => {
                log::warn!("uploading block {index} of {key:?} failed: {e}");
                cache.fail_upload(key, index, e);
            }
            Err(_) => {}
        }
    }
    for (done, mapped, task) in recording {
        let (key, index) = (done.key, done.index);
        match task.await {
            Ok(()) => {
                if let Some(old) = cache.finish_upload(key, index, mapped) {
                    delete.push((key, done.store, object_key(key, index, old)));
                }
            }
            Err(e) => {
                log::warn!("recording block {index} of {key:?} failed: {e}");
                cache.fail_upload(key, index, e);
                delete.push((key, done.store, object_key(key, index, mapped.generation)));
            }
        }
    }
    delete
}

impl Cache {
    /// The upload of block `index` is in the map: the block is clean unless
    /// written meanwhile. Returns the superseded generation.
    fn finish_upload(&mut self, key: ContentKey, index: u64, mapped: MappedBlock) -> Option<u64> {
        let done = self.with_block(key, index, |b| {
            let old = b.mapped.replace(mapped).map(|m| m.generation);
            let pin = b.upload.take().and_then(|u| u.pin);
            if b.open.is_some() {
                b.frozen = None;
            }
            let reseal = std::mem::take(&mut b.reseal);
            (old, pin, reseal, b.is_clean())
        });
        let Ok((old, pin, reseal, clean)) = done else {
            return None;
        };
        self.stats.uploads += 1;
        if let Some(seq) = pin {
            self.unpin(seq);
        }
        if clean {
            self.admit(key, index);
        }
        if reseal {
            self.request_seal(key, index);
        }
        old.filter(|&g| g != mapped.generation)
    }

    /// The upload of block `index` failed: its data is dirty again.
    fn fail_upload(&mut self, key: ContentKey, index: u64, error: ContentError) {
        let merged = self.with_block(key, index, |b| {
            let upload = b.upload.take();
            let frozen = b.frozen.take();
            let old_pin = upload.and_then(|u| u.pin);
            b.reseal = false;
            b.dirty = true;
            match &b.open {
                // Written meanwhile: the open buffer holds the frozen data too.
                Some(_) => match (b.pin, old_pin) {
                    (Some(a), Some(c)) => {
                        b.pin = Some(a.min(c));
                        Some(a.max(c))
                    }
                    (None, c) => {
                        b.pin = c;
                        None
                    }
                    (Some(_), None) => None,
                },
                None => {
                    b.open = frozen.map(|f| BytesMut::from(&f[..]));
                    b.pin = old_pin;
                    None
                }
            }
        });
        if let Ok(Some(seq)) = merged {
            self.unpin(seq);
        }
        self.failures += 1;
        if let Some(file) = self.files.get_mut(&key) {
            file.failed = Some(error);
        }
    }
}
