//! Encode → decode round trips of segment headers and records, sizes and limits.

use dittofs_wal_format::*;
use proptest::prelude::*;

fn kind() -> impl Strategy<Value = RecordKind> {
    prop_oneof![
        Just(RecordKind::Data),
        Just(RecordKind::Truncate),
        Just(RecordKind::Remove),
        Just(RecordKind::Checkpoint),
    ]
}

/// A header and a payload consistent with it (only Data carries bytes).
fn record() -> impl Strategy<Value = (RecordHeader, Vec<u8>)> {
    (
        any::<u64>(),
        any::<u64>(),
        any::<u32>(),
        kind(),
        any::<u32>(),
        any::<u64>(),
        any::<u64>(),
        prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..64),
            proptest::collection::vec(any::<u8>(), 4000..4100),
            proptest::collection::vec(any::<u8>(), 0..40_000),
        ],
    )
        .prop_map(
            |(seq, epoch, shard, kind, share, ino, offset, mut payload)| {
                if kind != RecordKind::Data {
                    payload.clear();
                }
                let h = RecordHeader {
                    seq,
                    epoch,
                    shard,
                    kind,
                    share,
                    ino,
                    offset,
                    payload_len: payload.len() as u32,
                };
                (h, payload)
            },
        )
}

proptest! {
    #[test]
    fn segment_header_round_trips(shard: u32, segment_id: u64, epoch: u64, first_seq: u64) {
        let h = SegmentHeader { shard, segment_id, epoch, first_seq };
        let mut buf = vec![0xAA; SEGMENT_HEADER_BYTES + 7];
        encode_segment_header(&h, &mut buf).unwrap();
        prop_assert!(buf[SEGMENT_HEADER_USED_BYTES..SEGMENT_HEADER_BYTES].iter().all(|b| *b == 0));
        prop_assert_eq!(&buf[SEGMENT_HEADER_BYTES..], &[0xAA; 7][..], "wrote past the header");
        prop_assert_eq!(decode_segment_header(&buf).unwrap(), h);
    }

    #[test]
    fn record_round_trips((h, payload) in record(), junk: u8) {
        let len = record_len(payload.len());
        prop_assert_eq!(len % ALIGN_BYTES, 0);
        prop_assert!(len >= RECORD_HEADER_BYTES + payload.len());
        prop_assert!(len < RECORD_HEADER_BYTES + payload.len() + ALIGN_BYTES);
        // Junk-filled buffer: encode must zero the padding and leave the tail alone.
        let mut buf = vec![junk; len + 100];
        prop_assert_eq!(encode_record(&h, &payload, &mut buf).unwrap(), len);
        prop_assert!(buf[RECORD_HEADER_BYTES + payload.len()..len].iter().all(|b| *b == 0));
        prop_assert!(buf[len..].iter().all(|b| *b == junk));
        let d = decode_record(&buf).unwrap();
        prop_assert_eq!(&d.header, &h);
        prop_assert_eq!(d.payload, &payload[..]);
        prop_assert_eq!(d.len, len);
        // Exactly record_len bytes suffice.
        prop_assert_eq!(decode_record(&buf[..len]).unwrap().header, h);
    }
}

fn data_header(payload_len: usize) -> RecordHeader {
    RecordHeader {
        seq: 1,
        epoch: 1,
        shard: 0,
        kind: RecordKind::Data,
        share: 1,
        ino: 2,
        offset: 3,
        payload_len: payload_len as u32,
    }
}

#[test]
fn record_len_boundaries() {
    assert_eq!(record_len(0), ALIGN_BYTES);
    assert_eq!(record_len(ALIGN_BYTES - RECORD_HEADER_BYTES), ALIGN_BYTES);
    assert_eq!(
        record_len(ALIGN_BYTES - RECORD_HEADER_BYTES + 1),
        2 * ALIGN_BYTES
    );
    assert_eq!(record_len(1 << 20), (1 << 20) + ALIGN_BYTES);
    assert_eq!(record_len(MAX_PAYLOAD_BYTES), MAX_RECORD_BYTES);
    // No panic on absurd lengths.
    let _ = record_len(usize::MAX);
}

#[test]
fn max_payload_round_trips_and_one_more_is_refused() {
    let payload: Vec<u8> = (0..MAX_PAYLOAD_BYTES).map(|i| (i * 7) as u8).collect();
    let mut buf = vec![0; MAX_RECORD_BYTES];
    let len = encode_record(&data_header(payload.len()), &payload, &mut buf).unwrap();
    assert_eq!(len, MAX_RECORD_BYTES);
    assert_eq!(decode_record(&buf).unwrap().payload, &payload[..]);

    let big = vec![0; MAX_PAYLOAD_BYTES + 1];
    let mut out = vec![0; record_len(big.len())];
    assert_eq!(
        encode_record(&data_header(big.len()), &big, &mut out),
        Err(FormatError::PayloadTooLarge(MAX_PAYLOAD_BYTES + 1))
    );
}

#[test]
fn encode_rejects_inconsistent_input() {
    let mut buf = vec![0; 2 * ALIGN_BYTES];
    assert_eq!(
        encode_record(&data_header(5), b"abc", &mut buf),
        Err(FormatError::PayloadLenMismatch {
            header: 5,
            actual: 3
        })
    );
    let mut h = data_header(3);
    h.kind = RecordKind::Truncate;
    assert_eq!(
        encode_record(&h, b"abc", &mut buf),
        Err(FormatError::PayloadNotAllowed(RecordKind::Truncate))
    );
    assert_eq!(
        encode_record(&data_header(4033), &[0; 4033], &mut buf[..ALIGN_BYTES + 1]),
        Err(FormatError::BufferTooSmall {
            needed: 2 * ALIGN_BYTES,
            got: ALIGN_BYTES + 1
        })
    );
    let sh = SegmentHeader {
        shard: 0,
        segment_id: 0,
        epoch: 0,
        first_seq: 1,
    };
    assert_eq!(
        encode_segment_header(&sh, &mut buf[..100]),
        Err(FormatError::BufferTooSmall {
            needed: SEGMENT_HEADER_BYTES,
            got: 100
        })
    );
}

fn le_at(buf: &[u8], at: usize, n: usize) -> u64 {
    buf[at..at + n]
        .iter()
        .rev()
        .fold(0u64, |acc, b| (acc << 8) | u64::from(*b))
}

/// The layout is part of the on-disk contract: pin the bytes of one record and one
/// segment header so an accidental layout change fails here (and FORMAT.md is updated).
#[test]
fn layout_is_pinned() {
    let h = RecordHeader {
        seq: 0x0102_0304_0506_0708,
        epoch: 0x1112_1314_1516_1718,
        shard: 0x2122_2324,
        kind: RecordKind::Data,
        share: 0x3132_3334,
        ino: 0x4142_4344_4546_4748,
        offset: 0x5152_5354_5556_5758,
        payload_len: 3,
    };
    let mut buf = vec![0; ALIGN_BYTES];
    encode_record(&h, b"xyz", &mut buf).unwrap();
    assert_eq!(&buf[0..4], b"DWAL");
    assert_eq!(le_at(&buf, 4, 2), 1, "version");
    assert_eq!(buf[6], 1, "kind Data");
    assert_eq!(buf[7], 0, "flags");
    assert_eq!(le_at(&buf, 8, 2), 64, "header_len");
    assert_eq!(le_at(&buf, 10, 2), 0, "reserved");
    assert_eq!(le_at(&buf, 12, 4), 3, "payload_len");
    assert_eq!(le_at(&buf, 16, 8), h.seq);
    assert_eq!(le_at(&buf, 24, 8), h.epoch);
    assert_eq!(le_at(&buf, 32, 4), u64::from(h.shard));
    assert_eq!(le_at(&buf, 36, 4), u64::from(h.share));
    assert_eq!(le_at(&buf, 40, 8), h.ino);
    assert_eq!(le_at(&buf, 48, 8), h.offset);
    assert_eq!(le_at(&buf, 56, 4), u64::from(crc32c::crc32c(b"xyz")));
    assert_eq!(le_at(&buf, 60, 4), u64::from(crc32c::crc32c(&buf[..60])));
    assert_eq!(&buf[64..67], b"xyz");

    let sh = SegmentHeader {
        shard: 0x2122_2324,
        segment_id: 0x0102_0304_0506_0708,
        epoch: 0x1112_1314_1516_1718,
        first_seq: 0x4142_4344_4546_4748,
    };
    encode_segment_header(&sh, &mut buf).unwrap();
    assert_eq!(&buf[0..4], b"DWSG");
    assert_eq!(le_at(&buf, 4, 2), 1, "version");
    assert_eq!(le_at(&buf, 6, 2), 0, "flags");
    assert_eq!(le_at(&buf, 8, 4), u64::from(sh.shard));
    assert_eq!(le_at(&buf, 12, 4), 4096, "align_bytes");
    assert_eq!(le_at(&buf, 16, 8), sh.segment_id);
    assert_eq!(le_at(&buf, 24, 8), sh.epoch);
    assert_eq!(le_at(&buf, 32, 8), sh.first_seq);
    assert_eq!(le_at(&buf, 40, 4), u64::from(crc32c::crc32c(&buf[..40])));
    // CRC32C itself (the Castagnoli polynomial, not zlib's CRC-32): RFC 3720 check value.
    assert_eq!(crc32c::crc32c(b"123456789"), 0xE306_9283);
}

#[test]
fn kinds_have_distinct_nonzero_codes() {
    let kinds = [
        RecordKind::Data,
        RecordKind::Truncate,
        RecordKind::Remove,
        RecordKind::Checkpoint,
    ];
    for k in kinds {
        assert_ne!(k.code(), 0);
        assert_eq!(RecordKind::from_code(k.code()), Some(k));
    }
    assert_eq!(RecordKind::from_code(0), None);
    assert_eq!(RecordKind::from_code(5), None);
}
