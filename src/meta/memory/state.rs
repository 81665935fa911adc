//! The operations of the memory store on its locked state: each function
//! checks every precondition before changing anything, so an error leaves the
//! state untouched and a success applies all effects at once.

use super::{DirData, MemoryStore, Node, State};
use crate::fs::{Attr, FileType, InodeId, PreOpAttr, Timespec, LINK_MAX};
use crate::meta::{
    AttrChange, Created, DirChange, DirListing, DirRecord, Linked, MetaError, MetaResult, NewInode,
    OnExists, RemoveKind, Removed, RenameArgs, Renamed, Unlinked, FIRST_COOKIE,
};

fn pre(a: &Attr) -> PreOpAttr {
    PreOpAttr::from(a)
}

pub(super) fn check_entry_name(name: &[u8]) -> MetaResult<()> {
    if name.is_empty() || name == b"." || name == b".." || name.contains(&b'/') || name.contains(&0)
    {
        return Err(MetaError::InvalidArgument);
    }
    Ok(())
}

impl State {
    pub(super) fn node(&self, ino: InodeId) -> MetaResult<&Node> {
        self.nodes.get(&ino).ok_or(MetaError::NoInode(ino))
    }

    pub(super) fn node_mut(&mut self, ino: InodeId) -> MetaResult<&mut Node> {
        self.nodes.get_mut(&ino).ok_or(MetaError::NoInode(ino))
    }

    pub(super) fn dir(&self, ino: InodeId) -> MetaResult<&DirData> {
        self.node(ino)?.dir.as_ref().ok_or(MetaError::NotDirectory)
    }

    pub(super) fn dir_mut(&mut self, ino: InodeId) -> MetaResult<&mut DirData> {
        self.node_mut(ino)?
            .dir
            .as_mut()
            .ok_or(MetaError::NotDirectory)
    }

    pub(super) fn attr(&self, ino: InodeId) -> MetaResult<Attr> {
        Ok(self.node(ino)?.attr.clone())
    }

    /// Sets mtime and ctime of `ino` to `now` and adds `nlink_delta` links.
    pub(super) fn touch_dir(
        &mut self,
        ino: InodeId,
        now: Timespec,
        nlink_delta: i64,
    ) -> MetaResult<()> {
        let node = self.node_mut(ino)?;
        node.attr.mtime = now;
        node.attr.ctime = now;
        let nlink = i64::from(node.attr.nlink) + nlink_delta;
        node.attr.nlink = u32::try_from(nlink.max(0)).unwrap_or(u32::MAX);
        Ok(())
    }

    /// Takes one link from `ino` (all of them for a directory); removes the inode
    /// when none is left.
    pub(super) fn unlink_inode(
        &mut self,
        ino: InodeId,
        now: Timespec,
        keep: bool,
    ) -> MetaResult<Unlinked> {
        let node = self.node_mut(ino)?;
        node.attr.ctime = now;
        if node.dir.is_some() {
            node.attr.nlink = 0;
        } else {
            node.attr.nlink = node.attr.nlink.saturating_sub(1);
        }
        let attr = node.attr.clone();
        let last_link = attr.nlink == 0 && !(keep && node.dir.is_none());
        if attr.nlink == 0 && !last_link {
            self.orphans.insert(ino);
        }
        if last_link {
            self.nodes.remove(&ino);
            self.dos_attributes.remove(&ino);
            if attr.ftype == FileType::Regular {
                self.used_bytes = self.used_bytes.saturating_sub(attr.size);
            }
        }
        Ok(Unlinked { attr, last_link })
    }

    /// See [`crate::meta::MetadataStore::reap`].
    pub(super) fn reap(&mut self, ino: InodeId) -> Option<Attr> {
        // Whatever its state, the inode leaves the orphan set.
        self.orphans.remove(&ino);
        let node = self.nodes.get(&ino)?;
        if node.dir.is_some() || node.attr.nlink != 0 {
            return None;
        }
        let attr = self.nodes.remove(&ino)?.attr;
        self.dos_attributes.remove(&ino);
        if attr.ftype == FileType::Regular {
            self.used_bytes = self.used_bytes.saturating_sub(attr.size);
        }
        Some(attr)
    }

    /// Whether `ino` is `ancestor` or lies below it.
    pub(super) fn is_within(&self, mut ino: InodeId, ancestor: InodeId) -> MetaResult<bool> {
        for _ in 0..=self.nodes.len() {
            if ino == ancestor {
                return Ok(true);
            }
            let parent = self.node(ino)?.parent;
            if parent == ino || parent == 0 {
                return Ok(false);
            }
            ino = parent;
        }
        Err(MetaError::Backend("directory cycle".into()))
    }

    pub(super) fn create(
        &mut self,
        store: &MemoryStore,
        dir: InodeId,
        name: &[u8],
        new: &NewInode,
        now: Timespec,
    ) -> MetaResult<Created> {
        check_entry_name(name)?;
        let dir_node = self.node(dir)?;
        let data = dir_node.dir.as_ref().ok_or(MetaError::NotDirectory)?;
        let before = pre(&dir_node.attr);
        if let Some(&(ino, _)) = data.by_name.get(name) {
            let existing = self.node(ino)?;
            let allowed = match new.on_exists {
                OnExists::Fail => false,
                OnExists::ReturnRegular => existing.attr.ftype == FileType::Regular,
                OnExists::ReturnIfVerifier(v) => existing.verifier == Some(v),
            };
            if !allowed {
                return Err(MetaError::Exists);
            }
            return Ok(Created {
                attr: existing.attr.clone(),
                existed: true,
                dir: DirChange {
                    before,
                    after: dir_node.attr.clone(),
                },
            });
        }
        let is_dir = new.ftype == FileType::Directory;
        if is_dir && dir_node.attr.nlink >= LINK_MAX {
            return Err(MetaError::TooManyLinks);
        }
        if self.nodes.len() as u64 >= store.total_files {
            return Err(MetaError::NoSpace);
        }
        let node = store.new_node(self, new, dir, now);
        let attr = node.attr.clone();
        self.nodes.insert(attr.ino, node);
        self.dir_mut(dir)?.insert(name, attr.ino);
        self.touch_dir(dir, now, i64::from(is_dir))?;
        Ok(Created {
            attr,
            existed: false,
            dir: DirChange {
                before,
                after: self.attr(dir)?,
            },
        })
    }

    pub(super) fn remove(
        &mut self,
        dir: InodeId,
        name: &[u8],
        kind: RemoveKind,
        expect: Option<InodeId>,
        now: Timespec,
    ) -> MetaResult<Removed> {
        check_entry_name(name)?;
        let dir_node = self.node(dir)?;
        let data = dir_node.dir.as_ref().ok_or(MetaError::NotDirectory)?;
        let before = pre(&dir_node.attr);
        let &(ino, _) = data.by_name.get(name).ok_or(MetaError::NoEntry)?;
        if expect.is_some_and(|e| e != ino) {
            return Err(MetaError::Conflict);
        }
        let victim = self.node(ino)?;
        let victim_is_dir = victim.dir.is_some();
        match kind {
            RemoveKind::NonDirectory | RemoveKind::NonDirectoryKeep if victim_is_dir => {
                return Err(MetaError::IsDirectory)
            }
            RemoveKind::Directory => match &victim.dir {
                None => return Err(MetaError::NotDirectory),
                Some(d) if !d.by_name.is_empty() => return Err(MetaError::NotEmpty),
                Some(_) => {}
            },
            RemoveKind::NonDirectory | RemoveKind::NonDirectoryKeep => {}
        }
        self.dir_mut(dir)?.remove(name);
        self.touch_dir(dir, now, -i64::from(victim_is_dir))?;
        let victim = self.unlink_inode(ino, now, kind == RemoveKind::NonDirectoryKeep)?;
        Ok(Removed {
            dir: DirChange {
                before,
                after: self.attr(dir)?,
            },
            victim,
        })
    }

    pub(super) fn rename(&mut self, a: &RenameArgs<'_>, now: Timespec) -> MetaResult<Renamed> {
        check_entry_name(a.from_name)?;
        check_entry_name(a.to_name)?;
        let from_before = pre(&self.node(a.from_dir)?.attr);
        let to_before = pre(&self.node(a.to_dir)?.attr);
        let &(src, _) = self
            .dir(a.from_dir)?
            .by_name
            .get(a.from_name)
            .ok_or(MetaError::NoEntry)?;
        let dst = self.dir(a.to_dir)?.by_name.get(a.to_name).map(|e| e.0);
        if a.expect_src.is_some_and(|e| e != src) || a.expect_dst.is_some_and(|e| e != dst) {
            return Err(MetaError::Conflict);
        }
        if dst == Some(src) {
            // Two links to the same inode: POSIX says do nothing and succeed.
            return Ok(Renamed {
                from_dir: DirChange {
                    before: from_before,
                    after: self.attr(a.from_dir)?,
                },
                to_dir: DirChange {
                    before: to_before,
                    after: self.attr(a.to_dir)?,
                },
                moved: self.attr(src)?,
                replaced: None,
            });
        }
        let src_is_dir = self.node(src)?.dir.is_some();
        if src_is_dir && self.is_within(a.to_dir, src)? {
            return Err(MetaError::InvalidArgument);
        }
        let mut dst_is_dir = false;
        if let Some(dst) = dst {
            let node = self.node(dst)?;
            dst_is_dir = node.dir.is_some();
            match (src_is_dir, &node.dir) {
                (true, None) => return Err(MetaError::NotDirectory),
                (false, Some(_)) => return Err(MetaError::IsDirectory),
                (true, Some(d)) if !d.by_name.is_empty() => return Err(MetaError::NotEmpty),
                _ => {}
            }
        }
        if src_is_dir
            && a.from_dir != a.to_dir
            && !dst_is_dir
            && self.node(a.to_dir)?.attr.nlink >= LINK_MAX
        {
            return Err(MetaError::TooManyLinks);
        }
        // All checks passed: apply.
        self.dir_mut(a.from_dir)?.remove(a.from_name);
        if dst.is_some() {
            self.dir_mut(a.to_dir)?.remove(a.to_name);
        }
        self.dir_mut(a.to_dir)?.insert(a.to_name, src);
        let src_links = i64::from(src_is_dir);
        self.touch_dir(a.from_dir, now, -src_links)?;
        self.touch_dir(a.to_dir, now, src_links - i64::from(dst_is_dir))?;
        let moved = self.node_mut(src)?;
        moved.attr.ctime = now;
        if src_is_dir {
            moved.parent = a.to_dir;
        }
        let moved = moved.attr.clone();
        let replaced = match dst {
            Some(dst) => Some(self.unlink_inode(dst, now, false)?),
            None => None,
        };
        Ok(Renamed {
            from_dir: DirChange {
                before: from_before,
                after: self.attr(a.from_dir)?,
            },
            to_dir: DirChange {
                before: to_before,
                after: self.attr(a.to_dir)?,
            },
            moved,
            replaced,
        })
    }

    pub(super) fn link(
        &mut self,
        ino: InodeId,
        dir: InodeId,
        name: &[u8],
        now: Timespec,
    ) -> MetaResult<Linked> {
        check_entry_name(name)?;
        let node = self.node(ino)?;
        if node.dir.is_some() {
            return Err(MetaError::IsDirectory);
        }
        let nlink = node.attr.nlink;
        let dir_node = self.node(dir)?;
        let data = dir_node.dir.as_ref().ok_or(MetaError::NotDirectory)?;
        if data.by_name.contains_key(name) {
            return Err(MetaError::Exists);
        }
        if nlink >= LINK_MAX {
            return Err(MetaError::TooManyLinks);
        }
        let before = pre(&dir_node.attr);
        self.dir_mut(dir)?.insert(name, ino);
        self.touch_dir(dir, now, 0)?;
        let node = self.node_mut(ino)?;
        node.attr.nlink += 1;
        node.attr.ctime = now;
        let attr = node.attr.clone();
        // A kept inode linked again is no orphan any more.
        self.orphans.remove(&ino);
        Ok(Linked {
            attr,
            dir: DirChange {
                before,
                after: self.attr(dir)?,
            },
        })
    }

    pub(super) fn set_attr(
        &mut self,
        ino: InodeId,
        c: &AttrChange,
        now: Timespec,
    ) -> MetaResult<(PreOpAttr, Attr)> {
        let node = self.node(ino)?;
        let before = pre(&node.attr);
        if c.guard_ctime.is_some_and(|g| g != node.attr.ctime) {
            return Err(MetaError::NotSync);
        }
        if c.size.is_some() || c.grow_to.is_some() {
            match node.attr.ftype {
                FileType::Regular => {}
                FileType::Directory => return Err(MetaError::IsDirectory),
                _ => return Err(MetaError::InvalidArgument),
            }
        }
        let old_size = node.attr.size;
        let mut a = node.attr.clone();
        c.apply_to(&mut a, now);
        if a.ftype == FileType::Regular {
            self.used_bytes = self
                .used_bytes
                .saturating_sub(old_size)
                .saturating_add(a.size);
        }
        self.node_mut(ino)?.attr = a.clone();
        Ok((before, a))
    }

    pub(super) fn readdir(
        &self,
        dir: InodeId,
        after: u64,
        max: usize,
        with_attrs: bool,
    ) -> MetaResult<DirListing> {
        let node = self.node(dir)?;
        let data = node.dir.as_ref().ok_or(MetaError::NotDirectory)?;
        let start = after.max(FIRST_COOKIE - 1).saturating_add(1);
        let mut iter = data.by_cookie.range(start..);
        let mut entries = Vec::with_capacity(max.min(data.by_cookie.len()));
        for (&cookie, name) in iter.by_ref().take(max) {
            let &(ino, _) = data
                .by_name
                .get(name)
                .ok_or_else(|| MetaError::Backend("directory index out of sync".into()))?;
            let attr = if with_attrs {
                Some(self.attr(ino)?)
            } else {
                None
            };
            entries.push(DirRecord {
                name: name.clone(),
                ino,
                cookie,
                attr,
            });
        }
        let eof = iter.next().is_none();
        Ok(DirListing {
            dir: node.attr.clone(),
            parent: node.parent,
            entries,
            eof,
            verifier: data.verifier,
        })
    }
}
