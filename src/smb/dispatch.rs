//! One transport frame in, one frame out: SMB1 upgrade, decryption, the compound
//! chain, credit enforcement, signature checks, the per-command handler, then
//! signing and encryption of the responses.

use std::net::SocketAddr;

use dittofs_smb_wire::create::FileId;
use dittofs_smb_wire::crypto::{self, SigningAlgorithm};
use dittofs_smb_wire::frame::{message_kind, MessageKind};
use dittofs_smb_wire::header::{join_compound, split_compound, Command, Header};
use dittofs_smb_wire::status::*;
use dittofs_smb_wire::transform::TransformHeader;
use dittofs_smb_wire::Request;

use super::state::{Auth, ConnState};
use super::{error_reply, negotiate, Reply, SmbContext};

/// Longest compound chain accepted.
const COMPOUND_MAX: usize = 64;

/// What to do after a frame.
pub enum FrameResult {
    /// Send this message (without the 4-byte transport header).
    Reply(Vec<u8>),
    /// Nothing to send (CANCEL).
    NoReply,
    /// Close the connection (malformed framing, credit abuse, bad negotiate).
    Close(&'static str),
}

/// The state a request of a compound chain inherits from the previous one.
pub(crate) struct Call {
    pub session_id: u64,
    pub tree_id: u32,
    /// The file id a related request means by `FileId::RELATED`.
    pub last_file_id: Option<FileId>,
    pub local: SocketAddr,
}

impl Call {
    /// The file id a request names, resolving the related-chain placeholder.
    pub fn file_id(&self, id: FileId) -> Result<u64, u32> {
        if id == FileId::RELATED {
            return self
                .last_file_id
                .map(|f| f.volatile)
                .ok_or(STATUS_FILE_CLOSED);
        }
        Ok(id.volatile)
    }
}

/// Handles one frame of a connection.
pub async fn handle_frame(
    ctx: &SmbContext,
    st: &mut ConnState,
    local: SocketAddr,
    frame: &[u8],
) -> FrameResult {
    match message_kind(frame) {
        Ok(MessageKind::Smb1) => negotiate::smb1(ctx, st, frame),
        Ok(MessageKind::Smb2) => process(ctx, st, local, frame, None).await,
        Ok(MessageKind::Transform) => {
            let Ok((th, _)) = TransformHeader::decode(frame) else {
                return FrameResult::Close("bad transform header");
            };
            let (Some(cipher), Some(sess)) = (st.cipher, st.sessions.get(&th.session_id)) else {
                return FrameResult::Close("transform for an unknown session");
            };
            match crypto::decrypt(cipher, &sess.decryption_key, frame) {
                Ok((_, plain)) => process(ctx, st, local, &plain, Some(th.session_id)).await,
                Err(_) => FrameResult::Close("decryption failed"),
            }
        }
        Ok(MessageKind::Compressed) | Err(_) => FrameResult::Close("not an SMB2 message"),
    }
}

async fn process(
    ctx: &SmbContext,
    st: &mut ConnState,
    local: SocketAddr,
    msg: &[u8],
    encrypted: Option<u64>,
) -> FrameResult {
    let Ok(parts) = split_compound(msg, COMPOUND_MAX) else {
        return FrameResult::Close("bad compound chain");
    };
    let mut call = Call {
        session_id: 0,
        tree_id: 0,
        last_file_id: None,
        local,
    };
    let mut responses: Vec<Vec<u8>> = Vec::with_capacity(parts.len());
    let mut signers: Vec<Option<(SigningAlgorithm, Vec<u8>)>> = Vec::new();
    let mut prev_status = STATUS_SUCCESS;
    let mut encrypt_with: Option<u64> = encrypted;
    for (i, (hdr, m)) in parts.iter().enumerate() {
        if hdr.is_response() {
            return FrameResult::Close("a response sent to the server");
        }
        if hdr.command == Command::Cancel as u16 {
            // Nothing runs asynchronously, so there is never anything to cancel;
            // CANCEL consumes no credit and gets no reply.
            continue;
        }
        if !st.credits.consume(hdr.message_id, hdr.credit_charge) {
            log::debug!(
                "message id {} (charge {}) outside the credit window",
                hdr.message_id,
                hdr.credit_charge
            );
            return FrameResult::Close("message id outside the granted credits");
        }
        let related = i > 0 && hdr.is_related();
        if !related {
            call.session_id = hdr.session_id;
            call.tree_id = hdr.tree_id;
            call.last_file_id = None;
        }
        let admitted = super::throttle::admit(ctx, st, &call, m.len()).await;
        let started = std::time::Instant::now();
        let mut sign_response = false;
        let reply: Reply = if related && prev_status != STATUS_SUCCESS {
            error_reply(prev_status)
        } else {
            match check_session(st, hdr, m, encrypted) {
                Err(status) => error_reply(status),
                Ok(signed) => {
                    sign_response = signed;
                    run(ctx, st, &mut call, hdr, m).await
                }
            }
        };
        let (status, body) = reply;
        super::throttle::charge_response(ctx, admitted, body.len());
        super::observe::request(hdr, m, status, &body, started, st.peer);
        prev_status = status;
        let mut h = hdr.response(status, 0);
        h.session_id = call.session_id;
        h.tree_id = call.tree_id;
        let requested = hdr.credits.max(1);
        h.credits = st.credits.grant(super::throttle::credits(
            ctx, st, &call, admitted, requested,
        ));
        let mut out = Vec::with_capacity(64 + body.len());
        h.encode(&mut out);
        out.extend_from_slice(&body);
        let cmd = hdr.cmd();
        if cmd == Some(Command::Negotiate) && st.dialect == dittofs_smb_wire::negotiate::DIALECT_311
        {
            st.preauth.update(&out);
        }
        if cmd == Some(Command::SessionSetup) && status == STATUS_MORE_PROCESSING_REQUIRED {
            if let Some(s) = st.sessions.get_mut(&call.session_id) {
                s.preauth.update(&out);
            }
        }
        let mut signer = None;
        if let Some(s) = st.sessions.get(&call.session_id) {
            if matches!(s.auth, Auth::Valid) && status != STATUS_MORE_PROCESSING_REQUIRED {
                let final_setup = cmd == Some(Command::SessionSetup) && status == STATUS_SUCCESS;
                let want = s.signing_required
                    || sign_response
                    || (final_setup && st.dialect == dittofs_smb_wire::negotiate::DIALECT_311);
                if s.encrypt && encrypt_with.is_none() && !final_setup {
                    encrypt_with = Some(call.session_id);
                }
                // Guest and anonymous sessions have no key: never signed.
                if want && encrypt_with.is_none() && !s.signing_key.is_empty() {
                    signer = Some((s.signing_algo, s.signing_key.clone()));
                }
            }
        }
        if cmd == Some(Command::Logoff) && status == STATUS_SUCCESS {
            st.sessions.remove(&call.session_id);
        }
        responses.push(out);
        signers.push(signer);
    }
    if responses.is_empty() {
        return FrameResult::NoReply;
    }
    let mut joined = join_compound(&responses);
    if let Ok(offsets) = dittofs_smb_wire::header::compound_offsets(&joined) {
        for ((at, len), signer) in offsets.into_iter().zip(&signers) {
            if let Some((algo, key)) = signer {
                if crypto::sign(*algo, key, &mut joined[at..at + len]).is_err() {
                    return FrameResult::Close("signing failed");
                }
            }
        }
    }
    if let Some(sid) = encrypt_with {
        let (Some(cipher), Some(s)) = (st.cipher, st.sessions.get_mut(&sid)) else {
            return FrameResult::Reply(joined);
        };
        s.nonce_counter += 1;
        let nonce = crypto::make_nonce(cipher, s.nonce_counter, s.nonce_salt);
        return match crypto::encrypt(cipher, &s.encryption_key, &nonce, sid, &joined) {
            Ok(e) => FrameResult::Reply(e),
            Err(_) => FrameResult::Close("encryption failed"),
        };
    }
    FrameResult::Reply(joined)
}

/// Signature/encryption policy for a request on an established session. `Ok(true)`
/// when the request was signed (so the response is signed too).
fn check_session(
    st: &ConnState,
    hdr: &Header,
    msg: &[u8],
    encrypted: Option<u64>,
) -> Result<bool, u32> {
    let cmd = hdr.cmd();
    if matches!(cmd, Some(Command::Negotiate)) {
        return Ok(false);
    }
    let Some(s) = st.sessions.get(&hdr.session_id) else {
        return Ok(false);
    };
    if !matches!(s.auth, Auth::Valid) {
        return Ok(false);
    }
    if let Some(sid) = encrypted {
        return if sid == hdr.session_id || hdr.session_id == 0 {
            Ok(false)
        } else {
            Err(STATUS_ACCESS_DENIED)
        };
    }
    if s.encrypt && !matches!(cmd, Some(Command::SessionSetup)) {
        return Err(STATUS_ACCESS_DENIED);
    }
    if hdr.is_signed() {
        return match crypto::verify(s.signing_algo, &s.signing_key, msg) {
            Ok(true) => Ok(true),
            _ => Err(STATUS_ACCESS_DENIED),
        };
    }
    if s.signing_required && !matches!(cmd, Some(Command::SessionSetup)) {
        return Err(STATUS_ACCESS_DENIED);
    }
    Ok(false)
}

/// Decodes and runs one request.
async fn run(
    ctx: &SmbContext,
    st: &mut ConnState,
    call: &mut Call,
    hdr: &Header,
    m: &[u8],
) -> Reply {
    let req = match Request::decode(m) {
        Ok((_, r)) => r,
        Err(e) => {
            log::debug!("bad {:?} request: {e}", hdr.cmd());
            return error_reply(STATUS_INVALID_PARAMETER);
        }
    };
    if !st.negotiated && !matches!(req, Request::Negotiate(_)) {
        return error_reply(STATUS_INVALID_PARAMETER);
    }
    let needs_session = !matches!(
        req,
        Request::Negotiate(_) | Request::SessionSetup(_) | Request::Echo
    );
    if needs_session {
        match st.sessions.get(&call.session_id) {
            Some(s) if matches!(s.auth, Auth::Valid) => {}
            _ => return error_reply(STATUS_USER_SESSION_DELETED),
        }
    }
    if let Err(status) = super::access::check_request(ctx, st, call, &req).await {
        return error_reply(status);
    }
    let result = match req {
        Request::Negotiate(r) => negotiate::negotiate(ctx, st, &r, m),
        Request::SessionSetup(r) => negotiate::session_setup(ctx, st, call, hdr, &r, m).await,
        Request::Logoff => negotiate::logoff(st, call),
        Request::TreeConnect(r) => super::tree::connect(ctx, st, call, &r).await,
        Request::TreeDisconnect => super::tree::disconnect(st, call),
        Request::Create(r) => super::create::create(ctx, st, call, &r).await,
        Request::Close(r) => super::create::close(ctx, st, call, &r).await,
        Request::Flush(r) => super::io::flush(ctx, st, call, &r).await,
        Request::Read(r) => super::io::read(ctx, st, call, &r).await,
        Request::Write(r) => super::io::write(ctx, st, call, &r).await,
        Request::QueryDirectory(r) => super::dir::query_directory(ctx, st, call, &r).await,
        Request::QueryInfo(r) => super::info::query_info(ctx, st, call, &r).await,
        Request::SetInfo(r) => super::info::set_info(ctx, st, call, &r).await,
        Request::Ioctl(r) => super::misc::ioctl(ctx, st, call, &r),
        Request::Echo => super::misc::echo(),
        Request::Cancel => super::misc::echo(),
        Request::Lock(_) | Request::ChangeNotify(_) | Request::OplockBreak(_) => {
            Err(STATUS_NOT_SUPPORTED)
        }
    };
    match result {
        Ok(reply) => reply,
        Err(status) => error_reply(status),
    }
}
