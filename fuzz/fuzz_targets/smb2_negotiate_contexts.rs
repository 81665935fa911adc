//! NEGOTIATE request/response decoding (incl. 3.1.1 negotiate contexts) and
//! FSCTL_VALIDATE_NEGOTIATE_INFO: nothing may panic, and a decoded request re-encodes
//! to something that decodes to the same value.
#![no_main]

use dittofs_smb_wire::header::Header;
use dittofs_smb_wire::negotiate::{NegotiateRequest, NegotiateResponse, ValidateNegotiateInfo};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut msg = Vec::new();
    Header::default().encode(&mut msg);
    msg.extend_from_slice(data);
    if let Ok(req) = NegotiateRequest::decode(&msg) {
        let mut body = Vec::new();
        req.encode(&mut body);
        let mut again = Vec::new();
        Header::default().encode(&mut again);
        again.extend_from_slice(&body);
        assert_eq!(NegotiateRequest::decode(&again).as_ref(), Ok(&req));
    }
    let _ = NegotiateResponse::decode(&msg);
    let _ = ValidateNegotiateInfo::decode(data);
});
