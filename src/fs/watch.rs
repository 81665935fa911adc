//! Directory watches (SMB CHANGE_NOTIFY), fed by the fs core's namespace
//! operations whichever protocol made them.
//!
//! Why here and global: a change made over NFS, or over SMB on another core,
//! must reach an SMB watcher on this core. The core's create/remove/rename/
//! link operations call [`WatchRegistry::notify`] after they succeed; with no
//! watch registered anywhere that is one relaxed atomic load. Each watch
//! buffers its changes (bounded by [`BUFFERED_MAX`]; past it the watch only
//! remembers that it overflowed, which SMB reports as STATUS_NOTIFY_ENUM_DIR)
//! and holds at most one waiter, a oneshot sender fired by the first change.
//! One `std::sync::Mutex` guards the table: watches are few and every critical
//! section is a map lookup and a push, with no await under it.
//!
//! Limitation: only changes of a directory's own entries are reported; a
//! WATCH_TREE watch is treated as a watch of the directory itself (subtree
//! changes would need the path of every ancestor, which the store does not
//! keep).

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock};

use futures_channel::oneshot;

use super::InodeId;

/// Changes kept per watch between two requests.
pub const BUFFERED_MAX: usize = 256;

/// Identifies a registered watch.
pub type WatchId = u64;

/// What happened to an entry (the FILE_ACTION_* values of MS-FSCC 2.7.1).
pub mod action {
    pub const ADDED: u32 = 1;
    pub const REMOVED: u32 = 2;
    pub const MODIFIED: u32 = 3;
    pub const RENAMED_OLD_NAME: u32 = 4;
    pub const RENAMED_NEW_NAME: u32 = 5;
}

/// Which kinds of change a watch wants (FILE_NOTIFY_CHANGE_* of MS-SMB2 2.2.35).
pub mod filter {
    pub const FILE_NAME: u32 = 0x001;
    pub const DIR_NAME: u32 = 0x002;
    pub const ATTRIBUTES: u32 = 0x004;
    pub const SIZE: u32 = 0x008;
    pub const LAST_WRITE: u32 = 0x010;
    pub const CREATION: u32 = 0x040;
    pub const SECURITY: u32 = 0x100;
}

/// One change of a watched directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub action: u32,
    /// Entry name (bytes as stored).
    pub name: Vec<u8>,
}

/// What [`WatchRegistry::take`] found.
#[derive(Debug)]
pub enum Taken {
    Changes(Vec<Change>),
    /// Changes were lost: the client must re-read the directory.
    Overflow,
    /// Nothing yet; the receiver fires at the next change (or unregister).
    Wait(oneshot::Receiver<()>),
    /// No such watch.
    Gone,
}

struct Watch {
    dir: (u32, InodeId),
    filter: u32,
    buffer: Vec<Change>,
    overflow: bool,
    waiter: Option<oneshot::Sender<()>>,
}

#[derive(Default)]
struct Inner {
    watches: HashMap<WatchId, Watch>,
    by_dir: HashMap<(u32, InodeId), Vec<WatchId>>,
    next_id: WatchId,
}

/// The registry of watches.
#[derive(Default)]
pub struct WatchRegistry {
    inner: Mutex<Inner>,
    /// Registered watches (the fast path when there are none).
    count: AtomicUsize,
}

/// The server-wide registry.
pub fn global() -> &'static WatchRegistry {
    static REG: OnceLock<WatchRegistry> = OnceLock::new();
    REG.get_or_init(WatchRegistry::default)
}

impl WatchRegistry {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Poisoning leaves plain maps that are still consistent.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether any watch exists (one relaxed load).
    pub fn active(&self) -> bool {
        self.count.load(Ordering::Relaxed) != 0
    }

    /// Watches directory `dir` of share `share` for changes matching `filter`.
    pub fn register(&self, share: u32, dir: InodeId, filter: u32) -> WatchId {
        let mut g = self.lock();
        g.next_id += 1;
        let id = g.next_id;
        g.watches.insert(
            id,
            Watch {
                dir: (share, dir),
                filter,
                buffer: Vec::new(),
                overflow: false,
                waiter: None,
            },
        );
        g.by_dir.entry((share, dir)).or_default().push(id);
        self.count.fetch_add(1, Ordering::Relaxed);
        id
    }

    /// Changes the filter of a watch (each CHANGE_NOTIFY request brings one).
    pub fn set_filter(&self, id: WatchId, filter: u32) {
        if let Some(w) = self.lock().watches.get_mut(&id) {
            w.filter = filter;
        }
    }

    /// Removes a watch; its waiter, if any, fires.
    pub fn unregister(&self, id: WatchId) {
        let mut g = self.lock();
        let Some(w) = g.watches.remove(&id) else {
            return;
        };
        if let Some(ids) = g.by_dir.get_mut(&w.dir) {
            ids.retain(|i| *i != id);
            if ids.is_empty() {
                g.by_dir.remove(&w.dir);
            }
        }
        self.count.fetch_sub(1, Ordering::Relaxed);
    }

    /// Takes the buffered changes, or registers a waiter when there are none.
    pub fn take(&self, id: WatchId) -> Taken {
        let mut g = self.lock();
        let Some(w) = g.watches.get_mut(&id) else {
            return Taken::Gone;
        };
        if w.overflow {
            w.overflow = false;
            w.buffer.clear();
            return Taken::Overflow;
        }
        if !w.buffer.is_empty() {
            return Taken::Changes(std::mem::take(&mut w.buffer));
        }
        let (tx, rx) = oneshot::channel();
        w.waiter = Some(tx);
        Taken::Wait(rx)
    }

    /// Records a change of entry `name` of directory `dir`; `kind` is the
    /// filter bit it falls under. Cheap when nothing is watched.
    pub fn notify(&self, share: u32, dir: InodeId, name: &[u8], action: u32, kind: u32) {
        if !self.active() {
            return;
        }
        let mut g = self.lock();
        let Inner {
            watches, by_dir, ..
        } = &mut *g;
        let Some(ids) = by_dir.get(&(share, dir)) else {
            return;
        };
        for id in ids {
            let Some(w) = watches.get_mut(id) else {
                continue;
            };
            if w.filter & kind == 0 {
                continue;
            }
            if w.buffer.len() >= BUFFERED_MAX {
                w.overflow = true;
            } else if !w.overflow {
                w.buffer.push(Change {
                    action,
                    name: name.to_vec(),
                });
            }
            if let Some(tx) = w.waiter.take() {
                let _ = tx.send(());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffer_wait_filter_overflow() {
        let r = WatchRegistry::default();
        assert!(!r.active());
        r.notify(1, 10, b"x", action::ADDED, filter::FILE_NAME);
        let w = r.register(1, 10, filter::FILE_NAME);
        assert!(r.active());
        let Taken::Wait(rx) = r.take(w) else {
            panic!("nothing was buffered")
        };
        r.notify(1, 10, b"d", action::ADDED, filter::DIR_NAME);
        r.notify(1, 11, b"other dir", action::ADDED, filter::FILE_NAME);
        r.notify(2, 10, b"other share", action::ADDED, filter::FILE_NAME);
        r.notify(1, 10, b"a", action::ADDED, filter::FILE_NAME);
        futures_lite::future::block_on(rx).expect("woken");
        r.notify(1, 10, b"a", action::REMOVED, filter::FILE_NAME);
        let Taken::Changes(c) = r.take(w) else {
            panic!("changes expected")
        };
        assert_eq!(
            c,
            vec![
                Change {
                    action: action::ADDED,
                    name: b"a".to_vec()
                },
                Change {
                    action: action::REMOVED,
                    name: b"a".to_vec()
                }
            ]
        );
        for i in 0..=BUFFERED_MAX {
            r.notify(1, 10, format!("f{i}").as_bytes(), 1, filter::FILE_NAME);
        }
        assert!(matches!(r.take(w), Taken::Overflow));
        assert!(matches!(r.take(w), Taken::Wait(_)));
        r.unregister(w);
        assert!(!r.active());
        assert!(matches!(r.take(w), Taken::Gone));
    }

    #[test]
    fn unregister_wakes_waiter_from_another_thread() {
        let r = std::sync::Arc::new(WatchRegistry::default());
        let w = r.register(1, 1, filter::FILE_NAME);
        let Taken::Wait(rx) = r.take(w) else { panic!() };
        let r2 = r.clone();
        std::thread::spawn(move || r2.unregister(w)).join().unwrap();
        assert!(
            futures_lite::future::block_on(rx).is_err(),
            "sender dropped"
        );
    }
}
