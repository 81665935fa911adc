//! DCE/RPC connection-oriented PDUs and srvsvc NDR stubs on arbitrary bytes:
//! nothing may panic, and whatever decodes as a BIND re-encodes to a PDU that
//! decodes to the same BIND.
#![no_main]

use dittofs_smb_wire::{dcerpc, srvsvc};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok((pdus, _)) = dcerpc::split_pdus(data) {
        for p in pdus {
            let Ok(h) = dcerpc::PduHeader::decode(p) else {
                continue;
            };
            let Ok(body) = h.body(p) else { continue };
            if let Ok(b) = dcerpc::Bind::decode(body) {
                let mut out = Vec::new();
                b.encode(false, h.call_id, &mut out);
                if out.len() <= dcerpc::FRAG_LEN_MAX {
                    let h2 = dcerpc::PduHeader::decode(&out).expect("own BIND header");
                    let b2 = dcerpc::Bind::decode(h2.body(&out).expect("own body"));
                    assert_eq!(b2.as_ref(), Ok(&b));
                }
            }
            let _ = dcerpc::BindAck::decode(body);
            if let Ok(r) = dcerpc::Request::decode(h.flags, body) {
                let _ = srvsvc::decode_share_enum(r.stub);
                let _ = srvsvc::decode_share_get_info(r.stub);
                let _ = srvsvc::decode_server_get_info(r.stub);
            }
            let _ = dcerpc::decode_reply(h.ptype, body);
        }
    }
    let _ = srvsvc::decode_share_enum(data);
    let _ = srvsvc::decode_share_get_info(data);
    let _ = srvsvc::decode_share_enum_response(data);
});
