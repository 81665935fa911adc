//! Bounded "arbitrary bytes never panic" checks for every decoder, run in CI (the
//! cargo-fuzz targets in fuzz/ go further but need nightly). Inputs are both random
//! bytes and valid messages with random mutations, so deep paths are reached too.

use dittofs_smb_wire::auth::{ntlm, spnego};
use dittofs_smb_wire::create::CreateRequest;
use dittofs_smb_wire::create_ctx::{decode_create_contexts, CreateContext, Lease};
use dittofs_smb_wire::frame;
use dittofs_smb_wire::fscc::{dir, set::SetFileInfo};
use dittofs_smb_wire::header::{split_compound, Header};
use dittofs_smb_wire::negotiate::*;
use dittofs_smb_wire::security::SecurityDescriptor;
use dittofs_smb_wire::transform::TransformHeader;
use dittofs_smb_wire::{Command, Request};
use proptest::prelude::*;

fn all_decoders(b: &[u8]) {
    let _ = frame::decode_transport_header(b, frame::FRAME_LEN_MAX);
    let _ = frame::split_frame(b, frame::FRAME_LEN_MAX);
    let _ = frame::message_kind(b);
    let _ = frame::decode_smb1_negotiate(b);
    let _ = Header::decode(b);
    let _ = split_compound(b, 64);
    let _ = TransformHeader::decode(b);
    let _ = Request::decode(b);
    for c in 0..=0x12u16 {
        if let Some(cmd) = Command::from_u16(c) {
            let _ = Request::decode_body(cmd, b);
        }
    }
    let _ = NegotiateResponse::decode(b);
    let _ = ValidateNegotiateInfo::decode(b);
    let _ = decode_create_contexts(b, false);
    let _ = decode_create_contexts(b, true);
    for cls in 0..=70u8 {
        let _ = dir::decode(cls, b);
        let _ = SetFileInfo::decode(cls, b);
    }
    let _ = SecurityDescriptor::decode(b);
    let _ = ntlm::NegotiateMessage::decode(b);
    let _ = ntlm::ChallengeMessage::decode(b);
    let _ = ntlm::AuthenticateMessage::decode(b);
    let _ = ntlm::decode_av_pairs(b);
    let _ = spnego::decode_client_token(b);
    let _ = dittofs_smb_wire::dir::decode_notify(b);
}

fn seeds() -> Vec<Vec<u8>> {
    let with_hdr = |cmd: Command, body: Vec<u8>| {
        let mut m = Vec::new();
        Header {
            command: cmd as u16,
            ..Header::default()
        }
        .encode(&mut m);
        m.extend(body);
        m
    };
    let mut neg = Vec::new();
    NegotiateRequest {
        dialects: vec![DIALECT_202, DIALECT_311],
        contexts: vec![
            NegotiateContext::PreauthIntegrity {
                hash_algorithms: vec![HASH_SHA512],
                salt: vec![1; 32],
            },
            NegotiateContext::Encryption {
                ciphers: vec![CIPHER_AES128_GCM],
            },
            NegotiateContext::Posix,
        ],
        ..NegotiateRequest::default()
    }
    .encode(&mut neg);
    let mut create = Vec::new();
    CreateRequest {
        name: "dir\\file.txt".into(),
        contexts: vec![
            CreateContext::MaximalAccessRequest { timestamp: None },
            CreateContext::Lease(Lease {
                parent_key: Some([1; 16]),
                ..Lease::default()
            }),
            CreateContext::PosixRequest { mode: 0o644 },
        ],
        ..CreateRequest::default()
    }
    .encode(&mut create);
    let ch = ntlm::ChallengeMessage {
        target_name: "S".into(),
        flags: 1,
        server_challenge: [1; 8],
        target_info: ntlm::server_target_info("S", "D", 1),
    };
    let auth = ntlm::AuthenticateMessage {
        nt_response: vec![1; 60],
        user: "u".into(),
        flags: 1,
        ..Default::default()
    };
    vec![
        with_hdr(Command::Negotiate, neg),
        with_hdr(Command::Create, create),
        ch.encode(),
        auth.encode(),
        spnego::server_neg_token_init(),
        spnego::encode_neg_token_resp(
            Some(1),
            Some(spnego::OID_NTLMSSP),
            Some(&auth.encode()),
            None,
        ),
        SecurityDescriptor::from_unix(1, 2, 0o755).encode(7),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn random_bytes_never_panic(b in prop::collection::vec(any::<u8>(), 0..512)) {
        all_decoders(&b);
        // Also as the body of every command behind a valid header.
        let mut m = Vec::new();
        Header::default().encode(&mut m);
        m.extend_from_slice(&b);
        all_decoders(&m);
    }

    #[test]
    fn mutated_valid_messages_never_panic(seed in 0usize..7, muts in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8), cut in any::<prop::sample::Index>()) {
        let mut m = seeds()[seed].clone();
        for (i, v) in muts {
            let at = i.index(m.len());
            m[at] = v;
        }
        all_decoders(&m);
        let n = cut.index(m.len() + 1);
        all_decoders(&m[..n]);
    }
}
