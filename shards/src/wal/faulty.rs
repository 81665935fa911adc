//! A fault-injecting [`SegmentStorage`] for tests: torn writes, fdatasync
//! errors, ENOSPC and stalls at a chosen operation count or by seeded chance.
//!
//! Why: the durability contract (DESIGN.md) is about what happens when the disk
//! misbehaves, which a healthy test disk never does. [`FaultyStorage`] wraps
//! [`DmaStorage`] (the real O_DIRECT files) and, per [`FaultPlan`], changes
//! what one write or fdatasync does. Operations are counted over every segment
//! of the log (writes and syncs separately, from 1), so a rule like "the 3rd
//! fdatasync fails" is deterministic for a deterministic workload.
//!
//! A torn write persists a prefix of the record's 512-byte sectors and keeps
//! the old bytes in the rest (read back first and written in one aligned
//! write, so it works at any device alignment), like a power cut in the
//! middle of a multi-sector write. Afterwards it either fails the write with
//! EIO or "crashes": with [`CrashMode::Freeze`] every later operation fails
//! with EIO and touches nothing (the test then reopens the log with healthy
//! storage, as after a reboot); with [`CrashMode::Abort`] the process aborts
//! (for the real server).
//!
//! [`FaultPlan::parse`] reads the textual form used by the runtime's test-only
//! environment knob `DITTOFS_TEST_WAL_FAULTS` (see ARCHITECTURE.md).

use std::cell::Cell;
use std::io;
use std::path::Path;
use std::rc::Rc;
use std::time::Duration;

use glommio::io::DmaBuffer;

use super::storage::{DmaStorage, IoFuture, SegmentFile, SegmentStorage};

/// What an injected fault does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultAction {
    /// A write persists only a prefix of its sectors, then fails (EIO) or
    /// crashes (per [`FaultPlan::crash`]).
    TearWrite,
    /// A write fails with EIO and writes nothing.
    WriteEio,
    /// A write fails with ENOSPC and writes nothing.
    WriteNoSpace,
    /// An fdatasync fails with EIO (and syncs nothing).
    SyncEio,
    /// A write waits this long, then goes through.
    StallWrite { ms: u64 },
    /// An fdatasync waits this long, then goes through.
    StallSync { ms: u64 },
}

impl FaultAction {
    fn is_sync(self) -> bool {
        matches!(self, FaultAction::SyncEio | FaultAction::StallSync { .. })
    }
}

/// When a rule fires, counted in operations of its kind (writes or syncs) from 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// Only the nth operation.
    Nth(u64),
    /// The nth operation and every later one.
    From(u64),
    /// Each operation with this chance in a million (seeded, deterministic).
    PerMillion(u32),
}

/// One fault rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FaultRule {
    pub action: FaultAction,
    pub trigger: Trigger,
}

/// What a torn write does after tearing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CrashMode {
    /// The write fails with EIO; the storage keeps working.
    #[default]
    Fail,
    /// Every later operation fails with EIO and touches nothing.
    Freeze,
    /// The process aborts at once (the real server's "power cut").
    Abort,
}

/// The faults one storage injects.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FaultPlan {
    pub rules: Vec<FaultRule>,
    pub seed: u64,
    pub crash: CrashMode,
}

/// Why a fault spec does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad WAL fault spec {0:?}: expected items like tear@3, sync_eio@2+, enospc%50000, stall_sync=200@1, seed=7, crash=abort|freeze|fail")]
pub struct FaultSpecError(pub String);

impl FaultPlan {
    /// Parses `item,item,…`: `ACTION@N` (the Nth op), `ACTION@N+` (from the
    /// Nth on), `ACTION%P` (chance P per million), `seed=S`,
    /// `crash=fail|freeze|abort`. Actions: `tear`, `write_eio`, `enospc`,
    /// `sync_eio`, `stall_write=MS`, `stall_sync=MS`.
    pub fn parse(spec: &str) -> Result<FaultPlan, FaultSpecError> {
        let bad = |item: &str| FaultSpecError(item.to_owned());
        let mut plan = FaultPlan::default();
        for item in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            if let Some(seed) = item.strip_prefix("seed=") {
                plan.seed = seed.parse().map_err(|_| bad(item))?;
                continue;
            }
            if let Some(mode) = item.strip_prefix("crash=") {
                plan.crash = match mode {
                    "fail" => CrashMode::Fail,
                    "freeze" => CrashMode::Freeze,
                    "abort" => CrashMode::Abort,
                    _ => return Err(bad(item)),
                };
                continue;
            }
            let (action, trigger) = if let Some((a, n)) = item.split_once('@') {
                let trigger = match n.strip_suffix('+') {
                    Some(n) => Trigger::From(n.parse().map_err(|_| bad(item))?),
                    None => Trigger::Nth(n.parse().map_err(|_| bad(item))?),
                };
                (a, trigger)
            } else if let Some((a, p)) = item.split_once('%') {
                (a, Trigger::PerMillion(p.parse().map_err(|_| bad(item))?))
            } else {
                return Err(bad(item));
            };
            let ms = |s: &str| s.parse::<u64>().map_err(|_| bad(item));
            let action = match action.split_once('=') {
                None => match action {
                    "tear" => FaultAction::TearWrite,
                    "write_eio" => FaultAction::WriteEio,
                    "enospc" => FaultAction::WriteNoSpace,
                    "sync_eio" => FaultAction::SyncEio,
                    _ => return Err(bad(item)),
                },
                Some(("stall_write", v)) => FaultAction::StallWrite { ms: ms(v)? },
                Some(("stall_sync", v)) => FaultAction::StallSync { ms: ms(v)? },
                Some(_) => return Err(bad(item)),
            };
            plan.rules.push(FaultRule { action, trigger });
        }
        Ok(plan)
    }
}

/// Shared state of one [`FaultyStorage`] and its files.
#[derive(Debug)]
pub struct FaultState {
    plan: FaultPlan,
    rng: Cell<u64>,
    writes: Cell<u64>,
    syncs: Cell<u64>,
    injected: Cell<u64>,
    frozen: Cell<bool>,
}

impl FaultState {
    /// Faults injected so far (stalls included).
    pub fn injected(&self) -> u64 {
        self.injected.get()
    }
    /// Writes seen so far.
    pub fn writes(&self) -> u64 {
        self.writes.get()
    }
    /// fdatasyncs seen so far.
    pub fn syncs(&self) -> u64 {
        self.syncs.get()
    }
    /// Whether a torn write "crashed" the storage ([`CrashMode::Freeze`]).
    pub fn frozen(&self) -> bool {
        self.frozen.get()
    }

    /// xorshift64*: deterministic per seed, no dependency.
    fn chance(&self, per_million: u32) -> bool {
        let mut x = self.rng.get();
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng.set(x);
        x.wrapping_mul(0x2545_F491_4F6C_DD1D) % 1_000_000 < u64::from(per_million)
    }

    /// Counts one operation and returns the fault to inject, if any.
    fn next(&self, sync: bool) -> Option<FaultAction> {
        let counter = if sync { &self.syncs } else { &self.writes };
        let n = counter.get() + 1;
        counter.set(n);
        let mut hit = None;
        for rule in self
            .plan
            .rules
            .iter()
            .filter(|r| r.action.is_sync() == sync)
        {
            let fires = match rule.trigger {
                Trigger::Nth(k) => n == k,
                Trigger::From(k) => n >= k,
                Trigger::PerMillion(p) => self.chance(p),
            };
            if fires && hit.is_none() {
                hit = Some(rule.action);
            }
        }
        if let Some(action) = hit {
            self.injected.set(self.injected.get() + 1);
            log::warn!(
                "injected WAL fault: {action:?} on {} #{n}",
                if sync { "fdatasync" } else { "write" }
            );
        }
        hit
    }

    fn check_frozen(&self) -> io::Result<()> {
        if self.frozen.get() {
            return Err(injected(
                libc::EIO,
                "storage crashed (frozen by an injected torn write)",
            ));
        }
        Ok(())
    }
}

fn injected(errno: i32, what: &str) -> io::Error {
    let os = io::Error::from_raw_os_error(errno);
    io::Error::new(os.kind(), format!("injected fault: {what} ({os})"))
}

/// Storage that injects the faults of its [`FaultPlan`] into real DMA files.
pub struct FaultyStorage {
    inner: DmaStorage,
    state: Rc<FaultState>,
}

impl FaultyStorage {
    /// Storage injecting `plan`'s faults.
    pub fn new(plan: FaultPlan) -> FaultyStorage {
        let seed = plan.seed.max(1);
        FaultyStorage {
            inner: DmaStorage,
            state: Rc::new(FaultState {
                plan,
                rng: Cell::new(seed),
                writes: Cell::new(0),
                syncs: Cell::new(0),
                injected: Cell::new(0),
                frozen: Cell::new(false),
            }),
        }
    }

    /// The counters, shared with every file opened through this storage.
    pub fn state(&self) -> Rc<FaultState> {
        self.state.clone()
    }
}

impl SegmentStorage for FaultyStorage {
    fn open<'a>(
        &'a self,
        path: &'a Path,
        bytes: u64,
    ) -> IoFuture<'a, (Box<dyn SegmentFile>, bool)> {
        Box::pin(async move {
            self.state.check_frozen()?;
            let (inner, created) = self.inner.open(path, bytes).await?;
            let file: Box<dyn SegmentFile> = Box::new(FaultyFile {
                inner,
                state: self.state.clone(),
            });
            Ok((file, created))
        })
    }
}

struct FaultyFile {
    inner: Box<dyn SegmentFile>,
    state: Rc<FaultState>,
}

/// Sector size of a torn write.
const SECTOR_BYTES: usize = 512;

impl FaultyFile {
    /// Writes the first half of `buf`'s sectors (at least one), keeping the
    /// old bytes in the rest.
    async fn tear(&self, buf: DmaBuffer, pos: u64) -> io::Result<()> {
        let len = buf.len();
        let keep = (len / 2 / SECTOR_BYTES * SECTOR_BYTES).max(SECTOR_BYTES.min(len));
        let old = self.inner.read_at(pos, len).await?;
        let mut torn = self.inner.alloc(len);
        let bytes = torn.as_bytes_mut();
        bytes[..keep].copy_from_slice(&buf.as_bytes()[..keep]);
        bytes[keep..].copy_from_slice(&old[keep..len.min(old.len())]);
        self.inner.write_at(torn, pos).await?;
        self.inner.fdatasync().await?;
        Ok(())
    }
}

impl SegmentFile for FaultyFile {
    fn alloc(&self, len: usize) -> DmaBuffer {
        self.inner.alloc(len)
    }

    fn write_at(&self, buf: DmaBuffer, pos: u64) -> IoFuture<'_, usize> {
        Box::pin(async move {
            self.state.check_frozen()?;
            match self.state.next(false) {
                None | Some(FaultAction::SyncEio | FaultAction::StallSync { .. }) => {
                    self.inner.write_at(buf, pos).await
                }
                Some(FaultAction::StallWrite { ms }) => {
                    glommio::timer::sleep(Duration::from_millis(ms)).await;
                    self.inner.write_at(buf, pos).await
                }
                Some(FaultAction::WriteEio) => Err(injected(libc::EIO, "write")),
                Some(FaultAction::WriteNoSpace) => Err(injected(libc::ENOSPC, "write")),
                Some(FaultAction::TearWrite) => {
                    self.tear(buf, pos).await?;
                    match self.state.plan.crash {
                        CrashMode::Fail => {}
                        CrashMode::Freeze => self.state.frozen.set(true),
                        CrashMode::Abort => {
                            log::error!("injected torn WAL write at {pos}: aborting the process");
                            std::process::abort();
                        }
                    }
                    Err(injected(libc::EIO, "torn write"))
                }
            }
        })
    }

    fn fdatasync(&self) -> IoFuture<'_, ()> {
        Box::pin(async move {
            self.state.check_frozen()?;
            match self.state.next(true) {
                Some(FaultAction::SyncEio) => Err(injected(libc::EIO, "fdatasync")),
                Some(FaultAction::StallSync { ms }) => {
                    glommio::timer::sleep(Duration::from_millis(ms)).await;
                    self.inner.fdatasync().await
                }
                _ => self.inner.fdatasync().await,
            }
        })
    }

    fn read_at(&self, pos: u64, len: usize) -> IoFuture<'_, Vec<u8>> {
        Box::pin(async move {
            self.state.check_frozen()?;
            self.inner.read_at(pos, len).await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_item_kind() {
        let plan = FaultPlan::parse(
            "tear@3, sync_eio@2+,enospc%500000,stall_sync=20@1,seed=9,crash=abort",
        )
        .unwrap();
        assert_eq!(plan.seed, 9);
        assert_eq!(plan.crash, CrashMode::Abort);
        assert_eq!(
            plan.rules,
            vec![
                FaultRule {
                    action: FaultAction::TearWrite,
                    trigger: Trigger::Nth(3)
                },
                FaultRule {
                    action: FaultAction::SyncEio,
                    trigger: Trigger::From(2)
                },
                FaultRule {
                    action: FaultAction::WriteNoSpace,
                    trigger: Trigger::PerMillion(500_000)
                },
                FaultRule {
                    action: FaultAction::StallSync { ms: 20 },
                    trigger: Trigger::Nth(1)
                },
            ]
        );
        for bad in [
            "tear",
            "tear@x",
            "boom@1",
            "crash=maybe",
            "stall_sync=x@1",
            "seed=-1",
        ] {
            assert!(FaultPlan::parse(bad).is_err(), "{bad} should not parse");
        }
        assert_eq!(FaultPlan::parse("").unwrap(), FaultPlan::default());
    }

    #[test]
    fn counts_writes_and_syncs_separately() {
        let s = FaultyStorage::new(FaultPlan::parse("write_eio@2,sync_eio@1+").unwrap());
        let st = s.state();
        let w: Vec<_> = (0..3).map(|_| st.next(false)).collect();
        assert_eq!(w, [None, Some(FaultAction::WriteEio), None]);
        assert_eq!(st.next(true), Some(FaultAction::SyncEio));
        assert_eq!(st.next(true), Some(FaultAction::SyncEio));
        assert_eq!((st.writes(), st.syncs(), st.injected()), (3, 2, 3));
    }

    #[test]
    fn chance_is_seeded() {
        let run = |seed| {
            let s = FaultyStorage::new(FaultPlan {
                rules: vec![FaultRule {
                    action: FaultAction::WriteEio,
                    trigger: Trigger::PerMillion(300_000),
                }],
                seed,
                crash: CrashMode::Fail,
            });
            (0..200)
                .map(|_| s.state.next(false).is_some())
                .collect::<Vec<_>>()
        };
        assert_eq!(run(5), run(5));
        assert_ne!(run(5), run(6));
        let hits = run(5).iter().filter(|&&h| h).count();
        assert!((30..90).contains(&hits), "{hits} hits of 200 at 30%");
    }
}
