//! Byte-range locks, global across cores.
//!
//! Why global and in the neutral core: two clients' connections usually land
//! on different cores (SO_REUSEPORT), yet a lock taken through one must stop
//! the other's conflicting lock, READ and WRITE. The table is a fixed set of
//! `std::sync::Mutex` shards keyed by (share id, inode); every critical section
//! is a scan of one file's lock list, with no await inside. When no file has a
//! lock at all, the READ/WRITE check is one relaxed atomic load.
//!
//! Semantics are Windows' (MS-FSA 2.1.5.7, as Samba's `brl_*` implements them):
//! shared locks stack; an exclusive lock conflicts with every overlapping lock,
//! the owner's own included, except that the owner may stack a shared lock on
//! its own exclusive one. A zero-length range overlaps a lock only when its
//! offset lies strictly inside it. A range whose last byte is past 2^64 - 1 is
//! an invalid range. A request of several ranges is granted all-or-none. Unlock needs the
//! exact (offset, length) of a lock the owner holds.
//!
//! Waiting: a blocked request registers a oneshot sender under the same mutex
//! that found the conflict (no lost wakeup); every unlock or release on that
//! file fires all its waiters, which retry. Senders are `Send`, so an unlock on
//! one core wakes a waiter on another.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock};

use futures_channel::oneshot;

use super::InodeId;

/// Number of mutex shards.
const SHARDS: usize = 64;

/// Which file: (share id, inode).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FileKey {
    pub share: u32,
    pub ino: InodeId,
}

/// Who holds a lock: one open of one connection (ids unique server-wide).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LockOwner {
    pub conn: u64,
    pub open: u64,
}

/// One range of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockRange {
    pub offset: u64,
    pub length: u64,
    pub exclusive: bool,
}

/// Why a lock request failed.
#[derive(Debug)]
pub enum LockError {
    /// A conflicting lock is held; the receiver (when waiting was asked for)
    /// fires when something on the file is unlocked.
    Conflict(Option<oneshot::Receiver<()>>),
    /// `offset + length` overflows.
    InvalidRange,
}

/// Unlock of a range the owner does not hold.
#[derive(Debug, PartialEq, Eq)]
pub struct NotLocked;

#[derive(Debug)]
struct Held {
    range: LockRange,
    owner: LockOwner,
}

#[derive(Debug, Default)]
struct FileLocks {
    held: Vec<Held>,
    waiters: Vec<oneshot::Sender<()>>,
}

impl FileLocks {
    fn wake_all(&mut self) {
        for w in self.waiters.drain(..) {
            let _ = w.send(());
        }
    }
}

/// The lock table.
pub struct LockTable {
    shards: Vec<Mutex<HashMap<FileKey, FileLocks>>>,
    /// Files with at least one lock or waiter (fast path for I/O checks).
    files: AtomicUsize,
}

impl Default for LockTable {
    fn default() -> Self {
        LockTable {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            files: AtomicUsize::new(0),
        }
    }
}

/// The server-wide table.
pub fn global() -> &'static LockTable {
    static TABLE: OnceLock<LockTable> = OnceLock::new();
    TABLE.get_or_init(LockTable::default)
}

/// Whether the last byte of the range fits in 64 bits (MS-FSA 2.1.5.7: a lock
/// may end exactly at 2^64, so `u64::MAX`/1 is valid and `u64::MAX`/2 is not).
fn valid_range(offset: u64, length: u64) -> bool {
    length == 0 || offset.checked_add(length - 1).is_some()
}

/// Samba's `brl_overlap`: zero-length ranges overlap only strictly inside.
fn overlap(a: &LockRange, b: &LockRange) -> bool {
    // Both ends fit (checked when the locks were taken), use u128 for the sum.
    let (a0, a1) = (
        u128::from(a.offset),
        u128::from(a.offset) + u128::from(a.length),
    );
    let (b0, b1) = (
        u128::from(b.offset),
        u128::from(b.offset) + u128::from(b.length),
    );
    if a.length != 0 && a0 == b0 && a.length == b.length {
        return true;
    }
    !(a0 >= b1 || b0 >= a1)
}

/// Whether `new` by `owner` conflicts with `held`.
fn conflicts(held: &Held, new: &LockRange, owner: LockOwner) -> bool {
    if !held.range.exclusive && !new.exclusive {
        return false;
    }
    if held.range.exclusive && !new.exclusive && held.owner == owner {
        return false;
    }
    overlap(&held.range, new)
}

impl LockTable {
    fn shard(&self, key: &FileKey) -> MutexGuard<'_, HashMap<FileKey, FileLocks>> {
        let h = (key.ino ^ (u64::from(key.share) << 48)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let i = (h >> 58) as usize % SHARDS;
        // A poisoned shard only means another thread panicked mid-update of a
        // plain Vec; the data is still structurally valid.
        self.shards[i].lock().unwrap_or_else(|p| p.into_inner())
    }

    fn drop_if_empty(&self, map: &mut HashMap<FileKey, FileLocks>, key: &FileKey) {
        if let Some(f) = map.get(key) {
            if f.held.is_empty() && f.waiters.is_empty() {
                map.remove(key);
                self.files.fetch_sub(1, Ordering::Relaxed);
            }
        }
    }

    /// Takes every range of `ranges` for `owner`, or none. With `wait`, a
    /// conflict registers a waiter fired at the next unlock on the file.
    pub fn lock(
        &self,
        key: FileKey,
        owner: LockOwner,
        ranges: &[LockRange],
        wait: bool,
    ) -> Result<(), LockError> {
        if ranges.iter().any(|r| !valid_range(r.offset, r.length)) {
            return Err(LockError::InvalidRange);
        }
        let mut map = self.shard(&key);
        let file = map.entry(key).or_insert_with(|| {
            self.files.fetch_add(1, Ordering::Relaxed);
            FileLocks::default()
        });
        let before = file.held.len();
        for r in ranges {
            if file.held.iter().any(|h| conflicts(h, r, owner)) {
                file.held.truncate(before);
                let rx = wait.then(|| {
                    file.waiters.retain(|w| !w.is_canceled());
                    let (tx, rx) = oneshot::channel();
                    file.waiters.push(tx);
                    rx
                });
                self.drop_if_empty(&mut map, &key);
                return Err(LockError::Conflict(rx));
            }
            file.held.push(Held { range: *r, owner });
        }
        Ok(())
    }

    /// Releases the owner's lock of exactly (offset, length) and wakes waiters.
    pub fn unlock(
        &self,
        key: FileKey,
        owner: LockOwner,
        offset: u64,
        length: u64,
    ) -> Result<(), NotLocked> {
        let mut map = self.shard(&key);
        let file = map.get_mut(&key).ok_or(NotLocked)?;
        // An exclusive lock goes before a shared one stacked on the same range.
        let pos = file
            .held
            .iter()
            .rposition(|h| {
                h.owner == owner
                    && h.range.offset == offset
                    && h.range.length == length
                    && h.range.exclusive
            })
            .or_else(|| {
                file.held.iter().rposition(|h| {
                    h.owner == owner && h.range.offset == offset && h.range.length == length
                })
            })
            .ok_or(NotLocked)?;
        file.held.remove(pos);
        file.wake_all();
        self.drop_if_empty(&mut map, &key);
        Ok(())
    }

    /// Releases every lock of `owner` on the file (CLOSE, disconnect).
    pub fn release_owner(&self, key: FileKey, owner: LockOwner) {
        let mut map = self.shard(&key);
        if let Some(file) = map.get_mut(&key) {
            let n = file.held.len();
            file.held.retain(|h| h.owner != owner);
            if file.held.len() != n {
                file.wake_all();
            }
            file.waiters.retain(|w| !w.is_canceled());
        }
        self.drop_if_empty(&mut map, &key);
    }

    /// Hands every lock of `from` on the file to `to` (a durable open taken
    /// back on a new connection keeps its locks, MS-SMB2 3.3.5.9.7). Waiters
    /// are not woken: nothing was released.
    pub fn reassign(&self, key: FileKey, from: LockOwner, to: LockOwner) -> usize {
        let mut map = self.shard(&key);
        let Some(file) = map.get_mut(&key) else {
            return 0;
        };
        let mut n = 0;
        for h in file.held.iter_mut().filter(|h| h.owner == from) {
            h.owner = to;
            n += 1;
        }
        n
    }

    /// Whether READ (`write == false`) or WRITE of `length` bytes at `offset`
    /// by `owner` may proceed: a READ is stopped by another owner's exclusive
    /// lock, a WRITE by any other owner's lock and by the owner's own shared one.
    pub fn io_allowed(
        &self,
        key: FileKey,
        owner: LockOwner,
        offset: u64,
        length: u64,
        write: bool,
    ) -> bool {
        if self.files.load(Ordering::Relaxed) == 0 || length == 0 {
            return true;
        }
        let probe = LockRange {
            offset,
            length: length.min(u64::MAX - offset),
            exclusive: write,
        };
        let map = self.shard(&key);
        let Some(file) = map.get(&key) else {
            return true;
        };
        !file.held.iter().any(|h| {
            let blocks = if h.owner == owner {
                write && !h.range.exclusive
            } else {
                write || h.range.exclusive
            };
            blocks && overlap(&h.range, &probe)
        })
    }

    /// Number of locks held on a file (tests, metrics).
    pub fn held_count(&self, key: FileKey) -> usize {
        self.shard(&key).get(&key).map_or(0, |f| f.held.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const K: FileKey = FileKey { share: 1, ino: 42 };
    const A: LockOwner = LockOwner { conn: 1, open: 1 };
    const B: LockOwner = LockOwner { conn: 2, open: 1 };

    fn r(offset: u64, length: u64, exclusive: bool) -> LockRange {
        LockRange {
            offset,
            length,
            exclusive,
        }
    }

    fn conflict(res: Result<(), LockError>) -> bool {
        matches!(res, Err(LockError::Conflict(_)))
    }

    #[test]
    fn shared_stack_exclusive_conflicts() {
        let t = LockTable::default();
        t.lock(K, A, &[r(0, 10, false)], false).unwrap();
        t.lock(K, B, &[r(5, 10, false)], false).unwrap();
        assert!(conflict(t.lock(K, B, &[r(0, 1, true)], false)));
        assert!(
            conflict(t.lock(K, A, &[r(9, 1, true)], false)),
            "own shared"
        );
        t.lock(K, B, &[r(10, 5, true)], false)
            .expect_err("B's own shared range 5..15");
        t.lock(K, A, &[r(20, 5, true)], false).unwrap();
        assert!(conflict(t.lock(K, A, &[r(20, 5, true)], false)), "own excl");
        t.lock(K, A, &[r(20, 5, false)], false)
            .expect("shared on own exclusive stacks");
        assert!(conflict(t.lock(K, B, &[r(24, 1, false)], false)));
        t.lock(K, B, &[r(25, 1, true)], false).unwrap();
    }

    #[test]
    fn zero_length_and_overflow() {
        let t = LockTable::default();
        t.lock(K, A, &[r(10, 10, true)], false).unwrap();
        t.lock(K, B, &[r(10, 0, true)], false)
            .expect("zero length at the start is outside");
        assert!(conflict(t.lock(K, B, &[r(15, 0, true)], false)));
        t.lock(K, B, &[r(20, 0, true)], false).unwrap();
        t.lock(K, B, &[r(5, 0, true)], false).unwrap();
        assert!(matches!(
            t.lock(K, B, &[r(u64::MAX, 2, true)], false),
            Err(LockError::InvalidRange)
        ));
        t.lock(K, B, &[r(u64::MAX - 1, 1, true)], false).unwrap();
        t.lock(K, B, &[r(u64::MAX, 0, true)], false).unwrap();
        // Ending exactly at 2^64 is valid (smbtorture smb2.lock.lock max/1).
        t.lock(K, A, &[r(u64::MAX, 1, true)], false).unwrap();
        assert!(conflict(t.lock(K, B, &[r(u64::MAX, 1, true)], false)));
        assert!(matches!(
            t.lock(K, B, &[r(u64::MAX, u64::MAX, true)], false),
            Err(LockError::InvalidRange)
        ));
    }

    #[test]
    fn all_or_none() {
        let t = LockTable::default();
        t.lock(K, A, &[r(100, 10, true)], false).unwrap();
        assert!(conflict(t.lock(
            K,
            B,
            &[r(0, 10, true), r(20, 10, true), r(105, 1, false)],
            false
        )));
        assert_eq!(t.held_count(K), 1, "nothing of the failed request kept");
        assert!(
            conflict(t.lock(K, B, &[r(0, 10, true), r(5, 1, true)], false)),
            "elements of one request conflict with each other"
        );
        assert_eq!(t.held_count(K), 1);
    }

    #[test]
    fn unlock_exact_and_release() {
        let t = LockTable::default();
        t.lock(K, A, &[r(0, 10, true), r(10, 10, false)], false)
            .unwrap();
        assert_eq!(t.unlock(K, A, 0, 5), Err(NotLocked));
        assert_eq!(t.unlock(K, B, 0, 10), Err(NotLocked), "not the owner");
        t.unlock(K, A, 0, 10).unwrap();
        assert_eq!(t.unlock(K, A, 0, 10), Err(NotLocked), "already unlocked");
        t.release_owner(K, A);
        assert_eq!(t.held_count(K), 0);
        assert_eq!(t.files.load(Ordering::Relaxed), 0, "entry dropped");
    }

    #[test]
    fn reassign_keeps_locks_and_conflicts() {
        let t = LockTable::default();
        t.lock(K, A, &[r(0, 10, true), r(20, 5, false)], false)
            .unwrap();
        let c = LockOwner { conn: 3, open: 7 };
        assert_eq!(t.reassign(K, A, c), 2);
        assert_eq!(t.held_count(K), 2);
        assert_eq!(t.unlock(K, A, 0, 10), Err(NotLocked), "old owner gone");
        assert!(conflict(t.lock(K, B, &[r(5, 1, true)], false)));
        assert!(t.io_allowed(K, c, 5, 1, true), "new owner writes its lock");
        t.unlock(K, c, 0, 10).unwrap();
        t.release_owner(K, c);
        assert_eq!(t.held_count(K), 0);
        assert_eq!(t.reassign(K, A, c), 0, "no entry");
    }

    #[test]
    fn io_checks() {
        let t = LockTable::default();
        assert!(t.io_allowed(K, B, 0, 100, true), "no locks at all");
        t.lock(K, A, &[r(0, 10, true), r(20, 10, false)], false)
            .unwrap();
        assert!(!t.io_allowed(K, B, 5, 1, false), "read under excl");
        assert!(t.io_allowed(K, A, 5, 1, true), "owner writes its excl");
        assert!(t.io_allowed(K, B, 20, 10, false), "read under shared");
        assert!(!t.io_allowed(K, B, 25, 10, true), "write under shared");
        assert!(!t.io_allowed(K, A, 25, 1, true), "own shared blocks writes");
        assert!(t.io_allowed(K, B, 10, 10, true), "gap");
        assert!(t.io_allowed(K, B, 5, 0, true), "zero-length io");
        assert!(t.io_allowed(K, B, u64::MAX, 100, true));
    }

    #[test]
    fn waiters_woken_by_unlock_and_release_across_threads() {
        let t = std::sync::Arc::new(LockTable::default());
        t.lock(K, A, &[r(0, 10, true)], false).unwrap();
        let Err(LockError::Conflict(Some(rx))) = t.lock(K, B, &[r(0, 1, true)], true) else {
            panic!("expected a waiter");
        };
        let t2 = t.clone();
        std::thread::spawn(move || t2.unlock(K, A, 0, 10).unwrap())
            .join()
            .unwrap();
        futures_lite::future::block_on(rx).expect("woken");
        t.lock(K, B, &[r(0, 1, true)], false).unwrap();
        let Err(LockError::Conflict(Some(rx))) = t.lock(K, A, &[r(0, 10, false)], true) else {
            panic!("expected a waiter");
        };
        t.release_owner(K, B);
        futures_lite::future::block_on(rx).expect("woken by release");
        assert!(t.lock(K, A, &[r(0, 10, false)], false).is_ok());
    }
}
