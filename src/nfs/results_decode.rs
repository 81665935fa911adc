//! Decoders of the NFSv3 results: the client half of [`super::results`].
//!
//! The server never runs these; the Rust test client and the perf harness do,
//! and the round-trip property tests use them to check the encoders.

use crate::fs::Stability;
use crate::rpc::xdr::{XdrError, XdrReader};

use super::handle::WireHandle;
use super::results::*;
use super::status::Nfsstat3;
use super::wire::{decode_post_op_attr, decode_time, Fattr3, PostOpAttr, WccData};

/// Most entries decoded from one READDIR/READDIRPLUS reply.
const DIR_ENTRIES_MAX: usize = 1 << 16;
/// Longest READ payload or name accepted by the client-side decoders.
const DATA_LEN_MAX: usize = 64 << 20;

/// A value with an XDR decoding.
pub trait Decode: Sized {
    fn decode(r: &mut XdrReader) -> Result<Self, XdrError>;
}

impl Decode for () {
    fn decode(_r: &mut XdrReader) -> Result<Self, XdrError> {
        Ok(())
    }
}

impl Decode for PostOpAttr {
    fn decode(r: &mut XdrReader) -> Result<Self, XdrError> {
        decode_post_op_attr(r)
    }
}

impl Decode for WccData {
    fn decode(r: &mut XdrReader) -> Result<Self, XdrError> {
        WccData::decode(r)
    }
}

impl Decode for Fattr3 {
    fn decode(r: &mut XdrReader) -> Result<Self, XdrError> {
        Fattr3::decode(r)
    }
}

impl<T: Decode, F: Decode> Decode for Reply<T, F> {
    fn decode(r: &mut XdrReader) -> Result<Self, XdrError> {
        match Nfsstat3::from_u32(r.read_u32()?)? {
            Nfsstat3::Ok => Ok(Reply::Ok(T::decode(r)?)),
            s => Ok(Reply::Fail(s, F::decode(r)?)),
        }
    }
}

fn post_op_fh(r: &mut XdrReader) -> Result<Option<WireHandle>, XdrError> {
    r.read_optional(WireHandle::decode)
}

fn stability(r: &mut XdrReader) -> Result<Stability, XdrError> {
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

impl Decode for LookupOk {
    fn decode(r: &mut XdrReader) -> Result<Self, XdrError> {
        Ok(LookupOk {
            object: WireHandle::decode(r)?,
            obj_attributes: decode_post_op_attr(r)?,
            dir_attributes: decode_post_op_attr(r)?,
        })
    }
}

impl Decode for AccessOk {
    fn decode(r: &mut XdrReader) -> Result<Self, XdrError> {
        Ok(AccessOk {
            obj_attributes: decode_post_op_attr(r)?,
            access: r.read_u32()?,
        })
    }
}

impl Decode for ReadlinkOk {
    fn decode(r: &mut XdrReader) -> Result<Self, XdrError> {
        Ok(ReadlinkOk {
            symlink_attributes: decode_post_op_attr(r)?,
            data: r.read_opaque_vec(DATA_LEN_MAX)?,
        })
    }
}

impl Decode for ReadOk3 {
    fn decode(r: &mut XdrReader) -> Result<Self, XdrError> {
        Ok(ReadOk3 {
            file_attributes: decode_post_op_attr(r)?,
            count: r.read_u32()?,
            eof: r.read_bool()?,
            data: r.read_opaque(DATA_LEN_MAX)?,
        })
    }
}

impl Decode for WriteOk3 {
    fn decode(r: &mut XdrReader) -> Result<Self, XdrError> {
        Ok(WriteOk3 {
            file_wcc: WccData::decode(r)?,
            count: r.read_u32()?,
            committed: stability(r)?,
            verf: r.read_fixed::<8>()?,
        })
    }
}

impl Decode for CreateOk3 {
    fn decode(r: &mut XdrReader) -> Result<Self, XdrError> {
        Ok(CreateOk3 {
            obj: post_op_fh(r)?,
            obj_attributes: decode_post_op_attr(r)?,
            dir_wcc: WccData::decode(r)?,
        })
    }
}

impl Decode for RenameWcc {
    fn decode(r: &mut XdrReader) -> Result<Self, XdrError> {
        Ok(RenameWcc {
            fromdir_wcc: WccData::decode(r)?,
            todir_wcc: WccData::decode(r)?,
        })
    }
}

impl Decode for LinkBody {
    fn decode(r: &mut XdrReader) -> Result<Self, XdrError> {
        Ok(LinkBody {
            file_attributes: decode_post_op_attr(r)?,
            linkdir_wcc: WccData::decode(r)?,
        })
    }
}

fn dir_list<E>(
    r: &mut XdrReader,
    mut entry: impl FnMut(&mut XdrReader) -> Result<E, XdrError>,
) -> Result<Vec<E>, XdrError> {
    let mut out = Vec::new();
    while r.read_bool()? {
        if out.len() >= DIR_ENTRIES_MAX {
            return Err(XdrError::TooLong {
                len: out.len(),
                max: DIR_ENTRIES_MAX,
            });
        }
        out.push(entry(r)?);
    }
    Ok(out)
}

impl Decode for ReaddirOk {
    fn decode(r: &mut XdrReader) -> Result<Self, XdrError> {
        Ok(ReaddirOk {
            dir_attributes: decode_post_op_attr(r)?,
            cookieverf: r.read_fixed::<8>()?,
            entries: dir_list(r, |r| {
                Ok(Entry3 {
                    fileid: r.read_u64()?,
                    name: r.read_opaque_vec(DATA_LEN_MAX)?,
                    cookie: r.read_u64()?,
                })
            })?,
            eof: r.read_bool()?,
        })
    }
}

impl Decode for ReaddirplusOk {
    fn decode(r: &mut XdrReader) -> Result<Self, XdrError> {
        Ok(ReaddirplusOk {
            dir_attributes: decode_post_op_attr(r)?,
            cookieverf: r.read_fixed::<8>()?,
            entries: dir_list(r, |r| {
                Ok(EntryPlus3 {
                    fileid: r.read_u64()?,
                    name: r.read_opaque_vec(DATA_LEN_MAX)?,
                    cookie: r.read_u64()?,
                    name_attributes: decode_post_op_attr(r)?,
                    name_handle: post_op_fh(r)?,
                })
            })?,
            eof: r.read_bool()?,
        })
    }
}

impl Decode for FsstatOk {
    fn decode(r: &mut XdrReader) -> Result<Self, XdrError> {
        Ok(FsstatOk {
            obj_attributes: decode_post_op_attr(r)?,
            tbytes: r.read_u64()?,
            fbytes: r.read_u64()?,
            abytes: r.read_u64()?,
            tfiles: r.read_u64()?,
            ffiles: r.read_u64()?,
            afiles: r.read_u64()?,
            invarsec: r.read_u32()?,
        })
    }
}

impl Decode for FsinfoOk {
    fn decode(r: &mut XdrReader) -> Result<Self, XdrError> {
        Ok(FsinfoOk {
            obj_attributes: decode_post_op_attr(r)?,
            rtmax: r.read_u32()?,
            rtpref: r.read_u32()?,
            rtmult: r.read_u32()?,
            wtmax: r.read_u32()?,
            wtpref: r.read_u32()?,
            wtmult: r.read_u32()?,
            dtpref: r.read_u32()?,
            maxfilesize: r.read_u64()?,
            time_delta: decode_time(r)?,
            properties: r.read_u32()?,
        })
    }
}

impl Decode for PathconfOk {
    fn decode(r: &mut XdrReader) -> Result<Self, XdrError> {
        Ok(PathconfOk {
            obj_attributes: decode_post_op_attr(r)?,
            linkmax: r.read_u32()?,
            name_max: r.read_u32()?,
            no_trunc: r.read_bool()?,
            chown_restricted: r.read_bool()?,
            case_insensitive: r.read_bool()?,
            case_preserving: r.read_bool()?,
        })
    }
}

impl Decode for CommitOk {
    fn decode(r: &mut XdrReader) -> Result<Self, XdrError> {
        Ok(CommitOk {
            file_wcc: WccData::decode(r)?,
            verf: r.read_fixed::<8>()?,
        })
    }
}

/// Result types of each procedure, named as a client would use them.
pub type GetattrRes = Reply<Fattr3, ()>;
pub type SetattrRes = Reply<WccData, WccData>;
pub type LookupRes = Reply<LookupOk, PostOpAttr>;
pub type AccessRes = Reply<AccessOk, PostOpAttr>;
pub type ReadlinkRes = Reply<ReadlinkOk, PostOpAttr>;
pub type ReadRes = Reply<ReadOk3, PostOpAttr>;
pub type WriteRes = Reply<WriteOk3, WccData>;
/// CREATE, MKDIR, SYMLINK and MKNOD.
pub type CreateRes = Reply<CreateOk3, WccData>;
/// REMOVE and RMDIR.
pub type RemoveRes = Reply<WccData, WccData>;
pub type RenameRes = Reply<RenameWcc, RenameWcc>;
pub type LinkRes = Reply<LinkBody, LinkBody>;
pub type ReaddirRes = Reply<ReaddirOk, PostOpAttr>;
pub type ReaddirplusRes = Reply<ReaddirplusOk, PostOpAttr>;
pub type FsstatRes = Reply<FsstatOk, PostOpAttr>;
pub type FsinfoRes = Reply<FsinfoOk, PostOpAttr>;
pub type PathconfRes = Reply<PathconfOk, PostOpAttr>;
pub type CommitRes = Reply<CommitOk, WccData>;
