//! Cost of the rate limiter's request path (`cargo bench --bench ratelimit`),
//! no external harness: ns per `admit_smb` (the NFS `admit` minus the header
//! peek) for
//! - no limits (the fast path: one atomic load and a branch),
//! - a limit never reached, one core (local map lookup + one uncontended CAS),
//! - a limit never reached, one client on N cores at once (threads, each with
//!   its own `CoreLimiter`, all charging the same shared bucket: the
//!   contended case),
//! - the same with N different clients (no shared cache line).
//!
//! Prints one line per case; best of 5 runs of `ITERS` calls each.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, Barrier};
use std::time::Instant;

use dittofs::config::Config;
use dittofs::runtime::ratelimit::{CoreLimiter, LiveLimits, Settings};

const ITERS: u32 = 2_000_000;

fn live(limited: bool) -> Arc<LiveLimits> {
    let mut config = Config::default();
    if limited {
        // Never reached: measures the bookkeeping, not the waiting.
        config.rate_limit.per_client.requests_per_s = 1_000_000_000;
        config.rate_limit.per_client.bytes_per_s = 1_000_000_000_000;
    }
    LiveLimits::new(Settings::from_config(&config))
}

fn peer(i: usize) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(192, 0, 2, i as u8 + 1))
}

/// ns per call on `threads` threads, each its own core limiter; `same_client`
/// makes every thread charge one client.
fn run(limited: bool, threads: usize, same_client: bool) -> f64 {
    let live = live(limited);
    let barrier = Arc::new(Barrier::new(threads));
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let live = live.clone();
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                let limiter = CoreLimiter::new(t, live);
                let who = peer(if same_client { 0 } else { t });
                let mut best = f64::MAX;
                for _ in 0..5 {
                    barrier.wait();
                    let t0 = Instant::now();
                    for _ in 0..ITERS {
                        std::hint::black_box(limiter.admit_smb(
                            std::hint::black_box(who),
                            None,
                            None,
                            std::hint::black_box(200),
                        ));
                    }
                    best = best.min(t0.elapsed().as_nanos() as f64 / f64::from(ITERS));
                }
                best
            })
        })
        .collect();
    let per_thread: Vec<f64> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    per_thread.iter().sum::<f64>() / per_thread.len() as f64
}

fn main() {
    let cores = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .min(8);
    println!("rate limiter admit, ns per call (best of 5 × {ITERS}; {cores} threads for the multi-core cases)");
    println!(
        "unlimited, 1 core:                      {:7.1}",
        run(false, 1, true)
    );
    println!(
        "limit not reached, 1 core:              {:7.1}",
        run(true, 1, true)
    );
    println!(
        "limit not reached, 1 client on {cores} cores: {:7.1}",
        run(true, cores, true)
    );
    println!(
        "limit not reached, {cores} clients on {cores} cores: {:7.1}",
        run(true, cores, false)
    );
}
