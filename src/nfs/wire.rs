//! The NFSv3 data types shared by many procedures (RFC 1813 §2.5–2.6):
//! `fattr3`, `post_op_attr`, `wcc_data`, `sattr3`, `nfstime3`, `diropargs3`.
//!
//! Wire types are kept apart from the `fs` core's types where the wire carries
//! something the core does not know (a `fattr3` carries the fsid), and reuse
//! the core's types where the two agree (`sattr3` is [`SetAttr`]). Every type
//! has both an encoder and a decoder so the codec serves server and client.

use crate::fs::{Attr, DeviceId, FileType, PreOpAttr, SetAttr, SetTime, Timespec, Wcc};
use crate::rpc::xdr::{XdrError, XdrReader, XdrWriter};

use super::handle::WireHandle;

/// Longest name accepted off the wire; longer than `fs::NAME_LEN_MAX` on purpose so the
/// core answers NFS3ERR_NAMETOOLONG instead of the decoder answering GARBAGE_ARGS.
pub const NAME_WIRE_LEN_MAX: usize = 1024;
/// Longest path (symlink target, MOUNT dirpath) accepted off the wire.
pub const PATH_WIRE_LEN_MAX: usize = 8192;
/// Encoded size of a `fattr3`.
pub const FATTR3_SIZE: usize = 84;
/// Encoded size of a `post_op_attr` that carries attributes.
pub const POST_OP_ATTR_SIZE: usize = 4 + FATTR3_SIZE;

/// `ftype3`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum Ftype3 {
    Reg = 1,
    Dir = 2,
    Blk = 3,
    Chr = 4,
    Lnk = 5,
    Sock = 6,
    Fifo = 7,
}

impl Ftype3 {
    pub fn from_u32(v: u32) -> Result<Ftype3, XdrError> {
        Ok(match v {
            1 => Ftype3::Reg,
            2 => Ftype3::Dir,
            3 => Ftype3::Blk,
            4 => Ftype3::Chr,
            5 => Ftype3::Lnk,
            6 => Ftype3::Sock,
            7 => Ftype3::Fifo,
            value => {
                return Err(XdrError::InvalidEnum {
                    what: "ftype3",
                    value,
                })
            }
        })
    }
}

impl From<FileType> for Ftype3 {
    fn from(t: FileType) -> Self {
        match t {
            FileType::Regular => Ftype3::Reg,
            FileType::Directory => Ftype3::Dir,
            FileType::Symlink => Ftype3::Lnk,
            FileType::CharDevice => Ftype3::Chr,
            FileType::BlockDevice => Ftype3::Blk,
            FileType::Fifo => Ftype3::Fifo,
            FileType::Socket => Ftype3::Sock,
        }
    }
}

/// `nfstime3`: unsigned 32-bit seconds, so times before 1970 or after 2106 are clamped.
pub fn encode_time(w: &mut XdrWriter, t: Timespec) {
    w.write_u32(u32::try_from(t.sec.max(0)).unwrap_or(u32::MAX));
    w.write_u32(t.nsec);
}

pub fn decode_time(r: &mut XdrReader) -> Result<Timespec, XdrError> {
    let sec = i64::from(r.read_u32()?);
    let nsec = r.read_u32()?;
    if nsec >= 1_000_000_000 {
        return Err(XdrError::InvalidEnum {
            what: "nfstime3.nseconds",
            value: nsec,
        });
    }
    Ok(Timespec { sec, nsec })
}

/// `fattr3`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fattr3 {
    pub ftype: Ftype3,
    pub mode: u32,
    pub nlink: u32,
    pub uid: u32,
    pub gid: u32,
    pub size: u64,
    pub used: u64,
    pub rdev: DeviceId,
    pub fsid: u64,
    pub fileid: u64,
    pub atime: Timespec,
    pub mtime: Timespec,
    pub ctime: Timespec,
}

impl Fattr3 {
    /// The wire form of `a` on the share whose fsid is `fsid`.
    pub fn new(a: &Attr, fsid: u64) -> Fattr3 {
        Fattr3 {
            ftype: a.ftype.into(),
            mode: a.mode & 0o7777,
            nlink: a.nlink,
            uid: a.uid,
            gid: a.gid,
            size: a.size,
            used: a.used,
            rdev: a.rdev,
            fsid,
            fileid: a.ino,
            atime: a.atime,
            mtime: a.mtime,
            ctime: a.ctime,
        }
    }

    pub fn encode(&self, w: &mut XdrWriter) {
        w.write_u32(self.ftype as u32);
        w.write_u32(self.mode);
        w.write_u32(self.nlink);
        w.write_u32(self.uid);
        w.write_u32(self.gid);
        w.write_u64(self.size);
        w.write_u64(self.used);
        w.write_u32(self.rdev.major);
        w.write_u32(self.rdev.minor);
        w.write_u64(self.fsid);
        w.write_u64(self.fileid);
        encode_time(w, self.atime);
        encode_time(w, self.mtime);
        encode_time(w, self.ctime);
    }

    pub fn decode(r: &mut XdrReader) -> Result<Fattr3, XdrError> {
        Ok(Fattr3 {
            ftype: Ftype3::from_u32(r.read_u32()?)?,
            mode: r.read_u32()?,
            nlink: r.read_u32()?,
            uid: r.read_u32()?,
            gid: r.read_u32()?,
            size: r.read_u64()?,
            used: r.read_u64()?,
            rdev: DeviceId {
                major: r.read_u32()?,
                minor: r.read_u32()?,
            },
            fsid: r.read_u64()?,
            fileid: r.read_u64()?,
            atime: decode_time(r)?,
            mtime: decode_time(r)?,
            ctime: decode_time(r)?,
        })
    }
}

/// `post_op_attr`.
pub type PostOpAttr = Option<Fattr3>;

pub fn encode_post_op_attr(w: &mut XdrWriter, a: &PostOpAttr) {
    w.write_optional(a.as_ref(), |w, a| a.encode(w));
}

pub fn decode_post_op_attr(r: &mut XdrReader) -> Result<PostOpAttr, XdrError> {
    r.read_optional(Fattr3::decode)
}

/// `wcc_data`: attributes before (`wcc_attr`) and after an operation.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct WccData {
    pub before: Option<PreOpAttr>,
    pub after: PostOpAttr,
}

impl WccData {
    pub fn new(wcc: &Wcc, fsid: u64) -> WccData {
        WccData {
            before: wcc.before,
            after: wcc.after.as_ref().map(|a| Fattr3::new(a, fsid)),
        }
    }

    /// Only the after attributes (what a failed operation can still report).
    pub fn after(attr: Option<&Attr>, fsid: u64) -> WccData {
        WccData {
            before: None,
            after: attr.map(|a| Fattr3::new(a, fsid)),
        }
    }

    pub fn encode(&self, w: &mut XdrWriter) {
        w.write_optional(self.before.as_ref(), |w, b| {
            w.write_u64(b.size);
            encode_time(w, b.mtime);
            encode_time(w, b.ctime);
        });
        encode_post_op_attr(w, &self.after);
    }

    pub fn decode(r: &mut XdrReader) -> Result<WccData, XdrError> {
        let before = r.read_optional(|r| {
            Ok(PreOpAttr {
                size: r.read_u64()?,
                mtime: decode_time(r)?,
                ctime: decode_time(r)?,
            })
        })?;
        Ok(WccData {
            before,
            after: decode_post_op_attr(r)?,
        })
    }
}

fn encode_set_time(w: &mut XdrWriter, t: SetTime) {
    match t {
        SetTime::DontChange => w.write_u32(0),
        SetTime::ServerNow => w.write_u32(1),
        SetTime::Client(t) => {
            w.write_u32(2);
            encode_time(w, t);
        }
    }
}

fn decode_set_time(r: &mut XdrReader) -> Result<SetTime, XdrError> {
    Ok(match r.read_u32()? {
        0 => SetTime::DontChange,
        1 => SetTime::ServerNow,
        2 => SetTime::Client(decode_time(r)?),
        value => {
            return Err(XdrError::InvalidEnum {
                what: "time_how",
                value,
            })
        }
    })
}

/// Encodes `sattr3`. Client times must lie within the `nfstime3` range to round-trip.
pub fn encode_sattr(w: &mut XdrWriter, s: &SetAttr) {
    w.write_optional(s.mode.as_ref(), |w, v| w.write_u32(*v));
    w.write_optional(s.uid.as_ref(), |w, v| w.write_u32(*v));
    w.write_optional(s.gid.as_ref(), |w, v| w.write_u32(*v));
    w.write_optional(s.size.as_ref(), |w, v| w.write_u64(*v));
    encode_set_time(w, s.atime);
    encode_set_time(w, s.mtime);
}

pub fn decode_sattr(r: &mut XdrReader) -> Result<SetAttr, XdrError> {
    Ok(SetAttr {
        mode: r.read_optional(|r| r.read_u32())?,
        uid: r.read_optional(|r| r.read_u32())?,
        gid: r.read_optional(|r| r.read_u32())?,
        size: r.read_optional(|r| r.read_u64())?,
        atime: decode_set_time(r)?,
        mtime: decode_set_time(r)?,
        btime: None,
        ctime: None,
    })
}

/// `diropargs3`: a name in a directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirOpArgs {
    pub dir: WireHandle,
    pub name: Vec<u8>,
}

impl DirOpArgs {
    pub fn encode(&self, w: &mut XdrWriter) {
        self.dir.encode(w);
        w.write_opaque(&self.name);
    }

    pub fn decode(r: &mut XdrReader) -> Result<DirOpArgs, XdrError> {
        Ok(DirOpArgs {
            dir: WireHandle::decode(r)?,
            name: r.read_opaque_vec(NAME_WIRE_LEN_MAX)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fattr3_has_the_rfc_size() {
        let a = Attr {
            ino: 5,
            ftype: FileType::Directory,
            mode: 0o40755,
            nlink: 2,
            uid: 1,
            gid: 2,
            size: 4096,
            used: 4096,
            rdev: DeviceId::default(),
            atime: Timespec { sec: -5, nsec: 1 },
            mtime: Timespec::default(),
            ctime: Timespec::default(),
            btime: Timespec::default(),
            generation: 0,
        };
        let f = Fattr3::new(&a, 9);
        assert_eq!(f.mode, 0o755);
        let mut w = XdrWriter::new();
        f.encode(&mut w);
        assert_eq!(w.len(), FATTR3_SIZE);
        let back = Fattr3::decode(&mut XdrReader::new(w.into_bytes())).unwrap();
        assert_eq!(back.atime, Timespec { sec: 0, nsec: 1 });
    }
}
