//! GETATTR, SETATTR, ACCESS, READLINK and FSSTAT.
//!
//! SETATTR follows Linux (`notify_change` as knfsd drives it): chmod only by the
//! owner or root, and a non-root chmod drops `S_ISGID` when the file's group is
//! not one of the caller's; only root changes the owner (the owner may "change"
//! it to itself); the owner may change the group to one of their groups; any
//! chown of a non-directory clears `S_ISUID` and, when group-exec is set,
//! `S_ISGID` (root's too, as knfsd does); truncation needs write permission or
//! ownership (the owner override knfsd applies so that open-then-chmod works),
//! and by non-root also clears the set-id bits; setting times to "now" needs
//! ownership or write permission, setting explicit times needs ownership.

use super::leases;
use super::perm::{self, W, X};
use super::watch::filter;
use super::{
    access, wcc, Attr, Cred, FileType, Fs, FsError, FsResult, FsStat, InodeId, SetAttr, SetTime,
    Timespec, Wcc, FILE_SIZE_MAX,
};
use crate::meta::AttrChange;

impl Fs {
    /// Attributes of `ino`; `Stale` when it does not exist or `generation` does not match
    /// (pass `None` to skip the generation check).
    pub async fn getattr(&self, ino: InodeId, generation: Option<u64>) -> FsResult<Attr> {
        let attr = self.attr(ino).await?;
        if generation.is_some_and(|g| g != attr.generation) {
            return Err(FsError::Stale);
        }
        Ok(attr)
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
        self.writable()?;
        if set.size.is_some() {
            self.break_leases(ino, leases::Op::Write).await;
        }
        let attr = self.attr(ino).await?;
        if guard_ctime.is_some_and(|g| g != attr.ctime) {
            return Err(FsError::NotSync);
        }
        let now = Timespec::now();
        let change = resolve_setattr(cred, &attr, set, guard_ctime, now)?;
        if let Some(size) = set.size {
            self.router.truncate(self.key(ino), size).await?;
        }
        let (before, after) = self.meta.set_attr(ino, &change, now).await?;
        self.report_modified(ino, modified_kind(set)).await;
        Ok(wcc(before, after))
    }

    /// Which of the `requested` [`access`] bits the caller holds on `ino`.
    pub async fn access(&self, cred: &Cred, ino: InodeId, requested: u32) -> FsResult<(u32, Attr)> {
        let attr = self.attr(ino).await?;
        let may = |want| perm::allowed(cred, &attr, want);
        let is_dir = attr.ftype == FileType::Directory;
        let writable = !self.read_only();
        let mut granted = 0;
        if may(perm::R) {
            granted |= access::READ;
        }
        if is_dir {
            if may(X) {
                granted |= access::LOOKUP;
            }
            if writable && may(W | X) {
                granted |= access::MODIFY | access::EXTEND | access::DELETE;
            }
        } else {
            if writable && may(W) {
                granted |= access::MODIFY | access::EXTEND;
            }
            if may(X) {
                granted |= access::EXECUTE;
            }
        }
        Ok((granted & requested, attr))
    }

    /// Target of a symlink.
    pub async fn readlink(&self, _cred: &Cred, ino: InodeId) -> FsResult<(Vec<u8>, Attr)> {
        let attr = self.attr(ino).await?;
        if attr.ftype != FileType::Symlink {
            return Err(FsError::InvalidArgument);
        }
        let target = self.meta.readlink(ino).await?;
        Ok((target, attr))
    }

    /// Space and file counts of the share.
    pub async fn fsstat(&self) -> FsResult<FsStat> {
        let s = self.meta.stat().await?;
        let free_bytes = s.total_bytes.saturating_sub(s.used_bytes);
        let free_files = s.total_files.saturating_sub(s.used_files);
        Ok(FsStat {
            total_bytes: s.total_bytes,
            free_bytes,
            avail_bytes: free_bytes,
            total_files: s.total_files,
            free_files,
            avail_files: free_files,
        })
    }
}

/// The change-notify filter bits a SETATTR falls under.
fn modified_kind(set: &SetAttr) -> u32 {
    let mut kind = 0;
    if set.size.is_some() {
        kind |= filter::SIZE | filter::LAST_WRITE;
    }
    if set.mode.is_some() || set.uid.is_some() || set.gid.is_some() {
        kind |= filter::SECURITY;
    }
    if set.mtime != SetTime::DontChange {
        kind |= filter::LAST_WRITE;
    }
    if set.atime != SetTime::DontChange {
        kind |= filter::LAST_ACCESS;
    }
    kind
}

/// Turns a SETATTR request into the store change, enforcing the permission rules
/// documented at the top of this file.
pub(crate) fn resolve_setattr(
    cred: &Cred,
    attr: &Attr,
    set: &SetAttr,
    guard_ctime: Option<Timespec>,
    now: Timespec,
) -> FsResult<AttrChange> {
    let root = cred.uid == 0;
    let owner = perm::owner_or_root(cred, attr);
    let mut c = AttrChange {
        guard_ctime,
        ..AttrChange::default()
    };
    if let Some(uid) = set.uid {
        if !root && (uid != attr.uid || cred.uid != attr.uid) {
            return Err(FsError::NotPermitted);
        }
        c.uid = Some(uid);
    }
    if let Some(gid) = set.gid {
        if !root && !(cred.uid == attr.uid && (gid == attr.gid || cred.in_group(gid))) {
            return Err(FsError::NotPermitted);
        }
        c.gid = Some(gid);
    }
    if let Some(mode) = set.mode {
        if !owner {
            return Err(FsError::NotPermitted);
        }
        let mut mode = mode & 0o7777;
        if !root && !cred.in_group(c.gid.unwrap_or(attr.gid)) {
            mode &= !perm::S_ISGID;
        }
        c.mode = Some(mode);
    }
    if (set.uid.is_some() || set.gid.is_some()) && attr.ftype != FileType::Directory {
        c.kill_suid_sgid = true;
    }
    if let Some(size) = set.size {
        match attr.ftype {
            FileType::Regular => {}
            FileType::Directory => return Err(FsError::IsDirectory),
            _ => return Err(FsError::InvalidArgument),
        }
        if !owner && !perm::allowed(cred, attr, W) {
            return Err(FsError::AccessDenied);
        }
        if size > FILE_SIZE_MAX {
            return Err(FsError::FileTooLarge);
        }
        c.size = Some(size);
        if !root && attr.mode & (perm::S_ISUID | perm::S_ISGID) != 0 {
            c.kill_suid_sgid = true;
        }
        if set.mtime == SetTime::DontChange {
            c.mtime = Some(now);
        }
    }
    for (which, slot) in [(set.atime, &mut c.atime), (set.mtime, &mut c.mtime)] {
        match which {
            SetTime::DontChange => {}
            SetTime::ServerNow => {
                if !owner && !perm::allowed(cred, attr, W) {
                    return Err(FsError::AccessDenied);
                }
                *slot = Some(now);
            }
            SetTime::Client(t) => {
                if !owner {
                    return Err(FsError::NotPermitted);
                }
                *slot = Some(t);
            }
        }
    }
    if let Some(t) = set.btime {
        if !owner {
            return Err(FsError::NotPermitted);
        }
        c.btime = Some(t);
    }
    if let Some(t) = set.ctime {
        if !owner {
            return Err(FsError::NotPermitted);
        }
        c.ctime = Some(t);
    }
    Ok(c)
}
