//! Requests in flight concurrently on one connection: READ and WRITE of an
//! open file run as detached tasks on this core while the connection reads
//! and handles its next frames.
//!
//! Why: a WRITE is acknowledged only once durable (its WAL group commit), so
//! handling one frame at a time leaves one request in flight per connection
//! and a group commit batching at most one write per connection. A client
//! pipelines up to its granted credits; Samba and our NFS listener answer
//! those concurrently.
//!
//! How: a frame that is a single (non-compound) READ or WRITE of a file open
//! on this connection gets a synchronous phase with `&mut ConnState` in
//! `dispatch::process` → [`start`]: credits, signature check, session, tree
//! and open lookup, access and byte-range lock checks, exactly as the serial
//! path runs them, ending in an [`IoJob`] that owns what the I/O needs (the
//! fs, credentials, inode, a copy of the WRITE payload). The job runs in a
//! `glommio::spawn_local` task and posts a [`Completion`] (status and body)
//! to a local channel drained by the connection loop (`conn.rs`), which calls
//! [`finish`]: the open's position is updated, credits granted, the response
//! built, signed or sealed (the policy of `dispatch::seal`) and written. No
//! `ConnState` borrow ever crosses an await: the task holds none.
//!
//! Ordering: every other frame (CREATE, CLOSE, FLUSH, SET_INFO, LOCK,
//! compounds, session and tree commands...) is handled only once nothing is in
//! flight: `process` answers `FrameResult::Drain` and the loop completes the
//! in-flight requests first, then retries the frame. So a CLOSE or FLUSH
//! always follows the earlier READs and WRITEs of its FileId, an open is never
//! closed (locks, leases, share modes released) under a running task, and
//! session setup, cancel-free async operations and compounds keep today's
//! serial semantics. Responses of in-flight requests go out in completion
//! order (MS-SMB2 allows any order).
//!
//! Bounds: [`INFLIGHT_MAX`] requests and [`INFLIGHT_BYTES_MAX`] payload bytes
//! per connection (a request beyond waits for a completion, the client is
//! also bound by its credits). At connection end the loop waits (bounded)
//! for the tasks before the opens are released; a task still running past
//! that holds only the fs and an inode, never the open, and its completion
//! is dropped.

use std::net::SocketAddr;
use std::time::Instant;

use dittofs_smb_wire::create::FileId;
use dittofs_smb_wire::header::{Command, Header};
use dittofs_smb_wire::status::*;
use dittofs_smb_wire::Request;
use futures_channel::mpsc;

use super::dispatch::{check_session, seal, Call, FrameResult};
use super::io::IoJob;
use super::state::{Auth, ConnState};
use super::throttle::Admitted;
use super::SmbContext;

/// Most requests in flight on one connection.
pub const INFLIGHT_MAX: usize = 64;
/// Most READ/WRITE payload bytes in flight on one connection (a single larger
/// request still runs, alone).
pub const INFLIGHT_BYTES_MAX: usize = 64 << 20;
/// SMB2 header plus the first bytes of the request body kept for the metrics
/// (a WRITE's Length).
const MSG_HEAD_BYTES: usize = 72;

/// A finished (or refused) request waiting for its response.
pub struct Completion {
    hdr: Header,
    msg_head: Vec<u8>,
    local: SocketAddr,
    volatile_id: u64,
    status: u32,
    body: Vec<u8>,
    /// The open's position after a successful READ/WRITE.
    position: Option<u64>,
    admitted: Admitted,
    started: Instant,
    /// The request was signed (the response is signed too).
    signed: bool,
    /// The request came encrypted for this session.
    encrypted: Option<u64>,
    /// Payload bytes it held in flight (0: answered without a task).
    held_bytes: usize,
    /// It ran as a task (counted in flight).
    detached: bool,
}

/// Sending end, kept in the connection state (boxed: a completion is a few
/// hundred bytes and travels inside the loop's event enum).
pub type CompletionSender = mpsc::UnboundedSender<Box<Completion>>;
/// The connection loop's end.
pub type CompletionReceiver = mpsc::UnboundedReceiver<Box<Completion>>;

/// A new completion channel.
pub fn channel() -> (CompletionSender, CompletionReceiver) {
    mpsc::unbounded()
}

/// One connection's pipeline bookkeeping.
#[derive(Default)]
pub struct Pipeline {
    /// `None` (unit tests, the default): every frame runs serially.
    tx: Option<CompletionSender>,
    inflight: usize,
    inflight_bytes: usize,
}

impl Pipeline {
    /// A pipeline posting its completions to `tx`.
    pub fn new(tx: CompletionSender) -> Self {
        Pipeline {
            tx: Some(tx),
            inflight: 0,
            inflight_bytes: 0,
        }
    }

    /// Requests in flight.
    pub fn inflight(&self) -> usize {
        self.inflight
    }

    fn has_room(&self, bytes: usize) -> bool {
        self.inflight == 0
            || (self.inflight < INFLIGHT_MAX && self.inflight_bytes + bytes <= INFLIGHT_BYTES_MAX)
    }
}

/// Whether a frame of these requests may run as a task: one READ or WRITE,
/// not part of a compound.
pub(crate) fn detachable(st: &ConnState, parts: &[(Header, &[u8])]) -> bool {
    let [(hdr, _)] = parts else {
        return false;
    };
    st.pipeline.tx.is_some()
        && !hdr.is_response()
        && !hdr.is_related()
        && matches!(hdr.cmd(), Some(Command::Read | Command::Write))
}

/// The frame must wait for the requests in flight (it is serial, or there is
/// no room for it).
fn must_wait(st: &ConnState, bytes: usize) -> bool {
    !st.pipeline.has_room(bytes)
}

/// Runs the synchronous phase of a detachable frame and starts its task.
/// `None`: not a plain file READ/WRITE after all (a pipe, an unknown id, an
/// undecodable body): the caller runs it serially (waiting for the tasks in
/// flight first).
pub(crate) async fn start(
    ctx: &SmbContext,
    st: &mut ConnState,
    local: SocketAddr,
    hdr: &Header,
    m: &[u8],
    encrypted: Option<u64>,
) -> Option<FrameResult> {
    let Ok((_, req)) = Request::decode(m) else {
        return None;
    };
    let (file_id, bytes) = match &req {
        Request::Read(r) => (r.file_id, r.length as usize),
        Request::Write(r) => (r.file_id, r.data.len()),
        _ => return None,
    };
    let mut call = Call {
        session_id: hdr.session_id,
        tree_id: hdr.tree_id,
        last_file_id: None,
        local,
        signed: false,
        async_id: None,
        more_follow: false,
    };
    let vid = plain_open(st, &call, file_id)?;
    if must_wait(st, bytes) {
        return Some(FrameResult::Drain);
    }
    if !st.credits.consume(hdr.message_id, hdr.credit_charge) {
        log::debug!(
            "message id {} (charge {}) outside the credit window",
            hdr.message_id,
            hdr.credit_charge
        );
        return Some(FrameResult::Close("message id outside the granted credits"));
    }
    let admitted = super::throttle::admit(ctx, st, &call, m.len()).await;
    let started = Instant::now();
    let mut done = Completion {
        hdr: *hdr,
        msg_head: m[..m.len().min(MSG_HEAD_BYTES)].to_vec(),
        local,
        volatile_id: vid,
        status: STATUS_SUCCESS,
        body: Vec::new(),
        position: None,
        admitted,
        started,
        signed: false,
        encrypted,
        held_bytes: 0,
        detached: false,
    };
    let job = match check_session(st, hdr, m, encrypted) {
        Ok(signed) => {
            done.signed = signed;
            call.signed = signed;
            prepare(ctx, st, &call, &req).await
        }
        Err(status) => Err(status),
    };
    let job = match job {
        Ok(job) => job,
        Err(status) => {
            (done.status, done.body) = super::error_reply(status);
            return Some(match finish(ctx, st, done) {
                Ok(msg) => FrameResult::Reply(msg),
                Err(why) => FrameResult::Close(why),
            });
        }
    };
    let origin = super::oplock::origin_of(st, &call, file_id);
    let tx = st.pipeline.tx.clone()?;
    done.held_bytes = job.held_bytes();
    done.detached = true;
    st.pipeline.inflight += 1;
    st.pipeline.inflight_bytes += done.held_bytes;
    glommio::spawn_local(async move {
        let (reply, position) = super::oplock::as_open(origin, job.execute()).await;
        (done.status, done.body) = reply.unwrap_or_else(super::error_reply);
        done.position = position;
        // The connection is gone when sending fails: nothing to answer.
        let _ = tx.unbounded_send(Box::new(done));
    })
    .detach();
    Some(FrameResult::NoReply)
}

/// The volatile id of the file (not pipe) open `id` names on `call`'s session.
fn plain_open(st: &ConnState, call: &Call, id: FileId) -> Option<u64> {
    if id == FileId::RELATED || super::ipc::is_pipe(st, call, id) {
        return None;
    }
    match st.opens.get(&id.volatile) {
        Some(o) if o.session_id == call.session_id && !o.is_dir => Some(id.volatile),
        _ => None,
    }
}

/// The checks `dispatch::run` makes before a handler, then the handler's own.
async fn prepare(
    ctx: &SmbContext,
    st: &mut ConnState,
    call: &Call,
    req: &Request<'_>,
) -> Result<IoJob, u32> {
    if !st.negotiated {
        return Err(STATUS_INVALID_PARAMETER);
    }
    match st.sessions.get(&call.session_id) {
        Some(s) if matches!(s.auth, Auth::Valid) => {}
        _ => return Err(STATUS_USER_SESSION_DELETED),
    }
    super::access::check_request(ctx, st, call, req).await?;
    match req {
        Request::Read(r) => super::io::prepare_read(ctx, st, call, r),
        Request::Write(w) => super::io::prepare_write(ctx, st, call, w),
        _ => Err(STATUS_INVALID_PARAMETER),
    }
}

/// Turns a completion into the sealed response (updating the open's position
/// and the in-flight counts, granting credits, recording metrics).
pub fn finish(
    ctx: &SmbContext,
    st: &mut ConnState,
    c: Completion,
) -> Result<Vec<u8>, &'static str> {
    if c.detached {
        st.pipeline.inflight = st.pipeline.inflight.saturating_sub(1);
        st.pipeline.inflight_bytes = st.pipeline.inflight_bytes.saturating_sub(c.held_bytes);
    }
    if let Some(at) = c.position {
        if let Some(open) = st.opens.get_mut(&c.volatile_id) {
            open.position = at;
        }
    }
    super::throttle::charge_response(ctx, c.admitted, c.body.len());
    super::observe::request(&c.hdr, &c.msg_head, c.status, &c.body, c.started, st.peer);
    let call = Call {
        session_id: c.hdr.session_id,
        tree_id: c.hdr.tree_id,
        last_file_id: None,
        local: c.local,
        signed: c.signed,
        async_id: None,
        more_follow: false,
    };
    let mut h = c.hdr.response(c.status, 0);
    h.session_id = call.session_id;
    h.tree_id = call.tree_id;
    let requested = c.hdr.credits.max(1);
    h.credits = st.credits.grant(super::throttle::credits(
        ctx,
        st,
        &call,
        c.admitted,
        requested,
        c.hdr.credit_charge,
    ));
    let mut out = Vec::with_capacity(64 + c.body.len());
    h.encode(&mut out);
    out.extend_from_slice(&c.body);
    let mut signer = None;
    let mut encrypt_with = c.encrypted;
    if let Some(s) = st.sessions.get(&call.session_id) {
        if matches!(s.auth, Auth::Valid) {
            if s.encrypt && encrypt_with.is_none() {
                encrypt_with = Some(call.session_id);
            }
            let want = s.signing_required || c.signed;
            if want && encrypt_with.is_none() && !s.signing_key.is_empty() {
                signer = Some((s.signing_algo, s.signing_key.clone()));
            }
        }
    }
    seal(st, out, &[signer], encrypt_with)
}

/// Completions drained at connection end are only counted down.
pub fn discard(st: &mut ConnState, c: Completion) {
    if c.detached {
        st.pipeline.inflight = st.pipeline.inflight.saturating_sub(1);
        st.pipeline.inflight_bytes = st.pipeline.inflight_bytes.saturating_sub(c.held_bytes);
    }
}
