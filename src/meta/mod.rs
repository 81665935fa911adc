//! Metadata stores: inodes, directory entries and share roots behind one trait.
//!
//! The file-system core (`crate::fs`) is written against [`MetadataStore`]; the
//! in-memory store lives in [`memory`], and LMDB / PostgreSQL stores plug in
//! without touching `fs` or the protocol handlers.
//!
//! # Why the trait looks like this
//!
//! * **Async, boxed, not `Send`.** Every method returns a [`MetaFuture`]. An LMDB
//!   store answers reads inline (a read transaction on the calling core) but hands
//!   writes to one writer thread that group-commits them, so a write is a future
//!   resolved by a channel; a PostgreSQL store runs queries on a blocking pool.
//!   The futures are polled by one single-threaded glommio executor, so they need
//!   not be `Send`. The store object itself is `Send + Sync`: one
//!   `Arc<dyn MetadataStore>` is shared by every core.
//! * **One call = one atomic step.** Every mutation checks its namespace
//!   preconditions (the name exists / does not exist, types, emptiness, subtree,
//!   link limits) and applies all of its effects (entries, link counts, `..`,
//!   time stamps) in one transaction. The store never checks *permissions*: that
//!   is policy and lives in `fs`. Permission checks that depend on the objects a
//!   mutation will touch (the sticky bit, write access to a moved directory) are
//!   made by `fs` on a snapshot and pinned with an *expectation* (`expect` inode
//!   ids); when the namespace changed in between, the store fails with
//!   [`MetaError::Conflict`] and `fs` re-checks and retries. Compare-and-swap works
//!   the same way on every backend.
//! * **The caller supplies `now`.** Time stamps are set from the `now` argument so
//!   all stores agree on one clock and tests are deterministic.
//! * **Content is not here.** When a mutation drops the last link of an inode, the
//!   result says so ([`Unlinked::last_link`]); the caller tells the content shard.
//!
//! # Conventions every store follows
//!
//! * Inode ids start at 1 and are not reused while the store lives; every inode
//!   carries a generation (part of NFS file handles), so a handle that outlives
//!   its inode (or the whole store, for the memory store) is detected as stale.
//! * A directory's entry cookies are assigned monotonically per directory starting
//!   at [`FIRST_COOKIE`] (1 and 2 are reserved for `.` and `..`, which the core
//!   synthesises) and never change while the entry exists. Listing "after cookie c"
//!   is a range query, so it continues correctly even when the entry `c` was
//!   removed meanwhile. Because cookies are never invalidated, a directory's
//!   cookie verifier is constant for the directory's life.
//! * New directories have `nlink == 2`, other inodes `nlink == 1`; a new
//!   subdirectory adds one link to its parent. A share root is its own parent.
//! * Size of a directory is reported as a nominal `4096`; of a symlink, the
//!   length of its target.

pub mod lmdb;
pub mod memory;
pub mod postgres;

#[cfg(test)]
pub mod conformance;
#[cfg(test)]
pub mod conformance_identity;
#[cfg(test)]
pub mod conformance_streams;
#[cfg(test)]
pub mod conformance_unlinked;
pub mod identity;
pub mod readdir_100k;
pub mod streams;

use std::future::Future;
use std::pin::Pin;

use crate::fs::{Attr, DeviceId, FileType, InodeId, PreOpAttr, Timespec};

pub use identity::{GroupRecord, SharePermission, UserRecord};
pub use memory::MemoryStore;
pub use streams::{StreamCreated, StreamRecord};

/// Future returned by every [`MetadataStore`] method.
pub type MetaFuture<'a, T> = Pin<Box<dyn Future<Output = MetaResult<T>> + 'a>>;

/// Result of a metadata store operation.
pub type MetaResult<T> = Result<T, MetaError>;

/// First cookie a store hands out for a real directory entry (1 = `.`, 2 = `..`).
pub const FIRST_COOKIE: u64 = 3;

/// Nominal size reported for directories.
pub const DIR_SIZE: u64 = 4096;

/// Failure of a metadata store operation. Namespace failures are distinct
/// variants so that `fs` can map them to protocol errors in one place.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MetaError {
    /// The inode does not exist (any more): a stale handle.
    #[error("inode {0} does not exist")]
    NoInode(InodeId),
    /// The name does not exist in the directory.
    #[error("no such directory entry")]
    NoEntry,
    /// The name already exists.
    #[error("directory entry exists")]
    Exists,
    /// An inode that must be a directory is not one.
    #[error("not a directory")]
    NotDirectory,
    /// An inode that must not be a directory is one.
    #[error("is a directory")]
    IsDirectory,
    /// The directory to remove or replace has entries.
    #[error("directory not empty")]
    NotEmpty,
    /// The request violates a namespace rule (moving a directory into itself,
    /// `.`/`..` as a name, reading the target of a non-symlink, ...).
    #[error("invalid argument")]
    InvalidArgument,
    /// The link count would exceed the store's limit.
    #[error("too many links")]
    TooManyLinks,
    /// A SETATTR guard (expected ctime) did not match.
    #[error("ctime guard did not match")]
    NotSync,
    /// An `expect` precondition failed: the namespace changed since the caller
    /// looked. The caller re-reads, re-checks and retries.
    #[error("namespace changed concurrently")]
    Conflict,
    /// The store ran out of space or inodes.
    #[error("metadata store is full")]
    NoSpace,
    /// The backend failed (I/O, connection, corruption).
    #[error("metadata backend error: {0}")]
    Backend(String),
}

/// What an inode to be created looks like. Permissions policy (setgid
/// inheritance, default modes) was already applied by the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewInode {
    pub ftype: FileType,
    /// Permission bits (`& 0o7777` is applied by the store).
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    /// Device numbers of character and block devices.
    pub rdev: DeviceId,
    /// Target of a symlink (empty for other types).
    pub target: Vec<u8>,
    /// Exclusive-create verifier to remember with the inode.
    pub verifier: Option<[u8; 8]>,
    /// What to do when the name exists.
    pub on_exists: OnExists,
}

impl NewInode {
    /// Attributes of the inode this creates: all four times `now`, link count 2 for a
    /// directory and 1 otherwise, size `DIR_SIZE` / the symlink target's length / 0,
    /// device numbers only for device nodes. Every store starts an inode from this.
    pub fn initial_attr(&self, ino: InodeId, generation: u64, now: Timespec) -> Attr {
        let is_dir = self.ftype == FileType::Directory;
        let size = match self.ftype {
            FileType::Directory => DIR_SIZE,
            FileType::Symlink => self.target.len() as u64,
            _ => 0,
        };
        let rdev = match self.ftype {
            FileType::CharDevice | FileType::BlockDevice => self.rdev,
            _ => DeviceId::default(),
        };
        Attr {
            ino,
            ftype: self.ftype,
            mode: self.mode & 0o7777,
            nlink: if is_dir { 2 } else { 1 },
            uid: self.uid,
            gid: self.gid,
            size,
            used: size,
            rdev,
            atime: now,
            mtime: now,
            ctime: now,
            btime: now,
            generation,
        }
    }
}

/// How [`MetadataStore::create`] treats an existing name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnExists {
    /// Fail with [`MetaError::Exists`].
    Fail,
    /// Return the existing inode when it is a regular file (NFS UNCHECKED create),
    /// else fail with `Exists`.
    ReturnRegular,
    /// Return the existing inode when it was created with this exclusive verifier
    /// (a retransmitted exclusive CREATE), else fail with `Exists`.
    ReturnIfVerifier([u8; 8]),
}

/// Attributes of a directory before and after a mutation (for wcc data).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirChange {
    pub before: PreOpAttr,
    pub after: Attr,
}

/// Result of [`MetadataStore::create`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Created {
    /// The new inode, or the existing one when `existed`.
    pub attr: Attr,
    /// True when the name existed and `on_exists` allowed returning it; nothing changed.
    pub existed: bool,
    pub dir: DirChange,
}

/// An inode that lost a link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unlinked {
    /// Its attributes after losing the link (`nlink` may be 0).
    pub attr: Attr,
    /// True when that was its last link: the inode is gone and, for a regular
    /// file, its content must be dropped.
    pub last_link: bool,
}

/// What [`MetadataStore::remove`] may remove.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RemoveKind {
    /// Anything but a directory (`IsDirectory` otherwise): REMOVE / unlink.
    NonDirectory,
    /// Only an empty directory (`NotDirectory` / `NotEmpty` otherwise): RMDIR.
    Directory,
    /// Like `NonDirectory`, but when that was the inode's last link it stays
    /// with `nlink` 0 (and `last_link` is false): a file still open over SMB
    /// keeps its attributes and content until [`MetadataStore::reap`].
    NonDirectoryKeep,
}

/// Result of [`MetadataStore::remove`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Removed {
    pub dir: DirChange,
    pub victim: Unlinked,
}

/// Arguments of [`MetadataStore::rename`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenameArgs<'a> {
    pub from_dir: InodeId,
    pub from_name: &'a [u8],
    pub to_dir: InodeId,
    pub to_name: &'a [u8],
    /// When set, the source must still be this inode (else `Conflict`).
    pub expect_src: Option<InodeId>,
    /// When set, the target must still be this (`None` = absent), else `Conflict`.
    pub expect_dst: Option<Option<InodeId>>,
}

/// Result of [`MetadataStore::rename`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Renamed {
    pub from_dir: DirChange,
    pub to_dir: DirChange,
    /// The renamed inode after the rename.
    pub moved: Attr,
    /// The inode that was replaced at the target, if any.
    pub replaced: Option<Unlinked>,
}

/// Result of [`MetadataStore::link`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Linked {
    pub attr: Attr,
    pub dir: DirChange,
}

/// A resolved attribute change; the store applies it atomically.
/// `fs` has decided permissions and policy; the store only applies values.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AttrChange {
    /// New permission bits (`& 0o7777`).
    pub mode: Option<u32>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    /// New size (regular files only; `IsDirectory`/`InvalidArgument` otherwise).
    pub size: Option<u64>,
    /// Grow the size to at least this (a WRITE ending there).
    pub grow_to: Option<u64>,
    pub atime: Option<Timespec>,
    pub mtime: Option<Timespec>,
    /// New creation time (`Attr::btime`). Only SMB sets it (FileBasicInformation
    /// CreationTime).
    pub btime: Option<Timespec>,
    /// The ctime to record instead of `now` when this change updates ctime: SMB
    /// FileBasicInformation ChangeTime, which Windows (and, for what a client reads
    /// back, Samba) lets a client set.
    pub ctime: Option<Timespec>,
    /// After applying `mode`: clear `S_ISUID`, and `S_ISGID` when `S_IXGRP` is
    /// set (what Linux does on chown and on writes by unprivileged users).
    pub kill_suid_sgid: bool,
    /// Fail with `NotSync` unless the current ctime is this.
    pub guard_ctime: Option<Timespec>,
    /// Set ctime to `now` even when no field above is set.
    pub touch_ctime: bool,
}

impl AttrChange {
    /// Applies the change to `a`, the one rule every store shares: mode is masked to
    /// `0o7777`, `grow_to` only grows, `used` follows the size of regular files, the
    /// set-id kill clears S_ISUID (and S_ISGID when group-exec is set, as Linux does),
    /// and ctime becomes `now` when anything changes. Guard and type checks stay with
    /// the store, inside its transaction.
    pub fn apply_to(&self, a: &mut Attr, now: Timespec) {
        const S_ISUID: u32 = 0o4000;
        const S_ISGID: u32 = 0o2000;
        const S_IXGRP: u32 = 0o0010;
        if let Some(mode) = self.mode {
            a.mode = mode & 0o7777;
        }
        if let Some(uid) = self.uid {
            a.uid = uid;
        }
        if let Some(gid) = self.gid {
            a.gid = gid;
        }
        if let Some(size) = self.size {
            a.size = size;
        }
        if let Some(end) = self.grow_to {
            a.size = a.size.max(end);
        }
        if a.ftype == FileType::Regular {
            a.used = a.size;
        }
        if let Some(t) = self.atime {
            a.atime = t;
        }
        if let Some(t) = self.mtime {
            a.mtime = t;
        }
        if let Some(t) = self.btime {
            a.btime = t;
        }
        if self.kill_suid_sgid {
            a.mode &= !S_ISUID;
            if a.mode & S_IXGRP != 0 {
                a.mode &= !S_ISGID;
            }
        }
        if self.changes_something() {
            a.ctime = self.ctime.unwrap_or(now);
        }
    }

    /// True when the change sets any field (and so updates ctime).
    pub fn changes_something(&self) -> bool {
        self.mode.is_some()
            || self.uid.is_some()
            || self.gid.is_some()
            || self.size.is_some()
            || self.grow_to.is_some()
            || self.atime.is_some()
            || self.mtime.is_some()
            || self.btime.is_some()
            || self.ctime.is_some()
            || self.kill_suid_sgid
            || self.touch_ctime
    }
}

/// One directory entry as the store lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirRecord {
    pub name: Vec<u8>,
    pub ino: InodeId,
    pub cookie: u64,
    /// Filled in when asked for.
    pub attr: Option<Attr>,
}

/// One page of [`MetadataStore::readdir`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirListing {
    /// The directory's own attributes.
    pub dir: Attr,
    /// Its parent (the directory itself for a share root).
    pub parent: InodeId,
    pub entries: Vec<DirRecord>,
    /// True when no entry follows the last one returned.
    pub eof: bool,
    /// The directory's cookie verifier.
    pub verifier: u64,
}

/// Store-wide figures for FSSTAT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreStat {
    pub total_bytes: u64,
    pub used_bytes: u64,
    pub total_files: u64,
    pub used_files: u64,
}

/// Where one block of a file's content lives in the block store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockRef {
    /// Object key in the share's block store.
    pub key: String,
    /// Bytes of the object (at most the block size).
    pub len: u64,
    /// Object generation: a rewritten block gets a new key and a higher generation,
    /// so the superseded object can be garbage-collected once the map moved on.
    pub generation: u64,
}

/// A store of inodes, directory entries, share roots and per-file block maps.
///
/// See the module documentation for the design rules. All `now` arguments are
/// the time stamps to write; all mutations are atomic.
///
/// What SMB needs besides the namespace: create time is `Attr::btime` and the
/// file id is the inode number (never reused), both already here; DOS
/// attributes are kept per inode by [`MetadataStore::set_dos_attributes`]; users
/// and groups (with their NT hashes and share grants) by the identity methods
/// ([`UserRecord`], [`GroupRecord`]).
pub trait MetadataStore: Send + Sync {
    /// Root directory of the share `name`, created (owned by 0:0, `root_mode`)
    /// on first use. The same name always yields the same inode.
    fn share_root<'a>(&'a self, name: &'a str, root_mode: u32) -> MetaFuture<'a, InodeId>;

    /// Attributes of `ino` (`NoInode` when it does not exist).
    fn get(&self, ino: InodeId) -> MetaFuture<'_, Attr>;

    /// The inode `name` in directory `dir`; `.` is `dir`, `..` its parent.
    /// `NoInode` for a missing `dir`, `NotDirectory`, `NoEntry`.
    fn lookup<'a>(&'a self, dir: InodeId, name: &'a [u8]) -> MetaFuture<'a, Attr>;

    /// Target of a symlink (`InvalidArgument` for other types).
    fn readlink(&self, ino: InodeId) -> MetaFuture<'_, Vec<u8>>;

    /// Creates `name` in `dir`: sets all four times of the new inode to `now`, and
    /// mtime/ctime of `dir`; a new directory gets `dir` as parent and adds a link
    /// to it (`TooManyLinks` when that exceeds the limit).
    fn create<'a>(
        &'a self,
        dir: InodeId,
        name: &'a [u8],
        new: &'a NewInode,
        now: Timespec,
    ) -> MetaFuture<'a, Created>;

    /// Removes `name` from `dir` (`expect`: it must still be that inode, else
    /// `Conflict`). Updates mtime/ctime of `dir` and ctime of the victim; a removed
    /// directory takes a link from `dir` with it.
    fn remove<'a>(
        &'a self,
        dir: InodeId,
        name: &'a [u8],
        kind: RemoveKind,
        expect: Option<InodeId>,
        now: Timespec,
    ) -> MetaFuture<'a, Removed>;

    /// Deletes `ino` when it is a non-directory left with `nlink` 0 by a
    /// [`RemoveKind::NonDirectoryKeep`] remove; returns its attributes then
    /// (the caller drops a regular file's content), `None` when it has a link
    /// again or is gone already.
    fn reap(&self, ino: InodeId) -> MetaFuture<'_, Option<Attr>>;

    /// Up to `max` inodes of the *orphan set* with ids above `after`, in
    /// ascending order (pass 0 to start; continue after the last one).
    ///
    /// The orphan set is ext4's orphan list: a `NonDirectoryKeep` remove that
    /// leaves an inode at nlink 0 adds it in the same transaction, and
    /// [`MetadataStore::reap`] (or a `link` that gives it a name again) takes
    /// it out in the same transaction as its own change. So after a crash the
    /// set names exactly the inodes that were kept for opens that no longer
    /// exist; start-up reaps them (`Fs::collect_orphans`).
    fn orphans(&self, after: InodeId, max: usize) -> MetaFuture<'_, Vec<InodeId>>;

    /// POSIX rename in one step: replaces a non-directory target with a
    /// non-directory, or an empty directory with a directory (`NotEmpty` for a
    /// non-empty one); a directory onto a non-directory is `NotDirectory`, a
    /// non-directory onto a directory `IsDirectory`; moving a directory into its
    /// own subtree is `InvalidArgument`; when source and target are the same inode
    /// nothing changes. Moves `..` and the directory link counts, sets ctime of
    /// the moved inode and of a replaced one, mtime/ctime of both directories.
    fn rename<'a>(&'a self, args: RenameArgs<'a>, now: Timespec) -> MetaFuture<'a, Renamed>;

    /// Adds `dir/name` as a link to `ino` (`IsDirectory` for a directory,
    /// `TooManyLinks` past the limit). Updates ctime of `ino`, mtime/ctime of `dir`.
    fn link<'a>(
        &'a self,
        ino: InodeId,
        dir: InodeId,
        name: &'a [u8],
        now: Timespec,
    ) -> MetaFuture<'a, Linked>;

    /// Applies `change` atomically; ctime becomes `now` when anything changes.
    /// Returns the attributes before and after.
    fn set_attr<'a>(
        &'a self,
        ino: InodeId,
        change: &'a AttrChange,
        now: Timespec,
    ) -> MetaFuture<'a, (PreOpAttr, Attr)>;

    /// Up to `max` entries of `dir` with cookies greater than `after` (pass 0 or
    /// any cookie below [`FIRST_COOKIE`] to start), in cookie order, with their
    /// attributes when `with_attrs`.
    fn readdir(
        &self,
        dir: InodeId,
        after: u64,
        max: usize,
        with_attrs: bool,
    ) -> MetaFuture<'_, DirListing>;

    /// The verifier remembered by an exclusive create of `ino`, if any.
    fn create_verifier(&self, ino: InodeId) -> MetaFuture<'_, Option<[u8; 8]>>;

    /// Space and inode figures.
    fn stat(&self) -> MetaFuture<'_, StoreStat>;

    /// Points block `index` of `ino` at `block`; returns the entry it replaced
    /// (whose object the caller may now garbage-collect). The inode need not
    /// exist any more (content outlives a racing remove until `drop_blocks`).
    fn put_block(
        &self,
        ino: InodeId,
        index: u64,
        block: BlockRef,
    ) -> MetaFuture<'_, Option<BlockRef>>;

    /// The block map entry of block `index` of `ino`, if any.
    fn get_block(&self, ino: InodeId, index: u64) -> MetaFuture<'_, Option<BlockRef>>;

    /// The whole block map of `ino`, by block index.
    fn blocks(&self, ino: InodeId) -> MetaFuture<'_, Vec<(u64, BlockRef)>>;

    /// Removes the entries of `ino` with index `>= from_index` (truncate; 0 when
    /// the file is gone) and returns them for garbage collection.
    fn drop_blocks(&self, ino: InodeId, from_index: u64) -> MetaFuture<'_, Vec<(u64, BlockRef)>>;

    /// Inserts `user`, or replaces the user of the same name. `Exists` when
    /// another name already has its uid.
    fn put_user<'a>(&'a self, user: &'a UserRecord) -> MetaFuture<'a, ()>;

    /// The user `name`, if any.
    fn get_user<'a>(&'a self, name: &'a str) -> MetaFuture<'a, Option<UserRecord>>;

    /// The user with `uid`, if any.
    fn get_user_by_uid(&self, uid: u32) -> MetaFuture<'_, Option<UserRecord>>;

    /// Removes the user `name`; false when there was none.
    fn remove_user<'a>(&'a self, name: &'a str) -> MetaFuture<'a, bool>;

    /// Every user, sorted by name.
    fn list_users(&self) -> MetaFuture<'_, Vec<UserRecord>>;

    /// Inserts `group`, or replaces the group of the same name. `Exists` when
    /// another name already has its gid.
    fn put_group<'a>(&'a self, group: &'a GroupRecord) -> MetaFuture<'a, ()>;

    /// The group `name`, if any.
    fn get_group<'a>(&'a self, name: &'a str) -> MetaFuture<'a, Option<GroupRecord>>;

    /// The group with `gid`, if any.
    fn get_group_by_gid(&self, gid: u32) -> MetaFuture<'_, Option<GroupRecord>>;

    /// Removes the group `name`; false when there was none.
    fn remove_group<'a>(&'a self, name: &'a str) -> MetaFuture<'a, bool>;

    /// Every group, sorted by name.
    fn list_groups(&self) -> MetaFuture<'_, Vec<GroupRecord>>;

    /// Sets the DOS attribute bits (SMB `FILE_ATTRIBUTE_*`) of `ino`
    /// (`NoInode` when it does not exist). Does not touch ctime.
    fn set_dos_attributes(&self, ino: InodeId, attributes: u32) -> MetaFuture<'_, ()>;

    /// The DOS attribute bits of `ino`: 0 when never set, `NoInode` when the
    /// inode does not exist.
    fn get_dos_attributes(&self, ino: InodeId) -> MetaFuture<'_, u32>;

    /// Creates the named stream `key` of `base` (any inode type; `NoInode` when
    /// `base` does not exist) as a hidden regular inode built from `new` with
    /// all times `now`, remembering `name` as its spelling; returns the
    /// existing stream (`existed`) when `key` is taken. See [`streams`].
    fn create_stream<'a>(
        &'a self,
        base: InodeId,
        key: &'a [u8],
        name: &'a [u8],
        new: &'a NewInode,
        now: Timespec,
    ) -> MetaFuture<'a, StreamCreated>;

    /// The stream `key` of `base`, if any.
    fn lookup_stream<'a>(
        &'a self,
        base: InodeId,
        key: &'a [u8],
    ) -> MetaFuture<'a, Option<StreamRecord>>;

    /// Every stream of `base`, by key.
    fn list_streams(&self, base: InodeId) -> MetaFuture<'_, Vec<StreamRecord>>;

    /// Removes the stream `key` of `base` and its inode; returns the inode's
    /// last attributes (the caller drops its content), `None` when absent.
    fn remove_stream<'a>(&'a self, base: InodeId, key: &'a [u8]) -> MetaFuture<'a, Option<Attr>>;

    /// Renames the stream `from_key` of `base` to `to_key`/`to_name`, keeping
    /// its inode. `NoEntry` when `from_key` is absent; when `to_key` exists
    /// (and is another stream) `Exists` unless `replace`, else the replaced
    /// stream's inode is removed and returned (the caller drops its content).
    fn rename_stream<'a>(
        &'a self,
        base: InodeId,
        from_key: &'a [u8],
        to_key: &'a [u8],
        to_name: &'a [u8],
        replace: bool,
    ) -> MetaFuture<'a, Option<Attr>>;

    /// Removes every stream of `base` (called once `base` is gone); returns
    /// the removed stream inodes (the caller drops their content).
    fn drop_streams(&self, base: InodeId) -> MetaFuture<'_, Vec<Attr>> {
        Box::pin(async move {
            let mut gone = Vec::new();
            for s in self.list_streams(base).await? {
                gone.extend(self.remove_stream(base, &s.key).await?);
            }
            Ok(gone)
        })
    }
}
