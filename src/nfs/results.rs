//! Results of the NFSv3 procedures (RFC 1813 §3.3), typed and encoded.
//!
//! Every NFSv3 result is `status` followed by an OK body or a failure body, so
//! one generic [`Reply`] carries both and the per-procedure bodies are plain
//! structs. Handlers build these; the dispatcher encodes them. Size helpers
//! let READDIR/READDIRPLUS honor the client's byte limits exactly.

use bytes::Bytes;

use crate::fs::Stability;
use crate::rpc::xdr::{opaque_size, XdrWriter};

use super::args::stability_code;
use super::handle::WireHandle;
use super::status::Nfsstat3;
use super::wire::{encode_post_op_attr, encode_time, PostOpAttr, WccData, POST_OP_ATTR_SIZE};
use crate::fs::Timespec;

/// A value with an XDR encoding.
pub trait Encode {
    fn encode(&self, w: &mut XdrWriter);
}

impl Encode for () {
    fn encode(&self, _w: &mut XdrWriter) {}
}

impl Encode for PostOpAttr {
    fn encode(&self, w: &mut XdrWriter) {
        encode_post_op_attr(w, self);
    }
}

impl Encode for WccData {
    fn encode(&self, w: &mut XdrWriter) {
        WccData::encode(self, w);
    }
}

impl Encode for super::wire::Fattr3 {
    fn encode(&self, w: &mut XdrWriter) {
        super::wire::Fattr3::encode(self, w);
    }
}

/// `status` + OK body, or a failure status + failure body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply<T, F> {
    Ok(T),
    Fail(Nfsstat3, F),
}

impl<T: Encode, F: Encode> Encode for Reply<T, F> {
    fn encode(&self, w: &mut XdrWriter) {
        match self {
            Reply::Ok(t) => {
                w.write_u32(Nfsstat3::Ok as u32);
                t.encode(w);
            }
            Reply::Fail(s, f) => {
                w.write_u32(*s as u32);
                f.encode(w);
            }
        }
    }
}

impl<T, F> Reply<T, F> {
    pub fn status(&self) -> Nfsstat3 {
        match self {
            Reply::Ok(_) => Nfsstat3::Ok,
            Reply::Fail(s, _) => *s,
        }
    }
}

/// `post_op_fh3`.
pub fn encode_post_op_fh(w: &mut XdrWriter, fh: Option<&WireHandle>) {
    w.write_optional(fh, |w, fh| fh.encode(w));
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LookupOk {
    pub object: WireHandle,
    pub obj_attributes: PostOpAttr,
    pub dir_attributes: PostOpAttr,
}

impl Encode for LookupOk {
    fn encode(&self, w: &mut XdrWriter) {
        self.object.encode(w);
        encode_post_op_attr(w, &self.obj_attributes);
        encode_post_op_attr(w, &self.dir_attributes);
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessOk {
    pub obj_attributes: PostOpAttr,
    pub access: u32,
}

impl Encode for AccessOk {
    fn encode(&self, w: &mut XdrWriter) {
        encode_post_op_attr(w, &self.obj_attributes);
        w.write_u32(self.access);
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadlinkOk {
    pub symlink_attributes: PostOpAttr,
    pub data: Vec<u8>,
}

impl Encode for ReadlinkOk {
    fn encode(&self, w: &mut XdrWriter) {
        encode_post_op_attr(w, &self.symlink_attributes);
        w.write_opaque(&self.data);
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadOk3 {
    pub file_attributes: PostOpAttr,
    pub count: u32,
    pub eof: bool,
    pub data: Bytes,
}

impl Encode for ReadOk3 {
    fn encode(&self, w: &mut XdrWriter) {
        w.reserve(POST_OP_ATTR_SIZE + 12 + self.data.len());
        encode_post_op_attr(w, &self.file_attributes);
        w.write_u32(self.count);
        w.write_bool(self.eof);
        w.write_opaque(&self.data);
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteOk3 {
    pub file_wcc: WccData,
    pub count: u32,
    pub committed: Stability,
    pub verf: [u8; 8],
}

impl Encode for WriteOk3 {
    fn encode(&self, w: &mut XdrWriter) {
        self.file_wcc.encode(w);
        w.write_u32(self.count);
        w.write_u32(stability_code(self.committed));
        w.write_fixed(&self.verf);
    }
}

/// OK body of CREATE, MKDIR, SYMLINK and MKNOD.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateOk3 {
    pub obj: Option<WireHandle>,
    pub obj_attributes: PostOpAttr,
    pub dir_wcc: WccData,
}

impl Encode for CreateOk3 {
    fn encode(&self, w: &mut XdrWriter) {
        encode_post_op_fh(w, self.obj.as_ref());
        encode_post_op_attr(w, &self.obj_attributes);
        self.dir_wcc.encode(w);
    }
}

/// Body of RENAME (both outcomes).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RenameWcc {
    pub fromdir_wcc: WccData,
    pub todir_wcc: WccData,
}

impl Encode for RenameWcc {
    fn encode(&self, w: &mut XdrWriter) {
        self.fromdir_wcc.encode(w);
        self.todir_wcc.encode(w);
    }
}

/// Body of LINK (both outcomes).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LinkBody {
    pub file_attributes: PostOpAttr,
    pub linkdir_wcc: WccData,
}

impl Encode for LinkBody {
    fn encode(&self, w: &mut XdrWriter) {
        encode_post_op_attr(w, &self.file_attributes);
        self.linkdir_wcc.encode(w);
    }
}

/// `entry3`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry3 {
    pub fileid: u64,
    pub name: Vec<u8>,
    pub cookie: u64,
}

impl Entry3 {
    /// Bytes this entry adds to a READDIR reply (including its list marker).
    pub fn encoded_size(&self) -> usize {
        4 + 8 + opaque_size(self.name.len()) + 8
    }
}

/// `entryplus3`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryPlus3 {
    pub fileid: u64,
    pub name: Vec<u8>,
    pub cookie: u64,
    pub name_attributes: PostOpAttr,
    pub name_handle: Option<WireHandle>,
}

impl EntryPlus3 {
    /// Bytes of "directory information" (fileid, name, cookie) counted against `dircount`.
    pub fn dir_info_size(&self) -> usize {
        8 + opaque_size(self.name.len()) + 8
    }

    /// Bytes this entry adds to a READDIRPLUS reply (including its list marker).
    pub fn encoded_size(&self) -> usize {
        let attr = if self.name_attributes.is_some() {
            POST_OP_ATTR_SIZE
        } else {
            4
        };
        let fh = 4 + self
            .name_handle
            .as_ref()
            .map_or(0, WireHandle::encoded_size);
        4 + self.dir_info_size() + attr + fh
    }
}

/// Bytes of a READDIR/READDIRPLUS OK reply besides its entries: status,
/// dir attributes, cookie verifier, end-of-list marker, eof.
pub const READDIR_FIXED_SIZE: usize = 4 + POST_OP_ATTR_SIZE + 8 + 4 + 4;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReaddirOk {
    pub dir_attributes: PostOpAttr,
    pub cookieverf: [u8; 8],
    pub entries: Vec<Entry3>,
    pub eof: bool,
}

impl Encode for ReaddirOk {
    fn encode(&self, w: &mut XdrWriter) {
        encode_post_op_attr(w, &self.dir_attributes);
        w.write_fixed(&self.cookieverf);
        for e in &self.entries {
            w.write_bool(true);
            w.write_u64(e.fileid);
            w.write_opaque(&e.name);
            w.write_u64(e.cookie);
        }
        w.write_bool(false);
        w.write_bool(self.eof);
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReaddirplusOk {
    pub dir_attributes: PostOpAttr,
    pub cookieverf: [u8; 8],
    pub entries: Vec<EntryPlus3>,
    pub eof: bool,
}

impl Encode for ReaddirplusOk {
    fn encode(&self, w: &mut XdrWriter) {
        encode_post_op_attr(w, &self.dir_attributes);
        w.write_fixed(&self.cookieverf);
        for e in &self.entries {
            w.write_bool(true);
            w.write_u64(e.fileid);
            w.write_opaque(&e.name);
            w.write_u64(e.cookie);
            encode_post_op_attr(w, &e.name_attributes);
            encode_post_op_fh(w, e.name_handle.as_ref());
        }
        w.write_bool(false);
        w.write_bool(self.eof);
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FsstatOk {
    pub obj_attributes: PostOpAttr,
    pub tbytes: u64,
    pub fbytes: u64,
    pub abytes: u64,
    pub tfiles: u64,
    pub ffiles: u64,
    pub afiles: u64,
    pub invarsec: u32,
}

impl Encode for FsstatOk {
    fn encode(&self, w: &mut XdrWriter) {
        encode_post_op_attr(w, &self.obj_attributes);
        for v in [
            self.tbytes,
            self.fbytes,
            self.abytes,
            self.tfiles,
            self.ffiles,
            self.afiles,
        ] {
            w.write_u64(v);
        }
        w.write_u32(self.invarsec);
    }
}

/// FSINFO `properties` bits.
pub mod fsf3 {
    pub const LINK: u32 = 0x0001;
    pub const SYMLINK: u32 = 0x0002;
    pub const HOMOGENEOUS: u32 = 0x0008;
    pub const CANSETTIME: u32 = 0x0010;
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FsinfoOk {
    pub obj_attributes: PostOpAttr,
    pub rtmax: u32,
    pub rtpref: u32,
    pub rtmult: u32,
    pub wtmax: u32,
    pub wtpref: u32,
    pub wtmult: u32,
    pub dtpref: u32,
    pub maxfilesize: u64,
    pub time_delta: Timespec,
    pub properties: u32,
}

impl Encode for FsinfoOk {
    fn encode(&self, w: &mut XdrWriter) {
        encode_post_op_attr(w, &self.obj_attributes);
        for v in [
            self.rtmax,
            self.rtpref,
            self.rtmult,
            self.wtmax,
            self.wtpref,
            self.wtmult,
            self.dtpref,
        ] {
            w.write_u32(v);
        }
        w.write_u64(self.maxfilesize);
        encode_time(w, self.time_delta);
        w.write_u32(self.properties);
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathconfOk {
    pub obj_attributes: PostOpAttr,
    pub linkmax: u32,
    pub name_max: u32,
    pub no_trunc: bool,
    pub chown_restricted: bool,
    pub case_insensitive: bool,
    pub case_preserving: bool,
}

impl Encode for PathconfOk {
    fn encode(&self, w: &mut XdrWriter) {
        encode_post_op_attr(w, &self.obj_attributes);
        w.write_u32(self.linkmax);
        w.write_u32(self.name_max);
        w.write_bool(self.no_trunc);
        w.write_bool(self.chown_restricted);
        w.write_bool(self.case_insensitive);
        w.write_bool(self.case_preserving);
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitOk {
    pub file_wcc: WccData,
    pub verf: [u8; 8],
}

impl Encode for CommitOk {
    fn encode(&self, w: &mut XdrWriter) {
        self.file_wcc.encode(w);
        w.write_fixed(&self.verf);
    }
}
