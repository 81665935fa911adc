//! QUERY_INFO (MS-SMB2 2.2.37/2.2.38) and SET_INFO (2.2.39/2.2.40). The info payloads
//! are in `fscc` and `security`.

use crate::buf::{expect_size, len16, len32, slice_after, Put, Reader};
use crate::create::FileId;
use crate::error::Result;
use crate::header::HEADER_LEN;

pub const INFO_FILE: u8 = 0x01;
pub const INFO_FILESYSTEM: u8 = 0x02;
pub const INFO_SECURITY: u8 = 0x03;
pub const INFO_QUOTA: u8 = 0x04;

/// AdditionalInformation bits for INFO_SECURITY.
pub const OWNER_SECURITY_INFORMATION: u32 = 0x01;
pub const GROUP_SECURITY_INFORMATION: u32 = 0x02;
pub const DACL_SECURITY_INFORMATION: u32 = 0x04;
pub const SACL_SECURITY_INFORMATION: u32 = 0x08;

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct QueryInfoRequest<'a> {
    pub info_type: u8,
    pub info_class: u8,
    pub output_buffer_length: u32,
    pub input: &'a [u8],
    pub additional_information: u32,
    pub flags: u32,
    pub file_id: FileId,
}

impl<'a> QueryInfoRequest<'a> {
    pub fn decode(msg: &'a [u8]) -> Result<Self> {
        let mut r = Reader::at(msg, HEADER_LEN);
        expect_size(&mut r, "QUERY_INFO request", 41)?;
        let info_type = r.u8()?;
        let info_class = r.u8()?;
        let output_buffer_length = r.u32()?;
        let in_off = usize::from(r.u16()?);
        r.skip(2)?;
        let in_len = r.u32()? as usize;
        let additional_information = r.u32()?;
        let flags = r.u32()?;
        let file_id = FileId::read(&mut r)?;
        let input = slice_after(msg, "query info input", r.pos(), in_off, in_len)?;
        Ok(QueryInfoRequest {
            info_type,
            info_class,
            output_buffer_length,
            input,
            additional_information,
            flags,
            file_id,
        })
    }
    pub fn encode(&self, body: &mut Vec<u8>) {
        body.put_u16(41);
        body.put_u8(self.info_type);
        body.put_u8(self.info_class);
        body.put_u32(self.output_buffer_length);
        body.put_u16(if self.input.is_empty() {
            0
        } else {
            len16(HEADER_LEN + 40)
        });
        body.put_u16(0);
        body.put_u32(len32(self.input.len()));
        body.put_u32(self.additional_information);
        body.put_u32(self.flags);
        self.file_id.put(body);
        body.put(self.input);
        if self.input.is_empty() {
            body.put_u8(0);
        }
    }
}

/// QUERY_INFO response: see [`crate::dir::encode_output_response`].
pub use crate::dir::{decode_output_response, encode_output_response};

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SetInfoRequest<'a> {
    pub info_type: u8,
    pub info_class: u8,
    pub buffer: &'a [u8],
    pub additional_information: u32,
    pub file_id: FileId,
}

impl<'a> SetInfoRequest<'a> {
    pub fn decode(msg: &'a [u8]) -> Result<Self> {
        let mut r = Reader::at(msg, HEADER_LEN);
        expect_size(&mut r, "SET_INFO request", 33)?;
        let info_type = r.u8()?;
        let info_class = r.u8()?;
        let len = r.u32()? as usize;
        let off = usize::from(r.u16()?);
        r.skip(2)?;
        let additional_information = r.u32()?;
        let file_id = FileId::read(&mut r)?;
        let buffer = slice_after(msg, "set info buffer", r.pos(), off, len)?;
        Ok(SetInfoRequest {
            info_type,
            info_class,
            buffer,
            additional_information,
            file_id,
        })
    }
    pub fn encode(&self, body: &mut Vec<u8>) {
        body.put_u16(33);
        body.put_u8(self.info_type);
        body.put_u8(self.info_class);
        body.put_u32(len32(self.buffer.len()));
        body.put_u16(len16(HEADER_LEN + 32));
        body.put_u16(0);
        body.put_u32(self.additional_information);
        self.file_id.put(body);
        body.put(self.buffer);
        if self.buffer.is_empty() {
            body.put_u8(0);
        }
    }
}

/// SET_INFO response: StructureSize 2.
pub fn encode_set_info_response(body: &mut Vec<u8>) {
    body.put_u16(2);
}
