//! The SMB2 TRANSFORM_HEADER (MS-SMB2 2.2.41) that wraps an encrypted message:
//! 0xFD 'SMB', Signature (the AEAD tag), Nonce (11 bytes used for CCM, 12 for GCM),
//! OriginalMessageSize, Reserved, Flags (0x0001 = encrypted), SessionId. The AEAD's
//! associated data is the 32 bytes from Nonce to the end of this header.

use crate::buf::{Put, Reader};
use crate::error::{Result, WireError};

pub const TRANSFORM_HEADER_LEN: usize = 52;
pub const TRANSFORM_PROTOCOL_ID: [u8; 4] = [0xFD, b'S', b'M', b'B'];
/// Flags value meaning "encrypted" (3.1.1) / EncryptionAlgorithm AES-128-CCM (3.0.x);
/// both are 0x0001 on the wire.
pub const TRANSFORM_FLAG_ENCRYPTED: u16 = 0x0001;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TransformHeader {
    pub signature: [u8; 16],
    pub nonce: [u8; 16],
    pub original_message_size: u32,
    pub flags: u16,
    pub session_id: u64,
}

impl TransformHeader {
    /// Decodes the header and returns it with the ciphertext that follows; checks that
    /// OriginalMessageSize equals the ciphertext length.
    pub fn decode(msg: &[u8]) -> Result<(TransformHeader, &[u8])> {
        let mut r = Reader::new(msg);
        let id: [u8; 4] = r.array()?;
        if id != TRANSFORM_PROTOCOL_ID {
            return Err(WireError::BadProtocolId(id));
        }
        let signature = r.array()?;
        let nonce = r.array()?;
        let original_message_size = r.u32()?;
        r.skip(2)?;
        let flags = r.u16()?;
        let session_id = r.u64()?;
        let ct = r.rest();
        if ct.len() != original_message_size as usize {
            return Err(WireError::BadValue("TRANSFORM OriginalMessageSize"));
        }
        if flags != TRANSFORM_FLAG_ENCRYPTED {
            return Err(WireError::BadValue("TRANSFORM Flags"));
        }
        Ok((
            TransformHeader {
                signature,
                nonce,
                original_message_size,
                flags,
                session_id,
            },
            ct,
        ))
    }

    pub fn encode(&self, out: &mut Vec<u8>) {
        out.put(&TRANSFORM_PROTOCOL_ID);
        out.put(&self.signature);
        out.put(&self.nonce);
        out.put_u32(self.original_message_size);
        out.put_u16(0);
        out.put_u16(self.flags);
        out.put_u64(self.session_id);
    }

    /// The associated data authenticated by the AEAD: bytes 20..52 of the header.
    pub fn aad(&self) -> [u8; 32] {
        let mut v = Vec::with_capacity(52);
        self.encode(&mut v);
        let mut a = [0u8; 32];
        a.copy_from_slice(&v[20..52]);
        a
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_size_check() {
        let h = TransformHeader {
            signature: [1; 16],
            nonce: [2; 16],
            original_message_size: 3,
            flags: 1,
            session_id: 77,
        };
        let mut b = Vec::new();
        h.encode(&mut b);
        assert_eq!(b.len(), TRANSFORM_HEADER_LEN);
        b.extend_from_slice(&[9, 9, 9]);
        let (d, ct) = TransformHeader::decode(&b).unwrap();
        assert_eq!(d, h);
        assert_eq!(ct, &[9, 9, 9]);
        assert_eq!(&h.aad()[..16], &[2; 16]);
        b.push(0);
        assert!(TransformHeader::decode(&b).is_err());
    }
}
