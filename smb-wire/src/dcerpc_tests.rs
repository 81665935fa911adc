use proptest::prelude::*;

use super::*;

fn srvsvc_bind(transfer: Vec<SyntaxId>) -> Bind {
    Bind {
        max_xmit_frag: 4280,
        max_recv_frag: 4280,
        assoc_group_id: 0,
        contexts: vec![ContextElem {
            context_id: 0,
            abstract_syntax: crate::srvsvc::interface(),
            transfer_syntaxes: transfer,
        }],
    }
}

#[test]
fn syntax_parse_matches_wire_constants() {
    assert_eq!(
        SyntaxId::parse("8a885d04-1ceb-11c9-9fe8-08002b104860", 2, 0),
        Some(NDR20)
    );
    assert_eq!(
        SyntaxId::parse("4b324fc8-1670-01d3-1278-5a47bf6ee188", 3, 0),
        Some(crate::srvsvc::interface())
    );
    assert_eq!(SyntaxId::parse("4b324fc8-1670", 3, 0), None);
    let btfn = SyntaxId::parse("6cb71c2c-9812-4540-0300-000000000000", 1, 0).unwrap();
    assert!(is_bind_time_feature(&btfn));
    assert!(!is_bind_time_feature(&NDR20));
}

/// A BIND as Samba's smbclient sends it, written out byte by byte.
#[test]
fn bind_known_answer() {
    let mut pdu = vec![
        5, 0, 11, 3, 0x10, 0, 0, 0, 72, 0, 0, 0, 2, 0, 0, 0, // header, call 2
        0xb8, 0x10, 0xb8, 0x10, 0, 0, 0, 0, // frags 4280, group 0
        1, 0, 0, 0, // one context
        0, 0, 1, 0, // ctx 0, one transfer syntax
    ];
    pdu.extend_from_slice(&crate::srvsvc::interface().uuid);
    pdu.extend_from_slice(&[3, 0, 0, 0]);
    pdu.extend_from_slice(&NDR20.uuid);
    pdu.extend_from_slice(&[2, 0, 0, 0]);
    let h = PduHeader::decode(&pdu).unwrap();
    assert_eq!((h.ptype, h.call_id, h.frag_len), (PTYPE_BIND, 2, 72));
    let b = Bind::decode(h.body(&pdu).unwrap()).unwrap();
    assert_eq!(b, srvsvc_bind(vec![NDR20]));
    let mut again = Vec::new();
    b.encode(false, 2, &mut again);
    assert_eq!(again, pdu);
}

#[test]
fn bind_ack_round_trip_and_alignment() {
    let ack = BindAck {
        max_xmit_frag: 4280,
        max_recv_frag: 4280,
        assoc_group_id: 0x1234,
        sec_addr: "\\PIPE\\srvsvc".into(),
        results: vec![
            ContextResult {
                result: RESULT_ACCEPTANCE,
                reason: 0,
                transfer_syntax: NDR20,
            },
            ContextResult {
                result: RESULT_PROVIDER_REJECTION,
                reason: REASON_TRANSFER_SYNTAXES_NOT_SUPPORTED,
                transfer_syntax: SyntaxId::NONE,
            },
        ],
    };
    let mut out = Vec::new();
    ack.encode(false, 7, &mut out);
    // header 16 + 8 + 2 + 13 ("\PIPE\srvsvc\0") = 39, padded to 40.
    assert_eq!(out[40], 2, "result count after 4-byte alignment");
    assert_eq!(out.len(), 44 + 2 * 24);
    let h = PduHeader::decode(&out).unwrap();
    assert_eq!(usize::from(h.frag_len), out.len());
    assert_eq!(h.ptype, PTYPE_BIND_ACK);
    assert_eq!(BindAck::decode(h.body(&out).unwrap()).unwrap(), ack);
}

#[test]
fn response_fragments_within_max_frag() {
    let stub: Vec<u8> = (0..1000u32).map(|i| i as u8).collect();
    let mut out = Vec::new();
    encode_response(9, 0, &stub, 256, &mut out);
    let (pdus, used) = split_pdus(&out).unwrap();
    assert_eq!(used, out.len());
    assert!(pdus.len() > 1);
    let mut got = Vec::new();
    for (i, p) in pdus.iter().enumerate() {
        assert!(p.len() <= 256);
        let h = PduHeader::decode(p).unwrap();
        assert_eq!(h.flags & PFC_FIRST_FRAG != 0, i == 0);
        assert_eq!(h.flags & PFC_LAST_FRAG != 0, i == pdus.len() - 1);
        match decode_reply(h.ptype, h.body(p).unwrap()).unwrap() {
            Reply::Response { stub, .. } => got.extend_from_slice(stub),
            Reply::Fault { .. } => panic!("fault"),
        }
    }
    assert_eq!(got, stub);
    // An empty stub is still one (first+last) fragment.
    let mut out = Vec::new();
    encode_response(1, 0, &[], 5840, &mut out);
    assert_eq!(out.len(), RESPONSE_OVERHEAD);
    assert_eq!(out[3], PFC_FIRST_FRAG | PFC_LAST_FRAG);
}

#[test]
fn fault_and_request_round_trip() {
    let mut out = Vec::new();
    encode_fault(3, 1, NCA_S_OP_RNG_ERROR, &mut out);
    let h = PduHeader::decode(&out).unwrap();
    assert_eq!(h.ptype, PTYPE_FAULT);
    assert_eq!(
        decode_reply(h.ptype, h.body(&out).unwrap()).unwrap(),
        Reply::Fault {
            status: NCA_S_OP_RNG_ERROR
        }
    );
    let req = Request {
        alloc_hint: 4,
        context_id: 1,
        opnum: 15,
        stub: &[1, 2, 3, 4],
    };
    let mut out = Vec::new();
    req.encode(PFC_FIRST_FRAG | PFC_LAST_FRAG, 5, &mut out);
    let h = PduHeader::decode(&out).unwrap();
    assert_eq!(
        Request::decode(h.flags, h.body(&out).unwrap()).unwrap(),
        req
    );
}

#[test]
fn header_bounds_rejected() {
    let mut out = Vec::new();
    encode_fault(3, 1, 0, &mut out);
    let mut bad = out.clone();
    bad[0] = 4;
    assert!(PduHeader::decode(&bad).is_err(), "version 4");
    let mut bad = out.clone();
    bad[4] = 0x00;
    assert!(PduHeader::decode(&bad).is_err(), "big-endian drep");
    let mut bad = out.clone();
    bad[8] = 10;
    assert!(PduHeader::decode(&bad).is_err(), "frag shorter than header");
    let mut bad = out.clone();
    bad[10] = 200; // auth_len larger than the fragment
    assert!(PduHeader::decode(&bad).is_err());
    let h = PduHeader::decode(&out).unwrap();
    assert!(h.body(&out[..out.len() - 1]).is_err(), "truncated PDU");
    // A partial PDU stays in the buffer.
    let (pdus, used) = split_pdus(&out[..out.len() - 1]).unwrap();
    assert!(pdus.is_empty());
    assert_eq!(used, 0);
}

proptest! {
    #[test]
    fn decoders_never_panic(data in proptest::collection::vec(any::<u8>(), 0..400)) {
        let _ = split_pdus(&data);
        if let Ok(h) = PduHeader::decode(&data) {
            if let Ok(body) = h.body(&data) {
                let _ = Bind::decode(body);
                let _ = BindAck::decode(body);
                let _ = Request::decode(h.flags, body);
                let _ = decode_reply(h.ptype, body);
            }
        }
        let _ = Bind::decode(&data);
        let _ = BindAck::decode(&data);
    }

    #[test]
    fn bind_round_trips(ids in proptest::collection::vec((any::<u16>(), any::<[u8; 16]>(), any::<u32>()), 0..5)) {
        let b = Bind {
            max_xmit_frag: 5840,
            max_recv_frag: 5840,
            assoc_group_id: 1,
            contexts: ids.iter().map(|(id, uuid, v)| ContextElem {
                context_id: *id,
                abstract_syntax: SyntaxId { uuid: *uuid, version: *v },
                transfer_syntaxes: vec![NDR20; usize::from(*id % 3)],
            }).collect(),
        };
        let mut out = Vec::new();
        b.encode(true, 1, &mut out);
        let h = PduHeader::decode(&out).unwrap();
        prop_assert_eq!(h.ptype, PTYPE_ALTER_CONTEXT);
        prop_assert_eq!(Bind::decode(h.body(&out).unwrap()).unwrap(), b);
    }
}
