//! Records: a fixed 64-byte little-endian header, the payload, zero padding up to the next
//! multiple of [`ALIGN_BYTES`]. Byte layout and the reasons behind it: `FORMAT.md`.

use crate::{FormatError, RecordError, ALIGN_BYTES, FORMAT_VERSION, MAX_PAYLOAD_BYTES};

/// `"DWAL"` read as a little-endian u32: bytes `44 57 41 4C` on disk.
pub const RECORD_MAGIC: u32 = u32::from_le_bytes(*b"DWAL");
/// Size of the fixed record header.
pub const RECORD_HEADER_BYTES: usize = 64;

// Field offsets inside the record header (see FORMAT.md for the table).
const OFF_MAGIC: usize = 0;
const OFF_VERSION: usize = 4;
const OFF_KIND: usize = 6;
const OFF_FLAGS: usize = 7;
const OFF_HEADER_LEN: usize = 8;
const OFF_RESERVED: usize = 10;
const OFF_PAYLOAD_LEN: usize = 12;
const OFF_SEQ: usize = 16;
const OFF_EPOCH: usize = 24;
const OFF_SHARD: usize = 32;
const OFF_SHARE: usize = 36;
const OFF_INO: usize = 40;
const OFF_OFFSET: usize = 48;
const OFF_PAYLOAD_CRC: usize = 56;
/// The header CRC covers bytes `0..OFF_HEADER_CRC`.
const OFF_HEADER_CRC: usize = 60;

/// What a record means. The on-disk codes start at 1 so an all-zero header is never a
/// valid record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RecordKind {
    /// `payload` are the bytes written at `offset` of file `(share, ino)`.
    Data,
    /// File `(share, ino)` was truncated or extended to `offset` bytes; no payload.
    Truncate,
    /// The content of `(share, ino)` is gone; `offset` is 0; no payload.
    Remove,
    /// Every record with `seq <= offset` is uploaded or obsolete and needs no replay;
    /// `share`, `ino` are 0; no payload.
    Checkpoint,
}

impl RecordKind {
    /// The on-disk code of this kind.
    pub fn code(self) -> u8 {
        match self {
            RecordKind::Data => 1,
            RecordKind::Truncate => 2,
            RecordKind::Remove => 3,
            RecordKind::Checkpoint => 4,
        }
    }

    /// The kind of an on-disk code, if it is one.
    pub fn from_code(code: u8) -> Option<RecordKind> {
        match code {
            1 => Some(RecordKind::Data),
            2 => Some(RecordKind::Truncate),
            3 => Some(RecordKind::Remove),
            4 => Some(RecordKind::Checkpoint),
            _ => None,
        }
    }
}

/// The typed record header. `payload_len` must equal the payload's length.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordHeader {
    /// Log sequence number of this shard, starting at 1 and increasing by one per record.
    pub seq: u64,
    /// Epoch of the segment use this record was written in (`SegmentHeader::epoch`).
    pub epoch: u64,
    /// Shard (core) whose log this is.
    pub shard: u32,
    pub kind: RecordKind,
    pub share: u32,
    pub ino: u64,
    /// Data: file offset; Truncate: new size; Checkpoint: checkpointed seq; Remove: 0.
    pub offset: u64,
    pub payload_len: u32,
}

/// A record decoded from a buffer: the payload borrows the buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodedRecord<'a> {
    pub header: RecordHeader,
    pub payload: &'a [u8],
    /// Bytes the record occupies, padding included (`record_len(payload.len())`): the
    /// next record starts this far after this one.
    pub len: usize,
}

/// Bytes a record with `payload_len` payload bytes occupies: header plus payload,
/// rounded up to a multiple of [`ALIGN_BYTES`]. Saturates (no panic) for lengths far
/// beyond [`MAX_PAYLOAD_BYTES`], which no record has.
pub fn record_len(payload_len: usize) -> usize {
    RECORD_HEADER_BYTES
        .saturating_add(payload_len)
        .div_ceil(ALIGN_BYTES)
        .saturating_mul(ALIGN_BYTES)
}

/// CRC32C of a record's payload, as stored in the header.
pub fn payload_crc(payload: &[u8]) -> u32 {
    crc32c::crc32c(payload)
}

/// Encodes `h` and `payload` into `out[..record_len(payload.len())]`, zeroing the
/// padding; returns that length. `out` may be longer; the rest is left untouched.
pub fn encode_record(
    h: &RecordHeader,
    payload: &[u8],
    out: &mut [u8],
) -> Result<usize, FormatError> {
    if payload.len() > MAX_PAYLOAD_BYTES {
        return Err(FormatError::PayloadTooLarge(payload.len()));
    }
    if usize::try_from(h.payload_len).ok() != Some(payload.len()) {
        return Err(FormatError::PayloadLenMismatch {
            header: h.payload_len,
            actual: payload.len(),
        });
    }
    if h.kind != RecordKind::Data && !payload.is_empty() {
        return Err(FormatError::PayloadNotAllowed(h.kind));
    }
    let len = record_len(payload.len());
    let got = out.len();
    let out = out
        .get_mut(..len)
        .ok_or(FormatError::BufferTooSmall { needed: len, got })?;
    let (head, rest) = out.split_at_mut(RECORD_HEADER_BYTES);
    head[OFF_MAGIC..OFF_MAGIC + 4].copy_from_slice(&RECORD_MAGIC.to_le_bytes());
    head[OFF_VERSION..OFF_VERSION + 2].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    head[OFF_KIND] = h.kind.code();
    head[OFF_FLAGS] = 0;
    head[OFF_HEADER_LEN..OFF_HEADER_LEN + 2]
        .copy_from_slice(&(RECORD_HEADER_BYTES as u16).to_le_bytes());
    head[OFF_RESERVED..OFF_RESERVED + 2].copy_from_slice(&[0, 0]);
    head[OFF_PAYLOAD_LEN..OFF_PAYLOAD_LEN + 4].copy_from_slice(&h.payload_len.to_le_bytes());
    head[OFF_SEQ..OFF_SEQ + 8].copy_from_slice(&h.seq.to_le_bytes());
    head[OFF_EPOCH..OFF_EPOCH + 8].copy_from_slice(&h.epoch.to_le_bytes());
    head[OFF_SHARD..OFF_SHARD + 4].copy_from_slice(&h.shard.to_le_bytes());
    head[OFF_SHARE..OFF_SHARE + 4].copy_from_slice(&h.share.to_le_bytes());
    head[OFF_INO..OFF_INO + 8].copy_from_slice(&h.ino.to_le_bytes());
    head[OFF_OFFSET..OFF_OFFSET + 8].copy_from_slice(&h.offset.to_le_bytes());
    head[OFF_PAYLOAD_CRC..OFF_PAYLOAD_CRC + 4].copy_from_slice(&payload_crc(payload).to_le_bytes());
    let crc = crc32c::crc32c(&head[..OFF_HEADER_CRC]);
    head[OFF_HEADER_CRC..OFF_HEADER_CRC + 4].copy_from_slice(&crc.to_le_bytes());
    let (body, padding) = rest.split_at_mut(payload.len());
    body.copy_from_slice(payload);
    padding.fill(0);
    Ok(len)
}

/// Decodes the record at the start of `buf`, which must begin at an aligned record
/// position. The checks run in this order, each before anything that depends on it:
/// zero header (`Empty`), magic, version, header CRC, header fields, kind, payload
/// length (`TooLarge`, before any slicing), declared aligned length within `buf`
/// (`Truncated`), payload CRC. Padding bytes are not checked (they carry nothing).
pub fn decode_record(buf: &[u8]) -> Result<DecodedRecord<'_>, RecordError> {
    let head_avail = &buf[..buf.len().min(RECORD_HEADER_BYTES)];
    if head_avail.iter().all(|b| *b == 0) {
        return Err(RecordError::Empty);
    }
    let Some(head) = buf.get(..RECORD_HEADER_BYTES) else {
        return Err(RecordError::Truncated);
    };
    if le_u32(head, OFF_MAGIC) != RECORD_MAGIC {
        return Err(RecordError::BadMagic);
    }
    let version = le_u16(head, OFF_VERSION);
    if version != FORMAT_VERSION {
        return Err(RecordError::UnsupportedVersion(version));
    }
    if crc32c::crc32c(&head[..OFF_HEADER_CRC]) != le_u32(head, OFF_HEADER_CRC) {
        return Err(RecordError::HeaderCrc);
    }
    if head[OFF_FLAGS] != 0 {
        return Err(RecordError::BadField("flags"));
    }
    if usize::from(le_u16(head, OFF_HEADER_LEN)) != RECORD_HEADER_BYTES {
        return Err(RecordError::BadField("header_len"));
    }
    if le_u16(head, OFF_RESERVED) != 0 {
        return Err(RecordError::BadField("reserved"));
    }
    let kind = RecordKind::from_code(head[OFF_KIND]).ok_or(RecordError::BadKind(head[OFF_KIND]))?;
    let payload_len = le_u32(head, OFF_PAYLOAD_LEN);
    let payload_bytes =
        usize::try_from(payload_len).map_err(|_| RecordError::TooLarge(payload_len))?;
    if payload_bytes > MAX_PAYLOAD_BYTES {
        return Err(RecordError::TooLarge(payload_len));
    }
    if kind != RecordKind::Data && payload_bytes != 0 {
        return Err(RecordError::BadField("payload_len"));
    }
    let len = record_len(payload_bytes);
    if buf.len() < len {
        return Err(RecordError::Truncated);
    }
    let payload = &buf[RECORD_HEADER_BYTES..RECORD_HEADER_BYTES + payload_bytes];
    if payload_crc(payload) != le_u32(head, OFF_PAYLOAD_CRC) {
        return Err(RecordError::PayloadCrc);
    }
    let header = RecordHeader {
        seq: le_u64(head, OFF_SEQ),
        epoch: le_u64(head, OFF_EPOCH),
        shard: le_u32(head, OFF_SHARD),
        kind,
        share: le_u32(head, OFF_SHARE),
        ino: le_u64(head, OFF_INO),
        offset: le_u64(head, OFF_OFFSET),
        payload_len,
    };
    Ok(DecodedRecord {
        header,
        payload,
        len,
    })
}

// The readers take a slice at least `at + N` long (callers pass a full header); a short
// slice reads as zero bytes rather than panicking.
pub(crate) fn le_u16(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes(take(b, at))
}
pub(crate) fn le_u32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(take(b, at))
}
pub(crate) fn le_u64(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(take(b, at))
}
fn take<const N: usize>(b: &[u8], at: usize) -> [u8; N] {
    let mut a = [0; N];
    if let Some(s) = b.get(at..at + N) {
        a.copy_from_slice(s);
    }
    a
}
