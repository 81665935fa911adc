//! Byte layouts of the LMDB keys and values (see ARCHITECTURE.md, "LMDB store").
//!
//! Keys are big-endian so that LMDB's byte-wise ordering equals numeric order:
//! a directory's entries and a file's blocks are contiguous key ranges, and
//! "cookies after c" is a cursor seek. Values are fixed binary records whose
//! first byte is a format version, so a later layout can be read side by side.

use crate::fs::{Attr, DeviceId, FileType, InodeId, Timespec};
use crate::meta::{BlockRef, MetaError, MetaResult};

/// Version byte of every inode record written by this code.
pub const INODE_RECORD_V1: u8 = 1;
/// Version byte of every block map value written by this code.
pub const BLOCK_RECORD_V1: u8 = 1;

/// `meta` database keys.
pub const META_FORMAT: &[u8] = b"format";
pub const META_NEXT_INO: &[u8] = b"next_ino";
pub const META_GENERATION: &[u8] = b"generation";
pub const META_USED_BYTES: &[u8] = b"used_bytes";

/// Layout version of the whole environment (stored under `meta/format`).
pub const FORMAT_VERSION: u64 = 1;

/// An inode as stored: its attributes plus what the namespace needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InodeRec {
    pub attr: Attr,
    /// Parent directory (directories only; a share root is its own parent).
    pub parent: InodeId,
    /// Next entry cookie to hand out (directories only).
    pub next_cookie: u64,
    /// Exclusive-create verifier.
    pub verifier: Option<[u8; 8]>,
    /// Symlink target.
    pub target: Vec<u8>,
}

impl InodeRec {
    pub fn is_dir(&self) -> bool {
        self.attr.ftype == FileType::Directory
    }
}

fn ftype_code(f: FileType) -> u8 {
    match f {
        FileType::Regular => 1,
        FileType::Directory => 2,
        FileType::Symlink => 3,
        FileType::CharDevice => 4,
        FileType::BlockDevice => 5,
        FileType::Fifo => 6,
        FileType::Socket => 7,
    }
}

fn ftype_from(code: u8) -> Option<FileType> {
    Some(match code {
        1 => FileType::Regular,
        2 => FileType::Directory,
        3 => FileType::Symlink,
        4 => FileType::CharDevice,
        5 => FileType::BlockDevice,
        6 => FileType::Fifo,
        7 => FileType::Socket,
        _ => return None,
    })
}

pub fn corrupt(what: &str) -> MetaError {
    MetaError::Backend(format!("corrupt LMDB record: {what}"))
}

/// Encodes an inode record: version, fixed fields, then the symlink target.
pub fn encode_inode(r: &InodeRec) -> Vec<u8> {
    let a = &r.attr;
    let mut out = Vec::with_capacity(128 + r.target.len());
    out.push(INODE_RECORD_V1);
    out.push(ftype_code(a.ftype));
    for v in [a.mode, a.nlink, a.uid, a.gid, a.rdev.major, a.rdev.minor] {
        out.extend_from_slice(&v.to_be_bytes());
    }
    for v in [a.size, a.used, a.generation, r.parent, r.next_cookie] {
        out.extend_from_slice(&v.to_be_bytes());
    }
    for t in [a.atime, a.mtime, a.ctime, a.btime] {
        out.extend_from_slice(&t.sec.to_be_bytes());
        out.extend_from_slice(&t.nsec.to_be_bytes());
    }
    match r.verifier {
        Some(v) => {
            out.push(1);
            out.extend_from_slice(&v);
        }
        None => out.push(0),
    }
    out.extend_from_slice(&r.target);
    out
}

/// A cursor over a byte slice that fails (instead of panicking) when short.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> MetaResult<&'a [u8]> {
        if self.0.len() < n {
            return Err(corrupt("short record"));
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }
    fn u8(&mut self) -> MetaResult<u8> {
        Ok(self.take(1)?[0])
    }
    fn u32(&mut self) -> MetaResult<u32> {
        let mut b = [0u8; 4];
        b.copy_from_slice(self.take(4)?);
        Ok(u32::from_be_bytes(b))
    }
    fn u64(&mut self) -> MetaResult<u64> {
        let mut b = [0u8; 8];
        b.copy_from_slice(self.take(8)?);
        Ok(u64::from_be_bytes(b))
    }
    fn time(&mut self) -> MetaResult<Timespec> {
        let sec = self.u64()? as i64;
        let nsec = self.u32()?;
        Ok(Timespec { sec, nsec })
    }
}

/// Decodes an inode record stored under `ino`.
pub fn decode_inode(ino: InodeId, bytes: &[u8]) -> MetaResult<InodeRec> {
    let mut r = Reader(bytes);
    if r.u8()? != INODE_RECORD_V1 {
        return Err(corrupt("unknown inode record version"));
    }
    let ftype = ftype_from(r.u8()?).ok_or_else(|| corrupt("file type"))?;
    let (mode, nlink, uid, gid) = (r.u32()?, r.u32()?, r.u32()?, r.u32()?);
    let rdev = DeviceId {
        major: r.u32()?,
        minor: r.u32()?,
    };
    let (size, used, generation, parent, next_cookie) =
        (r.u64()?, r.u64()?, r.u64()?, r.u64()?, r.u64()?);
    let (atime, mtime, ctime, btime) = (r.time()?, r.time()?, r.time()?, r.time()?);
    let verifier = match r.u8()? {
        0 => None,
        _ => {
            let mut v = [0u8; 8];
            v.copy_from_slice(r.take(8)?);
            Some(v)
        }
    };
    Ok(InodeRec {
        attr: Attr {
            ino,
            ftype,
            mode,
            nlink,
            uid,
            gid,
            size,
            used,
            rdev,
            atime,
            mtime,
            ctime,
            btime,
            generation,
        },
        parent,
        next_cookie,
        verifier,
        target: r.0.to_vec(),
    })
}

/// `dirents` key: directory ino (BE) ++ name.
pub fn dirent_key(dir: InodeId, name: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(8 + name.len());
    k.extend_from_slice(&dir.to_be_bytes());
    k.extend_from_slice(name);
    k
}

/// `dirents` value: ino (BE) ++ cookie (BE).
pub fn dirent_value(ino: InodeId, cookie: u64) -> [u8; 16] {
    pair(ino, cookie)
}

pub fn decode_dirent_value(v: &[u8]) -> MetaResult<(InodeId, u64)> {
    let mut r = Reader(v);
    Ok((r.u64()?, r.u64()?))
}

/// Two big-endian u64s: the `cookies` and `blocks` keys, the `dirents` value.
pub fn pair(a: u64, b: u64) -> [u8; 16] {
    let mut k = [0u8; 16];
    k[..8].copy_from_slice(&a.to_be_bytes());
    k[8..].copy_from_slice(&b.to_be_bytes());
    k
}

/// Splits a 16-byte key into its two big-endian halves.
pub fn split_pair(k: &[u8]) -> MetaResult<(u64, u64)> {
    let mut r = Reader(k);
    Ok((r.u64()?, r.u64()?))
}

/// `blocks` value: version, len (BE), generation (BE), object key.
pub fn encode_block(b: &BlockRef) -> Vec<u8> {
    let mut out = Vec::with_capacity(17 + b.key.len());
    out.push(BLOCK_RECORD_V1);
    out.extend_from_slice(&b.len.to_be_bytes());
    out.extend_from_slice(&b.generation.to_be_bytes());
    out.extend_from_slice(b.key.as_bytes());
    out
}

pub fn decode_block(v: &[u8]) -> MetaResult<BlockRef> {
    let mut r = Reader(v);
    if r.u8()? != BLOCK_RECORD_V1 {
        return Err(corrupt("unknown block record version"));
    }
    let len = r.u64()?;
    let generation = r.u64()?;
    let key = String::from_utf8(r.0.to_vec()).map_err(|_| corrupt("block key"))?;
    Ok(BlockRef {
        key,
        len,
        generation,
    })
}

pub fn decode_u64(v: &[u8]) -> MetaResult<u64> {
    Reader(v).u64()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inode_record_round_trips() {
        let rec = InodeRec {
            attr: Attr {
                ino: 9,
                ftype: FileType::Symlink,
                mode: 0o4755,
                nlink: 3,
                uid: 1000,
                gid: 100,
                size: 5,
                used: 5,
                rdev: DeviceId { major: 8, minor: 1 },
                atime: Timespec { sec: -5, nsec: 1 },
                mtime: Timespec { sec: 6, nsec: 2 },
                ctime: Timespec { sec: 7, nsec: 3 },
                btime: Timespec { sec: 8, nsec: 4 },
                generation: 77,
            },
            parent: 4,
            next_cookie: 12,
            verifier: Some(*b"verifier"),
            target: b"a/b/c".to_vec(),
        };
        let bytes = encode_inode(&rec);
        assert_eq!(bytes[0], INODE_RECORD_V1);
        assert_eq!(decode_inode(9, &bytes).unwrap(), rec);
        assert!(decode_inode(9, &bytes[..20]).is_err());
    }

    #[test]
    fn block_record_round_trips() {
        let b = BlockRef {
            key: "k/1".into(),
            len: 4096,
            generation: 3,
        };
        assert_eq!(decode_block(&encode_block(&b)).unwrap(), b);
    }
}
