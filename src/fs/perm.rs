//! POSIX permission rules, as pure functions of credentials and attributes.
//!
//! Kept apart from the operations so every rule is written once and can be
//! tested without a store: the class (owner, group, other) is chosen first and
//! only its bits count (an owner denied by the owner bits is denied even when
//! "other" would allow); root passes every read/write check and an execute
//! check on a non-directory only when some execute bit is set.

use super::{Attr, Cred, FileType};

pub(crate) const R: u32 = 4;
pub(crate) const W: u32 = 2;
pub(crate) const X: u32 = 1;

pub(crate) const S_ISUID: u32 = 0o4000;
pub(crate) const S_ISGID: u32 = 0o2000;
pub(crate) const S_ISVTX: u32 = 0o1000;
pub(crate) const S_IXGRP: u32 = 0o0010;

/// Whether `cred` holds all of `want` (a mix of [`R`], [`W`], [`X`]) on `attr`.
pub(crate) fn allowed(cred: &Cred, attr: &Attr, want: u32) -> bool {
    if cred.uid == 0 {
        return want & X == 0 || attr.ftype == FileType::Directory || attr.mode & 0o111 != 0;
    }
    let bits = if cred.uid == attr.uid {
        attr.mode >> 6
    } else if cred.in_group(attr.gid) {
        attr.mode >> 3
    } else {
        attr.mode
    } & 7;
    bits & want == want
}

/// Whether `cred` is the owner of `attr` or root.
pub(crate) fn owner_or_root(cred: &Cred, attr: &Attr) -> bool {
    cred.uid == 0 || cred.uid == attr.uid
}

/// Whether the sticky bit of `dir` lets `cred` remove or rename `victim`:
/// only root, the directory's owner or the victim's owner may.
pub(crate) fn sticky_allows(cred: &Cred, dir: &Attr, victim: &Attr) -> bool {
    dir.mode & S_ISVTX == 0 || cred.uid == 0 || cred.uid == dir.uid || cred.uid == victim.uid
}

/// Mode and group of a new inode of type `ftype` created by `cred` in `dir` with
/// the requested `mode`: a set-gid directory passes its group on, and its set-gid
/// bit to new subdirectories; a new set-gid executable in such a directory loses
/// the bit unless the creator is in the group (Linux's `mode_strip_sgid`).
pub(crate) fn new_mode_and_gid(cred: &Cred, dir: &Attr, ftype: FileType, mode: u32) -> (u32, u32) {
    let mut mode = mode & 0o7777;
    if dir.mode & S_ISGID == 0 {
        return (mode, cred.gid);
    }
    if ftype == FileType::Directory {
        mode |= S_ISGID;
    } else if mode & (S_ISGID | S_IXGRP) == S_ISGID | S_IXGRP
        && cred.uid != 0
        && !cred.in_group(dir.gid)
    {
        mode &= !S_ISGID;
    }
    (mode, dir.gid)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::{DeviceId, Timespec};

    fn attr(ftype: FileType, mode: u32, uid: u32, gid: u32) -> Attr {
        Attr {
            ino: 2,
            ftype,
            mode,
            nlink: 1,
            uid,
            gid,
            size: 0,
            used: 0,
            rdev: DeviceId::default(),
            atime: Timespec::default(),
            mtime: Timespec::default(),
            ctime: Timespec::default(),
            btime: Timespec::default(),
            generation: 1,
        }
    }

    fn cred(uid: u32, gid: u32, gids: &[u32]) -> Cred {
        Cred {
            uid,
            gid,
            gids: gids.to_vec(),
        }
    }

    #[test]
    fn classes_are_exclusive() {
        let f = attr(FileType::Regular, 0o047, 10, 20);
        assert!(!allowed(&cred(10, 20, &[]), &f, R), "owner bits win");
        assert!(allowed(&cred(11, 20, &[]), &f, R));
        assert!(!allowed(&cred(11, 20, &[]), &f, W), "group bits win");
        assert!(allowed(&cred(11, 21, &[5, 20]), &f, R), "supplementary");
        assert!(allowed(&cred(11, 21, &[]), &f, R | W | X), "other");
    }

    #[test]
    fn root_needs_some_exec_bit_on_files_only() {
        let root = Cred::root();
        let f = attr(FileType::Regular, 0o000, 10, 20);
        assert!(allowed(&root, &f, R | W));
        assert!(!allowed(&root, &f, X));
        assert!(allowed(&root, &attr(FileType::Regular, 0o001, 1, 1), X));
        assert!(allowed(&root, &attr(FileType::Directory, 0o000, 1, 1), X));
    }

    #[test]
    fn sticky() {
        let d = attr(FileType::Directory, 0o1777, 10, 0);
        let v = attr(FileType::Regular, 0o644, 11, 0);
        assert!(sticky_allows(&cred(10, 0, &[]), &d, &v));
        assert!(sticky_allows(&cred(11, 0, &[]), &d, &v));
        assert!(sticky_allows(&Cred::root(), &d, &v));
        assert!(!sticky_allows(&cred(12, 0, &[]), &d, &v));
        let plain = attr(FileType::Directory, 0o777, 10, 0);
        assert!(sticky_allows(&cred(12, 0, &[]), &plain, &v));
    }

    #[test]
    fn setgid_inheritance() {
        let d = attr(FileType::Directory, 0o2775, 10, 50);
        let c = cred(11, 60, &[]);
        assert_eq!(
            new_mode_and_gid(&c, &d, FileType::Directory, 0o755),
            (0o2755, 50)
        );
        assert_eq!(
            new_mode_and_gid(&c, &d, FileType::Regular, 0o644),
            (0o644, 50)
        );
        assert_eq!(
            new_mode_and_gid(&c, &d, FileType::Regular, 0o2755),
            (0o755, 50)
        );
        let member = cred(11, 60, &[50]);
        assert_eq!(
            new_mode_and_gid(&member, &d, FileType::Regular, 0o2755),
            (0o2755, 50)
        );
        let plain = attr(FileType::Directory, 0o775, 10, 50);
        assert_eq!(
            new_mode_and_gid(&c, &plain, FileType::Regular, 0o2755),
            (0o2755, 60)
        );
    }
}
