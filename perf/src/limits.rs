//! `limits`: what this machine can do at best, to read benchmark numbers against:
//! loopback TCP throughput and round trip, and the data disk's O_DIRECT 4 KiB
//! write+fdatasync latency and sequential write bandwidth.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

use serde::Serialize;

/// How long each throughput measurement runs.
const MEASURE_TIME: Duration = Duration::from_secs(2);
/// Ping-pong round trips measured.
const ROUND_TRIPS: usize = 20_000;
/// Most 4 KiB write+fdatasync samples (bounded by MEASURE_TIME too).
const SYNC_WRITES_MAX: usize = 2_000;
/// Largest file the sequential O_DIRECT test writes.
const SEQ_BYTES_MAX: u64 = 512 << 20;

#[derive(Debug, Clone, Serialize, Default)]
pub struct Limits {
    pub tcp_loopback_mb_per_s: f64,
    pub tcp_rtt_p50_us: f64,
    pub tcp_rtt_p99_us: f64,
    pub dir: String,
    /// `None` with `disk_error` set when O_DIRECT is not possible there (e.g. tmpfs).
    pub direct_4k_fdatasync_p50_us: Option<f64>,
    pub direct_4k_fdatasync_p99_us: Option<f64>,
    pub direct_seq_write_mb_per_s: Option<f64>,
    pub disk_error: Option<String>,
}

fn pct(v: &mut [f64], q: f64) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    v[((v.len() - 1) as f64 * q).round() as usize]
}

/// Loopback throughput in MB/s: one sender thread, one receiver.
pub fn tcp_throughput() -> std::io::Result<f64> {
    let l = TcpListener::bind("127.0.0.1:0")?;
    let addr = l.local_addr()?;
    let rx = std::thread::spawn(move || -> std::io::Result<u64> {
        let (mut s, _) = l.accept()?;
        let mut buf = vec![0u8; 1 << 20];
        let mut n = 0u64;
        loop {
            match s.read(&mut buf)? {
                0 => return Ok(n),
                k => n += k as u64,
            }
        }
    });
    let mut s = TcpStream::connect(addr)?;
    let buf = vec![7u8; 1 << 20];
    let start = Instant::now();
    while start.elapsed() < MEASURE_TIME {
        s.write_all(&buf)?;
    }
    drop(s);
    let n = rx
        .join()
        .map_err(|_| std::io::Error::other("receiver panicked"))??;
    Ok(n as f64 / start.elapsed().as_secs_f64() / 1e6)
}

/// Ping-pong of 64-byte messages: (p50, p99) round trip in µs.
pub fn tcp_round_trip() -> std::io::Result<(f64, f64)> {
    let l = TcpListener::bind("127.0.0.1:0")?;
    let addr = l.local_addr()?;
    let echo = std::thread::spawn(move || -> std::io::Result<()> {
        let (mut s, _) = l.accept()?;
        s.set_nodelay(true)?;
        let mut buf = [0u8; 64];
        loop {
            if s.read_exact(&mut buf).is_err() {
                return Ok(());
            }
            s.write_all(&buf)?;
        }
    });
    let mut s = TcpStream::connect(addr)?;
    s.set_nodelay(true)?;
    let mut buf = [1u8; 64];
    let mut samples = Vec::with_capacity(ROUND_TRIPS);
    for _ in 0..ROUND_TRIPS {
        let t = Instant::now();
        s.write_all(&buf)?;
        s.read_exact(&mut buf)?;
        samples.push(t.elapsed().as_secs_f64() * 1e6);
    }
    drop(s);
    let _ = echo.join();
    Ok((pct(&mut samples, 0.5), pct(&mut samples, 0.99)))
}

/// A 4096-aligned buffer for O_DIRECT.
struct Aligned {
    ptr: *mut u8,
    layout: std::alloc::Layout,
}

impl Aligned {
    fn new(len: usize) -> Option<Aligned> {
        let layout = std::alloc::Layout::from_size_align(len, 4096).ok()?;
        // SAFETY: `layout` has a non-zero size (callers pass ≥ 4096).
        let ptr = unsafe { std::alloc::alloc_zeroed(layout) };
        (!ptr.is_null()).then_some(Aligned { ptr, layout })
    }

    fn as_slice(&self) -> &[u8] {
        // SAFETY: `ptr` points to `layout.size()` initialised (zeroed) bytes we own.
        unsafe { std::slice::from_raw_parts(self.ptr, self.layout.size()) }
    }
}

impl Drop for Aligned {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with this same layout, freed once.
        unsafe { std::alloc::dealloc(self.ptr, self.layout) }
    }
}

fn disk(dir: &Path) -> std::io::Result<(f64, f64, f64)> {
    use std::os::unix::fs::FileExt;
    let path = dir.join(format!(".dittofs-perf-limits-{}", std::process::id()));
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(true)
        .read(true)
        .write(true)
        .custom_flags(libc::O_DIRECT)
        .open(&path)?;
    let result = (|| {
        let small = Aligned::new(4096).ok_or_else(|| std::io::Error::other("alloc"))?;
        let mut lat = Vec::new();
        let start = Instant::now();
        for i in 0..SYNC_WRITES_MAX {
            if start.elapsed() > MEASURE_TIME && i >= 100 {
                break;
            }
            let t = Instant::now();
            f.write_all_at(small.as_slice(), (i as u64 % 256) * 4096)?;
            f.sync_data()?;
            lat.push(t.elapsed().as_secs_f64() * 1e6);
        }
        let big = Aligned::new(1 << 20).ok_or_else(|| std::io::Error::other("alloc"))?;
        let start = Instant::now();
        let mut off = 0u64;
        while off < SEQ_BYTES_MAX && start.elapsed() < MEASURE_TIME {
            f.write_all_at(big.as_slice(), off)?;
            off += 1 << 20;
        }
        f.sync_data()?;
        let bw = off as f64 / start.elapsed().as_secs_f64() / 1e6;
        Ok((pct(&mut lat, 0.5), pct(&mut lat, 0.99), bw))
    })();
    let _ = std::fs::remove_file(&path);
    result
}

/// Measures everything; disk figures in `dir`.
pub fn measure(dir: &Path) -> std::io::Result<Limits> {
    let mut l = Limits {
        tcp_loopback_mb_per_s: tcp_throughput()?,
        dir: dir.display().to_string(),
        ..Limits::default()
    };
    (l.tcp_rtt_p50_us, l.tcp_rtt_p99_us) = tcp_round_trip()?;
    match disk(dir) {
        Ok((p50, p99, bw)) => {
            l.direct_4k_fdatasync_p50_us = Some(p50);
            l.direct_4k_fdatasync_p99_us = Some(p99);
            l.direct_seq_write_mb_per_s = Some(bw);
        }
        Err(e) => l.disk_error = Some(format!("O_DIRECT in {}: {e}", dir.display())),
    }
    Ok(l)
}

pub fn limits_table(l: &Limits) -> String {
    let opt = |v: Option<f64>| v.map_or("n/a".to_string(), |v| format!("{v:.0}"));
    let mut s = format!(
        "loopback TCP throughput      {:>10.0} MB/s\n\
         loopback TCP round trip      p50 {:.1} us  p99 {:.1} us\n\
         O_DIRECT 4K write+fdatasync  p50 {} us  p99 {} us  ({})\n\
         O_DIRECT sequential write    {} MB/s\n",
        l.tcp_loopback_mb_per_s,
        l.tcp_rtt_p50_us,
        l.tcp_rtt_p99_us,
        opt(l.direct_4k_fdatasync_p50_us),
        opt(l.direct_4k_fdatasync_p99_us),
        l.dir,
        opt(l.direct_seq_write_mb_per_s),
    );
    if let Some(e) = &l.disk_error {
        s.push_str(&format!("disk: {e}\n"));
    }
    s
}
