//! READ, WRITE and COMMIT: content goes through the owner shard of the file.
//!
//! Like knfsd, the owner of a file may read and write it whatever its mode (so
//! that a file opened and then chmod'ed keeps working; the client checks the
//! mode at open), and a file that may be executed may also be read (clients
//! read binaries to run them). READ leaves atime alone: updating it would turn
//! every read into a metadata write. WRITE grows the size, sets mtime and ctime
//! and, for callers other than root, clears the set-id bits as Linux does.
//!
//! Stability: a WRITE asking for DATA_SYNC or FILE_SYNC, and COMMIT, wait for
//! `Router::flush` and then report FILE_SYNC (the metadata change of a write is
//! itself durable when the store call returns); UNSTABLE stays UNSTABLE.

use bytes::Bytes;

use super::leases;
use super::perm::{self, R, W, X};
use super::watch::filter;
use super::{
    wcc, Cred, FileType, Fs, FsError, FsResult, InodeId, ReadOk, Stability, Timespec, Wcc, WriteOk,
    FILE_SIZE_MAX, IO_SIZE_MAX,
};
use crate::fs::Attr;
use crate::meta::AttrChange;

/// `IsDirectory` for directories, `InvalidArgument` for other non-regular files.
fn require_regular(attr: &Attr) -> FsResult<()> {
    match attr.ftype {
        FileType::Regular => Ok(()),
        FileType::Directory => Err(FsError::IsDirectory),
        _ => Err(FsError::InvalidArgument),
    }
}

impl Fs {
    /// Reads up to `count` bytes at `offset` (clamped to the file size).
    pub async fn read(
        &self,
        cred: &Cred,
        ino: InodeId,
        offset: u64,
        count: u32,
    ) -> FsResult<ReadOk> {
        self.break_leases(ino, leases::Op::Read).await;
        let attr = self.attr(ino).await?;
        require_regular(&attr)?;
        if !perm::owner_or_root(cred, &attr)
            && !perm::allowed(cred, &attr, R)
            && !perm::allowed(cred, &attr, X)
        {
            return Err(FsError::AccessDenied);
        }
        let count = count.min(IO_SIZE_MAX);
        if offset >= attr.size || count == 0 {
            return Ok(ReadOk {
                data: Bytes::new(),
                eof: offset >= attr.size,
                attr,
            });
        }
        let len = u32::try_from((attr.size - offset).min(u64::from(count))).unwrap_or(count);
        let data = self.router.read(self.key(ino), offset, len).await?;
        Ok(ReadOk {
            eof: offset + u64::from(len) >= attr.size,
            data,
            attr,
        })
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
        self.writable()?;
        self.break_leases(ino, leases::Op::Write).await;
        let attr = self.attr(ino).await?;
        require_regular(&attr)?;
        if !perm::owner_or_root(cred, &attr) && !perm::allowed(cred, &attr, W) {
            return Err(FsError::AccessDenied);
        }
        let count = u32::try_from(data.len()).map_err(|_| FsError::InvalidArgument)?;
        let end = offset
            .checked_add(u64::from(count))
            .filter(|&end| end <= FILE_SIZE_MAX)
            .ok_or(FsError::FileTooLarge)?;
        if count > 0 {
            self.router.write(self.key(ino), offset, data).await?;
        }
        let committed = if stable == Stability::Unstable {
            Stability::Unstable
        } else {
            self.router.flush(self.key(ino)).await?;
            Stability::FileSync
        };
        if count == 0 {
            return Ok(WriteOk {
                wcc: wcc((&attr).into(), attr),
                count,
                committed,
            });
        }
        let now = Timespec::now();
        let change = AttrChange {
            grow_to: Some(end),
            mtime: Some(now),
            kill_suid_sgid: cred.uid != 0 && attr.mode & (perm::S_ISUID | perm::S_ISGID) != 0,
            ..AttrChange::default()
        };
        let (before, after) = self.meta.set_attr(ino, &change, now).await?;
        let grew = if end > attr.size { filter::SIZE } else { 0 };
        self.report_modified(ino, filter::LAST_WRITE | grew).await;
        Ok(WriteOk {
            wcc: wcc(before, after),
            count,
            committed,
        })
    }

    /// Makes everything written to `ino` stable (COMMIT / FLUSH).
    pub async fn commit(&self, _cred: &Cred, ino: InodeId) -> FsResult<Wcc> {
        let attr = self.attr(ino).await?;
        if attr.ftype == FileType::Regular {
            self.router.flush(self.key(ino)).await?;
        }
        Ok(wcc((&attr).into(), attr))
    }
}
