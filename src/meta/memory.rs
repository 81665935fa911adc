//! The in-memory metadata store: everything in one `RwLock`ed struct.
//!
//! Used by tests, by `--cores 1` development setups and as the reference
//! implementation of the [`MetadataStore`] contract that LMDB and PostgreSQL
//! stores must match (they all pass `meta::conformance`). Each call takes the lock
//! once, does all its work and releases it before returning a ready future, so the
//! lock is never held across an `await` and every mutation is atomic.
//!
//! Directories keep two indexes: name → (inode, cookie) for lookups and
//! cookie → name for READDIR, so a listing continues from any cookie in
//! O(log n) even while entries come and go between pages.
//!
//! Contents are lost at exit. Inode ids restart at 1 with a new store, so every
//! store instance stamps its inodes with a fresh generation: handles held by
//! clients across a restart then answer "stale" instead of naming new files.

use std::collections::{BTreeMap, HashMap};
use std::future::ready;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

use super::{
    AttrChange, Created, DirChange, DirListing, DirRecord, Linked, MetaError, MetaFuture,
    MetaResult, MetadataStore, NewInode, OnExists, RemoveKind, Removed, RenameArgs, Renamed,
    StoreStat, Unlinked, DIR_SIZE, FIRST_COOKIE,
};
use crate::fs::{Attr, DeviceId, FileType, InodeId, PreOpAttr, Timespec, LINK_MAX};

const S_ISUID: u32 = 0o4000;
const S_ISGID: u32 = 0o2000;
const S_IXGRP: u32 = 0o0010;

/// Default capacity reported by FSSTAT: 1 TiB.
pub const DEFAULT_TOTAL_BYTES: u64 = 1 << 40;
/// Default inode limit.
pub const DEFAULT_TOTAL_FILES: u64 = 1 << 32;

/// Entries of one directory.
#[derive(Debug, Default)]
struct DirData {
    by_name: BTreeMap<Vec<u8>, (InodeId, u64)>,
    by_cookie: BTreeMap<u64, Vec<u8>>,
    next_cookie: u64,
    verifier: u64,
}

impl DirData {
    fn insert(&mut self, name: &[u8], ino: InodeId) {
        let cookie = self.next_cookie;
        self.next_cookie += 1;
        self.by_name.insert(name.to_vec(), (ino, cookie));
        self.by_cookie.insert(cookie, name.to_vec());
    }

    fn remove(&mut self, name: &[u8]) -> Option<InodeId> {
        let (ino, cookie) = self.by_name.remove(name)?;
        self.by_cookie.remove(&cookie);
        Some(ino)
    }
}

#[derive(Debug)]
struct Node {
    attr: Attr,
    /// Parent directory (directories only).
    parent: InodeId,
    target: Vec<u8>,
    verifier: Option<[u8; 8]>,
    dir: Option<DirData>,
}

#[derive(Debug, Default)]
struct State {
    nodes: HashMap<InodeId, Node>,
    shares: HashMap<String, InodeId>,
    next_ino: InodeId,
    used_bytes: u64,
}

/// In-memory [`MetadataStore`].
#[derive(Debug)]
pub struct MemoryStore {
    state: RwLock<State>,
    generation: u64,
    total_bytes: u64,
    total_files: u64,
}

impl Default for MemoryStore {
    fn default() -> Self {
        MemoryStore::new()
    }
}

fn fresh_generation() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let now = Timespec::now();
    let mixed = (now.sec as u64)
        .wrapping_mul(1_000_000_007)
        .wrapping_add(u64::from(now.nsec))
        .wrapping_add(
            COUNTER
                .fetch_add(1, Ordering::Relaxed)
                .wrapping_mul(0x9E37_79B9),
        );
    mixed.max(1)
}

fn pre(a: &Attr) -> PreOpAttr {
    PreOpAttr::from(a)
}

fn check_entry_name(name: &[u8]) -> MetaResult<()> {
    if name.is_empty() || name == b"." || name == b".." || name.contains(&b'/') || name.contains(&0)
    {
        return Err(MetaError::InvalidArgument);
    }
    Ok(())
}

impl MemoryStore {
    /// An empty store with the default capacity figures.
    pub fn new() -> MemoryStore {
        MemoryStore::with_capacity(DEFAULT_TOTAL_BYTES, DEFAULT_TOTAL_FILES)
    }

    /// An empty store that reports `total_bytes` and admits `total_files` inodes.
    pub fn with_capacity(total_bytes: u64, total_files: u64) -> MemoryStore {
        MemoryStore {
            state: RwLock::new(State {
                next_ino: 1,
                ..State::default()
            }),
            generation: fresh_generation(),
            total_bytes,
            total_files,
        }
    }

    fn read(&self) -> RwLockReadGuard<'_, State> {
        self.state.read().unwrap()
    }

    fn write(&self) -> RwLockWriteGuard<'_, State> {
        self.state.write().unwrap()
    }

    fn new_node(&self, st: &mut State, new: &NewInode, parent: InodeId, now: Timespec) -> Node {
        let ino = st.next_ino;
        st.next_ino += 1;
        let is_dir = new.ftype == FileType::Directory;
        let size = match new.ftype {
            FileType::Directory => DIR_SIZE,
            FileType::Symlink => new.target.len() as u64,
            _ => 0,
        };
        let rdev = match new.ftype {
            FileType::CharDevice | FileType::BlockDevice => new.rdev,
            _ => DeviceId::default(),
        };
        Node {
            attr: Attr {
                ino,
                ftype: new.ftype,
                mode: new.mode & 0o7777,
                nlink: if is_dir { 2 } else { 1 },
                uid: new.uid,
                gid: new.gid,
                size,
                used: size,
                rdev,
                atime: now,
                mtime: now,
                ctime: now,
                btime: now,
                generation: self.generation,
            },
            parent: if is_dir { parent } else { 0 },
            target: if new.ftype == FileType::Symlink {
                new.target.clone()
            } else {
                Vec::new()
            },
            verifier: new.verifier,
            dir: is_dir.then(|| DirData {
                next_cookie: FIRST_COOKIE,
                verifier: self.generation ^ ino.wrapping_mul(0x9E37_79B9_7F4A_7C15),
                ..DirData::default()
            }),
        }
    }
}

impl State {
    fn node(&self, ino: InodeId) -> MetaResult<&Node> {
        self.nodes.get(&ino).ok_or(MetaError::NoInode(ino))
    }

    fn node_mut(&mut self, ino: InodeId) -> MetaResult<&mut Node> {
        self.nodes.get_mut(&ino).ok_or(MetaError::NoInode(ino))
    }

    fn dir(&self, ino: InodeId) -> MetaResult<&DirData> {
        self.node(ino)?.dir.as_ref().ok_or(MetaError::NotDirectory)
    }

    fn dir_mut(&mut self, ino: InodeId) -> MetaResult<&mut DirData> {
        self.node_mut(ino)?
            .dir
            .as_mut()
            .ok_or(MetaError::NotDirectory)
    }

    fn attr(&self, ino: InodeId) -> MetaResult<Attr> {
        Ok(self.node(ino)?.attr.clone())
    }

    /// Sets mtime and ctime of `ino` to `now` and adds `nlink_delta` links.
    fn touch_dir(&mut self, ino: InodeId, now: Timespec, nlink_delta: i64) -> MetaResult<()> {
        let node = self.node_mut(ino)?;
        node.attr.mtime = now;
        node.attr.ctime = now;
        let nlink = i64::from(node.attr.nlink) + nlink_delta;
        node.attr.nlink = u32::try_from(nlink.max(0)).unwrap_or(u32::MAX);
        Ok(())
    }

    /// Takes one link from `ino` (all of them for a directory); removes the inode
    /// when none is left.
    fn unlink_inode(&mut self, ino: InodeId, now: Timespec) -> MetaResult<Unlinked> {
        let node = self.node_mut(ino)?;
        node.attr.ctime = now;
        if node.dir.is_some() {
            node.attr.nlink = 0;
        } else {
            node.attr.nlink = node.attr.nlink.saturating_sub(1);
        }
        let attr = node.attr.clone();
        let last_link = attr.nlink == 0;
        if last_link {
            self.nodes.remove(&ino);
            if attr.ftype == FileType::Regular {
                self.used_bytes = self.used_bytes.saturating_sub(attr.size);
            }
        }
        Ok(Unlinked { attr, last_link })
    }

    /// Whether `ino` is `ancestor` or lies below it.
    fn is_within(&self, mut ino: InodeId, ancestor: InodeId) -> MetaResult<bool> {
        for _ in 0..=self.nodes.len() {
            if ino == ancestor {
                return Ok(true);
            }
            let parent = self.node(ino)?.parent;
            if parent == ino || parent == 0 {
                return Ok(false);
            }
            ino = parent;
        }
        Err(MetaError::Backend("directory cycle".into()))
    }

    fn create(
        &mut self,
        store: &MemoryStore,
        dir: InodeId,
        name: &[u8],
        new: &NewInode,
        now: Timespec,
    ) -> MetaResult<Created> {
        check_entry_name(name)?;
        let dir_node = self.node(dir)?;
        let data = dir_node.dir.as_ref().ok_or(MetaError::NotDirectory)?;
        let before = pre(&dir_node.attr);
        if let Some(&(ino, _)) = data.by_name.get(name) {
            let existing = self.node(ino)?;
            let allowed = match new.on_exists {
                OnExists::Fail => false,
                OnExists::ReturnRegular => existing.attr.ftype == FileType::Regular,
                OnExists::ReturnIfVerifier(v) => existing.verifier == Some(v),
            };
            if !allowed {
                return Err(MetaError::Exists);
            }
            return Ok(Created {
                attr: existing.attr.clone(),
                existed: true,
                dir: DirChange {
                    before,
                    after: dir_node.attr.clone(),
                },
            });
        }
        let is_dir = new.ftype == FileType::Directory;
        if is_dir && dir_node.attr.nlink >= LINK_MAX {
            return Err(MetaError::TooManyLinks);
        }
        if self.nodes.len() as u64 >= store.total_files {
            return Err(MetaError::NoSpace);
        }
        let node = store.new_node(self, new, dir, now);
        let attr = node.attr.clone();
        self.nodes.insert(attr.ino, node);
        self.dir_mut(dir)?.insert(name, attr.ino);
        self.touch_dir(dir, now, i64::from(is_dir))?;
        Ok(Created {
            attr,
            existed: false,
            dir: DirChange {
                before,
                after: self.attr(dir)?,
            },
        })
    }

    fn remove(
        &mut self,
        dir: InodeId,
        name: &[u8],
        kind: RemoveKind,
        expect: Option<InodeId>,
        now: Timespec,
    ) -> MetaResult<Removed> {
        check_entry_name(name)?;
        let dir_node = self.node(dir)?;
        let data = dir_node.dir.as_ref().ok_or(MetaError::NotDirectory)?;
        let before = pre(&dir_node.attr);
        let &(ino, _) = data.by_name.get(name).ok_or(MetaError::NoEntry)?;
        if expect.is_some_and(|e| e != ino) {
            return Err(MetaError::Conflict);
        }
        let victim = self.node(ino)?;
        let victim_is_dir = victim.dir.is_some();
        match kind {
            RemoveKind::NonDirectory if victim_is_dir => return Err(MetaError::IsDirectory),
            RemoveKind::Directory => match &victim.dir {
                None => return Err(MetaError::NotDirectory),
                Some(d) if !d.by_name.is_empty() => return Err(MetaError::NotEmpty),
                Some(_) => {}
            },
            RemoveKind::NonDirectory => {}
        }
        self.dir_mut(dir)?.remove(name);
        self.touch_dir(dir, now, -i64::from(victim_is_dir))?;
        let victim = self.unlink_inode(ino, now)?;
        Ok(Removed {
            dir: DirChange {
                before,
                after: self.attr(dir)?,
            },
            victim,
        })
    }

    fn rename(&mut self, a: &RenameArgs<'_>, now: Timespec) -> MetaResult<Renamed> {
        check_entry_name(a.from_name)?;
        check_entry_name(a.to_name)?;
        let from_before = pre(&self.node(a.from_dir)?.attr);
        let to_before = pre(&self.node(a.to_dir)?.attr);
        let &(src, _) = self
            .dir(a.from_dir)?
            .by_name
            .get(a.from_name)
            .ok_or(MetaError::NoEntry)?;
        let dst = self.dir(a.to_dir)?.by_name.get(a.to_name).map(|e| e.0);
        if a.expect_src.is_some_and(|e| e != src) || a.expect_dst.is_some_and(|e| e != dst) {
            return Err(MetaError::Conflict);
        }
        if dst == Some(src) {
            // Two links to the same inode: POSIX says do nothing and succeed.
            return Ok(Renamed {
                from_dir: DirChange {
                    before: from_before,
                    after: self.attr(a.from_dir)?,
                },
                to_dir: DirChange {
                    before: to_before,
                    after: self.attr(a.to_dir)?,
                },
                moved: self.attr(src)?,
                replaced: None,
            });
        }
        let src_is_dir = self.node(src)?.dir.is_some();
        if src_is_dir && self.is_within(a.to_dir, src)? {
            return Err(MetaError::InvalidArgument);
        }
        let mut dst_is_dir = false;
        if let Some(dst) = dst {
            let node = self.node(dst)?;
            dst_is_dir = node.dir.is_some();
            match (src_is_dir, &node.dir) {
                (true, None) => return Err(MetaError::NotDirectory),
                (false, Some(_)) => return Err(MetaError::IsDirectory),
                (true, Some(d)) if !d.by_name.is_empty() => return Err(MetaError::NotEmpty),
                _ => {}
            }
        }
        if src_is_dir
            && a.from_dir != a.to_dir
            && !dst_is_dir
            && self.node(a.to_dir)?.attr.nlink >= LINK_MAX
        {
            return Err(MetaError::TooManyLinks);
        }
        // All checks passed: apply.
        self.dir_mut(a.from_dir)?.remove(a.from_name);
        if dst.is_some() {
            self.dir_mut(a.to_dir)?.remove(a.to_name);
        }
        self.dir_mut(a.to_dir)?.insert(a.to_name, src);
        let src_links = i64::from(src_is_dir);
        self.touch_dir(a.from_dir, now, -src_links)?;
        self.touch_dir(a.to_dir, now, src_links - i64::from(dst_is_dir))?;
        let moved = self.node_mut(src)?;
        moved.attr.ctime = now;
        if src_is_dir {
            moved.parent = a.to_dir;
        }
        let moved = moved.attr.clone();
        let replaced = match dst {
            Some(dst) => Some(self.unlink_inode(dst, now)?),
            None => None,
        };
        Ok(Renamed {
            from_dir: DirChange {
                before: from_before,
                after: self.attr(a.from_dir)?,
            },
            to_dir: DirChange {
                before: to_before,
                after: self.attr(a.to_dir)?,
            },
            moved,
            replaced,
        })
    }

    fn link(
        &mut self,
        ino: InodeId,
        dir: InodeId,
        name: &[u8],
        now: Timespec,
    ) -> MetaResult<Linked> {
        check_entry_name(name)?;
        let node = self.node(ino)?;
        if node.dir.is_some() {
            return Err(MetaError::IsDirectory);
        }
        let nlink = node.attr.nlink;
        let dir_node = self.node(dir)?;
        let data = dir_node.dir.as_ref().ok_or(MetaError::NotDirectory)?;
        if data.by_name.contains_key(name) {
            return Err(MetaError::Exists);
        }
        if nlink >= LINK_MAX {
            return Err(MetaError::TooManyLinks);
        }
        let before = pre(&dir_node.attr);
        self.dir_mut(dir)?.insert(name, ino);
        self.touch_dir(dir, now, 0)?;
        let node = self.node_mut(ino)?;
        node.attr.nlink += 1;
        node.attr.ctime = now;
        let attr = node.attr.clone();
        Ok(Linked {
            attr,
            dir: DirChange {
                before,
                after: self.attr(dir)?,
            },
        })
    }

    fn set_attr(
        &mut self,
        ino: InodeId,
        c: &AttrChange,
        now: Timespec,
    ) -> MetaResult<(PreOpAttr, Attr)> {
        let node = self.node(ino)?;
        let before = pre(&node.attr);
        if c.guard_ctime.is_some_and(|g| g != node.attr.ctime) {
            return Err(MetaError::NotSync);
        }
        if c.size.is_some() || c.grow_to.is_some() {
            match node.attr.ftype {
                FileType::Regular => {}
                FileType::Directory => return Err(MetaError::IsDirectory),
                _ => return Err(MetaError::InvalidArgument),
            }
        }
        let old_size = node.attr.size;
        let mut a = node.attr.clone();
        if let Some(mode) = c.mode {
            a.mode = mode & 0o7777;
        }
        if let Some(uid) = c.uid {
            a.uid = uid;
        }
        if let Some(gid) = c.gid {
            a.gid = gid;
        }
        if let Some(size) = c.size {
            a.size = size;
        }
        if let Some(end) = c.grow_to {
            a.size = a.size.max(end);
        }
        if a.ftype == FileType::Regular {
            a.used = a.size;
        }
        if let Some(t) = c.atime {
            a.atime = t;
        }
        if let Some(t) = c.mtime {
            a.mtime = t;
        }
        if c.kill_suid_sgid {
            a.mode &= !S_ISUID;
            if a.mode & S_IXGRP != 0 {
                a.mode &= !S_ISGID;
            }
        }
        if c.changes_something() {
            a.ctime = now;
        }
        if a.ftype == FileType::Regular {
            self.used_bytes = self
                .used_bytes
                .saturating_sub(old_size)
                .saturating_add(a.size);
        }
        self.node_mut(ino)?.attr = a.clone();
        Ok((before, a))
    }

    fn readdir(
        &self,
        dir: InodeId,
        after: u64,
        max: usize,
        with_attrs: bool,
    ) -> MetaResult<DirListing> {
        let node = self.node(dir)?;
        let data = node.dir.as_ref().ok_or(MetaError::NotDirectory)?;
        let start = after.max(FIRST_COOKIE - 1).saturating_add(1);
        let mut iter = data.by_cookie.range(start..);
        let mut entries = Vec::with_capacity(max.min(data.by_cookie.len()));
        for (&cookie, name) in iter.by_ref().take(max) {
            let &(ino, _) = data
                .by_name
                .get(name)
                .ok_or_else(|| MetaError::Backend("directory index out of sync".into()))?;
            let attr = if with_attrs {
                Some(self.attr(ino)?)
            } else {
                None
            };
            entries.push(DirRecord {
                name: name.clone(),
                ino,
                cookie,
                attr,
            });
        }
        let eof = iter.next().is_none();
        Ok(DirListing {
            dir: node.attr.clone(),
            parent: node.parent,
            entries,
            eof,
            verifier: data.verifier,
        })
    }
}

impl MetadataStore for MemoryStore {
    fn share_root<'a>(&'a self, name: &'a str, root_mode: u32) -> MetaFuture<'a, InodeId> {
        let mut st = self.write();
        if let Some(&ino) = st.shares.get(name) {
            return Box::pin(ready(Ok(ino)));
        }
        let new = NewInode {
            ftype: FileType::Directory,
            mode: root_mode,
            uid: 0,
            gid: 0,
            rdev: DeviceId::default(),
            target: Vec::new(),
            verifier: None,
            on_exists: OnExists::Fail,
        };
        let ino = st.next_ino;
        let node = self.new_node(&mut st, &new, ino, Timespec::now());
        st.nodes.insert(ino, node);
        st.shares.insert(name.to_owned(), ino);
        Box::pin(ready(Ok(ino)))
    }

    fn get(&self, ino: InodeId) -> MetaFuture<'_, Attr> {
        Box::pin(ready(self.read().attr(ino)))
    }

    fn lookup<'a>(&'a self, dir: InodeId, name: &'a [u8]) -> MetaFuture<'a, Attr> {
        let st = self.read();
        let result = (|| {
            let node = st.node(dir)?;
            let data = node.dir.as_ref().ok_or(MetaError::NotDirectory)?;
            match name {
                b"." => Ok(node.attr.clone()),
                b".." => st.attr(node.parent),
                _ => {
                    let &(ino, _) = data.by_name.get(name).ok_or(MetaError::NoEntry)?;
                    st.attr(ino)
                }
            }
        })();
        Box::pin(ready(result))
    }

    fn readlink(&self, ino: InodeId) -> MetaFuture<'_, Vec<u8>> {
        let st = self.read();
        let result = st.node(ino).and_then(|n| {
            if n.attr.ftype == FileType::Symlink {
                Ok(n.target.clone())
            } else {
                Err(MetaError::InvalidArgument)
            }
        });
        Box::pin(ready(result))
    }

    fn create<'a>(
        &'a self,
        dir: InodeId,
        name: &'a [u8],
        new: &'a NewInode,
        now: Timespec,
    ) -> MetaFuture<'a, Created> {
        let result = self.write().create(self, dir, name, new, now);
        Box::pin(ready(result))
    }

    fn remove<'a>(
        &'a self,
        dir: InodeId,
        name: &'a [u8],
        kind: RemoveKind,
        expect: Option<InodeId>,
        now: Timespec,
    ) -> MetaFuture<'a, Removed> {
        let result = self.write().remove(dir, name, kind, expect, now);
        Box::pin(ready(result))
    }

    fn rename<'a>(&'a self, args: RenameArgs<'a>, now: Timespec) -> MetaFuture<'a, Renamed> {
        let result = self.write().rename(&args, now);
        Box::pin(ready(result))
    }

    fn link<'a>(
        &'a self,
        ino: InodeId,
        dir: InodeId,
        name: &'a [u8],
        now: Timespec,
    ) -> MetaFuture<'a, Linked> {
        let result = self.write().link(ino, dir, name, now);
        Box::pin(ready(result))
    }

    fn set_attr<'a>(
        &'a self,
        ino: InodeId,
        change: &'a AttrChange,
        now: Timespec,
    ) -> MetaFuture<'a, (PreOpAttr, Attr)> {
        let result = self.write().set_attr(ino, change, now);
        Box::pin(ready(result))
    }

    fn readdir(
        &self,
        dir: InodeId,
        after: u64,
        max: usize,
        with_attrs: bool,
    ) -> MetaFuture<'_, DirListing> {
        let result = self.read().readdir(dir, after, max, with_attrs);
        Box::pin(ready(result))
    }

    fn create_verifier(&self, ino: InodeId) -> MetaFuture<'_, Option<[u8; 8]>> {
        let result = self.read().node(ino).map(|n| n.verifier);
        Box::pin(ready(result))
    }

    fn stat(&self) -> MetaFuture<'_, StoreStat> {
        let st = self.read();
        let stat = StoreStat {
            total_bytes: self.total_bytes,
            used_bytes: st.used_bytes.min(self.total_bytes),
            total_files: self.total_files,
            used_files: st.nodes.len() as u64,
        };
        Box::pin(ready(Ok(stat)))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::meta::conformance;

    #[test]
    fn conformance_suite() {
        futures_lite::future::block_on(conformance::run_all(|| {
            Arc::new(MemoryStore::new()) as Arc<dyn MetadataStore>
        }));
    }
}
