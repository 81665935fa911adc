//! Content forwarded between two real glommio executors.

use std::sync::Arc;

use bytes::Bytes;
use dittofs_shards::{shard_mesh, BlockStore, ContentKey, MemoryBlockStore, Router, Shard};
use glommio::{LocalExecutorBuilder, Placement};

#[test]
fn writes_from_every_core_reach_the_owner() {
    let store: Arc<dyn BlockStore> = Arc::new(MemoryBlockStore::new());
    let mesh = shard_mesh(2, 16);
    let handles: Vec<_> = (0..2)
        .map(|core| {
            let mesh = mesh.clone();
            let store = store.clone();
            LocalExecutorBuilder::new(Placement::Unbound)
                .io_memory(1 << 20)
                .spawn(move || async move {
                    let router = Router::join_mesh(mesh, Shard::new(vec![(0, store)], 4096))
                        .await
                        .unwrap();
                    // Every core writes its own slot of 16 files, then reads all slots back
                    // after a pause long enough for the other core's writes.
                    for ino in 1..=16u64 {
                        let key = ContentKey { share: 0, ino };
                        let data = Bytes::from(vec![core as u8 + 1; 100]);
                        router.write(key, core as u64 * 100, data).await.unwrap();
                    }
                    glommio::timer::sleep(std::time::Duration::from_millis(200)).await;
                    let mut remote = 0;
                    for ino in 1..=16u64 {
                        let key = ContentKey { share: 0, ino };
                        if router.owner(key) != core {
                            remote += 1;
                        }
                        let got = router.read(key, 0, 200).await.unwrap();
                        assert!(got[..100].iter().all(|b| *b == 1), "ino {ino}");
                        assert!(got[100..].iter().all(|b| *b == 2), "ino {ino}");
                    }
                    glommio::timer::sleep(std::time::Duration::from_millis(100)).await;
                    router.close();
                    remote
                })
                .unwrap()
        })
        .collect();
    let remote: Vec<usize> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    // Both cores forwarded something: ownership is spread.
    assert!(remote.iter().all(|r| *r > 0 && *r < 16), "{remote:?}");
}
