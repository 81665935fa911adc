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

mod identity;
mod state;
mod streams;

use super::{
    AttrChange, BlockRef, Created, DirListing, Linked, MetaError, MetaFuture, MetadataStore,
    NewInode, OnExists, RemoveKind, Removed, RenameArgs, Renamed, StoreStat, FIRST_COOKIE,
};
use crate::fs::{Attr, DeviceId, FileType, InodeId, PreOpAttr, Timespec};

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
    /// Per-file block maps (kept apart from `nodes`: content may outlive its inode
    /// until the owner shard dropped it).
    blocks: HashMap<InodeId, BTreeMap<u64, BlockRef>>,
    next_ino: InodeId,
    used_bytes: u64,
    /// Users and groups by name (see [`identity`]).
    users: BTreeMap<String, crate::meta::UserRecord>,
    groups: BTreeMap<String, crate::meta::GroupRecord>,
    /// DOS attributes of the inodes that have any set (absent = 0).
    dos_attributes: HashMap<InodeId, u32>,
    /// Named streams: (base ino, key) → (name, stream ino) (see `meta::streams`).
    streams: BTreeMap<(InodeId, Vec<u8>), (Vec<u8>, InodeId)>,
    /// The orphan set: inodes a `NonDirectoryKeep` remove left at nlink 0 and
    /// no reap deleted yet (nothing survives a restart here, but the set
    /// follows the same rules as the persistent stores').
    orphans: std::collections::BTreeSet<InodeId>,
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
        Node {
            attr: new.initial_attr(ino, self.generation, now),
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

    fn reap(&self, ino: InodeId) -> MetaFuture<'_, Option<Attr>> {
        let result = Ok(self.write().reap(ino));
        Box::pin(ready(result))
    }

    fn orphans(&self, after: InodeId, max: usize) -> MetaFuture<'_, Vec<InodeId>> {
        use std::ops::Bound;
        let found = self
            .read()
            .orphans
            .range((Bound::Excluded(after), Bound::Unbounded))
            .take(max)
            .copied()
            .collect();
        Box::pin(ready(Ok(found)))
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

    fn put_block(
        &self,
        ino: InodeId,
        index: u64,
        block: BlockRef,
    ) -> MetaFuture<'_, Option<BlockRef>> {
        let previous = self
            .write()
            .blocks
            .entry(ino)
            .or_default()
            .insert(index, block);
        Box::pin(ready(Ok(previous)))
    }

    fn get_block(&self, ino: InodeId, index: u64) -> MetaFuture<'_, Option<BlockRef>> {
        let found = self
            .read()
            .blocks
            .get(&ino)
            .and_then(|m| m.get(&index).cloned());
        Box::pin(ready(Ok(found)))
    }

    fn blocks(&self, ino: InodeId) -> MetaFuture<'_, Vec<(u64, BlockRef)>> {
        let all = self
            .read()
            .blocks
            .get(&ino)
            .map(|m| m.iter().map(|(i, b)| (*i, b.clone())).collect())
            .unwrap_or_default();
        Box::pin(ready(Ok(all)))
    }

    fn drop_blocks(&self, ino: InodeId, from_index: u64) -> MetaFuture<'_, Vec<(u64, BlockRef)>> {
        let mut st = self.write();
        let mut dropped = Vec::new();
        if let Some(map) = st.blocks.get_mut(&ino) {
            dropped = map.split_off(&from_index).into_iter().collect();
            if map.is_empty() {
                st.blocks.remove(&ino);
            }
        }
        Box::pin(ready(Ok(dropped)))
    }

    fn put_user<'a>(&'a self, user: &'a crate::meta::UserRecord) -> MetaFuture<'a, ()> {
        Box::pin(ready(self.write().put_user(user)))
    }

    fn get_user<'a>(&'a self, name: &'a str) -> MetaFuture<'a, Option<crate::meta::UserRecord>> {
        Box::pin(ready(Ok(self.read().users.get(name).cloned())))
    }

    fn get_user_by_uid(&self, uid: u32) -> MetaFuture<'_, Option<crate::meta::UserRecord>> {
        Box::pin(ready(Ok(self.read().user_by_uid(uid).cloned())))
    }

    fn remove_user<'a>(&'a self, name: &'a str) -> MetaFuture<'a, bool> {
        Box::pin(ready(Ok(self.write().users.remove(name).is_some())))
    }

    fn list_users(&self) -> MetaFuture<'_, Vec<crate::meta::UserRecord>> {
        Box::pin(ready(Ok(self.read().users.values().cloned().collect())))
    }

    fn put_group<'a>(&'a self, group: &'a crate::meta::GroupRecord) -> MetaFuture<'a, ()> {
        Box::pin(ready(self.write().put_group(group)))
    }

    fn get_group<'a>(&'a self, name: &'a str) -> MetaFuture<'a, Option<crate::meta::GroupRecord>> {
        Box::pin(ready(Ok(self.read().groups.get(name).cloned())))
    }

    fn get_group_by_gid(&self, gid: u32) -> MetaFuture<'_, Option<crate::meta::GroupRecord>> {
        Box::pin(ready(Ok(self.read().group_by_gid(gid).cloned())))
    }

    fn remove_group<'a>(&'a self, name: &'a str) -> MetaFuture<'a, bool> {
        Box::pin(ready(Ok(self.write().groups.remove(name).is_some())))
    }

    fn list_groups(&self) -> MetaFuture<'_, Vec<crate::meta::GroupRecord>> {
        Box::pin(ready(Ok(self.read().groups.values().cloned().collect())))
    }

    fn set_dos_attributes(&self, ino: InodeId, attributes: u32) -> MetaFuture<'_, ()> {
        Box::pin(ready(self.write().set_dos_attributes(ino, attributes)))
    }

    fn get_dos_attributes(&self, ino: InodeId) -> MetaFuture<'_, u32> {
        Box::pin(ready(self.read().dos_attributes(ino)))
    }

    fn create_stream<'a>(
        &'a self,
        base: InodeId,
        key: &'a [u8],
        name: &'a [u8],
        new: &'a NewInode,
        now: Timespec,
    ) -> MetaFuture<'a, crate::meta::StreamCreated> {
        let r = self.write().create_stream(self, base, key, name, new, now);
        Box::pin(std::future::ready(r))
    }

    fn lookup_stream<'a>(
        &'a self,
        base: InodeId,
        key: &'a [u8],
    ) -> MetaFuture<'a, Option<crate::meta::StreamRecord>> {
        Box::pin(std::future::ready(self.read().lookup_stream(base, key)))
    }

    fn list_streams(&self, base: InodeId) -> MetaFuture<'_, Vec<crate::meta::StreamRecord>> {
        Box::pin(std::future::ready(self.read().list_streams(base)))
    }

    fn remove_stream<'a>(&'a self, base: InodeId, key: &'a [u8]) -> MetaFuture<'a, Option<Attr>> {
        Box::pin(std::future::ready(Ok(self
            .write()
            .remove_stream(base, key))))
    }

    fn rename_stream<'a>(
        &'a self,
        base: InodeId,
        from_key: &'a [u8],
        to_key: &'a [u8],
        to_name: &'a [u8],
        replace: bool,
    ) -> MetaFuture<'a, Option<Attr>> {
        let r = self
            .write()
            .rename_stream(base, from_key, to_key, to_name, replace);
        Box::pin(std::future::ready(r))
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

    #[test]
    fn readdir_100k_entries_while_modified() {
        let started = std::time::Instant::now();
        futures_lite::future::block_on(crate::meta::readdir_100k::check(&MemoryStore::new(), 1));
        eprintln!("memory readdir_100k: {:?}", started.elapsed());
    }
}
