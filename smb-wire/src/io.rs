//! FLUSH (MS-SMB2 2.2.17/18), READ (2.2.19/20), WRITE (2.2.21/22), LOCK (2.2.26/27).
//! READ response and WRITE request data are borrowed slices: no copy of the payload.

use crate::buf::{expect_size, len32, slice_after, Put, Reader};
use crate::create::FileId;
use crate::error::{Result, WireError};
use crate::header::HEADER_LEN;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FlushRequest {
    pub file_id: FileId,
}

impl FlushRequest {
    pub fn decode(msg: &[u8]) -> Result<Self> {
        let mut r = Reader::at(msg, HEADER_LEN);
        expect_size(&mut r, "FLUSH request", 24)?;
        r.skip(6)?;
        Ok(FlushRequest {
            file_id: FileId::read(&mut r)?,
        })
    }
    pub fn encode(&self, body: &mut Vec<u8>) {
        body.put_u16(24);
        body.zeros(6);
        self.file_id.put(body);
    }
}

pub const READFLAG_READ_UNBUFFERED: u8 = 0x01;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReadRequest {
    pub padding: u8,
    pub flags: u8,
    pub length: u32,
    pub offset: u64,
    pub file_id: FileId,
    pub minimum_count: u32,
    pub channel: u32,
    pub remaining_bytes: u32,
}

impl ReadRequest {
    pub fn decode(msg: &[u8]) -> Result<Self> {
        let mut r = Reader::at(msg, HEADER_LEN);
        expect_size(&mut r, "READ request", 49)?;
        let padding = r.u8()?;
        let flags = r.u8()?;
        let length = r.u32()?;
        let offset = r.u64()?;
        let file_id = FileId::read(&mut r)?;
        let minimum_count = r.u32()?;
        let channel = r.u32()?;
        let remaining_bytes = r.u32()?;
        let ci_off = usize::from(r.u16()?);
        let ci_len = usize::from(r.u16()?);
        slice_after(msg, "read channel info", r.pos(), ci_off, ci_len)?;
        Ok(ReadRequest {
            padding,
            flags,
            length,
            offset,
            file_id,
            minimum_count,
            channel,
            remaining_bytes,
        })
    }
    pub fn encode(&self, body: &mut Vec<u8>) {
        body.put_u16(49);
        body.put_u8(self.padding);
        body.put_u8(self.flags);
        body.put_u32(self.length);
        body.put_u64(self.offset);
        self.file_id.put(body);
        body.put_u32(self.minimum_count);
        body.put_u32(self.channel);
        body.put_u32(self.remaining_bytes);
        body.put_u32(0);
        body.put_u8(0);
    }
}

/// READ response. The adapter may instead write [`ReadResponse::encode_head`] and then
/// the data straight from the cache, to avoid a copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReadResponse<'a> {
    pub data_remaining: u32,
    pub data: &'a [u8],
}

impl<'a> ReadResponse<'a> {
    /// The 16 bytes before the data (data offset 80 = header + 16).
    pub fn encode_head(data_len: usize, data_remaining: u32, body: &mut Vec<u8>) {
        body.put_u16(17);
        body.put_u8((HEADER_LEN + 16) as u8);
        body.put_u8(0);
        body.put_u32(len32(data_len));
        body.put_u32(data_remaining);
        body.put_u32(0);
    }
    pub fn encode(&self, body: &mut Vec<u8>) {
        Self::encode_head(self.data.len(), self.data_remaining, body);
        body.put(self.data);
        if self.data.is_empty() {
            body.put_u8(0);
        }
    }
    pub fn decode(msg: &'a [u8]) -> Result<Self> {
        let mut r = Reader::at(msg, HEADER_LEN);
        expect_size(&mut r, "READ response", 17)?;
        let off = usize::from(r.u8()?);
        r.skip(1)?;
        let len = r.u32()? as usize;
        let data_remaining = r.u32()?;
        r.skip(4)?;
        Ok(ReadResponse {
            data_remaining,
            data: slice_after(msg, "read data", r.pos(), off, len)?,
        })
    }
}

pub const WRITEFLAG_WRITE_THROUGH: u32 = 0x01;
pub const WRITEFLAG_WRITE_UNBUFFERED: u32 = 0x02;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WriteRequest<'a> {
    pub offset: u64,
    pub file_id: FileId,
    pub channel: u32,
    pub remaining_bytes: u32,
    pub flags: u32,
    pub data: &'a [u8],
}

impl<'a> WriteRequest<'a> {
    pub fn decode(msg: &'a [u8]) -> Result<Self> {
        let mut r = Reader::at(msg, HEADER_LEN);
        expect_size(&mut r, "WRITE request", 49)?;
        let data_off = usize::from(r.u16()?);
        let length = r.u32()? as usize;
        let offset = r.u64()?;
        let file_id = FileId::read(&mut r)?;
        let channel = r.u32()?;
        let remaining_bytes = r.u32()?;
        let ci_off = usize::from(r.u16()?);
        let ci_len = usize::from(r.u16()?);
        let flags = r.u32()?;
        let fixed = r.pos();
        slice_after(msg, "write channel info", fixed, ci_off, ci_len)?;
        let data = slice_after(msg, "write data", fixed, data_off, length)?;
        if offset.checked_add(length as u64).is_none() {
            return Err(WireError::BadValue("write offset + length overflows"));
        }
        Ok(WriteRequest {
            offset,
            file_id,
            channel,
            remaining_bytes,
            flags,
            data,
        })
    }
    pub fn encode(&self, body: &mut Vec<u8>) {
        body.put_u16(49);
        body.put_u16((HEADER_LEN + 48) as u16);
        body.put_u32(len32(self.data.len()));
        body.put_u64(self.offset);
        self.file_id.put(body);
        body.put_u32(self.channel);
        body.put_u32(self.remaining_bytes);
        body.put_u32(0);
        body.put_u32(self.flags);
        body.put(self.data);
        if self.data.is_empty() {
            body.put_u8(0);
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WriteResponse {
    pub count: u32,
    pub remaining: u32,
}

impl WriteResponse {
    pub fn encode(&self, body: &mut Vec<u8>) {
        body.put_u16(17);
        body.put_u16(0);
        body.put_u32(self.count);
        body.put_u32(self.remaining);
        body.put_u32(0);
    }
    pub fn decode(msg: &[u8]) -> Result<Self> {
        let mut r = Reader::at(msg, HEADER_LEN);
        expect_size(&mut r, "WRITE response", 17)?;
        r.skip(2)?;
        Ok(WriteResponse {
            count: r.u32()?,
            remaining: r.u32()?,
        })
    }
}

pub const LOCKFLAG_SHARED: u32 = 0x01;
pub const LOCKFLAG_EXCLUSIVE: u32 = 0x02;
pub const LOCKFLAG_UNLOCK: u32 = 0x04;
pub const LOCKFLAG_FAIL_IMMEDIATELY: u32 = 0x10;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LockElement {
    pub offset: u64,
    pub length: u64,
    pub flags: u32,
}

/// Upper bound on LockCount accepted (Windows allows 64 KiB frames of 24-byte elements).
pub const LOCK_COUNT_MAX: usize = 4096;

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LockRequest {
    /// LockSequenceNumber (4 bits) + LockSequenceIndex (28 bits), raw.
    pub lock_sequence: u32,
    pub file_id: FileId,
    pub locks: Vec<LockElement>,
}

impl LockRequest {
    pub fn decode(msg: &[u8]) -> Result<Self> {
        let mut r = Reader::at(msg, HEADER_LEN);
        expect_size(&mut r, "LOCK request", 48)?;
        let n = usize::from(r.u16()?);
        if n == 0 || n > LOCK_COUNT_MAX {
            return Err(WireError::BadValue("lock count"));
        }
        let lock_sequence = r.u32()?;
        let file_id = FileId::read(&mut r)?;
        let mut locks = Vec::with_capacity(n.min(r.remaining() / 24 + 1));
        for _ in 0..n {
            let offset = r.u64()?;
            let length = r.u64()?;
            let flags = r.u32()?;
            r.skip(4)?;
            locks.push(LockElement {
                offset,
                length,
                flags,
            });
        }
        Ok(LockRequest {
            lock_sequence,
            file_id,
            locks,
        })
    }
    pub fn encode(&self, body: &mut Vec<u8>) {
        body.put_u16(48);
        body.put_u16(self.locks.len() as u16);
        body.put_u32(self.lock_sequence);
        self.file_id.put(body);
        for l in &self.locks {
            body.put_u64(l.offset);
            body.put_u64(l.length);
            body.put_u32(l.flags);
            body.put_u32(0);
        }
    }
}
