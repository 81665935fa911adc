//! SESSION_SETUP (MS-SMB2 2.2.5/2.2.6), LOGOFF (2.2.7/2.2.8), TREE_CONNECT
//! (2.2.9/2.2.10, incl. the 3.1.1 extension), TREE_DISCONNECT (2.2.11/2.2.12), and the
//! 4-byte "StructureSize 4 + Reserved" bodies shared by LOGOFF, TREE_DISCONNECT, ECHO,
//! CANCEL, and the FLUSH/LOCK responses.

use crate::buf::{expect_size, len16, put_utf16, slice_after, utf16_decode, Put, Reader};
use crate::error::Result;
use crate::header::HEADER_LEN;

/// Decodes a body that is only StructureSize 4 + Reserved (LOGOFF, TREE_DISCONNECT,
/// ECHO, CANCEL requests and the matching responses).
pub fn decode_empty(msg: &[u8], what: &'static str) -> Result<()> {
    let mut r = Reader::at(msg, HEADER_LEN);
    expect_size(&mut r, what, 4)?;
    r.skip(2)
}

/// Encodes StructureSize 4 + Reserved.
pub fn encode_empty(body: &mut Vec<u8>) {
    body.put_u16(4);
    body.put_u16(0);
}

pub const SESSION_FLAG_BINDING: u8 = 0x01;
pub const SESSION_FLAG_IS_GUEST: u16 = 0x0001;
pub const SESSION_FLAG_IS_NULL: u16 = 0x0002;
pub const SESSION_FLAG_ENCRYPT_DATA: u16 = 0x0004;

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SessionSetupRequest<'a> {
    pub flags: u8,
    pub security_mode: u8,
    pub capabilities: u32,
    pub channel: u32,
    pub previous_session_id: u64,
    pub security_buffer: &'a [u8],
}

impl<'a> SessionSetupRequest<'a> {
    pub fn decode(msg: &'a [u8]) -> Result<Self> {
        let mut r = Reader::at(msg, HEADER_LEN);
        expect_size(&mut r, "SESSION_SETUP request", 25)?;
        let flags = r.u8()?;
        let security_mode = r.u8()?;
        let capabilities = r.u32()?;
        let channel = r.u32()?;
        let off = usize::from(r.u16()?);
        let len = usize::from(r.u16()?);
        let previous_session_id = r.u64()?;
        let security_buffer = slice_after(msg, "session setup security buffer", r.pos(), off, len)?;
        Ok(SessionSetupRequest {
            flags,
            security_mode,
            capabilities,
            channel,
            previous_session_id,
            security_buffer,
        })
    }
    pub fn encode(&self, body: &mut Vec<u8>) {
        body.put_u16(25);
        body.put_u8(self.flags);
        body.put_u8(self.security_mode);
        body.put_u32(self.capabilities);
        body.put_u32(self.channel);
        body.put_u16(len16(HEADER_LEN + 24));
        body.put_u16(len16(self.security_buffer.len()));
        body.put_u64(self.previous_session_id);
        body.put(self.security_buffer);
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SessionSetupResponse<'a> {
    pub session_flags: u16,
    pub security_buffer: &'a [u8],
}

impl<'a> SessionSetupResponse<'a> {
    pub fn encode(&self, body: &mut Vec<u8>) {
        body.put_u16(9);
        body.put_u16(self.session_flags);
        body.put_u16(len16(HEADER_LEN + 8));
        body.put_u16(len16(self.security_buffer.len()));
        body.put(self.security_buffer);
        if self.security_buffer.is_empty() {
            body.put_u8(0);
        }
    }
    pub fn decode(msg: &'a [u8]) -> Result<Self> {
        let mut r = Reader::at(msg, HEADER_LEN);
        expect_size(&mut r, "SESSION_SETUP response", 9)?;
        let session_flags = r.u16()?;
        let off = usize::from(r.u16()?);
        let len = usize::from(r.u16()?);
        let security_buffer = slice_after(msg, "session setup security buffer", r.pos(), off, len)?;
        Ok(SessionSetupResponse {
            session_flags,
            security_buffer,
        })
    }
}

pub const TREE_CONNECT_FLAG_CLUSTER_RECONNECT: u16 = 0x0001;
pub const TREE_CONNECT_FLAG_REDIRECT_TO_OWNER: u16 = 0x0002;
pub const TREE_CONNECT_FLAG_EXTENSION_PRESENT: u16 = 0x0004;

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TreeConnectRequest {
    pub flags: u16,
    /// `\\server\share`.
    pub path: String,
}

impl TreeConnectRequest {
    /// With EXTENSION_PRESENT (3.1.1), the buffer starts with
    /// SMB2_TREE_CONNECT_Request_Extension (TreeConnectContextOffset(4),
    /// TreeConnectContextCount(2), Reserved(10), PathName). PathOffset is from the
    /// header (MS-SMB2 2.2.9); an offset small enough to only make sense relative to
    /// the extension is read that way, as some clients send it. Contexts (remoted
    /// identity) are ignored.
    pub fn decode(msg: &[u8]) -> Result<Self> {
        let mut r = Reader::at(msg, HEADER_LEN);
        expect_size(&mut r, "TREE_CONNECT request", 9)?;
        let flags = r.u16()?;
        let off = usize::from(r.u16()?);
        let len = usize::from(r.u16()?);
        let fixed_end = r.pos();
        let path = if flags & TREE_CONNECT_FLAG_EXTENSION_PRESENT != 0 {
            let ext_end = fixed_end + 16;
            Reader::at(msg, fixed_end).skip(16)?;
            let abs = if off >= ext_end { off } else { fixed_end + off };
            slice_after(msg, "tree connect path", ext_end, abs, len)?
        } else {
            slice_after(msg, "tree connect path", fixed_end, off, len)?
        };
        Ok(TreeConnectRequest {
            flags,
            path: utf16_decode(path, "tree connect path")?,
        })
    }
    /// Client-side encoder, without the extension.
    pub fn encode(&self, body: &mut Vec<u8>) {
        body.put_u16(9);
        body.put_u16(self.flags & !TREE_CONNECT_FLAG_EXTENSION_PRESENT);
        body.put_u16(len16(HEADER_LEN + 8));
        let len_at = body.len();
        body.put_u16(0);
        let n = put_utf16(body, &self.path);
        body.set_u16(len_at, len16(n));
    }
    /// Share name: the last component of the UNC path, for lookup.
    pub fn share_name(&self) -> &str {
        self.path.rsplit('\\').next().unwrap_or("")
    }
}

pub const SHARE_TYPE_DISK: u8 = 0x01;
pub const SHARE_TYPE_PIPE: u8 = 0x02;
pub const SHARE_TYPE_PRINT: u8 = 0x03;
pub const SHAREFLAG_ENCRYPT_DATA: u32 = 0x0000_8000;
pub const SHAREFLAG_NO_CACHING: u32 = 0x0000_0030;
pub const SHARE_CAP_DFS: u32 = 0x08;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TreeConnectResponse {
    pub share_type: u8,
    pub share_flags: u32,
    pub capabilities: u32,
    pub maximal_access: u32,
}

impl TreeConnectResponse {
    pub fn encode(&self, body: &mut Vec<u8>) {
        body.put_u16(16);
        body.put_u8(self.share_type);
        body.put_u8(0);
        body.put_u32(self.share_flags);
        body.put_u32(self.capabilities);
        body.put_u32(self.maximal_access);
    }
    pub fn decode(msg: &[u8]) -> Result<Self> {
        let mut r = Reader::at(msg, HEADER_LEN);
        expect_size(&mut r, "TREE_CONNECT response", 16)?;
        let share_type = r.u8()?;
        r.skip(1)?;
        Ok(TreeConnectResponse {
            share_type,
            share_flags: r.u32()?,
            capabilities: r.u32()?,
            maximal_access: r.u32()?,
        })
    }
}
