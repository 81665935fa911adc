//! Users, groups and DOS attributes of the memory store.
//!
//! Users and groups are few, so they are `BTreeMap`s by name (which also gives
//! the listing order) and the uid/gid lookups scan; DOS attributes are a map
//! holding only the inodes that have some set, dropped with their inode.

use super::State;
use crate::fs::InodeId;
use crate::meta::{GroupRecord, MetaError, MetaResult, UserRecord};

impl State {
    pub(super) fn user_by_uid(&self, uid: u32) -> Option<&UserRecord> {
        self.users.values().find(|u| u.uid == uid)
    }

    pub(super) fn group_by_gid(&self, gid: u32) -> Option<&GroupRecord> {
        self.groups.values().find(|g| g.gid == gid)
    }

    pub(super) fn put_user(&mut self, user: &UserRecord) -> MetaResult<()> {
        if self
            .user_by_uid(user.uid)
            .is_some_and(|u| u.name != user.name)
        {
            return Err(MetaError::Exists);
        }
        self.users.insert(user.name.clone(), user.clone());
        Ok(())
    }

    pub(super) fn put_group(&mut self, group: &GroupRecord) -> MetaResult<()> {
        if self
            .group_by_gid(group.gid)
            .is_some_and(|g| g.name != group.name)
        {
            return Err(MetaError::Exists);
        }
        self.groups.insert(group.name.clone(), group.clone());
        Ok(())
    }

    pub(super) fn set_dos_attributes(&mut self, ino: InodeId, attributes: u32) -> MetaResult<()> {
        self.node(ino)?;
        if attributes == 0 {
            self.dos_attributes.remove(&ino);
        } else {
            self.dos_attributes.insert(ino, attributes);
        }
        Ok(())
    }

    pub(super) fn dos_attributes(&self, ino: InodeId) -> MetaResult<u32> {
        self.node(ino)?;
        Ok(self.dos_attributes.get(&ino).copied().unwrap_or(0))
    }
}
