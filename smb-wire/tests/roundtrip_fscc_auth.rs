//! Property tests for the MS-FSCC, security descriptor, NTLMSSP and SPNEGO codecs.

use dittofs_smb_wire::auth::ntlm::*;
use dittofs_smb_wire::auth::spnego::*;
use dittofs_smb_wire::create::FileTimes;
use dittofs_smb_wire::fscc::dir::{decode, DirEntry, DirWriter};
use dittofs_smb_wire::fscc::set::{SetBasic, SetFileInfo};
use dittofs_smb_wire::fscc::{class, filetime_from_unix, unix_from_filetime};
use dittofs_smb_wire::security::SecurityDescriptor;
use proptest::prelude::*;

fn entry() -> impl Strategy<Value = DirEntry> {
    (
        any::<u32>(),
        any::<[u64; 6]>(),
        any::<u32>(),
        any::<u32>(),
        "[A-Z0-9~]{0,12}",
        any::<u64>(),
        "\\PC{1,30}",
    )
        .prop_map(
            |(file_index, t, a, ea_size, short_name, file_id, name)| DirEntry {
                file_index,
                times: FileTimes {
                    creation_time: t[0],
                    last_access_time: t[1],
                    last_write_time: t[2],
                    change_time: t[3],
                    allocation_size: t[4],
                    end_of_file: t[5],
                    file_attributes: a,
                },
                ea_size,
                short_name,
                file_id,
                name,
            },
        )
}

fn set_info() -> impl Strategy<Value = SetFileInfo> {
    prop_oneof![
        (any::<[u64; 4]>(), any::<u32>()).prop_map(|(t, a)| SetFileInfo::Basic(SetBasic {
            creation_time: t[0],
            last_access_time: t[1],
            last_write_time: t[2],
            change_time: t[3],
            file_attributes: a
        })),
        any::<u64>().prop_map(SetFileInfo::EndOfFile),
        any::<u64>().prop_map(SetFileInfo::Allocation),
        any::<bool>().prop_map(SetFileInfo::Disposition),
        any::<u32>().prop_map(SetFileInfo::DispositionEx),
        any::<u64>().prop_map(SetFileInfo::Position),
        (any::<bool>(), any::<u64>(), "\\PC{1,40}").prop_map(
            |(replace_if_exists, root_directory, name)| SetFileInfo::Rename {
                replace_if_exists,
                root_directory,
                name
            }
        ),
        (any::<bool>(), any::<u64>(), "\\PC{1,40}").prop_map(
            |(replace_if_exists, root_directory, name)| SetFileInfo::Link {
                replace_if_exists,
                root_directory,
                name
            }
        ),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn dir_listing(entries in prop::collection::vec(entry(), 1..10),
                   cls in prop::sample::select(vec![class::DIRECTORY, class::FULL_DIRECTORY, class::BOTH_DIRECTORY,
                                                    class::ID_BOTH_DIRECTORY, class::ID_FULL_DIRECTORY, class::NAMES])) {
        let mut w = DirWriter::new(cls, 1 << 20).unwrap();
        for e in &entries {
            prop_assert!(w.push(e));
        }
        let got = decode(cls, &w.finish()).unwrap();
        prop_assert_eq!(got.len(), entries.len());
        for (g, e) in got.iter().zip(&entries) {
            prop_assert_eq!(&g.name, &e.name);
            prop_assert_eq!(g.file_index, e.file_index);
            if cls != class::NAMES {
                prop_assert_eq!(g.times, e.times);
            }
            if cls == class::ID_BOTH_DIRECTORY || cls == class::ID_FULL_DIRECTORY {
                prop_assert_eq!(g.file_id, e.file_id);
            }
            if cls == class::BOTH_DIRECTORY || cls == class::ID_BOTH_DIRECTORY {
                prop_assert_eq!(&g.short_name, &e.short_name);
            }
        }
    }

    #[test]
    fn dir_writer_never_exceeds_max(entries in prop::collection::vec(entry(), 1..20), max in 0usize..2000) {
        let mut w = DirWriter::new(class::ID_BOTH_DIRECTORY, max).unwrap();
        for e in &entries {
            w.push(e);
        }
        prop_assert!(w.len() <= max);
    }

    #[test]
    fn set_file_info(s in set_info()) {
        let mut b = Vec::new();
        s.encode(&mut b);
        prop_assert_eq!(SetFileInfo::decode(s.class(), &b).unwrap(), Some(s));
    }

    #[test]
    fn security_descriptor(uid in any::<u32>(), gid in any::<u32>(), mode in 0u32..0o7777, sel in 0u32..8) {
        let sd = SecurityDescriptor::from_unix(uid, gid, mode);
        let d = SecurityDescriptor::decode(&sd.encode(sel)).unwrap();
        prop_assert_eq!(d.owner.is_some(), sel & 1 != 0);
        prop_assert_eq!(d.group.is_some(), sel & 2 != 0);
        prop_assert_eq!(d.dacl.is_some(), sel & 4 != 0);
        if sel == 7 {
            prop_assert_eq!(d, sd);
        }
    }

    #[test]
    fn filetime(secs in -11_644_473_600i64..10_000_000_000, nanos in 0u32..1_000_000_000) {
        let (s, n) = unix_from_filetime(filetime_from_unix(secs, nanos));
        prop_assert_eq!((s, n), (secs, nanos / 100 * 100));
    }

    #[test]
    fn ntlm_messages(fl in any::<u32>(), ch in any::<[u8; 8]>(), name in "\\PC{0,15}", user in "\\PC{0,15}", dom in "\\PC{0,15}",
                     lm in prop::collection::vec(any::<u8>(), 0..30), nt in prop::collection::vec(any::<u8>(), 0..=24),
                     key in prop::collection::vec(any::<u8>(), 0..17), ts in any::<u64>()) {
        let n = NegotiateMessage { flags: fl };
        prop_assert_eq!(NegotiateMessage::decode(&n.encode()).unwrap(), n);
        let c = ChallengeMessage { target_name: name.clone(), flags: fl | flags::UNICODE, server_challenge: ch, target_info: server_target_info(&name, &dom, ts) };
        prop_assert_eq!(ChallengeMessage::decode(&c.encode()).unwrap(), c);
        let a = AuthenticateMessage { lm_response: lm, nt_response: nt, domain: dom, user, workstation: name,
                                      encrypted_random_session_key: key, flags: fl | flags::UNICODE, mic: None };
        prop_assert_eq!(AuthenticateMessage::decode(&a.encode()).unwrap(), a);
    }

    #[test]
    fn ntlmv2_response_av_pairs_must_parse(proof in any::<[u8; 44]>(), names in prop::collection::vec("\\PC{0,10}", 0..5),
                                           ts in any::<u64>(), cut in any::<prop::sample::Index>()) {
        let pairs = server_target_info(&names.join("."), "DOM", ts);
        let mut nt = proof.to_vec();
        nt.extend_from_slice(&encode_av_pairs(&pairs));
        let a = AuthenticateMessage { nt_response: nt.clone(), user: "u".into(), flags: flags::UNICODE, ..Default::default() };
        prop_assert_eq!(AuthenticateMessage::decode(&a.encode()).unwrap(), a);
        // Any NTLMv2 response cut short of its MsvAvEOL is malformed.
        let len = NTLMV1_RESPONSE_LEN + 1 + cut.index(nt.len() - 4 - NTLMV1_RESPONSE_LEN);
        let bad = AuthenticateMessage { nt_response: nt[..len].to_vec(), user: "u".into(), flags: flags::UNICODE, ..Default::default() };
        prop_assert!(AuthenticateMessage::decode(&bad.encode()).is_err());
    }

    #[test]
    fn spnego(tok in prop::collection::vec(any::<u8>(), 0..400), mic in prop::collection::vec(any::<u8>(), 0..20), st in 0u8..4) {
        let r = encode_neg_token_resp(Some(st), Some(OID_NTLMSSP), Some(&tok), Some(&mic));
        prop_assert_eq!(decode_client_token(&r).unwrap(), ClientToken::Resp {
            neg_state: Some(st), supported_mech: Some(OID_NTLMSSP.to_vec()), response_token: Some(tok.clone()), mech_list_mic: Some(mic) });
        let i = encode_client_neg_token_init(&[OID_NTLMSSP], &tok);
        let d = decode_client_token(&i).unwrap();
        prop_assert_eq!(d.ntlmssp(), Some(&tok[..]));
    }
}
