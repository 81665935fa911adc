//! Direct-TCP transport framing (MS-SMB2 2.1): every message is preceded by a 4-byte
//! header, a zero byte then a 24-bit big-endian length, so a frame carries at most
//! 0xFF_FFFF bytes. Also the SMB1 NEGOTIATE detection: clients that may speak SMB1
//! open with an SMB1 negotiate listing "SMB 2.002" and/or "SMB 2.???", which an
//! SMB2-only server answers with an SMB2 NEGOTIATE response (MS-SMB2 3.3.5.3).

use crate::error::{Result, WireError};

/// Largest length the 24-bit StreamProtocolLength can carry.
pub const FRAME_LEN_MAX: usize = 0x00FF_FFFF;

/// Length of the transport header.
pub const TRANSPORT_HEADER_LEN: usize = 4;

/// Decodes the 4-byte transport header: `Ok(None)` if fewer than 4 bytes are buffered,
/// else the message length. A non-zero first byte (a NetBIOS session message type other
/// than 0x00, e.g. a session request) is rejected, as is a length above `max_len`.
pub fn decode_transport_header(buf: &[u8], max_len: usize) -> Result<Option<usize>> {
    let Some(h) = buf.get(..4) else {
        return Ok(None);
    };
    if h[0] != 0 {
        return Err(WireError::BadValue("transport header type"));
    }
    let len = (usize::from(h[1]) << 16) | (usize::from(h[2]) << 8) | usize::from(h[3]);
    if len > max_len.min(FRAME_LEN_MAX) {
        return Err(WireError::FrameTooLarge(len));
    }
    Ok(Some(len))
}

/// Splits one complete frame off the front of `buf`: `Ok(Some((message, consumed)))`.
pub fn split_frame(buf: &[u8], max_len: usize) -> Result<Option<(&[u8], usize)>> {
    match decode_transport_header(buf, max_len)? {
        Some(len) if buf.len() >= TRANSPORT_HEADER_LEN + len => Ok(Some((
            &buf[TRANSPORT_HEADER_LEN..TRANSPORT_HEADER_LEN + len],
            TRANSPORT_HEADER_LEN + len,
        ))),
        _ => Ok(None),
    }
}

/// Prepends the transport header to a message of `len` bytes.
pub fn encode_transport_header(len: usize) -> Result<[u8; 4]> {
    if len > FRAME_LEN_MAX {
        return Err(WireError::FrameTooLarge(len));
    }
    let l = (len as u32).to_be_bytes();
    Ok([0, l[1], l[2], l[3]])
}

/// What kind of message a frame holds, from its first 4 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageKind {
    /// 0xFE 'SMB': a plain SMB2 message (or compound chain).
    Smb2,
    /// 0xFD 'SMB': an encrypted SMB2 TRANSFORM message.
    Transform,
    /// 0xFC 'SMB': a compressed message (not supported by this crate).
    Compressed,
    /// 0xFF 'SMB': SMB1.
    Smb1,
}

/// Classifies a message by its protocol id.
pub fn message_kind(msg: &[u8]) -> Result<MessageKind> {
    let id: [u8; 4] = msg
        .get(..4)
        .and_then(|s| s.try_into().ok())
        .ok_or(WireError::Truncated {
            at: 0,
            need: 4,
            have: msg.len(),
        })?;
    match id {
        [0xFE, b'S', b'M', b'B'] => Ok(MessageKind::Smb2),
        [0xFD, b'S', b'M', b'B'] => Ok(MessageKind::Transform),
        [0xFC, b'S', b'M', b'B'] => Ok(MessageKind::Compressed),
        [0xFF, b'S', b'M', b'B'] => Ok(MessageKind::Smb1),
        _ => Err(WireError::BadProtocolId(id)),
    }
}

/// The SMB2 dialects an SMB1 NEGOTIATE offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Smb1Negotiate {
    /// "SMB 2.002" was listed.
    pub smb2_002: bool,
    /// "SMB 2.???" (any SMB2 dialect, answer with the 0x02FF wildcard) was listed.
    pub smb2_wildcard: bool,
}

impl Smb1Negotiate {
    /// The DialectRevision of the SMB2 NEGOTIATE response to send (MS-SMB2 3.3.5.3.1):
    /// 0x02FF when "SMB 2.???" was offered, else 0x0202; `None` if no SMB2 dialect was.
    pub fn response_dialect(&self) -> Option<u16> {
        if self.smb2_wildcard {
            Some(0x02FF)
        } else if self.smb2_002 {
            Some(0x0202)
        } else {
            None
        }
    }
}

/// Parses an SMB1 NEGOTIATE (command 0x72): 32-byte header, WordCount (0), ByteCount,
/// then dialect strings each 0x02 followed by a NUL-terminated ASCII name.
pub fn decode_smb1_negotiate(msg: &[u8]) -> Result<Smb1Negotiate> {
    if msg.len() < 35 {
        return Err(WireError::Truncated {
            at: 0,
            need: 35,
            have: msg.len(),
        });
    }
    if msg[..4] != [0xFF, b'S', b'M', b'B'] {
        return Err(WireError::BadProtocolId([msg[0], msg[1], msg[2], msg[3]]));
    }
    if msg[4] != 0x72 {
        return Err(WireError::BadValue("SMB1 command is not NEGOTIATE"));
    }
    let word_count = usize::from(msg[32]);
    let bc_at = 33 + 2 * word_count;
    let bc = msg
        .get(bc_at..bc_at + 2)
        .map(|b| usize::from(u16::from_le_bytes([b[0], b[1]])))
        .ok_or(WireError::Truncated {
            at: bc_at,
            need: 2,
            have: msg.len().saturating_sub(bc_at),
        })?;
    let data = crate::buf::slice_at(msg, "SMB1 dialects", bc_at + 2, bc)?;
    let mut out = Smb1Negotiate::default();
    let mut rest = data;
    while let Some((&fmt, tail)) = rest.split_first() {
        if fmt != 0x02 {
            return Err(WireError::BadValue("SMB1 dialect buffer format"));
        }
        let nul = tail
            .iter()
            .position(|&b| b == 0)
            .ok_or(WireError::BadValue("SMB1 dialect not NUL-terminated"))?;
        match &tail[..nul] {
            b"SMB 2.002" => out.smb2_002 = true,
            b"SMB 2.???" => out.smb2_wildcard = true,
            _ => {}
        }
        rest = &tail[nul + 1..];
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn smb1(dialects: &[&str]) -> Vec<u8> {
        let mut m = vec![0xFF, b'S', b'M', b'B', 0x72];
        m.resize(32, 0);
        m.push(0);
        let mut d = Vec::new();
        for s in dialects {
            d.push(2);
            d.extend_from_slice(s.as_bytes());
            d.push(0);
        }
        m.extend_from_slice(&(d.len() as u16).to_le_bytes());
        m.extend_from_slice(&d);
        m
    }

    #[test]
    fn smb1_negotiate_detection() {
        let n = decode_smb1_negotiate(&smb1(&["NT LM 0.12", "SMB 2.002", "SMB 2.???"])).unwrap();
        assert_eq!(n.response_dialect(), Some(0x02FF));
        let n = decode_smb1_negotiate(&smb1(&["NT LM 0.12", "SMB 2.002"])).unwrap();
        assert_eq!(n.response_dialect(), Some(0x0202));
        let n = decode_smb1_negotiate(&smb1(&["NT LM 0.12"])).unwrap();
        assert_eq!(n.response_dialect(), None);
        let mut bad = smb1(&["SMB 2.002"]);
        bad.pop();
        assert!(decode_smb1_negotiate(&bad).is_err());
    }

    #[test]
    fn transport_header() {
        let h = encode_transport_header(0x12_3456).unwrap();
        assert_eq!(h, [0, 0x12, 0x34, 0x56]);
        assert_eq!(
            decode_transport_header(&h, FRAME_LEN_MAX).unwrap(),
            Some(0x12_3456)
        );
        assert!(decode_transport_header(&h, 1000).is_err());
        assert!(encode_transport_header(FRAME_LEN_MAX + 1).is_err());
        assert_eq!(
            decode_transport_header(&h[..3], FRAME_LEN_MAX).unwrap(),
            None
        );
        let mut f = vec![0, 0, 0, 2, 9, 9, 7];
        assert_eq!(split_frame(&f, 100).unwrap(), Some((&[9u8, 9][..], 6)));
        f.truncate(5);
        assert_eq!(split_frame(&f, 100).unwrap(), None);
    }
}
