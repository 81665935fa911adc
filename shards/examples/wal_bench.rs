//! WAL append + group commit against raw O_DIRECT 4 KiB write + fdatasync.
//!
//! Usage: `cargo run --release -p dittofs-shards --example wal_bench -- DIR [SECONDS]`
//! DIR must be on the disk to measure (not tmpfs). Prints one line per case:
//! operations per second and p50/p99 latency of one acknowledged-stable write.

use std::cell::RefCell;
use std::path::PathBuf;
use std::rc::Rc;
use std::time::{Duration, Instant};

use dittofs_shards::wal::{RecordKind, Wal};
use dittofs_shards::WalOptions;
use glommio::io::OpenOptions;
use glommio::LocalExecutorBuilder;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * p) as usize]
}

fn report(name: &str, mut lat: Vec<Duration>, elapsed: Duration) {
    lat.sort();
    println!(
        "{name:<44} {:>9.0} ops/s  p50 {:>7.1} us  p99 {:>7.1} us  ({} ops)",
        lat.len() as f64 / elapsed.as_secs_f64(),
        percentile(&lat, 0.5).as_secs_f64() * 1e6,
        percentile(&lat, 0.99).as_secs_f64() * 1e6,
        lat.len()
    );
}

async fn raw(dir: PathBuf, secs: u64) {
    let path = dir.join("raw-4k");
    std::fs::write(&path, vec![0u8; 64 << 20]).expect("prefill");
    let f = std::fs::File::open(&path).expect("open");
    f.sync_all().expect("sync");
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .dma_open(&path)
        .await
        .expect("dma_open");
    let mut lat = Vec::new();
    let start = Instant::now();
    let mut pos = 0u64;
    while start.elapsed() < Duration::from_secs(secs) {
        let t = Instant::now();
        let mut buf = file.alloc_dma_buffer(4096);
        buf.as_bytes_mut().fill(7);
        file.write_at(buf, pos).await.expect("write");
        file.fdatasync().await.expect("fdatasync");
        lat.push(t.elapsed());
        pos = (pos + 4096) % (64 << 20);
    }
    report("raw O_DIRECT 4 KiB write + fdatasync", lat, start.elapsed());
    let _ = std::fs::remove_file(&path);
}

async fn wal(dir: PathBuf, secs: u64, writers: usize, payload: usize, window_us: u64) {
    let wal_dir = dir.join(format!("wal-{writers}-{payload}-{window_us}"));
    let _ = std::fs::remove_dir_all(&wal_dir);
    let (wal, _) = Wal::open(WalOptions {
        dir: wal_dir.clone(),
        shard: 0,
        segment_bytes: 64 << 20,
        segments: 4,
        group_commit_window_us: window_us,
    })
    .await
    .expect("open wal");
    let lat = Rc::new(RefCell::new(Vec::new()));
    let deadline = Instant::now() + Duration::from_secs(secs);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..writers {
        let wal = wal.clone();
        let lat = lat.clone();
        tasks.push(glommio::spawn_local(async move {
            let data = vec![w as u8; payload];
            while Instant::now() < deadline {
                let t = Instant::now();
                let slot = loop {
                    match wal.try_reserve(payload).expect("reserve") {
                        Some(slot) => break slot,
                        // Bench only: everything is "uploaded", free it all.
                        None => {
                            let lwm = wal.next_seq();
                            if wal.checkpoint(lwm).await.expect("checkpoint") == 0 {
                                wal.changed().await;
                            }
                        }
                    }
                };
                let seq = slot.seq;
                wal.write(slot, RecordKind::Data, 1, w as u64, 0, &data)
                    .await
                    .expect("write");
                wal.sync_to(seq).await.expect("sync");
                lat.borrow_mut().push(t.elapsed());
            }
        }));
    }
    for t in tasks {
        t.await;
    }
    let elapsed = start.elapsed();
    let lat = std::mem::take(&mut *lat.borrow_mut());
    report(
        &format!("WAL {payload} B stable, {writers} writer(s), window {window_us} us"),
        lat,
        elapsed,
    );
    let _ = std::fs::remove_dir_all(&wal_dir);
}

fn main() {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(args.next().expect("usage: wal_bench DIR [SECONDS]"));
    let secs: u64 = args.next().map_or(3, |s| s.parse().expect("seconds"));
    std::fs::create_dir_all(&dir).expect("mkdir");
    LocalExecutorBuilder::default()
        .io_memory(8 << 20)
        .spawn(move || async move {
            raw(dir.clone(), secs).await;
            for (writers, payload, window) in [
                (1, 4000, 0),
                (1, 4000, 200),
                (8, 4000, 0),
                (32, 4000, 0),
                (128, 4000, 0),
                (32, 4000, 200),
                (32, 65536, 0),
            ] {
                wal(dir.clone(), secs, writers, payload, window).await;
            }
            raw(dir.clone(), secs).await;
        })
        .expect("executor")
        .join()
        .expect("join");
}
