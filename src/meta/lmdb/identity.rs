//! Users, groups and DOS attributes in LMDB (layout in ARCHITECTURE.md, "LMDB
//! store").
//!
//! Users and groups are keyed by name (LMDB's byte order is the listing
//! order) with a second database from uid/gid to name, kept in the same
//! transaction, so lookups by number are one get and a clash is detected
//! before anything is written. Records are a version byte followed by JSON:
//! they are small, rare and change shape more often than inodes.

use heed::{RoTxn, RwTxn};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::codec::corrupt;
use super::txn::{Db, OpResult};
use super::Shared;
use crate::fs::InodeId;
use crate::meta::{GroupRecord, MetaError, UserRecord};

/// Version byte of user and group records.
const IDENTITY_RECORD_V1: u8 = 1;

fn encode<T: Serialize>(rec: &T) -> OpResult<Vec<u8>> {
    let mut out = vec![IDENTITY_RECORD_V1];
    serde_json::to_writer(&mut out, rec)
        .map_err(|e| MetaError::Backend(format!("encode identity record: {e}")))?;
    Ok(out)
}

fn decode<T: DeserializeOwned>(bytes: &[u8]) -> OpResult<T> {
    match bytes.split_first() {
        Some((&IDENTITY_RECORD_V1, json)) => {
            serde_json::from_slice(json).map_err(|_| corrupt("identity record").into())
        }
        _ => Err(corrupt("identity record version").into()),
    }
}

/// A by-name database and its by-number index.
#[derive(Clone, Copy)]
pub struct Table {
    by_name: Db,
    by_id: Db,
}

impl Table {
    fn get<T: DeserializeOwned>(&self, txn: &RoTxn<'_>, name: &str) -> OpResult<Option<T>> {
        match self.by_name.get(txn, name.as_bytes())? {
            Some(bytes) => Ok(Some(decode(bytes)?)),
            None => Ok(None),
        }
    }

    fn get_by_id<T: DeserializeOwned>(&self, txn: &RoTxn<'_>, id: u32) -> OpResult<Option<T>> {
        let Some(name) = self.by_id.get(txn, &id.to_be_bytes())? else {
            return Ok(None);
        };
        let name = std::str::from_utf8(name).map_err(|_| corrupt("identity name"))?;
        match self.get(txn, name)? {
            Some(rec) => Ok(Some(rec)),
            None => Err(corrupt("identity index names a missing record").into()),
        }
    }

    fn list<T: DeserializeOwned>(&self, txn: &RoTxn<'_>) -> OpResult<Vec<T>> {
        let mut out = Vec::new();
        for item in self.by_name.iter(txn)? {
            let (_, bytes) = item?;
            out.push(decode(bytes)?);
        }
        Ok(out)
    }

    /// Inserts or replaces `name` with number `id`; `Exists` when another name
    /// holds `id`. `old_id` is the number of the record being replaced.
    fn put(
        &self,
        txn: &mut RwTxn<'_>,
        name: &str,
        id: u32,
        old_id: Option<u32>,
        value: &[u8],
    ) -> OpResult<()> {
        if let Some(holder) = self.by_id.get(txn, &id.to_be_bytes())? {
            if holder != name.as_bytes() {
                return Err(MetaError::Exists.into());
            }
        }
        if let Some(old) = old_id.filter(|&old| old != id) {
            self.by_id.delete(txn, &old.to_be_bytes())?;
        }
        self.by_name.put(txn, name.as_bytes(), value)?;
        self.by_id.put(txn, &id.to_be_bytes(), name.as_bytes())?;
        Ok(())
    }

    fn remove(&self, txn: &mut RwTxn<'_>, name: &str, id: Option<u32>) -> OpResult<bool> {
        let Some(id) = id else {
            return Ok(false);
        };
        self.by_id.delete(txn, &id.to_be_bytes())?;
        self.by_name.delete(txn, name.as_bytes())?;
        Ok(true)
    }
}

impl Shared {
    fn users(&self) -> Table {
        Table {
            by_name: self.dbs.users,
            by_id: self.dbs.users_by_uid,
        }
    }

    fn groups(&self) -> Table {
        Table {
            by_name: self.dbs.groups,
            by_id: self.dbs.groups_by_gid,
        }
    }

    pub fn q_user(&self, txn: &RoTxn<'_>, name: &str) -> OpResult<Option<UserRecord>> {
        self.users().get(txn, name)
    }

    pub fn q_user_by_uid(&self, txn: &RoTxn<'_>, uid: u32) -> OpResult<Option<UserRecord>> {
        self.users().get_by_id(txn, uid)
    }

    pub fn q_users(&self, txn: &RoTxn<'_>) -> OpResult<Vec<UserRecord>> {
        self.users().list(txn)
    }

    pub fn op_put_user(&self, txn: &mut RwTxn<'_>, user: &UserRecord) -> OpResult<()> {
        let old = self.q_user(txn, &user.name)?.map(|u| u.uid);
        self.users()
            .put(txn, &user.name, user.uid, old, &encode(user)?)
    }

    pub fn op_remove_user(&self, txn: &mut RwTxn<'_>, name: &str) -> OpResult<bool> {
        let old = self.q_user(txn, name)?.map(|u| u.uid);
        self.users().remove(txn, name, old)
    }

    pub fn q_group(&self, txn: &RoTxn<'_>, name: &str) -> OpResult<Option<GroupRecord>> {
        self.groups().get(txn, name)
    }

    pub fn q_group_by_gid(&self, txn: &RoTxn<'_>, gid: u32) -> OpResult<Option<GroupRecord>> {
        self.groups().get_by_id(txn, gid)
    }

    pub fn q_groups(&self, txn: &RoTxn<'_>) -> OpResult<Vec<GroupRecord>> {
        self.groups().list(txn)
    }

    pub fn op_put_group(&self, txn: &mut RwTxn<'_>, group: &GroupRecord) -> OpResult<()> {
        let old = self.q_group(txn, &group.name)?.map(|g| g.gid);
        self.groups()
            .put(txn, &group.name, group.gid, old, &encode(group)?)
    }

    pub fn op_remove_group(&self, txn: &mut RwTxn<'_>, name: &str) -> OpResult<bool> {
        let old = self.q_group(txn, name)?.map(|g| g.gid);
        self.groups().remove(txn, name, old)
    }

    pub fn op_set_dos_attributes(
        &self,
        txn: &mut RwTxn<'_>,
        ino: InodeId,
        attributes: u32,
    ) -> OpResult<()> {
        self.dbs.node(txn, ino)?;
        let key = ino.to_be_bytes();
        if attributes == 0 {
            self.dbs.dos_attrs.delete(txn, &key)?;
        } else {
            self.dbs
                .dos_attrs
                .put(txn, &key, &attributes.to_be_bytes())?;
        }
        Ok(())
    }

    pub fn q_dos_attributes(&self, txn: &RoTxn<'_>, ino: InodeId) -> OpResult<u32> {
        self.dbs.node(txn, ino)?;
        match self.dbs.dos_attrs.get(txn, &ino.to_be_bytes())? {
            None => Ok(0),
            Some(v) => <[u8; 4]>::try_from(v)
                .map(u32::from_be_bytes)
                .map_err(|_| corrupt("dos attributes").into()),
        }
    }
}
