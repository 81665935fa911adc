//! Multichannel: binding a connection to a session of another connection
//! (MS-SMB2 3.3.5.5.2) and running the requests of such a bound channel.
//!
//! Why forwarding instead of sharing the session: a connection's `ConnState`
//! (sessions, trees, opens) is owned by its task on one core and never
//! locked, and a channel usually lands on another connection, maybe another
//! core. So the home connection publishes what a bind needs (`sessions.rs`,
//! [`Bindable`]); the channel keeps only its own signing key (derived from
//! the bind's own NTLM exchange, 3.1.1 with the channel's preauth hash),
//! verifies (or decrypts, with the session's keys) each request, hands the
//! plain request to the home connection loop through a bounded queue, and
//! signs (or encrypts) the response the home loop ran, on its own socket with
//! its own credits. Breaks, notifications and the finals of async operations
//! keep going out on the home connection. The home connection ending ends
//! the session (its queue closes; the channel answers USER_SESSION_DELETED);
//! a channel ending leaves the session alone.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use dittofs_smb_wire::auth::ntlm::{self, AuthenticateMessage};
use dittofs_smb_wire::auth::spnego;
use dittofs_smb_wire::crypto::{self, derive_keys, PreauthHash, SigningAlgorithm};
use dittofs_smb_wire::header::{compound_offsets, join_compound, Command, Header};
use dittofs_smb_wire::negotiate::{DIALECT_300, DIALECT_311};
use dittofs_smb_wire::session::{SessionSetupRequest, SESSION_FLAG_BINDING};
use dittofs_smb_wire::status::*;
use futures_channel::oneshot;
use futures_lite::FutureExt;

use super::dispatch::{Call, FrameResult};
use super::sessions::{self, Bindable, ChannelSlot, Forwarded, HomeSender};
use super::state::{Auth, ConnState};
use super::{error_reply, random_bytes, Reply, SmbContext};

/// SMB2 header length (a request body starts there).
const HEADER_BYTES: usize = 64;
/// Longest a channel waits for its home connection to answer a request.
const FORWARD_WAIT_MS: u64 = 120_000;

/// A session of another connection bound (or being bound) to this one.
pub struct Channel {
    pub info: Arc<Bindable>,
    home: HomeSender,
    /// `Challenged` during the bind, `Valid` once bound.
    auth: Auth,
    /// This channel's preauth integrity hash (3.1.1 key derivation).
    preauth: PreauthHash,
    signing_algo: SigningAlgorithm,
    signing_key: Vec<u8>,
    /// Holds a place among the session's channels while bound.
    _slot: Option<ChannelSlot>,
    nonce_salt: [u8; 4],
}

impl Channel {
    fn valid(&self) -> bool {
        matches!(self.auth, Auth::Valid)
    }
}

/// Publishes session `sid` of this connection (just authenticated) as bindable.
pub(crate) fn publish(st: &ConnState, sid: u64) {
    let (Some(home), Some(s)) = (st.home.clone(), st.sessions.get(&sid)) else {
        return;
    };
    sessions::publish(
        sid,
        Bindable {
            dialect: st.dialect,
            signing_algo: s.signing_algo,
            cipher: st.cipher,
            client_guid: st.client_guid,
            user: s.user.clone(),
            signing_key: s.signing_key.clone(),
            encryption_key: s.encryption_key.clone(),
            decryption_key: s.decryption_key.clone(),
            home,
            channels: Default::default(),
            alive: std::sync::atomic::AtomicBool::new(true),
        },
    );
}

/// This connection's signing algorithm (what a channel signs with).
fn conn_algo(st: &ConnState) -> SigningAlgorithm {
    SigningAlgorithm::for_dialect(st.dialect, st.signing_ctx).unwrap_or(SigningAlgorithm::AesCmac)
}

/// The checks of 3.3.5.5.2 in Samba's order and with its statuses
/// (smbtorture smb2.session.bind_negative_*).
fn refuse(st: &ConnState, info: &Bindable) -> Result<(), u32> {
    let gmac = SigningAlgorithm::AesGmac;
    let algo = conn_algo(st);
    if info.signing_algo == gmac && algo != gmac {
        return Err(STATUS_REQUEST_OUT_OF_SEQUENCE);
    }
    if algo == gmac && info.signing_algo != gmac {
        return Err(STATUS_NOT_SUPPORTED);
    }
    if st.dialect < DIALECT_300 {
        return Err(STATUS_REQUEST_NOT_ACCEPTED);
    }
    if info.dialect != st.dialect || info.cipher != st.cipher {
        return Err(STATUS_INVALID_PARAMETER);
    }
    if info.signing_key.is_empty() {
        // A guest or anonymous session has no key to prove the bind with.
        return Err(STATUS_NOT_SUPPORTED);
    }
    Ok(())
}

/// A bind request must be signed with the session's key (3.3.5.2.4).
fn check_signed(st: &ConnState, info: &Bindable, hdr: &Header, msg: &[u8]) -> Result<(), u32> {
    if !hdr.is_signed() {
        return Err(STATUS_ACCESS_DENIED);
    }
    let ok = |algo| crypto::verify(algo, &info.signing_key, msg).unwrap_or(false);
    if ok(info.signing_algo) || ok(conn_algo(st)) {
        Ok(())
    } else {
        Err(STATUS_ACCESS_DENIED)
    }
}

/// SESSION_SETUP with SMB2_SESSION_FLAG_BINDING.
pub(crate) async fn setup(
    ctx: &SmbContext,
    st: &mut ConnState,
    call: &mut Call,
    hdr: &Header,
    req: &SessionSetupRequest<'_>,
    msg: &[u8],
) -> Result<Reply, u32> {
    let sid = hdr.session_id;
    call.session_id = sid;
    if sid == 0 {
        return Err(STATUS_INVALID_PARAMETER);
    }
    if st.sessions.contains_key(&sid) {
        // Already this connection's own session.
        return Err(STATUS_REQUEST_NOT_ACCEPTED);
    }
    if let Some(ch) = st.channels.get(&sid) {
        st.bind_signer = Some((ch.info.signing_algo, ch.info.signing_key.clone()));
        if ch.valid() {
            // Bound already (smbtorture bind_negative_*: a second bind).
            return Err(STATUS_ACCESS_DENIED);
        }
        let info = ch.info.clone();
        check_signed(st, &info, hdr, msg)?;
        return match authenticate(ctx, st, sid, req, msg).await {
            Ok(r) => Ok(r),
            Err(status) => {
                st.channels.remove(&sid);
                Err(status)
            }
        };
    }
    let Some(info) = sessions::lookup(sid) else {
        return Err(STATUS_USER_SESSION_DELETED);
    };
    st.bind_signer = Some((info.signing_algo, info.signing_key.clone()));
    if let Err(status) = refuse(st, &info) {
        log::info!("SMB bind of session {sid:#x} refused: {status:#x}");
        return Err(status);
    }
    check_signed(st, &info, hdr, msg)?;
    let token =
        spnego::decode_client_token(req.security_buffer).map_err(|_| STATUS_INVALID_PARAMETER)?;
    let Some(ntlm_msg) = token.ntlmssp().map(<[u8]>::to_vec) else {
        return Err(STATUS_LOGON_FAILURE);
    };
    let (challenged, body) = super::negotiate::challenge(&token, ntlm_msg)?;
    let mut preauth = st.preauth;
    preauth.update(msg);
    st.channels.insert(
        sid,
        Channel {
            home: info.home.clone(),
            info,
            auth: challenged,
            preauth,
            signing_algo: conn_algo(st),
            signing_key: Vec::new(),
            _slot: None,
            nonce_salt: random_bytes(),
        },
    );
    Ok((STATUS_MORE_PROCESSING_REQUIRED, body))
}

/// The AUTHENTICATE of a bind: the same user as the session's, proven anew;
/// the channel's signing key comes from this exchange's session key.
async fn authenticate(
    ctx: &SmbContext,
    st: &mut ConnState,
    sid: u64,
    req: &SessionSetupRequest<'_>,
    msg: &[u8],
) -> Result<Reply, u32> {
    let token =
        spnego::decode_client_token(req.security_buffer).map_err(|_| STATUS_INVALID_PARAMETER)?;
    let Some(ntlm_msg) = token.ntlmssp().map(<[u8]>::to_vec) else {
        return Err(STATUS_LOGON_FAILURE);
    };
    let auth = AuthenticateMessage::decode(&ntlm_msg).map_err(|_| STATUS_INVALID_PARAMETER)?;
    if auth.is_anonymous() {
        return Err(STATUS_ACCESS_DENIED);
    }
    let Some(user) = ctx.users.lookup(&auth.user).await else {
        log::info!("SMB bind refused: unknown user {:?}", auth.user);
        return Err(STATUS_LOGON_FAILURE);
    };
    let (dialect, cipher) = (st.dialect, st.cipher);
    let Some(ch) = st.channels.get_mut(&sid) else {
        return Err(STATUS_USER_SESSION_DELETED);
    };
    let Auth::Challenged {
        negotiate_msg,
        challenge_msg,
        server_challenge,
        mech_types_der,
        spnego: use_spnego,
    } = &ch.auth
    else {
        return Err(STATUS_INVALID_PARAMETER);
    };
    let verified = ntlm::verify_ntlmv2(
        &user.nt_hash,
        server_challenge,
        &auth,
        negotiate_msg,
        challenge_msg,
        &ntlm_msg,
    )
    .map_err(|e| {
        log::info!("SMB bind refused for {:?}: {e}", auth.user);
        STATUS_LOGON_FAILURE
    })?;
    if user.name != ch.info.user {
        // 3.3.5.5.2: another user than the session's.
        return Err(STATUS_ACCESS_DENIED);
    }
    let key = verified.exported_session_key;
    let server_mic =
        super::negotiate::mech_list_mic(&key, auth.flags, &token, mech_types_der.as_deref())
            .map_err(|()| STATUS_LOGON_FAILURE)?;
    let use_spnego = *use_spnego;
    let Some(slot) = ChannelSlot::take(&ch.info) else {
        return Err(STATUS_INSUFFICIENT_RESOURCES);
    };
    ch.preauth.update(msg);
    let keys = derive_keys(
        dialect,
        &key,
        (dialect == DIALECT_311).then_some(&ch.preauth.0),
        cipher,
    );
    ch.signing_key = keys.signing;
    ch._slot = Some(slot);
    ch.auth = Auth::Valid;
    // The final response proves the channel key (the client checks it so).
    st.bind_signer = Some((ch.signing_algo, ch.signing_key.clone()));
    log::info!("SMB session {sid:#x} bound to another connection");
    Ok((
        STATUS_SUCCESS,
        super::negotiate::completed(use_spnego, server_mic.as_ref().map(|m| &m[..]), 0),
    ))
}

/// A SESSION_SETUP without the binding flag naming a session of another
/// connection: its USER_SESSION_DELETED is signed with that session's key,
/// as Samba answers after a lookup in its global table (smbtorture
/// bind_negative_*: the client requires the signed flag there).
pub(crate) fn sign_as_session(st: &mut ConnState, sid: u64) {
    if let Some(info) = sessions::lookup(sid) {
        st.bind_signer = Some((info.signing_algo, info.signing_key.clone()));
    }
}

/// Signs the response to a bind with `st.bind_signer` (taken) and feeds an
/// interim one to the channel's preauth hash. False when it was no bind.
pub(crate) fn sign_setup_response(
    st: &mut ConnState,
    sid: u64,
    status: u32,
    out: &mut [u8],
) -> bool {
    let Some((algo, key)) = st.bind_signer.take() else {
        return false;
    };
    if !key.is_empty() {
        let _ = crypto::sign(algo, &key, out);
    }
    if status == STATUS_MORE_PROCESSING_REQUIRED {
        if let Some(ch) = st.channels.get_mut(&sid) {
            ch.preauth.update(out);
        }
    }
    true
}

/// The keys to decrypt a TRANSFORM of a session bound to this connection.
pub(crate) fn decryption_key(st: &ConnState, sid: u64) -> Option<&[u8]> {
    st.channels
        .get(&sid)
        .filter(|c| c.valid())
        .map(|c| &c.info.decryption_key[..])
}

/// Error responses to each request of `parts`, built here (sent unsigned).
fn local_errors(st: &mut ConnState, parts: &[(Header, &[u8])], status: u32) -> FrameResult {
    let mut out = Vec::new();
    for (h, _) in parts {
        if h.command == Command::Cancel as u16 {
            continue;
        }
        let mut r = h.response(status, st.credits.grant(h.credits.max(1)));
        r.session_id = h.session_id;
        let mut m = Vec::new();
        r.encode(&mut m);
        m.extend_from_slice(&error_reply(status).1);
        out.push(m);
    }
    if out.is_empty() {
        return FrameResult::NoReply;
    }
    FrameResult::Reply(join_compound(&out))
}

/// A frame of a bound channel's session (anything but SESSION_SETUP and
/// NEGOTIATE): verified here, run by the home connection, sealed here.
/// `None`: not such a frame (the caller handles it as usual).
pub(crate) async fn forward(
    st: &mut ConnState,
    parts: &[(Header, &[u8])],
    msg: &[u8],
    encrypted: Option<u64>,
) -> Option<FrameResult> {
    let sid = parts.first()?.0.session_id;
    let ch = st.channels.get(&sid)?;
    if !ch.valid() {
        return None;
    }
    if !ch.info.alive.load(Ordering::Relaxed) {
        // The session ended at home (LOGOFF, failed re-authentication).
        st.channels.remove(&sid);
        return Some(local_errors(st, parts, STATUS_USER_SESSION_DELETED));
    }
    // A bind is handled here (`setup`); a re-authentication on the channel
    // runs at home like any request (a failed one ends the session,
    // smbtorture session.bind_invalid_auth).
    let binding = |m: &[u8]| {
        m.get(HEADER_BYTES + 2)
            .is_some_and(|f| f & SESSION_FLAG_BINDING != 0)
    };
    if parts.iter().any(|(h, m)| {
        matches!(h.cmd(), Some(Command::Negotiate) | None)
            || (h.cmd() == Some(Command::SessionSetup) && binding(m))
            || h.is_response()
    }) {
        return None;
    }
    for (h, _) in parts {
        if h.command != Command::Cancel as u16 && !st.credits.consume(h.message_id, h.credit_charge)
        {
            return Some(FrameResult::Close("message id outside the granted credits"));
        }
    }
    let ch = st.channels.get(&sid)?;
    let verified = encrypted == Some(sid)
        || parts.iter().all(|(h, m)| {
            // Signed with the channel key, re-authentications too (an
            // unsigned one is refused: smbtorture bind_negative_*).
            h.is_signed() && crypto::verify(ch.signing_algo, &ch.signing_key, m).unwrap_or(false)
        });
    if !verified {
        log::info!(
            "SMB channel of session {sid:#x}: {:?} request not signed with the channel key (signed flag {})",
            parts[0].0.cmd(),
            parts[0].0.is_signed()
        );
        let signer = (ch.info.signing_algo, ch.info.signing_key.clone());
        let setup = parts
            .iter()
            .any(|(h, _)| h.cmd() == Some(Command::SessionSetup));
        let reply = local_errors(st, parts, STATUS_ACCESS_DENIED);
        // A SESSION_SETUP signed with the session's key instead (a second
        // "channel" without a bind): ACCESS_DENIED signed with that key, as
        // Samba answers (the client checks it with the session key).
        return Some(match reply {
            FrameResult::Reply(mut m) if setup => {
                if let Ok(offsets) = compound_offsets(&m) {
                    for (at, len) in offsets {
                        let _ = crypto::sign(signer.0, &signer.1, &mut m[at..at + len]);
                    }
                }
                FrameResult::Reply(m)
            }
            other => other,
        });
    }
    let (tx, rx) = oneshot::channel();
    let mut home = ch.home.clone();
    if let Err(e) = home.try_send(Forwarded {
        msg: msg.to_vec(),
        reply: tx,
    }) {
        if e.is_disconnected() {
            // The home connection ended, and the session with it.
            st.channels.remove(&sid);
            return Some(local_errors(st, parts, STATUS_USER_SESSION_DELETED));
        }
        return Some(local_errors(st, parts, STATUS_INSUFFICIENT_RESOURCES));
    }
    let answer = async { rx.await.ok() }
        .or(async {
            glommio::timer::sleep(std::time::Duration::from_millis(FORWARD_WAIT_MS)).await;
            None
        })
        .await;
    match answer {
        Some(Some(joined)) => match seal(st, sid, joined, parts, encrypted) {
            Ok(m) => Some(FrameResult::Reply(m)),
            Err(why) => Some(FrameResult::Close(why)),
        },
        Some(None) => Some(FrameResult::NoReply),
        None => {
            st.channels.remove(&sid);
            Some(local_errors(st, parts, STATUS_USER_SESSION_DELETED))
        }
    }
}

/// Gives the home connection's response chain this channel's credits and
/// signs (or encrypts) it for this channel.
fn seal(
    st: &mut ConnState,
    sid: u64,
    mut joined: Vec<u8>,
    parts: &[(Header, &[u8])],
    encrypted: Option<u64>,
) -> Result<Vec<u8>, &'static str> {
    let offsets = compound_offsets(&joined).map_err(|_| "bad forwarded response")?;
    for (at, _) in &offsets {
        let Some(mid) = joined.get(at + 24..at + 32) else {
            return Err("bad forwarded response");
        };
        let mid = u64::from_le_bytes(mid.try_into().unwrap_or_default());
        let requested = parts
            .iter()
            .find(|(h, _)| h.message_id == mid)
            .map_or(1, |(h, _)| h.credits.max(1));
        let granted = st.credits.grant(requested);
        joined[at + 14..at + 16].copy_from_slice(&granted.to_le_bytes());
    }
    let cipher = st.cipher;
    let Some(ch) = st.channels.get_mut(&sid) else {
        return Err("channel gone");
    };
    if encrypted.is_some() {
        let Some(cipher) = cipher else {
            return Err("no cipher");
        };
        let nonce = crypto::make_nonce(cipher, super::state::next_nonce_counter(), ch.nonce_salt);
        return crypto::encrypt(cipher, &ch.info.encryption_key, &nonce, sid, &joined)
            .map_err(|_| "encryption failed");
    }
    for (at, len) in offsets {
        crypto::sign(ch.signing_algo, &ch.signing_key, &mut joined[at..at + len])
            .map_err(|_| "signing failed")?;
    }
    Ok(joined)
}

#[cfg(test)]
mod tests {
    use super::*;
    use dittofs_smb_wire::crypto::Cipher;
    use dittofs_smb_wire::negotiate::{DIALECT_210, DIALECT_302};

    fn session(dialect: u16, algo: SigningAlgorithm, cipher: Option<Cipher>) -> Bindable {
        Bindable {
            dialect,
            signing_algo: algo,
            cipher,
            client_guid: [0; 16],
            user: "alice".into(),
            signing_key: vec![7; 16],
            encryption_key: Vec::new(),
            decryption_key: Vec::new(),
            home: sessions::home_channel().0,
            channels: Default::default(),
            alive: std::sync::atomic::AtomicBool::new(true),
        }
    }

    fn conn(dialect: u16, signing_ctx: Option<u16>, cipher: Option<Cipher>) -> ConnState {
        let mut st = ConnState::default();
        st.dialect = dialect;
        st.signing_ctx = signing_ctx;
        st.cipher = cipher;
        st
    }

    #[test]
    fn bind_checks_in_samba_order() {
        use dittofs_smb_wire::negotiate::{
            SIGNING_AES_CMAC, SIGNING_AES_GMAC, SIGNING_HMAC_SHA256,
        };
        use SigningAlgorithm::*;
        let gcm = Some(Cipher::Aes128Gcm);
        // 2.x on either side: not accepted (smb202, smb210, smb3to2).
        let s210 = session(DIALECT_210, HmacSha256, None);
        assert_eq!(
            refuse(&conn(DIALECT_210, None, None), &s210),
            Err(STATUS_REQUEST_NOT_ACCEPTED)
        );
        let s311 = session(DIALECT_311, AesCmac, None);
        assert_eq!(
            refuse(&conn(DIALECT_210, None, None), &s311),
            Err(STATUS_REQUEST_NOT_ACCEPTED)
        );
        // Another dialect or cipher (smb2to3, smb3to3, encGtoC).
        assert_eq!(
            refuse(&conn(DIALECT_311, Some(SIGNING_AES_CMAC), None), &s210),
            Err(STATUS_INVALID_PARAMETER)
        );
        assert_eq!(
            refuse(&conn(DIALECT_302, None, None), &s311),
            Err(STATUS_INVALID_PARAMETER)
        );
        let s311g = session(DIALECT_311, AesCmac, gcm);
        assert_eq!(
            refuse(
                &conn(DIALECT_311, Some(SIGNING_AES_CMAC), Some(Cipher::Aes128Ccm)),
                &s311g
            ),
            Err(STATUS_INVALID_PARAMETER)
        );
        // GMAC on one side only: checked first (sneGtoC, signCtoG).
        let gmac = session(DIALECT_311, AesGmac, None);
        assert_eq!(
            refuse(&conn(DIALECT_311, Some(SIGNING_AES_CMAC), None), &gmac),
            Err(STATUS_REQUEST_OUT_OF_SEQUENCE)
        );
        assert_eq!(
            refuse(&conn(DIALECT_210, None, None), &gmac),
            Err(STATUS_REQUEST_OUT_OF_SEQUENCE)
        );
        assert_eq!(
            refuse(&conn(DIALECT_311, Some(SIGNING_AES_GMAC), None), &s311),
            Err(STATUS_NOT_SUPPORTED)
        );
        // CMAC and HMAC channels of one session may differ (signCtoH).
        assert_eq!(
            refuse(&conn(DIALECT_311, Some(SIGNING_HMAC_SHA256), None), &s311),
            Ok(())
        );
        assert_eq!(
            refuse(
                &conn(DIALECT_311, Some(SIGNING_AES_GMAC), gcm),
                &session(DIALECT_311, AesGmac, gcm)
            ),
            Ok(())
        );
    }

    #[test]
    fn channel_slots_are_bounded_and_released() {
        let b = Arc::new(session(DIALECT_311, SigningAlgorithm::AesCmac, None));
        let slots: Vec<_> = (0..sessions::CHANNELS_MAX)
            .map(|_| ChannelSlot::take(&b).expect("room"))
            .collect();
        assert!(ChannelSlot::take(&b).is_none());
        drop(slots);
        assert!(ChannelSlot::take(&b).is_some());
    }
}
