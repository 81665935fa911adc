//! The on-disk WAL record format of dittofs.
//!
//! Each core's shard logs content changes (writes, truncates, removes, checkpoints) to
//! preallocated, zero-filled segment files that are reused; this crate only turns those
//! records into bytes and back — it never performs I/O, so the format can be tested
//! and fuzzed exhaustively without a disk, and the writer and recovery in `shards/`
//! share exactly one definition of it.
//!
//! A segment file is a [`SegmentHeader`] in its first [`SEGMENT_HEADER_BYTES`], then
//! records, each starting at a multiple of [`ALIGN_BYTES`] (O_DIRECT): a 64-byte header
//! with two CRC32C checksums (header, payload), the payload, zero padding. Every record
//! carries the segment's `epoch` (its reuse count), so records left over from an
//! earlier use are never mistaken for new ones. Recovery walks a segment with
//! [`SegmentScanner`] and decides per slot with [`recovery_decision`].
//!
//! The complete byte layout, the assumptions about the disk and the recovery decision
//! table with the reason for each row are in `wal-format/FORMAT.md`.

mod error;
mod record;
mod replay;
mod segment;

pub use error::{FormatError, RecordError};
pub use record::{
    decode_record, encode_record, payload_crc, record_len, DecodedRecord, RecordHeader, RecordKind,
    RECORD_HEADER_BYTES, RECORD_MAGIC,
};
pub use replay::{recovery_decision, Replay};
pub use segment::{
    decode_segment_header, encode_segment_header, SegmentHeader, SegmentScanner,
    SEGMENT_HEADER_USED_BYTES, SEGMENT_MAGIC,
};

/// Every record and the segment header start at a multiple of this (O_DIRECT).
pub const ALIGN_BYTES: usize = 4096;
/// Version written into every segment header and record; readers accept only this.
pub const FORMAT_VERSION: u16 = 1;
/// Size of the segment header; the first record starts right after it.
pub const SEGMENT_HEADER_BYTES: usize = 4096;
/// Largest payload of one record (4 MiB: a 1 MiB NFS WRITE with room to spare). Larger
/// payloads are refused when encoding and reported as `TooLarge` when decoding.
pub const MAX_PAYLOAD_BYTES: usize = 4 << 20;
/// Largest record: `record_len(MAX_PAYLOAD_BYTES)`.
pub const MAX_RECORD_BYTES: usize = MAX_PAYLOAD_BYTES + ALIGN_BYTES;

const _: () = assert!(SEGMENT_HEADER_BYTES % ALIGN_BYTES == 0);
const _: () = assert!(RECORD_HEADER_BYTES < ALIGN_BYTES);
