use std::net::IpAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::*;
use crate::config::{Config, LimitConfig, ShareRateLimitConfig};
use crate::nfs::handle::FileHandle;
use crate::nfs::{MOUNT_PROGRAM, NFS_PROGRAM};
use crate::rpc::{Auth, AuthSys, CallHeader, XdrWriter};

fn call(prog: u32, proc_: u32, uid: Option<u32>, share: Option<u32>) -> Bytes {
    let mut w = XdrWriter::new();
    CallHeader {
        xid: 1,
        prog,
        vers: 3,
        proc_,
        auth: match uid {
            Some(uid) => Auth::Sys(AuthSys {
                stamp: 0,
                machine_name: "m".into(),
                uid,
                gid: uid,
                gids: Vec::new(),
            }),
            None => Auth::None,
        },
    }
    .encode(&mut w);
    if let Some(share_id) = share {
        FileHandle {
            share_id,
            ino: 1,
            generation: 0,
        }
        .encode(&mut w);
    }
    w.into_bytes()
}

fn limiter(edit: impl FnOnce(&mut Config)) -> CoreLimiter {
    let mut config = Config::default();
    edit(&mut config);
    config.validate().unwrap();
    CoreLimiter::new(0, LiveLimits::new(Settings::from_config(&config)))
}

fn delay(a: Admit) -> Duration {
    match a {
        Admit::Free => Duration::ZERO,
        Admit::After { delay, .. } => delay,
    }
}

const A: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 1));
const B: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 2));

#[test]
fn peek_finds_uid_and_share() {
    assert_eq!(
        peek(&call(NFS_PROGRAM, 1, Some(1000), Some(3))),
        (Some(1000), Some(3))
    );
    assert_eq!(peek(&call(NFS_PROGRAM, 0, None, None)), (None, None));
    assert_eq!(
        peek(&call(MOUNT_PROGRAM, 1, Some(5), None)),
        (Some(5), None)
    );
    assert_eq!(peek(&Bytes::from_static(b"junk")), (None, None));
}

#[test]
fn no_limits_is_free_and_keeps_no_state() {
    let l = limiter(|_| {});
    for _ in 0..1000 {
        assert_eq!(
            l.admit(A, &call(NFS_PROGRAM, 1, Some(0), Some(0))),
            Admit::Free
        );
    }
    assert_eq!(l.buckets_len(), 0);
}

#[test]
fn per_client_limit_delays_only_that_client() {
    let l = limiter(|c| {
        c.rate_limit.per_client = LimitConfig {
            requests_per_s: 10,
            requests_burst: 2,
            ..LimitConfig::default()
        }
    });
    let t = Instant::now();
    let rec = call(NFS_PROGRAM, 1, Some(0), Some(0));
    assert_eq!(delay(l.admit_at(A, &rec, t)), Duration::ZERO);
    assert_eq!(delay(l.admit_at(A, &rec, t)), Duration::ZERO);
    assert_eq!(delay(l.admit_at(A, &rec, t)), Duration::from_millis(100));
    // Another address has its own bucket.
    assert_eq!(delay(l.admit_at(B, &rec, t)), Duration::ZERO);
}

#[test]
fn per_user_limit_follows_the_uid_across_addresses() {
    let l = limiter(|c| {
        c.rate_limit.per_user = LimitConfig {
            requests_per_s: 1,
            requests_burst: 1,
            ..LimitConfig::default()
        }
    });
    let t = Instant::now();
    let u7 = call(NFS_PROGRAM, 1, Some(7), Some(0));
    assert_eq!(delay(l.admit_at(A, &u7, t)), Duration::ZERO);
    assert_eq!(delay(l.admit_at(B, &u7, t)), Duration::from_secs(1));
    // AUTH_NONE has no user bucket.
    let anon = call(NFS_PROGRAM, 1, None, Some(0));
    assert_eq!(delay(l.admit_at(A, &anon, t)), Duration::ZERO);
}

#[test]
fn share_limits_apply_only_to_that_share() {
    let l = limiter(|c| {
        let mut second = c.shares[0].clone();
        second.name = "/slow".into();
        second.rate_limit = Some(ShareRateLimitConfig {
            per_client: LimitConfig {
                requests_per_s: 2,
                requests_burst: 1,
                ..LimitConfig::default()
            },
            ..ShareRateLimitConfig::default()
        });
        c.shares.push(second);
    });
    let t = Instant::now();
    let fast = call(NFS_PROGRAM, 1, Some(0), Some(0));
    let slow = call(NFS_PROGRAM, 1, Some(0), Some(1));
    for _ in 0..10 {
        assert_eq!(delay(l.admit_at(A, &fast, t)), Duration::ZERO);
    }
    assert_eq!(delay(l.admit_at(A, &slow, t)), Duration::ZERO);
    assert_eq!(delay(l.admit_at(A, &slow, t)), Duration::from_millis(500));
}

#[test]
fn reply_bytes_put_the_bucket_in_debt() {
    let l = limiter(|c| {
        c.rate_limit.per_client = LimitConfig {
            bytes_per_s: 10_000,
            ..LimitConfig::default()
        }
    });
    let t = Instant::now();
    let rec = call(NFS_PROGRAM, 6, Some(0), Some(0));
    let Admit::After { delay: d, ticket } = l.admit_at(A, &rec, t) else {
        panic!("limited client admitted free");
    };
    assert_eq!(d, Duration::ZERO);
    l.charge_reply(&ticket, 30_000);
    let d = delay(l.admit_at(A, &rec, Instant::now()));
    assert!(d > Duration::from_millis(1500), "{d:?}");
    assert_eq!(l.smb_credits(A, None, 64), 1);
    assert_eq!(l.smb_credits(B, None, 64), 64);
}

#[test]
fn reload_replaces_the_settings_and_resets_buckets() {
    let mut config = Config::default();
    config.rate_limit.per_client.requests_per_s = 1;
    let live = LiveLimits::new(Settings::from_config(&config));
    let l = CoreLimiter::new(0, live.clone());
    let t = Instant::now();
    let rec = call(NFS_PROGRAM, 1, Some(0), Some(0));
    assert_eq!(delay(l.admit_at(A, &rec, t)), Duration::ZERO);
    assert!(delay(l.admit_at(A, &rec, t)) > Duration::ZERO);
    live.replace(Settings::from_config(&Config::default()));
    assert_eq!(l.admit_at(A, &rec, t), Admit::Free);
    assert_eq!(l.buckets_len(), 0);
}

#[test]
fn idle_buckets_are_swept() {
    let l = limiter(|c| c.rate_limit.per_client.requests_per_s = 100);
    let t = Instant::now();
    let rec = call(NFS_PROGRAM, 1, None, None);
    l.admit_at(A, &rec, t);
    l.admit_at(B, &rec, t);
    assert_eq!(l.buckets_len(), 2);
    l.admit_at(A, &rec, t + Duration::from_secs(SWEEP_INTERVAL_S + 1));
    // B's bucket refilled and was dropped; A's was just used.
    assert_eq!(l.buckets_len(), 1);
}

/// `cores` limiters of one process (one `LiveLimits`), as `run` builds them.
fn cores(n: usize, edit: impl FnOnce(&mut Config)) -> Vec<CoreLimiter> {
    let mut config = Config::default();
    edit(&mut config);
    config.validate().unwrap();
    let live = LiveLimits::new(Settings::from_config(&config));
    (0..n).map(|c| CoreLimiter::new(c, live.clone())).collect()
}

#[test]
fn a_client_on_two_cores_shares_one_bucket() {
    // Per-core buckets would give each core its own burst and rate: the
    // second core's first requests would be free.
    let cs = cores(2, |c| {
        c.rate_limit.per_client = LimitConfig {
            requests_per_s: 10,
            requests_burst: 2,
            ..LimitConfig::default()
        }
    });
    let t = Instant::now();
    let rec = call(NFS_PROGRAM, 1, Some(0), Some(0));
    assert_eq!(delay(cs[0].admit_at(A, &rec, t)), Duration::ZERO);
    assert_eq!(delay(cs[1].admit_at(A, &rec, t)), Duration::ZERO);
    assert_eq!(
        delay(cs[0].admit_at(A, &rec, t)),
        Duration::from_millis(100)
    );
    assert_eq!(
        delay(cs[1].admit_at(A, &rec, t)),
        Duration::from_millis(200)
    );
    // Another client on either core is not affected.
    assert_eq!(delay(cs[1].admit_at(B, &rec, t)), Duration::ZERO);
    // One registry entry per key, each core holding a handle.
    assert_eq!(cs[0].registry_len(), 2);
    assert_eq!(cs[0].buckets_len(), 1);
    assert_eq!(cs[1].buckets_len(), 2);
}

#[test]
fn k_cores_together_get_the_rate_not_k_times_it() {
    // One client with a connection on each of 4 cores, each waiting as told
    // and sending again at once (round-robin in time order): N requests take
    // (N - burst) / rate in all, as on one core.
    let (rate, burst, n) = (100u64, 10u64, 410u32);
    let cs = cores(4, |c| {
        c.rate_limit.per_client = LimitConfig {
            requests_per_s: rate,
            requests_burst: burst,
            ..LimitConfig::default()
        }
    });
    let t0 = Instant::now();
    let rec = call(NFS_PROGRAM, 1, Some(0), Some(0));
    // Each connection's next send time.
    let mut next = [t0; 4];
    for _ in 0..n {
        let (core, at) = next
            .iter()
            .copied()
            .enumerate()
            .min_by_key(|(_, at)| *at)
            .unwrap();
        next[core] = at + delay(cs[core].admit_at(A, &rec, at));
    }
    let last = next.iter().max().unwrap().duration_since(t0);
    let want = Duration::from_secs_f64(f64::from(n - burst as u32) / rate as f64);
    assert!(
        last.abs_diff(want) < Duration::from_millis(15),
        "{n} requests over 4 cores at {rate}/s took {last:?}, want {want:?}"
    );
}

#[test]
fn a_user_on_two_cores_and_two_addresses_shares_one_bucket() {
    let cs = cores(2, |c| {
        c.rate_limit.per_user = LimitConfig {
            requests_per_s: 1,
            requests_burst: 1,
            ..LimitConfig::default()
        }
    });
    let t = Instant::now();
    let u7 = call(NFS_PROGRAM, 1, Some(7), Some(0));
    assert_eq!(delay(cs[0].admit_at(A, &u7, t)), Duration::ZERO);
    assert_eq!(delay(cs[1].admit_at(B, &u7, t)), Duration::from_secs(1));
    // SMB on a core that never saw the uid charges the same bucket.
    assert!(delay(cs[1].admit_smb(A, Some(7), None, 0)) > Duration::from_secs(1));
}

#[test]
fn reply_bytes_charged_on_one_core_delay_the_other() {
    let cs = cores(2, |c| {
        c.rate_limit.per_client = LimitConfig {
            bytes_per_s: 10_000,
            ..LimitConfig::default()
        }
    });
    let rec = call(NFS_PROGRAM, 6, Some(0), Some(0));
    let Admit::After { ticket, .. } = cs[0].admit(A, &rec) else {
        panic!("limited client admitted free");
    };
    cs[0].charge_reply(&ticket, 30_000);
    assert!(delay(cs[1].admit(A, &rec)) > Duration::from_millis(1500));
    assert_eq!(cs[1].smb_credits(A, None, 64), 1);
}

#[test]
fn reload_gives_every_core_fresh_shared_buckets() {
    let mut config = Config::default();
    config.rate_limit.per_client.requests_per_s = 1;
    let live = LiveLimits::new(Settings::from_config(&config));
    let (c0, c1) = (
        CoreLimiter::new(0, live.clone()),
        CoreLimiter::new(1, live.clone()),
    );
    let t = Instant::now();
    let rec = call(NFS_PROGRAM, 1, Some(0), Some(0));
    assert_eq!(delay(c0.admit_at(A, &rec, t)), Duration::ZERO);
    assert!(delay(c1.admit_at(A, &rec, t)) > Duration::ZERO);
    config.rate_limit.per_client.requests_per_s = 2;
    config.rate_limit.per_client.requests_burst = 1;
    live.replace(Settings::from_config(&config));
    // Full again under the new limit, on both cores, then shared.
    assert_eq!(delay(c1.admit_at(A, &rec, t)), Duration::ZERO);
    assert_eq!(delay(c0.admit_at(A, &rec, t)), Duration::from_millis(500));
}

#[test]
fn the_registry_drops_full_buckets_no_core_holds() {
    let cs = cores(2, |c| c.rate_limit.per_client.requests_per_s = 100);
    let t = Instant::now();
    let rec = call(NFS_PROGRAM, 1, None, None);
    cs[0].admit_at(A, &rec, t);
    cs[1].admit_at(A, &rec, t);
    cs[0].admit_at(B, &rec, t);
    assert_eq!(cs[0].registry_len(), 2);
    let later = t + Duration::from_secs(SWEEP_INTERVAL_S + 1);
    // Core 0's sweep drops its handles on A and B but keeps the new one; the
    // registry keeps A (core 1 still holds it) and drops B.
    let c = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 3));
    cs[0].admit_at(c, &rec, later);
    assert_eq!(cs[0].buckets_len(), 1);
    assert_eq!(cs[0].registry_len(), 2);
}
