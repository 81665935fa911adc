//! The three srvsvc (MS-SRVS) calls a client needs to browse shares, as NDR 2.0
//! stub data: NetrShareEnum (opnum 15, levels 0/1/2), NetrShareGetInfo (16,
//! levels 0/1/2/501/1005) and NetrServerGetInfo (21, levels 100/101).
//!
//! Why a hand-written NDR subset instead of an IDL compiler: the structures are
//! few and flat (unique pointers to conformant varying UTF-16 strings, one
//! conformant array of structs), and a pure codec with checked lengths is what
//! the rest of this crate is. Marshalling follows C706 chapter 14: scalars
//! aligned to their size relative to the stub start, a unique pointer is a
//! non-zero referent id whose pointee follows after the enclosing
//! structure/array ("deferred"), each top-level parameter is complete before
//! the next, strings carry max_count/offset/actual_count in characters
//! including the terminating NUL.

use crate::buf::{Put, Reader};
use crate::dcerpc::SyntaxId;
use crate::error::{Result, WireError};

/// The srvsvc interface 4b324fc8-1670-01d3-1278-5a47bf6ee188 v3.0.
pub fn interface() -> SyntaxId {
    SyntaxId {
        uuid: [
            0xc8, 0x4f, 0x32, 0x4b, 0x70, 0x16, 0xd3, 0x01, 0x12, 0x78, 0x5a, 0x47, 0xbf, 0x6e,
            0xe1, 0x88,
        ],
        version: 3,
    }
}

pub const OPNUM_NETR_SHARE_ENUM: u16 = 15;
pub const OPNUM_NETR_SHARE_GET_INFO: u16 = 16;
pub const OPNUM_NETR_SERVER_GET_INFO: u16 = 21;

pub const STYPE_DISKTREE: u32 = 0;
pub const STYPE_IPC: u32 = 3;
pub const STYPE_SPECIAL: u32 = 0x8000_0000;

pub const ERROR_SUCCESS: u32 = 0;
pub const ERROR_ACCESS_DENIED: u32 = 5;
pub const ERROR_INVALID_LEVEL: u32 = 124;
/// NERR_NetNameNotFound.
pub const NERR_NET_NAME_NOT_FOUND: u32 = 2310;

/// PLATFORM_ID_NT.
pub const PLATFORM_ID_NT: u32 = 500;
/// SV_TYPE_WORKSTATION | SV_TYPE_SERVER | SV_TYPE_NT | SV_TYPE_SERVER_NT.
pub const SV_TYPE_DEFAULT: u32 = 0x0000_9003;

/// Longest string accepted from a client, in UTF-16 units.
pub const STRING_UNITS_MAX: usize = 1024;

/// First referent id handed out (what Windows and Samba use too).
const REFERENT_FIRST: u32 = 0x0002_0000;

/// A decoder over NDR stub data: alignment is relative to the stub start.
struct NdrReader<'a>(Reader<'a>);

impl<'a> NdrReader<'a> {
    fn align(&mut self, n: usize) -> Result<()> {
        let pad = (n - self.0.pos() % n) % n;
        self.0.skip(pad)
    }
    fn u32(&mut self) -> Result<u32> {
        self.align(4)?;
        self.0.u32()
    }
    /// A conformant varying UTF-16 string (trailing NULs stripped).
    fn string(&mut self) -> Result<String> {
        let max = self.u32()? as usize;
        let offset = self.u32()? as usize;
        let actual = self.u32()? as usize;
        if max > STRING_UNITS_MAX || offset > max || actual > max - offset {
            return Err(WireError::BadValue("ndr string counts"));
        }
        let b = self.0.bytes(actual * 2)?;
        let s = crate::buf::utf16_decode(b, "ndr string")?;
        Ok(s.trim_end_matches('\0').to_owned())
    }
    /// A unique pointer to a string: `None` for a null pointer.
    fn unique_string(&mut self) -> Result<Option<String>> {
        if self.u32()? == 0 {
            return Ok(None);
        }
        self.string().map(Some)
    }
}

/// An encoder of NDR stub data.
pub struct NdrWriter {
    pub buf: Vec<u8>,
    next_ref: u32,
}

impl Default for NdrWriter {
    fn default() -> Self {
        NdrWriter {
            buf: Vec::new(),
            next_ref: REFERENT_FIRST,
        }
    }
}

impl NdrWriter {
    fn u32(&mut self, v: u32) {
        self.buf.align(4);
        self.buf.put_u32(v);
    }
    /// A non-null unique pointer (its referent follows later).
    fn ptr(&mut self) {
        let r = self.next_ref;
        self.next_ref = self.next_ref.wrapping_add(4);
        self.u32(r);
    }
    /// A conformant varying string with its NUL terminator.
    fn string(&mut self, s: &str) {
        let units: Vec<u16> = s.encode_utf16().chain(std::iter::once(0)).collect();
        let n = crate::buf::len32(units.len());
        self.u32(n);
        self.u32(0);
        self.u32(n);
        for u in units {
            self.buf.put_u16(u);
        }
    }
}

/// NetrShareEnum's [in] parameters that matter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShareEnumRequest {
    pub server_name: Option<String>,
    pub level: u32,
    pub preferred_max_len: u32,
    /// `None`: the client passed no resume handle.
    pub resume_handle: Option<u32>,
}

/// Decodes a NetrShareEnum request stub. A container with a non-null array
/// (clients always send an empty one) is refused.
pub fn decode_share_enum(stub: &[u8]) -> Result<ShareEnumRequest> {
    let mut r = NdrReader(Reader::new(stub));
    let server_name = r.unique_string()?;
    let level = r.u32()?;
    let switch = r.u32()?;
    if switch != level {
        return Err(WireError::BadValue("share enum union switch"));
    }
    if r.u32()? != 0 {
        // The container: EntriesRead and a (null) buffer pointer.
        let _entries = r.u32()?;
        if r.u32()? != 0 {
            return Err(WireError::BadValue("share enum input buffer"));
        }
    }
    let preferred_max_len = r.u32()?;
    let resume_handle = if r.u32()? != 0 { Some(r.u32()?) } else { None };
    Ok(ShareEnumRequest {
        server_name,
        level,
        preferred_max_len,
        resume_handle,
    })
}

/// Encodes a NetrShareEnum request stub (client side; tests and fuzzing).
pub fn encode_share_enum(req: &ShareEnumRequest) -> Vec<u8> {
    let mut w = NdrWriter::default();
    if let Some(s) = &req.server_name {
        w.ptr();
        w.string(s);
    } else {
        w.u32(0);
    }
    w.u32(req.level);
    w.u32(req.level);
    w.ptr();
    w.u32(0);
    w.u32(0);
    w.u32(req.preferred_max_len);
    match req.resume_handle {
        Some(h) => {
            w.ptr();
            w.u32(h);
        }
        None => w.u32(0),
    }
    w.buf
}

/// NetrShareGetInfo's [in] parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShareGetInfoRequest {
    pub server_name: Option<String>,
    pub share: String,
    pub level: u32,
}

pub fn decode_share_get_info(stub: &[u8]) -> Result<ShareGetInfoRequest> {
    let mut r = NdrReader(Reader::new(stub));
    let server_name = r.unique_string()?;
    let share = r.string()?;
    let level = r.u32()?;
    Ok(ShareGetInfoRequest {
        server_name,
        share,
        level,
    })
}

pub fn encode_share_get_info(req: &ShareGetInfoRequest) -> Vec<u8> {
    let mut w = NdrWriter::default();
    if let Some(s) = &req.server_name {
        w.ptr();
        w.string(s);
    } else {
        w.u32(0);
    }
    w.string(&req.share);
    w.u32(req.level);
    w.buf
}

/// NetrServerGetInfo's [in] parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerGetInfoRequest {
    pub server_name: Option<String>,
    pub level: u32,
}

pub fn decode_server_get_info(stub: &[u8]) -> Result<ServerGetInfoRequest> {
    let mut r = NdrReader(Reader::new(stub));
    let server_name = r.unique_string()?;
    let level = r.u32()?;
    Ok(ServerGetInfoRequest { server_name, level })
}

/// One share as srvsvc describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShareInfo {
    pub name: String,
    pub share_type: u32,
    pub remark: String,
    /// Local path (level 2), e.g. `C:\export`.
    pub path: String,
}

/// Share levels NetrShareEnum answers.
pub fn enum_level_supported(level: u32) -> bool {
    level <= 2
}

/// Share levels NetrShareGetInfo answers.
pub fn get_info_level_supported(level: u32) -> bool {
    matches!(level, 0 | 1 | 2 | 501 | 1005)
}

/// The fixed part of one SHARE_INFO_`level` (pointers as referent ids).
fn share_fixed(w: &mut NdrWriter, level: u32, s: &ShareInfo) {
    match level {
        0 => w.ptr(),
        1 | 501 => {
            w.ptr();
            w.u32(s.share_type);
            w.ptr();
            if level == 501 {
                w.u32(0); // shi501_flags: manual caching
            }
        }
        2 => {
            w.ptr();
            w.u32(s.share_type);
            w.ptr();
            w.u32(0); // permissions (ignored on user-level security)
            w.u32(u32::MAX); // max_uses: unlimited
            w.u32(0); // current_uses
            w.ptr();
            w.u32(0); // null password
        }
        _ => w.u32(0), // 1005: shi1005_flags
    }
}

/// The deferred pointees of one SHARE_INFO_`level`, in pointer order.
fn share_deferred(w: &mut NdrWriter, level: u32, s: &ShareInfo) {
    match level {
        0 => w.string(&s.name),
        1 | 501 => {
            w.string(&s.name);
            w.string(&s.remark);
        }
        2 => {
            w.string(&s.name);
            w.string(&s.remark);
            w.string(&s.path);
        }
        _ => {}
    }
}

/// Encodes a NetrShareEnum response stub: `shares` (all of them: the server
/// never pages), TotalEntries, the resume handle (echoed as 0 when the client
/// passed one) and `status`. An unsupported level answers ERROR_INVALID_LEVEL.
pub fn encode_share_enum_response(
    level: u32,
    shares: &[ShareInfo],
    resume_handle: Option<u32>,
) -> Vec<u8> {
    let mut w = NdrWriter::default();
    w.u32(level);
    w.u32(level);
    let status = if enum_level_supported(level) {
        w.ptr();
        w.u32(crate::buf::len32(shares.len()));
        w.ptr();
        w.u32(crate::buf::len32(shares.len()));
        for s in shares {
            share_fixed(&mut w, level, s);
        }
        for s in shares {
            share_deferred(&mut w, level, s);
        }
        ERROR_SUCCESS
    } else {
        w.u32(0);
        ERROR_INVALID_LEVEL
    };
    w.u32(if status == ERROR_SUCCESS {
        crate::buf::len32(shares.len())
    } else {
        0
    });
    if resume_handle.is_some() {
        w.ptr();
        w.u32(0);
    } else {
        w.u32(0);
    }
    w.u32(status);
    w.buf
}

/// Encodes a NetrShareGetInfo response stub; `share: None` answers
/// NERR_NetNameNotFound, an unsupported level ERROR_INVALID_LEVEL (both with
/// a null info pointer).
pub fn encode_share_get_info_response(level: u32, share: Option<&ShareInfo>) -> Vec<u8> {
    let mut w = NdrWriter::default();
    w.u32(level);
    let status = match share {
        Some(s) if get_info_level_supported(level) => {
            w.ptr();
            share_fixed(&mut w, level, s);
            share_deferred(&mut w, level, s);
            ERROR_SUCCESS
        }
        Some(_) => ERROR_INVALID_LEVEL,
        None => NERR_NET_NAME_NOT_FOUND,
    };
    if status != ERROR_SUCCESS && get_info_level_supported(level) {
        w.u32(0);
    }
    w.u32(status);
    w.buf
}

/// What NetrServerGetInfo reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerInfo {
    pub name: String,
    pub comment: String,
    pub version_major: u32,
    pub version_minor: u32,
    pub server_type: u32,
}

/// Encodes a NetrServerGetInfo response stub (levels 100 and 101).
pub fn encode_server_get_info_response(level: u32, info: &ServerInfo) -> Vec<u8> {
    let mut w = NdrWriter::default();
    w.u32(level);
    let status = match level {
        100 => {
            w.ptr();
            w.u32(PLATFORM_ID_NT);
            w.ptr();
            w.string(&info.name);
            ERROR_SUCCESS
        }
        101 => {
            w.ptr();
            w.u32(PLATFORM_ID_NT);
            w.ptr();
            w.u32(info.version_major);
            w.u32(info.version_minor);
            w.u32(info.server_type);
            w.ptr();
            w.string(&info.name);
            w.string(&info.comment);
            ERROR_SUCCESS
        }
        _ => ERROR_INVALID_LEVEL,
    };
    w.u32(status);
    w.buf
}

/// A decoded NetrShareEnum response (client side; tests).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShareEnumResponse {
    pub level: u32,
    pub shares: Vec<ShareInfo>,
    pub total_entries: u32,
    pub status: u32,
}

/// Decodes a NetrShareEnum response stub of level 0, 1 or 2.
pub fn decode_share_enum_response(stub: &[u8]) -> Result<ShareEnumResponse> {
    let mut r = NdrReader(Reader::new(stub));
    let level = r.u32()?;
    if r.u32()? != level {
        return Err(WireError::BadValue("share enum union switch"));
    }
    let mut shares = Vec::new();
    if r.u32()? != 0 {
        let count = r.u32()? as usize;
        if r.u32()? != 0 {
            let max = r.u32()? as usize;
            if max != count || max > stub.len() / 4 {
                return Err(WireError::BadValue("share array count"));
            }
            let mut fixed = Vec::with_capacity(max);
            for _ in 0..max {
                let (name, ty, remark, path) = match level {
                    0 => (r.u32()?, 0, 0, 0),
                    1 => (r.u32()?, r.u32()?, r.u32()?, 0),
                    2 => {
                        let (n, t, c) = (r.u32()?, r.u32()?, r.u32()?);
                        let _perm_max_cur = (r.u32()?, r.u32()?, r.u32()?);
                        let p = r.u32()?;
                        if r.u32()? != 0 {
                            return Err(WireError::BadValue("share password"));
                        }
                        (n, t, c, p)
                    }
                    _ => return Err(WireError::BadValue("share enum level")),
                };
                fixed.push((name, ty, remark, path));
            }
            for (name, ty, remark, path) in fixed {
                let mut get = |p: u32| -> Result<String> {
                    if p == 0 {
                        Ok(String::new())
                    } else {
                        r.string()
                    }
                };
                let name = get(name)?;
                let remark = get(remark)?;
                let path = get(path)?;
                shares.push(ShareInfo {
                    name,
                    share_type: ty,
                    remark,
                    path,
                });
            }
        }
    }
    let total_entries = r.u32()?;
    if r.u32()? != 0 {
        let _resume = r.u32()?;
    }
    let status = r.u32()?;
    Ok(ShareEnumResponse {
        level,
        shares,
        total_entries,
        status,
    })
}

#[cfg(test)]
#[path = "srvsvc_tests.rs"]
mod tests;
