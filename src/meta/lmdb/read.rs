//! Read-side queries, run inline in a read transaction on the calling core
//! (and by the writer, on its write transaction, where a mutation needs them).

use std::ops::Bound;

use heed::RoTxn;

use super::codec::{self};
use super::txn::OpResult;
use super::Shared;
use crate::fs::{Attr, FileType, InodeId};
use crate::meta::{BlockRef, DirListing, DirRecord, MetaError, StoreStat, FIRST_COOKIE};

impl Shared {
    pub fn q_lookup(&self, txn: &RoTxn<'_>, dir: InodeId, name: &[u8]) -> OpResult<Attr> {
        let d = &self.dbs;
        let rec = d.dir(txn, dir)?;
        match name {
            b"." => Ok(rec.attr),
            b".." => Ok(d.node(txn, rec.parent)?.attr),
            _ => {
                let (ino, _) = d.entry(txn, dir, name)?.ok_or(MetaError::NoEntry)?;
                Ok(d.node(txn, ino)?.attr)
            }
        }
    }

    pub fn q_readlink(&self, txn: &RoTxn<'_>, ino: InodeId) -> OpResult<Vec<u8>> {
        let rec = self.dbs.node(txn, ino)?;
        if rec.attr.ftype != FileType::Symlink {
            return Err(MetaError::InvalidArgument.into());
        }
        Ok(rec.target)
    }

    /// The cookie verifier of directory `ino`: constant for its life, and
    /// different for a directory of another store instance (generation).
    pub fn dir_verifier(&self, ino: InodeId) -> u64 {
        self.generation ^ ino.wrapping_mul(0x9E37_79B9_7F4A_7C15)
    }

    pub fn q_readdir(
        &self,
        txn: &RoTxn<'_>,
        dir: InodeId,
        after: u64,
        max: usize,
        with_attrs: bool,
    ) -> OpResult<DirListing> {
        let d = &self.dbs;
        let rec = d.dir(txn, dir)?;
        let start = after.max(FIRST_COOKIE - 1).saturating_add(1);
        let (page, more) = d.cookies_from(txn, dir, start, max)?;
        let mut entries = Vec::with_capacity(page.len());
        for (cookie, name) in page {
            let (ino, _) = d
                .entry(txn, dir, &name)?
                .ok_or_else(|| MetaError::Backend("directory index out of sync".into()))?;
            let attr = if with_attrs {
                Some(d.node(txn, ino)?.attr)
            } else {
                None
            };
            entries.push(DirRecord {
                name,
                ino,
                cookie,
                attr,
            });
        }
        Ok(DirListing {
            dir: rec.attr,
            parent: rec.parent,
            entries,
            eof: !more,
            verifier: self.dir_verifier(dir),
        })
    }

    pub fn q_stat(&self, txn: &RoTxn<'_>) -> OpResult<StoreStat> {
        let used = self.dbs.meta_u64(txn, codec::META_USED_BYTES)?.unwrap_or(0);
        Ok(StoreStat {
            total_bytes: self.total_bytes,
            used_bytes: used.min(self.total_bytes),
            total_files: self.total_files,
            used_files: self.dbs.inodes.len(txn)?,
        })
    }

    pub fn q_get_block(
        &self,
        txn: &RoTxn<'_>,
        ino: InodeId,
        index: u64,
    ) -> OpResult<Option<BlockRef>> {
        match self.dbs.blocks.get(txn, &codec::pair(ino, index))? {
            Some(v) => Ok(Some(codec::decode_block(v)?)),
            None => Ok(None),
        }
    }

    /// Block map entries of `ino` with index `>= from_index`, in index order.
    pub fn blocks_from(
        &self,
        txn: &RoTxn<'_>,
        ino: InodeId,
        from_index: u64,
    ) -> OpResult<Vec<(u64, BlockRef)>> {
        let lo = codec::pair(ino, from_index);
        let hi = codec::pair(ino, u64::MAX);
        let bounds: (Bound<&[u8]>, Bound<&[u8]>) =
            (Bound::Included(&lo[..]), Bound::Included(&hi[..]));
        let mut out = Vec::new();
        for item in self.dbs.blocks.range(txn, &bounds)? {
            let (key, value) = item?;
            let (_, index) = codec::split_pair(key)?;
            out.push((index, codec::decode_block(value)?));
        }
        Ok(out)
    }

    /// Up to `max` inodes of the orphan set above `after`, ascending.
    pub fn q_orphans(&self, txn: &RoTxn<'_>, after: InodeId, max: usize) -> OpResult<Vec<InodeId>> {
        let lo = after.to_be_bytes();
        let bounds: (Bound<&[u8]>, Bound<&[u8]>) = (Bound::Excluded(&lo[..]), Bound::Unbounded);
        let mut out = Vec::new();
        for item in self.dbs.orphans.range(txn, &bounds)?.take(max) {
            let (key, _) = item?;
            out.push(codec::decode_u64(key)?);
        }
        Ok(out)
    }

    pub fn q_share(&self, txn: &RoTxn<'_>, name: &str) -> OpResult<Option<InodeId>> {
        match self.dbs.shares.get(txn, name.as_bytes())? {
            Some(v) => Ok(Some(codec::decode_u64(v)?)),
            None => Ok(None),
        }
    }
}
