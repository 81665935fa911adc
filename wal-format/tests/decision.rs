//! The recovery decision table (FORMAT.md), row by row: one test walks the whole table,
//! and each row also has a named test.

use dittofs_wal_format::{recovery_decision, RecordError, RecordHeader, RecordKind, Replay};

const EPOCH: u64 = 5;

fn rec(seq: u64, epoch: u64) -> Result<RecordHeader, RecordError> {
    Ok(RecordHeader {
        seq,
        epoch,
        shard: 0,
        kind: RecordKind::Data,
        share: 1,
        ino: 2,
        offset: 0,
        payload_len: 0,
    })
}

/// (row, slot, expected_seq, checkpoint_seq, decision) — mirrors the table in FORMAT.md.
/// One row: (name, slot, expected_seq, checkpoint_seq, decision).
type Row = (
    &'static str,
    Result<RecordHeader, RecordError>,
    Option<u64>,
    u64,
    Replay,
);

fn table() -> Vec<Row> {
    vec![
        (
            "1 empty slot",
            Err(RecordError::Empty),
            Some(10),
            0,
            Replay::StopTornTail,
        ),
        (
            "2 stale (scanner)",
            Err(RecordError::StaleEpoch {
                record: 4,
                segment: 5,
            }),
            Some(10),
            0,
            Replay::StopStale,
        ),
        (
            "3 bad magic",
            Err(RecordError::BadMagic),
            Some(10),
            0,
            Replay::StopTornTail,
        ),
        (
            "3 header crc",
            Err(RecordError::HeaderCrc),
            Some(10),
            0,
            Replay::StopTornTail,
        ),
        (
            "3 version",
            Err(RecordError::UnsupportedVersion(2)),
            Some(10),
            0,
            Replay::StopTornTail,
        ),
        (
            "3 bad kind",
            Err(RecordError::BadKind(9)),
            None,
            0,
            Replay::StopTornTail,
        ),
        (
            "3 bad field",
            Err(RecordError::BadField("flags")),
            None,
            0,
            Replay::StopTornTail,
        ),
        (
            "3 too large",
            Err(RecordError::TooLarge(u32::MAX)),
            None,
            0,
            Replay::StopTornTail,
        ),
        (
            "3 truncated",
            Err(RecordError::Truncated),
            Some(10),
            0,
            Replay::StopTornTail,
        ),
        (
            "3 payload crc",
            Err(RecordError::PayloadCrc),
            Some(10),
            0,
            Replay::StopTornTail,
        ),
        (
            "4 older epoch",
            rec(10, EPOCH - 1),
            Some(10),
            0,
            Replay::StopStale,
        ),
        (
            "4 newer epoch",
            rec(10, EPOCH + 1),
            Some(10),
            0,
            Replay::StopStale,
        ),
        (
            "4 stale beats checkpoint",
            rec(3, EPOCH - 1),
            Some(10),
            20,
            Replay::StopStale,
        ),
        (
            "5 checkpointed",
            rec(10, EPOCH),
            Some(10),
            10,
            Replay::SkipCheckpointed,
        ),
        (
            "5 checkpointed, out of order",
            rec(3, EPOCH),
            Some(10),
            20,
            Replay::SkipCheckpointed,
        ),
        (
            "5 checkpointed, first",
            rec(3, EPOCH),
            None,
            20,
            Replay::SkipCheckpointed,
        ),
        ("6 first record", rec(77, EPOCH), None, 0, Replay::Apply),
        (
            "6 first record after checkpoint",
            rec(77, EPOCH),
            None,
            20,
            Replay::Apply,
        ),
        (
            "7 next in order",
            rec(10, EPOCH),
            Some(10),
            0,
            Replay::Apply,
        ),
        (
            "7 next after checkpoint",
            rec(21, EPOCH),
            Some(10),
            20,
            Replay::Apply,
        ),
        (
            "7 next, checkpoint behind",
            rec(10, EPOCH),
            Some(10),
            5,
            Replay::Apply,
        ),
        ("8 gap", rec(12, EPOCH), Some(10), 0, Replay::StopGap),
        ("8 repeat", rec(9, EPOCH), Some(10), 0, Replay::StopGap),
        (
            "8 gap after checkpoint",
            rec(22, EPOCH),
            Some(10),
            20,
            Replay::StopGap,
        ),
        (
            "8 gap, checkpoint behind",
            rec(11, EPOCH),
            Some(10),
            5,
            Replay::StopGap,
        ),
    ]
}

#[test]
fn every_row_of_the_table() {
    for (row, slot, expected, checkpoint, want) in table() {
        assert_eq!(
            recovery_decision(&slot, expected, EPOCH, checkpoint),
            want,
            "row {row}"
        );
    }
}

#[test]
fn row1_empty_slot_is_the_end() {
    assert_eq!(
        recovery_decision(&Err(RecordError::Empty), None, EPOCH, 0),
        Replay::StopTornTail
    );
}

#[test]
fn row2_stale_reported_by_the_scanner_stops() {
    let e = Err(RecordError::StaleEpoch {
        record: 1,
        segment: EPOCH,
    });
    assert_eq!(recovery_decision(&e, None, EPOCH, 0), Replay::StopStale);
}

#[test]
fn row3_torn_header_or_payload_is_never_replayed() {
    for e in [
        RecordError::HeaderCrc,
        RecordError::PayloadCrc,
        RecordError::Truncated,
        RecordError::BadMagic,
    ] {
        assert_eq!(
            recovery_decision(&Err(e), Some(1), EPOCH, 0),
            Replay::StopTornTail
        );
    }
}

#[test]
fn row4_record_of_another_epoch_is_stale() {
    assert_eq!(
        recovery_decision(&rec(1, EPOCH - 1), None, EPOCH, 0),
        Replay::StopStale
    );
}

#[test]
fn row5_checkpointed_record_is_skipped() {
    assert_eq!(
        recovery_decision(&rec(4, EPOCH), Some(4), EPOCH, 4),
        Replay::SkipCheckpointed
    );
}

#[test]
fn row6_first_record_is_applied() {
    assert_eq!(
        recovery_decision(&rec(4, EPOCH), None, EPOCH, 3),
        Replay::Apply
    );
}

#[test]
fn row7_next_record_is_applied_even_across_a_reused_checkpointed_stretch() {
    assert_eq!(
        recovery_decision(&rec(5, EPOCH), Some(5), EPOCH, 0),
        Replay::Apply
    );
    // seqs 5..=8 lived in a segment that was checkpointed and reused: 9 follows 4.
    assert_eq!(
        recovery_decision(&rec(9, EPOCH), Some(5), EPOCH, 8),
        Replay::Apply
    );
}

#[test]
fn row8_missing_record_stops_at_the_gap() {
    assert_eq!(
        recovery_decision(&rec(7, EPOCH), Some(5), EPOCH, 0),
        Replay::StopGap
    );
    assert_eq!(
        recovery_decision(&rec(10, EPOCH), Some(5), EPOCH, 8),
        Replay::StopGap
    );
}
