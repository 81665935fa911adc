//! NTLMSSP messages, AV pairs, SPNEGO tokens and the NTLMv2 verifier on arbitrary
//! bytes: nothing may panic, and a random AUTHENTICATE never verifies.
#![no_main]

use dittofs_smb_wire::auth::{ntlm, spnego};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = ntlm::NegotiateMessage::decode(data);
    let _ = ntlm::ChallengeMessage::decode(data);
    let _ = ntlm::decode_av_pairs(data);
    if let Ok(tok) = spnego::decode_client_token(data) {
        let _ = tok.ntlmssp().map(ntlm::AuthenticateMessage::decode);
    }
    if let Ok(auth) = ntlm::AuthenticateMessage::decode(data) {
        let hash = ntlm::nt_hash("fuzz-password");
        let _ = ntlm::verify_ntlmv2(&hash, &[1; 8], &auth, b"", b"", data);
    }
});
