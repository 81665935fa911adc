//! QUERY_DIRECTORY (MS-SMB2 2.2.33/2.2.34) and CHANGE_NOTIFY (2.2.35/2.2.36) with the
//! FILE_NOTIFY_INFORMATION records (MS-FSCC 2.7.1). The directory entries themselves
//! are built by `fscc::dir`.

use crate::buf::{expect_size, len16, len32, put_utf16, slice_after, utf16_decode, Put, Reader};
use crate::create::FileId;
use crate::error::Result;
use crate::header::HEADER_LEN;

pub const QD_RESTART_SCANS: u8 = 0x01;
pub const QD_RETURN_SINGLE_ENTRY: u8 = 0x02;
pub const QD_INDEX_SPECIFIED: u8 = 0x04;
pub const QD_REOPEN: u8 = 0x10;

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct QueryDirectoryRequest {
    pub info_class: u8,
    pub flags: u8,
    pub file_index: u32,
    pub file_id: FileId,
    /// Search pattern (`*`, `foo*`, `?`...).
    pub pattern: String,
    pub output_buffer_length: u32,
}

impl QueryDirectoryRequest {
    pub fn decode(msg: &[u8]) -> Result<Self> {
        let mut r = Reader::at(msg, HEADER_LEN);
        expect_size(&mut r, "QUERY_DIRECTORY request", 33)?;
        let info_class = r.u8()?;
        let flags = r.u8()?;
        let file_index = r.u32()?;
        let file_id = FileId::read(&mut r)?;
        let off = usize::from(r.u16()?);
        let len = usize::from(r.u16()?);
        let output_buffer_length = r.u32()?;
        let pattern = utf16_decode(
            slice_after(msg, "query directory pattern", r.pos(), off, len)?,
            "pattern",
        )?;
        Ok(QueryDirectoryRequest {
            info_class,
            flags,
            file_index,
            file_id,
            pattern,
            output_buffer_length,
        })
    }
    pub fn encode(&self, body: &mut Vec<u8>) {
        body.put_u16(33);
        body.put_u8(self.info_class);
        body.put_u8(self.flags);
        body.put_u32(self.file_index);
        self.file_id.put(body);
        body.put_u16(len16(HEADER_LEN + 32));
        let at = body.len();
        body.put_u16(0);
        body.put_u32(self.output_buffer_length);
        let n = put_utf16(body, &self.pattern);
        body.set_u16(at, len16(n));
        if n == 0 {
            body.put_u8(0);
        }
    }
}

/// The shared "StructureSize 9, OutputBufferOffset(2), OutputBufferLength(4), Buffer"
/// response body of QUERY_DIRECTORY, CHANGE_NOTIFY and QUERY_INFO.
pub fn encode_output_response(output: &[u8], body: &mut Vec<u8>) {
    body.put_u16(9);
    body.put_u16(len16(HEADER_LEN + 8));
    body.put_u32(len32(output.len()));
    body.put(output);
    if output.is_empty() {
        body.put_u8(0);
    }
}

/// Decodes the shared output response body.
pub fn decode_output_response<'a>(msg: &'a [u8], what: &'static str) -> Result<&'a [u8]> {
    let mut r = Reader::at(msg, HEADER_LEN);
    expect_size(&mut r, what, 9)?;
    let off = usize::from(r.u16()?);
    let len = r.u32()? as usize;
    slice_after(msg, what, r.pos(), off, len)
}

pub const WATCH_TREE: u16 = 0x0001;

pub mod notify_filter {
    pub const FILE_NAME: u32 = 0x001;
    pub const DIR_NAME: u32 = 0x002;
    pub const ATTRIBUTES: u32 = 0x004;
    pub const SIZE: u32 = 0x008;
    pub const LAST_WRITE: u32 = 0x010;
    pub const LAST_ACCESS: u32 = 0x020;
    pub const CREATION: u32 = 0x040;
    pub const EA: u32 = 0x080;
    pub const SECURITY: u32 = 0x100;
    pub const STREAM_NAME: u32 = 0x200;
    pub const STREAM_SIZE: u32 = 0x400;
    pub const STREAM_WRITE: u32 = 0x800;
}

pub const FILE_ACTION_ADDED: u32 = 1;
pub const FILE_ACTION_REMOVED: u32 = 2;
pub const FILE_ACTION_MODIFIED: u32 = 3;
pub const FILE_ACTION_RENAMED_OLD_NAME: u32 = 4;
pub const FILE_ACTION_RENAMED_NEW_NAME: u32 = 5;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ChangeNotifyRequest {
    pub flags: u16,
    pub output_buffer_length: u32,
    pub file_id: FileId,
    pub completion_filter: u32,
}

impl ChangeNotifyRequest {
    pub fn decode(msg: &[u8]) -> Result<Self> {
        let mut r = Reader::at(msg, HEADER_LEN);
        expect_size(&mut r, "CHANGE_NOTIFY request", 32)?;
        let flags = r.u16()?;
        let output_buffer_length = r.u32()?;
        let file_id = FileId::read(&mut r)?;
        let completion_filter = r.u32()?;
        r.skip(4)?;
        Ok(ChangeNotifyRequest {
            flags,
            output_buffer_length,
            file_id,
            completion_filter,
        })
    }
    pub fn encode(&self, body: &mut Vec<u8>) {
        body.put_u16(32);
        body.put_u16(self.flags);
        body.put_u32(self.output_buffer_length);
        self.file_id.put(body);
        body.put_u32(self.completion_filter);
        body.put_u32(0);
    }
}

/// One change for a CHANGE_NOTIFY response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileNotify {
    pub action: u32,
    /// Relative to the watched directory, `\`-separated.
    pub name: String,
}

/// Encodes FILE_NOTIFY_INFORMATION records, 4-byte aligned; `None` if they exceed
/// `max_len` (the server then answers STATUS_NOTIFY_ENUM_DIR).
pub fn encode_notify(changes: &[FileNotify], max_len: usize) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let mut prev: Option<usize> = None;
    for c in changes {
        out.align(4);
        let start = out.len();
        if let Some(p) = prev {
            out.set_u32(p, len32(start - p));
        }
        prev = Some(start);
        out.put_u32(0);
        out.put_u32(c.action);
        out.put_u32(0);
        let n = put_utf16(&mut out, &c.name);
        out.set_u32(start + 8, len32(n));
    }
    (out.len() <= max_len).then_some(out)
}

/// Decodes FILE_NOTIFY_INFORMATION records (client side, tests).
pub fn decode_notify(buf: &[u8]) -> Result<Vec<FileNotify>> {
    let mut out = Vec::new();
    let mut at = 0usize;
    while at < buf.len() {
        let mut r = Reader::at(buf, at);
        let next = r.u32()? as usize;
        let action = r.u32()?;
        let len = r.u32()? as usize;
        let name = utf16_decode(r.bytes(len)?, "notify name")?;
        out.push(FileNotify { action, name });
        if next == 0 {
            break;
        }
        if next < 12 {
            return Err(crate::error::WireError::BadValue("notify NextEntryOffset"));
        }
        at += next;
    }
    Ok(out)
}
