//! The recovery decision for one scanned slot, as an explicit table (`FORMAT.md`,
//! "Recovery decision table"). Keeping it a pure function of the slot and three numbers
//! lets every row be tested without a disk.

use crate::{RecordError, RecordHeader};

/// What recovery does with one slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replay {
    /// Apply the record to the cache and continue.
    Apply,
    /// Already uploaded or obsolete (`seq <= checkpoint`): skip it and continue.
    SkipCheckpointed,
    /// The log ends here: a torn or corrupt record, or the clean end (an empty slot).
    /// Never replayed; nothing after it in this segment is either.
    StopTornTail,
    /// A valid record from an earlier use of this reused segment: the log ends here.
    StopStale,
    /// A valid record whose seq is not the expected next one: something before it is
    /// missing, so neither it nor anything after it may be applied.
    StopGap,
}

/// Decides what to do with `slot`.
///
/// - `expected_seq`: the seq the next record must have (last applied or skipped seq
///   plus one), or `None` for the first record recovery looks at.
/// - `segment_epoch`: the epoch of the segment header the slot was read under.
/// - `checkpoint_seq`: every record with `seq <= checkpoint_seq` needs no replay; 0 means
///   nothing is checkpointed (sequence numbers start at 1).
///
/// Rows, in order (first match wins):
/// 1. `Err(Empty)` → `StopTornTail` (clean end: no more records)
/// 2. `Err(StaleEpoch)` → `StopStale`
/// 3. any other `Err` → `StopTornTail`
/// 4. epoch ≠ segment epoch → `StopStale`
/// 5. seq ≤ checkpoint → `SkipCheckpointed` (continuity is not needed for records that
///    are never applied, and segments holding only checkpointed records get reused)
/// 6. `expected_seq` is `None` → `Apply`
/// 7. seq = max(expected, checkpoint + 1) → `Apply`
/// 8. otherwise → `StopGap`
pub fn recovery_decision(
    slot: &Result<RecordHeader, RecordError>,
    expected_seq: Option<u64>,
    segment_epoch: u64,
    checkpoint_seq: u64,
) -> Replay {
    let h = match slot {
        Err(RecordError::StaleEpoch { .. }) => return Replay::StopStale,
        Err(_) => return Replay::StopTornTail,
        Ok(h) => h,
    };
    if h.epoch != segment_epoch {
        return Replay::StopStale;
    }
    if h.seq <= checkpoint_seq {
        return Replay::SkipCheckpointed;
    }
    match expected_seq {
        None => Replay::Apply,
        Some(e) if h.seq == e.max(checkpoint_seq.saturating_add(1)) => Replay::Apply,
        Some(_) => Replay::StopGap,
    }
}
