//! The namespace mutations, each run by the writer thread inside the batch's
//! write transaction (in a child transaction of its own, so a failing op leaves
//! no trace). Like the memory store, every function checks all preconditions
//! before it writes anything; the rules are the memory store's, line for line.

use heed::RwTxn;

use super::codec::{self, InodeRec};
use super::txn::OpResult;
use super::Shared;
use crate::fs::{Attr, DeviceId, FileType, InodeId, PreOpAttr, Timespec, LINK_MAX};
use crate::meta::{
    AttrChange, BlockRef, Created, DirChange, Linked, MetaError, NewInode, OnExists, RemoveKind,
    Removed, Renamed, Unlinked, FIRST_COOKIE,
};

fn pre(a: &Attr) -> PreOpAttr {
    PreOpAttr::from(a)
}

fn check_entry_name(name: &[u8]) -> OpResult<()> {
    if name.is_empty() || name == b"." || name == b".." || name.contains(&b'/') || name.contains(&0)
    {
        return Err(MetaError::InvalidArgument.into());
    }
    Ok(())
}

/// Owned arguments of a rename (they travel to the writer thread).
#[derive(Debug, Clone)]
pub struct RenameOwned {
    pub from_dir: InodeId,
    pub from_name: Vec<u8>,
    pub to_dir: InodeId,
    pub to_name: Vec<u8>,
    pub expect_src: Option<InodeId>,
    pub expect_dst: Option<Option<InodeId>>,
}

impl Shared {
    /// Allocates the next inode id (ids are never reused).
    fn alloc_ino(&self, txn: &mut RwTxn<'_>) -> OpResult<InodeId> {
        let ino = self.dbs.meta_u64(txn, codec::META_NEXT_INO)?.unwrap_or(1);
        self.dbs.set_meta_u64(txn, codec::META_NEXT_INO, ino + 1)?;
        Ok(ino)
    }

    /// [`Self::alloc_ino`] for the other modules of the store.
    pub(super) fn alloc_ino_pub(&self, txn: &mut RwTxn<'_>) -> OpResult<InodeId> {
        self.alloc_ino(txn)
    }

    fn new_rec(&self, ino: InodeId, new: &NewInode, parent: InodeId, now: Timespec) -> InodeRec {
        let is_dir = new.ftype == FileType::Directory;
        InodeRec {
            attr: new.initial_attr(ino, self.generation, now),
            parent: if is_dir { parent } else { 0 },
            next_cookie: if is_dir { FIRST_COOKIE } else { 0 },
            verifier: new.verifier,
            target: if new.ftype == FileType::Symlink {
                new.target.clone()
            } else {
                Vec::new()
            },
        }
    }

    /// Creates the share root `name` unless it exists; returns its inode.
    pub fn op_share_root(&self, txn: &mut RwTxn<'_>, name: &str, mode: u32) -> OpResult<InodeId> {
        if let Some(v) = self.dbs.shares.get(txn, name.as_bytes())? {
            return Ok(codec::decode_u64(v)?);
        }
        let ino = self.alloc_ino(txn)?;
        let new = NewInode {
            ftype: FileType::Directory,
            mode,
            uid: 0,
            gid: 0,
            rdev: DeviceId::default(),
            target: Vec::new(),
            verifier: None,
            on_exists: OnExists::Fail,
        };
        let rec = self.new_rec(ino, &new, ino, Timespec::now());
        self.dbs.put_inode(txn, &rec)?;
        self.dbs
            .shares
            .put(txn, name.as_bytes(), &ino.to_be_bytes())?;
        Ok(ino)
    }

    pub fn op_create(
        &self,
        txn: &mut RwTxn<'_>,
        dir: InodeId,
        name: &[u8],
        new: &NewInode,
        now: Timespec,
    ) -> OpResult<Created> {
        check_entry_name(name)?;
        let d = &self.dbs;
        let mut dir_rec = d.dir(txn, dir)?;
        let before = pre(&dir_rec.attr);
        if let Some((ino, _)) = d.entry(txn, dir, name)? {
            let existing = d.node(txn, ino)?;
            let allowed = match new.on_exists {
                OnExists::Fail => false,
                OnExists::ReturnRegular => existing.attr.ftype == FileType::Regular,
                OnExists::ReturnIfVerifier(v) => existing.verifier == Some(v),
            };
            if !allowed {
                return Err(MetaError::Exists.into());
            }
            return Ok(Created {
                attr: existing.attr,
                existed: true,
                dir: DirChange {
                    before,
                    after: dir_rec.attr,
                },
            });
        }
        let is_dir = new.ftype == FileType::Directory;
        if is_dir && dir_rec.attr.nlink >= LINK_MAX {
            return Err(MetaError::TooManyLinks.into());
        }
        if d.inodes.len(txn)? >= self.total_files {
            return Err(MetaError::NoSpace.into());
        }
        let ino = self.alloc_ino(txn)?;
        let rec = self.new_rec(ino, new, dir, now);
        d.put_inode(txn, &rec)?;
        d.insert_entry(txn, &mut dir_rec, name, ino)?;
        dir_rec.attr.mtime = now;
        dir_rec.attr.ctime = now;
        dir_rec.attr.nlink += u32::from(is_dir);
        d.put_inode(txn, &dir_rec)?;
        Ok(Created {
            attr: rec.attr,
            existed: false,
            dir: DirChange {
                before,
                after: dir_rec.attr,
            },
        })
    }

    /// Takes one link from `ino` (all of them for a directory); deletes the
    /// inode when none is left.
    fn unlink_inode(
        &self,
        txn: &mut RwTxn<'_>,
        ino: InodeId,
        now: Timespec,
        keep: bool,
    ) -> OpResult<Unlinked> {
        let d = &self.dbs;
        let mut rec = d.node(txn, ino)?;
        rec.attr.ctime = now;
        if rec.is_dir() {
            rec.attr.nlink = 0;
        } else {
            rec.attr.nlink = rec.attr.nlink.saturating_sub(1);
        }
        let kept = keep && !rec.is_dir();
        let last_link = rec.attr.nlink == 0 && !kept;
        if last_link {
            d.inodes.delete(txn, &ino.to_be_bytes())?;
            d.dos_attrs.delete(txn, &ino.to_be_bytes())?;
            if rec.attr.ftype == FileType::Regular {
                d.add_used_bytes(txn, -i128::from(rec.attr.size))?;
            }
        } else {
            d.put_inode(txn, &rec)?;
            if rec.attr.nlink == 0 {
                // Kept for its opens: on the orphan set until reaped, so a
                // crash before the reap cannot leak it (see `orphans`).
                d.orphans.put(txn, &ino.to_be_bytes(), &[])?;
            }
        }
        Ok(Unlinked {
            attr: rec.attr,
            last_link,
        })
    }

    /// See [`crate::meta::MetadataStore::reap`].
    pub(super) fn op_reap(
        &self,
        txn: &mut RwTxn<'_>,
        ino: InodeId,
    ) -> OpResult<Option<crate::fs::Attr>> {
        let d = &self.dbs;
        // Whatever its state, the inode leaves the orphan set.
        d.orphans.delete(txn, &ino.to_be_bytes())?;
        let Some(rec) = d.inode(txn, ino)? else {
            return Ok(None);
        };
        if rec.is_dir() || rec.attr.nlink != 0 {
            return Ok(None);
        }
        d.inodes.delete(txn, &ino.to_be_bytes())?;
        d.dos_attrs.delete(txn, &ino.to_be_bytes())?;
        if rec.attr.ftype == FileType::Regular {
            d.add_used_bytes(txn, -i128::from(rec.attr.size))?;
        }
        Ok(Some(rec.attr))
    }

    /// Whether `ino` is `ancestor` or lies below it.
    fn is_within(
        &self,
        txn: &mut RwTxn<'_>,
        mut ino: InodeId,
        ancestor: InodeId,
    ) -> OpResult<bool> {
        let bound = self.dbs.inodes.len(txn)?;
        for _ in 0..=bound {
            if ino == ancestor {
                return Ok(true);
            }
            let parent = self.dbs.node(txn, ino)?.parent;
            if parent == ino || parent == 0 {
                return Ok(false);
            }
            ino = parent;
        }
        Err(MetaError::Backend("directory cycle".into()).into())
    }

    pub fn op_remove(
        &self,
        txn: &mut RwTxn<'_>,
        dir: InodeId,
        name: &[u8],
        kind: RemoveKind,
        expect: Option<InodeId>,
        now: Timespec,
    ) -> OpResult<Removed> {
        check_entry_name(name)?;
        let d = &self.dbs;
        let dir_rec = d.dir(txn, dir)?;
        let before = pre(&dir_rec.attr);
        let (ino, _) = d.entry(txn, dir, name)?.ok_or(MetaError::NoEntry)?;
        if expect.is_some_and(|e| e != ino) {
            return Err(MetaError::Conflict.into());
        }
        let victim_is_dir = d.node(txn, ino)?.is_dir();
        match kind {
            RemoveKind::NonDirectory | RemoveKind::NonDirectoryKeep if victim_is_dir => {
                return Err(MetaError::IsDirectory.into())
            }
            RemoveKind::Directory if !victim_is_dir => return Err(MetaError::NotDirectory.into()),
            RemoveKind::Directory if !d.dir_is_empty(txn, ino)? => {
                return Err(MetaError::NotEmpty.into())
            }
            _ => {}
        }
        d.remove_entry(txn, dir, name)?;
        d.touch_dir(txn, dir, now, -i64::from(victim_is_dir))?;
        let victim = self.unlink_inode(txn, ino, now, kind == RemoveKind::NonDirectoryKeep)?;
        Ok(Removed {
            dir: DirChange {
                before,
                after: d.node(txn, dir)?.attr,
            },
            victim,
        })
    }

    pub fn op_rename(
        &self,
        txn: &mut RwTxn<'_>,
        a: &RenameOwned,
        now: Timespec,
    ) -> OpResult<Renamed> {
        check_entry_name(&a.from_name)?;
        check_entry_name(&a.to_name)?;
        let d = &self.dbs;
        let from_before = pre(&d.node(txn, a.from_dir)?.attr);
        let to_before = pre(&d.node(txn, a.to_dir)?.attr);
        d.dir(txn, a.from_dir)?;
        let (src, _) = d
            .entry(txn, a.from_dir, &a.from_name)?
            .ok_or(MetaError::NoEntry)?;
        d.dir(txn, a.to_dir)?;
        let dst = d.entry(txn, a.to_dir, &a.to_name)?.map(|e| e.0);
        if a.expect_src.is_some_and(|e| e != src) || a.expect_dst.is_some_and(|e| e != dst) {
            return Err(MetaError::Conflict.into());
        }
        if dst == Some(src) {
            return Ok(Renamed {
                from_dir: DirChange {
                    before: from_before,
                    after: d.node(txn, a.from_dir)?.attr,
                },
                to_dir: DirChange {
                    before: to_before,
                    after: d.node(txn, a.to_dir)?.attr,
                },
                moved: d.node(txn, src)?.attr,
                replaced: None,
            });
        }
        let src_is_dir = d.node(txn, src)?.is_dir();
        if src_is_dir && self.is_within(txn, a.to_dir, src)? {
            return Err(MetaError::InvalidArgument.into());
        }
        let mut dst_is_dir = false;
        if let Some(dst) = dst {
            dst_is_dir = d.node(txn, dst)?.is_dir();
            match (src_is_dir, dst_is_dir) {
                (true, false) => return Err(MetaError::NotDirectory.into()),
                (false, true) => return Err(MetaError::IsDirectory.into()),
                (true, true) if !d.dir_is_empty(txn, dst)? => {
                    return Err(MetaError::NotEmpty.into())
                }
                _ => {}
            }
        }
        if src_is_dir
            && a.from_dir != a.to_dir
            && !dst_is_dir
            && d.node(txn, a.to_dir)?.attr.nlink >= LINK_MAX
        {
            return Err(MetaError::TooManyLinks.into());
        }
        // All checks passed: apply.
        d.remove_entry(txn, a.from_dir, &a.from_name)?;
        if dst.is_some() {
            d.remove_entry(txn, a.to_dir, &a.to_name)?;
        }
        let mut to_rec = d.node(txn, a.to_dir)?;
        d.insert_entry(txn, &mut to_rec, &a.to_name, src)?;
        d.put_inode(txn, &to_rec)?;
        let src_links = i64::from(src_is_dir);
        d.touch_dir(txn, a.from_dir, now, -src_links)?;
        d.touch_dir(txn, a.to_dir, now, src_links - i64::from(dst_is_dir))?;
        let mut moved = d.node(txn, src)?;
        moved.attr.ctime = now;
        if src_is_dir {
            moved.parent = a.to_dir;
        }
        d.put_inode(txn, &moved)?;
        let replaced = match dst {
            Some(dst) => Some(self.unlink_inode(txn, dst, now, false)?),
            None => None,
        };
        Ok(Renamed {
            from_dir: DirChange {
                before: from_before,
                after: d.node(txn, a.from_dir)?.attr,
            },
            to_dir: DirChange {
                before: to_before,
                after: d.node(txn, a.to_dir)?.attr,
            },
            moved: moved.attr,
            replaced,
        })
    }

    pub fn op_link(
        &self,
        txn: &mut RwTxn<'_>,
        ino: InodeId,
        dir: InodeId,
        name: &[u8],
        now: Timespec,
    ) -> OpResult<Linked> {
        check_entry_name(name)?;
        let d = &self.dbs;
        let mut rec = d.node(txn, ino)?;
        if rec.is_dir() {
            return Err(MetaError::IsDirectory.into());
        }
        let mut dir_rec = d.dir(txn, dir)?;
        if d.entry(txn, dir, name)?.is_some() {
            return Err(MetaError::Exists.into());
        }
        if rec.attr.nlink >= LINK_MAX {
            return Err(MetaError::TooManyLinks.into());
        }
        let before = pre(&dir_rec.attr);
        d.insert_entry(txn, &mut dir_rec, name, ino)?;
        dir_rec.attr.mtime = now;
        dir_rec.attr.ctime = now;
        d.put_inode(txn, &dir_rec)?;
        if rec.attr.nlink == 0 {
            // A kept inode linked again is no orphan any more.
            d.orphans.delete(txn, &ino.to_be_bytes())?;
        }
        rec.attr.nlink += 1;
        rec.attr.ctime = now;
        d.put_inode(txn, &rec)?;
        Ok(Linked {
            attr: rec.attr,
            dir: DirChange {
                before,
                after: dir_rec.attr,
            },
        })
    }

    pub fn op_set_attr(
        &self,
        txn: &mut RwTxn<'_>,
        ino: InodeId,
        c: &AttrChange,
        now: Timespec,
    ) -> OpResult<(PreOpAttr, Attr)> {
        let d = &self.dbs;
        let mut rec = d.node(txn, ino)?;
        let before = pre(&rec.attr);
        if c.guard_ctime.is_some_and(|g| g != rec.attr.ctime) {
            return Err(MetaError::NotSync.into());
        }
        if c.size.is_some() || c.grow_to.is_some() {
            match rec.attr.ftype {
                FileType::Regular => {}
                FileType::Directory => return Err(MetaError::IsDirectory.into()),
                _ => return Err(MetaError::InvalidArgument.into()),
            }
        }
        let old_size = rec.attr.size;
        let a = &mut rec.attr;
        c.apply_to(a, now);
        if a.ftype == FileType::Regular {
            let delta = i128::from(a.size) - i128::from(old_size);
            d.add_used_bytes(txn, delta)?;
        }
        d.put_inode(txn, &rec)?;
        Ok((before, rec.attr))
    }

    pub fn op_put_block(
        &self,
        txn: &mut RwTxn<'_>,
        ino: InodeId,
        index: u64,
        block: &BlockRef,
    ) -> OpResult<Option<BlockRef>> {
        let key = codec::pair(ino, index);
        let previous = match self.dbs.blocks.get(txn, &key)? {
            Some(v) => Some(codec::decode_block(v)?),
            None => None,
        };
        self.dbs
            .blocks
            .put(txn, &key, &codec::encode_block(block))?;
        Ok(previous)
    }

    pub fn op_drop_blocks(
        &self,
        txn: &mut RwTxn<'_>,
        ino: InodeId,
        from_index: u64,
    ) -> OpResult<Vec<(u64, BlockRef)>> {
        let dropped = self.blocks_from(txn, ino, from_index)?;
        for (index, _) in &dropped {
            self.dbs.blocks.delete(txn, &codec::pair(ino, *index))?;
        }
        Ok(dropped)
    }
}
