use dittofs_smb_wire::dcerpc::{self as rpc, PduHeader};
use dittofs_smb_wire::srvsvc;

use super::*;
use crate::smb::auth::StaticUsers;

fn bind_pdu(transfer: rpc::SyntaxId, iface: rpc::SyntaxId, recv_frag: u16) -> Vec<u8> {
    let mut out = Vec::new();
    rpc::Bind {
        max_xmit_frag: recv_frag,
        max_recv_frag: recv_frag,
        assoc_group_id: 0,
        contexts: vec![
            rpc::ContextElem {
                context_id: 0,
                abstract_syntax: iface,
                transfer_syntaxes: vec![transfer],
            },
            rpc::ContextElem {
                context_id: 1,
                abstract_syntax: iface,
                transfer_syntaxes: vec![rpc::SyntaxId::parse(
                    "6cb71c2c-9812-4540-0300-000000000000",
                    1,
                    0,
                )
                .unwrap()],
            },
        ],
    }
    .encode(false, 1, &mut out);
    out
}

fn pipe() -> Pipe {
    Pipe {
        max_xmit_frag: 4280,
        ..Pipe::default()
    }
}

fn ack(pipe: &mut Pipe) -> rpc::BindAck {
    let (pdu, more) = pipe.take(usize::MAX).unwrap();
    assert!(!more);
    let h = PduHeader::decode(&pdu).unwrap();
    assert_eq!(h.ptype, rpc::PTYPE_BIND_ACK);
    rpc::BindAck::decode(h.body(&pdu).unwrap()).unwrap()
}

#[test]
fn bind_accepts_srvsvc_ndr20_only() {
    let mut p = pipe();
    assert!(handle_pdu(&mut p, &bind_pdu(rpc::NDR20, srvsvc::interface(), 2048)).is_none());
    let a = ack(&mut p);
    assert_eq!(a.sec_addr, "\\PIPE\\srvsvc");
    assert_eq!(a.max_xmit_frag, 2048);
    assert_eq!(a.results[0].result, rpc::RESULT_ACCEPTANCE);
    assert_eq!(a.results[0].transfer_syntax, rpc::NDR20);
    assert_eq!(a.results[1].result, rpc::RESULT_NEGOTIATE_ACK);
    assert_eq!(p.contexts, [0]);
    assert_eq!(p.max_xmit_frag, 2048);

    let ndr64 = rpc::SyntaxId::parse("71710533-beba-4937-8319-b5dbef9ccc36", 1, 0).unwrap();
    let mut p = pipe();
    handle_pdu(&mut p, &bind_pdu(ndr64, srvsvc::interface(), 4280));
    let a = ack(&mut p);
    assert_eq!(a.results[0].result, rpc::RESULT_PROVIDER_REJECTION);
    assert_eq!(
        a.results[0].reason,
        rpc::REASON_TRANSFER_SYNTAXES_NOT_SUPPORTED
    );
    assert!(p.contexts.is_empty());

    let lsarpc = rpc::SyntaxId::parse("12345778-1234-abcd-ef00-0123456789ab", 0, 0).unwrap();
    let mut p = pipe();
    handle_pdu(&mut p, &bind_pdu(rpc::NDR20, lsarpc, 4280));
    let a = ack(&mut p);
    assert_eq!(
        a.results[0].reason,
        rpc::REASON_ABSTRACT_SYNTAX_NOT_SUPPORTED
    );
}

#[test]
fn request_fragments_reassembled_and_unbound_refused() {
    let mut p = pipe();
    let stub: Vec<u8> = (0..40u8).collect();
    let req = |flags, part: &[u8]| {
        let mut out = Vec::new();
        rpc::Request {
            alloc_hint: 40,
            context_id: 0,
            opnum: 15,
            stub: part,
        }
        .encode(flags, 9, &mut out);
        out
    };
    // Not bound yet: a fault, nothing to run.
    assert!(handle_pdu(&mut p, &req(3, &stub)).is_none());
    let (f, _) = p.take(usize::MAX).unwrap();
    let h = PduHeader::decode(&f).unwrap();
    assert_eq!(
        rpc::decode_reply(h.ptype, h.body(&f).unwrap()).unwrap(),
        rpc::Reply::Fault {
            status: rpc::NCA_S_UNKNOWN_IF
        }
    );
    handle_pdu(&mut p, &bind_pdu(rpc::NDR20, srvsvc::interface(), 4280));
    ack(&mut p);
    assert!(handle_pdu(&mut p, &req(rpc::PFC_FIRST_FRAG, &stub[..16])).is_none());
    let done = handle_pdu(&mut p, &req(rpc::PFC_LAST_FRAG, &stub[16..])).unwrap();
    assert_eq!(done, (9, 0, 15, stub.clone()));
    // A middle fragment without a first one is a protocol error.
    assert!(handle_pdu(&mut p, &req(rpc::PFC_LAST_FRAG, &stub)).is_none());
    assert_eq!(p.out.len(), 1);
}

#[test]
fn take_splits_long_pdus() {
    let mut p = pipe();
    p.out.push_back(vec![1; 10]);
    p.out.push_back(vec![2; 3]);
    assert_eq!(p.take(4), Some((vec![1; 4], true)));
    assert_eq!(p.take(4), Some((vec![1; 4], true)));
    assert_eq!(p.take(4), Some((vec![1; 2], false)));
    assert_eq!(p.take(4), Some((vec![2; 3], false)));
    assert_eq!(p.take(4), None);
}

#[test]
fn execute_lists_ipc_and_faults_unknown_opnums() {
    let ctx = SmbContext::new(Vec::new(), Box::new(StaticUsers::default()), [0; 16]);
    let cred = Cred::root();
    futures_lite::future::block_on(async {
        let stub = srvsvc::encode_share_enum(&srvsvc::ShareEnumRequest {
            server_name: Some("\\\\127.0.0.1".into()),
            level: 1,
            preferred_max_len: u32::MAX,
            resume_handle: Some(0),
        });
        let out = execute(&ctx, &cred, 15, &stub).await.unwrap();
        let r = srvsvc::decode_share_enum_response(&out).unwrap();
        assert_eq!(r.shares.len(), 1);
        assert_eq!(r.shares[0].name, "IPC$");
        assert_eq!(
            r.shares[0].share_type,
            srvsvc::STYPE_IPC | srvsvc::STYPE_SPECIAL
        );
        assert_eq!(
            execute(&ctx, &cred, 99, &[]).await,
            Err(rpc::NCA_S_OP_RNG_ERROR)
        );
        assert_eq!(
            execute(&ctx, &cred, 15, &[1, 2]).await,
            Err(rpc::RPC_X_BAD_STUB_DATA)
        );
        let gi = srvsvc::encode_share_get_info(&srvsvc::ShareGetInfoRequest {
            server_name: None,
            share: "nope".into(),
            level: 1,
        });
        let out = execute(&ctx, &cred, 16, &gi).await.unwrap();
        assert_eq!(
            out[out.len() - 4..],
            srvsvc::NERR_NET_NAME_NOT_FOUND.to_le_bytes()
        );
    });
}
