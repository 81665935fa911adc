//! The shard against a model: a plain `Vec<u8>` per file, with and without a
//! WAL (small segments, so the log fills, checkpoints and reuses segments).

use std::rc::Rc;
use std::sync::Arc;

use bytes::Bytes;
use dittofs_shards::{
    BlockStore, ContentKey, MemoryBlockIndex, MemoryBlockStore, Shard, WalOptions,
};
use futures_lite::future::BoxedLocal;
use glommio::LocalExecutorBuilder;
use proptest::prelude::*;

const BLOCK: u64 = 4096;

#[derive(Debug, Clone)]
enum Op {
    Write { offset: u64, len: usize, fill: u8 },
    Truncate { size: u64 },
    Flush,
    Read { offset: u64, len: u32 },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0u64..5 * BLOCK, 1usize..3 * BLOCK as usize, any::<u8>())
            .prop_map(|(offset, len, fill)| Op::Write { offset, len, fill }),
        1 => (0u64..6 * BLOCK).prop_map(|size| Op::Truncate { size }),
        1 => Just(Op::Flush),
        3 => (0u64..7 * BLOCK, 0u32..3 * BLOCK as u32).prop_map(|(offset, len)| Op::Read { offset, len }),
    ]
}

fn run<T: Send + 'static>(f: impl FnOnce() -> BoxedLocal<T> + Send + 'static) -> T {
    LocalExecutorBuilder::default()
        .io_memory(1 << 20)
        .spawn(f)
        .unwrap()
        .join()
        .unwrap()
}

async fn open(
    store: &Arc<dyn BlockStore>,
    index: &MemoryBlockIndex,
    wal_dir: Option<&std::path::Path>,
) -> Shard {
    match wal_dir {
        None => Shard::with_index(
            vec![(1, store.clone())],
            BLOCK,
            None,
            Rc::new(index.clone()),
        ),
        Some(dir) => {
            let opts = WalOptions {
                dir: dir.to_owned(),
                shard: 0,
                segment_bytes: 8 * 4096,
                segments: 3,
                group_commit_window_us: 0,
            };
            Shard::open(
                vec![(1, store.clone())],
                BLOCK,
                opts,
                Rc::new(index.clone()),
                Some(dittofs_shards::Uploader::start(2).unwrap()),
            )
            .await
            .unwrap()
            .0
        }
    }
}

async fn check(ops: Vec<Op>, wal_dir: Option<std::path::PathBuf>) -> Result<(), String> {
    let store: Arc<dyn BlockStore> = Arc::new(MemoryBlockStore::new());
    let index = MemoryBlockIndex::new();
    let shard = open(&store, &index, wal_dir.as_deref()).await;
    let key = ContentKey { share: 1, ino: 7 };
    let mut model: Vec<u8> = Vec::new();
    for op in ops {
        match op {
            Op::Write { offset, len, fill } => {
                let data: Vec<u8> = (0..len).map(|i| fill.wrapping_add(i as u8)).collect();
                shard
                    .write(key, offset, Bytes::from(data.clone()))
                    .await
                    .unwrap();
                let end = offset as usize + len;
                if model.len() < end {
                    model.resize(end, 0);
                }
                model[offset as usize..end].copy_from_slice(&data);
            }
            Op::Truncate { size } => {
                shard.truncate(key, size).await.unwrap();
                model.resize(size as usize, 0);
            }
            Op::Flush => shard.flush(key).await.unwrap(),
            Op::Read { offset, len } => {
                let got = shard.read(key, offset, len).await.unwrap();
                if got.len() != len as usize {
                    return Err(format!("read of {len} returned {}", got.len()));
                }
                for (i, b) in got.iter().enumerate() {
                    let want = model.get(offset as usize + i).copied().unwrap_or(0);
                    if *b != want {
                        return Err(format!("byte {i} of read at {offset}: {b} != {want}"));
                    }
                }
            }
        }
    }
    shard.flush(key).await.unwrap();
    // A clean restart (uploads finished): a new shard over the same store,
    // block map (and log) sees everything.
    shard.drain().await.unwrap();
    drop(shard);
    let reborn = open(&store, &index, wal_dir.as_deref()).await;
    let all = reborn.read(key, 0, model.len() as u32).await.unwrap();
    if all[..] != model[..] {
        return Err("content differs after restart".into());
    }
    // Whatever the model no longer covers must not linger in the store
    // (a restart with a WAL seals everything replayed).
    if wal_dir.is_some() {
        let blocks_needed = (model.len() as u64).div_ceil(BLOCK);
        for k in store.list("1/7/").unwrap() {
            let name = k.rsplit('/').next().unwrap();
            let index: u64 = name.split('.').next().unwrap().parse().unwrap();
            if index >= blocks_needed {
                return Err(format!("stale block {index} for size {}", model.len()));
            }
        }
    }
    reborn.remove(key).await.unwrap();
    if !store.list("1/7/").unwrap().is_empty() {
        return Err("objects left after remove".into());
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(150))]
    #[test]
    fn shard_matches_model(ops in prop::collection::vec(op(), 1..40)) {
        let r = run(move || Box::pin(check(ops, None)));
        prop_assert!(r.is_ok(), "{:?}", r);
    }

    #[test]
    fn shard_with_wal_matches_model(ops in prop::collection::vec(op(), 1..40)) {
        let dir = tempdir();
        let path = dir.0.clone();
        let r = run(move || Box::pin(check(ops, Some(path))));
        prop_assert!(r.is_ok(), "{:?}", r);
    }
}

struct TempDir(std::path::PathBuf);
impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
fn tempdir() -> TempDir {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let base = std::env::var_os("CARGO_TARGET_TMPDIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    let dir = base.join(format!(
        "shard-model-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    TempDir(dir)
}

#[test]
fn oversized_offsets_are_refused() {
    run(|| {
        Box::pin(async {
            let store: Arc<dyn BlockStore> = Arc::new(MemoryBlockStore::new());
            let shard = Shard::new(vec![(1, store)], BLOCK);
            let key = ContentKey { share: 1, ino: 1 };
            assert!(shard
                .write(key, u64::MAX - 1, Bytes::from_static(b"xy"))
                .await
                .is_err());
            assert!(shard.read(key, u64::MAX, 10).await.is_err());
            assert!(shard.truncate(key, u64::MAX).await.is_err());
            let unknown = ContentKey { share: 9, ino: 1 };
            assert!(shard
                .write(unknown, 0, Bytes::from_static(b"x"))
                .await
                .is_err());
        })
    });
}

/// A write larger than a WAL segment is logged as several records, and comes
/// back whole, before and after a restart.
#[test]
fn writes_larger_than_a_segment_are_split() {
    let dir = tempdir();
    let path = dir.0.clone();
    run(move || {
        Box::pin(async move {
            let store: Arc<dyn BlockStore> = Arc::new(MemoryBlockStore::new());
            let index = MemoryBlockIndex::new();
            let shard = open(&store, &index, Some(&path)).await;
            let key = ContentKey { share: 1, ino: 2 };
            let data: Vec<u8> = (0..100_000u32).map(|i| (i % 241) as u8).collect();
            shard
                .write(key, 777, Bytes::from(data.clone()))
                .await
                .unwrap();
            shard.flush(key).await.unwrap();
            let got = shard.read(key, 777, data.len() as u32).await.unwrap();
            assert!(got[..] == data[..]);
            drop(shard);
            let reborn = open(&store, &index, Some(&path)).await;
            let got = reborn.read(key, 777, data.len() as u32).await.unwrap();
            assert!(got[..] == data[..]);
        })
    });
}
