//! A minimal ASN.1 DER reader/writer for SPNEGO tokens: tag + definite length (short
//! form or long form up to 4 bytes) + content, every length checked against the
//! buffer. Indefinite lengths and multi-byte tags are rejected.

use crate::error::{Result, WireError};

/// Maximum nesting the SPNEGO decoder walks (defensive; real tokens nest 5 deep).
pub const DEPTH_MAX: usize = 8;

/// Reads one TLV from the front of `buf`: (tag, content, rest).
pub fn read_tlv(buf: &[u8]) -> Result<(u8, &[u8], &[u8])> {
    let (&tag, rest) = buf.split_first().ok_or(WireError::Der("empty"))?;
    if tag & 0x1F == 0x1F {
        return Err(WireError::Der("multi-byte tag"));
    }
    let (&l0, mut rest) = rest.split_first().ok_or(WireError::Der("no length"))?;
    let len = if l0 < 0x80 {
        usize::from(l0)
    } else {
        let n = usize::from(l0 & 0x7F);
        if n == 0 || n > 4 {
            return Err(WireError::Der("bad length form"));
        }
        let b = rest.get(..n).ok_or(WireError::Der("truncated length"))?;
        rest = &rest[n..];
        b.iter().fold(0usize, |a, &x| (a << 8) | usize::from(x))
    };
    if len > rest.len() {
        return Err(WireError::Der("content past end"));
    }
    Ok((tag, &rest[..len], &rest[len..]))
}

/// Reads a TLV that must have `tag`.
pub fn expect(buf: &[u8], tag: u8) -> Result<(&[u8], &[u8])> {
    let (t, c, r) = read_tlv(buf)?;
    if t != tag {
        return Err(WireError::Der("unexpected tag"));
    }
    Ok((c, r))
}

/// Whole TLV bytes (header + content) of the first element of `buf`.
pub fn raw_tlv(buf: &[u8]) -> Result<&[u8]> {
    let (_, _, rest) = read_tlv(buf)?;
    Ok(&buf[..buf.len() - rest.len()])
}

/// Encodes a TLV.
pub fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut v = vec![tag];
    let n = content.len();
    if n < 0x80 {
        v.push(n as u8);
    } else {
        let b = (n as u32).to_be_bytes();
        let skip = b.iter().take_while(|&&x| x == 0).count();
        v.push(0x80 | (4 - skip) as u8);
        v.extend_from_slice(&b[skip..]);
    }
    v.extend_from_slice(content);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_and_short_lengths() {
        for n in [0usize, 1, 127, 128, 255, 256, 70000] {
            let c = vec![7u8; n];
            let t = tlv(0x04, &c);
            let (tag, content, rest) = read_tlv(&t).unwrap();
            assert_eq!((tag, content.len(), rest.len()), (4, n, 0));
        }
        assert!(read_tlv(&[0x30, 0x80]).is_err());
        assert!(read_tlv(&[0x30, 0x05, 1]).is_err());
        assert!(read_tlv(&[0x30, 0x85, 1, 1, 1, 1, 1]).is_err());
    }
}
