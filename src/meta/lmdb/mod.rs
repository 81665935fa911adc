//! The LMDB metadata store: the embedded, persistent default.
//!
//! Why LMDB: a B+tree in one memory-mapped file with ACID transactions, readers
//! that never block (MVCC) and one fsync per commit; no server to run, so
//! `dittofs start` persists everything out of the box.
//!
//! * **Reads** run inline on the calling core in a read transaction: no thread
//!   hop, no channel, and they never wait for the writer.
//! * **Writes** are jobs sent to one writer thread ([`writer`]) that group-commits
//!   everything queued in one transaction and answers only after the commit is
//!   durable.
//! * **Map size** starts at `map_size_bytes` and doubles on `MDB_MAP_FULL` up to
//!   `map_size_max_bytes`; resizing needs every read transaction closed, so
//!   reads hold `resize_lock` shared and a resize takes it exclusively.
//! * **Handles survive restarts**: inode ids are never reused (a persistent
//!   counter) and the generation stamped on inodes is chosen once, when the
//!   environment is created, and stored with it. A wiped and recreated store gets
//!   a new generation, so old handles answer "stale".
//!
//! The key layout is in ARCHITECTURE.md ("LMDB store") and [`codec`]; the
//! namespace rules are those of the memory store, checked by `meta::conformance`.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::thread::JoinHandle;

use futures_channel::oneshot;
use heed::{Env, EnvOpenOptions, RoTxn, RwTxn};

mod codec;
mod fsck;
mod identity;
mod ops;
mod read;
mod streams;
mod txn;
mod writer;

pub use fsck::FsckReport;
pub use writer::totals as commit_totals;

use ops::RenameOwned;
use txn::{heed_to_meta, Dbs, OpError, OpResult};
use writer::{Job, TypedJob};

use super::{
    AttrChange, BlockRef, Created, DirListing, GroupRecord, Linked, MetaError, MetaFuture,
    MetaResult, MetadataStore, NewInode, RemoveKind, Removed, RenameArgs, Renamed, StoreStat,
    UserRecord,
};
use crate::fs::{Attr, InodeId, PreOpAttr, Timespec};

/// Default initial map size: 1 GiB.
pub const DEFAULT_MAP_SIZE_BYTES: u64 = 1 << 30;
/// Default largest map size: 256 GiB (address space, not disk).
pub const DEFAULT_MAP_SIZE_MAX_BYTES: u64 = 1 << 38;
/// Capacity reported by FSSTAT (the block store holds the content).
const TOTAL_BYTES: u64 = 1 << 40;
/// Inode limit.
const TOTAL_FILES: u64 = 1 << 40;
/// Map sizes are rounded up to this (a multiple of every page size in use).
const MAP_ALIGN_BYTES: u64 = 1 << 16;
/// Reader slots: one per thread that reads (cores, the writer, tools).
const MAX_READERS: u32 = 4096;

/// Sizing of an LMDB store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LmdbOptions {
    pub map_size_bytes: u64,
    pub map_size_max_bytes: u64,
    /// Skip the fsync of each commit (MDB_NOSYNC). For tests only: changes then
    /// survive a process crash (they are in the page cache) but not a power
    /// loss. Not a configuration key.
    pub no_sync: bool,
}

impl Default for LmdbOptions {
    fn default() -> Self {
        LmdbOptions {
            map_size_bytes: DEFAULT_MAP_SIZE_BYTES,
            map_size_max_bytes: DEFAULT_MAP_SIZE_MAX_BYTES,
            no_sync: false,
        }
    }
}

/// Group-commit counters.
#[derive(Debug, Default)]
pub struct CommitStats {
    /// Write transactions committed (one fsync each).
    pub commits: AtomicU64,
    /// Mutations carried by them.
    pub ops: AtomicU64,
}

/// What the store and its writer thread share.
pub struct Shared {
    env: Env,
    dbs: Dbs,
    /// Generation stamped on every inode of this environment.
    generation: u64,
    total_bytes: u64,
    total_files: u64,
    map_size_max_bytes: usize,
    /// Shared by every read transaction, exclusive while the map is resized.
    resize_lock: RwLock<()>,
    stats: CommitStats,
}

/// The LMDB [`MetadataStore`].
pub struct LmdbStore {
    shared: Arc<Shared>,
    path: PathBuf,
    sender: Option<crossbeam_channel::Sender<Box<dyn Job>>>,
    writer: Mutex<Option<JoinHandle<()>>>,
}

fn align(bytes: u64) -> u64 {
    bytes.div_ceil(MAP_ALIGN_BYTES).max(1) * MAP_ALIGN_BYTES
}

fn fresh_generation() -> u64 {
    let now = Timespec::now();
    let mixed = (now.sec as u64)
        .wrapping_mul(1_000_000_007)
        .wrapping_add(u64::from(now.nsec))
        .wrapping_add(u64::from(std::process::id()).wrapping_mul(0x9E37_79B9));
    mixed.max(1)
}

fn backend(what: &str, path: &Path, e: impl std::fmt::Display) -> MetaError {
    MetaError::Backend(format!("{what} {}: {e}", path.display()))
}

impl LmdbStore {
    /// Opens (creating on first use) the environment in directory `path`.
    pub fn open(path: impl Into<PathBuf>, options: LmdbOptions) -> MetaResult<LmdbStore> {
        let path = path.into();
        std::fs::create_dir_all(&path).map_err(|e| backend("create", &path, e))?;
        let map_size = usize::try_from(align(options.map_size_bytes))
            .map_err(|_| MetaError::Backend("map_size_bytes too large".into()))?;
        let map_size_max = usize::try_from(align(options.map_size_max_bytes))
            .unwrap_or(usize::MAX)
            .max(map_size);
        let mut env_options = EnvOpenOptions::new();
        env_options
            .map_size(map_size)
            .max_dbs(Dbs::COUNT)
            .max_readers(MAX_READERS);
        if options.no_sync {
            // SAFETY: MDB_NOSYNC only drops the fsync at commit; LMDB stays
            // consistent after a process crash (it may lose the last commits on
            // a system crash), which is what the tests that ask for it accept.
            unsafe {
                env_options.flags(heed::EnvFlags::NO_SYNC);
            }
        }
        // SAFETY: heed marks `open` unsafe because the memory map must not be
        // corrupted behind LMDB's back: the environment lives in a directory that
        // belongs to this store alone, it is opened once per process (heed keeps
        // a registry of open paths and hands back the same `Env`), and it is
        // opened without WRITEMAP or NOLOCK (NOSYNC only when a test asks).
        let env = unsafe { env_options.open(&path) }.map_err(|e| backend("open", &path, e))?;
        let mut wtxn = env.write_txn().map_err(|e| backend("open", &path, e))?;
        let dbs = Dbs::create(&env, &mut wtxn).map_err(|e| backend("open", &path, e))?;
        let generation = Self::init_meta(&dbs, &mut wtxn).map_err(OpError::into_meta)?;
        wtxn.commit().map_err(|e| backend("open", &path, e))?;
        let shared = Arc::new(Shared {
            env,
            dbs,
            generation,
            total_bytes: TOTAL_BYTES,
            total_files: TOTAL_FILES,
            map_size_max_bytes: map_size_max,
            resize_lock: RwLock::new(()),
            stats: CommitStats::default(),
        });
        let (sender, receiver) = crossbeam_channel::unbounded();
        let thread_shared = Arc::clone(&shared);
        let writer = std::thread::Builder::new()
            .name("dittofs-lmdb".into())
            .spawn(move || writer::run(thread_shared, receiver))
            .map_err(|e| backend("start writer for", &path, e))?;
        Ok(LmdbStore {
            shared,
            path,
            sender: Some(sender),
            writer: Mutex::new(Some(writer)),
        })
    }

    /// Writes the store-wide values of a new environment, or checks those of
    /// an existing one; returns the generation.
    fn init_meta(dbs: &Dbs, txn: &mut RwTxn<'_>) -> OpResult<u64> {
        match dbs.meta_u64(txn, codec::META_FORMAT)? {
            Some(codec::FORMAT_VERSION) => {}
            Some(other) => {
                return Err(MetaError::Backend(format!(
                    "LMDB store has format {other}; this build reads format {}",
                    codec::FORMAT_VERSION
                ))
                .into())
            }
            None => {
                dbs.set_meta_u64(txn, codec::META_FORMAT, codec::FORMAT_VERSION)?;
                dbs.set_meta_u64(txn, codec::META_NEXT_INO, 1)?;
                dbs.set_meta_u64(txn, codec::META_GENERATION, fresh_generation())?;
                dbs.set_meta_u64(txn, codec::META_USED_BYTES, 0)?;
            }
        }
        dbs.meta_u64(txn, codec::META_GENERATION)?
            .ok_or_else(|| codec::corrupt("missing generation").into())
    }

    /// The environment's directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `(commits, mutations)` so far: mutations per commit is the group-commit
    /// factor (each commit is one fsync).
    pub fn commit_stats(&self) -> (u64, u64) {
        let s = &self.shared.stats;
        (
            s.commits.load(Ordering::Relaxed),
            s.ops.load(Ordering::Relaxed),
        )
    }

    /// Id of the last committed write transaction: it grows by one per commit
    /// (that changed anything), across restarts, so the difference between two
    /// readings counts commits (fsyncs) in between.
    pub fn last_txn_id(&self) -> u64 {
        self.shared.env.info().last_txn_id as u64
    }

    /// Checks the consistency of the whole store (see [`FsckReport`]).
    pub fn fsck(&self) -> MetaResult<FsckReport> {
        self.read(|shared, txn| shared.fsck(txn))
    }

    /// Runs `f` in a read transaction on this thread.
    fn read<T>(&self, f: impl FnOnce(&Shared, &RoTxn<'_>) -> OpResult<T>) -> MetaResult<T> {
        let shared = &*self.shared;
        let _no_resize = shared
            .resize_lock
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        let txn = shared.env.read_txn().map_err(|e| heed_to_meta(&e))?;
        f(shared, &txn).map_err(OpError::into_meta)
    }

    fn read_ready<T: 'static>(
        &self,
        f: impl FnOnce(&Shared, &RoTxn<'_>) -> OpResult<T>,
    ) -> MetaFuture<'_, T> {
        Box::pin(std::future::ready(self.read(f)))
    }

    /// Queues `op` for the writer; the future resolves once its batch committed.
    fn write<T, F>(&self, op: F) -> MetaFuture<'_, T>
    where
        T: Send + 'static,
        F: FnMut(&Shared, &mut RwTxn<'_>) -> OpResult<T> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job = Box::new(TypedJob {
            op,
            outcome: None,
            reply: Some(reply),
        });
        let stopped = || MetaError::Backend("LMDB writer thread stopped".into());
        let sent = self.sender.as_ref().is_some_and(|s| s.send(job).is_ok());
        if !sent {
            return Box::pin(std::future::ready(Err(stopped())));
        }
        Box::pin(async move { answer.await.unwrap_or_else(|_| Err(stopped())) })
    }
}

impl Drop for LmdbStore {
    fn drop(&mut self) {
        // Closing the channel ends the writer after the jobs already queued.
        drop(self.sender.take());
        let handle = self
            .writer
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(handle) = handle {
            if handle.join().is_err() {
                log::error!("lmdb: writer thread panicked");
            }
        }
        let (commits, ops) = self.commit_stats();
        log::info!(
            "lmdb store {}: {ops} mutations in {commits} commits",
            self.path.display()
        );
    }
}

impl MetadataStore for LmdbStore {
    fn share_root<'a>(&'a self, name: &'a str, root_mode: u32) -> MetaFuture<'a, InodeId> {
        match self.read(|s, txn| s.q_share(txn, name)) {
            Ok(Some(ino)) => Box::pin(std::future::ready(Ok(ino))),
            Err(e) => Box::pin(std::future::ready(Err(e))),
            Ok(None) => {
                let name = name.to_owned();
                self.write(move |s, txn| s.op_share_root(txn, &name, root_mode))
            }
        }
    }

    fn get(&self, ino: InodeId) -> MetaFuture<'_, Attr> {
        self.read_ready(|s, txn| Ok(s.dbs.node(txn, ino)?.attr))
    }

    fn lookup<'a>(&'a self, dir: InodeId, name: &'a [u8]) -> MetaFuture<'a, Attr> {
        self.read_ready(|s, txn| s.q_lookup(txn, dir, name))
    }

    fn readlink(&self, ino: InodeId) -> MetaFuture<'_, Vec<u8>> {
        self.read_ready(|s, txn| s.q_readlink(txn, ino))
    }

    fn create<'a>(
        &'a self,
        dir: InodeId,
        name: &'a [u8],
        new: &'a NewInode,
        now: Timespec,
    ) -> MetaFuture<'a, Created> {
        let (name, new) = (name.to_vec(), new.clone());
        self.write(move |s, txn| s.op_create(txn, dir, &name, &new, now))
    }

    fn remove<'a>(
        &'a self,
        dir: InodeId,
        name: &'a [u8],
        kind: RemoveKind,
        expect: Option<InodeId>,
        now: Timespec,
    ) -> MetaFuture<'a, Removed> {
        let name = name.to_vec();
        self.write(move |s, txn| s.op_remove(txn, dir, &name, kind, expect, now))
    }

    fn reap(&self, ino: InodeId) -> MetaFuture<'_, Option<Attr>> {
        self.write(move |s, txn| s.op_reap(txn, ino))
    }

    fn orphans(&self, after: InodeId, max: usize) -> MetaFuture<'_, Vec<InodeId>> {
        self.read_ready(move |s, txn| s.q_orphans(txn, after, max))
    }

    fn rename<'a>(&'a self, args: RenameArgs<'a>, now: Timespec) -> MetaFuture<'a, Renamed> {
        let args = RenameOwned {
            from_dir: args.from_dir,
            from_name: args.from_name.to_vec(),
            to_dir: args.to_dir,
            to_name: args.to_name.to_vec(),
            expect_src: args.expect_src,
            expect_dst: args.expect_dst,
        };
        self.write(move |s, txn| s.op_rename(txn, &args, now))
    }

    fn link<'a>(
        &'a self,
        ino: InodeId,
        dir: InodeId,
        name: &'a [u8],
        now: Timespec,
    ) -> MetaFuture<'a, Linked> {
        let name = name.to_vec();
        self.write(move |s, txn| s.op_link(txn, ino, dir, &name, now))
    }

    fn set_attr<'a>(
        &'a self,
        ino: InodeId,
        change: &'a AttrChange,
        now: Timespec,
    ) -> MetaFuture<'a, (PreOpAttr, Attr)> {
        let change = change.clone();
        self.write(move |s, txn| s.op_set_attr(txn, ino, &change, now))
    }

    fn readdir(
        &self,
        dir: InodeId,
        after: u64,
        max: usize,
        with_attrs: bool,
    ) -> MetaFuture<'_, DirListing> {
        self.read_ready(|s, txn| s.q_readdir(txn, dir, after, max, with_attrs))
    }

    fn create_verifier(&self, ino: InodeId) -> MetaFuture<'_, Option<[u8; 8]>> {
        self.read_ready(|s, txn| Ok(s.dbs.node(txn, ino)?.verifier))
    }

    fn stat(&self) -> MetaFuture<'_, StoreStat> {
        self.read_ready(|s, txn| s.q_stat(txn))
    }

    fn put_block(
        &self,
        ino: InodeId,
        index: u64,
        block: BlockRef,
    ) -> MetaFuture<'_, Option<BlockRef>> {
        self.write(move |s, txn| s.op_put_block(txn, ino, index, &block))
    }

    fn get_block(&self, ino: InodeId, index: u64) -> MetaFuture<'_, Option<BlockRef>> {
        self.read_ready(|s, txn| s.q_get_block(txn, ino, index))
    }

    fn blocks(&self, ino: InodeId) -> MetaFuture<'_, Vec<(u64, BlockRef)>> {
        self.read_ready(|s, txn| s.blocks_from(txn, ino, 0))
    }

    fn drop_blocks(&self, ino: InodeId, from_index: u64) -> MetaFuture<'_, Vec<(u64, BlockRef)>> {
        // Most removed files and truncates past the last block have no entries to
        // drop: answer those from a read transaction instead of queueing a write
        // that would wait for a commit (and its fsync) to change nothing. Only the
        // owner shard adds entries to a file's map, and it never does so while it
        // drops them, so nothing can appear between this read and the answer.
        match self.read(|s, txn| s.blocks_from(txn, ino, from_index)) {
            Ok(found) if found.is_empty() => Box::pin(std::future::ready(Ok(found))),
            Err(e) => Box::pin(std::future::ready(Err(e))),
            Ok(_) => self.write(move |s, txn| s.op_drop_blocks(txn, ino, from_index)),
        }
    }

    fn put_user<'a>(&'a self, user: &'a UserRecord) -> MetaFuture<'a, ()> {
        let user = user.clone();
        self.write(move |s, txn| s.op_put_user(txn, &user))
    }

    fn get_user<'a>(&'a self, name: &'a str) -> MetaFuture<'a, Option<UserRecord>> {
        self.read_ready(|s, txn| s.q_user(txn, name))
    }

    fn get_user_by_uid(&self, uid: u32) -> MetaFuture<'_, Option<UserRecord>> {
        self.read_ready(|s, txn| s.q_user_by_uid(txn, uid))
    }

    fn remove_user<'a>(&'a self, name: &'a str) -> MetaFuture<'a, bool> {
        let name = name.to_owned();
        self.write(move |s, txn| s.op_remove_user(txn, &name))
    }

    fn list_users(&self) -> MetaFuture<'_, Vec<UserRecord>> {
        self.read_ready(|s, txn| s.q_users(txn))
    }

    fn put_group<'a>(&'a self, group: &'a GroupRecord) -> MetaFuture<'a, ()> {
        let group = group.clone();
        self.write(move |s, txn| s.op_put_group(txn, &group))
    }

    fn get_group<'a>(&'a self, name: &'a str) -> MetaFuture<'a, Option<GroupRecord>> {
        self.read_ready(|s, txn| s.q_group(txn, name))
    }

    fn get_group_by_gid(&self, gid: u32) -> MetaFuture<'_, Option<GroupRecord>> {
        self.read_ready(|s, txn| s.q_group_by_gid(txn, gid))
    }

    fn remove_group<'a>(&'a self, name: &'a str) -> MetaFuture<'a, bool> {
        let name = name.to_owned();
        self.write(move |s, txn| s.op_remove_group(txn, &name))
    }

    fn list_groups(&self) -> MetaFuture<'_, Vec<GroupRecord>> {
        self.read_ready(|s, txn| s.q_groups(txn))
    }

    fn set_dos_attributes(&self, ino: InodeId, attributes: u32) -> MetaFuture<'_, ()> {
        self.write(move |s, txn| s.op_set_dos_attributes(txn, ino, attributes))
    }

    fn get_dos_attributes(&self, ino: InodeId) -> MetaFuture<'_, u32> {
        self.read_ready(|s, txn| s.q_dos_attributes(txn, ino))
    }

    fn create_stream<'a>(
        &'a self,
        base: InodeId,
        key: &'a [u8],
        name: &'a [u8],
        new: &'a NewInode,
        now: Timespec,
    ) -> MetaFuture<'a, crate::meta::StreamCreated> {
        let (key, name, new) = (key.to_vec(), name.to_vec(), new.clone());
        self.write(move |s, txn| s.op_create_stream(txn, base, &key, &name, &new, now))
    }

    fn lookup_stream<'a>(
        &'a self,
        base: InodeId,
        key: &'a [u8],
    ) -> MetaFuture<'a, Option<crate::meta::StreamRecord>> {
        self.read_ready(|s, txn| s.q_lookup_stream(txn, base, key))
    }

    fn list_streams(&self, base: InodeId) -> MetaFuture<'_, Vec<crate::meta::StreamRecord>> {
        self.read_ready(|s, txn| s.q_list_streams(txn, base))
    }

    fn remove_stream<'a>(&'a self, base: InodeId, key: &'a [u8]) -> MetaFuture<'a, Option<Attr>> {
        let key = key.to_vec();
        self.write(move |s, txn| s.op_remove_stream(txn, base, &key))
    }

    fn rename_stream<'a>(
        &'a self,
        base: InodeId,
        from_key: &'a [u8],
        to_key: &'a [u8],
        to_name: &'a [u8],
        replace: bool,
    ) -> MetaFuture<'a, Option<Attr>> {
        let (from, to, name) = (from_key.to_vec(), to_key.to_vec(), to_name.to_vec());
        self.write(move |s, txn| s.op_rename_stream(txn, base, &from, &to, &name, replace))
    }

    fn drop_streams(&self, base: InodeId) -> MetaFuture<'_, Vec<Attr>> {
        // Almost every removed file has no streams: answer from a read
        // transaction instead of queueing a write (and its fsync).
        match self.read(|s, txn| s.q_list_streams(txn, base)) {
            Ok(found) if found.is_empty() => Box::pin(std::future::ready(Ok(Vec::new()))),
            Err(e) => Box::pin(std::future::ready(Err(e))),
            Ok(found) => {
                let keys: Vec<Vec<u8>> = found.into_iter().map(|r| r.key).collect();
                self.write(move |s, txn| {
                    let mut gone = Vec::new();
                    for key in &keys {
                        gone.extend(s.op_remove_stream(txn, base, key)?);
                    }
                    Ok(gone)
                })
            }
        }
    }
}

#[cfg(test)]
mod tests;
