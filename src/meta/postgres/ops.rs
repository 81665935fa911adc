//! The namespace mutations, each one transaction on the pool: every
//! precondition is checked before the first write, exactly as the memory store
//! does, so both stores answer identically (the conformance suite checks it).
//! Atomicity against concurrent callers: each job runs READ COMMITTED and first
//! locks (`FOR UPDATE`, ascending ids) the directories whose entries it reads or
//! changes, then the inodes whose attributes it changes; every writer of a
//! directory's entries holds that directory's row lock, so the checks stay true
//! until commit. Moving a directory to another parent also takes a global
//! advisory lock (the ancestry walk). Deadlocks and lock-busy errors roll back
//! and the pool re-runs the job from the start.

use postgres::Transaction;

use super::pool::TxResult;
use super::rows::{
    add_entry_and_touch, delete_entry, dir_node, entry, ftype_code, has_entries, i, insert_entry,
    is_within, lock, lock_dir_moves, lock_dir_node, node, store_attr, touch_dir, unlink_inode,
};
use crate::fs::{Attr, FileType, InodeId, PreOpAttr, Timespec, LINK_MAX};
use crate::meta::{
    AttrChange, Created, DirChange, Linked, MetaError, MetaResult, NewInode, OnExists, RemoveKind,
    Removed, Renamed, FIRST_COOKIE,
};

/// Owned form of [`crate::meta::RenameArgs`] (jobs outlive the caller's borrows).
#[derive(Debug, Clone)]
pub struct RenameOwned {
    pub from_dir: InodeId,
    pub from_name: Vec<u8>,
    pub to_dir: InodeId,
    pub to_name: Vec<u8>,
    pub expect_src: Option<InodeId>,
    pub expect_dst: Option<Option<InodeId>>,
}

pub fn check_entry_name(name: &[u8]) -> MetaResult<()> {
    if name.is_empty() || name == b"." || name == b".." || name.contains(&b'/') || name.contains(&0)
    {
        return Err(MetaError::InvalidArgument);
    }
    Ok(())
}

fn pre(a: &Attr) -> PreOpAttr {
    PreOpAttr::from(a)
}

/// Inserts a new inode row (not yet linked anywhere); `parent` for directories.
pub fn insert_inode(
    tx: &mut Transaction<'_>,
    generation: u64,
    new: &NewInode,
    parent: Option<InodeId>,
    now: Timespec,
) -> TxResult<Attr> {
    let ino: i64 = tx.query_one("SELECT nextval('inode_ids')", &[])?.get(0);
    let ino = ino as InodeId;
    let is_dir = new.ftype == FileType::Directory;
    let attr = new.initial_attr(ino, generation, now);
    let parent = if is_dir { parent.unwrap_or(ino) } else { 0 };
    let target: Option<&[u8]> = (new.ftype == FileType::Symlink).then_some(&new.target[..]);
    let verifier: Option<&[u8]> = new.verifier.as_ref().map(|v| &v[..]);
    let next_cookie: Option<i64> = is_dir.then_some(FIRST_COOKIE as i64);
    let (sec, nsec) = (now.sec, i64::from(now.nsec));
    tx.execute(
        "INSERT INTO inodes (ino, ftype, mode, nlink, uid, gid, size, used, rdev_major, \
         rdev_minor, atime_sec, atime_nsec, mtime_sec, mtime_nsec, ctime_sec, ctime_nsec, \
         btime_sec, btime_nsec, generation, parent, target, verifier, next_cookie) VALUES \
         ($1, $2, $3, $4, $5, $6, $7, $7, $8, $9, $10, $11, $10, $11, $10, $11, $10, $11, \
          $12, $13, $14, $15, $16)",
        &[
            &i(ino),
            &ftype_code(new.ftype),
            &i64::from(attr.mode),
            &i64::from(attr.nlink),
            &i64::from(attr.uid),
            &i64::from(attr.gid),
            &i(attr.size),
            &i64::from(attr.rdev.major),
            &i64::from(attr.rdev.minor),
            &sec,
            &nsec,
            &i(generation),
            &i(parent),
            &target,
            &verifier,
            &next_cookie,
        ],
    )?;
    Ok(attr)
}

fn verifier_of(tx: &mut Transaction<'_>, ino: InodeId) -> TxResult<Option<Vec<u8>>> {
    Ok(tx
        .query_opt("SELECT verifier FROM inodes WHERE ino = $1", &[&i(ino)])?
        .and_then(|r| r.get::<_, Option<Vec<u8>>>(0)))
}

pub fn create(
    tx: &mut Transaction<'_>,
    generation: u64,
    dir: InodeId,
    name: &[u8],
    new: &NewInode,
    now: Timespec,
) -> TxResult<Created> {
    check_entry_name(name)?;
    // The new inode row goes in before the directory is locked, so the lock is
    // held for as few round trips as possible (creates in one directory
    // serialize on it). Every failure below rolls the row back; the one success
    // that does not use it (the name exists) deletes it.
    let fresh = insert_inode(tx, generation, new, Some(dir), now)?;
    let d = lock_dir_node(tx, dir)?;
    let before = pre(&d.attr);
    if let Some(ino) = entry(tx, dir, name)? {
        let existing = node(tx, ino)?;
        let allowed = match new.on_exists {
            OnExists::Fail => false,
            OnExists::ReturnRegular => existing.attr.ftype == FileType::Regular,
            OnExists::ReturnIfVerifier(v) => verifier_of(tx, ino)?.as_deref() == Some(&v[..]),
        };
        if !allowed {
            return Err(MetaError::Exists.into());
        }
        tx.execute("DELETE FROM inodes WHERE ino = $1", &[&i(fresh.ino)])?;
        return Ok(Created {
            attr: existing.attr,
            existed: true,
            dir: DirChange {
                before,
                after: d.attr,
            },
        });
    }
    let is_dir = new.ftype == FileType::Directory;
    if is_dir && d.attr.nlink >= LINK_MAX {
        return Err(MetaError::TooManyLinks.into());
    }
    let after = add_entry_and_touch(tx, dir, name, fresh.ino, now, i64::from(is_dir))?;
    Ok(Created {
        attr: fresh,
        existed: false,
        dir: DirChange { before, after },
    })
}

pub fn remove(
    tx: &mut Transaction<'_>,
    dir: InodeId,
    name: &[u8],
    kind: RemoveKind,
    expect: Option<InodeId>,
    now: Timespec,
) -> TxResult<Removed> {
    check_entry_name(name)?;
    lock(tx, &[dir])?;
    let d = dir_node(tx, dir)?;
    let before = pre(&d.attr);
    let ino = entry(tx, dir, name)?.ok_or(MetaError::NoEntry)?;
    if expect.is_some_and(|e| e != ino) {
        return Err(MetaError::Conflict.into());
    }
    lock(tx, &[ino])?;
    let victim_is_dir = node(tx, ino)?.is_dir();
    match kind {
        RemoveKind::NonDirectory | RemoveKind::NonDirectoryKeep if victim_is_dir => {
            return Err(MetaError::IsDirectory.into())
        }
        RemoveKind::Directory if !victim_is_dir => return Err(MetaError::NotDirectory.into()),
        RemoveKind::Directory if has_entries(tx, ino)? => return Err(MetaError::NotEmpty.into()),
        _ => {}
    }
    delete_entry(tx, dir, name)?;
    touch_dir(tx, dir, now, -i64::from(victim_is_dir))?;
    let victim = unlink_inode(tx, ino, now, kind == RemoveKind::NonDirectoryKeep)?;
    Ok(Removed {
        dir: DirChange {
            before,
            after: node(tx, dir)?.attr,
        },
        victim,
    })
}

pub fn rename(tx: &mut Transaction<'_>, a: &RenameOwned, now: Timespec) -> TxResult<Renamed> {
    check_entry_name(&a.from_name)?;
    check_entry_name(&a.to_name)?;
    lock(tx, &[a.from_dir, a.to_dir])?;
    let from_before = pre(&node(tx, a.from_dir)?.attr);
    let to_before = pre(&node(tx, a.to_dir)?.attr);
    dir_node(tx, a.from_dir)?;
    let src = entry(tx, a.from_dir, &a.from_name)?.ok_or(MetaError::NoEntry)?;
    let dst = {
        dir_node(tx, a.to_dir)?;
        entry(tx, a.to_dir, &a.to_name)?
    };
    if a.expect_src.is_some_and(|e| e != src) || a.expect_dst.is_some_and(|e| e != dst) {
        return Err(MetaError::Conflict.into());
    }
    if dst == Some(src) {
        return Ok(Renamed {
            from_dir: DirChange {
                before: from_before,
                after: node(tx, a.from_dir)?.attr,
            },
            to_dir: DirChange {
                before: to_before,
                after: node(tx, a.to_dir)?.attr,
            },
            moved: node(tx, src)?.attr,
            replaced: None,
        });
    }
    lock(tx, &[src, dst.unwrap_or(src)])?;
    let src_is_dir = node(tx, src)?.is_dir();
    if src_is_dir && a.from_dir != a.to_dir {
        lock_dir_moves(tx)?;
    }
    if src_is_dir && is_within(tx, a.to_dir, src)? {
        return Err(MetaError::InvalidArgument.into());
    }
    let mut dst_is_dir = false;
    if let Some(dst) = dst {
        dst_is_dir = node(tx, dst)?.is_dir();
        match (src_is_dir, dst_is_dir) {
            (true, false) => return Err(MetaError::NotDirectory.into()),
            (false, true) => return Err(MetaError::IsDirectory.into()),
            (true, true) if has_entries(tx, dst)? => return Err(MetaError::NotEmpty.into()),
            _ => {}
        }
    }
    if src_is_dir
        && a.from_dir != a.to_dir
        && !dst_is_dir
        && node(tx, a.to_dir)?.attr.nlink >= LINK_MAX
    {
        return Err(MetaError::TooManyLinks.into());
    }
    // All checks passed: apply.
    delete_entry(tx, a.from_dir, &a.from_name)?;
    if dst.is_some() {
        delete_entry(tx, a.to_dir, &a.to_name)?;
    }
    insert_entry(tx, a.to_dir, &a.to_name, src)?;
    let src_links = i64::from(src_is_dir);
    touch_dir(tx, a.from_dir, now, -src_links)?;
    touch_dir(tx, a.to_dir, now, src_links - i64::from(dst_is_dir))?;
    tx.execute(
        "UPDATE inodes SET ctime_sec = $2, ctime_nsec = $3, \
         parent = CASE WHEN ftype = $5 THEN $4 ELSE parent END WHERE ino = $1",
        &[
            &i(src),
            &now.sec,
            &i64::from(now.nsec),
            &i(a.to_dir),
            &ftype_code(FileType::Directory),
        ],
    )?;
    let moved = node(tx, src)?.attr;
    let replaced = match dst {
        Some(dst) => Some(unlink_inode(tx, dst, now, false)?),
        None => None,
    };
    Ok(Renamed {
        from_dir: DirChange {
            before: from_before,
            after: node(tx, a.from_dir)?.attr,
        },
        to_dir: DirChange {
            before: to_before,
            after: node(tx, a.to_dir)?.attr,
        },
        moved,
        replaced,
    })
}

pub fn link(
    tx: &mut Transaction<'_>,
    ino: InodeId,
    dir: InodeId,
    name: &[u8],
    now: Timespec,
) -> TxResult<Linked> {
    check_entry_name(name)?;
    lock(tx, &[ino, dir])?;
    let n = node(tx, ino)?;
    if n.is_dir() {
        return Err(MetaError::IsDirectory.into());
    }
    let d = dir_node(tx, dir)?;
    if entry(tx, dir, name)?.is_some() {
        return Err(MetaError::Exists.into());
    }
    if n.attr.nlink >= LINK_MAX {
        return Err(MetaError::TooManyLinks.into());
    }
    let before = pre(&d.attr);
    insert_entry(tx, dir, name, ino)?;
    touch_dir(tx, dir, now, 0)?;
    if n.attr.nlink == 0 {
        // A kept inode linked again is no orphan any more.
        tx.execute("DELETE FROM orphans WHERE ino = $1", &[&i(ino)])?;
    }
    let mut attr = n.attr;
    attr.nlink += 1;
    attr.ctime = now;
    store_attr(tx, &attr)?;
    Ok(Linked {
        attr,
        dir: DirChange {
            before,
            after: node(tx, dir)?.attr,
        },
    })
}

pub fn set_attr(
    tx: &mut Transaction<'_>,
    ino: InodeId,
    c: &AttrChange,
    now: Timespec,
) -> TxResult<(PreOpAttr, Attr)> {
    lock(tx, &[ino])?;
    let n = node(tx, ino)?;
    let before = pre(&n.attr);
    if c.guard_ctime.is_some_and(|g| g != n.attr.ctime) {
        return Err(MetaError::NotSync.into());
    }
    if c.size.is_some() || c.grow_to.is_some() {
        match n.attr.ftype {
            FileType::Regular => {}
            FileType::Directory => return Err(MetaError::IsDirectory.into()),
            _ => return Err(MetaError::InvalidArgument.into()),
        }
    }
    let mut a = n.attr;
    c.apply_to(&mut a, now);
    store_attr(tx, &a)?;
    Ok((before, a))
}

/// See [`crate::meta::MetadataStore::reap`].
pub fn reap(tx: &mut Transaction<'_>, ino: InodeId) -> TxResult<Option<Attr>> {
    lock(tx, &[ino])?;
    // Whatever its state, the inode leaves the orphan set.
    tx.execute("DELETE FROM orphans WHERE ino = $1", &[&i(ino)])?;
    let n = match node(tx, ino) {
        Ok(n) => n,
        Err(super::pool::TxError::Meta(MetaError::NoInode(_))) => return Ok(None),
        Err(e) => return Err(e),
    };
    if n.is_dir() || n.attr.nlink != 0 {
        return Ok(None);
    }
    tx.execute("DELETE FROM inodes WHERE ino = $1", &[&i(ino)])?;
    Ok(Some(n.attr))
}
