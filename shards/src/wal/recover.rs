//! Reading a core's WAL back at start: which records must be replayed.
//!
//! Every segment with a valid header is scanned on its own (records of the
//! segment's epoch with consecutive sequence numbers from its `first_seq`).
//! The replay chain starts at the segment holding the highest durable
//! checkpoint (or the oldest segment when there is none) and continues while
//! the next segment's `first_seq` follows the previous segment's last record.
//! It ends at the first gap: nothing after a gap was ever acknowledged as
//! stable, because a sync covers only a gap-free prefix of the log.

use bytes::Bytes;

use super::fmt::{self, RecordHeader, RecordKind, Replay};
use super::{SegmentFile, WalError};

/// A record to replay, copied out of the segment buffer.
#[derive(Debug, Clone)]
pub struct OwnedRecord {
    pub header: RecordHeader,
    pub payload: Bytes,
}

/// What the scan found.
#[derive(Debug, Default)]
pub struct Recovered {
    /// Records to replay, in sequence order.
    pub records: Vec<OwnedRecord>,
    /// Epoch for new records (one above any seen).
    pub epoch: u64,
    /// Next sequence number (one above any seen).
    pub next_seq: u64,
    /// Segments with a valid header, oldest first (restart zeroes them in this order).
    pub segments_oldest_first: Vec<usize>,
    /// Highest checkpoint found (records with seq <= it need no replay).
    pub checkpoint_seq: u64,
    /// Records skipped because a checkpoint covers them.
    pub skipped: usize,
    /// Why the chain ended, when it ended before the last segment's valid records,
    /// or that it ended at a damaged (torn) record.
    pub stopped: Option<String>,
}

struct ScannedSegment {
    index: usize,
    header: fmt::SegmentHeader,
    /// Valid records: header and the byte range of the payload in `body`.
    records: Vec<(RecordHeader, Bytes)>,
    /// Why the records end, when not at a clean end (zeros or an older use):
    /// a torn record, or damaged leftovers of an older use.
    damaged: Option<String>,
}

/// Scans every segment file; see the module docs.
pub(super) async fn scan(
    files: &[Box<dyn SegmentFile>],
    segment_bytes: u64,
) -> Result<Recovered, WalError> {
    let mut scanned = Vec::new();
    let mut out = Recovered::default();
    for (index, file) in files.iter().enumerate() {
        let data = file
            .read_at(0, segment_bytes as usize)
            .await
            .map_err(|e| WalError::io("read segment", e))?;
        let Ok(header) = fmt::decode_segment_header(&data) else {
            continue;
        };
        out.epoch = out.epoch.max(header.epoch);
        out.next_seq = out.next_seq.max(header.first_seq);
        let body = Bytes::from(data).slice(fmt::SEGMENT_HEADER_BYTES..);
        let mut records = Vec::new();
        let mut expected = Some(header.first_seq);
        let mut scanner = fmt::SegmentScanner::new(&body, &header);
        for r in scanner.by_ref() {
            let slot = Ok(r.header.clone());
            if fmt::recovery_decision(&slot, expected, header.epoch, 0) != Replay::Apply {
                break;
            }
            // Where the payload starts inside the body (no copy: a slice of `body`).
            let at = r.payload.as_ptr() as usize - body.as_ptr() as usize;
            let h = r.header.clone();
            expected = Some(h.seq + 1);
            out.next_seq = out.next_seq.max(h.seq + 1);
            if h.kind == RecordKind::Checkpoint {
                // The format's checkpoint covers seq <= offset.
                out.checkpoint_seq = out.checkpoint_seq.max(h.offset);
            }
            records.push((h, body.slice(at..at + r.payload.len())));
        }
        let damaged = match scanner.stop() {
            // Zeros, an older use's record, or garbage in the middle of an older
            // use's record (BadMagic): the normal ends of a segment.
            None
            | Some((
                _,
                fmt::RecordError::Empty
                | fmt::RecordError::StaleEpoch { .. }
                | fmt::RecordError::BadMagic,
            )) => None,
            Some((at, e)) => Some(format!(
                "segment {index} ends at a damaged record at byte {} ({e}): torn write or leftovers, not replayed",
                at + fmt::SEGMENT_HEADER_BYTES
            )),
        };
        scanned.push(ScannedSegment {
            index,
            header,
            records,
            damaged,
        });
    }
    out.epoch += 1;
    // Sequence numbers start at 1 (0 means "nothing checkpointed").
    out.next_seq = out.next_seq.max(1);
    scanned.sort_by_key(|s| s.header.first_seq);
    out.segments_oldest_first = scanned.iter().map(|s| s.index).collect();

    // The chain starts at the segment holding the first record after the
    // checkpoint (records up to it are in the block store already).
    let start = scanned
        .iter()
        .rposition(|s| s.header.first_seq <= out.checkpoint_seq.saturating_add(1))
        .unwrap_or(0);
    let mut expected: Option<u64> = None;
    for segment in &scanned[start.min(scanned.len())..] {
        if let Some(e) = expected {
            if segment.header.first_seq != e {
                out.stopped = Some(format!(
                    "gap: expected record {e}, next segment starts at {}",
                    segment.header.first_seq
                ));
                break;
            }
        }
        for (h, payload) in &segment.records {
            let decision = fmt::recovery_decision(
                &Ok(h.clone()),
                expected,
                segment.header.epoch,
                out.checkpoint_seq,
            );
            match decision {
                Replay::Apply => {
                    if h.kind != RecordKind::Checkpoint {
                        out.records.push(OwnedRecord {
                            header: h.clone(),
                            payload: payload.clone(),
                        });
                    }
                }
                Replay::SkipCheckpointed => out.skipped += 1,
                other => {
                    out.stopped = Some(format!("{other:?} at record {}", h.seq));
                    return Ok(out);
                }
            }
            expected = Some(h.seq + 1);
        }
        if segment.records.is_empty() {
            expected = Some(segment.header.first_seq);
        }
        if out.stopped.is_none() {
            out.stopped.clone_from(&segment.damaged);
        }
    }
    Ok(out)
}
