//! Bounds-checked little-endian reader and writer helpers. Every read checks the
//! remaining length and returns `WireError::Truncated`; offset/length pairs taken from
//! the wire go through [`slice_at`] which checks them against the whole message.

use crate::error::{Result, WireError};

/// A cursor over a byte slice. `pos` is absolute within `buf`.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }
    pub fn at(buf: &'a [u8], pos: usize) -> Self {
        Reader { buf, pos }
    }
    pub fn pos(&self) -> usize {
        self.pos
    }
    pub fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }
    pub fn bytes(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self.pos.checked_add(n).ok_or(WireError::Truncated {
            at: self.pos,
            need: n,
            have: self.remaining(),
        })?;
        if end > self.buf.len() {
            return Err(WireError::Truncated {
                at: self.pos,
                need: n,
                have: self.remaining(),
            });
        }
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }
    pub fn skip(&mut self, n: usize) -> Result<()> {
        self.bytes(n).map(|_| ())
    }
    pub fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.bytes(N)?);
        Ok(a)
    }
    pub fn u8(&mut self) -> Result<u8> {
        Ok(self.array::<1>()?[0])
    }
    pub fn u16(&mut self) -> Result<u16> {
        Ok(u16::from_le_bytes(self.array()?))
    }
    pub fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(self.array()?))
    }
    pub fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(self.array()?))
    }
    pub fn rest(&mut self) -> &'a [u8] {
        let s = self.buf.get(self.pos..).unwrap_or(&[]);
        self.pos = self.buf.len();
        s
    }
}

/// `msg[offset..offset+len]`, checked. A zero length always succeeds with an empty
/// slice (clients send offset 0 with length 0).
pub fn slice_at<'a>(
    msg: &'a [u8],
    what: &'static str,
    offset: usize,
    len: usize,
) -> Result<&'a [u8]> {
    if len == 0 {
        return Ok(&[]);
    }
    let end = offset.checked_add(len);
    match end {
        Some(end) if end <= msg.len() => Ok(&msg[offset..end]),
        _ => Err(WireError::OutOfFrame {
            what,
            offset,
            len,
            frame: msg.len(),
        }),
    }
}

/// Like [`slice_at`], and also rejects a non-empty buffer that starts before `min`
/// (inside the fixed part of the structure).
pub fn slice_after<'a>(
    msg: &'a [u8],
    what: &'static str,
    min: usize,
    offset: usize,
    len: usize,
) -> Result<&'a [u8]> {
    if len != 0 && offset < min {
        return Err(WireError::BadOffset { what, offset });
    }
    slice_at(msg, what, offset, len)
}

/// Checks a StructureSize field.
pub fn expect_size(r: &mut Reader<'_>, what: &'static str, want: u16) -> Result<()> {
    let got = r.u16()?;
    if got != want {
        return Err(WireError::BadStructureSize { what, got, want });
    }
    Ok(())
}

/// Little-endian append helpers on `Vec<u8>`.
pub trait Put {
    fn put_u8(&mut self, v: u8);
    fn put_u16(&mut self, v: u16);
    fn put_u32(&mut self, v: u32);
    fn put_u64(&mut self, v: u64);
    fn put(&mut self, b: &[u8]);
    fn zeros(&mut self, n: usize);
    /// Pads with zeros to a multiple of `a` (relative to the vector start).
    fn align(&mut self, a: usize);
    /// Overwrites a u16/u32 at `at` (for offsets/lengths known only later).
    fn set_u16(&mut self, at: usize, v: u16);
    fn set_u32(&mut self, at: usize, v: u32);
}

impl Put for Vec<u8> {
    fn put_u8(&mut self, v: u8) {
        self.push(v)
    }
    fn put_u16(&mut self, v: u16) {
        self.extend_from_slice(&v.to_le_bytes())
    }
    fn put_u32(&mut self, v: u32) {
        self.extend_from_slice(&v.to_le_bytes())
    }
    fn put_u64(&mut self, v: u64) {
        self.extend_from_slice(&v.to_le_bytes())
    }
    fn put(&mut self, b: &[u8]) {
        self.extend_from_slice(b)
    }
    fn zeros(&mut self, n: usize) {
        self.resize(self.len() + n, 0)
    }
    fn align(&mut self, a: usize) {
        let pad = (a - self.len() % a) % a;
        self.zeros(pad)
    }
    fn set_u16(&mut self, at: usize, v: u16) {
        self[at..at + 2].copy_from_slice(&v.to_le_bytes())
    }
    fn set_u32(&mut self, at: usize, v: u32) {
        self[at..at + 4].copy_from_slice(&v.to_le_bytes())
    }
}

/// Decodes UTF-16LE (odd lengths and unpaired surrogates are errors).
pub fn utf16_decode(b: &[u8], what: &'static str) -> Result<String> {
    if b.len() % 2 != 0 {
        return Err(WireError::BadUtf16(what));
    }
    let units = b.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]]));
    char::decode_utf16(units)
        .collect::<std::result::Result<String, _>>()
        .map_err(|_| WireError::BadUtf16(what))
}

/// Encodes a string as UTF-16LE.
pub fn utf16_encode(s: &str) -> Vec<u8> {
    s.encode_utf16().flat_map(|u| u.to_le_bytes()).collect()
}

/// Appends a string as UTF-16LE, returning its byte length.
pub fn put_utf16(out: &mut Vec<u8>, s: &str) -> usize {
    let start = out.len();
    for u in s.encode_utf16() {
        out.put_u16(u);
    }
    out.len() - start
}

/// Length in bytes of a u32 that must fit the wire field (saturating for encoders of
/// values the server itself built; they never exceed the frame limit).
pub fn len32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// As [`len32`] for u16 fields.
pub fn len16(n: usize) -> u16 {
    u16::try_from(n).unwrap_or(u16::MAX)
}
