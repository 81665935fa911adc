//! The shard against a model: a plain `Vec<u8>` per file.

use std::sync::Arc;

use dittofs_shards::{BlockStore, ContentKey, MemoryBlockStore, Shard};
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

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]
    #[test]
    fn shard_matches_model(ops in prop::collection::vec(op(), 1..40)) {
        let store: Arc<dyn BlockStore> = Arc::new(MemoryBlockStore::new());
        let mut shard = Shard::new(vec![(1, store.clone())], BLOCK);
        let key = ContentKey { share: 1, ino: 7 };
        let mut model: Vec<u8> = Vec::new();
        for op in ops {
            match op {
                Op::Write { offset, len, fill } => {
                    let data: Vec<u8> = (0..len).map(|i| fill.wrapping_add(i as u8)).collect();
                    shard.write(key, offset, &data).unwrap();
                    let end = offset as usize + len;
                    if model.len() < end { model.resize(end, 0); }
                    model[offset as usize..end].copy_from_slice(&data);
                }
                Op::Truncate { size } => {
                    shard.truncate(key, size).unwrap();
                    model.resize(size as usize, 0);
                }
                Op::Flush => shard.flush(key).unwrap(),
                Op::Read { offset, len } => {
                    let got = shard.read(key, offset, len).unwrap();
                    prop_assert_eq!(got.len(), len as usize);
                    for (i, b) in got.iter().enumerate() {
                        let want = model.get(offset as usize + i).copied().unwrap_or(0);
                        prop_assert_eq!(*b, want, "byte {} of read at {}", i, offset);
                    }
                }
            }
        }
        // Whatever the model no longer covers must not linger in the store.
        shard.flush(key).unwrap();
        let blocks_needed = (model.len() as u64).div_ceil(BLOCK);
        for k in store.list("1/7/").unwrap() {
            let index: u64 = k.rsplit('/').next().unwrap().parse().unwrap();
            prop_assert!(index < blocks_needed, "stale block {} for size {}", index, model.len());
        }
        // A new shard over the same store (a restart) sees the flushed content.
        let mut reborn = Shard::new(vec![(1, store.clone())], BLOCK);
        let all = reborn.read(key, 0, model.len() as u32).unwrap();
        prop_assert_eq!(&all[..], &model[..]);
        reborn.remove(key).unwrap();
        prop_assert!(store.list("1/7/").unwrap().is_empty());
    }
}

#[test]
fn oversized_offsets_are_refused() {
    let store: Arc<dyn BlockStore> = Arc::new(MemoryBlockStore::new());
    let mut shard = Shard::new(vec![(1, store)], BLOCK);
    let key = ContentKey { share: 1, ino: 1 };
    assert!(shard.write(key, u64::MAX - 1, b"xy").is_err());
    assert!(shard.read(key, u64::MAX, 10).is_err());
    assert!(shard.truncate(key, u64::MAX).is_err());
    let unknown = ContentKey { share: 9, ino: 1 };
    assert!(shard.write(unknown, 0, b"x").is_err());
}
