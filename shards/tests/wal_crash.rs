//! Crash rounds through the real WAL: random operations with mixed stability,
//! a "crash" at a seeded random moment (the executor is dropped with record
//! writes in flight, nothing flushed or closed), then power-loss damage to the
//! records that were not yet durable (a torn record, a lost record with later
//! ones intact, a zeroed tail), then recovery into a new shard over the same
//! block store and log. Every byte acknowledged as stable must read back
//! identical; a byte written after the last stable point may hold any value
//! it took since (NFS lets uncommitted data land or not). Each round crashes
//! twice, so recovery also runs over a log written by a recovered shard.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use dittofs_shards::wal::fmt as walfmt;
use dittofs_shards::{
    BlockStore, ContentKey, MemoryBlockIndex, MemoryBlockStore, Shard, WalOptions,
};
use futures_lite::future::BoxedLocal;
use glommio::LocalExecutorBuilder;

const BLOCK_BYTES: u64 = 16 << 10;
const FILE_BYTES_MAX: usize = 96 << 10;
const FILES: u64 = 3;
const ROUNDS: u64 = 24;
const SEGMENT_BYTES: u64 = 16 * 4096;
const SEGMENTS: u32 = 3;

/// xorshift64*: deterministic per seed, no dependency.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

type Model = Vec<Vec<u8>>;

fn wal_options(dir: &Path) -> WalOptions {
    WalOptions {
        dir: dir.to_owned(),
        shard: 0,
        segment_bytes: SEGMENT_BYTES,
        segments: SEGMENTS,
        group_commit_window_us: 50,
    }
}

fn key(ino: u64) -> ContentKey {
    ContentKey { share: 1, ino }
}

/// Runs `ops_max` random operations (a seeded number of them: the crash
/// moment), returning the model after every operation, the index of the last
/// operation acknowledged stable, and the WAL's durable mark at the crash.
async fn run_until_crash(
    store: Arc<dyn BlockStore>,
    index: MemoryBlockIndex,
    dir: PathBuf,
    seed: u64,
    start: Model,
    ops_max: u64,
) -> (Vec<Model>, usize, u64) {
    let (shard, _) = Shard::open(
        vec![(1, store)],
        BLOCK_BYTES,
        wal_options(&dir),
        std::rc::Rc::new(index.clone()),
        Some(dittofs_shards::Uploader::start(2).expect("uploader")),
    )
    .await
    .expect("open shard");
    let shard = std::rc::Rc::new(shard);
    let mut rng = Rng(seed);
    let crash_after = 1 + rng.below(ops_max);
    let mut model = start;
    let mut states = vec![model.clone()];
    let mut last_stable = 0usize;
    for _ in 0..crash_after {
        let ino = 1 + rng.below(FILES);
        let file = &mut model[ino as usize - 1];
        match rng.below(10) {
            0..=7 => {
                let len = 1 + rng.below(20 << 10) as usize;
                let offset = rng.below((FILE_BYTES_MAX - len) as u64) as usize;
                let fill = rng.next() as u8;
                let data: Vec<u8> = (0..len).map(|i| fill.wrapping_add((i / 7) as u8)).collect();
                shard
                    .write(key(ino), offset as u64, Bytes::from(data.clone()))
                    .await
                    .expect("write");
                if file.len() < offset + len {
                    file.resize(offset + len, 0);
                }
                file[offset..offset + len].copy_from_slice(&data);
                states.push(model.clone());
                // FILE_SYNC: the write is stable once flush returns.
                if rng.below(4) == 0 {
                    shard.flush(key(ino)).await.expect("flush");
                    last_stable = states.len() - 1;
                }
            }
            8 => {
                let size = rng.below(FILE_BYTES_MAX as u64) as usize;
                shard
                    .truncate(key(ino), size as u64)
                    .await
                    .expect("truncate");
                file.resize(size, 0);
                states.push(model.clone());
                last_stable = states.len() - 1;
            }
            _ => {
                // COMMIT.
                shard.flush(key(ino)).await.expect("commit");
                last_stable = states.len() - 1;
            }
        }
    }
    // Let the in-flight record writes reach the disk, or not: power-loss
    // damage below then hits records that were written but never synced.
    if rng.below(4) != 0 {
        glommio::timer::sleep(std::time::Duration::from_millis(2)).await;
    }
    let durable = shard.wal().expect("wal").durable_below();
    // The crash: return without closing anything; detached writes are dropped.
    std::mem::forget(shard);
    (states, last_stable, durable)
}

/// Power-loss damage to records at or above `durable`: torn, lost, or a lost tail.
fn damage(dir: &Path, durable: u64, rng: &mut Rng) -> String {
    let mut victims = Vec::new();
    for entry in std::fs::read_dir(dir).expect("wal dir") {
        let path = entry.expect("entry").path();
        let data = std::fs::read(&path).expect("read segment");
        let Ok(header) = walfmt::decode_segment_header(&data) else {
            continue;
        };
        let mut pos = walfmt::SEGMENT_HEADER_BYTES;
        while pos < data.len() {
            let Ok(record) = walfmt::decode_record(&data[pos..]) else {
                break;
            };
            if record.header.epoch != header.epoch {
                break;
            }
            if record.header.seq >= durable {
                victims.push((path.clone(), pos, record.len, record.header.seq));
            }
            pos += record.len;
        }
    }
    if victims.is_empty() {
        return "nothing undurable".into();
    }
    victims.sort_by_key(|v| v.3);
    let pick = rng.below(victims.len() as u64) as usize;
    let (path, pos, len, seq) = victims[pick].clone();
    let mut data = std::fs::read(&path).expect("read");
    let how = match rng.below(3) {
        0 => {
            // Torn: the second half of the record never reached the disk.
            let half = len / 2;
            data[pos + half..pos + len].fill(0xA5);
            format!("tore record {seq}")
        }
        1 => {
            data[pos..pos + len].fill(0);
            format!("lost record {seq}, later ones intact")
        }
        _ => {
            for (p, vpos, vlen, _) in &victims[pick..] {
                if *p == path {
                    data[*vpos..*vpos + *vlen].fill(0);
                } else {
                    let mut other = std::fs::read(p).expect("read");
                    other[*vpos..*vpos + *vlen].fill(0);
                    std::fs::write(p, other).expect("write");
                }
            }
            format!("lost records from {seq} on")
        }
    };
    std::fs::write(&path, data).expect("write segment");
    how
}

/// Recovers and checks every byte against the states since the last stable one.
async fn recover_and_check(
    store: Arc<dyn BlockStore>,
    index: MemoryBlockIndex,
    dir: PathBuf,
    states: Vec<Model>,
    last_stable: usize,
) -> Result<Model, String> {
    let (shard, report) = Shard::open(
        vec![(1, store)],
        BLOCK_BYTES,
        wal_options(&dir),
        std::rc::Rc::new(index.clone()),
        Some(dittofs_shards::Uploader::start(2).expect("uploader")),
    )
    .await
    .map_err(|e| format!("recovery failed: {e}"))?;
    let mut recovered = Vec::new();
    for ino in 1..=FILES {
        let got = shard
            .read(key(ino), 0, FILE_BYTES_MAX as u32)
            .await
            .map_err(|e| e.to_string())?;
        let candidates = &states[last_stable..];
        for b in 0..FILE_BYTES_MAX {
            let ok = candidates
                .iter()
                .any(|m| m[ino as usize - 1].get(b).copied().unwrap_or(0) == got[b]);
            if !ok {
                let want = states[last_stable][ino as usize - 1]
                    .get(b)
                    .copied()
                    .unwrap_or(0);
                return Err(format!(
                    "ino {ino} byte {b}: got {}, stable value {want} ({report:?})",
                    got[b]
                ));
            }
        }
        recovered.push(got.to_vec());
    }
    Ok(recovered)
}

fn on_executor<T: Send + 'static>(f: impl FnOnce() -> BoxedLocal<T> + Send + 'static) -> T {
    LocalExecutorBuilder::default()
        .io_memory(1 << 20)
        .spawn(f)
        .expect("executor")
        .join()
        .expect("executor thread")
}

#[test]
fn acknowledged_stable_bytes_survive_crashes() {
    let base = std::env::var_os("CARGO_TARGET_TMPDIR")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir)
        .join(format!("wal-crash-{}", std::process::id()));
    for round in 0..ROUNDS {
        let seed = 0x9E37_79B9_7F4A_7C15u64 ^ (round + 1).wrapping_mul(0xD1B5_4A32_D192_ED03);
        let dir = base.join(format!("round-{round}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("mkdir");
        let store: Arc<dyn BlockStore> = Arc::new(MemoryBlockStore::new());
        let index = MemoryBlockIndex::new();
        let mut rng = Rng(seed ^ 0xFFFF);
        let mut model: Model = vec![Vec::new(); FILES as usize];
        for crash in 0..2u64 {
            let (s, d, i) = (store.clone(), dir.clone(), index.clone());
            let start = model.clone();
            let (states, last_stable, durable) = on_executor(move || {
                Box::pin(run_until_crash(
                    s,
                    i,
                    d,
                    seed.wrapping_add(crash),
                    start,
                    60,
                ))
            });
            let how = damage(&dir, durable, &mut rng);
            let (s, d, i) = (store.clone(), dir.clone(), index.clone());
            let ops = states.len() - 1;
            let result =
                on_executor(move || Box::pin(recover_and_check(s, i, d, states, last_stable)));
            match result {
                Ok(recovered) => {
                    eprintln!(
                        "round {round} crash {crash}: {ops} ops, last stable {last_stable}, {how}: ok"
                    );
                    model = recovered;
                }
                Err(e) => panic!("round {round} crash {crash} (seed {seed:#x}, {how}): {e}"),
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
    let _ = std::fs::remove_dir_all(&base);
}
