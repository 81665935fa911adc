//! Record marking for RPC over TCP (RFC 5531 §11), as a pure incremental assembler.
//!
//! The connection task feeds whatever the socket returned into
//! [`RecordAssembler::extend`] and pulls complete records out with
//! [`RecordAssembler::next_record`]; no I/O happens here, so the framing logic is
//! tested and fuzzed on its own. A single-fragment record (what every client we
//! know sends) is handed out as a zero-copy slice of the receive buffer.

use bytes::{Buf, Bytes, BytesMut};

/// High bit of a record mark: this fragment is the last of its record.
const LAST_FRAGMENT_BIT: u32 = 0x8000_0000;

/// Why the byte stream cannot be framed into records; the connection must be closed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    #[error("RPC record of {len} bytes exceeds the limit of {max} bytes")]
    TooLarge { len: usize, max: usize },
}

/// Joins fragments of the byte stream of one connection into complete records.
#[derive(Debug)]
pub struct RecordAssembler {
    record_bytes_max: usize,
    /// Bytes received and not yet consumed.
    buf: BytesMut,
    /// Earlier fragments of the record being assembled (empty for most records).
    pending: BytesMut,
}

impl RecordAssembler {
    /// An assembler that refuses records longer than `record_bytes_max`.
    pub fn new(record_bytes_max: usize) -> Self {
        RecordAssembler {
            record_bytes_max,
            buf: BytesMut::new(),
            pending: BytesMut::new(),
        }
    }

    /// Appends bytes received from the socket.
    pub fn extend(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// Bytes buffered and not yet returned as part of a record.
    pub fn buffered_len(&self) -> usize {
        self.buf.len() + self.pending.len()
    }

    /// The next complete record (fragments joined, marks removed), or `None` when more
    /// bytes are needed. Fails with `TooLarge` as soon as a fragment header declares a
    /// size that takes the record past the limit, before its bytes arrive.
    pub fn next_record(&mut self) -> Result<Option<Bytes>, RecordError> {
        loop {
            if self.buf.len() < 4 {
                return Ok(None);
            }
            let mark = u32::from_be_bytes([self.buf[0], self.buf[1], self.buf[2], self.buf[3]]);
            let last = mark & LAST_FRAGMENT_BIT != 0;
            let frag_len = (mark & !LAST_FRAGMENT_BIT) as usize;
            let record_len = self.pending.len().saturating_add(frag_len);
            if record_len > self.record_bytes_max {
                return Err(RecordError::TooLarge {
                    len: record_len,
                    max: self.record_bytes_max,
                });
            }
            if self.buf.len() - 4 < frag_len {
                return Ok(None);
            }
            self.buf.advance(4);
            let fragment = self.buf.split_to(frag_len);
            if last && self.pending.is_empty() {
                return Ok(Some(fragment.freeze()));
            }
            self.pending.extend_from_slice(&fragment);
            if last {
                return Ok(Some(self.pending.split().freeze()));
            }
        }
    }
}

/// Record mark (single, last fragment) to send before a reply body of `body_len` bytes.
/// Bodies are bounded far below 2 GiB; a larger length is clamped to the 31-bit maximum.
pub fn record_mark(body_len: usize) -> [u8; 4] {
    let len = u32::try_from(body_len)
        .unwrap_or(u32::MAX)
        .min(!LAST_FRAGMENT_BIT);
    (LAST_FRAGMENT_BIT | len).to_be_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Encodes `record` as fragments of the given sizes (the rest goes in the last one).
    fn frame(record: &[u8], frag_lens: &[usize]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut rest = record;
        for &n in frag_lens {
            let n = n.min(rest.len());
            out.extend_from_slice(&(n as u32).to_be_bytes());
            out.extend_from_slice(&rest[..n]);
            rest = &rest[n..];
        }
        out.extend_from_slice(&record_mark(rest.len()));
        out.extend_from_slice(rest);
        out
    }

    #[test]
    fn too_large_is_reported_before_the_data_arrives() {
        let mut a = RecordAssembler::new(100);
        a.extend(&record_mark(101));
        assert_eq!(
            a.next_record(),
            Err(RecordError::TooLarge { len: 101, max: 100 })
        );
    }

    #[test]
    fn too_large_counts_earlier_fragments() {
        let mut a = RecordAssembler::new(10);
        a.extend(&frame(&[7u8; 11], &[6]));
        assert!(matches!(
            a.next_record(),
            Err(RecordError::TooLarge { len: 11, .. })
        ));
    }

    #[test]
    fn empty_record() {
        let mut a = RecordAssembler::new(10);
        a.extend(&record_mark(0));
        assert_eq!(a.next_record(), Ok(Some(Bytes::new())));
        assert_eq!(a.next_record(), Ok(None));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]
        #[test]
        fn arbitrary_fragmenting_round_trips(
            records in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 1..5),
            frag_lens in proptest::collection::vec(0usize..100, 0..5),
            chunk_len in 1usize..64,
        ) {
            let mut stream = Vec::new();
            for r in &records {
                stream.extend_from_slice(&frame(r, &frag_lens));
            }
            let mut a = RecordAssembler::new(300);
            let mut got = Vec::new();
            for chunk in stream.chunks(chunk_len) {
                a.extend(chunk);
                while let Some(r) = a.next_record().unwrap() {
                    got.push(r.to_vec());
                }
            }
            prop_assert_eq!(got, records);
            prop_assert_eq!(a.buffered_len(), 0);
        }

        #[test]
        fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..512)) {
            let mut a = RecordAssembler::new(256);
            a.extend(&data);
            while let Ok(Some(_)) = a.next_record() {}
        }
    }
}
