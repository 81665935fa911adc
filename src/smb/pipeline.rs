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
//! How: a frame that is a single (non-compound) READ, WRITE, FLUSH or CLOSE
//! of a file (not directory, not pipe) open on this connection gets a synchronous
//! phase with `&mut ConnState` in `dispatch::process` → [`start`]: credits,
//! signature check, session, tree and open lookup, access and byte-range
//! lock checks, exactly as the serial path runs them, ending in an
//! [`IoJob`] that owns what the I/O needs (the fs, credentials, inode, a
//! copy of the WRITE payload). The job runs in a
//! `glommio::spawn_local` task and posts a [`Completion`] (status and body)
//! to a local channel drained by the connection loop (`conn.rs`), which calls
//! [`finish`]: the open's position is updated, credits granted, the response
//! built, signed or sealed (the policy of `dispatch::seal`) and written. No
//! `ConnState` borrow ever crosses an await: the task holds none.
//!
//! A CLOSE takes its open out of the connection in the synchronous phase
//! (later requests naming it get FILE_CLOSED, as after a serial CLOSE); its
//! task does the post-query, delete on close and release of the open (share
//! mode, lease, hold), and answering it releases the connection's pending
//! operations, byte-range locks and watches of that open.
//!
//! Ordering: every other frame (SET_INFO, LOCK, compounds, session and
//! tree commands...) is handled only once nothing is in flight: `process`
//! answers `FrameResult::Drain` and the loop completes the in-flight requests
//! first, then retries the frame. So session setup, cancel-free async
//! operations and compounds keep the serial semantics. A CLOSE or FLUSH
//! waits (drains) while any request on its file ([`path_key`]) is in flight,
//! so it follows the WRITEs of its handle sent before it: a FLUSH's commit
//! (`Fs::commit`, the WAL fsync) starts after their records are reserved,
//! and its reply leaves only once that fsync is done (the durability
//! contract). With nothing in flight on its file a FLUSH runs as a task
//! like a WRITE, so one client's create storm (CREATE, WRITE, FLUSH, CLOSE
//! of many files) no longer drains the connection at every FLUSH. One exception to the drain: a single CREATE
//! without create contexts or oplock ([`create_may_overtake`]) runs while the
//! requests in flight all work on other paths ([`path_key`], case-folded),
//! so a CREATE never overtakes a CLOSE (delete on close) or WRITE of its own
//! file. Responses of in-flight requests go out in completion
//! order (MS-SMB2 allows any order).
//!
//! Bounds: [`INFLIGHT_MAX`] requests and [`INFLIGHT_BYTES_MAX`] payload bytes
//! per connection (a request beyond waits for a completion, the client is
//! also bound by its credits). At connection end the loop waits (bounded)
//! for the tasks before the opens are released; a task still running past
//! that holds only the fs and an inode (a CLOSE task: its open, already out
//! of the connection), and its completion is dropped.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::net::SocketAddr;
use std::time::Instant;

use dittofs_smb_wire::create::{options, FileId, OPLOCK_LEVEL_NONE};
use dittofs_smb_wire::header::{Command, Header};
use dittofs_smb_wire::status::*;
use dittofs_smb_wire::Request;
use futures_channel::mpsc;

use super::dispatch::{check_session, seal, Call, FrameResult};
use super::io::IoJob;
use super::state::{Auth, ConnState, Tree};
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
    /// The [`path_key`] of the file it works on (counted in flight).
    path_key: Option<u64>,
    /// A CLOSE: the connection's pending operations, locks and watches of
    /// the closed open are released when it is answered.
    closed: bool,
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
    /// Requests in flight per [`path_key`]: a CREATE of another path need
    /// not wait for them.
    paths: HashMap<u64, u32>,
}

impl Pipeline {
    /// A pipeline posting its completions to `tx`.
    pub fn new(tx: CompletionSender) -> Self {
        Pipeline {
            tx: Some(tx),
            inflight: 0,
            inflight_bytes: 0,
            paths: HashMap::new(),
        }
    }

    /// Requests in flight.
    pub fn inflight(&self) -> usize {
        self.inflight
    }

    fn path_started(&mut self, key: u64) {
        *self.paths.entry(key).or_insert(0) += 1;
    }

    fn path_done(&mut self, key: u64) {
        if let Some(n) = self.paths.get_mut(&key) {
            *n -= 1;
            if *n == 0 {
                self.paths.remove(&key);
            }
        }
    }

    fn has_room(&self, bytes: usize) -> bool {
        self.inflight == 0
            || (self.inflight < INFLIGHT_MAX && self.inflight_bytes + bytes <= INFLIGHT_BYTES_MAX)
    }
}

/// Whether a frame of these requests may run as a task: one READ, WRITE or
/// CLOSE, not part of a compound.
pub(crate) fn detachable(st: &ConnState, parts: &[(Header, &[u8])]) -> bool {
    let [(hdr, _)] = parts else {
        return false;
    };
    st.pipeline.tx.is_some()
        && !hdr.is_response()
        && !hdr.is_related()
        && matches!(
            hdr.cmd(),
            Some(Command::Read | Command::Write | Command::Close | Command::Flush)
        )
}

/// Names a file of a share for the in-flight bookkeeping: the share index
/// and the path's components, case-folded (two names that may be the same
/// file on a case-insensitive share get the same key; a collision only
/// makes a CREATE wait).
pub(crate) fn path_key<'a>(share: usize, parts: impl Iterator<Item = &'a str>) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    share.hash(&mut h);
    for p in parts {
        0xffff_ffffu32.hash(&mut h);
        for c in p.chars().flat_map(char::to_lowercase) {
            c.hash(&mut h);
        }
    }
    h.finish()
}

/// [`path_key`] of an open (its path is `\` + components).
fn open_key(share: usize, path: &str) -> u64 {
    path_key(share, path.split('\\').filter(|c| !c.is_empty()))
}

/// Whether a frame that is a single CREATE may run while requests are in
/// flight: none of them works on the path it names, it is no directory open,
/// and it asks for no oplock, lease, durable handle or other create context
/// (those interact with the opens a CLOSE in flight still holds). It then
/// runs at once (serially, with the connection state), just without
/// waiting: a client that pipelines CREATE/CLOSE pairs of different files
/// (a delete or create storm) keeps several metadata commits in flight.
pub(crate) fn create_may_overtake(st: &ConnState, parts: &[(Header, &[u8])]) -> bool {
    let [(hdr, m)] = parts else {
        return false;
    };
    if st.pipeline.tx.is_none() || hdr.is_related() || hdr.cmd() != Some(Command::Create) {
        return false;
    }
    let Ok((_, Request::Create(r))) = Request::decode(m) else {
        return false;
    };
    if !r.contexts.is_empty() || r.requested_oplock_level != OPLOCK_LEVEL_NONE {
        return false;
    }
    // A directory's CREATE (or a delete-on-close open that may be one: its
    // emptiness depends on the deletes in flight) waits.
    let opts = r.create_options;
    if opts & options::DIRECTORY_FILE != 0
        || (opts & options::DELETE_ON_CLOSE != 0 && opts & options::NON_DIRECTORY_FILE == 0)
    {
        return false;
    }
    let tree = st
        .sessions
        .get(&hdr.session_id)
        .and_then(|s| s.trees.get(&hdr.tree_id));
    let Some(Tree::Disk(share)) = tree else {
        return false;
    };
    let names = if st.posix {
        super::posix::components(&r.name)
    } else {
        super::create::components(&r.name)
    };
    match names {
        Ok(names) => !st
            .pipeline
            .paths
            .contains_key(&path_key(*share, names.into_iter())),
        Err(_) => false,
    }
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
        Request::Close(r) => (r.file_id, 0),
        Request::Flush(r) => (r.file_id, 0),
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
    let key = st.opens.get(&vid).map(|o| open_key(o.share, &o.path));
    let closing = matches!(req, Request::Close(_));
    // A CLOSE or FLUSH follows every request in flight on its file (a WRITE
    // of its handle sent before it is done, and for a FLUSH its WAL records
    // reserved, when the FLUSH starts its commit).
    let barrier = closing || matches!(req, Request::Flush(_));
    let busy = barrier && key.is_some_and(|k| st.pipeline.paths.contains_key(&k));
    if busy || must_wait(st, bytes) {
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
        path_key: None,
        closed: false,
    };
    // Before `prepare`: a CLOSE takes the open out of the connection.
    let origin = super::oplock::origin_of(st, &call, file_id);
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
    let tx = st.pipeline.tx.clone()?;
    done.held_bytes = job.held_bytes();
    done.detached = true;
    done.closed = closing;
    done.path_key = key;
    st.pipeline.inflight += 1;
    st.pipeline.inflight_bytes += done.held_bytes;
    if let Some(k) = key {
        st.pipeline.path_started(k);
    }
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
        Request::Close(c) => super::io::prepare_close(ctx, st, call, c),
        Request::Flush(f) => super::io::prepare_flush(ctx, st, call, f),
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
    settled(st, &c);
    if c.closed {
        super::pending::release_closed(st);
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

/// Counts a completion out of the in-flight bookkeeping.
fn settled(st: &mut ConnState, c: &Completion) {
    if c.detached {
        st.pipeline.inflight = st.pipeline.inflight.saturating_sub(1);
        st.pipeline.inflight_bytes = st.pipeline.inflight_bytes.saturating_sub(c.held_bytes);
        if let Some(k) = c.path_key {
            st.pipeline.path_done(k);
        }
    }
}

/// Completions drained at connection end are only counted down.
pub fn discard(st: &mut ConnState, c: Completion) {
    settled(st, &c);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_keys_fold_case_and_separate_components() {
        let k = |share, parts: &[&str]| path_key(share, parts.iter().copied());
        assert_eq!(k(0, &["Dir", "File.TXT"]), k(0, &["dir", "file.txt"]));
        assert_eq!(open_key(0, "\\Dir\\File.TXT"), k(0, &["dir", "file.txt"]));
        assert_eq!(open_key(1, "\\"), k(1, &[]));
        assert_ne!(k(0, &["a", "b"]), k(0, &["ab"]));
        assert_ne!(k(0, &["a"]), k(1, &["a"]));
        assert_ne!(k(0, &["a"]), k(0, &["b"]));
    }
}
