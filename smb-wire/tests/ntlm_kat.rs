//! Known answers for NTLMv2 from MS-NLMP 4.2.4 (user "User", domain "Domain", password
//! "Password", server challenge 0123456789abcdef, client challenge aa..aa, time 0,
//! RandomSessionKey 55..55), and a full server-side verification with key exchange
//! and MIC.

use dittofs_smb_wire::auth::ntlm::*;
use dittofs_smb_wire::auth::AuthError;
use dittofs_smb_wire::buf::utf16_encode;

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// MS-NLMP 4.2.4 target info: NbDomainName "Domain", NbComputerName "Server", EOL.
fn nlmp_target_info() -> Vec<u8> {
    encode_av_pairs(&[
        AvPair {
            id: av::NB_DOMAIN_NAME,
            value: utf16_encode("Domain"),
        },
        AvPair {
            id: av::NB_COMPUTER_NAME,
            value: utf16_encode("Server"),
        },
    ])
}

#[test]
fn ms_nlmp_4_2_4_ntlmv2_known_answers() {
    let nt = nt_hash("Password");
    assert_eq!(nt.to_vec(), hex("a4f49c406510bdcab6824ee7c30fd852"));
    assert_eq!(
        ntowf_v2(&nt, "User", "Domain").to_vec(),
        hex("0c868a403bfd7a93a3001ef22ef02e3f")
    );
    let server_challenge = [0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef];
    let (resp, base) = ntlmv2_response(
        &nt,
        "User",
        "Domain",
        &server_challenge,
        &[0xaa; 8],
        0,
        &nlmp_target_info(),
    );
    assert_eq!(resp[..16].to_vec(), hex("68cd0ab851e51c96aabc927bebef6a1c"));
    assert_eq!(
        resp[16..].to_vec(),
        hex("01010000000000000000000000000000aaaaaaaaaaaaaaaa0000000002000c0044006f006d00610069006e0001000c005300650072007600650072000000000000000000")
    );
    assert_eq!(base.to_vec(), hex("8de40ccadbc14a82f15cb0ad0de95ca3"));
    // Key exchange: RC4(SessionBaseKey, RandomSessionKey 0x55 * 16).
    let mut k = [0x55u8; 16];
    Rc4::new(&base).apply(&mut k);
    assert_eq!(k.to_vec(), hex("c5dad2544fc9799094ce1ce90bc9d03e"));
    // Client signing and sealing keys from RandomSessionKey.
    let (sign, seal) = sign_seal_keys(&[0x55; 16], true);
    assert_eq!(sign.to_vec(), hex("4788dc861b4782f35d43fd98fe1a2d39"));
    assert_eq!(seal.to_vec(), hex("59f600973cc4960a25480a7c196e4c58"));
}

#[test]
fn server_verifies_ntlmv2_with_key_exchange_and_mic() {
    let nt = nt_hash("Password");
    let neg = NegotiateMessage { flags: 0xe288_8215 }.encode();
    let ch = ChallengeMessage {
        target_name: "Server".into(),
        flags: 0xe28a_8235,
        server_challenge: [1, 2, 3, 4, 5, 6, 7, 8],
        target_info: server_target_info("SERVER", "DOMAIN", 7),
    };
    let ch_bytes = ch.encode();
    let decoded = ChallengeMessage::decode(&ch_bytes).unwrap();
    assert_eq!(decoded, ch);
    let mut ti = ch.target_info.clone();
    ti.push(AvPair {
        id: av::FLAGS,
        value: av::FLAG_MIC_PRESENT.to_le_bytes().to_vec(),
    });
    let (resp, base) = ntlmv2_response(
        &nt,
        "alice",
        "DOMAIN",
        &ch.server_challenge,
        &[9; 8],
        7,
        &encode_av_pairs(&ti),
    );
    let exported = [0x42u8; 16];
    let mut enc = exported;
    Rc4::new(&base).apply(&mut enc);
    let auth = AuthenticateMessage {
        lm_response: vec![0; 24],
        nt_response: resp,
        domain: "DOMAIN".into(),
        user: "alice".into(),
        workstation: "WS".into(),
        encrypted_random_session_key: enc.to_vec(),
        flags: ch.flags,
        mic: None,
    };
    let mut bytes = auth.encode();
    let mic = hmac_md5(&exported, &[&neg, &ch_bytes, &bytes]);
    set_mic(&mut bytes, &mic);
    let parsed = AuthenticateMessage::decode(&bytes).unwrap();
    assert_eq!(parsed.mic, Some(mic));
    let v = verify_ntlmv2(&nt, &ch.server_challenge, &parsed, &neg, &ch_bytes, &bytes).unwrap();
    assert_eq!(v.exported_session_key, exported);
    // Wrong password.
    assert_eq!(
        verify_ntlmv2(
            &nt_hash("nope"),
            &ch.server_challenge,
            &parsed,
            &neg,
            &ch_bytes,
            &bytes
        ),
        Err(AuthError::WrongPassword)
    );
    // Tampered CHALLENGE breaks the MIC.
    let mut ch2 = ch_bytes.clone();
    ch2[30] ^= 1;
    assert_eq!(
        verify_ntlmv2(&nt, &ch.server_challenge, &parsed, &neg, &ch2, &bytes),
        Err(AuthError::BadMic)
    );
}

#[test]
fn anonymous_and_mech_list_mic() {
    let anon = AuthenticateMessage {
        lm_response: vec![0],
        ..AuthenticateMessage::default()
    };
    assert!(anon.is_anonymous());
    let user = AuthenticateMessage {
        user: "u".into(),
        ..AuthenticateMessage::default()
    };
    assert!(!user.is_anonymous());
    let key = [3u8; 16];
    let der = [
        0x30, 0x0c, 0x06, 0x0a, 0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37, 0x02, 0x02, 0x0a,
    ];
    for fl in [0, flags::KEY_EXCH] {
        let mic = gss_get_mic(&key, fl, true, 0, &der);
        assert_eq!(&mic[..4], &[1, 0, 0, 0]);
        assert!(verify_mech_list_mic(&key, fl, &der, &mic));
        // The server's direction uses other keys.
        assert!(!verify_mech_list_mic(
            &key,
            fl,
            &der,
            &gss_get_mic(&key, fl, false, 0, &der)
        ));
    }
}

/// An NTLMv2 response whose AV pair claims more bytes than the response holds
/// (a NetApp-style client challenge, Samba bug 14932) is a malformed message.
#[test]
fn ntlmv2_response_with_overlong_av_pair_is_malformed() {
    let mut nt = vec![0xab; 16];
    nt.extend_from_slice(&[1, 1, 0, 0, 0, 0, 0, 0]);
    nt.extend_from_slice(&[0x3f; 8]); // timestamp
    nt.extend_from_slice(&[7; 8]); // client challenge
    nt.extend_from_slice(&[0; 4]);
    nt.extend_from_slice(&[0x11, 0xa2, 0x08, 0x81]); // AvId 0xa211, AvLen 0x8108
    nt.extend_from_slice(&[0x55; 47]);
    let msg = AuthenticateMessage {
        lm_response: vec![0; 24],
        nt_response: nt.clone(),
        user: "torture".into(),
        flags: flags::UNICODE,
        ..Default::default()
    };
    assert!(AuthenticateMessage::decode(&msg.encode()).is_err());
    // The same response with a well-formed AV list decodes.
    nt.truncate(44);
    nt.extend_from_slice(&encode_av_pairs(&[]));
    let ok = AuthenticateMessage {
        nt_response: nt,
        ..msg
    };
    assert_eq!(AuthenticateMessage::decode(&ok.encode()).unwrap(), ok);
}
