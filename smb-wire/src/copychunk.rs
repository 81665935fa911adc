//! Server-side copy payloads (MS-SMB2 2.2.31.1 SRV_COPYCHUNK_COPY, 2.2.32.1
//! SRV_COPYCHUNK_RESPONSE, 2.2.32.3 SRV_REQUEST_RESUME_KEY response): what
//! `cp` on a mounted share and Windows Explorer use to copy without moving the
//! data through the client.

use crate::buf::{Put, Reader};
use crate::error::Result;

/// Length of the opaque key naming the copy source.
pub const RESUME_KEY_LEN: usize = 24;
/// Server limits (MS-SMB2 3.3.3: ServerSideCopyMaxNumberofChunks,
/// ServerSideCopyMaxChunkSize, ServerSideCopyMaxDataSize; Windows' values).
pub const CHUNKS_MAX: u32 = 256;
pub const CHUNK_BYTES_MAX: u32 = 1024 * 1024;
pub const TOTAL_BYTES_MAX: u32 = 16 * 1024 * 1024;

/// One range to copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Chunk {
    pub source_offset: u64,
    pub target_offset: u64,
    pub length: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopychunkCopy {
    pub source_key: [u8; RESUME_KEY_LEN],
    pub chunks: Vec<Chunk>,
}

impl CopychunkCopy {
    /// Decodes the FSCTL input; `chunk_count` above [`CHUNKS_MAX`] decodes
    /// only the count (the caller answers with the limits).
    pub fn decode(input: &[u8]) -> Result<(Self, u32)> {
        let mut r = Reader::new(input);
        let mut source_key = [0u8; RESUME_KEY_LEN];
        source_key.copy_from_slice(r.bytes(RESUME_KEY_LEN)?);
        let count = r.u32()?;
        r.skip(4)?;
        let mut chunks = Vec::new();
        if count <= CHUNKS_MAX {
            for _ in 0..count {
                let source_offset = r.u64()?;
                let target_offset = r.u64()?;
                let length = r.u32()?;
                r.skip(4)?;
                chunks.push(Chunk {
                    source_offset,
                    target_offset,
                    length,
                });
            }
        }
        Ok((CopychunkCopy { source_key, chunks }, count))
    }
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.put(&self.source_key);
        out.put_u32(self.chunks.len() as u32);
        out.put_u32(0);
        for c in &self.chunks {
            out.put_u64(c.source_offset);
            out.put_u64(c.target_offset);
            out.put_u32(c.length);
            out.put_u32(0);
        }
    }
}

/// SRV_COPYCHUNK_RESPONSE: on success the chunks and bytes written (chunk
/// bytes 0); on a limit violation the server's three limits.
pub fn encode_copychunk_response(chunks: u32, chunk_bytes: u32, total_bytes: u32) -> Vec<u8> {
    let mut out = Vec::with_capacity(12);
    out.put_u32(chunks);
    out.put_u32(chunk_bytes);
    out.put_u32(total_bytes);
    out
}

/// SRV_REQUEST_RESUME_KEY response: the key, ContextLength 0 and the 4
/// reserved context bytes Windows sends.
pub fn encode_resume_key_response(key: &[u8; RESUME_KEY_LEN]) -> Vec<u8> {
    let mut out = Vec::with_capacity(RESUME_KEY_LEN + 8);
    out.put(key);
    out.put_u32(0);
    out.put_u32(0);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_round_trip_and_short_input() {
        let c = CopychunkCopy {
            source_key: [7; RESUME_KEY_LEN],
            chunks: vec![Chunk {
                source_offset: 1,
                target_offset: 2,
                length: 3,
            }],
        };
        let mut b = Vec::new();
        c.encode(&mut b);
        assert_eq!(CopychunkCopy::decode(&b).expect("decode"), (c, 1));
        assert!(CopychunkCopy::decode(&b[..b.len() - 1]).is_err());
        assert_eq!(encode_resume_key_response(&[1; 24]).len(), 32);
    }
}
