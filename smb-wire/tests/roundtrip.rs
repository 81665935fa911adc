//! Property tests: every codec's encoder output decodes back to the same value.

use dittofs_smb_wire::create::*;
use dittofs_smb_wire::create_ctx::{CreateContext, Lease};
use dittofs_smb_wire::dir::*;
use dittofs_smb_wire::header::{flags, join_compound, split_compound, Header};
use dittofs_smb_wire::info::*;
use dittofs_smb_wire::io::*;
use dittofs_smb_wire::ioctl::*;
use dittofs_smb_wire::negotiate::*;
use dittofs_smb_wire::oplock::*;
use dittofs_smb_wire::session::*;
use dittofs_smb_wire::{Command, Request};
use proptest::prelude::*;

fn msg(cmd: Command, body: &[u8]) -> Vec<u8> {
    let mut m = Vec::new();
    Header {
        command: cmd as u16,
        credits: 1,
        message_id: 3,
        ..Header::default()
    }
    .encode(&mut m);
    m.extend_from_slice(body);
    m
}

fn name() -> impl Strategy<Value = String> {
    "\\PC{0,24}"
}
fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..max)
}
fn file_id() -> impl Strategy<Value = FileId> {
    (any::<u64>(), any::<u64>()).prop_map(|(persistent, volatile)| FileId {
        persistent,
        volatile,
    })
}
fn times() -> impl Strategy<Value = FileTimes> {
    (any::<[u64; 6]>(), any::<u32>()).prop_map(|(t, a)| FileTimes {
        creation_time: t[0],
        last_access_time: t[1],
        last_write_time: t[2],
        change_time: t[3],
        allocation_size: t[4],
        end_of_file: t[5],
        file_attributes: a,
    })
}

fn neg_ctx() -> impl Strategy<Value = NegotiateContext> {
    prop_oneof![
        (prop::collection::vec(any::<u16>(), 1..4), bytes(32)).prop_map(
            |(hash_algorithms, salt)| NegotiateContext::PreauthIntegrity {
                hash_algorithms,
                salt
            }
        ),
        prop::collection::vec(any::<u16>(), 1..5)
            .prop_map(|ciphers| NegotiateContext::Encryption { ciphers }),
        prop::collection::vec(any::<u16>(), 1..4)
            .prop_map(|algorithms| NegotiateContext::Signing { algorithms }),
        Just(NegotiateContext::Posix),
        (prop::sample::select(vec![3u16, 5, 6, 7]), bytes(40))
            .prop_map(|(context_type, data)| NegotiateContext::Other { context_type, data }),
    ]
}

fn lease() -> impl Strategy<Value = Lease> {
    (
        any::<[u8; 16]>(),
        any::<u32>(),
        any::<u32>(),
        any::<u64>(),
        any::<Option<[u8; 16]>>(),
        any::<u16>(),
    )
        .prop_map(|(key, state, flags, duration, parent_key, epoch)| Lease {
            key,
            state,
            flags,
            duration,
            epoch: if parent_key.is_some() { epoch } else { 0 },
            parent_key,
        })
}

fn other_ctx() -> impl Strategy<Value = CreateContext> {
    ("X[a-z]{3}", bytes(20)).prop_map(|(n, data)| CreateContext::Other {
        name: n.into_bytes(),
        data,
    })
}

fn req_ctx() -> impl Strategy<Value = CreateContext> {
    prop_oneof![
        any::<Option<u64>>()
            .prop_map(|timestamp| CreateContext::MaximalAccessRequest { timestamp }),
        Just(CreateContext::QueryOnDiskIdRequest),
        lease().prop_map(CreateContext::Lease),
        Just(CreateContext::DurableRequest),
        any::<[u8; 16]>().prop_map(|file_id| CreateContext::DurableReconnect { file_id }),
        (any::<u32>(), any::<u32>(), any::<[u8; 16]>()).prop_map(
            |(timeout, flags, create_guid)| CreateContext::DurableV2Request {
                timeout,
                flags,
                create_guid
            }
        ),
        (any::<[u8; 16]>(), any::<[u8; 16]>(), any::<u32>()).prop_map(
            |(file_id, create_guid, flags)| CreateContext::DurableV2Reconnect {
                file_id,
                create_guid,
                flags
            }
        ),
        any::<u64>().prop_map(|timestamp| CreateContext::TimewarpToken { timestamp }),
        any::<u64>().prop_map(CreateContext::AllocationSize),
        any::<u32>().prop_map(|mode| CreateContext::PosixRequest { mode }),
        other_ctx(),
    ]
}

fn resp_ctx() -> impl Strategy<Value = CreateContext> {
    use dittofs_smb_wire::security::Sid;
    prop_oneof![
        (any::<u32>(), any::<u32>()).prop_map(|(query_status, maximal_access)| {
            CreateContext::MaximalAccessResponse {
                query_status,
                maximal_access,
            }
        }),
        (any::<u64>(), any::<u64>()).prop_map(|(disk_file_id, volume_id)| {
            CreateContext::QueryOnDiskIdResponse {
                disk_file_id,
                volume_id,
            }
        }),
        lease().prop_map(CreateContext::Lease),
        Just(CreateContext::DurableResponse),
        (any::<u32>(), any::<u32>())
            .prop_map(|(timeout, flags)| CreateContext::DurableV2Response { timeout, flags }),
        (any::<[u32; 5]>()).prop_map(|v| CreateContext::PosixResponse {
            nlinks: v[0],
            reparse_tag: v[1],
            mode: v[2],
            owner_sid: Sid::unix_user(v[3]).to_bytes(),
            group_sid: Sid::unix_group(v[4]).to_bytes(),
        }),
        other_ctx(),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn header(h in (any::<[u16; 3]>(), any::<u32>(), any::<u32>(), any::<u64>(), any::<u64>(), any::<u32>(), any::<u64>(), any::<[u8; 16]>(), any::<bool>())) {
        let (a, status, fl, mid, aid, tid, sid, sig, is_async) = h;
        let flags = if is_async { fl | flags::ASYNC_COMMAND } else { fl & !flags::ASYNC_COMMAND };
        let hdr = Header {
            credit_charge: a[0], status, command: a[1], credits: a[2], flags, next_command: 0, message_id: mid,
            async_id: if is_async { aid } else { 0 },
            tree_id: if is_async { 0 } else { tid },
            process_id: if is_async { 0 } else { tid ^ 1 },
            session_id: sid, signature: sig,
        };
        let mut b = Vec::new();
        hdr.encode(&mut b);
        prop_assert_eq!(Header::decode(&b).unwrap(), hdr);
    }

    #[test]
    fn compound(bodies in prop::collection::vec(bytes(50), 1..6)) {
        let msgs: Vec<Vec<u8>> = bodies.iter().map(|b| msg(Command::Echo, b)).collect();
        let joined = join_compound(&msgs);
        let parts = split_compound(&joined, 64).unwrap();
        prop_assert_eq!(parts.len(), msgs.len());
        for ((_, p), m) in parts.iter().zip(&msgs) {
            let mut p = p[..m.len()].to_vec();
            p[20..24].fill(0);
            prop_assert_eq!(&p, m);
        }
    }

    #[test]
    fn negotiate_request(mut dialects in prop::collection::vec(any::<u16>(), 1..8), with311 in any::<bool>(),
                         contexts in prop::collection::vec(neg_ctx(), 0..5), guid in any::<[u8; 16]>(),
                         caps in any::<u32>(), sm in any::<u16>(), start in any::<u64>()) {
        dialects.retain(|&d| d != DIALECT_311);
        if dialects.is_empty() { dialects.push(DIALECT_202); }
        if with311 { dialects.push(DIALECT_311); }
        let req = NegotiateRequest {
            security_mode: sm, capabilities: caps, client_guid: guid,
            client_start_time: if with311 { 0 } else { start },
            contexts: if with311 { contexts } else { Vec::new() },
            dialects,
        };
        let mut b = Vec::new();
        req.encode(&mut b);
        prop_assert_eq!(NegotiateRequest::decode(&msg(Command::Negotiate, &b)).unwrap(), req);
    }

    #[test]
    fn negotiate_response(dialect in prop::sample::select(vec![DIALECT_202, DIALECT_210, DIALECT_300, DIALECT_302, DIALECT_311]),
                          contexts in prop::collection::vec(neg_ctx(), 0..5), sb in bytes(200), v in any::<[u32; 4]>(), t in any::<[u64; 2]>()) {
        let resp = NegotiateResponse {
            security_mode: 1, dialect, server_guid: [7; 16], capabilities: v[0], max_transact_size: v[1],
            max_read_size: v[2], max_write_size: v[3], system_time: t[0], server_start_time: t[1],
            security_buffer: sb,
            contexts: if dialect == DIALECT_311 { contexts } else { Vec::new() },
        };
        let mut b = Vec::new();
        resp.encode(&mut b);
        prop_assert_eq!(NegotiateResponse::decode(&msg(Command::Negotiate, &b)).unwrap(), resp);
    }

    #[test]
    fn session_and_tree(sb in bytes(300), f in any::<u8>(), sm in any::<u8>(), c in any::<[u32; 2]>(), prev in any::<u64>(), path in name(), sf in any::<u16>(),
                        tc in any::<(u8, u32, u32, u32)>()) {
        let req = SessionSetupRequest { flags: f, security_mode: sm, capabilities: c[0], channel: c[1], previous_session_id: prev, security_buffer: &sb };
        let mut b = Vec::new();
        req.encode(&mut b);
        let m = msg(Command::SessionSetup, &b);
        prop_assert_eq!(SessionSetupRequest::decode(&m).unwrap(), req);
        let resp = SessionSetupResponse { session_flags: sf, security_buffer: &sb };
        let mut b = Vec::new();
        resp.encode(&mut b);
        let m = msg(Command::SessionSetup, &b);
        prop_assert_eq!(SessionSetupResponse::decode(&m).unwrap(), resp);
        let t = TreeConnectRequest { flags: sf & !TREE_CONNECT_FLAG_EXTENSION_PRESENT, path };
        let mut b = Vec::new();
        t.encode(&mut b);
        prop_assert_eq!(TreeConnectRequest::decode(&msg(Command::TreeConnect, &b)).unwrap(), t);
        let r = TreeConnectResponse { share_type: tc.0, share_flags: tc.1, capabilities: tc.2, maximal_access: tc.3 };
        let mut b = Vec::new();
        r.encode(&mut b);
        prop_assert_eq!(TreeConnectResponse::decode(&msg(Command::TreeConnect, &b)).unwrap(), r);
    }

    #[test]
    fn create(n in name(), ctxs in prop::collection::vec(req_ctx(), 0..5), rctxs in prop::collection::vec(resp_ctx(), 0..5),
              v in any::<[u32; 5]>(), disp in 0u32..=5, ol in any::<u8>(), fl in any::<u64>(), t in times(), fid in file_id()) {
        let req = CreateRequest {
            security_flags: 0, requested_oplock_level: ol, impersonation_level: 2, smb_create_flags: fl,
            desired_access: v[0], file_attributes: v[1], share_access: v[2], create_disposition: disp,
            create_options: v[3], name: n, contexts: ctxs,
        };
        let mut b = Vec::new();
        req.encode(&mut b);
        prop_assert_eq!(CreateRequest::decode(&msg(Command::Create, &b)).unwrap(), req);
        let resp = CreateResponse { oplock_level: ol, flags: 0, create_action: v[4], times: t, file_id: fid, contexts: rctxs };
        let mut b = Vec::new();
        resp.encode(&mut b);
        prop_assert_eq!(CreateResponse::decode(&msg(Command::Create, &b)).unwrap(), resp);
        let c = CloseRequest { flags: 1, file_id: fid };
        let mut b = Vec::new();
        c.encode(&mut b);
        prop_assert_eq!(CloseRequest::decode(&msg(Command::Close, &b)).unwrap(), c);
        let cr = CloseResponse { flags: 1, times: t };
        let mut b = Vec::new();
        cr.encode(&mut b);
        prop_assert_eq!(CloseResponse::decode(&msg(Command::Close, &b)).unwrap(), cr);
    }

    #[test]
    fn io(data in bytes(600), fid in file_id(), off in any::<u64>(), v in any::<[u32; 5]>(),
          locks in prop::collection::vec(any::<(u64, u64, u32)>(), 1..10)) {
        let f = FlushRequest { file_id: fid };
        let mut b = Vec::new();
        f.encode(&mut b);
        prop_assert_eq!(FlushRequest::decode(&msg(Command::Flush, &b)).unwrap(), f);
        let r = ReadRequest { padding: 80, flags: 0, length: v[0], offset: off, file_id: fid, minimum_count: v[1], channel: 0, remaining_bytes: v[2] };
        let mut b = Vec::new();
        r.encode(&mut b);
        prop_assert_eq!(ReadRequest::decode(&msg(Command::Read, &b)).unwrap(), r);
        let rr = ReadResponse { data_remaining: v[3], data: &data };
        let mut b = Vec::new();
        rr.encode(&mut b);
        let m = msg(Command::Read, &b);
        prop_assert_eq!(ReadResponse::decode(&m).unwrap(), rr);
        let w = WriteRequest { offset: off % (1 << 62), file_id: fid, channel: 0, remaining_bytes: v[2], flags: v[4], data: &data };
        let mut b = Vec::new();
        w.encode(&mut b);
        let m = msg(Command::Write, &b);
        prop_assert_eq!(WriteRequest::decode(&m).unwrap(), w);
        let wr = WriteResponse { count: v[0], remaining: v[1] };
        let mut b = Vec::new();
        wr.encode(&mut b);
        prop_assert_eq!(WriteResponse::decode(&msg(Command::Write, &b)).unwrap(), wr);
        let l = LockRequest { lock_sequence: v[3], file_id: fid, locks: locks.iter().map(|&(offset, length, flags)| LockElement { offset, length, flags }).collect() };
        let mut b = Vec::new();
        l.encode(&mut b);
        prop_assert_eq!(LockRequest::decode(&msg(Command::Lock, &b)).unwrap(), l);
    }

    #[test]
    fn ioctl_query_set(input in bytes(300), fid in file_id(), v in any::<[u32; 4]>(), cls in any::<[u8; 2]>(), pat in name()) {
        let i = IoctlRequest { ctl_code: v[0], file_id: fid, input: &input, max_input_response: v[1], max_output_response: v[2], flags: IOCTL_IS_FSCTL };
        let mut b = Vec::new();
        i.encode(&mut b);
        let m = msg(Command::Ioctl, &b);
        prop_assert_eq!(IoctlRequest::decode(&m).unwrap(), i);
        let ir = IoctlResponse { ctl_code: v[0], file_id: fid, output: &input, flags: 0 };
        let mut b = Vec::new();
        ir.encode(&mut b);
        let m = msg(Command::Ioctl, &b);
        prop_assert_eq!(IoctlResponse::decode(&m).unwrap(), ir);
        let q = QueryInfoRequest { info_type: cls[0], info_class: cls[1], output_buffer_length: v[0], input: &input, additional_information: v[1], flags: v[2], file_id: fid };
        let mut b = Vec::new();
        q.encode(&mut b);
        let m = msg(Command::QueryInfo, &b);
        prop_assert_eq!(QueryInfoRequest::decode(&m).unwrap(), q);
        let s = SetInfoRequest { info_type: cls[0], info_class: cls[1], buffer: &input, additional_information: v[3], file_id: fid };
        let mut b = Vec::new();
        s.encode(&mut b);
        let m = msg(Command::SetInfo, &b);
        prop_assert_eq!(SetInfoRequest::decode(&m).unwrap(), s);
        let mut b = Vec::new();
        encode_output_response(&input, &mut b);
        let m = msg(Command::QueryInfo, &b);
        prop_assert_eq!(decode_output_response(&m, "out").unwrap(), &input[..]);
        let qd = QueryDirectoryRequest { info_class: cls[0], flags: cls[1], file_index: v[0], file_id: fid, pattern: pat, output_buffer_length: v[1] };
        let mut b = Vec::new();
        qd.encode(&mut b);
        prop_assert_eq!(QueryDirectoryRequest::decode(&msg(Command::QueryDirectory, &b)).unwrap(), qd);
        let cn = ChangeNotifyRequest { flags: 1, output_buffer_length: v[0], file_id: fid, completion_filter: v[1] };
        let mut b = Vec::new();
        cn.encode(&mut b);
        prop_assert_eq!(ChangeNotifyRequest::decode(&msg(Command::ChangeNotify, &b)).unwrap(), cn);
        let mut b = Vec::new();
        encode_error_response(&input, &mut b);
        let m = msg(Command::Read, &b);
        prop_assert_eq!(decode_error_response(&m).unwrap(), &input[..]);
    }

    #[test]
    fn oplock_break(fid in file_id(), key in any::<[u8; 16]>(), v in any::<[u32; 3]>(), e in any::<u16>(), d in any::<u64>(), lvl in any::<u8>()) {
        for ob in [
            OplockBreak::Oplock { oplock_level: lvl, file_id: fid },
            OplockBreak::LeaseAck { flags: v[0], lease_key: key, lease_state: v[1], lease_duration: d },
            OplockBreak::LeaseNotification { new_epoch: e, flags: v[0], lease_key: key, current_state: v[1], new_state: v[2] },
        ] {
            let mut b = Vec::new();
            ob.encode(&mut b);
            let m = msg(Command::OplockBreak, &b);
            prop_assert_eq!(OplockBreak::decode(&m).unwrap(), ob);
            prop_assert!(matches!(Request::decode(&m).unwrap().1, Request::OplockBreak(_)));
        }
    }

    #[test]
    fn notify(changes in prop::collection::vec((1u32..6, "\\PC{1,20}"), 0..8)) {
        let c: Vec<FileNotify> = changes.into_iter().map(|(action, name)| FileNotify { action, name }).collect();
        let buf = encode_notify(&c, 1 << 20).unwrap();
        prop_assert_eq!(decode_notify(&buf).unwrap(), c);
    }
}
