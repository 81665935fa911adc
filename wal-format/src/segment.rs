//! Segment header (the first [`SEGMENT_HEADER_BYTES`] of a segment file) and the scanner
//! that walks a segment body record by record. Layout: `FORMAT.md`.

use crate::record::{le_u16, le_u32, le_u64};
use crate::{
    decode_record, DecodedRecord, FormatError, RecordError, ALIGN_BYTES, FORMAT_VERSION,
    SEGMENT_HEADER_BYTES,
};

/// `"DWSG"` read as a little-endian u32: bytes `44 57 53 47` on disk.
pub const SEGMENT_MAGIC: u32 = u32::from_le_bytes(*b"DWSG");

const OFF_MAGIC: usize = 0;
const OFF_VERSION: usize = 4;
const OFF_FLAGS: usize = 6;
const OFF_SHARD: usize = 8;
const OFF_ALIGN: usize = 12;
const OFF_SEGMENT_ID: usize = 16;
const OFF_EPOCH: usize = 24;
const OFF_FIRST_SEQ: usize = 32;
/// The CRC covers bytes `0..OFF_CRC`; bytes `OFF_CRC + 4..SEGMENT_HEADER_BYTES` are zero.
const OFF_CRC: usize = 40;
/// Bytes of the segment header that carry information (the rest is zero padding).
pub const SEGMENT_HEADER_USED_BYTES: usize = OFF_CRC + 4;

/// The header of one use of a segment file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentHeader {
    /// Shard (core) that owns this segment.
    pub shard: u32,
    /// Which preallocated segment file this is (stable across reuse).
    pub segment_id: u64,
    /// Incremented each time the file is reused; every record written during this use
    /// carries it, so records left from an earlier use are recognised as stale.
    pub epoch: u64,
    /// Sequence number of the first record written in this use.
    pub first_seq: u64,
}

/// Writes the header into `out[..SEGMENT_HEADER_BYTES]` (unused bytes zeroed).
pub fn encode_segment_header(h: &SegmentHeader, out: &mut [u8]) -> Result<(), FormatError> {
    let got = out.len();
    let out = out
        .get_mut(..SEGMENT_HEADER_BYTES)
        .ok_or(FormatError::BufferTooSmall {
            needed: SEGMENT_HEADER_BYTES,
            got,
        })?;
    out.fill(0);
    out[OFF_MAGIC..OFF_MAGIC + 4].copy_from_slice(&SEGMENT_MAGIC.to_le_bytes());
    out[OFF_VERSION..OFF_VERSION + 2].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    out[OFF_SHARD..OFF_SHARD + 4].copy_from_slice(&h.shard.to_le_bytes());
    out[OFF_ALIGN..OFF_ALIGN + 4].copy_from_slice(&(ALIGN_BYTES as u32).to_le_bytes());
    out[OFF_SEGMENT_ID..OFF_SEGMENT_ID + 8].copy_from_slice(&h.segment_id.to_le_bytes());
    out[OFF_EPOCH..OFF_EPOCH + 8].copy_from_slice(&h.epoch.to_le_bytes());
    out[OFF_FIRST_SEQ..OFF_FIRST_SEQ + 8].copy_from_slice(&h.first_seq.to_le_bytes());
    let crc = crc32c::crc32c(&out[..OFF_CRC]);
    out[OFF_CRC..OFF_CRC + 4].copy_from_slice(&crc.to_le_bytes());
    Ok(())
}

/// Decodes a segment header from `buf[..SEGMENT_HEADER_BYTES]`. Bytes after
/// [`SEGMENT_HEADER_USED_BYTES`] are ignored.
pub fn decode_segment_header(buf: &[u8]) -> Result<SegmentHeader, FormatError> {
    let b = buf
        .get(..SEGMENT_HEADER_BYTES)
        .ok_or(FormatError::BufferTooSmall {
            needed: SEGMENT_HEADER_BYTES,
            got: buf.len(),
        })?;
    let b = &b[..SEGMENT_HEADER_USED_BYTES];
    if b.iter().all(|x| *x == 0) {
        return Err(FormatError::Empty);
    }
    if le_u32(b, OFF_MAGIC) != SEGMENT_MAGIC {
        return Err(FormatError::BadMagic);
    }
    let version = le_u16(b, OFF_VERSION);
    if version != FORMAT_VERSION {
        return Err(FormatError::UnsupportedVersion(version));
    }
    if crc32c::crc32c(&b[..OFF_CRC]) != le_u32(b, OFF_CRC) {
        return Err(FormatError::HeaderCrc);
    }
    if le_u16(b, OFF_FLAGS) != 0 {
        return Err(FormatError::BadField("flags"));
    }
    if usize::try_from(le_u32(b, OFF_ALIGN)).ok() != Some(ALIGN_BYTES) {
        return Err(FormatError::BadField("align_bytes"));
    }
    Ok(SegmentHeader {
        shard: le_u32(b, OFF_SHARD),
        segment_id: le_u64(b, OFF_SEGMENT_ID),
        epoch: le_u64(b, OFF_EPOCH),
        first_seq: le_u64(b, OFF_FIRST_SEQ),
    })
}

/// Iterates the records of a segment body (the bytes after its header) in order,
/// stopping at the first slot that is not a valid record of this segment's epoch.
///
/// After the iterator returned `None`, [`SegmentScanner::stop`] is always `Some`: the
/// body offset of the first invalid slot and why. A body consumed to its very end (a
/// full segment) stops with `RecordError::Empty` at `body.len()`. Offsets are relative
/// to the body: the file offset is `SEGMENT_HEADER_BYTES + offset`.
#[derive(Debug, Clone)]
pub struct SegmentScanner<'a> {
    body: &'a [u8],
    epoch: u64,
    pos: usize,
    stop: Option<(usize, RecordError)>,
}

impl<'a> SegmentScanner<'a> {
    /// A scanner over `body` for the segment use described by `header`.
    pub fn new(body: &'a [u8], header: &SegmentHeader) -> Self {
        SegmentScanner {
            body,
            epoch: header.epoch,
            pos: 0,
            stop: None,
        }
    }

    /// Where and why the scan stopped; `None` while it has not stopped yet.
    pub fn stop(&self) -> Option<(usize, &RecordError)> {
        self.stop.as_ref().map(|(at, e)| (*at, e))
    }

    /// Body offset of the next slot to decode (after a stop: the stop offset, which is
    /// where a writer resuming this segment appends).
    pub fn position(&self) -> usize {
        self.pos
    }
}

impl<'a> Iterator for SegmentScanner<'a> {
    type Item = DecodedRecord<'a>;

    fn next(&mut self) -> Option<DecodedRecord<'a>> {
        if self.stop.is_some() {
            return None;
        }
        let slot = self.body.get(self.pos..).unwrap_or(&[]);
        let result = decode_record(slot).and_then(|r| {
            if r.header.epoch == self.epoch {
                Ok(r)
            } else {
                Err(RecordError::StaleEpoch {
                    record: r.header.epoch,
                    segment: self.epoch,
                })
            }
        });
        match result {
            Ok(r) => {
                self.pos += r.len;
                Some(r)
            }
            Err(e) => {
                self.stop = Some((self.pos, e));
                None
            }
        }
    }
}
