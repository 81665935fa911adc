//! XDR (RFC 4506) primitives: a bounds-checked reader and a growable writer.
//!
//! Every wire codec of the NFS side is built from these two types. The reader
//! never panics and never allocates from a length it has not checked against
//! both a caller-given maximum and the bytes actually left, so a hostile
//! length word (say 4 GiB) is an error, not an allocation. Opaque data is read
//! as a [`Bytes`] slice of the record, so WRITE payloads are never copied.

use bytes::{BufMut, Bytes, BytesMut};

/// Why an XDR value could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum XdrError {
    #[error("truncated: needed {needed} bytes, {remaining} left")]
    Truncated { needed: usize, remaining: usize },
    #[error("length {len} exceeds the limit {max}")]
    TooLong { len: usize, max: usize },
    #[error("invalid boolean {0}")]
    InvalidBool(u32),
    #[error("invalid value {value} for {what}")]
    InvalidEnum { what: &'static str, value: u32 },
    #[error("string is not UTF-8")]
    InvalidUtf8,
    #[error("{0} trailing bytes after the arguments")]
    TrailingBytes(usize),
    #[error("inconsistent field: {0}")]
    Inconsistent(&'static str),
}

/// Bytes of padding after `len` bytes of opaque data.
pub const fn pad_len(len: usize) -> usize {
    (4 - (len % 4)) % 4
}

/// Encoded size of a variable-length opaque or string of `len` bytes.
pub const fn opaque_size(len: usize) -> usize {
    4 + len + pad_len(len)
}

/// A cursor over one XDR-encoded buffer.
#[derive(Debug, Clone)]
pub struct XdrReader {
    buf: Bytes,
    pos: usize,
}

impl XdrReader {
    /// Reads `buf` from its start.
    pub fn new(buf: Bytes) -> Self {
        XdrReader { buf, pos: 0 }
    }

    /// Reads a copy of `data` (tests and tools; the server path uses [`XdrReader::new`]).
    pub fn from_slice(data: &[u8]) -> Self {
        XdrReader::new(Bytes::copy_from_slice(data))
    }

    /// Bytes not read yet.
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// The unread rest of the buffer, without consuming it.
    pub fn rest(&self) -> Bytes {
        self.buf.slice(self.pos..)
    }

    /// Fails unless every byte was consumed.
    pub fn finish(&self) -> Result<(), XdrError> {
        match self.remaining() {
            0 => Ok(()),
            n => Err(XdrError::TrailingBytes(n)),
        }
    }

    fn take(&mut self, n: usize) -> Result<&[u8], XdrError> {
        let remaining = self.remaining();
        if n > remaining {
            return Err(XdrError::Truncated {
                needed: n,
                remaining,
            });
        }
        let start = self.pos;
        self.pos += n;
        Ok(&self.buf[start..start + n])
    }

    pub fn read_u32(&mut self) -> Result<u32, XdrError> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub fn read_i32(&mut self) -> Result<i32, XdrError> {
        Ok(self.read_u32()? as i32)
    }

    pub fn read_u64(&mut self) -> Result<u64, XdrError> {
        let hi = u64::from(self.read_u32()?);
        let lo = u64::from(self.read_u32()?);
        Ok(hi << 32 | lo)
    }

    pub fn read_i64(&mut self) -> Result<i64, XdrError> {
        Ok(self.read_u64()? as i64)
    }

    pub fn read_bool(&mut self) -> Result<bool, XdrError> {
        match self.read_u32()? {
            0 => Ok(false),
            1 => Ok(true),
            v => Err(XdrError::InvalidBool(v)),
        }
    }

    /// Fixed-length opaque of `N` bytes (plus padding).
    pub fn read_fixed<const N: usize>(&mut self) -> Result<[u8; N], XdrError> {
        let b = self.take(N + pad_len(N))?;
        let mut out = [0u8; N];
        out.copy_from_slice(&b[..N]);
        Ok(out)
    }

    /// Variable-length opaque of at most `max_len` bytes, as a slice of the buffer (no copy).
    pub fn read_opaque(&mut self, max_len: usize) -> Result<Bytes, XdrError> {
        let len = self.read_u32()? as usize;
        if len > max_len {
            return Err(XdrError::TooLong { len, max: max_len });
        }
        let total = len + pad_len(len);
        let remaining = self.remaining();
        if total > remaining {
            return Err(XdrError::Truncated {
                needed: total,
                remaining,
            });
        }
        let out = self.buf.slice(self.pos..self.pos + len);
        self.pos += total;
        Ok(out)
    }

    /// Variable-length opaque copied into a `Vec` (names, paths).
    pub fn read_opaque_vec(&mut self, max_len: usize) -> Result<Vec<u8>, XdrError> {
        Ok(self.read_opaque(max_len)?.to_vec())
    }

    /// A string that must be UTF-8 (MOUNT paths, machine names).
    pub fn read_string(&mut self, max_len: usize) -> Result<String, XdrError> {
        let b = self.read_opaque(max_len)?;
        std::str::from_utf8(&b)
            .map(str::to_owned)
            .map_err(|_| XdrError::InvalidUtf8)
    }

    /// An XDR optional (`*T`): a bool followed by the value when true.
    pub fn read_optional<T>(
        &mut self,
        f: impl FnOnce(&mut Self) -> Result<T, XdrError>,
    ) -> Result<Option<T>, XdrError> {
        if self.read_bool()? {
            Ok(Some(f(self)?))
        } else {
            Ok(None)
        }
    }
}

/// Appends XDR values to a growable buffer.
#[derive(Debug, Default)]
pub struct XdrWriter {
    buf: BytesMut,
}

impl XdrWriter {
    pub fn new() -> Self {
        XdrWriter::default()
    }

    /// A writer with room for `capacity_bytes` before it reallocates.
    pub fn with_capacity(capacity_bytes: usize) -> Self {
        XdrWriter {
            buf: BytesMut::with_capacity(capacity_bytes),
        }
    }

    /// Makes room for `additional_bytes` more without reallocating (large payloads).
    pub fn reserve(&mut self, additional_bytes: usize) {
        self.buf.reserve(additional_bytes);
    }

    /// Bytes written so far.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// The encoded bytes.
    pub fn into_bytes(self) -> Bytes {
        self.buf.freeze()
    }

    /// Borrow the encoded bytes.
    pub fn as_slice(&self) -> &[u8] {
        &self.buf
    }

    pub fn write_u32(&mut self, v: u32) {
        self.buf.put_u32(v);
    }

    pub fn write_i32(&mut self, v: i32) {
        self.buf.put_i32(v);
    }

    pub fn write_u64(&mut self, v: u64) {
        self.buf.put_u64(v);
    }

    pub fn write_i64(&mut self, v: i64) {
        self.buf.put_i64(v);
    }

    pub fn write_bool(&mut self, v: bool) {
        self.write_u32(u32::from(v));
    }

    fn write_pad(&mut self, len: usize) {
        self.buf.put_bytes(0, pad_len(len));
    }

    /// Fixed-length opaque (no length word).
    pub fn write_fixed(&mut self, data: &[u8]) {
        self.buf.put_slice(data);
        self.write_pad(data.len());
    }

    /// Variable-length opaque or string. Lengths above `u32::MAX` cannot be encoded;
    /// callers bound their data far below that.
    pub fn write_opaque(&mut self, data: &[u8]) {
        self.write_u32(u32::try_from(data.len()).unwrap_or(u32::MAX));
        self.write_fixed(data);
    }

    /// An XDR optional (`*T`).
    pub fn write_optional<T>(&mut self, v: Option<&T>, f: impl FnOnce(&mut Self, &T)) {
        match v {
            Some(v) => {
                self.write_bool(true);
                f(self, v);
            }
            None => self.write_bool(false),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn huge_length_is_an_error_not_an_allocation() {
        let mut r = XdrReader::from_slice(&[0xff, 0xff, 0xff, 0xff, 1, 2, 3]);
        assert!(matches!(
            r.read_opaque(usize::MAX),
            Err(XdrError::Truncated { .. })
        ));
        let mut r = XdrReader::from_slice(&[0, 0, 1, 0]);
        assert!(matches!(r.read_opaque(16), Err(XdrError::TooLong { .. })));
    }

    #[test]
    fn opaque_is_padded() {
        let mut w = XdrWriter::new();
        w.write_opaque(b"abcde");
        assert_eq!(
            w.as_slice(),
            &[0, 0, 0, 5, b'a', b'b', b'c', b'd', b'e', 0, 0, 0]
        );
        assert_eq!(w.len(), opaque_size(5));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(500))]
        #[test]
        fn primitives_round_trip(a: u32, b: i32, c: u64, d: i64, e: bool,
                                 f in proptest::collection::vec(any::<u8>(), 0..64),
                                 g: [u8; 8], s in "\\PC{0,20}") {
            let mut w = XdrWriter::new();
            w.write_u32(a); w.write_i32(b); w.write_u64(c); w.write_i64(d); w.write_bool(e);
            w.write_opaque(&f); w.write_fixed(&g); w.write_opaque(s.as_bytes());
            w.write_optional(Some(&a), |w, v| w.write_u32(*v));
            w.write_optional::<u32>(None, |w, v| w.write_u32(*v));
            prop_assert_eq!(w.len() % 4, 0);
            let mut r = XdrReader::new(w.into_bytes());
            prop_assert_eq!(r.read_u32().unwrap(), a);
            prop_assert_eq!(r.read_i32().unwrap(), b);
            prop_assert_eq!(r.read_u64().unwrap(), c);
            prop_assert_eq!(r.read_i64().unwrap(), d);
            prop_assert_eq!(r.read_bool().unwrap(), e);
            prop_assert_eq!(r.read_opaque_vec(64).unwrap(), f);
            prop_assert_eq!(r.read_fixed::<8>().unwrap(), g);
            prop_assert_eq!(r.read_string(100).unwrap(), s);
            prop_assert_eq!(r.read_optional(|r| r.read_u32()).unwrap(), Some(a));
            prop_assert_eq!(r.read_optional(|r| r.read_u32()).unwrap(), None);
            prop_assert!(r.finish().is_ok());
        }
    }
}
