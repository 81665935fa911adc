//! A shard's background tasks: idle sealing and the orphan sweep.
//!
//! Idle sealing uploads the dirty blocks of files unchanged for
//! `flush_delay` (so content reaches the block store and WAL space is freed
//! without waiting for pressure) and then checkpoints the WAL.
//!
//! The sweep deletes objects nothing will ever read: a crash between an
//! upload and its block map record leaves an *orphan* (its WAL records were
//! still pinned, so recovery wrote the block again under a new generation),
//! and a crash between a map drop and the delete leaves a superseded object.
//! It runs once at start, in the background, over the objects of the files
//! this shard owns (`owner_of`), in batches under the shard's lock: an object
//! is deleted only when its inode is gone, or when neither the persisted map
//! nor the cache maps or is uploading its generation. The lock makes the check
//! and the delete atomic against seals, which pick generations under it.

use std::collections::HashMap;
use std::rc::Rc;
use std::time::Duration;

use crate::cache::parse_object;
use crate::cache::seal::pump;
use crate::router::owner_of;
use crate::shard::{ContentError, ContentKey, Shard};

/// Objects checked per lock acquisition by the sweep.
const SWEEP_BATCH: usize = 64;

/// Pause between sweep batches, so the sweep never hogs the shard.
const SWEEP_PAUSE_MS: u64 = 2;

/// Longest the idle sealer waits for its uploads before checkpointing.
const IDLE_UPLOAD_WAIT_ROUNDS: usize = 20;

impl Shard {
    /// Starts the task that seals the dirty blocks of files idle for
    /// `flush_delay` and then checkpoints the WAL. The task ends when the
    /// shard is dropped.
    pub fn start_idle_sealer(self: &Rc<Self>, flush_delay: Duration) {
        let shard = Rc::downgrade(self);
        let tick = (flush_delay / 2).max(Duration::from_millis(10));
        glommio::spawn_local(async move {
            loop {
                glommio::timer::sleep(tick).await;
                let Some(shard) = shard.upgrade() else {
                    return;
                };
                let Ok(mut cache) = shard.lock().await else {
                    return;
                };
                if cache.request_seal_idle(flush_delay) == 0 {
                    continue;
                }
                pump(&shard.cache, &mut cache);
                drop(cache);
                // Let the uploads finish (bounded) so the checkpoint frees space.
                for _ in 0..IDLE_UPLOAD_WAIT_ROUNDS {
                    let Ok(cache) = shard.lock().await else {
                        return;
                    };
                    if cache.uploads == 0 && cache.seal_queue.is_empty() {
                        break;
                    }
                    let (changed, epoch) = (cache.changed.clone(), cache.changed.epoch());
                    drop(cache);
                    changed.wait_ms(epoch, tick.as_millis() as u64).await;
                }
                if let Some(wal) = shard.wal.clone() {
                    let lwm = match shard.lock().await {
                        Ok(cache) => cache.lowest_pin().unwrap_or_else(|| wal.next_seq()),
                        Err(_) => return,
                    };
                    if let Err(e) = wal.checkpoint(lwm).await {
                        log::warn!("WAL checkpoint failed: {e}");
                    }
                }
            }
        })
        .detach();
    }

    /// Starts the orphan sweep for the files owned by shard `core` of `cores`.
    pub fn start_sweeper(self: &Rc<Self>, core: usize, cores: usize) {
        let shard = Rc::downgrade(self);
        glommio::spawn_local(async move {
            let Some(shard) = shard.upgrade() else {
                return;
            };
            match shard.sweep(core, cores).await {
                Ok(0) => {}
                Ok(n) => log::info!("core {core}: swept {n} orphaned objects"),
                Err(e) => log::warn!("core {core}: orphan sweep stopped: {e}"),
            }
        })
        .detach();
    }

    /// One sweep over every share's objects; returns how many it deleted.
    pub async fn sweep(&self, core: usize, cores: usize) -> Result<usize, ContentError> {
        let shares: Vec<u32> = self.lock().await?.shares();
        let mut deleted = 0;
        for share in shares {
            let (io, store) = {
                let cache = self.lock().await?;
                (cache.io.clone(), cache.store(share)?)
            };
            let prefix = format!("{share}/");
            let p = prefix.clone();
            let s = store.clone();
            let objects = io.call(move || s.list(&p)).await?;
            let mut candidates = Vec::new();
            for object in objects {
                let Some((ino, rest)) = object[prefix.len()..].split_once('/') else {
                    continue;
                };
                let (Ok(ino), Some((index, generation))) = (ino.parse::<u64>(), parse_object(rest))
                else {
                    continue;
                };
                let key = ContentKey { share, ino };
                if owner_of(key, cores) == core {
                    candidates.push((key, index, generation, object));
                }
            }
            for batch in candidates.chunks(SWEEP_BATCH) {
                let cache = self.lock().await?;
                let mut maps: HashMap<ContentKey, Option<HashMap<u64, u64>>> = HashMap::new();
                for (key, index, generation, object) in batch {
                    if !maps.contains_key(key) {
                        let alive = cache.index.exists(key.share, key.ino).await?;
                        let map = if alive {
                            let persisted = cache.index.load(key.share, key.ino).await?;
                            Some(
                                persisted
                                    .into_iter()
                                    .map(|(i, m)| (i, m.generation))
                                    .collect(),
                            )
                        } else {
                            None
                        };
                        maps.insert(*key, map);
                    }
                    let keep = match maps.get(key) {
                        Some(Some(map)) => {
                            map.get(index) == Some(generation)
                                || cache.uses_generation(*key, *index, *generation)
                        }
                        _ => false,
                    };
                    if !keep {
                        let (s, o) = (store.clone(), object.clone());
                        io.call(move || s.delete(&o)).await?;
                        deleted += 1;
                    }
                }
                drop(cache);
                glommio::timer::sleep(Duration::from_millis(SWEEP_PAUSE_MS)).await;
            }
        }
        Ok(deleted)
    }
}
