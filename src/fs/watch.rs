//! Directory watches (SMB CHANGE_NOTIFY), fed by the fs core whichever
//! protocol made the change.
//!
//! Why here and global: a change made over NFS, or over SMB on another core,
//! must reach an SMB watcher on this core. The core reports every namespace
//! change (create/remove/rename/link) and every modification of an entry
//! (WRITE, truncate, SETATTR, DOS attributes) after it succeeded; with no
//! watch registered anywhere that is one relaxed atomic load
//! ([`WatchRegistry::active`]) and nothing else, so the data path pays nothing.
//!
//! Delivery follows Samba/Windows: a change goes at once to the oldest
//! request waiting on the watch (several may wait, each gets its own change;
//! a rename's old and new name go out together);
//! with none waiting it is buffered until the next request, which then returns
//! at once with everything buffered. Buffered modifications coalesce: a
//! MODIFIED of an entry whose last buffered change already is a MODIFIED is
//! dropped, so a burst of WRITEs the watcher has not collected yields one
//! record. The buffer is bounded by [`BUFFERED_MAX`]; past it the watch only
//! remembers that it overflowed (SMB: STATUS_NOTIFY_ENUM_DIR). Removing the
//! watched directory completes the waiters with [`Outcome::DeletePending`].
//!
//! Modifications arrive as an inode number, while watchers want "entry `name`
//! of directory `dir`". While any watch exists the registry keeps a bounded
//! map inode → (parent, name) ([`NAMES_MAX`]), fed by the core's lookups,
//! creations and renames and by the SMB front end (an open knows its parent);
//! it is dropped when the last watch goes, so it never goes stale across an
//! unwatched period. A modification of an inode the map does not know is not
//! reported (NFS clients that reuse a file handle from before the watch
//! existed, without a LOOKUP since).
//!
//! Recursive watches (SMB2_WATCH_TREE) get the path relative to the watched
//! directory (`a/b/c`, `/`-separated here): the core walks from the changed
//! entry's directory up to the share root (see `watch_report.rs`), but only
//! when a recursive watch exists on that share.
//!
//! One `std::sync::Mutex` guards the table: watches are few and every critical
//! section is a map lookup and a push, with no await under it.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock};

use futures_channel::oneshot;

use super::InodeId;

/// Changes kept per watch between two requests.
pub const BUFFERED_MAX: usize = 256;
/// Entries of the inode → (parent, name) map kept while watches exist.
pub const NAMES_MAX: usize = 16_384;

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
    pub const LAST_ACCESS: u32 = 0x020;
    pub const CREATION: u32 = 0x040;
    pub const EA: u32 = 0x080;
    pub const SECURITY: u32 = 0x100;
}

/// One change seen by a watch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub action: u32,
    /// Entry name (bytes as stored); for a recursive watch the path below the
    /// watched directory, components separated by `/`.
    pub name: Vec<u8>,
}

/// What a request on a watch gets.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    Changes(Vec<Change>),
    /// Changes were lost: the client must re-read the directory.
    Overflow,
    /// The watched directory was removed.
    DeletePending,
}

/// What [`WatchRegistry::take`] found.
#[derive(Debug)]
pub enum Taken {
    Ready(Outcome),
    /// Nothing yet; the receiver gets the outcome, or is dropped when the
    /// watch is unregistered.
    Wait(oneshot::Receiver<Outcome>),
    /// No such watch.
    Gone,
}

/// One change as the core reports it.
#[derive(Debug, Clone, Copy)]
pub struct Event<'a> {
    /// Entry name, or path below the directory it is delivered to.
    pub rel: &'a [u8],
    pub action: u32,
    /// The filter bit(s) the change falls under.
    pub kind: u32,
    pub merge: Merge,
}

/// How a reported change is merged into a buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Merge {
    /// A change of its own (MODIFIED still coalesces with a buffered MODIFIED).
    Normal,
    /// Implied by the change just before it (the MODIFIED Windows adds after
    /// renaming a file): dropped when the last buffered change names the same
    /// entry.
    Implied,
}

struct Watch {
    dir: (u32, InodeId),
    filter: u32,
    recursive: bool,
    /// Reply size bound fixed by the first request (Samba: "if the first
    /// notify returns NOTIFY_ENUM_DIR, all do").
    reply_bytes_max: u32,
    buffer: Vec<Change>,
    overflow: bool,
    deleted: bool,
    waiters: VecDeque<oneshot::Sender<Outcome>>,
}

impl Watch {
    fn push(&mut self, change: Change, merge: Merge) {
        // A waiting request completes at once, except on the old name of a
        // rename: that one waits (buffered) so the pair goes out together.
        if !self.waiters.is_empty() && change.action != action::RENAMED_OLD_NAME {
            let mut batch = std::mem::take(&mut self.buffer);
            batch.push(change);
            while let Some(tx) = self.waiters.pop_front() {
                match tx.send(Outcome::Changes(batch)) {
                    Ok(()) => return,
                    // That request was cancelled meanwhile: try the next one.
                    Err(Outcome::Changes(b)) => batch = b,
                    Err(_) => return,
                }
            }
            self.buffer = batch;
            return;
        }
        if self.overflow {
            return;
        }
        let last_same = self.buffer.iter().rev().find(|c| c.name == change.name);
        match merge {
            Merge::Implied if self.buffer.last().is_some_and(|c| c.name == change.name) => return,
            _ if change.action == action::MODIFIED
                && last_same.is_some_and(|c| c.action == action::MODIFIED) =>
            {
                return
            }
            _ => {}
        }
        if self.buffer.len() >= BUFFERED_MAX {
            self.overflow = true;
            self.buffer = Vec::new();
        } else {
            self.buffer.push(change);
        }
    }
}

#[derive(Default)]
struct Inner {
    watches: HashMap<WatchId, Watch>,
    by_dir: HashMap<(u32, InodeId), Vec<WatchId>>,
    /// Recursive watches per share.
    recursive: HashMap<u32, usize>,
    /// (share, inode) → (parent, name), kept while watches exist.
    names: HashMap<(u32, InodeId), (InodeId, Vec<u8>)>,
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

    /// Watches directory `dir` of share `share` for changes matching `filter`
    /// (its subtree too when `recursive`); replies hold at most
    /// `reply_bytes_max` bytes of records.
    pub fn register(
        &self,
        share: u32,
        dir: InodeId,
        filter: u32,
        recursive: bool,
        reply_bytes_max: u32,
    ) -> WatchId {
        let mut g = self.lock();
        g.next_id += 1;
        let id = g.next_id;
        g.watches.insert(
            id,
            Watch {
                dir: (share, dir),
                filter,
                recursive,
                reply_bytes_max,
                buffer: Vec::new(),
                overflow: false,
                deleted: false,
                waiters: VecDeque::new(),
            },
        );
        g.by_dir.entry((share, dir)).or_default().push(id);
        if recursive {
            *g.recursive.entry(share).or_default() += 1;
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        id
    }

    /// The reply size bound the watch's first request fixed.
    pub fn reply_bytes_max(&self, id: WatchId) -> Option<u32> {
        self.lock().watches.get(&id).map(|w| w.reply_bytes_max)
    }

    /// Removes a watch; its waiting requests' receivers are dropped.
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
        if w.recursive {
            if let Some(n) = g.recursive.get_mut(&w.dir.0) {
                *n -= 1;
                if *n == 0 {
                    g.recursive.remove(&w.dir.0);
                }
            }
        }
        if g.watches.is_empty() {
            g.names = HashMap::new();
        }
        self.count.fetch_sub(1, Ordering::Relaxed);
    }

    /// Takes what is ready for a request, or queues it as a waiter.
    pub fn take(&self, id: WatchId) -> Taken {
        let mut g = self.lock();
        let Some(w) = g.watches.get_mut(&id) else {
            return Taken::Gone;
        };
        if w.deleted {
            return Taken::Ready(Outcome::DeletePending);
        }
        if w.overflow {
            w.overflow = false;
            w.buffer.clear();
            return Taken::Ready(Outcome::Overflow);
        }
        if !w.buffer.is_empty() {
            return Taken::Ready(Outcome::Changes(std::mem::take(&mut w.buffer)));
        }
        let (tx, rx) = oneshot::channel();
        w.waiters.push_back(tx);
        Taken::Wait(rx)
    }

    /// Whether a recursive watch exists on `share` (then the core walks up
    /// from a changed entry to find the watched ancestors).
    pub fn has_recursive(&self, share: u32) -> bool {
        self.active() && self.lock().recursive.contains_key(&share)
    }

    /// Records change `ev` seen from directory `dir`: `direct` when `dir` is
    /// the entry's own directory (every watch of `dir` sees it), otherwise
    /// only recursive watches of `dir` do.
    pub fn deliver(&self, share: u32, dir: InodeId, ev: &Event<'_>, direct: bool) {
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
            if w.filter & ev.kind == 0 || !(direct || w.recursive) || w.deleted {
                continue;
            }
            w.push(
                Change {
                    action: ev.action,
                    name: ev.rel.to_vec(),
                },
                ev.merge,
            );
        }
    }

    /// The watched directory `dir` was removed: its waiting requests, and
    /// every later one, complete with [`Outcome::DeletePending`].
    pub fn dir_removed(&self, share: u32, dir: InodeId) {
        if !self.active() {
            return;
        }
        let mut g = self.lock();
        let Inner {
            watches, by_dir, ..
        } = &mut *g;
        for id in by_dir.get(&(share, dir)).into_iter().flatten() {
            if let Some(w) = watches.get_mut(id) {
                w.deleted = true;
                w.buffer.clear();
                for tx in w.waiters.drain(..) {
                    let _ = tx.send(Outcome::DeletePending);
                }
            }
        }
    }

    /// Remembers that `ino` is entry `name` of `parent` (only while watched).
    pub fn learn(&self, share: u32, ino: InodeId, parent: InodeId, name: &[u8]) {
        if !self.active() {
            return;
        }
        let mut g = self.lock();
        if g.watches.is_empty() {
            return;
        }
        if g.names
            .get(&(share, ino))
            .is_some_and(|(p, n)| *p == parent && n == name)
        {
            return;
        }
        if g.names.len() >= NAMES_MAX {
            // Crude but bounded: forget everything; lookups refill it.
            g.names.clear();
        }
        g.names.insert((share, ino), (parent, name.to_vec()));
    }

    /// Forgets the location of `ino` (it lost its last link).
    pub fn forget(&self, share: u32, ino: InodeId) {
        if !self.active() {
            return;
        }
        self.lock().names.remove(&(share, ino));
    }

    /// Where `ino` was last seen: (parent, name).
    pub fn location(&self, share: u32, ino: InodeId) -> Option<(InodeId, Vec<u8>)> {
        if !self.active() {
            return None;
        }
        self.lock().names.get(&(share, ino)).cloned()
    }
}

#[cfg(test)]
#[path = "watch_tests.rs"]
mod tests;
