//! File-system FSCTL payloads (MS-FSCC 2.3): sparse files (FSCTL_SET_SPARSE,
//! FSCTL_SET_ZERO_DATA, FSCTL_QUERY_ALLOCATED_RANGES) and compression
//! (FSCTL_GET/SET_COMPRESSION). Windows clients (Explorer, robocopy, `fsutil
//! sparse`) and Samba's smbtorture use them; the server answers them without
//! the data crossing the wire.

use crate::buf::{Put, Reader};
use crate::error::Result;

/// COMPRESSION_FORMAT_* (MS-FSCC 2.3.9 / 2.3.67).
pub const COMPRESSION_FORMAT_NONE: u16 = 0;
pub const COMPRESSION_FORMAT_DEFAULT: u16 = 1;
pub const COMPRESSION_FORMAT_LZNT1: u16 = 2;

/// FILE_SET_SPARSE_BUFFER (2.3.64): no buffer means "set"; otherwise the first
/// byte, non-zero to set. Extra bytes are ignored (Windows accepts them).
pub fn decode_set_sparse(input: &[u8]) -> bool {
    input.first().is_none_or(|&b| b != 0)
}

/// FILE_ZERO_DATA_INFORMATION (2.3.69): zero `[file_offset, beyond_final_zero)`.
/// Both are signed on the wire; they are kept as read and checked by the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ZeroDataInfo {
    pub file_offset: i64,
    pub beyond_final_zero: i64,
}

impl ZeroDataInfo {
    pub const LEN: usize = 16;

    pub fn decode(input: &[u8]) -> Result<Self> {
        let mut r = Reader::new(input);
        Ok(Self {
            file_offset: r.u64()? as i64,
            beyond_final_zero: r.u64()? as i64,
        })
    }

    pub fn encode(&self, out: &mut Vec<u8>) {
        out.put_u64(self.file_offset as u64);
        out.put_u64(self.beyond_final_zero as u64);
    }
}

/// FILE_ALLOCATED_RANGE_BUFFER (2.3.33/2.3.34): the query range in the
/// request, each allocated range in the response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AllocatedRange {
    pub file_offset: i64,
    pub length: i64,
}

impl AllocatedRange {
    pub const LEN: usize = 16;

    /// Decodes the request's range (extra trailing bytes are ignored, as
    /// Windows does).
    pub fn decode(input: &[u8]) -> Result<Self> {
        let mut r = Reader::new(input);
        Ok(Self {
            file_offset: r.u64()? as i64,
            length: r.u64()? as i64,
        })
    }

    pub fn encode(&self, out: &mut Vec<u8>) {
        out.put_u64(self.file_offset as u64);
        out.put_u64(self.length as u64);
    }

    /// Decodes a response: whole 16-byte entries.
    pub fn decode_list(output: &[u8]) -> Result<Vec<Self>> {
        let mut r = Reader::new(output);
        let mut out = Vec::with_capacity(output.len() / Self::LEN);
        while r.remaining() > 0 {
            out.push(Self {
                file_offset: r.u64()? as i64,
                length: r.u64()? as i64,
            });
        }
        Ok(out)
    }
}

/// COMPRESSION_STATE (2.3.67) of FSCTL_SET_COMPRESSION's input.
pub fn decode_compression(input: &[u8]) -> Result<u16> {
    Reader::new(input).u16()
}

/// FSCTL_GET_COMPRESSION's output.
pub fn encode_compression(format: u16) -> Vec<u8> {
    let mut out = Vec::with_capacity(2);
    out.put_u16(format);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_sparse_buffer() {
        assert!(decode_set_sparse(&[]));
        assert!(decode_set_sparse(&[0xFF]));
        assert!(decode_set_sparse(&[1, 0, 0]));
        assert!(!decode_set_sparse(&[0]));
        assert!(!decode_set_sparse(&[0; 100]));
    }

    #[test]
    fn zero_data_round_trip() {
        let z = ZeroDataInfo {
            file_offset: 4096,
            beyond_final_zero: -1,
        };
        let mut b = Vec::new();
        z.encode(&mut b);
        assert_eq!(b.len(), ZeroDataInfo::LEN);
        assert_eq!(ZeroDataInfo::decode(&b).unwrap(), z);
        assert!(ZeroDataInfo::decode(&b[..15]).is_err());
    }

    #[test]
    fn allocated_ranges_round_trip() {
        let rs = [
            AllocatedRange {
                file_offset: 0,
                length: 4096,
            },
            AllocatedRange {
                file_offset: 1 << 40,
                length: i64::MAX,
            },
        ];
        let mut b = Vec::new();
        for r in &rs {
            r.encode(&mut b);
        }
        assert_eq!(AllocatedRange::decode_list(&b).unwrap(), rs);
        assert_eq!(AllocatedRange::decode(&b).unwrap(), rs[0]);
        assert!(AllocatedRange::decode(&b[..8]).is_err());
        assert!(AllocatedRange::decode_list(&b[..20]).is_err());
    }

    #[test]
    fn compression_round_trip() {
        let b = encode_compression(COMPRESSION_FORMAT_LZNT1);
        assert_eq!(decode_compression(&b).unwrap(), COMPRESSION_FORMAT_LZNT1);
        assert!(decode_compression(&b[..1]).is_err());
    }
}
