//! Feeds arbitrary bytes to the WAL segment-header and record decoders and to the
//! segment scanner. Nothing may panic, and whatever decodes must re-encode to exactly
//! the bytes it came from (header and payload; the padding carries nothing), so the
//! decoders accept nothing the encoder would not have written.
#![no_main]

use dittofs_wal_format::{
    decode_record, decode_segment_header, encode_record, encode_segment_header, DecodedRecord,
    SegmentHeader, SegmentScanner, RECORD_HEADER_BYTES, SEGMENT_HEADER_BYTES,
    SEGMENT_HEADER_USED_BYTES,
};
use libfuzzer_sys::fuzz_target;

fn check_record(raw: &[u8], d: &DecodedRecord<'_>) {
    let used = RECORD_HEADER_BYTES + d.payload.len();
    assert!(d.len <= raw.len() && used <= d.len);
    let mut again = vec![0; d.len];
    assert_eq!(encode_record(&d.header, d.payload, &mut again), Ok(d.len));
    assert_eq!(
        &again[..used],
        &raw[..used],
        "record re-encodes differently"
    );
}

fuzz_target!(|data: &[u8]| {
    if let Ok(d) = decode_record(data) {
        check_record(data, &d);
    }

    // The input as a whole segment: its header (if valid) drives the scanner; otherwise
    // scan the input as a body under a fixed header.
    let header = match decode_segment_header(data) {
        Ok(h) => {
            let mut again = vec![0; SEGMENT_HEADER_BYTES];
            encode_segment_header(&h, &mut again).unwrap();
            assert_eq!(
                &again[..SEGMENT_HEADER_USED_BYTES],
                &data[..SEGMENT_HEADER_USED_BYTES],
                "segment header re-encodes differently"
            );
            h
        }
        Err(_) => SegmentHeader {
            shard: 0,
            segment_id: 0,
            epoch: 1,
            first_seq: 1,
        },
    };
    let body = data.get(SEGMENT_HEADER_BYTES..).unwrap_or(data);
    let mut scanner = SegmentScanner::new(body, &header);
    let mut at = 0;
    while let Some(d) = scanner.next() {
        assert_eq!(d.header.epoch, header.epoch);
        check_record(&body[at..], &d);
        at += d.len;
    }
    assert_eq!(scanner.stop().map(|(off, _)| off), Some(at));
});
