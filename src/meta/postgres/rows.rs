//! Mapping between table rows and [`Attr`], and the small row-level steps the
//! operations are built from (load, touch, unlink, allocate a cookie).
//!
//! Unsigned 64-bit values (sizes, generations, cookies) are stored bit-for-bit
//! in `bigint`; 32-bit ones (mode, ids, link counts) fit a `bigint` exactly.

use postgres::{Row, Transaction};

use super::pool::TxResult;
use crate::fs::{Attr, DeviceId, FileType, InodeId, Timespec};
use crate::meta::{MetaError, MetaResult, Unlinked};

/// Columns of `inodes` read into an [`Attr`] (plus `parent`), in this order.
pub const ATTR_COLS: &str = "ino, ftype, mode, nlink, uid, gid, size, used, rdev_major, \
    rdev_minor, atime_sec, atime_nsec, mtime_sec, mtime_nsec, ctime_sec, ctime_nsec, \
    btime_sec, btime_nsec, generation, parent";

/// The same columns qualified with the table alias `i`.
pub const ATTR_COLS_I: &str = "i.ino, i.ftype, i.mode, i.nlink, i.uid, i.gid, i.size, i.used, \
    i.rdev_major, i.rdev_minor, i.atime_sec, i.atime_nsec, i.mtime_sec, i.mtime_nsec, \
    i.ctime_sec, i.ctime_nsec, i.btime_sec, i.btime_nsec, i.generation, i.parent";

pub fn ftype_code(t: FileType) -> i16 {
    match t {
        FileType::Regular => 1,
        FileType::Directory => 2,
        FileType::Symlink => 3,
        FileType::CharDevice => 4,
        FileType::BlockDevice => 5,
        FileType::Fifo => 6,
        FileType::Socket => 7,
    }
}

fn ftype_from(code: i16) -> MetaResult<FileType> {
    Ok(match code {
        1 => FileType::Regular,
        2 => FileType::Directory,
        3 => FileType::Symlink,
        4 => FileType::CharDevice,
        5 => FileType::BlockDevice,
        6 => FileType::Fifo,
        7 => FileType::Socket,
        other => {
            return Err(MetaError::Backend(format!(
                "unknown file type code {other}"
            )))
        }
    })
}

/// Bit-preserving u64 → bigint.
pub fn i(v: u64) -> i64 {
    v as i64
}

/// Bit-preserving bigint → u64.
pub fn u(v: i64) -> u64 {
    v as u64
}

fn u32c(v: i64) -> u32 {
    u32::try_from(v).unwrap_or(if v < 0 { 0 } else { u32::MAX })
}

fn ts(row: &Row, at: usize) -> Timespec {
    Timespec {
        sec: row.get(at),
        nsec: u32c(row.get(at + 1)),
    }
}

/// An inode as loaded: its attributes and (directories) its parent.
#[derive(Debug, Clone)]
pub struct Node {
    pub attr: Attr,
    pub parent: InodeId,
}

impl Node {
    pub fn is_dir(&self) -> bool {
        self.attr.ftype == FileType::Directory
    }
}

/// Reads an [`Attr`] and parent from `row` starting at column `at`.
pub fn node_from(row: &Row, at: usize) -> MetaResult<Node> {
    let attr = Attr {
        ino: u(row.get(at)),
        ftype: ftype_from(row.get(at + 1))?,
        mode: u32c(row.get(at + 2)),
        nlink: u32c(row.get(at + 3)),
        uid: u32c(row.get(at + 4)),
        gid: u32c(row.get(at + 5)),
        size: u(row.get(at + 6)),
        used: u(row.get(at + 7)),
        rdev: DeviceId {
            major: u32c(row.get(at + 8)),
            minor: u32c(row.get(at + 9)),
        },
        atime: ts(row, at + 10),
        mtime: ts(row, at + 12),
        ctime: ts(row, at + 14),
        btime: ts(row, at + 16),
        generation: u(row.get(at + 18)),
    };
    Ok(Node {
        attr,
        parent: u(row.get(at + 19)),
    })
}

/// Loads `ino` (`NoInode` when absent).
pub fn node(tx: &mut Transaction<'_>, ino: InodeId) -> TxResult<Node> {
    let sql = format!("SELECT {ATTR_COLS} FROM inodes WHERE ino = $1");
    match tx.query_opt(&sql, &[&i(ino)])? {
        Some(row) => Ok(node_from(&row, 0)?),
        None => Err(MetaError::NoInode(ino).into()),
    }
}

/// Loads `ino`, which must be a directory.
pub fn dir_node(tx: &mut Transaction<'_>, ino: InodeId) -> TxResult<Node> {
    let n = node(tx, ino)?;
    if !n.is_dir() {
        return Err(MetaError::NotDirectory.into());
    }
    Ok(n)
}

/// The inode `name` in `dir`, if any.
pub fn entry(tx: &mut Transaction<'_>, dir: InodeId, name: &[u8]) -> TxResult<Option<InodeId>> {
    Ok(tx
        .query_opt(
            "SELECT ino FROM dirents WHERE dir = $1 AND name = $2",
            &[&i(dir), &name],
        )?
        .map(|r| u(r.get(0))))
}

/// Locks directory `ino`'s row (`FOR UPDATE`) and loads it in one round trip.
pub fn lock_dir_node(tx: &mut Transaction<'_>, ino: InodeId) -> TxResult<Node> {
    let sql = format!("SELECT {ATTR_COLS} FROM inodes WHERE ino = $1 FOR UPDATE");
    let n = match tx.query_opt(&sql, &[&i(ino)])? {
        Some(row) => node_from(&row, 0)?,
        None => return Err(MetaError::NoInode(ino).into()),
    };
    if !n.is_dir() {
        return Err(MetaError::NotDirectory.into());
    }
    Ok(n)
}

/// Adds `dir/name → ino` and touches `dir` (mtime, ctime, `nlink_delta`) in two
/// round trips; returns the directory's attributes afterwards. The caller holds
/// the directory's row lock.
pub fn add_entry_and_touch(
    tx: &mut Transaction<'_>,
    dir: InodeId,
    name: &[u8],
    ino: InodeId,
    now: Timespec,
    nlink_delta: i64,
) -> TxResult<Attr> {
    let sql = format!(
        "UPDATE inodes SET next_cookie = next_cookie + 1, mtime_sec = $2, mtime_nsec = $3, \
         ctime_sec = $2, ctime_nsec = $3, nlink = greatest(nlink + $4, 0) WHERE ino = $1 \
         RETURNING next_cookie - 1, {ATTR_COLS}"
    );
    let row = tx.query_one(
        &sql,
        &[&i(dir), &now.sec, &i64::from(now.nsec), &nlink_delta],
    )?;
    let cookie: i64 = row.get(0);
    let after = node_from(&row, 1)?.attr;
    tx.execute(
        "INSERT INTO dirents (dir, name, ino, cookie) VALUES ($1, $2, $3, $4)",
        &[&i(dir), &name, &i(ino), &cookie],
    )?;
    Ok(after)
}

/// Whether directory `dir` has entries.
pub fn has_entries(tx: &mut Transaction<'_>, dir: InodeId) -> TxResult<bool> {
    Ok(tx
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM dirents WHERE dir = $1)",
            &[&i(dir)],
        )?
        .get(0))
}

/// Writes the mutable attributes of `a` back.
pub fn store_attr(tx: &mut Transaction<'_>, a: &Attr) -> TxResult<()> {
    tx.execute(
        "UPDATE inodes SET mode = $2, nlink = $3, uid = $4, gid = $5, size = $6, used = $7, \
         atime_sec = $8, atime_nsec = $9, mtime_sec = $10, mtime_nsec = $11, \
         ctime_sec = $12, ctime_nsec = $13, btime_sec = $14, btime_nsec = $15 WHERE ino = $1",
        &[
            &i(a.ino),
            &i64::from(a.mode),
            &i64::from(a.nlink),
            &i64::from(a.uid),
            &i64::from(a.gid),
            &i(a.size),
            &i(a.used),
            &a.atime.sec,
            &i64::from(a.atime.nsec),
            &a.mtime.sec,
            &i64::from(a.mtime.nsec),
            &a.ctime.sec,
            &i64::from(a.ctime.nsec),
            &a.btime.sec,
            &i64::from(a.btime.nsec),
        ],
    )?;
    Ok(())
}

/// Sets mtime and ctime of directory `ino` to `now` and adds `nlink_delta` links.
pub fn touch_dir(
    tx: &mut Transaction<'_>,
    ino: InodeId,
    now: Timespec,
    nlink_delta: i64,
) -> TxResult<()> {
    tx.execute(
        "UPDATE inodes SET mtime_sec = $2, mtime_nsec = $3, ctime_sec = $2, ctime_nsec = $3, \
         nlink = greatest(nlink + $4, 0) WHERE ino = $1",
        &[&i(ino), &now.sec, &i64::from(now.nsec), &nlink_delta],
    )?;
    Ok(())
}

/// Adds `dir/name → ino` with the directory's next cookie.
pub fn insert_entry(
    tx: &mut Transaction<'_>,
    dir: InodeId,
    name: &[u8],
    ino: InodeId,
) -> TxResult<()> {
    let row = tx.query_one(
        "UPDATE inodes SET next_cookie = next_cookie + 1 WHERE ino = $1 RETURNING next_cookie - 1",
        &[&i(dir)],
    )?;
    let cookie: i64 = row.get(0);
    tx.execute(
        "INSERT INTO dirents (dir, name, ino, cookie) VALUES ($1, $2, $3, $4)",
        &[&i(dir), &name, &i(ino), &cookie],
    )?;
    Ok(())
}

pub fn delete_entry(tx: &mut Transaction<'_>, dir: InodeId, name: &[u8]) -> TxResult<()> {
    tx.execute(
        "DELETE FROM dirents WHERE dir = $1 AND name = $2",
        &[&i(dir), &name],
    )?;
    Ok(())
}

/// Takes one link from `ino` (all of them for a directory); deletes the inode
/// when none is left.
pub fn unlink_inode(
    tx: &mut Transaction<'_>,
    ino: InodeId,
    now: Timespec,
    keep: bool,
) -> TxResult<Unlinked> {
    let mut attr = node(tx, ino)?.attr;
    attr.ctime = now;
    if attr.ftype == FileType::Directory {
        attr.nlink = 0;
    } else {
        attr.nlink = attr.nlink.saturating_sub(1);
    }
    let last_link = attr.nlink == 0 && !(keep && attr.ftype != FileType::Directory);
    if last_link {
        tx.execute("DELETE FROM inodes WHERE ino = $1", &[&i(ino)])?;
    } else {
        store_attr(tx, &attr)?;
        if attr.nlink == 0 {
            // Kept for its opens: on the orphan set until reaped, so a crash
            // before the reap cannot leak it.
            tx.execute(
                "INSERT INTO orphans (ino) VALUES ($1) ON CONFLICT DO NOTHING",
                &[&i(ino)],
            )?;
        }
    }
    Ok(Unlinked { attr, last_link })
}

/// Whether `ino` is `ancestor` or lies below it (walks `parent` upwards).
pub fn is_within(tx: &mut Transaction<'_>, ino: InodeId, ancestor: InodeId) -> TxResult<bool> {
    let row = tx.query_one(
        "WITH RECURSIVE up (ino, parent, depth) AS ( \
             SELECT ino, parent, 0 FROM inodes WHERE ino = $1 \
           UNION ALL \
             SELECT n.ino, n.parent, up.depth + 1 FROM inodes n JOIN up ON n.ino = up.parent \
             WHERE up.parent <> up.ino AND up.parent <> 0 AND up.ino <> $2 AND up.depth < 100000 \
         ) SELECT EXISTS (SELECT 1 FROM up WHERE ino = $2)",
        &[&i(ino), &i(ancestor)],
    )?;
    Ok(row.get(0))
}

/// Locks the rows of `inos` (`SELECT ... FOR UPDATE`, in ascending id order so
/// that two jobs never wait on each other in a cycle). Every mutation locks
/// the directories whose entries it reads or changes and the inodes whose
/// attributes it changes before reading them, so under READ COMMITTED what it
/// read stays true until it commits. Missing rows are skipped (the following
/// read reports `NoInode`).
pub fn lock(tx: &mut Transaction<'_>, inos: &[InodeId]) -> TxResult<()> {
    let ids: Vec<i64> = inos.iter().map(|&n| i(n)).collect();
    tx.query(
        "SELECT ino FROM inodes WHERE ino = ANY($1) ORDER BY ino FOR UPDATE",
        &[&ids],
    )?;
    Ok(())
}

/// Advisory lock key serializing renames that move a directory to another
/// parent (the ancestry check must not race another such move), like the VFS
/// rename mutex.
const DIR_MOVE_LOCK: i64 = 0x0064_6974_746f_6672;

/// Takes the directory-move lock without waiting; a held lock fails with
/// 55P03, which makes the pool re-run the job after a backoff (waiting here
/// while holding row locks could deadlock).
pub fn lock_dir_moves(tx: &mut Transaction<'_>) -> TxResult<()> {
    let got: bool = tx
        .query_one("SELECT pg_try_advisory_xact_lock($1)", &[&DIR_MOVE_LOCK])?
        .get(0);
    if got {
        return Ok(());
    }
    // Raise a real 55P03 so the pool's retry logic sees a database error.
    tx.batch_execute(
        "DO $$ BEGIN RAISE EXCEPTION 'directory move in progress' USING ERRCODE = '55P03'; END $$",
    )?;
    Ok(())
}

/// Serializes block-map changes of one file (its inode row may not exist).
pub fn lock_block_map(tx: &mut Transaction<'_>, ino: InodeId) -> TxResult<()> {
    tx.execute("SELECT pg_advisory_xact_lock(2, hashint8($1))", &[&i(ino)])?;
    Ok(())
}
