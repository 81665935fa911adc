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

use super::outbox::Outbound;
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
    /// Not handled yet: requests are in flight (`pipeline.rs`) and this frame
    /// must follow them; complete them, then hand the same frame in again.
    Drain,
}

/// The state a request of a compound chain inherits from the previous one.
pub(crate) struct Call {
    pub session_id: u64,
    pub tree_id: u32,
    /// The file id a related request means by `FileId::RELATED`.
    pub last_file_id: Option<FileId>,
    pub local: SocketAddr,
    /// The request was signed (so its async final response is signed too).
    pub signed: bool,
    /// Set by a handler that went async: its response is the interim one.
    pub async_id: Option<u64>,
    /// More requests follow in this compound: the request may not go async
    /// (it fails with STATUS_INTERNAL_ERROR instead, as Windows and Samba
    /// answer; MS-SMB2 <159>, smbtorture smb2.compound.interim2).
    pub more_follow: bool,
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
        Ok(MessageKind::Smb1) if st.pipeline.inflight() > 0 => FrameResult::Drain,
        Ok(MessageKind::Smb1) => negotiate::smb1(ctx, st, frame),
        Ok(MessageKind::Smb2) => process(ctx, st, local, frame, None, false).await,
        Ok(MessageKind::Transform) => {
            let Ok((th, _)) = TransformHeader::decode(frame) else {
                return FrameResult::Close("bad transform header");
            };
            let key = match st.sessions.get(&th.session_id) {
                Some(sess) => Some(&sess.decryption_key[..]),
                // A session bound to this connection (`bind.rs`).
                None => super::bind::decryption_key(st, th.session_id),
            };
            let (Some(cipher), Some(key)) = (st.cipher, key) else {
                return FrameResult::Close("transform for an unknown session");
            };
            match crypto::decrypt(cipher, key, frame) {
                Ok((_, plain)) => {
                    if st.client_encrypts.insert(th.session_id) {
                        let sessions = &st.sessions;
                        st.client_encrypts.retain(|sid| sessions.contains_key(sid));
                    }
                    process(ctx, st, local, &plain, Some(th.session_id), false).await
                }
                Err(_) => FrameResult::Close("decryption failed"),
            }
        }
        Ok(MessageKind::Compressed) | Err(_) => FrameResult::Close("not an SMB2 message"),
    }
}

/// Runs a request a channel bound to one of this connection's sessions
/// forwarded (`bind.rs`): verified there, so no signature or credit checks
/// here; the response chain goes back unsigned, without credits (the
/// channel grants its own). `None`: nothing to send.
pub(crate) async fn process_forwarded(
    ctx: &SmbContext,
    st: &mut ConnState,
    local: SocketAddr,
    msg: &[u8],
) -> Option<Vec<u8>> {
    match process(ctx, st, local, msg, None, true).await {
        FrameResult::Reply(m) => Some(m),
        _ => None,
    }
}

async fn process(
    ctx: &SmbContext,
    st: &mut ConnState,
    local: SocketAddr,
    msg: &[u8],
    encrypted: Option<u64>,
    forwarded: bool,
) -> FrameResult {
    let Ok(parts) = split_compound(msg, COMPOUND_MAX) else {
        return FrameResult::Close("bad compound chain");
    };
    if !forwarded && !st.channels.is_empty() {
        if let Some(r) = super::bind::forward(st, &parts, msg, encrypted).await {
            return r;
        }
    }
    if !forwarded && super::pipeline::detachable(st, &parts) {
        let (hdr, m) = &parts[0];
        if let Some(r) = super::pipeline::start(ctx, st, local, hdr, m, encrypted).await {
            return r;
        }
    }
    // Everything else follows the requests in flight. A CANCEL need not wait,
    // nor an OPLOCK_BREAK acknowledgment: a READ/WRITE in flight may itself be
    // waiting for that acknowledgment (a break of another open of this
    // connection), and an ack touches no open a detached task holds.
    let may_overtake = parts.iter().all(|(h, _)| {
        h.command == Command::Cancel as u16 || h.command == Command::OplockBreak as u16
    });
    if st.pipeline.inflight() > 0
        && !may_overtake
        && !super::pipeline::create_may_overtake(st, &parts)
    {
        return FrameResult::Drain;
    }
    let mut call = Call {
        session_id: 0,
        tree_id: 0,
        last_file_id: None,
        local,
        signed: false,
        async_id: None,
        more_follow: false,
    };
    let mut responses: Vec<Vec<u8>> = Vec::with_capacity(parts.len());
    let mut signers: Vec<Signer> = Vec::new();
    let mut prev_status = STATUS_SUCCESS;
    let mut create_err: Option<u32> = None;
    // The chain began with a related request: all of it is invalid.
    let mut chain_invalid = false;
    let mut encrypt_with: Option<u64> = encrypted;
    for (i, (hdr, m)) in parts.iter().enumerate() {
        if hdr.is_response() {
            return FrameResult::Close("a response sent to the server");
        }
        if hdr.command == Command::Cancel as u16 {
            // CANCEL consumes no credit and gets no reply; the cancelled
            // request answers STATUS_CANCELLED through the outbox.
            st.async_ops.pending.cancel_request(hdr);
            continue;
        }
        if !forwarded && !st.credits.consume(hdr.message_id, hdr.credit_charge) {
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
            chain_invalid = i == 0 && hdr.is_related();
        }
        let admitted = super::throttle::admit(ctx, st, &call, m.len()).await;
        let started = std::time::Instant::now();
        let mut sign_response = false;
        let reply: Reply = if chain_invalid {
            // The first request of a chain has nothing to relate to, and the
            // requests related to it fail with it, as Samba answers
            // (smbtorture smb2.compound.invalid1, related9).
            error_reply(STATUS_INVALID_PARAMETER)
        } else if hdr.cmd().is_none() {
            // An unknown command fails alone, whatever came before
            // (smb2.compound.invalid4).
            error_reply(STATUS_INVALID_PARAMETER)
        } else if related
            && matches!(
                prev_status,
                STATUS_USER_SESSION_DELETED | STATUS_NETWORK_NAME_DELETED
            )
        {
            // A related request after a failed session or tree lookup has no
            // valid session to inherit (smb2.compound.invalid2).
            error_reply(STATUS_INVALID_PARAMETER)
        } else if let (true, Some(status)) = (related, create_err) {
            // After a failed CREATE the rest of the related chain fails with
            // its status; after any other failure it runs
            // (smb2.compound.related6).
            error_reply(status)
        } else {
            let checked = if forwarded {
                Ok(true)
            } else {
                check_session(st, hdr, m, encrypted)
            };
            match checked {
                Err(status) => error_reply(status),
                Ok(signed) => {
                    sign_response = signed;
                    call.signed = signed;
                    call.async_id = None;
                    call.more_follow = i + 1 < parts.len();
                    run(ctx, st, &mut call, hdr, m).await
                }
            }
        };
        let (status, body) = reply;
        super::throttle::charge_response(ctx, admitted, body.len());
        super::observe::request(hdr, m, status, &body, started, st.peer);
        prev_status = status;
        if !related {
            create_err = None;
        }
        if hdr.cmd() == Some(Command::Create) && status != STATUS_SUCCESS {
            create_err = Some(status);
        }
        let mut h = hdr.response(status, 0);
        h.session_id = call.session_id;
        h.tree_id = call.tree_id;
        let requested = hdr.credits.max(1);
        if !forwarded {
            h.credits = st.credits.grant(super::throttle::credits(
                ctx,
                st,
                &call,
                admitted,
                requested,
                hdr.credit_charge,
            ));
        }
        if let Some(async_id) = call.async_id.take() {
            // The interim response of an operation that went async.
            h.flags |= dittofs_smb_wire::header::flags::ASYNC_COMMAND;
            h.async_id = async_id;
        }
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
        let bind_signed = cmd == Some(Command::SessionSetup)
            && super::bind::sign_setup_response(st, call.session_id, status, &mut out);
        if bind_signed || forwarded {
            // Signed already (a bind), or signed by the channel it came on.
        } else if status == STATUS_USER_SESSION_DELETED
            && hdr.is_signed()
            && !st.sessions.contains_key(&call.session_id)
        {
            // A session of another connection, not bound here: signed with
            // its key, as Samba answers from its global table (the client
            // requires the signed flag; smbtorture session.bind2).
            if let Some(info) = super::sessions::lookup(call.session_id) {
                signer = Some((info.signing_algo, info.signing_key.clone()));
            }
        } else if let Some(s) = st.sessions.get(&call.session_id) {
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
        if matches!(
            cmd,
            Some(Command::Close | Command::TreeDisconnect | Command::Logoff)
        ) {
            super::pending::release_closed(st);
        }
        if cmd == Some(Command::Logoff) && status == STATUS_SUCCESS {
            st.sessions.remove(&call.session_id);
            super::sessions::unregister(call.session_id);
            super::ipc::drop_pipes(st, call.session_id, None);
        }
        responses.push(out);
        signers.push(signer);
    }
    if responses.is_empty() {
        return FrameResult::NoReply;
    }
    if forwarded {
        return FrameResult::Reply(join_compound(&responses));
    }
    match seal(st, join_compound(&responses), &signers, encrypt_with) {
        Ok(m) => FrameResult::Reply(m),
        Err(why) => FrameResult::Close(why),
    }
}

/// The key an element of a response is signed with, if any.
pub(crate) type Signer = Option<(SigningAlgorithm, Vec<u8>)>;

/// Signs each element of `joined` (a chain built by `join_compound`) that has a
/// signer, then encrypts the whole for session `encrypt_with`. Shared by
/// ordinary responses and outbox messages so both follow one policy.
pub(crate) fn seal(
    st: &mut ConnState,
    mut joined: Vec<u8>,
    signers: &[Signer],
    encrypt_with: Option<u64>,
) -> Result<Vec<u8>, &'static str> {
    if let Ok(offsets) = dittofs_smb_wire::header::compound_offsets(&joined) {
        for ((at, len), signer) in offsets.into_iter().zip(signers) {
            if let Some((algo, key)) = signer {
                if crypto::sign(*algo, key, &mut joined[at..at + len]).is_err() {
                    return Err("signing failed");
                }
            }
        }
    }
    if let Some(sid) = encrypt_with {
        let (Some(cipher), Some(s)) = (st.cipher, st.sessions.get_mut(&sid)) else {
            return Ok(joined);
        };
        let nonce = crypto::make_nonce(cipher, super::state::next_nonce_counter(), s.nonce_salt);
        return crypto::encrypt(cipher, &s.encryption_key, &nonce, sid, &joined)
            .map_err(|_| "encryption failed");
    }
    Ok(joined)
}

/// Seals a message posted to the outbox with its session's keys: encrypted when
/// the session requires encryption, else signed when asked (or when the session
/// signs everything); sent as is when the session is gone or not yet valid.
pub(crate) fn seal_outbound(st: &mut ConnState, ob: Outbound) -> Result<Vec<u8>, &'static str> {
    if ob.msg.is_empty() {
        // `oplock::Sink`: a break this connection was told to treat as never
        // acknowledged (FSCTL_SMBTORTURE_FORCE_UNACKED_TIMEOUT).
        return Err("oplock break treated as unacknowledged");
    }
    let mut signer = None;
    let mut encrypt_with = None;
    if let Some(s) = st.sessions.get(&ob.session_id) {
        if matches!(s.auth, Auth::Valid) {
            if s.encrypt || st.client_encrypts.contains(&ob.session_id) {
                encrypt_with = Some(ob.session_id);
            } else if ob.sign || s.signing_required {
                signer = Some((s.signing_algo, s.signing_key.clone()));
            }
        }
    }
    seal(st, ob.msg, &[signer], encrypt_with)
}

/// Signature/encryption policy for a request on an established session. `Ok(true)`
/// when the request was signed (so the response is signed too).
pub(crate) fn check_session(
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
    // MS-SMB2 3.3.5.2.4: on 3.1.1 a TREE_CONNECT of a session with a key
    // (not guest/anonymous) must be signed even when signing is not required,
    // so a man in the middle cannot strip the secure-negotiate protection.
    if cmd == Some(Command::TreeConnect)
        && st.dialect == dittofs_smb_wire::negotiate::DIALECT_311
        && !s.signing_key.is_empty()
    {
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
    if super::sessions::take_revoked(call.session_id) {
        // A reconnect named this session as its previous one.
        super::durable::park_session(ctx, st, call.session_id);
        negotiate::drop_session(st, call.session_id);
        return error_reply(STATUS_USER_SESSION_DELETED);
    }
    if let Request::Ioctl(r) = &req {
        if r.ctl_code == super::oplock::FSCTL_SMBTORTURE_FORCE_UNACKED_TIMEOUT {
            // Needs no session or tree (as Samba): it only changes how this
            // connection treats its own unacknowledged breaks.
            return match super::oplock::force_unacked_timeout(st, r) {
                Ok(reply) => reply,
                Err(status) => error_reply(status),
            };
        }
    }
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
        Request::Logoff => negotiate::logoff(ctx, st, call),
        Request::TreeConnect(r) => super::tree::connect(ctx, st, call, &r).await,
        Request::TreeDisconnect => super::tree::disconnect(st, call),
        Request::Create(r) => match super::create::create(ctx, st, call, &r).await {
            Err(super::defer::STATUS_DEFERRED) => Ok(super::defer::go_async(st, call, hdr, m)),
            other => other,
        },
        Request::Close(r) => {
            let o = super::oplock::origin_of(st, call, r.file_id);
            super::oplock::as_open(o, super::create::close(ctx, st, call, &r)).await
        }
        Request::Flush(r) => super::io::flush(ctx, st, call, &r).await,
        Request::Read(r) => {
            let o = super::oplock::origin_of(st, call, r.file_id);
            super::oplock::as_open(o, super::io::read(ctx, st, call, &r)).await
        }
        Request::Write(r) => {
            let o = super::oplock::origin_of(st, call, r.file_id);
            super::oplock::as_open(o, super::io::write(ctx, st, call, &r)).await
        }
        Request::QueryDirectory(r) => super::dir::query_directory(ctx, st, call, &r).await,
        Request::QueryInfo(r) => super::info::query_info(ctx, st, call, &r).await,
        Request::SetInfo(r) => {
            let o = super::oplock::origin_of(st, call, r.file_id);
            match super::oplock::as_open(o, super::info::set_info(ctx, st, call, &r)).await {
                Err(super::defer::STATUS_DEFERRED) => Ok(super::defer::go_async(st, call, hdr, m)),
                other => other,
            }
        }
        Request::Ioctl(r) => super::misc::ioctl(ctx, st, call, &r).await,
        Request::Echo => super::misc::echo(),
        Request::Cancel => super::misc::echo(),
        Request::Lock(r) => super::lock::lock(ctx, st, call, hdr, &r),
        Request::ChangeNotify(r) => super::notify::change_notify(ctx, st, call, hdr, &r),
        Request::OplockBreak(r) => super::oplock::oplock_break(st, call, &r).await,
    };
    match result {
        Ok(reply) => reply,
        Err(status) => error_reply(status),
    }
}
