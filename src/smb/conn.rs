//! One core's SMB listener and its connections.
//!
//! Why one loop owns the connection state: the session, tree and open tables
//! need no locking and only the loop signs, seals and writes. Frames are
//! handled in arrival order, but a single READ, WRITE, FLUSH or CLOSE of an
//! open file only runs its checks here and its fs I/O as a detached task on
//! this core (`pipeline.rs`), so up to `pipeline::INFLIGHT_MAX` of them are
//! in flight per connection and WRITEs of one client share WAL group commits.
//! Any other frame (session setup, tree connect, most CREATEs, compounds...)
//! waits until nothing is in flight (`FrameResult::Drain`), which keeps their
//! ordering and the preauth hash exactly as when everything was serial.
//! Besides frames the loop drains the task completions (answered in
//! completion order, which MS-SMB2 allows) and the connection's outbox (async
//! final responses, breaks, notifications posted by detached tasks or other
//! cores), sealing each with the session's keys. Everything answered before
//! the loop next waits leaves in one socket write (`Outgoing`), and frames
//! are handled in place in the receive buffer (`RecvBuf`): one syscall per
//! batch of responses instead of two per response. More concurrency comes from
//! many connections spread over the cores (SO_REUSEPORT, like the NFS
//! listener). A frame that is oversized or not SMB closes that connection only.

use std::net::SocketAddr;
use std::rc::Rc;

use futures_lite::io::{AsyncReadExt, AsyncWriteExt};
use futures_lite::{FutureExt, StreamExt};
use glommio::net::{TcpListener, TcpStream};

use dittofs_smb_wire::frame::{encode_transport_header, split_frame};

use super::dispatch::seal_outbound;
use super::outbox::{self, Outbound, Outbox};
use super::pipeline::{self, Completion, CompletionReceiver, Pipeline};
use super::state::ConnState;
use super::{handle_frame, FrameResult, SmbContext, FRAME_BYTES_MAX};
use crate::runtime::conn::accept_until_shutdown;
use crate::runtime::shutdown::LocalShutdown;

/// Half the receive buffer's initial size (one read fills at most the
/// buffer's free tail).
const READ_CHUNK_BYTES: usize = 1 << 20;
/// Free tail space below which the receive buffer is compacted (or grown)
/// before the next read.
const READ_MIN_BYTES: usize = 64 << 10;
/// Responses up to this size are gathered into one socket write; a larger
/// one is written straight from its own buffer.
const COALESCE_BYTES_MAX: usize = 64 << 10;
/// Bound on waiting for connections at shutdown.
const DRAIN_TIMEOUT_MS: u64 = 5_000;

/// Accepts SMB connections until shutdown, then waits (bounded) for them.
pub async fn accept_loop(
    core: usize,
    listener: TcpListener,
    ctx: Rc<SmbContext>,
    shutdown: LocalShutdown,
) {
    let serve_shutdown = shutdown.clone();
    let serve_one = |stream: TcpStream, peer| {
        let local = stream.local_addr();
        let (ctx, shutdown) = (ctx.clone(), serve_shutdown.clone());
        async move {
            // Its local address answers FSCTL_QUERY_NETWORK_INTERFACE_INFO;
            // a connection without one is dropped.
            if let Ok(local) = local {
                serve(stream, peer, local, ctx, shutdown).await;
            }
        }
    };
    accept_until_shutdown(
        core,
        "SMB",
        listener,
        &shutdown,
        DRAIN_TIMEOUT_MS,
        serve_one,
    )
    .await;
}

/// What woke the connection loop.
enum Event {
    Read(std::io::Result<usize>),
    Outbound(Option<Outbound>),
    Done(Option<Box<Completion>>),
    Replay(Option<super::defer::Replay>),
    /// A request of a channel bound to a session of this connection.
    Forwarded(Option<super::sessions::Forwarded>),
    Shutdown,
}

/// Answers a completed in-flight request; false when the connection must end.
async fn answer(
    out: &mut Outgoing,
    stream: &mut TcpStream,
    ctx: &SmbContext,
    state: &mut ConnState,
    peer: SocketAddr,
    c: Box<Completion>,
) -> bool {
    match pipeline::finish(ctx, state, *c) {
        Ok(msg) => out.push(stream, &msg).await,
        Err(why) => {
            log::debug!("{peer}: {why}; closing the SMB connection");
            false
        }
    }
}

/// Sends an outbox message; false when the connection must end.
async fn send_outbound(
    out: &mut Outgoing,
    stream: &mut TcpStream,
    state: &mut ConnState,
    peer: SocketAddr,
    ob: Outbound,
) -> bool {
    match seal_outbound(state, ob) {
        Ok(msg) => out.push(stream, &msg).await,
        Err(why) => {
            log::debug!("{peer}: {why}; closing the SMB connection");
            false
        }
    }
}

/// At connection end: waits (bounded) for the requests still in flight, so
/// their opens are released only after them; their answers are dropped.
async fn settle(state: &mut ConnState, done_rx: &mut CompletionReceiver) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_millis(DRAIN_TIMEOUT_MS);
    while state.pipeline.inflight() > 0 {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let next = async { done_rx.next().await }
            .or(async {
                glommio::timer::sleep(left).await;
                None
            })
            .await;
        match next {
            Some(c) => pipeline::discard(state, *c),
            None => break,
        }
    }
}

/// Received bytes: frames are handled in place and the socket is read
/// straight into the free tail (no per-read copy, no shifting per frame;
/// the unhandled rest moves to the front only when the tail runs short).
struct RecvBuf {
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

impl RecvBuf {
    fn new() -> Self {
        RecvBuf {
            buf: vec![0; 2 * READ_CHUNK_BYTES],
            start: 0,
            end: 0,
        }
    }

    /// Received bytes not yet handled.
    fn pending(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    /// The first `n` pending bytes were handled.
    fn consume(&mut self, n: usize) {
        self.start = (self.start + n).min(self.end);
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
    }

    /// Free space to read into, at least [`READ_MIN_BYTES`]: the pending
    /// bytes move to the front, and the buffer grows only while one frame
    /// (at most `FRAME_BYTES_MAX`, `split_frame` refuses more) does not fit.
    fn room(&mut self) -> &mut [u8] {
        if self.buf.len() - self.end < READ_MIN_BYTES {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
            if self.buf.len() - self.end < READ_MIN_BYTES {
                let len = (self.buf.len() * 2).max(self.end + READ_MIN_BYTES);
                self.buf.resize(len, 0);
            }
        }
        &mut self.buf[self.end..]
    }

    /// `n` bytes were read into [`RecvBuf::room`].
    fn filled(&mut self, n: usize) {
        self.end = (self.end + n).min(self.buf.len());
    }
}

/// Responses waiting to be written: everything answered before the loop
/// next waits goes out in one socket write (with TCP_NODELAY each write is
/// a segment, and a 4 KiB WRITE's response is 84 bytes).
struct Outgoing {
    buf: Vec<u8>,
}

impl Outgoing {
    fn new() -> Self {
        Outgoing {
            buf: Vec::with_capacity(COALESCE_BYTES_MAX),
        }
    }

    /// Queues a message (with its transport header); a large one is written
    /// at once, after what was queued, without copying it. False when the
    /// connection must end.
    async fn push(&mut self, stream: &mut TcpStream, msg: &[u8]) -> bool {
        let Ok(th) = encode_transport_header(msg.len()) else {
            return false;
        };
        self.buf.extend_from_slice(&th);
        if msg.len() > COALESCE_BYTES_MAX {
            return self.flush(stream).await && stream.write_all(msg).await.is_ok();
        }
        self.buf.extend_from_slice(msg);
        if self.buf.len() >= COALESCE_BYTES_MAX {
            return self.flush(stream).await;
        }
        true
    }

    /// Writes what is queued; false when the connection must end.
    async fn flush(&mut self, stream: &mut TcpStream) -> bool {
        if self.buf.is_empty() {
            return true;
        }
        let ok = stream.write_all(&self.buf).await.is_ok();
        self.buf.clear();
        ok
    }
}

async fn serve(
    mut stream: TcpStream,
    peer: SocketAddr,
    local: SocketAddr,
    ctx: Rc<SmbContext>,
    shutdown: LocalShutdown,
) {
    let _ = stream.set_nodelay(true);
    let mut state = ConnState::default();
    let (outbox_tx, mut outbox_rx) = outbox::channel();
    state.outbox = Outbox::new(outbox_tx);
    let (done_tx, mut done_rx) = pipeline::channel();
    state.pipeline = Pipeline::new(done_tx);
    let mut replay_rx = state.defer.install();
    let (home_tx, mut home_rx) = super::sessions::home_channel();
    state.home = Some(home_tx);
    state.peer = Some(peer);
    crate::metrics::connection_opened();
    let mut rx = RecvBuf::new();
    let mut out = Outgoing::new();
    'conn: loop {
        // Handle every complete frame already buffered.
        loop {
            let (frame_len, consumed) = match split_frame(rx.pending(), FRAME_BYTES_MAX) {
                Ok(Some((frame, consumed))) => (frame.len(), consumed),
                Ok(None) => break,
                Err(e) => {
                    log::debug!("{peer}: bad SMB frame: {e}; closing");
                    break 'conn;
                }
            };
            let frame = &rx.pending()[consumed - frame_len..consumed];
            let result = handle_frame(&ctx, &mut state, local, frame).await;
            if matches!(result, FrameResult::Drain) {
                // Requests are in flight and this frame must follow them:
                // complete one (or send what the outbox holds), then retry.
                if !out.flush(&mut stream).await {
                    break 'conn;
                }
                let event = async { Event::Done(done_rx.next().await) }
                    .or(async { Event::Outbound(outbox_rx.next().await) })
                    .or(async {
                        shutdown.wait().await;
                        Event::Shutdown
                    })
                    .await;
                let alive = match event {
                    Event::Done(Some(c)) => {
                        answer(&mut out, &mut stream, &ctx, &mut state, peer, c).await
                    }
                    Event::Outbound(Some(ob)) => {
                        send_outbound(&mut out, &mut stream, &mut state, peer, ob).await
                    }
                    // Not selected here: replays wait for the main loop.
                    Event::Done(None)
                    | Event::Outbound(None)
                    | Event::Read(_)
                    | Event::Forwarded(_)
                    | Event::Replay(_) => true,
                    Event::Shutdown => false,
                };
                if !alive {
                    break 'conn;
                }
                continue;
            }
            rx.consume(consumed);
            match result {
                FrameResult::Reply(msg) => {
                    if !out.push(&mut stream, &msg).await {
                        break 'conn;
                    }
                }
                FrameResult::NoReply | FrameResult::Drain => {}
                FrameResult::Close(why) => {
                    log::debug!("{peer}: {why}; closing the SMB connection");
                    break 'conn;
                }
            }
        }
        // Answer the completions already there, then send everything
        // answered so far in one write before waiting.
        while let Ok(c) = done_rx.try_recv() {
            if !answer(&mut out, &mut stream, &ctx, &mut state, peer, c).await {
                break 'conn;
            }
        }
        if !out.flush(&mut stream).await {
            break;
        }
        // Dropping the losing read future is safe: glommio's TcpStream read is
        // readiness-based, so no bytes are consumed by an abandoned read.
        // Completions first: answering frees credits and in-flight room.
        let event = async { Event::Done(done_rx.next().await) }
            .or(async { Event::Outbound(outbox_rx.next().await) })
            .or(async { Event::Replay(replay_rx.next().await) })
            .or(async { Event::Forwarded(home_rx.next().await) })
            .or(async { Event::Read(stream.read(rx.room()).await) })
            .or(async {
                shutdown.wait().await;
                Event::Shutdown
            })
            .await;
        match event {
            Event::Read(Ok(0)) | Event::Read(Err(_)) | Event::Shutdown => break,
            Event::Read(Ok(n)) => rx.filled(n),
            // The state holds senders, so the channels never end while we run.
            Event::Outbound(None)
            | Event::Done(None)
            | Event::Replay(None)
            | Event::Forwarded(None) => {}
            // A bound channel's request runs here, against this state, after
            // the requests in flight (as any frame but READ/WRITE would).
            Event::Forwarded(Some(f)) => {
                while state.pipeline.inflight() > 0 {
                    let Some(c) = done_rx.next().await else {
                        break;
                    };
                    if !answer(&mut out, &mut stream, &ctx, &mut state, peer, c).await {
                        break 'conn;
                    }
                }
                let reply =
                    super::dispatch::process_forwarded(&ctx, &mut state, local, &f.msg).await;
                let _ = f.reply.send(reply);
            }
            // A deferred CREATE whose breaks are done: its final response goes
            // through the outbox like any async final.
            Event::Replay(Some(r)) => super::defer::replay(&ctx, &mut state, r).await,
            Event::Done(Some(c)) => {
                if !answer(&mut out, &mut stream, &ctx, &mut state, peer, c).await {
                    break;
                }
            }
            Event::Outbound(Some(ob)) => {
                if !send_outbound(&mut out, &mut stream, &mut state, peer, ob).await {
                    break;
                }
            }
        }
    }
    // What was answered before the end still goes out (best effort).
    let _ = out.flush(&mut stream).await;
    settle(&mut state, &mut done_rx).await;
    super::durable::park(&ctx, &mut state);
    super::durable::delete_on_disconnect(&ctx, &mut state);
    for sid in state.sessions.keys() {
        super::sessions::unregister(*sid);
    }
    super::pending::connection_ended(&mut state);
    let _ = stream.close().await;
    crate::metrics::connection_closed();
    log::debug!("{peer}: SMB connection closed");
}
