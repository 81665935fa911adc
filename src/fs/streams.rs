//! Named streams (SMB alternate data streams) of files and directories.
//!
//! A stream is a hidden regular inode linked from its base through the
//! metadata store's stream table (`meta::streams`): its content is read and
//! written by its own inode id through the normal shard/WAL/block path, so it
//! is as durable as file data, and the protocol layer opens it like a file.
//! This module adds the policy the store leaves out: names are looked up case
//! insensitively (the key is the lower-cased name, as Windows and Samba
//! compare stream names), permission checks against the base, and content
//! clean-up when a stream or its base goes.

use super::{perm, Cred, Fs, FsError, FsResult};
use crate::fs::{Attr, FileType, InodeId, Timespec};
use crate::meta::{MetaError, NewInode, OnExists, StreamRecord};

/// Longest stream name accepted (NTFS allows 255 UTF-16 units).
pub const STREAM_NAME_LEN_MAX: usize = 255 * 3;

/// Why a stream operation failed, before it becomes an [`FsError`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StreamError {
    /// An empty name, or one with `/`, `\`, `:` or NUL, or too long.
    #[error("invalid stream name")]
    InvalidName,
    /// The stream does not exist.
    #[error("no such stream")]
    NotFound,
    /// The target name of a rename is taken.
    #[error("stream exists")]
    Exists,
}

impl From<StreamError> for FsError {
    fn from(e: StreamError) -> Self {
        match e {
            StreamError::InvalidName => FsError::InvalidArgument,
            StreamError::NotFound => FsError::NotFound,
            StreamError::Exists => FsError::Exists,
        }
    }
}

/// The lookup key of a stream name: its lower-cased form.
pub fn stream_key(name: &[u8]) -> Result<Vec<u8>, StreamError> {
    if name.is_empty()
        || name.len() > STREAM_NAME_LEN_MAX
        || name.iter().any(|b| matches!(b, 0 | b'/' | b'\\' | b':'))
    {
        return Err(StreamError::InvalidName);
    }
    Ok(String::from_utf8_lossy(name).to_lowercase().into_bytes())
}

impl Fs {
    /// The stream `name` of `base`, if it exists.
    pub async fn lookup_stream(
        &self,
        base: InodeId,
        name: &[u8],
    ) -> FsResult<Option<StreamRecord>> {
        let key = stream_key(name)?;
        Ok(self.meta.lookup_stream(base, &key).await?)
    }

    /// Every named stream of `base`.
    pub async fn list_streams(&self, base: InodeId) -> FsResult<Vec<StreamRecord>> {
        Ok(self.meta.list_streams(base).await?)
    }

    /// Opens the stream `name` of `base`, creating it (owned by `cred`, mode
    /// of the base) when absent; returns it and whether it existed. Creating
    /// needs write permission on the base.
    pub async fn create_stream(
        &self,
        cred: &Cred,
        base: InodeId,
        name: &[u8],
    ) -> FsResult<(StreamRecord, bool)> {
        let key = stream_key(name)?;
        if let Some(found) = self.meta.lookup_stream(base, &key).await? {
            return Ok((found, true));
        }
        self.writable()?;
        let base_attr = self.attr(base).await?;
        if !perm::allowed(cred, &base_attr, perm::W) && !perm::owner_or_root(cred, &base_attr) {
            return Err(FsError::AccessDenied);
        }
        let new = NewInode {
            ftype: FileType::Regular,
            mode: base_attr.mode & 0o666,
            uid: cred.uid,
            gid: base_attr.gid,
            rdev: Default::default(),
            target: Vec::new(),
            verifier: None,
            on_exists: OnExists::Fail,
        };
        let created = self
            .meta
            .create_stream(base, &key, name, &new, Timespec::now())
            .await?;
        Ok((created.stream, created.existed))
    }

    /// Removes the stream `name` of `base` and drops its content.
    pub async fn remove_stream(&self, base: InodeId, name: &[u8]) -> FsResult<()> {
        self.writable()?;
        let key = stream_key(name)?;
        match self.meta.remove_stream(base, &key).await? {
            Some(attr) => {
                self.drop_content(&attr);
                Ok(())
            }
            None => Err(StreamError::NotFound.into()),
        }
    }

    /// Removes every named stream of `base` (an overwrite of the file) and
    /// drops their content.
    pub async fn remove_all_streams(&self, base: InodeId) -> FsResult<()> {
        for a in self.meta.drop_streams(base).await? {
            self.drop_content(&a);
        }
        Ok(())
    }

    /// Renames the stream `from` of `base` to `to` (replacing an existing
    /// one only when `replace`).
    pub async fn rename_stream(
        &self,
        base: InodeId,
        from: &[u8],
        to: &[u8],
        replace: bool,
    ) -> FsResult<()> {
        self.writable()?;
        let (from_key, to_key) = (stream_key(from)?, stream_key(to)?);
        match self
            .meta
            .rename_stream(base, &from_key, &to_key, to, replace)
            .await
        {
            Ok(Some(replaced)) => {
                self.drop_content(&replaced);
                Ok(())
            }
            Ok(None) => Ok(()),
            Err(MetaError::NoEntry) => Err(StreamError::NotFound.into()),
            Err(MetaError::Exists) => Err(StreamError::Exists.into()),
            Err(e) => Err(e.into()),
        }
    }

    /// Removes the streams of `base`, which is gone, and drops their content;
    /// runs in the background like the content drop of the base itself.
    pub(super) fn drop_streams_of(&self, base: &Attr) {
        let (meta, router, share) = (self.meta.clone(), self.router.clone(), self.share.id);
        let ino = base.ino;
        glommio::spawn_local(async move {
            match meta.drop_streams(ino).await {
                Ok(gone) => {
                    for a in gone {
                        let key = dittofs_shards::ContentKey { share, ino: a.ino };
                        if let Err(e) = router.remove(key).await {
                            log::warn!("share {share}: dropping stream {} failed: {e}", a.ino);
                        }
                    }
                }
                Err(e) => log::warn!("share {share}: dropping streams of {ino} failed: {e}"),
            }
        })
        .detach();
    }
}
