//! Temporary stand-in for the `dittofs-wal-format` crate (wal-format/), which a
//! colleague is writing with exactly this API. Delete this file and point
//! `wal::fmt` at `dittofs_wal_format` once it lands on main.
//!
//! Layout: a segment starts with a 4096-byte header; records follow, each a
//! 64-byte header, the payload, zero padding up to a multiple of 4096 (so every
//! record is one O_DIRECT write). CRC32C covers header and payload.

/// O_DIRECT alignment of every record and of the segment header.
pub const ALIGN_BYTES: usize = 4096;
/// Bytes of the segment header block.
pub const SEGMENT_HEADER_BYTES: usize = 4096;
pub(crate) const RECORD_HEADER_BYTES: usize = 64;
const SEGMENT_MAGIC: u32 = 0x4457_5347; // "DWSG"
const RECORD_MAGIC: u32 = 0x4457_5243; // "DWRC"

/// What a record does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordKind {
    Data,
    Truncate,
    Remove,
    Checkpoint,
}

/// Header of a segment file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentHeader {
    pub shard: u32,
    pub segment_id: u64,
    pub epoch: u64,
    pub first_seq: u64,
}

/// Header of one record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordHeader {
    pub seq: u64,
    pub epoch: u64,
    pub shard: u32,
    pub kind: RecordKind,
    pub share: u32,
    pub ino: u64,
    pub offset: u64,
    pub payload_len: u32,
}

/// A record read back from a segment.
#[derive(Debug, Clone, Copy)]
pub struct DecodedRecord<'a> {
    pub header: RecordHeader,
    pub payload: &'a [u8],
    /// Bytes the record occupies (padded).
    pub len: usize,
}

/// Encoding error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    #[error("buffer too small")]
    BufferTooSmall,
    #[error("not a segment header")]
    BadMagic,
    #[error("segment header checksum mismatch")]
    BadChecksum,
}

/// Why a slot holds no valid record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    #[error("empty slot")]
    Empty,
    #[error("truncated record")]
    Truncated,
    #[error("bad record magic")]
    BadMagic,
    #[error("record checksum mismatch")]
    BadChecksum,
    #[error("unknown record kind {0}")]
    BadKind(u8),
}

/// What recovery does with a slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replay {
    Apply,
    SkipCheckpointed,
    StopTornTail,
    StopStale,
    StopGap,
}

fn put_u32(out: &mut [u8], at: usize, v: u32) {
    out[at..at + 4].copy_from_slice(&v.to_le_bytes());
}
fn put_u64(out: &mut [u8], at: usize, v: u64) {
    out[at..at + 8].copy_from_slice(&v.to_le_bytes());
}
fn get_u32(buf: &[u8], at: usize) -> u32 {
    let mut b = [0u8; 4];
    b.copy_from_slice(&buf[at..at + 4]);
    u32::from_le_bytes(b)
}
fn get_u64(buf: &[u8], at: usize) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&buf[at..at + 8]);
    u64::from_le_bytes(b)
}

/// Writes `h` into the first [`SEGMENT_HEADER_BYTES`] of `out`.
pub fn encode_segment_header(h: &SegmentHeader, out: &mut [u8]) -> Result<(), FormatError> {
    if out.len() < SEGMENT_HEADER_BYTES {
        return Err(FormatError::BufferTooSmall);
    }
    out[..SEGMENT_HEADER_BYTES].fill(0);
    put_u32(out, 0, SEGMENT_MAGIC);
    put_u32(out, 8, h.shard);
    put_u64(out, 16, h.segment_id);
    put_u64(out, 24, h.epoch);
    put_u64(out, 32, h.first_seq);
    let crc = crc32c::crc32c(&out[8..40]);
    put_u32(out, 4, crc);
    Ok(())
}

/// Reads a segment header.
pub fn decode_segment_header(buf: &[u8]) -> Result<SegmentHeader, FormatError> {
    if buf.len() < 40 {
        return Err(FormatError::BufferTooSmall);
    }
    if get_u32(buf, 0) != SEGMENT_MAGIC {
        return Err(FormatError::BadMagic);
    }
    if crc32c::crc32c(&buf[8..40]) != get_u32(buf, 4) {
        return Err(FormatError::BadChecksum);
    }
    Ok(SegmentHeader {
        shard: get_u32(buf, 8),
        segment_id: get_u64(buf, 16),
        epoch: get_u64(buf, 24),
        first_seq: get_u64(buf, 32),
    })
}

/// Bytes a record with `payload_len` bytes of payload occupies.
pub fn record_len(payload_len: usize) -> usize {
    (RECORD_HEADER_BYTES + payload_len).div_ceil(ALIGN_BYTES) * ALIGN_BYTES
}

fn kind_byte(kind: RecordKind) -> u8 {
    match kind {
        RecordKind::Data => 1,
        RecordKind::Truncate => 2,
        RecordKind::Remove => 3,
        RecordKind::Checkpoint => 4,
    }
}

/// Encodes a record (header, payload, zero padding) into `out`; returns its length.
pub fn encode_record(
    h: &RecordHeader,
    payload: &[u8],
    out: &mut [u8],
) -> Result<usize, FormatError> {
    let len = record_len(payload.len());
    if out.len() < len || payload.len() != h.payload_len as usize {
        return Err(FormatError::BufferTooSmall);
    }
    put_u32(out, 0, RECORD_MAGIC);
    put_u64(out, 8, h.seq);
    put_u64(out, 16, h.epoch);
    put_u32(out, 24, h.shard);
    out[28..32].copy_from_slice(&[kind_byte(h.kind), 0, 0, 0]);
    put_u32(out, 32, h.share);
    put_u32(out, 36, h.payload_len);
    put_u64(out, 40, h.ino);
    put_u64(out, 48, h.offset);
    put_u64(out, 56, 0);
    let body_end = RECORD_HEADER_BYTES + payload.len();
    out[RECORD_HEADER_BYTES..body_end].copy_from_slice(payload);
    out[body_end..len].fill(0);
    let crc = crc32c::crc32c_append(crc32c::crc32c(&out[8..RECORD_HEADER_BYTES]), payload);
    put_u32(out, 4, crc);
    Ok(len)
}

/// Decodes the record at the start of `buf`.
pub fn decode_record(buf: &[u8]) -> Result<DecodedRecord<'_>, RecordError> {
    if buf.len() < RECORD_HEADER_BYTES {
        return Err(RecordError::Truncated);
    }
    let magic = get_u32(buf, 0);
    if magic != RECORD_MAGIC {
        if buf[..RECORD_HEADER_BYTES].iter().all(|&b| b == 0) {
            return Err(RecordError::Empty);
        }
        return Err(RecordError::BadMagic);
    }
    let kind = match buf[28] {
        1 => RecordKind::Data,
        2 => RecordKind::Truncate,
        3 => RecordKind::Remove,
        4 => RecordKind::Checkpoint,
        other => return Err(RecordError::BadKind(other)),
    };
    let payload_len = get_u32(buf, 36);
    let len = record_len(payload_len as usize);
    if buf.len() < len {
        return Err(RecordError::Truncated);
    }
    let payload = &buf[RECORD_HEADER_BYTES..RECORD_HEADER_BYTES + payload_len as usize];
    let crc = crc32c::crc32c_append(crc32c::crc32c(&buf[8..RECORD_HEADER_BYTES]), payload);
    if crc != get_u32(buf, 4) {
        return Err(RecordError::BadChecksum);
    }
    Ok(DecodedRecord {
        header: RecordHeader {
            seq: get_u64(buf, 8),
            epoch: get_u64(buf, 16),
            shard: get_u32(buf, 24),
            kind,
            share: get_u32(buf, 32),
            ino: get_u64(buf, 40),
            offset: get_u64(buf, 48),
            payload_len,
        },
        payload,
        len,
    })
}

/// What recovery does with one slot: a record of the segment's epoch with the
/// expected sequence number is applied (or skipped when already checkpointed);
/// anything else ends the segment.
pub fn recovery_decision(
    slot: &Result<RecordHeader, RecordError>,
    expected_seq: Option<u64>,
    segment_epoch: u64,
    checkpoint_seq: u64,
) -> Replay {
    let header = match slot {
        Ok(h) => h,
        Err(_) => return Replay::StopTornTail,
    };
    if header.epoch != segment_epoch {
        return Replay::StopStale;
    }
    if let Some(expected) = expected_seq {
        if header.seq < expected {
            return Replay::StopStale;
        }
        if header.seq > expected {
            return Replay::StopGap;
        }
    }
    if header.seq < checkpoint_seq {
        Replay::SkipCheckpointed
    } else {
        Replay::Apply
    }
}
