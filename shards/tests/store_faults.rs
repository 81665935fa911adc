//! Block store failures seen through the shard: a store that errors (HTTP 500s,
//! ENOSPC) or hangs must delay writers once the WAL is full — never fail them,
//! never lose an acknowledged byte — and the backlog drains when it returns.

use std::path::PathBuf;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use dittofs_shards::{
    BlockStore, BlockStoreError, ContentError, ContentKey, MemoryBlockIndex, MemoryBlockStore,
    Shard, WalOptions,
};
use glommio::LocalExecutorBuilder;

const BLOCK_BYTES: u64 = 16 << 10;

/// A memory store whose puts fail (`Io` or `NoSpace`) while `down`, and whose
/// calls all sleep `delay_ms` first (a hanging store).
#[derive(Default)]
struct FaultyStore {
    inner: MemoryBlockStore,
    down: AtomicBool,
    no_space: AtomicBool,
    delay_ms: AtomicU64,
    failed_puts: AtomicU64,
}

impl FaultyStore {
    fn stall(&self) {
        let ms = self.delay_ms.load(Ordering::SeqCst);
        if ms > 0 {
            std::thread::sleep(Duration::from_millis(ms));
        }
    }
}

impl BlockStore for FaultyStore {
    fn put(&self, key: &str, data: Bytes) -> Result<(), BlockStoreError> {
        self.stall();
        if self.down.load(Ordering::SeqCst) {
            self.failed_puts.fetch_add(1, Ordering::SeqCst);
            return Err(if self.no_space.load(Ordering::SeqCst) {
                BlockStoreError::NoSpace
            } else {
                BlockStoreError::Io("HTTP 500 InternalError".into())
            });
        }
        self.inner.put(key, data)
    }
    fn get(&self, key: &str, offset: u64, len: u64) -> Result<Bytes, BlockStoreError> {
        self.stall();
        self.inner.get(key, offset, len)
    }
    fn delete(&self, key: &str) -> Result<(), BlockStoreError> {
        self.stall();
        self.inner.delete(key)
    }
    fn list(&self, prefix: &str) -> Result<Vec<String>, BlockStoreError> {
        self.inner.list(prefix)
    }
}

fn temp(name: &str) -> PathBuf {
    let dir = std::env::var_os("CARGO_TARGET_TMPDIR")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir)
        .join(format!("store-faults-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("mkdir");
    dir
}

async fn open(store: Arc<FaultyStore>, dir: &std::path::Path, index: &MemoryBlockIndex) -> Shard {
    let opts = WalOptions {
        dir: dir.to_owned(),
        shard: 0,
        segment_bytes: 16 * 4096,
        segments: 3,
        group_commit_window_us: 0,
    };
    let store: Arc<dyn BlockStore> = store;
    Shard::open(
        vec![(1, store)],
        BLOCK_BYTES,
        opts,
        Rc::new(index.clone()),
        Some(dittofs_shards::Uploader::start(2).expect("uploader")),
    )
    .await
    .expect("open")
    .0
}

/// Writes 64 × 12 KiB with a COMMIT each into one file while the store is down
/// (`no_space`: ENOSPC instead of 500s); the writer must stall, not fail; then
/// the store comes back, the writer finishes, and the content survives a restart.
fn store_down_delays_writers(no_space: bool) {
    let dir = temp(if no_space { "enospc" } else { "500" });
    let store = Arc::new(FaultyStore::default());
    store.down.store(true, Ordering::SeqCst);
    store.no_space.store(no_space, Ordering::SeqCst);
    let index = MemoryBlockIndex::new();
    let (s, d, i) = (store.clone(), dir.clone(), index.clone());
    let model = LocalExecutorBuilder::default()
        .io_memory(1 << 20)
        .spawn(move || async move {
            let shard = Rc::new(open(s.clone(), &d, &i).await);
            let key = ContentKey { share: 1, ino: 5 };
            let mut model = vec![0u8; 64 * (12 << 10)];
            for (i, chunk) in model.chunks_mut(12 << 10).enumerate() {
                chunk.fill(i as u8 + 1);
            }
            let done = Rc::new(std::cell::Cell::new(false));
            let writer = {
                let shard = shard.clone();
                let model = model.clone();
                let done = done.clone();
                glommio::spawn_local(async move {
                    for (i, chunk) in model.chunks(12 << 10).enumerate() {
                        let offset = (i * (12 << 10)) as u64;
                        shard
                            .write(key, offset, Bytes::copy_from_slice(chunk))
                            .await?;
                        shard.flush(key).await?;
                    }
                    done.set(true);
                    Ok::<(), ContentError>(())
                })
            };
            glommio::timer::sleep(Duration::from_millis(500)).await;
            assert!(
                s.failed_puts.load(Ordering::SeqCst) > 0,
                "the WAL never needed the store"
            );
            assert!(!done.get(), "the writer did not wait for the store");
            s.down.store(false, Ordering::SeqCst);
            let started = Instant::now();
            writer.await.expect("writes fail instead of waiting");
            assert!(started.elapsed() < Duration::from_secs(10));
            let got = shard.read(key, 0, model.len() as u32).await.expect("read");
            assert!(got[..] == model[..], "content differs before the restart");
            std::mem::forget(shard); // crash
            model
        })
        .expect("executor")
        .join()
        .expect("executor thread");
    let (s, d, i) = (store.clone(), dir.clone(), index.clone());
    LocalExecutorBuilder::default()
        .io_memory(1 << 20)
        .spawn(move || async move {
            let shard = open(s, &d, &i).await;
            let key = ContentKey { share: 1, ino: 5 };
            let got = shard.read(key, 0, model.len() as u32).await.expect("read");
            assert!(got[..] == model[..], "content differs after the restart");
        })
        .expect("executor")
        .join()
        .expect("executor thread");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn store_500s_delay_writers_and_lose_nothing() {
    store_down_delays_writers(false);
}

#[test]
fn store_enospc_delays_writers_and_loses_nothing() {
    store_down_delays_writers(true);
}

/// A store that answers every call after 30 ms: writes, commits and reads all
/// complete, the content is intact, and the data core never blocks on the
/// store (a 1 ms ticker on the same executor keeps ticking).
#[test]
fn hanging_store_only_slows_down() {
    let dir = temp("slow");
    let store = Arc::new(FaultyStore::default());
    store.delay_ms.store(30, Ordering::SeqCst);
    LocalExecutorBuilder::default()
        .io_memory(1 << 20)
        .spawn(move || async move {
            let shard = open(store, &dir, &MemoryBlockIndex::new()).await;
            let key = ContentKey { share: 1, ino: 9 };
            let stop = Rc::new(std::cell::Cell::new(false));
            let worst = Rc::new(std::cell::Cell::new(Duration::ZERO));
            let ticker = {
                let (stop, worst) = (stop.clone(), worst.clone());
                glommio::spawn_local(async move {
                    let mut last = Instant::now();
                    while !stop.get() {
                        glommio::timer::sleep(Duration::from_millis(1)).await;
                        worst.set(worst.get().max(last.elapsed()));
                        last = Instant::now();
                    }
                })
            };
            let data: Vec<u8> = (0..(100 << 10)).map(|i| (i % 251) as u8).collect();
            for (i, chunk) in data.chunks(10 << 10).enumerate() {
                shard
                    .write(key, (i * (10 << 10)) as u64, Bytes::copy_from_slice(chunk))
                    .await
                    .expect("write");
            }
            shard.flush(key).await.expect("commit");
            let got = shard.read(key, 0, data.len() as u32).await.expect("read");
            assert!(got[..] == data[..]);
            stop.set(true);
            ticker.await;
            // Each store call takes 30 ms; a blocked core would stall the ticker that long.
            assert!(
                worst.get() < Duration::from_millis(25),
                "the data core stalled {:?}",
                worst.get()
            );
            let _ = std::fs::remove_dir_all(&dir);
        })
        .expect("executor")
        .join()
        .expect("executor thread");
}

/// A partial block of a file left idle is sealed into the store after
/// `flush_delay` without any COMMIT or WAL pressure; while the store is down
/// it stays in the cache and is sealed once the store is back.
#[test]
fn idle_files_are_sealed_after_the_flush_delay() {
    let dir = temp("idle");
    let store = Arc::new(FaultyStore::default());
    LocalExecutorBuilder::default()
        .io_memory(1 << 20)
        .spawn(move || async move {
            let index = MemoryBlockIndex::new();
            let shard = Rc::new(open(store.clone(), &dir, &index).await);
            shard.start_idle_sealer(Duration::from_millis(40));
            let key = ContentKey { share: 1, ino: 3 };
            store.down.store(true, Ordering::SeqCst);
            shard
                .write(key, 100, Bytes::from_static(b"idle bytes"))
                .await
                .expect("write");
            glommio::timer::sleep(Duration::from_millis(200)).await;
            assert!(store.inner.list("1/3/").expect("list").is_empty());
            assert!(
                store.failed_puts.load(Ordering::SeqCst) > 0,
                "no seal was tried"
            );
            store.down.store(false, Ordering::SeqCst);
            glommio::timer::sleep(Duration::from_millis(200)).await;
            // One object, the generation the block map points at (failed
            // attempts used generations too, their objects never existed).
            let mapped = index.get(1, 3, 0).expect("block 0 is mapped");
            assert_eq!(
                store.inner.list("1/3/").expect("list"),
                vec![format!("1/3/0.{}", mapped.generation)]
            );
            let object = store
                .inner
                .get(&format!("1/3/0.{}", mapped.generation), 100, 10)
                .expect("get");
            assert_eq!(&object[..], b"idle bytes");
            let _ = std::fs::remove_dir_all(&dir);
        })
        .expect("executor")
        .join()
        .expect("executor thread");
}
