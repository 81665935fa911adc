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
//!
//! The methods are spread over one file per operation family: `attr` (GETATTR,
//! SETATTR, ACCESS, READLINK, FSSTAT), `namespace` (LOOKUP, CREATE & co, REMOVE,
//! RENAME, LINK), `io` (READ, WRITE, COMMIT), `readdir`, and the permission rules
//! in `perm`.
//!
//! Permission checks that depend on what a mutation touches (sticky directories,
//! moving a directory to a new parent) are made on a snapshot and pinned with the
//! store's `expect` preconditions; when the namespace changed meanwhile the store
//! answers `Conflict` and the operation is checked again, at most
//! [`CONFLICT_RETRIES`] times before the client is told to retry.

mod attr;
pub mod dirleases;
mod dos;
pub mod error;
mod io;
pub mod leases;
pub mod locks;
mod namespace;
mod perm;
mod readdir;
pub mod sharemode;
pub mod streams;
pub mod types;
pub mod unlinked;
pub mod watch;
mod watch_report;

pub use error::{FsError, FsResult};
pub use types::*;

use std::rc::Rc;
use std::sync::Arc;

use bytes::Bytes;
use dittofs_shards::{ContentError, ContentKey, Router};

use crate::meta::{MetaError, MetadataStore};

/// Largest READ or WRITE the core accepts in one call (also advertised in FSINFO).
pub const IO_SIZE_MAX: u32 = 1024 * 1024;
/// Longest name of one directory entry, in bytes.
pub const NAME_LEN_MAX: usize = 255;
/// Longest symlink target, in bytes.
pub const SYMLINK_LEN_MAX: usize = 4096;
/// Most hard links one inode may have.
pub const LINK_MAX: u32 = 32_000;
/// How often a mutation is re-checked after the store reported a concurrent change.
pub const CONFLICT_RETRIES: usize = 8;
/// Largest file size (and offset + length of a write) the core accepts.
pub const FILE_SIZE_MAX: u64 = i64::MAX as u64;

/// The single mapping of metadata store errors to core errors.
impl From<MetaError> for FsError {
    fn from(e: MetaError) -> FsError {
        match e {
            MetaError::NoInode(_) => FsError::Stale,
            MetaError::NoEntry => FsError::NotFound,
            MetaError::Exists => FsError::Exists,
            MetaError::NotDirectory => FsError::NotDirectory,
            MetaError::IsDirectory => FsError::IsDirectory,
            MetaError::NotEmpty => FsError::NotEmpty,
            MetaError::InvalidArgument => FsError::InvalidArgument,
            MetaError::TooManyLinks => FsError::TooManyLinks,
            MetaError::NotSync => FsError::NotSync,
            MetaError::Conflict => FsError::Retry,
            MetaError::NoSpace => FsError::NoSpace,
            MetaError::Backend(msg) => FsError::Io(msg),
        }
    }
}

/// The single mapping of content shard errors to core errors.
impl From<ContentError> for FsError {
    fn from(e: ContentError) -> FsError {
        match e {
            ContentError::NoSpace => FsError::NoSpace,
            ContentError::Io(msg) => FsError::Io(msg),
            ContentError::TooLarge => FsError::FileTooLarge,
            ContentError::UnknownShare(share) => {
                FsError::ServerFault(format!("no block store for share {share}"))
            }
            ContentError::ShardGone => FsError::Retry,
        }
    }
}

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
    /// `read_only` now in force: starts as `share.read_only`, shared with the
    /// reload path through [`Fs::with_read_only_flag`].
    read_only: Arc<std::sync::atomic::AtomicBool>,
    meta: Arc<dyn MetadataStore>,
    router: Rc<Router>,
    root: InodeId,
}

impl Fs {
    /// Builds the core for `share`, whose root directory is `root` in `meta`.
    pub fn new(
        share: ShareInfo,
        meta: Arc<dyn MetadataStore>,
        router: Rc<Router>,
        root: InodeId,
    ) -> Fs {
        Fs {
            read_only: Arc::new(std::sync::atomic::AtomicBool::new(share.read_only)),
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

    /// Follows `flag` (set by a configuration reload) for `read_only`.
    pub fn with_read_only_flag(mut self, flag: Arc<std::sync::atomic::AtomicBool>) -> Fs {
        self.read_only = flag;
        self
    }

    /// Whether the share refuses every change now.
    pub fn read_only(&self) -> bool {
        self.read_only.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Inode of the share's root directory.
    pub fn root(&self) -> InodeId {
        self.root
    }

    /// `ReadOnly` when the share refuses changes.
    fn writable(&self) -> FsResult<()> {
        if self.read_only() {
            Err(FsError::ReadOnly)
        } else {
            Ok(())
        }
    }

    /// Attributes of `ino`; a missing inode is a stale handle.
    async fn attr(&self, ino: InodeId) -> FsResult<Attr> {
        Ok(self.meta.get(ino).await?)
    }

    /// Content key of `ino` in this share.
    fn key(&self, ino: InodeId) -> ContentKey {
        ContentKey {
            share: self.share.id,
            ino,
        }
    }

    /// Drops the content of an inode that lost its last link. The name is already
    /// gone, so a failure here is logged, not reported: the content is orphaned.
    ///
    /// Runs as a detached task, so REMOVE and RENAME answer once the metadata
    /// change is durable without also waiting for the owner shard's block map
    /// drop and object deletes. That adds no crash state: a crash between the
    /// durable unlink and the drop already left a map of a gone inode and its
    /// objects, which the start-up sweep deletes. Inode numbers are never reused,
    /// so nothing can write the key again meanwhile.
    fn drop_content(&self, attr: &Attr) {
        // A gone file or directory takes its named streams with it.
        self.drop_streams_of(attr);
        if attr.ftype != FileType::Regular {
            return;
        }
        let (router, key, share) = (self.router.clone(), self.key(attr.ino), self.share.id);
        glommio::spawn_local(async move {
            if let Err(e) = router.remove(key).await {
                log::warn!(
                    "share {share}: dropping content of inode {} failed: {e}",
                    key.ino
                );
            }
        })
        .detach();
    }
}

/// Checks a name that is to be created, removed or renamed.
fn check_name(name: &[u8]) -> FsResult<()> {
    if name.len() > NAME_LEN_MAX {
        return Err(FsError::NameTooLong);
    }
    if name.is_empty() || name == b"." || name == b".." || name.contains(&b'/') || name.contains(&0)
    {
        return Err(FsError::InvalidArgument);
    }
    Ok(())
}

/// Wcc data from a store's before/after pair.
fn wcc(before: PreOpAttr, after: Attr) -> Wcc {
    Wcc {
        before: Some(before),
        after: Some(after),
    }
}

#[cfg(test)]
mod tests;
