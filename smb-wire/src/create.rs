//! CREATE request/response (MS-SMB2 2.2.13/2.2.14) and CLOSE (2.2.15/2.2.16).
//! Names are UTF-16LE relative to the share root, without a leading backslash.

use crate::buf::{expect_size, len16, len32, put_utf16, slice_after, utf16_decode, Put, Reader};
use crate::create_ctx::{decode_create_contexts, encode_create_contexts, CreateContext};
use crate::error::{Result, WireError};
use crate::header::HEADER_LEN;

/// A 16-byte SMB2_FILEID (persistent, volatile).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct FileId {
    pub persistent: u64,
    pub volatile: u64,
}

impl FileId {
    /// The all-ones id meaning "the file of the previous related request".
    pub const RELATED: FileId = FileId {
        persistent: u64::MAX,
        volatile: u64::MAX,
    };
    pub fn read(r: &mut Reader<'_>) -> Result<FileId> {
        Ok(FileId {
            persistent: r.u64()?,
            volatile: r.u64()?,
        })
    }
    pub fn put(&self, out: &mut Vec<u8>) {
        out.put_u64(self.persistent);
        out.put_u64(self.volatile);
    }
}

pub const OPLOCK_LEVEL_NONE: u8 = 0x00;
pub const OPLOCK_LEVEL_II: u8 = 0x01;
pub const OPLOCK_LEVEL_EXCLUSIVE: u8 = 0x08;
pub const OPLOCK_LEVEL_BATCH: u8 = 0x09;
pub const OPLOCK_LEVEL_LEASE: u8 = 0xFF;

pub const FILE_SUPERSEDE: u32 = 0;
pub const FILE_OPEN: u32 = 1;
pub const FILE_CREATE: u32 = 2;
pub const FILE_OPEN_IF: u32 = 3;
pub const FILE_OVERWRITE: u32 = 4;
pub const FILE_OVERWRITE_IF: u32 = 5;

pub const FILE_SUPERSEDED: u32 = 0;
pub const FILE_OPENED: u32 = 1;
pub const FILE_CREATED: u32 = 2;
pub const FILE_OVERWRITTEN: u32 = 3;

pub mod options {
    pub const DIRECTORY_FILE: u32 = 0x0000_0001;
    pub const WRITE_THROUGH: u32 = 0x0000_0002;
    pub const SEQUENTIAL_ONLY: u32 = 0x0000_0004;
    pub const NON_DIRECTORY_FILE: u32 = 0x0000_0040;
    pub const DELETE_ON_CLOSE: u32 = 0x0000_1000;
    pub const OPEN_REPARSE_POINT: u32 = 0x0020_0000;
}

pub const FILE_SHARE_READ: u32 = 1;
pub const FILE_SHARE_WRITE: u32 = 2;
pub const FILE_SHARE_DELETE: u32 = 4;

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CreateRequest {
    pub security_flags: u8,
    pub requested_oplock_level: u8,
    pub impersonation_level: u32,
    pub smb_create_flags: u64,
    pub desired_access: u32,
    pub file_attributes: u32,
    pub share_access: u32,
    pub create_disposition: u32,
    pub create_options: u32,
    pub name: String,
    pub contexts: Vec<CreateContext>,
}

impl CreateRequest {
    pub fn decode(msg: &[u8]) -> Result<Self> {
        let mut r = Reader::at(msg, HEADER_LEN);
        expect_size(&mut r, "CREATE request", 57)?;
        let security_flags = r.u8()?;
        let requested_oplock_level = r.u8()?;
        let impersonation_level = r.u32()?;
        let smb_create_flags = r.u64()?;
        r.skip(8)?;
        let desired_access = r.u32()?;
        let file_attributes = r.u32()?;
        let share_access = r.u32()?;
        let create_disposition = r.u32()?;
        let create_options = r.u32()?;
        let name_off = usize::from(r.u16()?);
        let name_len = usize::from(r.u16()?);
        let ctx_off = r.u32()? as usize;
        let ctx_len = r.u32()? as usize;
        let fixed = r.pos();
        let name = utf16_decode(
            slice_after(msg, "create name", fixed, name_off, name_len)?,
            "create name",
        )?;
        let contexts = if ctx_len == 0 {
            Vec::new()
        } else {
            if ctx_off % 8 != 0 {
                return Err(WireError::BadOffset {
                    what: "create contexts",
                    offset: ctx_off,
                });
            }
            decode_create_contexts(
                slice_after(msg, "create contexts", fixed, ctx_off, ctx_len)?,
                false,
            )?
        };
        Ok(CreateRequest {
            security_flags,
            requested_oplock_level,
            impersonation_level,
            smb_create_flags,
            desired_access,
            file_attributes,
            share_access,
            create_disposition,
            create_options,
            name,
            contexts,
        })
    }

    pub fn encode(&self, body: &mut Vec<u8>) {
        body.put_u16(57);
        body.put_u8(self.security_flags);
        body.put_u8(self.requested_oplock_level);
        body.put_u32(self.impersonation_level);
        body.put_u64(self.smb_create_flags);
        body.put_u64(0);
        body.put_u32(self.desired_access);
        body.put_u32(self.file_attributes);
        body.put_u32(self.share_access);
        body.put_u32(self.create_disposition);
        body.put_u32(self.create_options);
        body.put_u16(len16(HEADER_LEN + 56));
        let fields = body.len();
        body.zeros(10);
        let n = put_utf16(body, &self.name);
        body.set_u16(fields, len16(n));
        if self.contexts.is_empty() {
            if n == 0 {
                body.put_u8(0);
            }
            return;
        }
        body.align(8);
        let ctx = encode_create_contexts(&self.contexts);
        body.set_u32(fields + 2, len32(HEADER_LEN + body.len()));
        body.set_u32(fields + 6, len32(ctx.len()));
        body.put(&ctx);
    }
}

/// The timestamps/sizes/attributes shared by CREATE, CLOSE and several info classes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FileTimes {
    pub creation_time: u64,
    pub last_access_time: u64,
    pub last_write_time: u64,
    pub change_time: u64,
    pub allocation_size: u64,
    pub end_of_file: u64,
    pub file_attributes: u32,
}

impl FileTimes {
    fn put(&self, b: &mut Vec<u8>) {
        b.put_u64(self.creation_time);
        b.put_u64(self.last_access_time);
        b.put_u64(self.last_write_time);
        b.put_u64(self.change_time);
        b.put_u64(self.allocation_size);
        b.put_u64(self.end_of_file);
        b.put_u32(self.file_attributes);
    }
    fn read(r: &mut Reader<'_>) -> Result<Self> {
        Ok(FileTimes {
            creation_time: r.u64()?,
            last_access_time: r.u64()?,
            last_write_time: r.u64()?,
            change_time: r.u64()?,
            allocation_size: r.u64()?,
            end_of_file: r.u64()?,
            file_attributes: r.u32()?,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CreateResponse {
    pub oplock_level: u8,
    pub flags: u8,
    pub create_action: u32,
    pub times: FileTimes,
    pub file_id: FileId,
    pub contexts: Vec<CreateContext>,
}

impl CreateResponse {
    pub fn encode(&self, body: &mut Vec<u8>) {
        body.put_u16(89);
        body.put_u8(self.oplock_level);
        body.put_u8(self.flags);
        body.put_u32(self.create_action);
        self.times.put(body);
        body.put_u32(0);
        self.file_id.put(body);
        let at = body.len();
        body.put_u64(0);
        if self.contexts.is_empty() {
            body.put_u8(0);
            return;
        }
        let ctx = encode_create_contexts(&self.contexts);
        body.set_u32(at, len32(HEADER_LEN + body.len()));
        body.set_u32(at + 4, len32(ctx.len()));
        body.put(&ctx);
    }

    pub fn decode(msg: &[u8]) -> Result<Self> {
        let mut r = Reader::at(msg, HEADER_LEN);
        expect_size(&mut r, "CREATE response", 89)?;
        let oplock_level = r.u8()?;
        let flags = r.u8()?;
        let create_action = r.u32()?;
        let times = FileTimes::read(&mut r)?;
        r.skip(4)?;
        let file_id = FileId::read(&mut r)?;
        let off = r.u32()? as usize;
        let len = r.u32()? as usize;
        let buf = slice_after(msg, "create response contexts", r.pos(), off, len)?;
        Ok(CreateResponse {
            oplock_level,
            flags,
            create_action,
            times,
            file_id,
            contexts: decode_create_contexts(buf, true)?,
        })
    }
}

pub const CLOSE_FLAG_POSTQUERY_ATTRIB: u16 = 0x0001;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CloseRequest {
    pub flags: u16,
    pub file_id: FileId,
}

impl CloseRequest {
    pub fn decode(msg: &[u8]) -> Result<Self> {
        let mut r = Reader::at(msg, HEADER_LEN);
        expect_size(&mut r, "CLOSE request", 24)?;
        let flags = r.u16()?;
        r.skip(4)?;
        Ok(CloseRequest {
            flags,
            file_id: FileId::read(&mut r)?,
        })
    }
    pub fn encode(&self, body: &mut Vec<u8>) {
        body.put_u16(24);
        body.put_u16(self.flags);
        body.put_u32(0);
        self.file_id.put(body);
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CloseResponse {
    pub flags: u16,
    /// All zero unless POSTQUERY_ATTRIB was requested.
    pub times: FileTimes,
}

impl CloseResponse {
    pub fn encode(&self, body: &mut Vec<u8>) {
        body.put_u16(60);
        body.put_u16(self.flags);
        body.put_u32(0);
        self.times.put(body);
    }
    pub fn decode(msg: &[u8]) -> Result<Self> {
        let mut r = Reader::at(msg, HEADER_LEN);
        expect_size(&mut r, "CLOSE response", 60)?;
        let flags = r.u16()?;
        r.skip(4)?;
        Ok(CloseResponse {
            flags,
            times: FileTimes::read(&mut r)?,
        })
    }
}
