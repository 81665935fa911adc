//! The protocol-neutral file-system core.
//!
//! NFS and SMB handlers decode a request, call one method of [`Fs`], and encode
//! what it returns. Everything a POSIX file system decides lives here: permission
//! checks from the caller's credentials, the rules of rename, link counting,
//! time stamps. Namespace and attribute state is kept by a [`MetadataStore`];
//! file content goes to the owner shard of the file through the per-core
//! [`Router`], so this module never touches a block store directly.
//!
//! One `Fs` exists per share and per core (it holds the core's `Router`, which
//! is `!Send`); the metadata store behind it is shared by all cores.

pub mod error;
pub mod types;

pub use error::{FsError, FsResult};
pub use types::*;

use std::rc::Rc;
use std::sync::Arc;

use bytes::Bytes;
use dittofs_shards::Router;

use crate::meta::MetadataStore;

/// Largest READ or WRITE the core accepts in one call (also advertised in FSINFO).
pub const IO_SIZE_MAX: u32 = 1024 * 1024;
/// Longest name of one directory entry, in bytes.
pub const NAME_LEN_MAX: usize = 255;
/// Longest symlink target, in bytes.
pub const SYMLINK_LEN_MAX: usize = 4096;
/// Most hard links one inode may have.
pub const LINK_MAX: u32 = 32_000;

/// What a share is, as the core needs to know it.
#[derive(Debug, Clone)]
pub struct ShareInfo {
    /// Stable small id of the share; part of every file handle.
    pub id: u32,
    /// Export path, e.g. `/export`.
    pub name: String,
    /// Refuse every change with `ReadOnly`.
    pub read_only: bool,
}

/// Result of a successful WRITE.
#[derive(Debug, Clone)]
pub struct WriteOk {
    pub wcc: Wcc,
    pub count: u32,
    pub committed: Stability,
}

/// Result of a successful READ.
#[derive(Debug, Clone)]
pub struct ReadOk {
    pub data: Bytes,
    pub eof: bool,
    pub attr: Attr,
}

/// Result of operations that create a name in a directory.
#[derive(Debug, Clone)]
pub struct CreateOk {
    pub attr: Attr,
    pub dir_wcc: Wcc,
}

/// The file-system core of one share on one core.
pub struct Fs {
    share: ShareInfo,
    meta: Arc<dyn MetadataStore>,
    router: Rc<Router>,
    root: InodeId,
}

#[allow(unused_variables, clippy::todo)]
impl Fs {
    /// Builds the core for `share`, whose root directory is `root` in `meta`.
    pub fn new(
        share: ShareInfo,
        meta: Arc<dyn MetadataStore>,
        router: Rc<Router>,
        root: InodeId,
    ) -> Fs {
        Fs {
            share,
            meta,
            router,
            root,
        }
    }

    /// The share this core serves.
    pub fn share(&self) -> &ShareInfo {
        &self.share
    }

    /// Inode of the share's root directory.
    pub fn root(&self) -> InodeId {
        self.root
    }

    /// Attributes of `ino`; `Stale` when it does not exist or `generation` does not match
    /// (pass `None` to skip the generation check).
    pub async fn getattr(&self, ino: InodeId, generation: Option<u64>) -> FsResult<Attr> {
        todo!()
    }

    /// SETATTR: permission rules of chmod/chown/truncate/utimes; `guard_ctime` fails with
    /// `NotSync` when the current ctime differs. Truncation goes to the owner shard.
    pub async fn setattr(
        &self,
        cred: &Cred,
        ino: InodeId,
        set: &SetAttr,
        guard_ctime: Option<Timespec>,
    ) -> FsResult<Wcc> {
        todo!()
    }

    /// Looks `name` up in `dir` (`.` and `..` included; `..` of the root is the root).
    pub async fn lookup(&self, cred: &Cred, dir: InodeId, name: &[u8]) -> FsResult<Attr> {
        todo!()
    }

    /// Which of the `requested` [`access`] bits the caller holds on `ino`.
    pub async fn access(&self, cred: &Cred, ino: InodeId, requested: u32) -> FsResult<(u32, Attr)> {
        todo!()
    }

    /// Target of a symlink.
    pub async fn readlink(&self, cred: &Cred, ino: InodeId) -> FsResult<(Vec<u8>, Attr)> {
        todo!()
    }

    /// Reads up to `count` bytes at `offset` (clamped to the file size).
    pub async fn read(
        &self,
        cred: &Cred,
        ino: InodeId,
        offset: u64,
        count: u32,
    ) -> FsResult<ReadOk> {
        todo!()
    }

    /// Writes `data` at `offset` with the requested stability.
    pub async fn write(
        &self,
        cred: &Cred,
        ino: InodeId,
        offset: u64,
        data: Bytes,
        stable: Stability,
    ) -> FsResult<WriteOk> {
        todo!()
    }

    /// Makes everything written to `ino` stable (COMMIT / FLUSH).
    pub async fn commit(&self, cred: &Cred, ino: InodeId) -> FsResult<Wcc> {
        todo!()
    }

    /// Creates a regular file.
    pub async fn create(
        &self,
        cred: &Cred,
        dir: InodeId,
        name: &[u8],
        how: CreateMode,
        set: &SetAttr,
    ) -> FsResult<CreateOk> {
        todo!()
    }

    /// Creates a directory.
    pub async fn mkdir(
        &self,
        cred: &Cred,
        dir: InodeId,
        name: &[u8],
        set: &SetAttr,
    ) -> FsResult<CreateOk> {
        todo!()
    }

    /// Creates a symlink pointing at `target`.
    pub async fn symlink(
        &self,
        cred: &Cred,
        dir: InodeId,
        name: &[u8],
        target: &[u8],
        set: &SetAttr,
    ) -> FsResult<CreateOk> {
        todo!()
    }

    /// Creates a FIFO, socket or device node.
    pub async fn mknod(
        &self,
        cred: &Cred,
        dir: InodeId,
        name: &[u8],
        kind: SpecialKind,
        set: &SetAttr,
    ) -> FsResult<CreateOk> {
        todo!()
    }

    /// Removes a non-directory name.
    pub async fn remove(&self, cred: &Cred, dir: InodeId, name: &[u8]) -> FsResult<Wcc> {
        todo!()
    }

    /// Removes an empty directory.
    pub async fn rmdir(&self, cred: &Cred, dir: InodeId, name: &[u8]) -> FsResult<Wcc> {
        todo!()
    }

    /// Renames atomically with the POSIX rules; returns the wcc of both directories.
    pub async fn rename(
        &self,
        cred: &Cred,
        from_dir: InodeId,
        from_name: &[u8],
        to_dir: InodeId,
        to_name: &[u8],
    ) -> FsResult<(Wcc, Wcc)> {
        todo!()
    }

    /// Adds the hard link `dir/name` to `ino`; returns the file's new attributes and the dir wcc.
    pub async fn link(
        &self,
        cred: &Cred,
        ino: InodeId,
        dir: InodeId,
        name: &[u8],
    ) -> FsResult<(Attr, Wcc)> {
        todo!()
    }

    /// Lists `dir` from after `cookie` (0 = start). `verifier` is the one handed out with
    /// `cookie` (ignored when `cookie` is 0); a stale verifier fails with `BadCookie`.
    /// Returns at most `max_entries` entries, with attributes when `plus`.
    pub async fn readdir(
        &self,
        cred: &Cred,
        dir: InodeId,
        cookie: u64,
        verifier: [u8; 8],
        max_entries: usize,
        plus: bool,
    ) -> FsResult<DirPage> {
        todo!()
    }

    /// Space and file counts of the share.
    pub async fn fsstat(&self) -> FsResult<FsStat> {
        todo!()
    }
}
