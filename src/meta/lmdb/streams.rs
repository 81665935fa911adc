//! Named streams in the LMDB store (see `meta::streams`): one database
//! `streams`, key `base ino (BE) ++ key`, value `stream ino (BE) ++ name`.
//! A prefix scan on the base lists its streams; the stream inode is a normal
//! record in `inodes` (no entry in `dirents`).

use heed::{RoTxn, RwTxn};

use super::codec::{self, InodeRec};
use super::txn::OpResult;
use super::Shared;
use crate::fs::{Attr, FileType, InodeId, Timespec};
use crate::meta::streams::check_stream_name;
use crate::meta::{MetaError, NewInode, StreamCreated, StreamRecord};

fn stream_key(base: InodeId, key: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(8 + key.len());
    k.extend_from_slice(&base.to_be_bytes());
    k.extend_from_slice(key);
    k
}

fn stream_value(ino: InodeId, name: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(8 + name.len());
    v.extend_from_slice(&ino.to_be_bytes());
    v.extend_from_slice(name);
    v
}

/// `(stream ino, name)` of a `streams` value.
pub fn decode_stream_value(v: &[u8]) -> OpResult<(InodeId, Vec<u8>)> {
    let Some((ino, name)) = v.split_first_chunk::<8>() else {
        return Err(codec::corrupt("short stream value").into());
    };
    Ok((u64::from_be_bytes(*ino), name.to_vec()))
}

impl Shared {
    fn q_stream_entry(
        &self,
        txn: &RoTxn<'_>,
        base: InodeId,
        key: &[u8],
    ) -> OpResult<Option<(InodeId, Vec<u8>)>> {
        match self.dbs.streams.get(txn, &stream_key(base, key))? {
            Some(v) => Ok(Some(decode_stream_value(v)?)),
            None => Ok(None),
        }
    }

    pub fn q_lookup_stream(
        &self,
        txn: &RoTxn<'_>,
        base: InodeId,
        key: &[u8],
    ) -> OpResult<Option<StreamRecord>> {
        let Some((ino, name)) = self.q_stream_entry(txn, base, key)? else {
            return Ok(None);
        };
        Ok(Some(StreamRecord {
            key: key.to_vec(),
            name,
            attr: self.dbs.node(txn, ino)?.attr,
        }))
    }

    pub fn q_list_streams(&self, txn: &RoTxn<'_>, base: InodeId) -> OpResult<Vec<StreamRecord>> {
        let mut out = Vec::new();
        for item in self.dbs.streams.prefix_iter(txn, &base.to_be_bytes())? {
            let (k, v) = item?;
            let (ino, name) = decode_stream_value(v)?;
            out.push(StreamRecord {
                key: k[8..].to_vec(),
                name,
                attr: self.dbs.node(txn, ino)?.attr,
            });
        }
        Ok(out)
    }

    fn delete_stream_inode(&self, txn: &mut RwTxn<'_>, ino: InodeId) -> OpResult<Option<Attr>> {
        let d = &self.dbs;
        let Some(rec) = d.inode(txn, ino)? else {
            return Ok(None);
        };
        d.inodes.delete(txn, &ino.to_be_bytes())?;
        d.dos_attrs.delete(txn, &ino.to_be_bytes())?;
        if rec.attr.ftype == FileType::Regular {
            d.add_used_bytes(txn, -i128::from(rec.attr.size))?;
        }
        Ok(Some(rec.attr))
    }

    pub fn op_create_stream(
        &self,
        txn: &mut RwTxn<'_>,
        base: InodeId,
        key: &[u8],
        name: &[u8],
        new: &NewInode,
        now: Timespec,
    ) -> OpResult<StreamCreated> {
        check_stream_name(key)?;
        check_stream_name(name)?;
        self.dbs.node(txn, base)?;
        if let Some(stream) = self.q_lookup_stream(txn, base, key)? {
            return Ok(StreamCreated {
                stream,
                existed: true,
            });
        }
        if self.dbs.inodes.len(txn)? >= self.total_files {
            return Err(MetaError::NoSpace.into());
        }
        let ino = self.alloc_ino_pub(txn)?;
        let regular = NewInode {
            ftype: FileType::Regular,
            ..new.clone()
        };
        let rec = InodeRec {
            attr: regular.initial_attr(ino, self.generation, now),
            parent: 0,
            next_cookie: 0,
            verifier: None,
            target: Vec::new(),
        };
        self.dbs.put_inode(txn, &rec)?;
        self.dbs
            .streams
            .put(txn, &stream_key(base, key), &stream_value(ino, name))?;
        Ok(StreamCreated {
            stream: StreamRecord {
                key: key.to_vec(),
                name: name.to_vec(),
                attr: rec.attr,
            },
            existed: false,
        })
    }

    pub fn op_remove_stream(
        &self,
        txn: &mut RwTxn<'_>,
        base: InodeId,
        key: &[u8],
    ) -> OpResult<Option<Attr>> {
        let Some((ino, _)) = self.q_stream_entry(txn, base, key)? else {
            return Ok(None);
        };
        self.dbs.streams.delete(txn, &stream_key(base, key))?;
        self.delete_stream_inode(txn, ino)
    }

    pub fn op_rename_stream(
        &self,
        txn: &mut RwTxn<'_>,
        base: InodeId,
        from_key: &[u8],
        to_key: &[u8],
        to_name: &[u8],
        replace: bool,
    ) -> OpResult<Option<Attr>> {
        check_stream_name(to_key)?;
        check_stream_name(to_name)?;
        let (ino, _) = self
            .q_stream_entry(txn, base, from_key)?
            .ok_or(MetaError::NoEntry)?;
        let replaced = match self.q_stream_entry(txn, base, to_key)? {
            Some((other, _)) if other != ino => {
                if !replace {
                    return Err(MetaError::Exists.into());
                }
                Some(other)
            }
            _ => None,
        };
        self.dbs.streams.delete(txn, &stream_key(base, from_key))?;
        self.dbs
            .streams
            .put(txn, &stream_key(base, to_key), &stream_value(ino, to_name))?;
        match replaced {
            Some(other) => self.delete_stream_inode(txn, other),
            None => Ok(None),
        }
    }
}
