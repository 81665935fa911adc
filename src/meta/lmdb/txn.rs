//! The databases of the environment and the small record-level helpers every
//! read and write builds on. Reads take a `&RoTxn` (a `RwTxn` dereferences to
//! one, so the writer sees its own uncommitted changes through the same code).

use heed::types::Bytes;
use heed::{Database, Env, RoTxn, RwTxn};
use std::ops::Bound;

use super::codec::{
    self, decode_dirent_value, decode_inode, dirent_key, dirent_value, encode_inode, pair, InodeRec,
};
use crate::fs::{InodeId, Timespec};
use crate::meta::MetaError;

pub type Db = Database<Bytes, Bytes>;

/// Why a step inside a transaction failed.
#[derive(Debug)]
pub enum OpError {
    /// A namespace outcome (`Exists`, `NoEntry`, ...): the op fails, the batch goes on.
    Meta(MetaError),
    /// The map is full: the writer aborts the batch, grows the map and reruns it.
    MapFull,
    /// Any other LMDB failure.
    Heed(heed::Error),
}

impl From<MetaError> for OpError {
    fn from(e: MetaError) -> Self {
        OpError::Meta(e)
    }
}

impl From<heed::Error> for OpError {
    fn from(e: heed::Error) -> Self {
        match e {
            heed::Error::Mdb(heed::MdbError::MapFull) => OpError::MapFull,
            other => OpError::Heed(other),
        }
    }
}

/// True for the errno values that mean "the disk is full".
fn is_enospc(code: i32) -> bool {
    code == libc::ENOSPC || code == libc::EDQUOT
}

/// The store-level meaning of an LMDB error.
pub fn heed_to_meta(e: &heed::Error) -> MetaError {
    match e {
        heed::Error::Mdb(heed::MdbError::MapFull) => MetaError::NoSpace,
        heed::Error::Mdb(heed::MdbError::Other(code)) if is_enospc(*code) => MetaError::NoSpace,
        heed::Error::Io(io) if io.raw_os_error().is_some_and(is_enospc) => MetaError::NoSpace,
        other => MetaError::Backend(format!("lmdb: {other}")),
    }
}

impl OpError {
    pub fn into_meta(self) -> MetaError {
        match self {
            OpError::Meta(e) => e,
            OpError::MapFull => MetaError::NoSpace,
            OpError::Heed(e) => heed_to_meta(&e),
        }
    }
}

pub type OpResult<T> = Result<T, OpError>;

/// One `cookies` entry: (cookie, name).
pub type CookieName = (u64, Vec<u8>);

/// The named databases of one environment.
#[derive(Debug, Clone, Copy)]
pub struct Dbs {
    /// ino (BE) → inode record.
    pub inodes: Db,
    /// dir ino (BE) ++ name → ino (BE) ++ cookie (BE).
    pub dirents: Db,
    /// dir ino (BE) ++ cookie (BE) → name.
    pub cookies: Db,
    /// ino (BE) ++ block index (BE) → block record.
    pub blocks: Db,
    /// share name → root ino (BE).
    pub shares: Db,
    /// store-wide values: format, next_ino, generation, used_bytes.
    pub meta: Db,
    /// user name → user record (version byte ++ JSON).
    pub users: Db,
    /// uid (BE u32) → user name.
    pub users_by_uid: Db,
    /// group name → group record (version byte ++ JSON).
    pub groups: Db,
    /// gid (BE u32) → group name.
    pub groups_by_gid: Db,
    /// ino (BE) → DOS attributes (BE u32); absent = 0.
    pub dos_attrs: Db,
    /// base ino (BE) ++ stream key → stream ino (BE) ++ stream name
    /// (named streams, see `meta::streams`).
    pub streams: Db,
    /// ino (BE) → empty: the orphan set (inodes kept at nlink 0 until reaped).
    pub orphans: Db,
}

impl Dbs {
    pub const COUNT: u32 = 13;

    /// Opens (creating on first use) every database in one write transaction.
    pub fn create(env: &Env, txn: &mut RwTxn<'_>) -> heed::Result<Dbs> {
        Ok(Dbs {
            inodes: env.create_database(txn, Some("inodes"))?,
            dirents: env.create_database(txn, Some("dirents"))?,
            cookies: env.create_database(txn, Some("cookies"))?,
            blocks: env.create_database(txn, Some("blocks"))?,
            shares: env.create_database(txn, Some("shares"))?,
            meta: env.create_database(txn, Some("meta"))?,
            users: env.create_database(txn, Some("users"))?,
            users_by_uid: env.create_database(txn, Some("users_by_uid"))?,
            groups: env.create_database(txn, Some("groups"))?,
            groups_by_gid: env.create_database(txn, Some("groups_by_gid"))?,
            dos_attrs: env.create_database(txn, Some("dos_attrs"))?,
            streams: env.create_database(txn, Some("streams"))?,
            orphans: env.create_database(txn, Some("orphans"))?,
        })
    }

    pub fn inode(&self, txn: &RoTxn<'_>, ino: InodeId) -> OpResult<Option<InodeRec>> {
        match self.inodes.get(txn, &ino.to_be_bytes())? {
            Some(bytes) => Ok(Some(decode_inode(ino, bytes)?)),
            None => Ok(None),
        }
    }

    /// The inode, or `NoInode`.
    pub fn node(&self, txn: &RoTxn<'_>, ino: InodeId) -> OpResult<InodeRec> {
        self.inode(txn, ino)?
            .ok_or(OpError::Meta(MetaError::NoInode(ino)))
    }

    /// The inode, which must be a directory.
    pub fn dir(&self, txn: &RoTxn<'_>, ino: InodeId) -> OpResult<InodeRec> {
        let rec = self.node(txn, ino)?;
        if !rec.is_dir() {
            return Err(MetaError::NotDirectory.into());
        }
        Ok(rec)
    }

    pub fn put_inode(&self, txn: &mut RwTxn<'_>, rec: &InodeRec) -> OpResult<()> {
        self.inodes
            .put(txn, &rec.attr.ino.to_be_bytes(), &encode_inode(rec))?;
        Ok(())
    }

    /// `(ino, cookie)` of `dir/name`.
    pub fn entry(
        &self,
        txn: &RoTxn<'_>,
        dir: InodeId,
        name: &[u8],
    ) -> OpResult<Option<(InodeId, u64)>> {
        match self.dirents.get(txn, &dirent_key(dir, name))? {
            Some(v) => Ok(Some(decode_dirent_value(v)?)),
            None => Ok(None),
        }
    }

    /// Adds `name → ino` to the directory `dir_rec` with the next cookie. The
    /// caller writes `dir_rec` back (its `next_cookie` moved).
    pub fn insert_entry(
        &self,
        txn: &mut RwTxn<'_>,
        dir_rec: &mut InodeRec,
        name: &[u8],
        ino: InodeId,
    ) -> OpResult<()> {
        let dir = dir_rec.attr.ino;
        let cookie = dir_rec.next_cookie;
        dir_rec.next_cookie += 1;
        self.dirents
            .put(txn, &dirent_key(dir, name), &dirent_value(ino, cookie))?;
        self.cookies.put(txn, &pair(dir, cookie), name)?;
        Ok(())
    }

    /// Removes `dir/name` from both indexes.
    pub fn remove_entry(
        &self,
        txn: &mut RwTxn<'_>,
        dir: InodeId,
        name: &[u8],
    ) -> OpResult<Option<InodeId>> {
        let Some((ino, cookie)) = self.entry(txn, dir, name)? else {
            return Ok(None);
        };
        self.dirents.delete(txn, &dirent_key(dir, name))?;
        self.cookies.delete(txn, &pair(dir, cookie))?;
        Ok(Some(ino))
    }

    /// Whether directory `dir` has no entries.
    pub fn dir_is_empty(&self, txn: &RoTxn<'_>, dir: InodeId) -> OpResult<bool> {
        let mut iter = self.dirents.prefix_iter(txn, &dir.to_be_bytes())?;
        Ok(iter.next().transpose()?.is_none())
    }

    /// Up to `max` `(cookie, name)` of `dir` with cookie `>= start`, and whether
    /// more follow.
    pub fn cookies_from(
        &self,
        txn: &RoTxn<'_>,
        dir: InodeId,
        start: u64,
        max: usize,
    ) -> OpResult<(Vec<CookieName>, bool)> {
        let lo = pair(dir, start);
        let hi = pair(dir, u64::MAX);
        let bounds: (Bound<&[u8]>, Bound<&[u8]>) =
            (Bound::Included(&lo[..]), Bound::Included(&hi[..]));
        let mut iter = self.cookies.range(txn, &bounds)?;
        let mut out = Vec::new();
        for item in iter.by_ref().take(max) {
            let (key, name) = item?;
            let (_, cookie) = codec::split_pair(key)?;
            out.push((cookie, name.to_vec()));
        }
        let more = iter.next().transpose()?.is_some();
        Ok((out, more))
    }

    pub fn meta_u64(&self, txn: &RoTxn<'_>, key: &[u8]) -> OpResult<Option<u64>> {
        match self.meta.get(txn, key)? {
            Some(v) => Ok(Some(codec::decode_u64(v)?)),
            None => Ok(None),
        }
    }

    pub fn set_meta_u64(&self, txn: &mut RwTxn<'_>, key: &[u8], value: u64) -> OpResult<()> {
        self.meta.put(txn, key, &value.to_be_bytes())?;
        Ok(())
    }

    /// Adds `delta` (may be negative) to the store's used-bytes figure.
    pub fn add_used_bytes(&self, txn: &mut RwTxn<'_>, delta: i128) -> OpResult<()> {
        if delta == 0 {
            return Ok(());
        }
        let used = self.meta_u64(txn, codec::META_USED_BYTES)?.unwrap_or(0);
        let new = (i128::from(used) + delta).clamp(0, i128::from(u64::MAX));
        self.set_meta_u64(txn, codec::META_USED_BYTES, new as u64)
    }

    /// Sets mtime/ctime of directory `ino` to `now` and adds `nlink_delta` links.
    pub fn touch_dir(
        &self,
        txn: &mut RwTxn<'_>,
        ino: InodeId,
        now: Timespec,
        nlink_delta: i64,
    ) -> OpResult<()> {
        let mut rec = self.node(txn, ino)?;
        rec.attr.mtime = now;
        rec.attr.ctime = now;
        let nlink = i64::from(rec.attr.nlink) + nlink_delta;
        rec.attr.nlink = u32::try_from(nlink.max(0)).unwrap_or(u32::MAX);
        self.put_inode(txn, &rec)
    }
}
