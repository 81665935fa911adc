//! The session handshake: NEGOTIATE (one dialect, the 3.1.1 preauth-integrity and
//! signing contexts), SESSION_SETUP with NTLMv2 inside SPNEGO (key exchange, no MIC),
//! signing keys from the smb-wire KDF, then TREE_CONNECT.

use std::net::SocketAddr;

use dittofs_smb_wire::auth::ntlm::{
    self, encode_av_pairs, flags as nf, AuthenticateMessage, ChallengeMessage, NegotiateMessage,
    Rc4,
};
use dittofs_smb_wire::auth::spnego::{
    decode_client_token, encode_client_neg_token_init, encode_neg_token_resp, OID_NTLMSSP,
};
use dittofs_smb_wire::crypto::{derive_keys, PreauthHash, SigningAlgorithm};
use dittofs_smb_wire::header::Command;
use dittofs_smb_wire::negotiate::{
    caps, NegotiateContext, NegotiateRequest, NegotiateResponse, DIALECT_311, HASH_SHA512,
    SECURITY_SIGNING_ENABLED, SECURITY_SIGNING_REQUIRED, SIGNING_AES_CMAC,
};
use dittofs_smb_wire::session::{
    SessionSetupRequest, SessionSetupResponse, TreeConnectRequest, SESSION_FLAG_IS_GUEST,
};
use dittofs_smb_wire::status::{STATUS_MORE_PROCESSING_REQUIRED, STATUS_SUCCESS};

use super::conn::SmbConn;
use super::{SmbError, SmbOptions};

/// A connection with an authenticated session and a connected tree.
pub struct Session {
    pub conn: SmbConn,
    pub tree_id: u32,
    pub max_read_bytes: u32,
    pub max_write_bytes: u32,
}

fn check(status: u32) -> Result<(), SmbError> {
    if status == STATUS_SUCCESS {
        Ok(())
    } else {
        Err(SmbError::Status(status))
    }
}

/// Connects, authenticates and connects the tree of `opts.share`.
pub async fn open(addr: SocketAddr, opts: &SmbOptions) -> Result<Session, SmbError> {
    let conn = SmbConn::connect(addr).await?;
    let dialect = opts.dialect.code();
    let mut preauth = PreauthHash::default();

    // NEGOTIATE.
    let mut contexts = Vec::new();
    if dialect == DIALECT_311 {
        contexts.push(NegotiateContext::PreauthIntegrity {
            hash_algorithms: vec![HASH_SHA512],
            salt: (0..32).map(|_| fastrand::u8(..)).collect(),
        });
        contexts.push(NegotiateContext::Signing {
            algorithms: vec![SIGNING_AES_CMAC],
        });
    }
    let req = NegotiateRequest {
        security_mode: if opts.sign {
            SECURITY_SIGNING_ENABLED | SECURITY_SIGNING_REQUIRED
        } else {
            SECURITY_SIGNING_ENABLED
        },
        capabilities: caps::LARGE_MTU,
        client_guid: std::array::from_fn(|_| fastrand::u8(..)),
        client_start_time: 0,
        dialects: vec![dialect],
        contexts,
    };
    let mut body = Vec::new();
    req.encode(&mut body);
    let x = conn.call(Command::Negotiate, 0, &body, 0).await?;
    check(x.header.status)?;
    let neg = NegotiateResponse::decode(&x.response).map_err(SmbError::Wire)?;
    if neg.dialect != dialect {
        return Err(SmbError::Auth(format!(
            "server chose dialect 0x{:04x}",
            neg.dialect
        )));
    }
    conn.multi_credit.set(true);
    preauth.update(&x.request);
    preauth.update(&x.response);
    let signing_algo = neg.contexts.iter().find_map(|c| match c {
        NegotiateContext::Signing { algorithms } => algorithms.first().copied(),
        _ => None,
    });

    // SESSION_SETUP 1: NTLM NEGOTIATE in a SPNEGO NegTokenInit.
    let ntlm_flags = nf::UNICODE
        | nf::REQUEST_TARGET
        | nf::SIGN
        | nf::NTLM
        | nf::ALWAYS_SIGN
        | nf::EXTENDED_SESSIONSECURITY
        | nf::TARGET_INFO
        | nf::VERSION
        | nf::N128
        | nf::KEY_EXCH;
    let nego = NegotiateMessage { flags: ntlm_flags }.encode();
    let token = encode_client_neg_token_init(&[OID_NTLMSSP], &nego);
    let setup = |token: &[u8]| {
        let mut body = Vec::new();
        SessionSetupRequest {
            flags: 0,
            security_mode: req.security_mode as u8,
            capabilities: 0,
            channel: 0,
            previous_session_id: 0,
            security_buffer: token,
        }
        .encode(&mut body);
        body
    };
    let x = conn
        .call(Command::SessionSetup, 0, &setup(&token), 0)
        .await?;
    if x.header.status != STATUS_MORE_PROCESSING_REQUIRED {
        return Err(SmbError::Status(x.header.status));
    }
    conn.session_id.set(x.header.session_id);
    let mut session_hash = preauth;
    session_hash.update(&x.request);
    session_hash.update(&x.response);
    let resp = SessionSetupResponse::decode(&x.response).map_err(SmbError::Wire)?;
    let server_token = decode_client_token(resp.security_buffer).map_err(SmbError::Wire)?;
    let challenge_bytes = server_token
        .ntlmssp()
        .ok_or_else(|| SmbError::Auth("no NTLMSSP challenge".into()))?;
    let challenge = ChallengeMessage::decode(challenge_bytes).map_err(SmbError::Wire)?;

    // SESSION_SETUP 2: NTLMv2 AUTHENTICATE.
    let (auth, exported) = authenticate(&challenge, opts, ntlm_flags);
    let token = encode_neg_token_resp(None, None, Some(&auth), None);
    let x = conn
        .call(Command::SessionSetup, 0, &setup(&token), 0)
        .await?;
    session_hash.update(&x.request);
    check(x.header.status)?;
    let resp = SessionSetupResponse::decode(&x.response).map_err(SmbError::Wire)?;
    if resp.session_flags & SESSION_FLAG_IS_GUEST != 0 {
        return Err(SmbError::Auth("logged on as guest".into()));
    }
    // 3.1.1 requires a signed TREE_CONNECT (MS-SMB2 3.3.5.7); the rest is signed
    // only with --smb-sign.
    if opts.sign || dialect == DIALECT_311 {
        let algo = SigningAlgorithm::for_dialect(
            dialect,
            if dialect == DIALECT_311 {
                signing_algo
            } else {
                None
            },
        )
        .map_err(|e| SmbError::Crypto(e.to_string()))?;
        let keys = derive_keys(dialect, &exported, Some(&session_hash.0), None);
        conn.set_signing(algo, keys.signing, opts.sign);
    }

    // TREE_CONNECT.
    let host = addr.ip().to_string();
    let mut body = Vec::new();
    TreeConnectRequest {
        flags: 0,
        path: format!("\\\\{host}\\{}", opts.share),
    }
    .encode(&mut body);
    let x = conn.call(Command::TreeConnect, 0, &body, 0).await?;
    check(x.header.status)?;
    Ok(Session {
        tree_id: x.header.tree_id,
        conn,
        max_read_bytes: neg.max_read_size,
        max_write_bytes: neg.max_write_size,
    })
}

/// The NTLMv2 AUTHENTICATE message for `challenge` and the exported session key the
/// SMB keys derive from: a random key sent RC4-encrypted under the session base key
/// when the server agreed to KEY_EXCH, else the session base key itself. No MIC.
pub fn authenticate(
    challenge: &ChallengeMessage,
    opts: &SmbOptions,
    client_flags: u32,
) -> (Vec<u8>, [u8; 16]) {
    let target_info = encode_av_pairs(&challenge.target_info);
    let timestamp = challenge
        .target_info
        .iter()
        .find(|p| p.id == ntlm::av::TIMESTAMP && p.value.len() == 8)
        .map(|p| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&p.value);
            u64::from_le_bytes(b)
        })
        .unwrap_or_else(now_filetime);
    let client_challenge: [u8; 8] = std::array::from_fn(|_| fastrand::u8(..));
    let (nt_response, base_key) = ntlm::ntlmv2_response(
        &ntlm::nt_hash(&opts.password),
        &opts.user,
        &opts.domain,
        &challenge.server_challenge,
        &client_challenge,
        timestamp,
        &target_info,
    );
    let flags = client_flags & challenge.flags | nf::UNICODE;
    let (exported, encrypted) = if flags & nf::KEY_EXCH != 0 {
        let exported: [u8; 16] = std::array::from_fn(|_| fastrand::u8(..));
        let mut encrypted = exported;
        Rc4::new(&base_key).apply(&mut encrypted);
        (exported, encrypted.to_vec())
    } else {
        (base_key, Vec::new())
    };
    let msg = AuthenticateMessage {
        lm_response: vec![0; 24],
        nt_response,
        domain: opts.domain.clone(),
        user: opts.user.clone(),
        workstation: "DITTOFS-PERF".into(),
        encrypted_random_session_key: encrypted,
        flags,
        mic: None,
    }
    .encode();
    (msg, exported)
}

fn now_filetime() -> u64 {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    dittofs_smb_wire::fscc::filetime_from_unix(d.as_secs() as i64, d.subsec_nanos())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::smb::SmbDialect;
    use dittofs_smb_wire::auth::ntlm::{server_target_info, verify_ntlmv2};

    fn opts(password: &str) -> SmbOptions {
        SmbOptions {
            user: "Bench".into(),
            password: password.into(),
            domain: "WORKGROUP".into(),
            share: "export".into(),
            dialect: SmbDialect::Smb311,
            sign: true,
        }
    }

    /// The client's AUTHENTICATE passes the server-side verifier of smb-wire and both
    /// ends agree on the exported session key, with and without key exchange; a wrong
    /// password is refused.
    #[test]
    fn authenticate_verifies_on_the_server_side() {
        for key_exch in [true, false] {
            let mut server_flags = nf::UNICODE | nf::EXTENDED_SESSIONSECURITY | nf::TARGET_INFO;
            if key_exch {
                server_flags |= nf::KEY_EXCH;
            }
            let challenge = ChallengeMessage {
                target_name: "SRV".into(),
                flags: server_flags,
                server_challenge: [1, 2, 3, 4, 5, 6, 7, 8],
                target_info: server_target_info("SRV", "WORKGROUP", 133_000_000_000_000_000),
            };
            let client_flags = nf::UNICODE | nf::KEY_EXCH | nf::EXTENDED_SESSIONSECURITY;
            let (msg, exported) = authenticate(&challenge, &opts("pw-1"), client_flags);
            let auth = AuthenticateMessage::decode(&msg).unwrap();
            let v = verify_ntlmv2(
                &ntlm::nt_hash("pw-1"),
                &challenge.server_challenge,
                &auth,
                &[],
                &[],
                &msg,
            )
            .unwrap();
            assert_eq!(v.exported_session_key, exported, "key_exch {key_exch}");
            assert_eq!(v.exported_session_key == v.session_base_key, !key_exch);
            let (msg, _) = authenticate(&challenge, &opts("wrong"), client_flags);
            let auth = AuthenticateMessage::decode(&msg).unwrap();
            assert!(verify_ntlmv2(
                &ntlm::nt_hash("pw-1"),
                &challenge.server_challenge,
                &auth,
                &[],
                &[],
                &msg
            )
            .is_err());
        }
    }
}
