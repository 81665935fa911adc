//! Error types of the WAL format: one for encoding and segment headers (`FormatError`),
//! one for a record slot that does not hold a valid record (`RecordError`). Recovery
//! turns a `RecordError` into a decision with [`crate::recovery_decision`].

use crate::RecordKind;

/// Encoding failures, and why a segment header did not decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    /// The output (encode) or input (decode) buffer is shorter than the format needs.
    #[error("buffer too small: {needed} bytes needed, {got} given")]
    BufferTooSmall { needed: usize, got: usize },
    /// A payload longer than [`crate::MAX_PAYLOAD_BYTES`].
    #[error("payload of {0} bytes exceeds the maximum of {max} bytes", max = crate::MAX_PAYLOAD_BYTES)]
    PayloadTooLarge(usize),
    /// `RecordHeader::payload_len` differs from the payload given to `encode_record`.
    #[error("header declares a {header}-byte payload, {actual} bytes given")]
    PayloadLenMismatch { header: u32, actual: usize },
    /// Only `Data` records carry a payload.
    #[error("a {0:?} record carries no payload")]
    PayloadNotAllowed(RecordKind),
    /// Segment header: all zero, a preallocated segment that was never initialised.
    #[error("segment header is all zero (never initialised)")]
    Empty,
    /// Segment header: the magic is not `SEGMENT_MAGIC`.
    #[error("segment header has a bad magic")]
    BadMagic,
    /// Segment header: written by a format version this build does not read.
    #[error("segment header has unsupported format version {0}")]
    UnsupportedVersion(u16),
    /// Segment header: its CRC32C does not match (torn or corrupt).
    #[error("segment header CRC mismatch")]
    HeaderCrc,
    /// Segment header: CRC correct but a field holds a value version 1 never writes.
    #[error("segment header field {0} holds an invalid value")]
    BadField(&'static str),
}

/// Why a record slot does not hold a valid record. Every variant stops a scan.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    /// The header bytes are all zero (or nothing is left): the clean end of the log.
    #[error("empty slot (end of log)")]
    Empty,
    /// Not zero, but the magic is wrong: a torn header or garbage.
    #[error("bad record magic")]
    BadMagic,
    /// Written by a format version this build does not read.
    #[error("unsupported record format version {0}")]
    UnsupportedVersion(u16),
    /// The header CRC32C does not match: torn or corrupt header.
    #[error("record header CRC mismatch")]
    HeaderCrc,
    /// The payload CRC32C does not match: torn or corrupt payload.
    #[error("record payload CRC mismatch")]
    PayloadCrc,
    /// The record's declared (aligned) length runs past the end of the buffer.
    #[error("record runs past the end of the buffer")]
    Truncated,
    /// Header CRC correct but the kind byte is not a known kind.
    #[error("unknown record kind {0}")]
    BadKind(u8),
    /// Header CRC correct but the payload length exceeds `MAX_PAYLOAD_BYTES`.
    #[error("record payload length {0} exceeds the maximum")]
    TooLarge(u32),
    /// Header CRC correct but a field holds a value version 1 never writes (flags,
    /// reserved, header length, a payload on a non-`Data` record).
    #[error("record header field {0} holds an invalid value")]
    BadField(&'static str),
    /// A valid record whose epoch is not the segment's: left over from an earlier use
    /// of a reused segment (only the scanner reports this; `decode_record` does not
    /// know the segment).
    #[error("stale record: epoch {record} in a segment of epoch {segment}")]
    StaleEpoch { record: u64, segment: u64 },
}
