//! Arguments of the 22 NFSv3 procedures (RFC 1813 §3.3), decoded and encoded.
//!
//! [`NfsArgs::decode`] is what the server runs on every call: pure, bounded,
//! and panic-free on any input. The encoders exist for the Rust test client
//! and the perf harness, and make round-trip property tests possible.

use bytes::Bytes;

use crate::fs::{DeviceId, SetAttr, Stability, Timespec, IO_SIZE_MAX};
use crate::rpc::xdr::{XdrError, XdrReader, XdrWriter};

use super::handle::WireHandle;
use super::wire::{
    decode_sattr, decode_time, encode_sattr, encode_time, DirOpArgs, Ftype3, PATH_WIRE_LEN_MAX,
};

/// NFSv3 procedure numbers.
pub mod proc3 {
    pub const NULL: u32 = 0;
    pub const GETATTR: u32 = 1;
    pub const SETATTR: u32 = 2;
    pub const LOOKUP: u32 = 3;
    pub const ACCESS: u32 = 4;
    pub const READLINK: u32 = 5;
    pub const READ: u32 = 6;
    pub const WRITE: u32 = 7;
    pub const CREATE: u32 = 8;
    pub const MKDIR: u32 = 9;
    pub const SYMLINK: u32 = 10;
    pub const MKNOD: u32 = 11;
    pub const REMOVE: u32 = 12;
    pub const RMDIR: u32 = 13;
    pub const RENAME: u32 = 14;
    pub const LINK: u32 = 15;
    pub const READDIR: u32 = 16;
    pub const READDIRPLUS: u32 = 17;
    pub const FSSTAT: u32 = 18;
    pub const FSINFO: u32 = 19;
    pub const PATHCONF: u32 = 20;
    pub const COMMIT: u32 = 21;
}

/// Arguments that are just one handle (GETATTR, READLINK, FSSTAT, FSINFO, PATHCONF).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandleArgs {
    pub object: WireHandle,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetattrArgs {
    pub object: WireHandle,
    pub new_attributes: SetAttr,
    /// `sattrguard3`: the ctime the object must still have.
    pub guard: Option<Timespec>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessArgs {
    pub object: WireHandle,
    pub access: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadArgs {
    pub file: WireHandle,
    pub offset: u64,
    pub count: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteArgs {
    pub file: WireHandle,
    pub offset: u64,
    pub count: u32,
    pub stable: Stability,
    /// A slice of the received record; never copied.
    pub data: Bytes,
}

/// `createhow3`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CreateHow {
    Unchecked(SetAttr),
    Guarded(SetAttr),
    Exclusive([u8; 8]),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateArgs {
    pub where_: DirOpArgs,
    pub how: CreateHow,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MkdirArgs {
    pub where_: DirOpArgs,
    pub attributes: SetAttr,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SymlinkArgs {
    pub where_: DirOpArgs,
    pub attributes: SetAttr,
    pub target: Vec<u8>,
}

/// `mknoddata3`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MknodData {
    Chr(SetAttr, DeviceId),
    Blk(SetAttr, DeviceId),
    Sock(SetAttr),
    Fifo(SetAttr),
    /// REG, DIR or LNK: answered with NFS3ERR_BADTYPE.
    Other(Ftype3),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MknodArgs {
    pub where_: DirOpArgs,
    pub what: MknodData,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenameArgs {
    pub from: DirOpArgs,
    pub to: DirOpArgs,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkArgs {
    pub file: WireHandle,
    pub link: DirOpArgs,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReaddirArgs {
    pub dir: WireHandle,
    pub cookie: u64,
    pub cookieverf: [u8; 8],
    /// Largest encoded READDIR3resok the client accepts, in bytes.
    pub count: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReaddirplusArgs {
    pub dir: WireHandle,
    pub cookie: u64,
    pub cookieverf: [u8; 8],
    /// Largest total of directory information (fileid, name, cookie), in bytes.
    pub dircount: u32,
    /// Largest encoded READDIRPLUS3resok, in bytes.
    pub maxcount: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitArgs {
    pub file: WireHandle,
    pub offset: u64,
    pub count: u32,
}

/// The arguments of any NFSv3 procedure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NfsArgs {
    Null,
    Getattr(HandleArgs),
    Setattr(SetattrArgs),
    Lookup(DirOpArgs),
    Access(AccessArgs),
    Readlink(HandleArgs),
    Read(ReadArgs),
    Write(WriteArgs),
    Create(CreateArgs),
    Mkdir(MkdirArgs),
    Symlink(SymlinkArgs),
    Mknod(MknodArgs),
    Remove(DirOpArgs),
    Rmdir(DirOpArgs),
    Rename(RenameArgs),
    Link(LinkArgs),
    Readdir(ReaddirArgs),
    Readdirplus(ReaddirplusArgs),
    Fsstat(HandleArgs),
    Fsinfo(HandleArgs),
    Pathconf(HandleArgs),
    Commit(CommitArgs),
}

fn decode_stability(r: &mut XdrReader) -> Result<Stability, XdrError> {
    Ok(match r.read_u32()? {
        0 => Stability::Unstable,
        1 => Stability::DataSync,
        2 => Stability::FileSync,
        value => {
            return Err(XdrError::InvalidEnum {
                what: "stable_how",
                value,
            })
        }
    })
}

/// `stable_how` value of a stability.
pub fn stability_code(s: Stability) -> u32 {
    match s {
        Stability::Unstable => 0,
        Stability::DataSync => 1,
        Stability::FileSync => 2,
    }
}

fn decode_device(r: &mut XdrReader) -> Result<DeviceId, XdrError> {
    Ok(DeviceId {
        major: r.read_u32()?,
        minor: r.read_u32()?,
    })
}

fn handle_args(r: &mut XdrReader) -> Result<HandleArgs, XdrError> {
    Ok(HandleArgs {
        object: WireHandle::decode(r)?,
    })
}

impl NfsArgs {
    /// Decodes the arguments of procedure `proc_`; `Ok(None)` for an unknown procedure.
    pub fn decode(proc_: u32, r: &mut XdrReader) -> Result<Option<NfsArgs>, XdrError> {
        use proc3::*;
        let args = match proc_ {
            NULL => NfsArgs::Null,
            GETATTR => NfsArgs::Getattr(handle_args(r)?),
            SETATTR => NfsArgs::Setattr(SetattrArgs {
                object: WireHandle::decode(r)?,
                new_attributes: decode_sattr(r)?,
                guard: r.read_optional(decode_time)?,
            }),
            LOOKUP => NfsArgs::Lookup(DirOpArgs::decode(r)?),
            ACCESS => NfsArgs::Access(AccessArgs {
                object: WireHandle::decode(r)?,
                access: r.read_u32()?,
            }),
            READLINK => NfsArgs::Readlink(handle_args(r)?),
            READ => NfsArgs::Read(ReadArgs {
                file: WireHandle::decode(r)?,
                offset: r.read_u64()?,
                count: r.read_u32()?,
            }),
            WRITE => {
                let file = WireHandle::decode(r)?;
                let offset = r.read_u64()?;
                let count = r.read_u32()?;
                let stable = decode_stability(r)?;
                let data = r.read_opaque(IO_SIZE_MAX as usize)?;
                if data.len() != count as usize {
                    return Err(XdrError::Inconsistent(
                        "WRITE count differs from data length",
                    ));
                }
                NfsArgs::Write(WriteArgs {
                    file,
                    offset,
                    count,
                    stable,
                    data,
                })
            }
            CREATE => {
                let where_ = DirOpArgs::decode(r)?;
                let how = match r.read_u32()? {
                    0 => CreateHow::Unchecked(decode_sattr(r)?),
                    1 => CreateHow::Guarded(decode_sattr(r)?),
                    2 => CreateHow::Exclusive(r.read_fixed::<8>()?),
                    value => {
                        return Err(XdrError::InvalidEnum {
                            what: "createmode3",
                            value,
                        })
                    }
                };
                NfsArgs::Create(CreateArgs { where_, how })
            }
            MKDIR => NfsArgs::Mkdir(MkdirArgs {
                where_: DirOpArgs::decode(r)?,
                attributes: decode_sattr(r)?,
            }),
            SYMLINK => NfsArgs::Symlink(SymlinkArgs {
                where_: DirOpArgs::decode(r)?,
                attributes: decode_sattr(r)?,
                target: r.read_opaque_vec(PATH_WIRE_LEN_MAX)?,
            }),
            MKNOD => {
                let where_ = DirOpArgs::decode(r)?;
                let what = match Ftype3::from_u32(r.read_u32()?)? {
                    Ftype3::Chr => MknodData::Chr(decode_sattr(r)?, decode_device(r)?),
                    Ftype3::Blk => MknodData::Blk(decode_sattr(r)?, decode_device(r)?),
                    Ftype3::Sock => MknodData::Sock(decode_sattr(r)?),
                    Ftype3::Fifo => MknodData::Fifo(decode_sattr(r)?),
                    other @ (Ftype3::Reg | Ftype3::Dir | Ftype3::Lnk) => MknodData::Other(other),
                };
                NfsArgs::Mknod(MknodArgs { where_, what })
            }
            REMOVE => NfsArgs::Remove(DirOpArgs::decode(r)?),
            RMDIR => NfsArgs::Rmdir(DirOpArgs::decode(r)?),
            RENAME => NfsArgs::Rename(RenameArgs {
                from: DirOpArgs::decode(r)?,
                to: DirOpArgs::decode(r)?,
            }),
            LINK => NfsArgs::Link(LinkArgs {
                file: WireHandle::decode(r)?,
                link: DirOpArgs::decode(r)?,
            }),
            READDIR => NfsArgs::Readdir(ReaddirArgs {
                dir: WireHandle::decode(r)?,
                cookie: r.read_u64()?,
                cookieverf: r.read_fixed::<8>()?,
                count: r.read_u32()?,
            }),
            READDIRPLUS => NfsArgs::Readdirplus(ReaddirplusArgs {
                dir: WireHandle::decode(r)?,
                cookie: r.read_u64()?,
                cookieverf: r.read_fixed::<8>()?,
                dircount: r.read_u32()?,
                maxcount: r.read_u32()?,
            }),
            FSSTAT => NfsArgs::Fsstat(handle_args(r)?),
            FSINFO => NfsArgs::Fsinfo(handle_args(r)?),
            PATHCONF => NfsArgs::Pathconf(handle_args(r)?),
            COMMIT => NfsArgs::Commit(CommitArgs {
                file: WireHandle::decode(r)?,
                offset: r.read_u64()?,
                count: r.read_u32()?,
            }),
            _ => return Ok(None),
        };
        Ok(Some(args))
    }

    /// The procedure number these arguments belong to.
    pub fn proc_(&self) -> u32 {
        use proc3::*;
        match self {
            NfsArgs::Null => NULL,
            NfsArgs::Getattr(_) => GETATTR,
            NfsArgs::Setattr(_) => SETATTR,
            NfsArgs::Lookup(_) => LOOKUP,
            NfsArgs::Access(_) => ACCESS,
            NfsArgs::Readlink(_) => READLINK,
            NfsArgs::Read(_) => READ,
            NfsArgs::Write(_) => WRITE,
            NfsArgs::Create(_) => CREATE,
            NfsArgs::Mkdir(_) => MKDIR,
            NfsArgs::Symlink(_) => SYMLINK,
            NfsArgs::Mknod(_) => MKNOD,
            NfsArgs::Remove(_) => REMOVE,
            NfsArgs::Rmdir(_) => RMDIR,
            NfsArgs::Rename(_) => RENAME,
            NfsArgs::Link(_) => LINK,
            NfsArgs::Readdir(_) => READDIR,
            NfsArgs::Readdirplus(_) => READDIRPLUS,
            NfsArgs::Fsstat(_) => FSSTAT,
            NfsArgs::Fsinfo(_) => FSINFO,
            NfsArgs::Pathconf(_) => PATHCONF,
            NfsArgs::Commit(_) => COMMIT,
        }
    }

    /// Encodes the arguments (client side), after the RPC call header.
    pub fn encode(&self, w: &mut XdrWriter) {
        match self {
            NfsArgs::Null => {}
            NfsArgs::Getattr(a)
            | NfsArgs::Readlink(a)
            | NfsArgs::Fsstat(a)
            | NfsArgs::Fsinfo(a)
            | NfsArgs::Pathconf(a) => a.object.encode(w),
            NfsArgs::Setattr(a) => {
                a.object.encode(w);
                encode_sattr(w, &a.new_attributes);
                w.write_optional(a.guard.as_ref(), |w, t| encode_time(w, *t));
            }
            NfsArgs::Lookup(a) | NfsArgs::Remove(a) | NfsArgs::Rmdir(a) => a.encode(w),
            NfsArgs::Access(a) => {
                a.object.encode(w);
                w.write_u32(a.access);
            }
            NfsArgs::Read(a) => {
                a.file.encode(w);
                w.write_u64(a.offset);
                w.write_u32(a.count);
            }
            NfsArgs::Write(a) => {
                a.file.encode(w);
                w.write_u64(a.offset);
                w.write_u32(a.count);
                w.write_u32(stability_code(a.stable));
                w.write_opaque(&a.data);
            }
            NfsArgs::Create(a) => {
                a.where_.encode(w);
                match &a.how {
                    CreateHow::Unchecked(s) => {
                        w.write_u32(0);
                        encode_sattr(w, s);
                    }
                    CreateHow::Guarded(s) => {
                        w.write_u32(1);
                        encode_sattr(w, s);
                    }
                    CreateHow::Exclusive(v) => {
                        w.write_u32(2);
                        w.write_fixed(v);
                    }
                }
            }
            NfsArgs::Mkdir(a) => {
                a.where_.encode(w);
                encode_sattr(w, &a.attributes);
            }
            NfsArgs::Symlink(a) => {
                a.where_.encode(w);
                encode_sattr(w, &a.attributes);
                w.write_opaque(&a.target);
            }
            NfsArgs::Mknod(a) => {
                a.where_.encode(w);
                match &a.what {
                    MknodData::Chr(s, d) | MknodData::Blk(s, d) => {
                        let t = if matches!(a.what, MknodData::Chr(..)) {
                            Ftype3::Chr
                        } else {
                            Ftype3::Blk
                        };
                        w.write_u32(t as u32);
                        encode_sattr(w, s);
                        w.write_u32(d.major);
                        w.write_u32(d.minor);
                    }
                    MknodData::Sock(s) => {
                        w.write_u32(Ftype3::Sock as u32);
                        encode_sattr(w, s);
                    }
                    MknodData::Fifo(s) => {
                        w.write_u32(Ftype3::Fifo as u32);
                        encode_sattr(w, s);
                    }
                    MknodData::Other(t) => w.write_u32(*t as u32),
                }
            }
            NfsArgs::Rename(a) => {
                a.from.encode(w);
                a.to.encode(w);
            }
            NfsArgs::Link(a) => {
                a.file.encode(w);
                a.link.encode(w);
            }
            NfsArgs::Readdir(a) => {
                a.dir.encode(w);
                w.write_u64(a.cookie);
                w.write_fixed(&a.cookieverf);
                w.write_u32(a.count);
            }
            NfsArgs::Readdirplus(a) => {
                a.dir.encode(w);
                w.write_u64(a.cookie);
                w.write_fixed(&a.cookieverf);
                w.write_u32(a.dircount);
                w.write_u32(a.maxcount);
            }
            NfsArgs::Commit(a) => {
                a.file.encode(w);
                w.write_u64(a.offset);
                w.write_u32(a.count);
            }
        }
    }
}
