//! A fault-injecting wrapper around any block store, for tests of the data path.
//!
//! [`FaultyBlockStore`] forwards every call to the store it wraps unless the
//! [`FaultHandle`] it shares with the test says otherwise: fail every Nth call,
//! fail every call until cleared, or hang each call for a while before
//! forwarding it. The handle is an `Arc`, so a test keeps it while the store
//! itself is moved into the server; faults can be changed at any time and apply
//! to the next call. A hang waits on a condition variable, so [`FaultHandle::clear`]
//! releases hung callers at once.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;
use dittofs_shards::{BlockStore, BlockStoreError};

/// One kind of call, for restricting faults to some of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Put,
    Get,
    Delete,
    List,
}

impl Op {
    pub const ALL: [Op; 4] = [Op::Put, Op::Get, Op::Delete, Op::List];
}

/// What the wrapper does to the calls it applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FaultMode {
    /// Forward every call.
    None,
    /// Calls number n, 2n, 3n… (counting only calls the fault applies to,
    /// from when the mode was set) fail with `error`; the others are forwarded.
    FailEveryNth { n: u64, error: BlockStoreError },
    /// Every call fails with `error` until the mode is changed or cleared.
    FailAll(BlockStoreError),
    /// Every call waits `delay_ms` (or until cleared), then is forwarded.
    Hang { delay_ms: u64 },
}

#[derive(Debug)]
struct State {
    mode: FaultMode,
    ops: Vec<Op>,
    /// Calls the current mode applied to.
    matched: u64,
    /// Bumped by every change, so hung callers notice it.
    generation: u64,
}

/// Controls the faults of one or more [`FaultyBlockStore`]s.
#[derive(Debug)]
pub struct FaultHandle {
    state: Mutex<State>,
    changed: Condvar,
    calls: AtomicU64,
    injected: AtomicU64,
}

impl FaultHandle {
    /// A handle with no fault, applying to every kind of call.
    pub fn new() -> Arc<FaultHandle> {
        Arc::new(FaultHandle {
            state: Mutex::new(State {
                mode: FaultMode::None,
                ops: Op::ALL.to_vec(),
                matched: 0,
                generation: 0,
            }),
            changed: Condvar::new(),
            calls: AtomicU64::new(0),
            injected: AtomicU64::new(0),
        })
    }

    /// An error like a transient server failure (HTTP 503).
    pub fn io_error() -> BlockStoreError {
        BlockStoreError::Io("injected fault: 503 Service Unavailable".to_owned())
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Replaces the fault mode (the Nth-call count restarts).
    pub fn set(&self, mode: FaultMode) {
        let mut s = self.lock();
        s.mode = mode;
        s.matched = 0;
        s.generation += 1;
        self.changed.notify_all();
    }

    /// Restricts faults to these kinds of call (default: all).
    pub fn set_ops(&self, ops: &[Op]) {
        let mut s = self.lock();
        s.ops = ops.to_vec();
        s.generation += 1;
        self.changed.notify_all();
    }

    /// No more faults; hung calls are released and forwarded.
    pub fn clear(&self) {
        self.set(FaultMode::None);
    }

    /// Every `n`th call fails with an I/O error like a 5xx (`n` of 0 counts as 1).
    pub fn fail_every_nth(&self, n: u64) {
        self.set(FaultMode::FailEveryNth {
            n: n.max(1),
            error: Self::io_error(),
        });
    }

    /// Every call fails with `error` until [`FaultHandle::clear`].
    pub fn fail_all(&self, error: BlockStoreError) {
        self.set(FaultMode::FailAll(error));
    }

    /// Every call fails with [`BlockStoreError::NoSpace`] until cleared.
    pub fn no_space(&self) {
        self.fail_all(BlockStoreError::NoSpace);
    }

    /// Every call waits `delay_ms` before it is forwarded.
    pub fn hang_ms(&self, delay_ms: u64) {
        self.set(FaultMode::Hang { delay_ms });
    }

    /// The current mode.
    pub fn mode(&self) -> FaultMode {
        self.lock().mode.clone()
    }

    /// Calls seen by the wrappers, faulted or not.
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }

    /// Calls that failed because of an injected fault.
    pub fn injected(&self) -> u64 {
        self.injected.load(Ordering::Relaxed)
    }

    /// Applies the current fault to one call of kind `op`: `Err` to fail it,
    /// `Ok` to forward it (after a hang, if one is set).
    fn before(&self, op: Op) -> Result<(), BlockStoreError> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        let mut s = self.lock();
        if !s.ops.contains(&op) {
            return Ok(());
        }
        match s.mode.clone() {
            FaultMode::None => Ok(()),
            FaultMode::FailAll(error) => {
                self.injected.fetch_add(1, Ordering::Relaxed);
                Err(error)
            }
            FaultMode::FailEveryNth { n, error } => {
                s.matched += 1;
                if s.matched % n.max(1) == 0 {
                    self.injected.fetch_add(1, Ordering::Relaxed);
                    Err(error)
                } else {
                    Ok(())
                }
            }
            FaultMode::Hang { delay_ms } => {
                let generation = s.generation;
                let deadline = Instant::now() + Duration::from_millis(delay_ms);
                while s.generation == generation {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        break;
                    }
                    s = self
                        .changed
                        .wait_timeout(s, left)
                        .unwrap_or_else(|p| p.into_inner())
                        .0;
                }
                Ok(())
            }
        }
    }
}

/// A block store that injects the faults its [`FaultHandle`] describes.
pub struct FaultyBlockStore {
    inner: Arc<dyn BlockStore>,
    handle: Arc<FaultHandle>,
}

impl FaultyBlockStore {
    /// Wraps `inner` with a fresh handle (no fault yet); see [`FaultyBlockStore::handle`].
    pub fn new(inner: Arc<dyn BlockStore>) -> FaultyBlockStore {
        Self::with_handle(inner, FaultHandle::new())
    }

    /// Wraps `inner`, controlled by an existing handle (shared by several stores).
    pub fn with_handle(inner: Arc<dyn BlockStore>, handle: Arc<FaultHandle>) -> FaultyBlockStore {
        FaultyBlockStore { inner, handle }
    }

    /// The handle that controls this store's faults.
    pub fn handle(&self) -> Arc<FaultHandle> {
        self.handle.clone()
    }
}

impl BlockStore for FaultyBlockStore {
    fn put(&self, key: &str, data: Bytes) -> Result<(), BlockStoreError> {
        self.handle.before(Op::Put)?;
        self.inner.put(key, data)
    }

    fn get(&self, key: &str, offset: u64, len: u64) -> Result<Bytes, BlockStoreError> {
        self.handle.before(Op::Get)?;
        self.inner.get(key, offset, len)
    }

    fn delete(&self, key: &str) -> Result<(), BlockStoreError> {
        self.handle.before(Op::Delete)?;
        self.inner.delete(key)
    }

    fn list(&self, prefix: &str) -> Result<Vec<String>, BlockStoreError> {
        self.handle.before(Op::List)?;
        self.inner.list(prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dittofs_shards::MemoryBlockStore;

    fn store() -> (FaultyBlockStore, Arc<FaultHandle>) {
        let s = FaultyBlockStore::new(Arc::new(MemoryBlockStore::new()));
        let h = s.handle();
        (s, h)
    }

    fn data() -> Bytes {
        Bytes::from_static(b"block")
    }

    #[test]
    fn forwards_without_faults() {
        let (s, h) = store();
        s.put("a", data()).unwrap();
        assert_eq!(s.get("a", 0, 100).unwrap(), data());
        assert_eq!(s.list("").unwrap(), vec!["a"]);
        s.delete("a").unwrap();
        assert_eq!((h.calls(), h.injected()), (4, 0));
    }

    #[test]
    fn every_nth_call_fails() {
        let (s, h) = store();
        h.fail_every_nth(3);
        let results: Vec<bool> = (0..9).map(|_| s.put("k", data()).is_ok()).collect();
        assert_eq!(
            results,
            [true, true, false, true, true, false, true, true, false]
        );
        assert_eq!(h.injected(), 3);
        assert_eq!(s.put("k", data()), Ok(()));
        assert!(matches!(s.put("k", data()), Ok(())));
        assert_eq!(s.put("k", data()), Err(FaultHandle::io_error()));
    }

    #[test]
    fn fail_all_until_cleared_and_no_space() {
        let (s, h) = store();
        s.put("k", data()).unwrap();
        h.no_space();
        for _ in 0..5 {
            assert_eq!(s.put("k", data()), Err(BlockStoreError::NoSpace));
            assert_eq!(s.get("k", 0, 1), Err(BlockStoreError::NoSpace));
        }
        h.clear();
        assert_eq!(s.get("k", 0, 5).unwrap(), data());
        h.fail_all(BlockStoreError::Denied("nope".into()));
        assert!(matches!(s.list(""), Err(BlockStoreError::Denied(_))));
        assert_eq!(h.injected(), 11);
    }

    #[test]
    fn faults_can_be_limited_to_some_ops() {
        let (s, h) = store();
        h.set_ops(&[Op::Put]);
        h.fail_all(FaultHandle::io_error());
        assert!(s.put("k", data()).is_err());
        assert!(matches!(
            s.get("k", 0, 1),
            Err(BlockStoreError::NotFound(_))
        ));
        assert_eq!(s.list("").unwrap(), Vec::<String>::new());
    }

    #[test]
    fn hang_delays_and_clear_releases() {
        let (s, h) = store();
        h.hang_ms(150);
        let t = Instant::now();
        s.put("k", data()).unwrap();
        assert!(t.elapsed() >= Duration::from_millis(150));

        h.hang_ms(60_000);
        let s = Arc::new(s);
        let s2 = s.clone();
        let t = Instant::now();
        let hung = std::thread::spawn(move || s2.get("k", 0, 5));
        std::thread::sleep(Duration::from_millis(100));
        assert!(!hung.is_finished(), "the call should be hanging");
        h.clear();
        assert_eq!(hung.join().unwrap().unwrap(), data());
        assert!(t.elapsed() < Duration::from_secs(10));
    }
}
