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
//!
//! Zeroing a range (SMB FSCTL_SET_ZERO_DATA; NFSv3 has no equivalent) is a
//! WRITE of zeros through the same shard/WAL path, made durable before it
//! returns; it never grows the file. Which ranges hold data (SMB
//! FSCTL_QUERY_ALLOCATED_RANGES on a sparse file) is read from the content:
//! a granule that reads as all zeros is a hole, whether it was never written,
//! cut off, or zeroed.

use std::cell::RefCell;
use std::collections::HashMap;

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

/// ctime granularity of [`Fs::write_keep_mtime`] (a 100 Hz clock tick).
pub const MTIME_COARSE_MS: u64 = 10;

/// How a write stamps the file's times.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stamps {
    /// mtime and ctime set to now, always (NFS, POSIX).
    Exact,
    /// mtime left alone, ctime stamped at [`MTIME_COARSE_MS`] granularity
    /// ([`Fs::write_keep_mtime`]).
    Smb,
}

/// `stamp` is at most `ms` milliseconds before `now` (not after it).
pub(crate) fn stamped_within(stamp: Timespec, now: Timespec, ms: u64) -> bool {
    let ns = |t: Timespec| i128::from(t.sec) * 1_000_000_000 + i128::from(t.nsec);
    let age = ns(now) - ns(stamp);
    (0..i128::from(ms) * 1_000_000).contains(&age)
}

/// Most inodes [`STAMPS`] remembers per core (then it starts over).
const STAMPS_MAX: usize = 4096;

thread_local! {
    /// The mtime/ctime this core last sent to the store for a coarse write,
    /// per (share, inode). Why: while that commit is in flight (over
    /// [`MTIME_COARSE_MS`] under load) the stored stamp still looks old, and
    /// without this every write in that window would commit a stamp of its
    /// own, one store commit per write again.
    static STAMPS: RefCell<HashMap<(u32, InodeId), Timespec>> = RefCell::new(HashMap::new());
}

fn stamp_issued(share: u32, ino: InodeId, at: Timespec) {
    STAMPS.with(|m| {
        let mut m = m.borrow_mut();
        if m.len() >= STAMPS_MAX {
            m.clear();
        }
        m.insert((share, ino), at);
    });
}

fn stamp_failed(share: u32, ino: InodeId) {
    STAMPS.with(|m| m.borrow_mut().remove(&(share, ino)));
}

/// This core sent a stamp of the inode within `ms` of `now`, and the inode
/// (`ctime`, as read) changed no later than that stamp: nothing (an explicit
/// SET_INFO of the times, a chmod...) came after it, so the stamp on its way
/// stands for this write too.
fn stamp_pending(share: u32, ino: InodeId, ctime: Timespec, now: Timespec, ms: u64) -> bool {
    STAMPS.with(|m| {
        m.borrow()
            .get(&(share, ino))
            .is_some_and(|&at| ctime <= at && stamped_within(at, now, ms))
    })
}

/// Source of the zeros [`Fs::zero_range`] writes (one WRITE's worth).
static ZEROS: [u8; IO_SIZE_MAX as usize] = [0; IO_SIZE_MAX as usize];

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

    /// Writes `data` at `offset` with the requested stability; sets mtime and
    /// ctime (NFS WRITE, POSIX).
    pub async fn write(
        &self,
        cred: &Cred,
        ino: InodeId,
        offset: u64,
        data: Bytes,
        stable: Stability,
    ) -> FsResult<WriteOk> {
        self.write_stamped(cred, ino, offset, data, stable, Stamps::Exact)
            .await
    }

    /// [`Fs::write`] for SMB: leaves mtime alone (SMB moves LastWriteTime on
    /// its own delayed schedule, `smb/writetime.rs`) and stamps ctime
    /// coarsely: a write that does not grow the file, kills no set-id bit and
    /// comes within [`MTIME_COARSE_MS`] of the file's ctime leaves the
    /// metadata store alone (so does one within that tick of the stamp this
    /// core last sent the store for it, `STAMPS`), like a kernel file system
    /// stamping at its clock-tick granularity. Why: otherwise every 4 KiB
    /// WRITE waits for a metadata-store commit (an fdatasync on LMDB). The
    /// data path and its durability are unchanged; change notification still
    /// sees every write.
    pub async fn write_keep_mtime(
        &self,
        cred: &Cred,
        ino: InodeId,
        offset: u64,
        data: Bytes,
        stable: Stability,
    ) -> FsResult<WriteOk> {
        self.write_stamped(cred, ino, offset, data, stable, Stamps::Smb)
            .await
    }

    /// Sets mtime to now without a permission check: the delayed write-time
    /// update of a write the caller already performed (`smb/writetime.rs`).
    pub async fn touch_mtime(&self, ino: InodeId) -> FsResult<()> {
        self.writable()?;
        let now = Timespec::now();
        let change = AttrChange {
            mtime: Some(now),
            ..AttrChange::default()
        };
        self.meta.set_attr(ino, &change, now).await?;
        Ok(())
    }

    /// [`Fs::write`] or, with [`Stamps::Smb`], [`Fs::write_keep_mtime`].
    /// [`Fs::write_keep_mtime`].
    async fn write_stamped(
        &self,
        cred: &Cred,
        ino: InodeId,
        offset: u64,
        data: Bytes,
        stable: Stability,
        stamps: Stamps,
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
        let kill_suid_sgid = cred.uid != 0 && attr.mode & (perm::S_ISUID | perm::S_ISGID) != 0;
        let grew = if end > attr.size { filter::SIZE } else { 0 };
        let set_mtime = stamps == Stamps::Exact;
        let smb = stamps == Stamps::Smb;
        let fresh = || {
            stamped_within(attr.ctime, now, MTIME_COARSE_MS)
                || stamp_pending(self.share.id, ino, attr.ctime, now, MTIME_COARSE_MS)
        };
        if smb && grew == 0 && !kill_suid_sgid && fresh() {
            self.report_modified(ino, filter::LAST_WRITE).await;
            return Ok(WriteOk {
                wcc: wcc((&attr).into(), attr),
                count,
                committed,
            });
        }
        let change = AttrChange {
            grow_to: Some(end),
            mtime: set_mtime.then_some(now),
            touch_ctime: true,
            kill_suid_sgid,
            ..AttrChange::default()
        };
        if smb {
            stamp_issued(self.share.id, ino, now);
        }
        let (before, after) = match self.meta.set_attr(ino, &change, now).await {
            Ok(r) => r,
            Err(e) => {
                if smb {
                    stamp_failed(self.share.id, ino);
                }
                return Err(e.into());
            }
        };
        self.report_modified(ino, filter::LAST_WRITE | grew).await;
        Ok(WriteOk {
            wcc: wcc(before, after),
            count,
            committed,
        })
    }

    /// Zeroes `[offset, end)` clipped to the file size, durably (FILE_SYNC),
    /// with WRITE's permission rule; sets mtime and ctime when anything was
    /// zeroed. Returns the zeroed range's length.
    pub async fn zero_range(
        &self,
        cred: &Cred,
        ino: InodeId,
        offset: u64,
        end: u64,
    ) -> FsResult<u64> {
        self.writable()?;
        self.break_leases(ino, leases::Op::Write).await;
        let attr = self.attr(ino).await?;
        require_regular(&attr)?;
        if !perm::owner_or_root(cred, &attr) && !perm::allowed(cred, &attr, W) {
            return Err(FsError::AccessDenied);
        }
        let end = end.min(attr.size);
        if offset >= end {
            return Ok(0);
        }
        let mut at = offset;
        while at < end {
            let n = (end - at).min(ZEROS.len() as u64) as usize;
            self.router
                .write(self.key(ino), at, Bytes::from_static(&ZEROS[..n]))
                .await?;
            at += n as u64;
        }
        self.router.flush(self.key(ino)).await?;
        let now = Timespec::now();
        let change = AttrChange {
            mtime: Some(now),
            ..AttrChange::default()
        };
        self.meta.set_attr(ino, &change, now).await?;
        Ok(end - offset)
    }

    /// The ranges of `[offset, offset + len)` (clipped to the file size) that
    /// hold data, in `granule_bytes` units: a granule reading as all zeros is a
    /// hole. Ranges are sorted, merged and clipped to the query. At most
    /// `ranges_max` ranges are returned (the caller sizes it to its reply).
    pub async fn data_ranges(
        &self,
        ino: InodeId,
        offset: u64,
        len: u64,
        granule_bytes: u64,
        ranges_max: usize,
    ) -> FsResult<Vec<(u64, u64)>> {
        let attr = self.attr(ino).await?;
        require_regular(&attr)?;
        let end = offset.saturating_add(len).min(attr.size);
        let granule = granule_bytes.clamp(1, u64::from(IO_SIZE_MAX));
        let mut out: Vec<(u64, u64)> = Vec::new();
        // Read whole granules, IO_SIZE_MAX (a multiple of every power-of-two
        // granule up to it) at a time.
        let mut at = offset - offset % granule;
        while at < end && out.len() <= ranges_max {
            let n = (end - at).min(u64::from(IO_SIZE_MAX));
            let data = self.router.read(self.key(ino), at, n as u32).await?;
            for (i, g) in data.chunks(granule as usize).enumerate() {
                if g.iter().all(|&b| b == 0) {
                    continue;
                }
                let g_start = (at + i as u64 * granule).max(offset);
                let g_end = (at + (i as u64 + 1) * granule).min(end);
                match out.last_mut() {
                    Some(last) if last.0 + last.1 == g_start => last.1 = g_end - last.0,
                    _ => out.push((g_start, g_end - g_start)),
                }
            }
            at += n;
        }
        out.truncate(ranges_max);
        Ok(out)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: i64) -> Timespec {
        Timespec {
            sec: 1_000 + ms / 1000,
            nsec: (ms % 1000) as u32 * 1_000_000,
        }
    }

    #[test]
    fn a_pending_stamp_covers_writes_until_the_inode_changes_after_it() {
        let ino: InodeId = 77;
        assert!(!stamp_pending(9, ino, at(0), at(1), 10), "nothing issued");
        stamp_issued(9, ino, at(100));
        // The store still shows the old stamp: the pending one covers it.
        assert!(stamp_pending(9, ino, at(0), at(105), 10));
        assert!(!stamp_pending(9, ino, at(0), at(111), 10), "too old");
        assert!(
            !stamp_pending(9, ino, at(101), at(105), 10),
            "changed after"
        );
        assert!(!stamp_pending(8, ino, at(0), at(105), 10), "other share");
        stamp_failed(9, ino);
        assert!(!stamp_pending(9, ino, at(0), at(105), 10), "commit failed");
    }
}
