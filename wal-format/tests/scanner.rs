//! The scanner yields exactly the valid prefix of a segment body and stops at the first
//! empty, torn or stale slot, reporting where.

use dittofs_wal_format::*;
use proptest::prelude::*;

const SEGMENT: SegmentHeader = SegmentHeader {
    shard: 2,
    segment_id: 5,
    epoch: 3,
    first_seq: 100,
};

fn header(seq: u64, epoch: u64, payload_len: usize) -> RecordHeader {
    RecordHeader {
        seq,
        epoch,
        shard: 2,
        kind: RecordKind::Data,
        share: 1,
        ino: seq,
        offset: seq * 10,
        payload_len: payload_len as u32,
    }
}

/// Appends records of the given payload lengths (seq from `first_seq`, epoch `epoch`)
/// at `at` in `body`; returns the start offset of each record and the end.
fn write(
    body: &mut [u8],
    at: usize,
    first_seq: u64,
    epoch: u64,
    lens: &[usize],
) -> (Vec<usize>, usize) {
    let mut starts = Vec::new();
    let mut pos = at;
    for (i, len) in lens.iter().enumerate() {
        let payload = vec![i as u8 ^ 0x5A; *len];
        starts.push(pos);
        pos += encode_record(
            &header(first_seq + i as u64, epoch, *len),
            &payload,
            &mut body[pos..],
        )
        .unwrap();
    }
    (starts, pos)
}

fn scan(body: &[u8]) -> (Vec<u64>, Option<(usize, RecordError)>) {
    let mut s = SegmentScanner::new(body, &SEGMENT);
    let seqs = s.by_ref().map(|r| r.header.seq).collect();
    (seqs, s.stop().map(|(at, e)| (at, e.clone())))
}

#[test]
fn clean_end_on_zeroes() {
    let mut body = vec![0; 64 * ALIGN_BYTES];
    let (_, end) = write(&mut body, 0, 100, 3, &[0, 5000, 10, 4032]);
    assert_eq!(
        scan(&body),
        (vec![100, 101, 102, 103], Some((end, RecordError::Empty)))
    );
}

#[test]
fn full_segment_stops_empty_at_the_end() {
    let mut body = vec![0; 4 * ALIGN_BYTES];
    write(&mut body, 0, 100, 3, &[10, 5000, 10]);
    assert_eq!(
        scan(&body),
        (vec![100, 101, 102], Some((body.len(), RecordError::Empty)))
    );
    assert_eq!(scan(&[]), (vec![], Some((0, RecordError::Empty))));
}

#[test]
fn stale_record_of_an_earlier_use_stops_the_scan() {
    // Epoch 2 filled the segment with 8 records; epoch 3 rewrote the first 3 of them.
    let mut body = vec![0; 8 * ALIGN_BYTES];
    write(&mut body, 0, 1, 2, &[100; 8]);
    let (_, end) = write(&mut body, 0, 100, 3, &[200; 3]);
    assert_eq!(
        scan(&body),
        (
            vec![100, 101, 102],
            Some((
                end,
                RecordError::StaleEpoch {
                    record: 2,
                    segment: 3
                }
            ))
        )
    );
}

#[test]
fn a_newer_epoch_is_not_ours_either() {
    let mut body = vec![0; 2 * ALIGN_BYTES];
    write(&mut body, 0, 1, 4, &[1]);
    assert_eq!(
        scan(&body),
        (
            vec![],
            Some((
                0,
                RecordError::StaleEpoch {
                    record: 4,
                    segment: 3
                }
            ))
        )
    );
}

#[test]
fn stale_payload_bytes_after_a_longer_record_stop_the_scan() {
    // The new record is longer than the old ones: the next slot lands in an old record's
    // payload (bytes 0x5A...), which is not a record.
    let mut body = vec![0; 8 * ALIGN_BYTES];
    write(&mut body, 0, 1, 2, &[3 * ALIGN_BYTES; 2]);
    let (_, end) = write(&mut body, 0, 100, 3, &[ALIGN_BYTES]);
    assert_eq!(scan(&body), (vec![100], Some((end, RecordError::BadMagic))));
}

proptest! {
    /// N valid records, then the record at `victim` is damaged in one of several ways
    /// (the records after it stay valid): exactly records 0..victim come out.
    #[test]
    fn yields_exactly_the_valid_prefix(
        lens in proptest::collection::vec(0usize..9000, 1..8),
        victim_pick: usize,
        damage in 0u8..5,
        where_pick: usize,
    ) {
        let mut body = vec![0; 8 * 4 * ALIGN_BYTES];
        let (starts, end) = write(&mut body, 0, 100, 3, &lens);
        let victim = victim_pick % lens.len();
        let at = starts[victim];
        let rec_end = starts.get(victim + 1).copied().unwrap_or(end);
        let want = match damage {
            0 => {
                // Torn: one bit of the header or payload flipped.
                let span = (64 + lens[victim]) * 8;
                let bit = where_pick % span;
                body[at + bit / 8] ^= 1 << (bit % 8);
                None
            }
            1 => {
                // Torn: a 4 KiB sector of the record never reached the disk (zero). The
                // first sector zeroed reads as the clean end.
                let sectors = (rec_end - at) / ALIGN_BYTES;
                let s = where_pick % sectors;
                body[at + s * ALIGN_BYTES..at + (s + 1) * ALIGN_BYTES].fill(0);
                if s == 0 { Some(RecordError::Empty) } else { None }
            }
            2 => {
                // Stale: a record from the previous use, CRCs intact.
                let mut slot = vec![0; rec_end - at];
                encode_record(&header(1, 2, lens[victim]), &vec![1; lens[victim]], &mut slot).unwrap();
                body[at..rec_end].copy_from_slice(&slot);
                Some(RecordError::StaleEpoch { record: 2, segment: 3 })
            }
            3 => {
                // Torn: the tail of the record (last header or payload byte) is garbage.
                body[at + 64 + lens[victim] - 1] ^= 0xFF;
                None
            }
            _ => {
                // The buffer ends inside the victim (a short read): Truncated.
                body.truncate(rec_end - 1);
                Some(RecordError::Truncated)
            }
        };
        let (seqs, stop) = scan(&body);
        let want_seqs: Vec<u64> = (0..victim as u64).map(|i| 100 + i).collect();
        prop_assert_eq!(seqs, want_seqs);
        let (stop_at, err) = stop.expect("stopped");
        prop_assert_eq!(stop_at, at);
        if let Some(want) = want {
            prop_assert_eq!(err, want);
        } else {
            prop_assert!(!matches!(err, RecordError::StaleEpoch { .. }), "{:?}", err);
        }
    }
}
