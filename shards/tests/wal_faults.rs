//! Disk faults under the real WAL (O_DIRECT files through `FaultyStorage`):
//! a torn record write, an fdatasync error, ENOSPC, a stalled sync and seeded
//! random faults. Each ends in a clear error or a delay — never a panic, never
//! a later sync that claims durability after a failed one — and after a
//! reopen on healthy storage every record acknowledged as durable is replayed
//! intact while a torn one is not.

use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use dittofs_shards::wal::faulty::{FaultPlan, FaultyStorage};
use dittofs_shards::wal::storage::set_thread_default;
use dittofs_shards::wal::{DmaStorage, RecordKind, Recovered, SegmentStorage};
use dittofs_shards::{
    BlockIndex, ContentError, ContentKey, MemoryBlockStore, Shard, Wal, WalError, WalOptions,
};
use futures_lite::future::BoxedLocal;
use glommio::LocalExecutorBuilder;

fn temp(name: &str) -> PathBuf {
    let dir = std::env::var_os("CARGO_TARGET_TMPDIR")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir)
        .join(format!("wal-faults-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("mkdir");
    dir
}

fn options(dir: &Path) -> WalOptions {
    WalOptions {
        dir: dir.to_owned(),
        shard: 0,
        segment_bytes: 32 * 4096,
        segments: 3,
        group_commit_window_us: 0,
    }
}

fn run<T: Send + 'static>(f: impl FnOnce() -> BoxedLocal<T> + Send + 'static) -> T {
    LocalExecutorBuilder::default()
        .spawn(move || async move { f().await })
        .expect("executor")
        .join()
        .expect("join")
}

/// Payload of record `i`: several sectors, so a tear cuts it.
fn payload(i: u64) -> Vec<u8> {
    (0..9000u64).map(|b| (b * 31 + i * 7) as u8).collect()
}

/// Appends one data record for `i`; `sync` asks for durability.
async fn append(wal: &Wal, i: u64, sync: bool) -> Result<u64, WalError> {
    let data = payload(i);
    let slot = wal.try_reserve(data.len())?.expect("space");
    let seq = slot.seq;
    wal.write(slot, RecordKind::Data, 1, i, 0, &data).await?;
    if sync {
        wal.sync_to(seq).await?;
    }
    Ok(seq)
}

async fn reopen(dir: &Path) -> Recovered {
    let storage: Rc<dyn SegmentStorage> = Rc::new(DmaStorage);
    let (_, recovered) = Wal::open_with(options(dir), storage)
        .await
        .expect("reopen on healthy storage");
    recovered
}

/// Every acknowledged record `i` is replayed with its exact payload.
fn assert_replayed(recovered: &Recovered, acked: &[u64]) {
    for &i in acked {
        let r = recovered
            .records
            .iter()
            .find(|r| r.header.ino == i)
            .unwrap_or_else(|| {
                panic!(
                    "acknowledged record {i} lost; stopped: {:?}",
                    recovered.stopped
                )
            });
        assert_eq!(r.payload, Bytes::from(payload(i)), "record {i} corrupted");
    }
}

async fn open_faulty(dir: &Path, spec: &str) -> Rc<Wal> {
    let storage: Rc<dyn SegmentStorage> =
        Rc::new(FaultyStorage::new(FaultPlan::parse(spec).expect("spec")));
    Wal::open_with(options(dir), storage).await.expect("open").0
}

#[test]
fn torn_write_is_detected_and_never_replayed() {
    let dir = temp("torn");
    run(move || {
        Box::pin(async move {
            // Writes 1 and 2 are acknowledged; write 3 is torn and the "power" goes.
            let wal = open_faulty(&dir, "tear@3,crash=freeze").await;
            append(&wal, 1, true).await.expect("record 1");
            append(&wal, 2, true).await.expect("record 2");
            let err = append(&wal, 3, true)
                .await
                .expect_err("torn write must fail");
            assert!(
                matches!(err, WalError::Io(ref m) if m.contains("torn")),
                "{err}"
            );
            drop(wal);
            let recovered = reopen(&dir).await;
            assert_replayed(&recovered, &[1, 2]);
            assert!(
                recovered.records.iter().all(|r| r.header.ino != 3),
                "the torn record was replayed"
            );
            assert!(
                recovered
                    .stopped
                    .as_deref()
                    .is_some_and(|s| s.contains("damaged")),
                "torn record not reported: {:?}",
                recovered.stopped
            );
        })
    });
}

#[test]
fn torn_first_record_of_a_segment_is_not_replayed() {
    let dir = temp("torn-first");
    run(move || {
        Box::pin(async move {
            let wal = open_faulty(&dir, "tear@1,crash=freeze").await;
            assert!(append(&wal, 1, true).await.is_err());
            drop(wal);
            let recovered = reopen(&dir).await;
            assert!(
                recovered.records.is_empty(),
                "{:?}",
                recovered.records.len()
            );
        })
    });
}

#[test]
fn fdatasync_error_poisons_the_log() {
    let dir = temp("sync-eio");
    run(move || {
        Box::pin(async move {
            let wal = open_faulty(&dir, "sync_eio@2").await;
            let first = append(&wal, 1, true).await.expect("record 1 durable");
            let err = append(&wal, 2, true).await.expect_err("sync 2 fails");
            assert!(
                matches!(err, WalError::Io(ref m) if m.contains("fdatasync")),
                "{err}"
            );
            // fsyncgate: a retried fdatasync would succeed, but the pages it
            // covered may be gone; the log must not acknowledge anything again.
            assert!(
                wal.sync_to(first).await.is_err(),
                "sync after EIO succeeded"
            );
            assert!(wal.sync_all().await.is_err());
            assert!(wal.try_reserve(10).is_err(), "new records after EIO");
            drop(wal);
            assert_replayed(&reopen(&dir).await, &[1]);
        })
    });
}

#[test]
fn concurrent_waiters_of_a_failed_sync_all_fail() {
    let dir = temp("sync-eio-group");
    run(move || {
        Box::pin(async move {
            let wal = open_faulty(&dir, "stall_sync=100@1,sync_eio@2+").await;
            append(&wal, 1, true).await.expect("record 1 (slow sync)");
            let mut tasks = Vec::new();
            for i in 2..6 {
                let wal = wal.clone();
                tasks.push(glommio::spawn_local(
                    async move { append(&wal, i, true).await },
                ));
            }
            for t in tasks {
                assert!(
                    t.await.is_err(),
                    "a waiter of the failed group commit succeeded"
                );
            }
            drop(wal);
            assert_replayed(&reopen(&dir).await, &[1]);
        })
    });
}

#[test]
fn enospc_on_write_is_no_space_not_a_lie() {
    let dir = temp("enospc");
    run(move || {
        Box::pin(async move {
            let wal = open_faulty(&dir, "enospc@2").await;
            append(&wal, 1, true).await.expect("record 1");
            assert_eq!(append(&wal, 2, true).await, Err(WalError::NoSpace));
            assert_eq!(wal.sync_all().await, Err(WalError::NoSpace));
            drop(wal);
            assert_replayed(&reopen(&dir).await, &[1]);
        })
    });
}

struct AllExist;

impl BlockIndex for AllExist {
    fn exists(&self, _: u32, _: u64) -> BoxedLocal<Result<bool, ContentError>> {
        Box::pin(async { Ok(true) })
    }
    fn grow_size(&self, _: u32, _: u64, _: u64) -> BoxedLocal<Result<(), ContentError>> {
        Box::pin(async { Ok(()) })
    }
}

/// The shard (as the NFS layer sees it) turns a WAL ENOSPC into
/// `ContentError::NoSpace` (NFS3ERR_NOSPC) on the stable write.
#[test]
fn enospc_reaches_the_shard_as_no_space() {
    let dir = temp("enospc-shard");
    run(move || {
        Box::pin(async move {
            let faulty: Rc<dyn SegmentStorage> = Rc::new(FaultyStorage::new(
                FaultPlan::parse("enospc@2+").expect("spec"),
            ));
            set_thread_default(Some(faulty));
            let store = std::sync::Arc::new(MemoryBlockStore::new());
            let (shard, _) =
                Shard::open(vec![(1, store)], 16 << 10, options(&dir), &AllExist, None)
                    .await
                    .expect("open");
            set_thread_default(None);
            let key = ContentKey { share: 1, ino: 7 };
            shard
                .write(key, 0, Bytes::from_static(b"acked"))
                .await
                .expect("write 1");
            shard.flush(key).await.expect("flush 1");
            shard
                .write(key, 5, Bytes::from_static(b"lost"))
                .await
                .expect("unstable write");
            assert_eq!(shard.flush(key).await, Err(ContentError::NoSpace));
            // Later writes are refused instead of being promised.
            assert_eq!(
                shard.write(key, 9, Bytes::from_static(b"x")).await,
                Err(ContentError::NoSpace)
            );
        })
    });
}

#[test]
fn stalled_sync_only_delays() {
    let dir = temp("stall");
    run(move || {
        Box::pin(async move {
            let wal = open_faulty(&dir, "stall_sync=300@1,stall_write=100@2").await;
            let t = Instant::now();
            append(&wal, 1, true).await.expect("record 1");
            append(&wal, 2, true).await.expect("record 2");
            assert!(t.elapsed() >= Duration::from_millis(400));
            drop(wal);
            assert_replayed(&reopen(&dir).await, &[1, 2]);
        })
    });
}

/// Seeded random faults (EIO and ENOSPC on writes, EIO on syncs, torn writes
/// that freeze the disk): whatever hits first, every record acknowledged
/// before it is replayed after the reopen, and no sync succeeds after it.
#[test]
fn seeded_random_faults_lose_no_acknowledged_record() {
    let mut faulted = 0;
    for seed in 1..=12u64 {
        let dir = temp(&format!("random-{seed}"));
        faulted += run(move || {
            Box::pin(async move {
                let spec = format!(
                    "seed={seed},write_eio%20000,enospc%20000,sync_eio%30000,tear%40000,crash=freeze"
                );
                let wal = open_faulty(&dir, &spec).await;
                let mut acked: Vec<u64> = Vec::new();
                let mut failed = false;
                // 24 records of 12 KiB fit the 3 segments: no checkpoint needed.
                for i in 1..=24u64 {
                    let sync = i % 3 == 0;
                    match append(&wal, i, sync).await {
                        Ok(_) if failed => panic!("seed {seed}: record {i} accepted after a fault"),
                        Ok(_) if sync => acked = (1..=i).collect(),
                        Ok(_) => {}
                        Err(_) => failed = true,
                    }
                }
                drop(wal);
                assert_replayed(&reopen(&dir).await, &acked);
                u32::from(failed)
            })
        });
        let _ = std::fs::remove_dir_all(temp(&format!("random-{seed}")));
    }
    // The seeds must exercise both outcomes.
    assert!(
        (1..12).contains(&faulted),
        "{faulted} of 12 seeds hit a fault"
    );
}
