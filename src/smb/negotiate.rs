//! NEGOTIATE (with the SMB1 upgrade), SESSION_SETUP (SPNEGO/NTLMv2) and LOGOFF.

use dittofs_smb_wire::auth::ntlm::{
    self, flags as nf, server_target_info, AuthenticateMessage, ChallengeMessage, NegotiateMessage,
};
use dittofs_smb_wire::auth::spnego::{self, ClientToken};
use dittofs_smb_wire::crypto::{derive_keys, Cipher, PreauthHash, SigningAlgorithm};
use dittofs_smb_wire::frame::decode_smb1_negotiate;
use dittofs_smb_wire::header::{flags as hf, Command, Header};
use dittofs_smb_wire::negotiate::*;
use dittofs_smb_wire::session::{
    encode_empty, SessionSetupRequest, SessionSetupResponse, SESSION_FLAG_BINDING,
    SESSION_FLAG_ENCRYPT_DATA,
};
use dittofs_smb_wire::status::*;

use super::dispatch::{Call, FrameResult};
use super::state::{Auth, ConnState, Session};
use super::{ok, random_bytes, Reply, SmbContext, IO_BYTES_MAX};
use crate::fs::{Cred, Timespec};

/// Dialects served, best first.
const DIALECTS: [u16; 5] = [
    DIALECT_311,
    DIALECT_302,
    DIALECT_300,
    DIALECT_210,
    DIALECT_202,
];
/// NetBIOS-style names in the NTLM CHALLENGE.
const COMPUTER: &str = "DITTOFS";

fn now_filetime() -> u64 {
    let t = Timespec::now();
    dittofs_smb_wire::fscc::filetime_from_unix(t.sec, t.nsec)
}

fn response_base(ctx: &SmbContext, st: &ConnState, dialect: u16) -> NegotiateResponse {
    NegotiateResponse {
        security_mode: st.server_security_mode,
        dialect,
        server_guid: ctx.server_guid,
        capabilities: st.server_capabilities,
        max_transact_size: IO_BYTES_MAX,
        max_read_size: IO_BYTES_MAX,
        max_write_size: IO_BYTES_MAX,
        system_time: now_filetime(),
        server_start_time: 0,
        security_buffer: spnego::server_neg_token_init(),
        contexts: Vec::new(),
    }
}

/// An SMB1 NEGOTIATE offering SMB2: answer with an SMB2 NEGOTIATE response.
pub fn smb1(ctx: &SmbContext, st: &mut ConnState, frame: &[u8]) -> FrameResult {
    if st.negotiated {
        return FrameResult::Close("SMB1 after NEGOTIATE");
    }
    let Some(dialect) = decode_smb1_negotiate(frame)
        .ok()
        .and_then(|n| n.response_dialect())
    else {
        return FrameResult::Close("SMB1 client without SMB2 dialects");
    };
    if !st.credits.consume(0, 1) {
        return FrameResult::Close("SMB1 NEGOTIATE twice");
    }
    st.server_security_mode = SECURITY_SIGNING_ENABLED;
    if dialect == DIALECT_202 {
        st.dialect = DIALECT_202;
        st.negotiated = true;
    }
    let mut out = Vec::new();
    let hdr = Header {
        command: Command::Negotiate as u16,
        credits: st.credits.grant(1),
        flags: hf::SERVER_TO_REDIR,
        ..Header::default()
    };
    hdr.encode(&mut out);
    response_base(ctx, st, dialect).encode(&mut out);
    FrameResult::Reply(out)
}

pub fn negotiate(
    ctx: &SmbContext,
    st: &mut ConnState,
    req: &NegotiateRequest,
    msg: &[u8],
) -> Result<Reply, u32> {
    if st.negotiated {
        // A second NEGOTIATE is a protocol violation; answer and let the client go.
        return Err(STATUS_INVALID_PARAMETER);
    }
    let Some(&dialect) = DIALECTS.iter().find(|d| req.dialects.contains(d)) else {
        return Err(STATUS_NOT_SUPPORTED);
    };
    st.dialect = dialect;
    st.negotiated = true;
    st.client_guid = req.client_guid;
    st.client_security_mode = req.security_mode;
    st.client_capabilities = req.capabilities;
    st.client_dialects = req.dialects.clone();
    st.server_security_mode = SECURITY_SIGNING_ENABLED;
    let mut caps = 0;
    if dialect >= DIALECT_210 {
        caps |= caps::LARGE_MTU | caps::LEASING;
    }
    if dialect >= DIALECT_300 {
        // Directory leases (v2, R/RH; `fs/dirleases.rs`); session binding
        // (`bind.rs`).
        caps |= caps::DIRECTORY_LEASING | caps::MULTI_CHANNEL;
    }
    if (dialect == DIALECT_300 || dialect == DIALECT_302)
        && req.capabilities & caps::ENCRYPTION != 0
    {
        caps |= caps::ENCRYPTION;
        st.cipher = Some(Cipher::Aes128Ccm);
    }
    st.server_capabilities = caps;
    let mut resp = response_base(ctx, st, dialect);
    if dialect == DIALECT_311 {
        st.preauth = PreauthHash::default();
        st.preauth.update(msg);
        let mut has_preauth = false;
        for c in &req.contexts {
            match c {
                NegotiateContext::PreauthIntegrity {
                    hash_algorithms, ..
                } if hash_algorithms.contains(&HASH_SHA512) => has_preauth = true,
                NegotiateContext::Encryption { ciphers } => {
                    let pick = [
                        CIPHER_AES128_GCM,
                        CIPHER_AES128_CCM,
                        CIPHER_AES256_GCM,
                        CIPHER_AES256_CCM,
                    ]
                    .into_iter()
                    .find(|c| ciphers.contains(c));
                    st.cipher = pick.and_then(Cipher::from_id);
                    resp.contexts.push(NegotiateContext::Encryption {
                        ciphers: vec![pick.unwrap_or(0)],
                    });
                }
                NegotiateContext::Signing { algorithms } => {
                    let pick = [SIGNING_AES_GMAC, SIGNING_AES_CMAC, SIGNING_HMAC_SHA256]
                        .into_iter()
                        .find(|a| algorithms.contains(a))
                        .unwrap_or(SIGNING_AES_CMAC);
                    st.signing_ctx = Some(pick);
                    resp.contexts.push(NegotiateContext::Signing {
                        algorithms: vec![pick],
                    });
                }
                _ => {}
            }
        }
        if !has_preauth {
            return Err(STATUS_INVALID_PARAMETER);
        }
        if super::posix::negotiate(st, req, dialect) {
            resp.contexts.push(NegotiateContext::Posix);
        }
        resp.contexts.insert(
            0,
            NegotiateContext::PreauthIntegrity {
                hash_algorithms: vec![HASH_SHA512],
                salt: random_bytes::<32>().to_vec(),
            },
        );
    }
    let mut body = Vec::new();
    resp.encode(&mut body);
    ok(body)
}

fn challenge_flags(client: u32) -> u32 {
    let mut f = nf::UNICODE
        | nf::REQUEST_TARGET
        | nf::NTLM
        | nf::ALWAYS_SIGN
        | nf::EXTENDED_SESSIONSECURITY
        | nf::TARGET_INFO
        | nf::VERSION
        | nf::N128
        | nf::TARGET_TYPE_SERVER;
    f |= client & (nf::SIGN | nf::SEAL | nf::KEY_EXCH | nf::N56);
    f
}

/// The CHALLENGE answering an NTLM NEGOTIATE: the state to keep and the
/// SESSION_SETUP response body (STATUS_MORE_PROCESSING_REQUIRED).
pub(crate) fn challenge(token: &ClientToken, ntlm_msg: Vec<u8>) -> Result<(Auth, Vec<u8>), u32> {
    let spnego_used = !matches!(token, ClientToken::RawNtlmssp(_));
    let neg = NegotiateMessage::decode(&ntlm_msg).map_err(|_| STATUS_INVALID_PARAMETER)?;
    let server_challenge: [u8; 8] = random_bytes();
    let challenge = ChallengeMessage {
        target_name: COMPUTER.into(),
        flags: challenge_flags(neg.flags),
        server_challenge,
        target_info: server_target_info(COMPUTER, COMPUTER, now_filetime()),
    };
    let challenge_msg = challenge.encode();
    let mech_types_der = match token {
        ClientToken::Init { mech_types_der, .. } => Some(mech_types_der.clone()),
        _ => None,
    };
    let challenged = Auth::Challenged {
        negotiate_msg: ntlm_msg,
        challenge_msg: challenge_msg.clone(),
        server_challenge,
        mech_types_der,
        spnego: spnego_used,
    };
    let buf = if spnego_used {
        spnego::encode_neg_token_resp(
            Some(spnego::NEG_STATE_ACCEPT_INCOMPLETE),
            Some(spnego::OID_NTLMSSP),
            Some(&challenge_msg),
            None,
        )
    } else {
        challenge_msg
    };
    let mut body = Vec::new();
    SessionSetupResponse {
        session_flags: 0,
        security_buffer: &buf,
    }
    .encode(&mut body);
    Ok((challenged, body))
}

/// The final SESSION_SETUP response body of a completed authentication.
pub(crate) fn completed(
    use_spnego: bool,
    server_mic: Option<&[u8]>,
    session_flags: u16,
) -> Vec<u8> {
    let buf = if use_spnego {
        spnego::encode_neg_token_resp(
            Some(spnego::NEG_STATE_ACCEPT_COMPLETED),
            None,
            None,
            server_mic,
        )
    } else {
        Vec::new()
    };
    let mut body = Vec::new();
    SessionSetupResponse {
        session_flags,
        security_buffer: &buf,
    }
    .encode(&mut body);
    body
}

pub async fn session_setup(
    ctx: &SmbContext,
    st: &mut ConnState,
    call: &mut Call,
    hdr: &Header,
    req: &SessionSetupRequest<'_>,
    msg: &[u8],
) -> Result<Reply, u32> {
    if req.flags & SESSION_FLAG_BINDING != 0 {
        return super::bind::setup(ctx, st, call, hdr, req, msg).await;
    }
    if let Some(ch) = st.channels.get(&hdr.session_id) {
        // Re-authentication is done on the session's home connection; on a
        // bound channel it is refused (smbtorture bind_negative_*: ACCESS_DENIED
        // once bound), answered with the session's key.
        call.session_id = hdr.session_id;
        st.bind_signer = Some((ch.info.signing_algo, ch.info.signing_key.clone()));
        return Err(STATUS_ACCESS_DENIED);
    }
    let token = spnego::decode_client_token(req.security_buffer).map_err(|e| {
        log::debug!("SESSION_SETUP: bad security token: {e}");
        STATUS_INVALID_PARAMETER
    })?;
    let Some(ntlm_msg) = token.ntlmssp().map(<[u8]>::to_vec) else {
        return Err(STATUS_LOGON_FAILURE);
    };
    let msg_type = ntlm_msg
        .get(8..12)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .unwrap_or(0);
    match msg_type {
        1 => {
            let (challenged, body) = challenge(&token, ntlm_msg)?;
            let sid = if hdr.session_id != 0 {
                let Some(sess) = st.sessions.get_mut(&hdr.session_id) else {
                    super::bind::sign_as_session(st, hdr.session_id);
                    return Err(STATUS_USER_SESSION_DELETED);
                };
                if matches!(sess.auth, Auth::Valid) {
                    // Re-authentication: the session, its trees and opens stay.
                    sess.reauth = Some(challenged);
                    call.session_id = hdr.session_id;
                    return Ok((STATUS_MORE_PROCESSING_REQUIRED, body));
                }
                hdr.session_id
            } else {
                st.new_session_id()
            };
            let mut preauth = st.preauth;
            preauth.update(msg);
            let signing_algo = SigningAlgorithm::for_dialect(st.dialect, st.signing_ctx)
                .unwrap_or(SigningAlgorithm::AesCmac);
            st.sessions.insert(
                sid,
                Session {
                    auth: challenged,
                    reauth: None,
                    user: String::new(),
                    guest: false,
                    cred: Cred {
                        uid: u32::MAX,
                        gid: u32::MAX,
                        gids: Vec::new(),
                    },
                    signing_key: Vec::new(),
                    encryption_key: Vec::new(),
                    decryption_key: Vec::new(),
                    signing_algo,
                    signing_required: false,
                    encrypt: false,
                    trees: Default::default(),
                    preauth,
                    nonce_salt: random_bytes(),
                },
            );
            call.session_id = sid;
            Ok((STATUS_MORE_PROCESSING_REQUIRED, body))
        }
        3 => {
            call.session_id = hdr.session_id;
            let dialect = st.dialect;
            let cipher = st.cipher;
            let Some(sess) = st.sessions.get_mut(&hdr.session_id) else {
                super::bind::sign_as_session(st, hdr.session_id);
                return Err(STATUS_USER_SESSION_DELETED);
            };
            let reauth = sess.reauth.is_some();
            let Auth::Challenged {
                negotiate_msg,
                challenge_msg,
                server_challenge,
                mech_types_der,
                spnego: spnego_session,
            } = sess.reauth.as_ref().unwrap_or(&sess.auth)
            else {
                return Err(STATUS_INVALID_PARAMETER);
            };
            if !reauth {
                sess.preauth.update(msg);
            }
            let auth =
                AuthenticateMessage::decode(&ntlm_msg).map_err(|_| STATUS_INVALID_PARAMETER)?;
            let anonymous = auth.is_anonymous();
            let found = if anonymous {
                None
            } else {
                ctx.users.lookup(&auth.user).await
            };
            let Some(user) = found else {
                // Anonymous, or an unknown name: a guest when [identity] guest
                // allows it (Samba's "map to guest = bad user").
                if !super::access::guest_enabled(ctx) {
                    log::info!("SMB logon refused: unknown user {:?}", auth.user);
                    end_failed_setup(st, hdr.session_id, reauth);
                    return Err(STATUS_LOGON_FAILURE);
                }
                let use_spnego = *spnego_session;
                let flags = if reauth {
                    reauth_guest(sess, anonymous)
                } else {
                    super::access::make_guest(sess, anonymous)
                };
                log::info!("SMB guest session for {:?}", auth.user);
                let buf = if use_spnego {
                    spnego::encode_neg_token_resp(
                        Some(spnego::NEG_STATE_ACCEPT_COMPLETED),
                        None,
                        None,
                        None,
                    )
                } else {
                    Vec::new()
                };
                let mut body = Vec::new();
                SessionSetupResponse {
                    session_flags: flags,
                    security_buffer: &buf,
                }
                .encode(&mut body);
                return ok(body);
            };
            let verified = match ntlm::verify_ntlmv2(
                &user.nt_hash,
                server_challenge,
                &auth,
                negotiate_msg,
                challenge_msg,
                &ntlm_msg,
            ) {
                Ok(v) => v,
                Err(e) => {
                    log::info!("SMB logon refused for {:?}: {e}", auth.user);
                    end_failed_setup(st, hdr.session_id, reauth);
                    return Err(STATUS_LOGON_FAILURE);
                }
            };
            let key = verified.exported_session_key;
            let Ok(server_mic) = mech_list_mic(&key, auth.flags, &token, mech_types_der.as_deref())
            else {
                end_failed_setup(st, hdr.session_id, reauth);
                return Err(STATUS_LOGON_FAILURE);
            };
            let use_spnego = *spnego_session;
            if reauth {
                // Same keys (as Samba and Windows do): only who the session
                // acts as changes.
                sess.reauth = None;
                sess.guest = false;
                sess.user = user.name;
                sess.cred = if ctx.admin_users.contains(&sess.user) {
                    Cred::root()
                } else {
                    user.cred
                };
                log::info!("SMB session re-authenticated as {}", sess.user);
                let buf = if use_spnego {
                    spnego::encode_neg_token_resp(
                        Some(spnego::NEG_STATE_ACCEPT_COMPLETED),
                        None,
                        None,
                        server_mic.as_ref().map(|m| &m[..]),
                    )
                } else {
                    Vec::new()
                };
                let mut body = Vec::new();
                SessionSetupResponse {
                    session_flags: 0,
                    security_buffer: &buf,
                }
                .encode(&mut body);
                return ok(body);
            }
            let preauth = sess.preauth;
            let keys = derive_keys(
                dialect,
                &key,
                (dialect == DIALECT_311).then_some(&preauth.0),
                cipher,
            );
            sess.signing_key = keys.signing;
            sess.encryption_key = keys.encryption;
            sess.decryption_key = keys.decryption;
            sess.signing_required = u16::from(req.security_mode) & SECURITY_SIGNING_REQUIRED != 0;
            sess.user = user.name;
            sess.cred = if ctx.admin_users.contains(&sess.user) {
                Cred::root()
            } else {
                user.cred
            };
            sess.auth = Auth::Valid;
            log::info!("SMB session for {} (dialect {dialect:#06x})", sess.user);
            let user_name = sess.user.clone();
            let flags = if sess.encrypt {
                SESSION_FLAG_ENCRYPT_DATA
            } else {
                0
            };
            let buf = if use_spnego {
                spnego::encode_neg_token_resp(
                    Some(spnego::NEG_STATE_ACCEPT_COMPLETED),
                    None,
                    None,
                    server_mic.as_ref().map(|m| &m[..]),
                )
            } else {
                Vec::new()
            };
            let mut body = Vec::new();
            SessionSetupResponse {
                session_flags: flags,
                security_buffer: &buf,
            }
            .encode(&mut body);
            super::sessions::register(hdr.session_id, &user_name);
            super::bind::publish(st, hdr.session_id);
            end_previous(st, req.previous_session_id, hdr.session_id, &user_name);
            ok(body)
        }
        _ => Err(STATUS_INVALID_PARAMETER),
    }
}

/// A failed AUTHENTICATE: the session goes, and on a re-authentication its
/// opens with it (MS-SMB2 3.3.5.5.3).
fn end_failed_setup(st: &mut ConnState, sid: u64, reauth: bool) {
    if reauth {
        // Its opens close too (watches complete with NOTIFY_CLEANUP).
        drop_session(st, sid);
    } else {
        st.sessions.remove(&sid);
        super::sessions::unregister(sid);
    }
}

/// PreviousSessionId (MS-SMB2 3.3.5.5.3): the client's old session of the same
/// user ends, with its (non-durable) opens: here when it is on this
/// connection, else at its connection's next request on it.
fn end_previous(st: &mut ConnState, prev: u64, sid: u64, user: &str) {
    if prev == 0 || prev == sid {
        return;
    }
    if st.sessions.get(&prev).is_some_and(|s| s.user == user) {
        drop_session(st, prev);
    } else {
        super::sessions::revoke_previous(prev, user);
    }
}

/// Ends a session of this connection: its opens, pipes and registration.
pub(crate) fn drop_session(st: &mut ConnState, sid: u64) {
    super::pending::end_session(st, sid);
    super::sessions::unregister(sid);
}

/// Re-authentication as guest or anonymous: the session keeps its keys.
fn reauth_guest(sess: &mut Session, anonymous: bool) -> u16 {
    sess.reauth = None;
    sess.guest = true;
    sess.user = if anonymous {
        String::new()
    } else {
        "guest".into()
    };
    sess.cred = Cred {
        uid: super::access::GUEST_ID,
        gid: super::access::GUEST_ID,
        gids: Vec::new(),
    };
    if anonymous {
        dittofs_smb_wire::session::SESSION_FLAG_IS_NULL
    } else {
        dittofs_smb_wire::session::SESSION_FLAG_IS_GUEST
    }
}

pub fn logoff(ctx: &SmbContext, st: &mut ConnState, call: &Call) -> Result<Reply, u32> {
    // Durable opens outlive a LOGOFF (smbtorture durable-open.reopen4, as Samba).
    super::durable::park_session(ctx, st, call.session_id);
    st.opens.retain(|_, o| o.session_id != call.session_id);
    let mut body = Vec::new();
    encode_empty(&mut body);
    ok(body)
}

/// The client's SPNEGO mechListMIC, when it sent one over a MechTypeList,
/// checked with the new session key; `Ok` carries the server's MIC for the
/// accept token (a new session, a re-authentication or a channel bind,
/// `bind.rs`). `Err`: the MIC does not verify (STATUS_LOGON_FAILURE).
pub(crate) fn mech_list_mic(
    key: &[u8; 16],
    flags: u32,
    token: &ClientToken,
    mech_types_der: Option<&[u8]>,
) -> Result<Option<[u8; 16]>, ()> {
    let client_mic = match token {
        ClientToken::Resp { mech_list_mic, .. } => mech_list_mic.as_deref(),
        _ => None,
    };
    match (client_mic, mech_types_der) {
        (Some(mic), Some(der)) => {
            if !ntlm::verify_mech_list_mic(key, flags, der, mic) {
                return Err(());
            }
            Ok(Some(ntlm::gss_get_mic(key, flags, false, 0, der)))
        }
        _ => Ok(None),
    }
}
