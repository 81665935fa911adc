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

async fn upload(
    shared: Weak<RwLock<Cache>>,
    io: StoreIo,
    store: Arc<dyn BlockStore>,
    key: ContentKey,
    index: u64,
    generation: u64,
    data: Bytes,
) {
    let object = object_key(key, index, generation);
    let len = data.len() as u64;
    let (o, s) = (object.clone(), store.clone());
    let started = std::time::Instant::now();
    let put = io.call(move || s.put(&o, data)).await;
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
    let Ok(mut cache) = shared.write().await else {
        return;
    };
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
    let mut delete = Vec::new();
    match put {
        Ok(()) if current => {
            let map = cache.index.clone();
            let mapped = MappedBlock { generation, len };
            match map.record(key.share, key.ino, index, mapped).await {
                Ok(()) => {
                    if let Some(old) = cache.finish_upload(key, index, mapped) {
                        delete.push(object_key(key, index, old));
                    }
                }
                Err(e) => {
                    log::warn!("recording block {index} of {key:?} failed: {e}");
                    cache.fail_upload(key, index, e);
                    delete.push(object);
                }
            }
        }
        // Truncated or removed meanwhile: an orphan nobody will map.
        Ok(()) => delete.push(object),
        Err(e) if current => {
            log::warn!("uploading block {index} of {key:?} failed: {e}");
            cache.fail_upload(key, index, e);
        }
        Err(_) => {}
    }
    pump(&shared, &mut cache);
    cache.evict();
    let changed = cache.changed.clone();
    let counted = match cache.files.get_mut(&key) {
        Some(file) if !delete.is_empty() => {
            file.deleting += 1;
            true
        }
        _ => false,
    };
    drop(cache);
    changed.notify();
    for object in delete {
        let s = store.clone();
        if let Err(e) = io.call(move || s.delete(&object)).await {
            log::debug!("deleting a superseded object failed (the sweep retries): {e}");
        }
    }
    if counted {
        if let Ok(mut cache) = shared.write().await {
            if let Some(file) = cache.files.get_mut(&key) {
                file.deleting = file.deleting.saturating_sub(1);
            }
        }
        changed.notify();
    }
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
