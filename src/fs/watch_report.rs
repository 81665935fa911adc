//! How the core reports changes to the watch registry (`watch.rs`).
//!
//! Every entry point starts with the registry's one relaxed load and returns
//! when nothing is watched, so an unwatched server pays nothing on the data
//! path. When something is watched:
//! - a namespace change of entry `name` of `dir` goes to the watches of `dir`;
//! - a modification of an inode (WRITE, truncate, SETATTR, DOS attributes) is
//!   turned into "entry `name` of `parent` modified" through the registry's
//!   inode → location map, which lookups, creations and renames feed here;
//! - when the share has a recursive watch, the change is also offered to each
//!   ancestor directory with the path below it. The walk goes up through the
//!   store (`..` of a directory), the name of each directory coming from the
//!   location map or, failing that, from a bounded scan of its parent
//!   ([`SCAN_ENTRIES_MAX`]); it stops at the share root or after
//!   [`ANCESTORS_MAX`] levels. A directory whose name cannot be found ends the
//!   walk: watches further up miss that change.

use super::watch::{self, action, filter, Event, Merge};
use super::{FileType, Fs, InodeId};

/// Most directory levels walked up for recursive watches.
pub const ANCESTORS_MAX: usize = 64;
/// Most entries of a parent scanned to find a directory's name.
pub const SCAN_ENTRIES_MAX: usize = 8192;
/// Entries per readdir page of that scan.
const SCAN_PAGE: usize = 512;

/// The filter bit a name change of an entry of type `ftype` falls under.
pub(crate) fn name_kind(ftype: FileType) -> u32 {
    if ftype == FileType::Directory {
        filter::DIR_NAME
    } else {
        filter::FILE_NAME
    }
}

impl Fs {
    /// Entry `name` of `dir` changed (`action`, filter bits `kind`).
    pub(crate) async fn report(&self, dir: InodeId, name: &[u8], action: u32, kind: u32) {
        self.report_merged(dir, name, action, kind, Merge::Normal)
            .await;
    }

    /// [`Fs::report`] with an explicit merge rule.
    pub(crate) async fn report_merged(
        &self,
        dir: InodeId,
        name: &[u8],
        action: u32,
        kind: u32,
        merge: Merge,
    ) {
        if action != watch::action::MODIFIED {
            self.break_dir_leases(dir);
        }
        let reg = watch::global();
        if !reg.active() {
            return;
        }
        let share = self.share.id;
        reg.deliver(
            share,
            dir,
            &Event {
                rel: name,
                action,
                kind,
                merge,
            },
            true,
        );
        if !reg.has_recursive(share) {
            return;
        }
        let mut rel = name.to_vec();
        let mut cur = dir;
        for _ in 0..ANCESTORS_MAX {
            if cur == self.root {
                break;
            }
            let Some((parent, cur_name)) = self.dir_location(cur).await else {
                break;
            };
            let mut up = cur_name;
            up.push(b'/');
            up.extend_from_slice(&rel);
            rel = up;
            let ev = Event {
                rel: &rel,
                action,
                kind,
                merge,
            };
            reg.deliver(share, parent, &ev, false);
            cur = parent;
        }
    }

    /// Inode `ino` was modified (filter bits `kind`): reported as a MODIFIED
    /// of its entry when its location is known.
    pub(crate) async fn report_modified(&self, ino: InodeId, kind: u32) {
        let reg = watch::global();
        if !reg.active() || kind == 0 {
            return;
        }
        if let Some((parent, name)) = reg.location(self.share.id, ino) {
            self.report(parent, &name, action::MODIFIED, kind).await;
        }
    }

    /// Remembers where `ino` is (while something is watched).
    pub(crate) fn note_location(&self, ino: InodeId, parent: InodeId, name: &[u8]) {
        watch::global().learn(self.share.id, ino, parent, name);
    }

    /// Tells the watch registry that `ino` is entry `name` of `parent`; the
    /// SMB front end calls this before modifying through an open, which
    /// knows its parent even when it was opened before any watch existed.
    pub fn hint_location(&self, ino: InodeId, parent: InodeId, name: &[u8]) {
        self.note_location(ino, parent, name);
    }

    /// Forgets where `ino` was (it lost a link); a removed directory also
    /// completes the watches on it.
    pub(crate) fn note_gone(&self, ino: InodeId, ftype: FileType) {
        let reg = watch::global();
        if !reg.active() {
            return;
        }
        reg.forget(self.share.id, ino);
        if ftype == FileType::Directory {
            reg.dir_removed(self.share.id, ino);
        }
    }

    /// Parent and name of directory `dir`: from the location map, else its
    /// `..` and a bounded scan of that parent.
    async fn dir_location(&self, dir: InodeId) -> Option<(InodeId, Vec<u8>)> {
        let reg = watch::global();
        if let Some(loc) = reg.location(self.share.id, dir) {
            return Some(loc);
        }
        let parent = self.meta.lookup(dir, b"..").await.ok()?.ino;
        if parent == dir {
            return None;
        }
        let mut after = 0;
        let mut scanned = 0;
        while scanned < SCAN_ENTRIES_MAX {
            let page = self
                .meta
                .readdir(parent, after, SCAN_PAGE, false)
                .await
                .ok()?;
            if page.entries.is_empty() && !page.eof {
                return None;
            }
            scanned += page.entries.len();
            for e in page.entries {
                after = e.cookie;
                if e.ino == dir {
                    reg.learn(self.share.id, dir, parent, &e.name);
                    return Some((parent, e.name));
                }
            }
            if page.eof {
                return None;
            }
        }
        None
    }
}
