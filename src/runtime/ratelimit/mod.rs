//! Rate limiting: token buckets per client address and per user, in requests
//! and bytes per second, globally (`[rate_limit]`) and per share
//! (`[shares.rate_limit]`).
//!
//! Why this shape:
//! - One bucket per key for the whole process, shared by every core, so the
//!   limit is exact however the kernel spreads a client's connections (or a
//!   user's clients) over the cores. A bucket is one atomic word (the instant
//!   it is empty, see [`Bucket`]) updated with one compare-and-swap per
//!   request; no lock is taken on the request path. Each core keeps its own
//!   map from key to the shared bucket ([`CoreLimiter`], in a `RefCell`), so
//!   the lookup is local and cores touch a common cache line only for a key
//!   that is really in use on several of them. A core meets a key for the
//!   first time through the generation's [`Registry`] (a mutex, taken once per
//!   key and core, not per request). (Rejected: splitting the limit into
//!   rate/k per core for a client on k cores — exact only when its
//!   connections are equally busy, and a user has no connection to count.)
//! - Over the limit, a client is *slowed*, never refused: the connection's
//!   reader waits (a glommio timer) before it starts the next request, which
//!   also stops reading the socket and pushes back through TCP. A kernel client
//!   sees latency, never an error it would turn into EIO.
//! - Request bytes are reserved before the request runs; reply bytes are
//!   charged after it, so a big READ puts the bucket in debt and the requests
//!   after it wait.
//! - The settings are shared through [`LiveLimits`]: a generation counter each
//!   core reads (one relaxed atomic load per request) and a lock taken only
//!   when the generation moved (a SIGHUP reload); a reload brings a fresh
//!   registry, so the buckets restart full.
//! - SMB charges the same buckets per request ([`CoreLimiter::admit_smb`]:
//!   the session's uid and the tree's share stand for AUTH_SYS and the file
//!   handle), waits the same way, and asks [`CoreLimiter::smb_credits`] how
//!   many credits to grant: while the client is throttled, no more than the
//!   request spent (`smb::throttle`).

mod bucket;

use std::cell::RefCell;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use bytes::Bytes;

pub use bucket::Bucket;

use crate::config::{Config, LimitConfig, RateLimitConfig, ShareRateLimitConfig};
use crate::nfs::handle::WireHandle;
use crate::nfs::NFS_PROGRAM;
use crate::rpc::{Auth, CallHeader, XdrReader};

/// Buckets kept per core before idle (full) ones are swept early.
const BUCKETS_SWEEP_AT: usize = 65_536;
/// Idle (full) buckets are swept at least this often.
const SWEEP_INTERVAL_S: u64 = 60;

/// What the limiter enforces, built from a configuration.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Settings {
    pub global: RateLimitConfig,
    /// Per share id (index in the export list); `None` = no share limits.
    pub shares: Vec<Option<ShareRateLimitConfig>>,
}

impl Settings {
    pub fn from_config(config: &Config) -> Settings {
        Settings {
            global: config.rate_limit.clone(),
            shares: config
                .shares
                .iter()
                .map(|s| s.rate_limit.filter(|l| !is_unlimited(l)))
                .collect(),
        }
    }

    /// Whether nothing is limited at all (the fast path).
    pub fn is_unlimited(&self) -> bool {
        self.global.per_client.is_unlimited()
            && self.global.per_user.is_unlimited()
            && self.shares.iter().all(Option::is_none)
    }
}

fn is_unlimited(l: &ShareRateLimitConfig) -> bool {
    l.per_client.is_unlimited() && l.per_user.is_unlimited()
}

/// One generation of settings and the buckets charged under them.
#[derive(Debug)]
struct Generation {
    settings: Arc<Settings>,
    registry: Arc<Registry>,
}

impl Generation {
    fn new(settings: Settings) -> Arc<Generation> {
        Arc::new(Generation {
            settings: Arc::new(settings),
            registry: Arc::new(Registry::default()),
        })
    }
}

/// The process-wide settings, replaced on reload.
#[derive(Debug)]
pub struct LiveLimits {
    generation: AtomicU64,
    current: RwLock<Arc<Generation>>,
}

impl LiveLimits {
    pub fn new(settings: Settings) -> Arc<LiveLimits> {
        Arc::new(LiveLimits {
            generation: AtomicU64::new(0),
            current: RwLock::new(Generation::new(settings)),
        })
    }

    /// Installs new settings (and empty buckets); every core picks them up
    /// at its next request.
    pub fn replace(&self, settings: Settings) {
        let next = Generation::new(settings);
        match self.current.write() {
            Ok(mut guard) => *guard = next,
            Err(poisoned) => *poisoned.into_inner() = next,
        }
        self.generation.fetch_add(1, Ordering::Release);
    }

    /// The settings now (takes the lock: not for the hot path).
    pub fn snapshot(&self) -> Arc<Settings> {
        self.current().settings.clone()
    }

    fn current(&self) -> Arc<Generation> {
        match self.current.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }
}

/// Every key's shared buckets for one generation of settings. Cores look a
/// key up here the first time they meet it and keep the `Arc` in their own
/// map; entries nobody holds any more are dropped once full.
#[derive(Debug, Default)]
pub struct Registry {
    entries: Mutex<RegistryMap>,
}

#[derive(Debug, Default)]
struct RegistryMap {
    map: HashMap<Key, Arc<Entry>>,
    last_sweep: Option<Instant>,
}

impl Registry {
    /// The shared buckets of `key`, made (full) at the first use.
    fn get(
        &self,
        key: Key,
        limit: &LimitConfig,
        now: Instant,
        log_interval: Duration,
    ) -> Arc<Entry> {
        let mut guard = match self.entries.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        if guard.map.len() >= BUCKETS_SWEEP_AT {
            Self::sweep_locked(&mut guard, now, log_interval);
        }
        guard
            .map
            .entry(key)
            .or_insert_with(|| Arc::new(Entry::new(limit, now)))
            .clone()
    }

    /// Drops the entries no core holds that are full (they carry no state).
    /// Run by each core's periodic sweep, at most once per interval overall.
    fn sweep(&self, now: Instant, log_interval: Duration) {
        let mut guard = match self.entries.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        let due = guard.last_sweep.is_none_or(|t| {
            now.saturating_duration_since(t) >= Duration::from_secs(SWEEP_INTERVAL_S)
        });
        if due {
            Self::sweep_locked(&mut guard, now, log_interval);
        }
    }

    fn sweep_locked(map: &mut RegistryMap, now: Instant, log_interval: Duration) {
        map.last_sweep = Some(now);
        map.map
            .retain(|_, e| Arc::strong_count(e) > 1 || !e.is_idle(now, log_interval));
    }

    /// Keys held (tests).
    pub fn len(&self) -> usize {
        match self.entries.lock() {
            Ok(g) => g.map.len(),
            Err(poisoned) => poisoned.into_inner().map.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Whose bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Key {
    Client(IpAddr),
    User(u32),
    ShareClient(u32, IpAddr),
    ShareUser(u32, u32),
}

impl std::fmt::Display for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Key::Client(ip) => write!(f, "client {ip}"),
            Key::User(uid) => write!(f, "user uid {uid}"),
            Key::ShareClient(share, ip) => write!(f, "client {ip} on share #{share}"),
            Key::ShareUser(share, uid) => write!(f, "user uid {uid} on share #{share}"),
        }
    }
}

impl Key {
    /// The scope name used in logs and metrics.
    pub fn scope(&self) -> &'static str {
        match self {
            Key::Client(_) => "client",
            Key::User(_) => "user",
            Key::ShareClient(..) => "share_client",
            Key::ShareUser(..) => "share_user",
        }
    }
}

/// Counts one throttled request in `dittofs_rate_limited_total` (per-core
/// table; the key's scope is the `kind` label, the key itself the `who`).
fn rate_limited(protocol: crate::metrics::Protocol, key: &Key) {
    crate::metrics::rate_limited(protocol, key.scope(), &key.to_string());
}

/// The buckets of one key, shared by every core.
#[derive(Debug)]
struct Entry {
    requests: Option<Bucket>,
    bytes: Option<Bucket>,
    /// When the throttle line was last logged for this key, in ms after
    /// `origin` plus one (0 = never), so it is logged once per interval for
    /// the whole process.
    last_logged_ms: AtomicU64,
    origin: Instant,
}

impl Entry {
    fn new(limit: &LimitConfig, now: Instant) -> Entry {
        let bucket = |rate: u64, burst: u64| (rate > 0).then(|| Bucket::new(rate, burst, now));
        Entry {
            requests: bucket(limit.requests_per_s, limit.effective_requests_burst()),
            bytes: bucket(limit.bytes_per_s, limit.effective_bytes_burst()),
            last_logged_ms: AtomicU64::new(0),
            origin: now,
        }
    }

    fn ms(&self, now: Instant) -> u64 {
        let ms = now.saturating_duration_since(self.origin).as_millis();
        u64::try_from(ms).unwrap_or(u64::MAX - 1) + 1
    }

    fn log_due(&self, last: u64, now: Instant, log_interval: Duration) -> bool {
        last == 0 || self.ms(now).saturating_sub(last) >= log_interval.as_millis() as u64
    }

    /// Whether this caller should log the throttle line now (at most one
    /// caller per interval, across cores).
    fn claim_log(&self, now: Instant, log_interval: Duration) -> bool {
        let last = self.last_logged_ms.load(Ordering::Relaxed);
        self.log_due(last, now, log_interval)
            && self
                .last_logged_ms
                .compare_exchange(last, self.ms(now), Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
    }

    fn is_idle(&self, now: Instant, log_interval: Duration) -> bool {
        self.requests.as_ref().is_none_or(|b| b.is_full(now))
            && self.bytes.as_ref().is_none_or(|b| b.is_full(now))
            && self.log_due(
                self.last_logged_ms.load(Ordering::Relaxed),
                now,
                log_interval,
            )
    }

    fn wait_time(&self, now: Instant) -> Duration {
        let wait = |b: &Option<Bucket>| b.as_ref().map_or(Duration::ZERO, |b| b.wait_time(now));
        wait(&self.requests).max(wait(&self.bytes))
    }
}

/// The keys one request was charged to, for charging its reply bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ticket {
    keys: [Option<Key>; 4],
    generation: u64,
}

/// The decision for one request.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Admit {
    /// Nothing limits this request: run it, charge nothing afterwards.
    Free,
    /// Run it after `delay` (zero when within the limits); charge the reply to `ticket`.
    After { delay: Duration, ticket: Ticket },
}

struct CoreState {
    generation: u64,
    settings: Arc<Settings>,
    registry: Arc<Registry>,
    /// This core's handles on the shared buckets it has used.
    buckets: HashMap<Key, Arc<Entry>>,
    last_sweep: Instant,
}

/// One core's buckets.
pub struct CoreLimiter {
    core: usize,
    live: Arc<LiveLimits>,
    state: RefCell<CoreState>,
}

impl CoreLimiter {
    pub fn new(core: usize, live: Arc<LiveLimits>) -> CoreLimiter {
        let generation = live.generation.load(Ordering::Acquire);
        let current = live.current();
        CoreLimiter {
            core,
            live,
            state: RefCell::new(CoreState {
                generation,
                settings: current.settings.clone(),
                registry: current.registry.clone(),
                buckets: HashMap::new(),
                last_sweep: Instant::now(),
            }),
        }
    }

    /// Picks up reloaded settings (the buckets restart full).
    fn refresh(&self, state: &mut CoreState) {
        let generation = self.live.generation.load(Ordering::Acquire);
        if generation != state.generation {
            let current = self.live.current();
            state.generation = generation;
            state.settings = current.settings.clone();
            state.registry = current.registry.clone();
            state.buckets.clear();
        }
    }

    /// Decides when a request record from `peer` may run, reserving one
    /// request and its bytes in every bucket it falls under.
    pub fn admit(&self, peer: IpAddr, record: &Bytes) -> Admit {
        self.admit_at(peer, record, Instant::now())
    }

    fn admit_at(&self, peer: IpAddr, record: &Bytes, now: Instant) -> Admit {
        if self.is_unlimited() {
            return Admit::Free;
        }
        let (uid, share) = peek(record);
        let who = Caller {
            protocol: crate::metrics::Protocol::Nfs,
            peer,
            uid,
            share,
        };
        self.admit_caller(&who, record.len(), now)
    }

    /// Whether no limit is configured (one atomic load; the settings are
    /// refreshed after a reload).
    fn is_unlimited(&self) -> bool {
        let mut state = self.state.borrow_mut();
        self.refresh(&mut state);
        state.settings.is_unlimited()
    }

    /// [`CoreLimiter::admit`] for one SMB request of `request_bytes` from
    /// `peer`, by the session's `uid` on disk share `share` (index, as in NFS
    /// file handles).
    pub fn admit_smb(
        &self,
        peer: IpAddr,
        uid: Option<u32>,
        share: Option<u32>,
        request_bytes: usize,
    ) -> Admit {
        if self.is_unlimited() {
            return Admit::Free;
        }
        let who = Caller {
            protocol: crate::metrics::Protocol::Smb,
            peer,
            uid,
            share,
        };
        self.admit_caller(&who, request_bytes, Instant::now())
    }

    fn admit_caller(&self, who: &Caller, request_bytes: usize, now: Instant) -> Admit {
        let (peer, uid, share) = (who.peer, who.uid, who.share);
        let mut state = self.state.borrow_mut();
        let settings = state.settings.clone();
        let share_limits = share.and_then(|s| settings.shares.get(s as usize).copied().flatten());
        let candidates: [(Option<Key>, Option<&LimitConfig>); 4] = [
            (Some(Key::Client(peer)), Some(&settings.global.per_client)),
            (uid.map(Key::User), Some(&settings.global.per_user)),
            (
                share.map(|s| Key::ShareClient(s, peer)),
                share_limits.as_ref().map(|l| &l.per_client),
            ),
            (
                share.zip(uid).map(|(s, u)| Key::ShareUser(s, u)),
                share_limits.as_ref().map(|l| &l.per_user),
            ),
        ];
        let log_interval = Duration::from_secs(settings.global.throttle_log_interval_s);
        let mut keys = [None; 4];
        let mut worst: Option<(Duration, Key)> = None;
        for (slot, (key, limit)) in keys.iter_mut().zip(candidates) {
            let (Some(key), Some(limit)) = (key, limit) else {
                continue;
            };
            if limit.is_unlimited() {
                continue;
            }
            *slot = Some(key);
            let entry = match state.buckets.get(&key) {
                Some(e) => e,
                None => {
                    let e = state.registry.get(key, limit, now, log_interval);
                    state.buckets.entry(key).or_insert(e)
                }
            };
            let mut delay = Duration::ZERO;
            if let Some(b) = entry.requests.as_ref() {
                delay = delay.max(b.reserve(1, now));
            }
            if let Some(b) = entry.bytes.as_ref() {
                delay = delay.max(b.reserve(request_bytes as u64, now));
            }
            if delay > Duration::ZERO {
                if entry.claim_log(now, log_interval) {
                    log::info!(
                        "core {}: throttling {key} ({}): delaying its requests by {} ms \
                         (logged at most every {} s)",
                        self.core,
                        describe(limit),
                        delay.as_millis(),
                        log_interval.as_secs()
                    );
                }
                if worst.is_none_or(|(d, _)| delay > d) {
                    worst = Some((delay, key));
                }
            }
        }
        self.maybe_sweep(&mut state, now, log_interval);
        let generation = state.generation;
        let ticket = Ticket { keys, generation };
        match worst {
            Some((delay, key)) => {
                rate_limited(who.protocol, &key);
                Admit::After { delay, ticket }
            }
            None => Admit::After {
                delay: Duration::ZERO,
                ticket,
            },
        }
    }

    /// Charges the reply's bytes to the buckets the request was admitted under.
    pub fn charge_reply(&self, ticket: &Ticket, reply_bytes: usize) {
        let now = Instant::now();
        let state = self.state.borrow();
        if state.generation != ticket.generation {
            return;
        }
        for key in ticket.keys.iter().flatten() {
            if let Some(b) = state.buckets.get(key).and_then(|e| e.bytes.as_ref()) {
                b.charge(reply_bytes as u64, now);
            }
        }
    }

    /// The SMB hook: how many of the `requested` credits to grant a client.
    /// While any of its buckets is in debt it gets one credit (so it can go
    /// on, slowly); otherwise what it asked for (at least one).
    pub fn smb_credits(&self, peer: IpAddr, uid: Option<u32>, requested: u16) -> u16 {
        let now = Instant::now();
        let mut state = self.state.borrow_mut();
        self.refresh(&mut state);
        let mut throttled = false;
        for key in [Some(Key::Client(peer)), uid.map(Key::User)]
            .into_iter()
            .flatten()
        {
            if let Some(e) = state.buckets.get(&key) {
                throttled |= e.wait_time(now) > Duration::ZERO;
            }
        }
        if throttled {
            1
        } else {
            requested.max(1)
        }
    }

    /// Drops this core's handles on buckets that are full (they hold no
    /// state), periodically or when the map grows large, so a scan of many
    /// addresses cannot grow it forever; the periodic sweep also sweeps the
    /// shared registry (one lock per core per interval).
    fn maybe_sweep(&self, state: &mut CoreState, now: Instant, log_interval: Duration) {
        let due = now.saturating_duration_since(state.last_sweep)
            >= Duration::from_secs(SWEEP_INTERVAL_S);
        if due || state.buckets.len() >= BUCKETS_SWEEP_AT {
            state.last_sweep = now;
            state.buckets.retain(|_, e| !e.is_idle(now, log_interval));
            if due {
                state.registry.sweep(now, log_interval);
            }
        }
    }

    /// Buckets held on this core (tests).
    pub fn buckets_len(&self) -> usize {
        self.state.borrow().buckets.len()
    }

    /// Keys in the shared registry of the current generation (tests).
    pub fn registry_len(&self) -> usize {
        self.state.borrow().registry.len()
    }
}

/// Who a request is from, for [`CoreLimiter::admit_caller`].
struct Caller {
    protocol: crate::metrics::Protocol,
    peer: IpAddr,
    uid: Option<u32>,
    share: Option<u32>,
}

fn describe(limit: &LimitConfig) -> String {
    let mut parts = Vec::new();
    if limit.requests_per_s > 0 {
        parts.push(format!(
            "{} requests/s, burst {}",
            limit.requests_per_s,
            limit.effective_requests_burst()
        ));
    }
    if limit.bytes_per_s > 0 {
        parts.push(format!(
            "{} bytes/s, burst {}",
            limit.bytes_per_s,
            limit.effective_bytes_burst()
        ));
    }
    parts.join("; ")
}

/// The AUTH_SYS uid and (for NFS calls) the share id of the first file handle
/// argument — every NFSv3 procedure but NULL starts with one. Anything that
/// does not decode counts against the client buckets only.
pub fn peek(record: &Bytes) -> (Option<u32>, Option<u32>) {
    let mut r = XdrReader::new(record.clone());
    let Ok(hdr) = CallHeader::decode(&mut r) else {
        return (None, None);
    };
    let uid = match &hdr.auth {
        Auth::Sys(sys) => Some(sys.uid),
        _ => None,
    };
    let share = (hdr.prog == NFS_PROGRAM && hdr.proc_ != 0)
        .then(|| WireHandle::decode(&mut r).ok())
        .flatten()
        .and_then(|h| h.get().ok())
        .map(|fh| fh.share_id);
    (uid, share)
}

#[cfg(test)]
mod tests;
