//! Transport framing, SMB1 negotiate detection, the SMB2 header, compound chains and
//! the transform header on arbitrary bytes: nothing may panic; a header that decodes
//! re-encodes to the same 64 bytes; every compound element lies inside the input.
#![no_main]

use dittofs_smb_wire::frame;
use dittofs_smb_wire::header::{split_compound, Header, HEADER_LEN};
use dittofs_smb_wire::transform::TransformHeader;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = frame::split_frame(data, frame::FRAME_LEN_MAX);
    let _ = frame::message_kind(data);
    let _ = frame::decode_smb1_negotiate(data);
    let _ = TransformHeader::decode(data);
    if let Ok(h) = Header::decode(data) {
        let mut again = Vec::new();
        h.encode(&mut again);
        if h.is_async() {
            assert_eq!(&again[..32], &data[..32]);
            assert_eq!(&again[32..], &data[32..HEADER_LEN]);
        } else {
            assert_eq!(&again[..], &data[..HEADER_LEN]);
        }
    }
    if let Ok(parts) = split_compound(data, 128) {
        let total: usize = parts.iter().map(|(_, m)| m.len()).sum();
        assert_eq!(total, data.len());
    }
});
