//! IOCTL request/response (MS-SMB2 2.2.31/2.2.32), FSCTL codes, and the
//! FSCTL_QUERY_NETWORK_INTERFACE_INFO output (2.2.32.5).

use crate::buf::{expect_size, len32, slice_after, Put, Reader};
use crate::create::FileId;
use crate::error::Result;
use crate::header::HEADER_LEN;

pub const FSCTL_DFS_GET_REFERRALS: u32 = 0x0006_0194;
pub const FSCTL_DFS_GET_REFERRALS_EX: u32 = 0x0006_01B0;
pub const FSCTL_PIPE_TRANSCEIVE: u32 = 0x0011_C017;
pub const FSCTL_VALIDATE_NEGOTIATE_INFO: u32 = 0x0014_0204;
pub const FSCTL_QUERY_NETWORK_INTERFACE_INFO: u32 = 0x0014_01FC;
pub const FSCTL_SRV_ENUMERATE_SNAPSHOTS: u32 = 0x0014_4064;
pub const FSCTL_SRV_REQUEST_RESUME_KEY: u32 = 0x0014_0078;
pub const FSCTL_SRV_COPYCHUNK: u32 = 0x0014_40F2;
pub const FSCTL_SRV_COPYCHUNK_WRITE: u32 = 0x0014_80F2;
pub const FSCTL_SET_SPARSE: u32 = 0x0009_00C4;
pub const FSCTL_SET_ZERO_DATA: u32 = 0x0009_80C8;
pub const FSCTL_QUERY_ALLOCATED_RANGES: u32 = 0x0009_40CF;
pub const FSCTL_GET_REPARSE_POINT: u32 = 0x0009_00A8;
pub const FSCTL_SET_REPARSE_POINT: u32 = 0x0009_00A4;
pub const FSCTL_CREATE_OR_GET_OBJECT_ID: u32 = 0x0009_00C0;
pub const FSCTL_GET_COMPRESSION: u32 = 0x0009_003C;
pub const FSCTL_SET_COMPRESSION: u32 = 0x0009_C040;
pub const FSCTL_FILE_LEVEL_TRIM: u32 = 0x0009_8208;
pub const FSCTL_GET_INTEGRITY_INFORMATION: u32 = 0x0009_027C;
/// Samba's smbtorture-only FSCTL_SMBTORTURE_FSP_ASYNC_SLEEP: one input byte,
/// seconds to hold the IOCTL on its open before answering (smb2.ioctl.bug14769).
pub const FSCTL_SMBTORTURE_FSP_ASYNC_SLEEP: u32 = 0x8384_8043;

pub const IOCTL_IS_FSCTL: u32 = 0x0000_0001;

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct IoctlRequest<'a> {
    pub ctl_code: u32,
    pub file_id: FileId,
    pub input: &'a [u8],
    pub max_input_response: u32,
    pub max_output_response: u32,
    pub flags: u32,
}

impl<'a> IoctlRequest<'a> {
    pub fn decode(msg: &'a [u8]) -> Result<Self> {
        let mut r = Reader::at(msg, HEADER_LEN);
        expect_size(&mut r, "IOCTL request", 57)?;
        r.skip(2)?;
        let ctl_code = r.u32()?;
        let file_id = FileId::read(&mut r)?;
        let in_off = r.u32()? as usize;
        let in_len = r.u32()? as usize;
        let max_input_response = r.u32()?;
        let out_off = r.u32()? as usize;
        let out_len = r.u32()? as usize;
        let max_output_response = r.u32()?;
        let flags = r.u32()?;
        r.skip(4)?;
        let fixed = r.pos();
        let input = slice_after(msg, "ioctl input", fixed, in_off, in_len)?;
        slice_after(msg, "ioctl output", fixed, out_off, out_len)?;
        Ok(IoctlRequest {
            ctl_code,
            file_id,
            input,
            max_input_response,
            max_output_response,
            flags,
        })
    }
    pub fn encode(&self, body: &mut Vec<u8>) {
        body.put_u16(57);
        body.put_u16(0);
        body.put_u32(self.ctl_code);
        self.file_id.put(body);
        body.put_u32(if self.input.is_empty() {
            0
        } else {
            len32(HEADER_LEN + 56)
        });
        body.put_u32(len32(self.input.len()));
        body.put_u32(self.max_input_response);
        body.put_u32(0);
        body.put_u32(0);
        body.put_u32(self.max_output_response);
        body.put_u32(self.flags);
        body.put_u32(0);
        body.put(self.input);
        if self.input.is_empty() {
            body.put_u8(0);
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct IoctlResponse<'a> {
    pub ctl_code: u32,
    pub file_id: FileId,
    pub output: &'a [u8],
    pub flags: u32,
}

impl<'a> IoctlResponse<'a> {
    /// Input is echoed empty (servers return InputCount 0 for the FSCTLs they serve);
    /// output at header + 48.
    pub fn encode(&self, body: &mut Vec<u8>) {
        body.put_u16(49);
        body.put_u16(0);
        body.put_u32(self.ctl_code);
        self.file_id.put(body);
        let off = len32(HEADER_LEN + 48);
        body.put_u32(off);
        body.put_u32(0);
        body.put_u32(off);
        body.put_u32(len32(self.output.len()));
        body.put_u32(self.flags);
        body.put_u32(0);
        body.put(self.output);
    }
    pub fn decode(msg: &'a [u8]) -> Result<Self> {
        let mut r = Reader::at(msg, HEADER_LEN);
        expect_size(&mut r, "IOCTL response", 49)?;
        r.skip(2)?;
        let ctl_code = r.u32()?;
        let file_id = FileId::read(&mut r)?;
        let in_off = r.u32()? as usize;
        let in_len = r.u32()? as usize;
        let out_off = r.u32()? as usize;
        let out_len = r.u32()? as usize;
        let flags = r.u32()?;
        r.skip(4)?;
        slice_after(msg, "ioctl input", r.pos(), in_off, in_len)?;
        let output = slice_after(msg, "ioctl output", r.pos(), out_off, out_len)?;
        Ok(IoctlResponse {
            ctl_code,
            file_id,
            output,
            flags,
        })
    }
}

pub const NIC_RSS_CAPABLE: u32 = 0x1;
pub const NIC_RDMA_CAPABLE: u32 = 0x2;

/// One NETWORK_INTERFACE_INFO entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NetworkInterface {
    pub if_index: u32,
    pub capability: u32,
    pub link_speed: u64,
    pub addr: std::net::IpAddr,
}

/// Encodes the FSCTL_QUERY_NETWORK_INTERFACE_INFO output: 152-byte entries chained by
/// Next, each with a 128-byte SOCKADDR_STORAGE.
pub fn encode_network_interfaces(ifs: &[NetworkInterface]) -> Vec<u8> {
    let mut out = Vec::with_capacity(152 * ifs.len());
    for (i, nic) in ifs.iter().enumerate() {
        let start = out.len();
        out.put_u32(if i + 1 < ifs.len() { 152 } else { 0 });
        out.put_u32(nic.if_index);
        out.put_u32(nic.capability);
        out.put_u32(0);
        out.put_u64(nic.link_speed);
        match nic.addr {
            std::net::IpAddr::V4(a) => {
                out.put_u16(0x0002);
                out.put_u16(0);
                out.put(&a.octets());
            }
            std::net::IpAddr::V6(a) => {
                out.put_u16(0x0017);
                out.put_u16(0);
                out.put_u32(0);
                out.put(&a.octets());
                out.put_u32(0);
            }
        }
        out.resize(start + 152, 0);
    }
    out
}
