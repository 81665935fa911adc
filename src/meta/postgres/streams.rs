//! Named streams in the PostgreSQL store (see `meta::streams`): the table
//! `streams (base, key) → (name, ino)` of schema version 3. The stream inode
//! is a normal `inodes` row with no `dirents` row; the table's foreign key on
//! `ino` keeps a stream row from naming a missing inode, and there is no key
//! on `base` (the base goes first, its streams right after).

use postgres::Transaction;

use super::ops::insert_inode;
use super::pool::TxResult;
use super::rows::{i, lock, node, u};
use crate::fs::{Attr, FileType, InodeId, Timespec};
use crate::meta::streams::check_stream_name;
use crate::meta::{MetaError, NewInode, StreamCreated, StreamRecord};

/// `(stream ino, name)` of `base`'s stream `key`.
fn entry(
    tx: &mut Transaction<'_>,
    base: InodeId,
    key: &[u8],
) -> TxResult<Option<(InodeId, Vec<u8>)>> {
    Ok(tx
        .query_opt(
            "SELECT ino, name FROM streams WHERE base = $1 AND key = $2",
            &[&i(base), &key],
        )?
        .map(|r| (u(r.get(0)), r.get(1))))
}

pub fn lookup(
    tx: &mut Transaction<'_>,
    base: InodeId,
    key: &[u8],
) -> TxResult<Option<StreamRecord>> {
    let Some((ino, name)) = entry(tx, base, key)? else {
        return Ok(None);
    };
    Ok(Some(StreamRecord {
        key: key.to_vec(),
        name,
        attr: node(tx, ino)?.attr,
    }))
}

pub fn list(tx: &mut Transaction<'_>, base: InodeId) -> TxResult<Vec<StreamRecord>> {
    let rows = tx.query(
        "SELECT key, name, ino FROM streams WHERE base = $1 ORDER BY key",
        &[&i(base)],
    )?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        out.push(StreamRecord {
            key: r.get(0),
            name: r.get(1),
            attr: node(tx, u(r.get(2)))?.attr,
        });
    }
    Ok(out)
}

pub fn create(
    tx: &mut Transaction<'_>,
    generation: u64,
    base: InodeId,
    key: &[u8],
    name: &[u8],
    new: &NewInode,
    now: Timespec,
) -> TxResult<StreamCreated> {
    check_stream_name(key)?;
    check_stream_name(name)?;
    // Streams of one base serialize on the base's row lock.
    lock(tx, &[base])?;
    node(tx, base)?;
    if let Some(stream) = lookup(tx, base, key)? {
        return Ok(StreamCreated {
            stream,
            existed: true,
        });
    }
    let regular = NewInode {
        ftype: FileType::Regular,
        verifier: None,
        ..new.clone()
    };
    let attr = insert_inode(tx, generation, &regular, None, now)?;
    tx.execute(
        "INSERT INTO streams (base, key, name, ino) VALUES ($1, $2, $3, $4)",
        &[&i(base), &key, &name, &i(attr.ino)],
    )?;
    Ok(StreamCreated {
        stream: StreamRecord {
            key: key.to_vec(),
            name: name.to_vec(),
            attr,
        },
        existed: false,
    })
}

fn delete_inode(tx: &mut Transaction<'_>, ino: InodeId) -> TxResult<Option<Attr>> {
    let attr = match node(tx, ino) {
        Ok(n) => n.attr,
        Err(super::pool::TxError::Meta(MetaError::NoInode(_))) => return Ok(None),
        Err(e) => return Err(e),
    };
    tx.execute("DELETE FROM inodes WHERE ino = $1", &[&i(ino)])?;
    Ok(Some(attr))
}

pub fn remove(tx: &mut Transaction<'_>, base: InodeId, key: &[u8]) -> TxResult<Option<Attr>> {
    let row = tx.query_opt(
        "DELETE FROM streams WHERE base = $1 AND key = $2 RETURNING ino",
        &[&i(base), &key],
    )?;
    match row {
        Some(r) => delete_inode(tx, u(r.get(0))),
        None => Ok(None),
    }
}

pub fn rename(
    tx: &mut Transaction<'_>,
    base: InodeId,
    from_key: &[u8],
    to_key: &[u8],
    to_name: &[u8],
    replace: bool,
) -> TxResult<Option<Attr>> {
    check_stream_name(to_key)?;
    check_stream_name(to_name)?;
    lock(tx, &[base])?;
    let (ino, _) = entry(tx, base, from_key)?.ok_or(MetaError::NoEntry)?;
    let replaced = match entry(tx, base, to_key)? {
        Some((other, _)) if other != ino => {
            if !replace {
                return Err(MetaError::Exists.into());
            }
            Some(other)
        }
        _ => None,
    };
    if replaced.is_some() {
        tx.execute(
            "DELETE FROM streams WHERE base = $1 AND key = $2",
            &[&i(base), &to_key],
        )?;
    }
    tx.execute(
        "UPDATE streams SET key = $3, name = $4 WHERE base = $1 AND key = $2",
        &[&i(base), &from_key, &to_key, &to_name],
    )?;
    match replaced {
        Some(other) => delete_inode(tx, other),
        None => Ok(None),
    }
}
