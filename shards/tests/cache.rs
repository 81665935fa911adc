//! The cache's content path through the public shard API: block map
//! generations and garbage collection, orphans, copy-on-write during an
//! upload, eviction under a scan, backpressure, read-ahead and remote
//! durability. A test store counts reads and can stall its puts (a store
//! that hangs, then comes back).

use std::path::PathBuf;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use dittofs_shards::{
    BlockStore, BlockStoreError, ContentKey, MemoryBlockIndex, MemoryBlockStore, Shard,
    ShardOptions, Uploader, WalOptions,
};
use glommio::LocalExecutorBuilder;

const BLOCK: u64 = 16 << 10;
const KEY: ContentKey = ContentKey { share: 1, ino: 1 };

/// Longest a stalled put waits before giving up (keeps a broken test bounded).
const STALL_MAX: Duration = Duration::from_secs(20);

/// A memory store counting gets, whose puts wait while `stalled`.
#[derive(Default)]
struct TestStore {
    inner: MemoryBlockStore,
    stalled: AtomicBool,
    gets: AtomicU64,
    puts: AtomicU64,
}

impl BlockStore for TestStore {
    fn put(&self, key: &str, data: Bytes) -> Result<(), BlockStoreError> {
        let start = Instant::now();
        while self.stalled.load(Ordering::SeqCst) {
            if start.elapsed() > STALL_MAX {
                return Err(BlockStoreError::Io("stalled too long".into()));
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        self.puts.fetch_add(1, Ordering::SeqCst);
        self.inner.put(key, data)
    }
    fn get(&self, key: &str, offset: u64, len: u64) -> Result<Bytes, BlockStoreError> {
        self.gets.fetch_add(1, Ordering::SeqCst);
        self.inner.get(key, offset, len)
    }
    fn delete(&self, key: &str) -> Result<(), BlockStoreError> {
        self.inner.delete(key)
    }
    fn list(&self, prefix: &str) -> Result<Vec<String>, BlockStoreError> {
        self.inner.list(prefix)
    }
}

fn run<F: std::future::Future<Output = ()> + 'static>(f: impl FnOnce() -> F + Send + 'static) {
    LocalExecutorBuilder::default()
        .io_memory(1 << 20)
        .spawn(f)
        .expect("executor")
        .join()
        .expect("executor thread");
}

fn shard(store: &Arc<TestStore>, index: &MemoryBlockIndex) -> Shard {
    let s: Arc<dyn BlockStore> = store.clone();
    Shard::with_index(
        vec![(1, s)],
        BLOCK,
        Some(Uploader::start(4).expect("uploader")),
        Rc::new(index.clone()),
    )
}

fn block(fill: u8) -> Bytes {
    Bytes::from(
        (0..BLOCK)
            .map(|i| fill.wrapping_add((i % 13) as u8))
            .collect::<Vec<u8>>(),
    )
}

fn objects(store: &TestStore, prefix: &str) -> Vec<String> {
    store.inner.list(prefix).expect("list")
}

/// Each seal writes a new generation; the old object goes only after the
/// map points at the new one.
#[test]
fn generation_bumps_and_old_object_is_deleted_after_the_map_moved() {
    run(|| async {
        let store = Arc::new(TestStore::default());
        let index = MemoryBlockIndex::new();
        let shard = shard(&store, &index);
        shard.write(KEY, 0, block(1)).await.expect("write");
        shard.drain().await.expect("drain");
        let g1 = index.get(1, 1, 0).expect("mapped").generation;
        assert_eq!(objects(&store, "1/1/"), vec![format!("1/1/0.{g1}")]);

        // The second version's upload hangs: the map and the old object stay.
        store.stalled.store(true, Ordering::SeqCst);
        shard.write(KEY, 0, block(2)).await.expect("write");
        glommio::timer::sleep(Duration::from_millis(50)).await;
        assert_eq!(index.get(1, 1, 0).expect("mapped").generation, g1);
        assert_eq!(objects(&store, "1/1/"), vec![format!("1/1/0.{g1}")]);
        let got = shard.read(KEY, 0, BLOCK as u32).await.expect("read");
        assert_eq!(got, block(2), "a sealing block is read from memory");

        store.stalled.store(false, Ordering::SeqCst);
        shard.drain().await.expect("drain");
        let g2 = index.get(1, 1, 0).expect("mapped").generation;
        assert!(g2 > g1, "generation {g2} after {g1}");
        assert_eq!(objects(&store, "1/1/"), vec![format!("1/1/0.{g2}")]);
        let object = store
            .inner
            .get(&format!("1/1/0.{g2}"), 0, u64::MAX)
            .expect("get");
        assert_eq!(object, block(2));
    });
}

/// Objects the map does not point at are never read, and the sweep deletes
/// them (and those of a removed inode), keeping the mapped ones.
#[test]
fn orphans_are_never_read_and_are_swept() {
    run(|| async {
        let store = Arc::new(TestStore::default());
        let index = MemoryBlockIndex::new();
        {
            let shard = shard(&store, &index);
            shard.write(KEY, 0, block(1)).await.expect("write");
            shard.drain().await.expect("drain");
        }
        let g = index.get(1, 1, 0).expect("mapped").generation;
        // A crash after the put and before the record, twice, and a removed file.
        store
            .inner
            .put(&format!("1/1/0.{}", g + 1), block(9))
            .expect("put");
        store.inner.put("1/1/1.7", block(9)).expect("put");
        store.inner.put("1/2/0.1", block(9)).expect("put");
        index.set_gone(1, 2);

        let shard = shard(&store, &index);
        let got = shard.read(KEY, 0, 2 * BLOCK as u32).await.expect("read");
        assert_eq!(got.slice(..BLOCK as usize), block(1));
        assert!(got[BLOCK as usize..].iter().all(|&b| b == 0), "orphan read");

        let swept = shard.sweep(0, 1).await.expect("sweep");
        assert_eq!(swept, 3);
        assert_eq!(objects(&store, "1/"), vec![format!("1/1/0.{g}")]);
        // The next seal may reuse the orphan's generation: it is a new object.
        shard.write(KEY, 0, block(3)).await.expect("write");
        shard.drain().await.expect("drain");
        let got = shard.read(KEY, 0, BLOCK as u32).await.expect("read");
        assert_eq!(got, block(3));
        assert_eq!(shard.sweep(0, 1).await.expect("sweep"), 0);
    });
}

/// A write into a block being uploaded goes into a new buffer; the upload
/// of the old version completes, then the new version is uploaded.
#[test]
fn writes_during_an_upload_copy_on_write() {
    run(|| async {
        let store = Arc::new(TestStore::default());
        let index = MemoryBlockIndex::new();
        let shard = shard(&store, &index);
        store.stalled.store(true, Ordering::SeqCst);
        shard.write(KEY, 0, block(1)).await.expect("write");
        glommio::timer::sleep(Duration::from_millis(20)).await;
        shard
            .write(KEY, 5, Bytes::from_static(b"COW!"))
            .await
            .expect("write during upload");
        let mut want = block(1).to_vec();
        want[5..9].copy_from_slice(b"COW!");
        let got = shard.read(KEY, 0, BLOCK as u32).await.expect("read");
        assert_eq!(&got[..], &want[..]);
        store.stalled.store(false, Ordering::SeqCst);
        shard.drain().await.expect("drain");
        let g = index.get(1, 1, 0).expect("mapped").generation;
        assert_eq!(objects(&store, "1/1/"), vec![format!("1/1/0.{g}")]);
        let object = store
            .inner
            .get(&format!("1/1/0.{g}"), 0, u64::MAX)
            .expect("get");
        assert_eq!(&object[..], &want[..]);
        assert!(store.puts.load(Ordering::SeqCst) >= 2);
    });
}

/// Under a budget of 8 blocks: blocks read at random are protected, a scan
/// through 32 other blocks does not evict them, and a dirty block is never
/// evicted.
#[test]
fn eviction_keeps_dirty_and_hot_blocks_under_a_scan() {
    run(|| async {
        let store = Arc::new(TestStore::default());
        let index = MemoryBlockIndex::new();
        let shard = shard(&store, &index);
        shard
            .configure(&ShardOptions {
                shard_bytes_max: 8 * BLOCK,
                read_ahead_blocks: 0,
                remote_shares: Vec::new(),
            })
            .await
            .expect("configure");
        let hot = ContentKey { share: 1, ino: 10 };
        let scan = ContentKey { share: 1, ino: 11 };
        let dirty = ContentKey { share: 1, ino: 12 };
        for i in 0..4 {
            shard
                .write(hot, i * BLOCK, block(i as u8))
                .await
                .expect("write");
        }
        for i in 0..32 {
            shard
                .write(scan, i * BLOCK, block(100 + i as u8))
                .await
                .expect("write");
            shard.drain().await.expect("drain");
        }
        shard
            .write(dirty, 7, Bytes::from_static(b"dirty"))
            .await
            .expect("write");
        // Random reads of the hot blocks, twice: the second round hits.
        for round in 0..2 {
            // (No read starts where the previous one ended: not sequential.)
            for i in [3u64, 0, 2, 1] {
                let got = shard
                    .read(hot, i * BLOCK, BLOCK as u32)
                    .await
                    .expect("read");
                assert_eq!(got, block(i as u8), "round {round} block {i}");
            }
        }
        let before = store.gets.load(Ordering::SeqCst);
        // A sequential scan of 32 blocks, in 4 KiB reads.
        for off in (0..32 * BLOCK).step_by(4096) {
            shard.read(scan, off, 4096).await.expect("scan");
        }
        let scanned = store.gets.load(Ordering::SeqCst) - before;
        assert!(scanned >= 24, "the scan read {scanned} objects");
        let before = store.gets.load(Ordering::SeqCst);
        for i in [1u64, 3, 0, 2] {
            let got = shard
                .read(hot, i * BLOCK, BLOCK as u32)
                .await
                .expect("read");
            assert_eq!(got, block(i as u8));
        }
        let misses = store.gets.load(Ordering::SeqCst) - before;
        assert_eq!(
            misses,
            0,
            "the scan evicted hot blocks (hit ratio {}/4)",
            4 - misses
        );
        let got = shard.read(dirty, 7, 5).await.expect("read");
        assert_eq!(&got[..], b"dirty");
        let (held, clean) = shard.memory().await.expect("memory");
        assert!(held > 0, "the dirty block is still held");
        assert!(held + clean <= 8 * BLOCK, "over budget: {held} + {clean}");
        assert!(shard.stats().await.expect("stats").evictions > 0);
    });
}

/// The per-core counters of `dittofs_shards::stats` (the metrics endpoint):
/// dirty blocks and bytes are exact while uploads hang and return to zero
/// once everything is in the store; hits and misses follow the reads.
#[test]
fn shard_stats_follow_dirty_bytes_and_reads() {
    run(|| async {
        // A slot of our own (no other test in this binary binds one).
        dittofs_shards::stats::init(8);
        dittofs_shards::stats::bind_core(7);
        let stats = dittofs_shards::stats::local();
        let gauge = |g: &std::sync::atomic::AtomicI64| g.load(Ordering::SeqCst);
        let store = Arc::new(TestStore::default());
        let index = MemoryBlockIndex::new();
        let shard = shard(&store, &index);
        store.stalled.store(true, Ordering::SeqCst);
        shard.write(KEY, 0, block(1)).await.expect("write");
        shard.write(KEY, BLOCK, block(2)).await.expect("write");
        shard
            .write(KEY, 2 * BLOCK, Bytes::from(vec![3u8; 100]))
            .await
            .expect("write");
        glommio::timer::sleep(Duration::from_millis(20)).await;
        assert_eq!(gauge(&stats.dirty_blocks), 3);
        assert_eq!(gauge(&stats.dirty_bytes), (2 * BLOCK + 100) as i64);
        let hits = stats.cache_hits.load(Ordering::SeqCst);
        shard.read(KEY, 0, 10).await.expect("read");
        assert_eq!(stats.cache_hits.load(Ordering::SeqCst), hits + 1);
        store.stalled.store(false, Ordering::SeqCst);
        shard.drain().await.expect("drain");
        assert_eq!(gauge(&stats.dirty_blocks), 0);
        assert_eq!(gauge(&stats.dirty_bytes), 0);
        assert_eq!(
            stats.evictions.load(Ordering::SeqCst),
            shard.stats().await.expect("stats").evictions
        );
        let misses = stats.cache_misses.load(Ordering::SeqCst);
        let gets = store.gets.load(Ordering::SeqCst);
        for i in 0..3 {
            shard.read(KEY, i * BLOCK, 10).await.expect("read");
        }
        let fetched = store.gets.load(Ordering::SeqCst) - gets;
        assert_eq!(stats.cache_misses.load(Ordering::SeqCst) - misses, fetched);
    });
}

/// With the store hanging, a writer stops once dirty + uploading blocks fill
/// the budget, and finishes with everything intact once the store is back.
#[test]
fn writers_wait_for_uploads_beyond_the_budget_and_lose_nothing() {
    run(|| async {
        let store = Arc::new(TestStore::default());
        let index = MemoryBlockIndex::new();
        let shard = Rc::new(shard(&store, &index));
        shard
            .configure(&ShardOptions {
                shard_bytes_max: 4 * BLOCK,
                ..ShardOptions::default()
            })
            .await
            .expect("configure");
        store.stalled.store(true, Ordering::SeqCst);
        let written = Rc::new(std::cell::Cell::new(0u64));
        let writer = {
            let (shard, written) = (shard.clone(), written.clone());
            glommio::spawn_local(async move {
                for i in 0..16u64 {
                    shard.write(KEY, i * BLOCK, block(i as u8)).await?;
                    written.set(i + 1);
                }
                shard.flush(KEY).await
            })
        };
        glommio::timer::sleep(Duration::from_millis(300)).await;
        let stuck_at = written.get();
        assert!(stuck_at < 16, "the writer did not wait");
        let (held, _) = shard.memory().await.expect("memory");
        assert!(held <= 5 * BLOCK, "held {held} bytes over a 4-block budget");
        store.stalled.store(false, Ordering::SeqCst);
        writer
            .await
            .expect("writes and flush succeed once the store is back");
        let got = shard.read(KEY, 0, 16 * BLOCK as u32).await.expect("read");
        for i in 0..16u64 {
            let piece = got.slice((i * BLOCK) as usize..((i + 1) * BLOCK) as usize);
            assert_eq!(piece, block(i as u8), "block {i}");
        }
        for i in 0..16 {
            assert!(index.get(1, 1, i).is_some(), "block {i} not in the map");
        }
    });
}

/// A sequential reader makes the shard fetch the next blocks ahead (and then
/// hits them); a random reader never does.
#[test]
fn read_ahead_follows_sequential_readers_only() {
    run(|| async {
        let store = Arc::new(TestStore::default());
        let index = MemoryBlockIndex::new();
        {
            let shard = shard(&store, &index);
            for i in 0..8u64 {
                shard
                    .write(KEY, i * BLOCK, block(i as u8))
                    .await
                    .expect("write");
            }
            shard.drain().await.expect("drain");
        }
        // Sequential: 4 KiB reads from 0.
        let reader = shard(&store, &index);
        for off in (0..2 * BLOCK).step_by(4096) {
            reader.read(KEY, off, 4096).await.expect("read");
        }
        glommio::timer::sleep(Duration::from_millis(50)).await;
        let stats = reader.stats().await.expect("stats");
        assert!(stats.prefetches >= 2, "no read-ahead: {stats:?}");
        let got = reader.read(KEY, 2 * BLOCK, 4096).await.expect("read");
        assert_eq!(got, block(2).slice(..4096));
        let after = reader.stats().await.expect("stats");
        assert_eq!(
            after.store_reads, stats.store_reads,
            "prefetched block missed"
        );
        assert!(after.hits > stats.hits);

        // Random: never contiguous.
        let random = shard(&store, &index);
        for (n, block_index) in [5u64, 1, 7, 3, 6, 0, 4, 2].iter().enumerate() {
            let off = block_index * BLOCK + (n as u64 * 4096) % BLOCK;
            random.read(KEY, off, 512).await.expect("read");
        }
        glommio::timer::sleep(Duration::from_millis(50)).await;
        assert_eq!(random.stats().await.expect("stats").prefetches, 0);
    });
}

fn wal_dir(name: &str) -> PathBuf {
    let dir = std::env::var_os("CARGO_TARGET_TMPDIR")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir)
        .join(format!("cache-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("mkdir");
    dir
}

/// With `durability = "remote"` a flush waits for the store (the block is in
/// the map when it returns); with "local" the WAL is enough.
#[test]
fn remote_durability_waits_for_the_store() {
    for remote in [false, true] {
        let dir = wal_dir(if remote { "remote" } else { "local" });
        let d = dir.clone();
        run(move || async move {
            let store = Arc::new(TestStore::default());
            let index = MemoryBlockIndex::new();
            let s: Arc<dyn BlockStore> = store.clone();
            let (shard, _) = Shard::open(
                vec![(1, s)],
                BLOCK,
                WalOptions {
                    dir: d,
                    shard: 0,
                    segment_bytes: 64 * 4096,
                    segments: 3,
                    group_commit_window_us: 0,
                },
                Rc::new(index.clone()),
                Some(Uploader::start(2).expect("uploader")),
            )
            .await
            .expect("open");
            shard
                .configure(&ShardOptions {
                    remote_shares: if remote { vec![1] } else { Vec::new() },
                    ..ShardOptions::default()
                })
                .await
                .expect("configure");
            let shard = Rc::new(shard);
            store.stalled.store(true, Ordering::SeqCst);
            shard
                .write(KEY, 10, Bytes::from_static(b"commit me"))
                .await
                .expect("write");
            let done = Rc::new(std::cell::Cell::new(false));
            let flush = {
                let (shard, done) = (shard.clone(), done.clone());
                glommio::spawn_local(async move {
                    let r = shard.flush(KEY).await;
                    done.set(true);
                    r
                })
            };
            glommio::timer::sleep(Duration::from_millis(200)).await;
            assert_eq!(done.get(), !remote, "remote={remote}");
            store.stalled.store(false, Ordering::SeqCst);
            flush.await.expect("flush");
            if remote {
                let mapped = index
                    .get(1, 1, 0)
                    .expect("in the map after a remote commit");
                assert_eq!(mapped.len, 19);
            }
        });
        let _ = std::fs::remove_dir_all(&dir);
    }
}
