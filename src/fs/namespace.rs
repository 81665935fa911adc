//! LOOKUP, CREATE, MKDIR, SYMLINK, MKNOD, REMOVE, RMDIR, RENAME and LINK.
//!
//! Each operation checks permissions on a snapshot (write + search on the
//! directories, the sticky bit, write access to a directory that changes
//! parent), then asks the store for one atomic step pinned to what was checked.
//!
//! Decisions worth knowing:
//! * New inodes belong to the caller's uid and gid, or the directory's gid in a
//!   set-gid directory; modes default to 0644 (files, special files), 0755
//!   (directories) and 0777 (symlinks); NFS clients apply the umask themselves.
//!   Attributes other than the mode given at creation (owner, size, times) are
//!   applied afterwards with the SETATTR rules, as knfsd does.
//! * An UNCHECKED create of an existing regular file applies only the size.
//! * Exclusive create remembers the verifier in the store, not in the times.
//! * Device nodes may only be made by root (`NotPermitted`), like CAP_MKNOD.
//! * LINK to a directory is `NotPermitted` (Linux's EPERM); `rmdir ..` is
//!   `NotEmpty`, any other use of `.` or `..` as a name to change is
//!   `InvalidArgument`; an empty symlink target is `NotFound` (Linux's ENOENT).

use super::leases;
use super::perm::{self, W, X};
use super::watch;
use super::watch_report::name_kind;
use super::{
    check_name, wcc, Attr, CreateMode, CreateOk, Cred, FileType, Fs, FsError, FsResult, InodeId,
    SetAttr, SpecialKind, Wcc, CONFLICT_RETRIES, NAME_LEN_MAX, SYMLINK_LEN_MAX,
};
use crate::fs::{DeviceId, Timespec};
use crate::meta::{Created, MetaError, NewInode, OnExists, RemoveKind, RenameArgs};

impl Fs {
    /// Looks `name` up in `dir` (`.` and `..` included; `..` of the root is the root).
    pub async fn lookup(&self, cred: &Cred, dir: InodeId, name: &[u8]) -> FsResult<Attr> {
        if name.len() > NAME_LEN_MAX {
            return Err(FsError::NameTooLong);
        }
        if name != b"." && name != b".." {
            check_name(name)?;
        }
        let dir_attr = self.searchable_dir(cred, dir).await?;
        if name == b"." || (name == b".." && dir == self.root) {
            return Ok(dir_attr);
        }
        let attr = self.meta.lookup(dir, name).await?;
        if name != b".." {
            self.note_location(attr.ino, dir, name);
        }
        Ok(attr)
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
        let (on_exists, verifier) = match how {
            CreateMode::Unchecked => (OnExists::ReturnRegular, None),
            CreateMode::Guarded => (OnExists::Fail, None),
            CreateMode::Exclusive(v) => (OnExists::ReturnIfVerifier(v), Some(v)),
        };
        let mode = set.mode.unwrap_or(0o644);
        let created = self
            .make(cred, dir, name, FileType::Regular, mode, |new| {
                new.on_exists = on_exists;
                new.verifier = verifier;
            })
            .await?;
        if created.existed {
            let mut attr = created.attr;
            if how == CreateMode::Unchecked && set.size.is_some() {
                let size_only = SetAttr {
                    size: set.size,
                    ..SetAttr::default()
                };
                let w = self.setattr(cred, attr.ino, &size_only, None).await?;
                attr = w.after.unwrap_or(attr);
            }
            return Ok(CreateOk {
                attr,
                dir_wcc: wcc(created.dir.before, created.dir.after),
            });
        }
        self.finish(cred, created, set).await
    }

    /// Creates a directory.
    pub async fn mkdir(
        &self,
        cred: &Cred,
        dir: InodeId,
        name: &[u8],
        set: &SetAttr,
    ) -> FsResult<CreateOk> {
        let mode = set.mode.unwrap_or(0o755);
        let created = self
            .make(cred, dir, name, FileType::Directory, mode, |_| {})
            .await?;
        self.finish(cred, created, set).await
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
        if target.is_empty() {
            return Err(FsError::NotFound);
        }
        if target.len() > SYMLINK_LEN_MAX {
            return Err(FsError::NameTooLong);
        }
        let created = self
            .make(cred, dir, name, FileType::Symlink, 0o777, |new| {
                new.target = target.to_vec();
            })
            .await?;
        let rest = SetAttr {
            mode: None,
            size: None,
            ..set.clone()
        };
        self.finish(cred, created, &rest).await
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
        let (ftype, rdev) = match kind {
            SpecialKind::Fifo => (FileType::Fifo, DeviceId::default()),
            SpecialKind::Socket => (FileType::Socket, DeviceId::default()),
            SpecialKind::Char(d) => (FileType::CharDevice, d),
            SpecialKind::Block(d) => (FileType::BlockDevice, d),
        };
        if matches!(kind, SpecialKind::Char(_) | SpecialKind::Block(_)) {
            self.writable()?;
            if cred.uid != 0 {
                return Err(FsError::NotPermitted);
            }
        }
        let mode = set.mode.unwrap_or(0o644);
        let created = self
            .make(cred, dir, name, ftype, mode, |new| new.rdev = rdev)
            .await?;
        let rest = SetAttr {
            size: None,
            ..set.clone()
        };
        self.finish(cred, created, &rest).await
    }

    /// Removes a non-directory name.
    pub async fn remove(&self, cred: &Cred, dir: InodeId, name: &[u8]) -> FsResult<Wcc> {
        self.break_leases_at(dir, name, leases::Op::Remove).await;
        self.unlink(cred, dir, name, RemoveKind::NonDirectory).await
    }

    /// Removes an empty directory.
    pub async fn rmdir(&self, cred: &Cred, dir: InodeId, name: &[u8]) -> FsResult<Wcc> {
        if name == b".." {
            return Err(FsError::NotEmpty);
        }
        self.unlink(cred, dir, name, RemoveKind::Directory).await
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
        self.writable()?;
        check_name(from_name)?;
        check_name(to_name)?;
        self.break_leases_at(from_dir, from_name, leases::Op::Rename)
            .await;
        self.break_leases_at(to_dir, to_name, leases::Op::Remove)
            .await;
        for _ in 0..CONFLICT_RETRIES {
            let from = self.changeable_dir(cred, from_dir).await?;
            let to = self.changeable_dir(cred, to_dir).await?;
            let src = self.meta.lookup(from_dir, from_name).await?;
            let dst = match self.meta.lookup(to_dir, to_name).await {
                Ok(a) => Some(a),
                Err(MetaError::NoEntry) => None,
                Err(e) => return Err(e.into()),
            };
            if !perm::sticky_allows(cred, &from, &src)
                || dst
                    .as_ref()
                    .is_some_and(|d| !perm::sticky_allows(cred, &to, d))
            {
                return Err(FsError::NotPermitted);
            }
            if src.ftype == FileType::Directory
                && from_dir != to_dir
                && !perm::allowed(cred, &src, W)
            {
                return Err(FsError::AccessDenied);
            }
            let args = RenameArgs {
                from_dir,
                from_name,
                to_dir,
                to_name,
                expect_src: Some(src.ino),
                expect_dst: Some(dst.map(|d| d.ino)),
            };
            match self.meta.rename(args, Timespec::now()).await {
                Err(MetaError::Conflict) => continue,
                Err(e) => return Err(e.into()),
                Ok(r) => {
                    let (old, new) = if from_dir == to_dir {
                        (
                            watch::action::RENAMED_OLD_NAME,
                            watch::action::RENAMED_NEW_NAME,
                        )
                    } else {
                        (watch::action::REMOVED, watch::action::ADDED)
                    };
                    if let Some(gone) = r.replaced.as_ref() {
                        self.note_gone(gone.attr.ino, gone.attr.ftype);
                    }
                    self.note_location(src.ino, to_dir, to_name);
                    let kind = name_kind(src.ftype);
                    self.report(from_dir, from_name, old, kind).await;
                    self.report(to_dir, to_name, new, kind).await;
                    if src.ftype != FileType::Directory {
                        // What Windows adds after renaming a file (not a
                        // directory); smbtorture smb2.notify.mask-change.
                        self.report_merged(
                            to_dir,
                            to_name,
                            watch::action::MODIFIED,
                            watch::filter::ATTRIBUTES,
                            watch::Merge::Implied,
                        )
                        .await;
                    }
                    if let Some(gone) = r.replaced.as_ref().filter(|u| u.last_link) {
                        self.drop_content(&gone.attr);
                    }
                    return Ok((
                        wcc(r.from_dir.before, r.from_dir.after),
                        wcc(r.to_dir.before, r.to_dir.after),
                    ));
                }
            }
        }
        Err(FsError::Retry)
    }

    /// Adds the hard link `dir/name` to `ino`; returns the file's new attributes and the dir wcc.
    pub async fn link(
        &self,
        cred: &Cred,
        ino: InodeId,
        dir: InodeId,
        name: &[u8],
    ) -> FsResult<(Attr, Wcc)> {
        self.writable()?;
        check_name(name)?;
        let attr = self.attr(ino).await?;
        if attr.ftype == FileType::Directory {
            return Err(FsError::NotPermitted);
        }
        self.changeable_dir(cred, dir).await?;
        let linked = self.meta.link(ino, dir, name, Timespec::now()).await?;
        self.note_location(ino, dir, name);
        self.report(dir, name, watch::action::ADDED, name_kind(attr.ftype))
            .await;
        Ok((linked.attr, wcc(linked.dir.before, linked.dir.after)))
    }

    /// The directory `dir`, which the caller may search.
    async fn searchable_dir(&self, cred: &Cred, dir: InodeId) -> FsResult<Attr> {
        let attr = self.attr(dir).await?;
        if attr.ftype != FileType::Directory {
            return Err(FsError::NotDirectory);
        }
        if !perm::allowed(cred, &attr, X) {
            return Err(FsError::AccessDenied);
        }
        Ok(attr)
    }

    /// The directory `dir`, in which the caller may add and remove names.
    pub(super) async fn changeable_dir(&self, cred: &Cred, dir: InodeId) -> FsResult<Attr> {
        let attr = self.searchable_dir(cred, dir).await?;
        if !perm::allowed(cred, &attr, W) {
            return Err(FsError::AccessDenied);
        }
        Ok(attr)
    }

    /// Creates `name` in `dir` with the ownership rules; `adjust` fills in the
    /// type-specific parts of the new inode.
    async fn make(
        &self,
        cred: &Cred,
        dir: InodeId,
        name: &[u8],
        ftype: FileType,
        mode: u32,
        adjust: impl FnOnce(&mut NewInode),
    ) -> FsResult<Created> {
        self.writable()?;
        check_name(name)?;
        let dir_attr = self.changeable_dir(cred, dir).await?;
        let (mode, gid) = perm::new_mode_and_gid(cred, &dir_attr, ftype, mode);
        let mut new = NewInode {
            ftype,
            mode,
            uid: cred.uid,
            gid,
            rdev: DeviceId::default(),
            target: Vec::new(),
            verifier: None,
            on_exists: OnExists::Fail,
        };
        adjust(&mut new);
        let created = self.meta.create(dir, name, &new, Timespec::now()).await?;
        self.note_location(created.attr.ino, dir, name);
        if !created.existed {
            self.report(dir, name, watch::action::ADDED, name_kind(ftype))
                .await;
        }
        Ok(created)
    }

    /// Applies the creation attributes other than the mode with the SETATTR rules.
    async fn finish(&self, cred: &Cred, created: Created, set: &SetAttr) -> FsResult<CreateOk> {
        let rest = SetAttr {
            mode: None,
            ..set.clone()
        };
        let dir_wcc = wcc(created.dir.before, created.dir.after);
        let mut attr = created.attr;
        let trivial_size = rest.size.is_none_or(|s| s == attr.size);
        if rest.uid.is_some()
            || rest.gid.is_some()
            || !trivial_size
            || rest.atime != Default::default()
            || rest.mtime != Default::default()
            || rest.btime.is_some()
            || rest.ctime.is_some()
        {
            let w = self.setattr(cred, attr.ino, &rest, None).await?;
            attr = w.after.unwrap_or(attr);
        }
        Ok(CreateOk { attr, dir_wcc })
    }

    /// REMOVE and RMDIR: permission and sticky checks, then one store step.
    async fn unlink(
        &self,
        cred: &Cred,
        dir: InodeId,
        name: &[u8],
        kind: RemoveKind,
    ) -> FsResult<Wcc> {
        self.writable()?;
        check_name(name)?;
        for _ in 0..CONFLICT_RETRIES {
            let dir_attr = self.changeable_dir(cred, dir).await?;
            let victim = self.meta.lookup(dir, name).await?;
            if !perm::sticky_allows(cred, &dir_attr, &victim) {
                return Err(FsError::NotPermitted);
            }
            match self
                .meta
                .remove(dir, name, kind, Some(victim.ino), Timespec::now())
                .await
            {
                Err(MetaError::Conflict) => continue,
                Err(e) => return Err(e.into()),
                Ok(r) => {
                    if r.victim.last_link || victim.ftype == FileType::Directory {
                        self.note_gone(victim.ino, victim.ftype);
                    }
                    self.report(dir, name, watch::action::REMOVED, name_kind(victim.ftype))
                        .await;
                    if r.victim.last_link {
                        self.drop_content(&r.victim.attr);
                    }
                    return Ok(wcc(r.dir.before, r.dir.after));
                }
            }
        }
        Err(FsError::Retry)
    }
}
