//! Users, groups and DOS attributes in PostgreSQL (schema migration 2).
//!
//! `identity_users` / `identity_groups` are keyed by name with a UNIQUE
//! uid/gid, so a clash is refused by the database even between servers racing
//! on one database; the error is answered as `Exists` like the pre-check.
//! Names are listed in byte order (`COLLATE "C"`), the order the other stores
//! use, not the database's locale order. DOS attributes are a column of
//! `inodes` and so go with their inode.

use postgres::error::SqlState;
use postgres::{Row, Transaction};

use super::pool::{TxError, TxResult};
use super::rows::i;
use crate::fs::InodeId;
use crate::meta::{GroupRecord, MetaError, SharePermission, UserRecord};

const USER_COLS: &str = "name, uid, gid, groups, password_hash, nt_hash, share_permissions";
const GROUP_COLS: &str = "name, gid, share_permissions";

type Grants = Vec<(String, SharePermission)>;

fn grants_to_text(grants: &Grants) -> TxResult<String> {
    serde_json::to_string(grants)
        .map_err(|e| MetaError::Backend(format!("encode share permissions: {e}")).into())
}

fn grants_from_text(text: &str) -> TxResult<Grants> {
    serde_json::from_str(text)
        .map_err(|e| MetaError::Backend(format!("corrupt share permissions: {e}")).into())
}

fn id32(v: i64, what: &str) -> TxResult<u32> {
    u32::try_from(v).map_err(|_| MetaError::Backend(format!("corrupt {what}: {v}")).into())
}

fn user_from(row: &Row) -> TxResult<UserRecord> {
    let groups: Vec<i64> = row.get(3);
    let nt_hash: Option<Vec<u8>> = row.get(5);
    let nt_hash = match nt_hash {
        None => None,
        Some(v) => Some(
            <[u8; 16]>::try_from(&v[..])
                .map_err(|_| MetaError::Backend("corrupt nt_hash".into()))?,
        ),
    };
    Ok(UserRecord {
        name: row.get(0),
        uid: id32(row.get(1), "uid")?,
        gid: id32(row.get(2), "gid")?,
        groups: groups
            .into_iter()
            .map(|g| id32(g, "group"))
            .collect::<TxResult<_>>()?,
        password_hash: row.get(4),
        nt_hash,
        share_permissions: grants_from_text(row.get(6))?,
    })
}

fn group_from(row: &Row) -> TxResult<GroupRecord> {
    Ok(GroupRecord {
        name: row.get(0),
        gid: id32(row.get(1), "gid")?,
        share_permissions: grants_from_text(row.get(2))?,
    })
}

/// A unique violation (the uid/gid of another name) is `Exists`.
fn clash_is_exists(e: postgres::Error) -> TxError {
    if e.code() == Some(&SqlState::UNIQUE_VIOLATION) {
        MetaError::Exists.into()
    } else {
        e.into()
    }
}

pub fn put_user(tx: &mut Transaction<'_>, user: &UserRecord) -> TxResult<()> {
    let held = tx.query_opt(
        "SELECT name FROM identity_users WHERE uid = $1 AND name <> $2",
        &[&i64::from(user.uid), &user.name],
    )?;
    if held.is_some() {
        return Err(MetaError::Exists.into());
    }
    let groups: Vec<i64> = user.groups.iter().map(|&g| i64::from(g)).collect();
    let nt_hash = user.nt_hash.map(|h| h.to_vec());
    tx.execute(
        "INSERT INTO identity_users (name, uid, gid, groups, password_hash, nt_hash, \
         share_permissions) VALUES ($1, $2, $3, $4, $5, $6, $7) \
         ON CONFLICT (name) DO UPDATE SET uid = EXCLUDED.uid, gid = EXCLUDED.gid, \
         groups = EXCLUDED.groups, password_hash = EXCLUDED.password_hash, \
         nt_hash = EXCLUDED.nt_hash, share_permissions = EXCLUDED.share_permissions",
        &[
            &user.name,
            &i64::from(user.uid),
            &i64::from(user.gid),
            &groups,
            &user.password_hash,
            &nt_hash,
            &grants_to_text(&user.share_permissions)?,
        ],
    )
    .map_err(clash_is_exists)?;
    Ok(())
}

pub fn get_user(tx: &mut Transaction<'_>, name: &str) -> TxResult<Option<UserRecord>> {
    let sql = format!("SELECT {USER_COLS} FROM identity_users WHERE name = $1");
    tx.query_opt(&sql, &[&name])?
        .as_ref()
        .map(user_from)
        .transpose()
}

pub fn get_user_by_uid(tx: &mut Transaction<'_>, uid: u32) -> TxResult<Option<UserRecord>> {
    let sql = format!("SELECT {USER_COLS} FROM identity_users WHERE uid = $1");
    tx.query_opt(&sql, &[&i64::from(uid)])?
        .as_ref()
        .map(user_from)
        .transpose()
}

pub fn list_users(tx: &mut Transaction<'_>) -> TxResult<Vec<UserRecord>> {
    let sql = format!("SELECT {USER_COLS} FROM identity_users ORDER BY name COLLATE \"C\"");
    tx.query(&sql, &[])?.iter().map(user_from).collect()
}

pub fn remove_user(tx: &mut Transaction<'_>, name: &str) -> TxResult<bool> {
    Ok(tx.execute("DELETE FROM identity_users WHERE name = $1", &[&name])? > 0)
}

pub fn put_group(tx: &mut Transaction<'_>, group: &GroupRecord) -> TxResult<()> {
    let held = tx.query_opt(
        "SELECT name FROM identity_groups WHERE gid = $1 AND name <> $2",
        &[&i64::from(group.gid), &group.name],
    )?;
    if held.is_some() {
        return Err(MetaError::Exists.into());
    }
    tx.execute(
        "INSERT INTO identity_groups (name, gid, share_permissions) VALUES ($1, $2, $3) \
         ON CONFLICT (name) DO UPDATE SET gid = EXCLUDED.gid, \
         share_permissions = EXCLUDED.share_permissions",
        &[
            &group.name,
            &i64::from(group.gid),
            &grants_to_text(&group.share_permissions)?,
        ],
    )
    .map_err(clash_is_exists)?;
    Ok(())
}

pub fn get_group(tx: &mut Transaction<'_>, name: &str) -> TxResult<Option<GroupRecord>> {
    let sql = format!("SELECT {GROUP_COLS} FROM identity_groups WHERE name = $1");
    tx.query_opt(&sql, &[&name])?
        .as_ref()
        .map(group_from)
        .transpose()
}

pub fn get_group_by_gid(tx: &mut Transaction<'_>, gid: u32) -> TxResult<Option<GroupRecord>> {
    let sql = format!("SELECT {GROUP_COLS} FROM identity_groups WHERE gid = $1");
    tx.query_opt(&sql, &[&i64::from(gid)])?
        .as_ref()
        .map(group_from)
        .transpose()
}

pub fn list_groups(tx: &mut Transaction<'_>) -> TxResult<Vec<GroupRecord>> {
    let sql = format!("SELECT {GROUP_COLS} FROM identity_groups ORDER BY name COLLATE \"C\"");
    tx.query(&sql, &[])?.iter().map(group_from).collect()
}

pub fn remove_group(tx: &mut Transaction<'_>, name: &str) -> TxResult<bool> {
    Ok(tx.execute("DELETE FROM identity_groups WHERE name = $1", &[&name])? > 0)
}

pub fn set_dos_attributes(tx: &mut Transaction<'_>, ino: InodeId, attributes: u32) -> TxResult<()> {
    let n = tx.execute(
        "UPDATE inodes SET dos_attributes = $2 WHERE ino = $1",
        &[&i(ino), &i64::from(attributes)],
    )?;
    if n == 0 {
        return Err(MetaError::NoInode(ino).into());
    }
    Ok(())
}

pub fn get_dos_attributes(tx: &mut Transaction<'_>, ino: InodeId) -> TxResult<u32> {
    let row = tx
        .query_opt(
            "SELECT dos_attributes FROM inodes WHERE ino = $1",
            &[&i(ino)],
        )?
        .ok_or(MetaError::NoInode(ino))?;
    id32(row.get(0), "dos_attributes")
}
