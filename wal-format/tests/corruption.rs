//! Corrupt, torn and arbitrary input: never a panic, never a record whose checksums do
//! not hold. CRCs are re-checked here from the raw bytes, independently of the crate.

use dittofs_wal_format::*;
use proptest::prelude::*;

fn le32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}

/// Independent check of a decoded record against the raw bytes it came from (offsets
/// from FORMAT.md), and that re-encoding reproduces header and payload exactly.
fn assert_genuine(raw: &[u8], d: &DecodedRecord<'_>) {
    let n = d.payload.len();
    assert_eq!(le32(raw, 60), crc32c::crc32c(&raw[..60]), "header CRC");
    assert_eq!(
        le32(raw, 56),
        crc32c::crc32c(&raw[64..64 + n]),
        "payload CRC"
    );
    assert_eq!(le32(raw, 12) as usize, n);
    assert_eq!(d.len, record_len(n));
    assert!(d.len <= raw.len());
    let mut again = vec![0; d.len];
    assert_eq!(encode_record(&d.header, d.payload, &mut again), Ok(d.len));
    assert_eq!(&again[..64 + n], &raw[..64 + n], "re-encoding differs");
}

fn sample(payload_len: usize, seed: u8) -> (RecordHeader, Vec<u8>, Vec<u8>) {
    let payload: Vec<u8> = (0..payload_len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect();
    let h = RecordHeader {
        seq: 42 + u64::from(seed),
        epoch: 7,
        shard: 3,
        kind: RecordKind::Data,
        share: 9,
        ino: 1234,
        offset: 8192,
        payload_len: payload_len as u32,
    };
    let mut buf = vec![0; record_len(payload_len)];
    encode_record(&h, &payload, &mut buf).unwrap();
    (h, payload, buf)
}

#[test]
fn every_single_bit_flip_in_header_and_payload_is_detected() {
    for payload_len in [0, 1, 200, ALIGN_BYTES - 64, ALIGN_BYTES] {
        let (_, _, buf) = sample(payload_len, 1);
        for bit in 0..(64 + payload_len) * 8 {
            let mut bad = buf.clone();
            bad[bit / 8] ^= 1 << (bit % 8);
            let r = decode_record(&bad);
            assert!(r.is_err(), "len {payload_len} bit {bit} decoded: {r:?}");
        }
    }
}

#[test]
fn padding_is_not_part_of_the_record() {
    // Documented: padding is written as zeros but carries nothing and is not checked.
    let (h, payload, mut buf) = sample(10, 2);
    buf[ALIGN_BYTES - 1] = 0xFF;
    let d = decode_record(&buf).unwrap();
    assert_eq!((d.header, d.payload), (h, &payload[..]));
}

#[test]
fn every_truncation_fails() {
    for payload_len in [0, 100, ALIGN_BYTES - 64, ALIGN_BYTES - 63, 3 * ALIGN_BYTES] {
        let (_, _, buf) = sample(payload_len, 3);
        for cut in 0..buf.len() {
            let r = decode_record(&buf[..cut]);
            let want = if cut == 0 {
                RecordError::Empty
            } else {
                RecordError::Truncated
            };
            assert_eq!(r, Err(want), "len {payload_len} cut {cut}");
        }
        assert!(decode_record(&buf).is_ok());
    }
}

#[test]
fn zero_header_is_empty_even_with_bytes_after_it() {
    let mut buf = vec![0; 2 * ALIGN_BYTES];
    assert_eq!(decode_record(&buf), Err(RecordError::Empty));
    buf[64] = 1; // payload area of a torn record whose header sector never landed
    assert_eq!(decode_record(&buf), Err(RecordError::Empty));
}

/// Rewrites header bytes `at..at+bytes.len()` and fixes the header CRC, as a writer of
/// another version (or a bug) would produce: a header that passes its CRC.
fn patch(buf: &mut [u8], at: usize, bytes: &[u8]) {
    buf[at..at + bytes.len()].copy_from_slice(bytes);
    let crc = crc32c::crc32c(&buf[..60]);
    buf[60..64].copy_from_slice(&crc.to_le_bytes());
}

#[test]
fn crc_valid_but_invalid_fields_are_rejected() {
    let (_, _, good) = sample(10, 4);
    let cases: [(usize, &[u8], RecordError); 8] = [
        (4, &2u16.to_le_bytes(), RecordError::UnsupportedVersion(2)),
        (6, &[0], RecordError::BadKind(0)),
        (6, &[9], RecordError::BadKind(9)),
        (7, &[1], RecordError::BadField("flags")),
        (8, &65u16.to_le_bytes(), RecordError::BadField("header_len")),
        (10, &1u16.to_le_bytes(), RecordError::BadField("reserved")),
        (
            12,
            &((MAX_PAYLOAD_BYTES + 1) as u32).to_le_bytes(),
            RecordError::TooLarge((MAX_PAYLOAD_BYTES + 1) as u32),
        ),
        (6, &[2], RecordError::BadField("payload_len")), // Truncate with a payload
    ];
    for (at, bytes, want) in cases {
        let mut bad = good.clone();
        patch(&mut bad, at, bytes);
        assert_eq!(decode_record(&bad), Err(want));
    }
    let mut bad = good.clone();
    bad[0] ^= 0x80;
    assert_eq!(decode_record(&bad), Err(RecordError::BadMagic));
    let mut bad = good.clone();
    bad[20] ^= 1;
    assert_eq!(decode_record(&bad), Err(RecordError::HeaderCrc));
    let mut bad = good;
    bad[70] ^= 1;
    assert_eq!(decode_record(&bad), Err(RecordError::PayloadCrc));
    // u32::MAX payload length: refused before any slicing.
    let (_, _, mut huge) = sample(0, 5);
    patch(&mut huge, 12, &u32::MAX.to_le_bytes());
    assert_eq!(decode_record(&huge), Err(RecordError::TooLarge(u32::MAX)));
}

#[test]
fn segment_header_corruption_is_detected() {
    let h = SegmentHeader {
        shard: 1,
        segment_id: 2,
        epoch: 3,
        first_seq: 4,
    };
    let mut buf = vec![0; SEGMENT_HEADER_BYTES];
    assert_eq!(decode_segment_header(&buf), Err(FormatError::Empty));
    assert_eq!(
        decode_segment_header(&buf[..10]),
        Err(FormatError::BufferTooSmall {
            needed: SEGMENT_HEADER_BYTES,
            got: 10
        })
    );
    encode_segment_header(&h, &mut buf).unwrap();
    for bit in 0..SEGMENT_HEADER_USED_BYTES * 8 {
        let mut bad = buf.clone();
        bad[bit / 8] ^= 1 << (bit % 8);
        assert!(decode_segment_header(&bad).is_err(), "bit {bit}");
    }
    let mut bad = buf.clone();
    bad[4] = 9;
    assert_eq!(
        decode_segment_header(&bad),
        Err(FormatError::UnsupportedVersion(9))
    );
    for cut in 0..SEGMENT_HEADER_BYTES {
        assert!(decode_segment_header(&buf[..cut]).is_err());
    }
}

fn check_arbitrary_record(bytes: &[u8]) {
    if let Ok(d) = decode_record(bytes) {
        assert_genuine(bytes, &d);
    }
}

fn check_arbitrary_segment(bytes: &[u8]) {
    let _ = decode_segment_header(bytes);
    let header = SegmentHeader {
        shard: 3,
        segment_id: 0,
        epoch: 7,
        first_seq: 1,
    };
    let mut scanner = SegmentScanner::new(bytes, &header);
    let mut at = 0;
    for d in scanner.by_ref() {
        assert_eq!(d.header.epoch, 7);
        assert_genuine(&bytes[at..], &d);
        at += d.len;
    }
    let (stop_at, _) = scanner.stop().expect("stopped");
    assert_eq!(stop_at, at);
    assert_eq!(scanner.position(), at);
    assert!(scanner.next().is_none(), "a stopped scanner stays stopped");
}

/// Valid records (epoch 7, as the scanner above expects) mutated by a few byte writes.
fn mutated_records() -> impl Strategy<Value = Vec<u8>> {
    (
        proptest::collection::vec(0usize..3000, 1..4),
        proptest::collection::vec((any::<usize>(), any::<u8>()), 0..4),
    )
        .prop_map(|(lens, edits)| {
            let mut out = Vec::new();
            for (i, len) in lens.into_iter().enumerate() {
                let (_, _, buf) = sample(len, i as u8);
                out.extend_from_slice(&buf);
            }
            for (at, b) in edits {
                let n = out.len();
                out[at % n] = b;
            }
            out
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn single_bit_flip_never_decodes(payload_len in 0usize..20_000, seed: u8, bit: usize) {
        let (_, _, buf) = sample(payload_len, seed);
        let bit = bit % ((64 + payload_len) * 8);
        let mut bad = buf;
        bad[bit / 8] ^= 1 << (bit % 8);
        prop_assert!(decode_record(&bad).is_err());
    }

    #[test]
    fn arbitrary_bytes_never_panic_nor_forge(bytes in proptest::collection::vec(any::<u8>(), 0..9000)) {
        check_arbitrary_record(&bytes);
        check_arbitrary_segment(&bytes);
    }

    #[test]
    fn mutated_records_never_panic_nor_forge(bytes in mutated_records()) {
        check_arbitrary_record(&bytes);
        check_arbitrary_segment(&bytes);
    }
}
