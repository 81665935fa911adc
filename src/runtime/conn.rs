//! One core's listener and its connections.
//!
//! A connection is a reader loop that cuts the byte stream into RPC records and
//! starts a task per record, so pipelined requests run concurrently (bounded by
//! `requests_in_flight_max`), and a writer task that sends replies in whatever
//! order they finish, coalescing small ones into one write. A record that is
//! oversized or not an RPC call closes that connection only.

use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use bytes::Bytes;
use futures_lite::io::{AsyncReadExt, AsyncWriteExt, WriteHalf};
use futures_lite::FutureExt;
use glommio::channels::local_channel::{self, LocalReceiver};
use glommio::net::{TcpListener, TcpStream};
use glommio::sync::{Gate, Semaphore};

use super::ratelimit::{Admit, CoreLimiter};
use super::shutdown::LocalShutdown;
use super::DRAIN_TIMEOUT_MS;
use crate::nfs::{handle_record, NfsContext};
use crate::rpc::record::{record_mark, RecordAssembler};

/// Bytes read from the socket per read call.
const READ_CHUNK_BYTES: usize = 256 << 10;
/// Replies up to this size are copied into the coalescing buffer; larger ones
/// are written straight from their own buffer.
const COALESCE_REPLY_BYTES_MAX: usize = 64 << 10;
/// The writer flushes once this much is buffered.
const WRITE_BUFFER_BYTES: usize = 1 << 20;

/// Per-connection bounds from the configuration.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub record_bytes_max: usize,
    pub requests_in_flight_max: usize,
}

/// Accepts NFS connections until shutdown, then waits (bounded) for them to drain.
pub async fn accept_loop(
    core: usize,
    listener: TcpListener,
    ctx: Rc<NfsContext>,
    limits: Limits,
    limiter: Rc<CoreLimiter>,
    shutdown: LocalShutdown,
) {
    assert!(limits.requests_in_flight_max >= 1 && limits.record_bytes_max >= 1024);
    let serve_shutdown = shutdown.clone();
    let serve = |stream, peer| {
        serve_connection(
            stream,
            peer,
            ctx.clone(),
            limits,
            limiter.clone(),
            serve_shutdown.clone(),
        )
    };
    accept_until_shutdown(core, "NFS", listener, &shutdown, DRAIN_TIMEOUT_MS, serve).await;
}

/// The accept loop every protocol's listener runs: accepts until shutdown,
/// serves each connection with `serve` in a task the gate tracks, then waits
/// at most `drain_timeout_ms` for those tasks.
pub(crate) async fn accept_until_shutdown<F, Fut>(
    core: usize,
    protocol: &str,
    listener: TcpListener,
    shutdown: &LocalShutdown,
    drain_timeout_ms: u64,
    mut serve: F,
) where
    F: FnMut(TcpStream, SocketAddr) -> Fut,
    Fut: std::future::Future<Output = ()> + 'static,
{
    let connections = Gate::new();
    loop {
        let accepted = async { Some(listener.accept().await) }
            .or(async {
                shutdown.wait().await;
                None
            })
            .await;
        match accepted {
            None => break,
            Some(Ok(stream)) => {
                let peer = match stream.peer_addr() {
                    Ok(peer) => peer,
                    Err(e) => {
                        log::debug!(
                            "core {core}: accepted a {protocol} connection without a peer \
                             address: {e}"
                        );
                        continue;
                    }
                };
                log::debug!("core {core}: {protocol} connection from {peer}");
                // Dropping a glommio task handle cancels the task: detach it; the gate
                // still tracks it for the drain.
                match connections.spawn(serve(stream, peer)) {
                    Ok(task) => {
                        task.detach();
                    }
                    Err(_) => break,
                }
            }
            Some(Err(e)) => {
                // EMFILE and friends: back off briefly instead of spinning.
                log::warn!("core {core}: {protocol} accept failed: {e}");
                glommio::timer::sleep(Duration::from_millis(50)).await;
            }
        }
    }
    drop(listener);
    let drained = async {
        let _ = connections.close().await;
        true
    }
    .or(async {
        glommio::timer::sleep(Duration::from_millis(drain_timeout_ms)).await;
        false
    })
    .await;
    if !drained {
        log::warn!(
            "core {core}: {protocol} connections still busy after {drain_timeout_ms} ms; \
             stopping anyway"
        );
    }
}

/// Why the reader stopped.
enum ReadEvent {
    Data(usize),
    Closed,
    Shutdown,
    Failed,
}

async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    ctx: Rc<NfsContext>,
    limits: Limits,
    limiter: Rc<CoreLimiter>,
    shutdown: LocalShutdown,
) {
    crate::metrics::connection_opened();
    if let Err(e) = stream.set_nodelay(true) {
        log::debug!("{peer}: cannot set TCP_NODELAY: {e}");
    }
    let (mut reader, writer) = futures_lite::io::split(stream);
    let (reply_tx, reply_rx) = local_channel::new_bounded::<Bytes>(limits.requests_in_flight_max);
    // Shared by the request tasks; the writer ends when the last clone is dropped.
    let reply_tx = Rc::new(reply_tx);
    let writer_task = glommio::spawn_local(write_replies(writer, reply_rx, peer));
    // A request task that finds its record is not RPC at all asks to close the
    // connection through this (never-permitted) semaphore.
    let close_request = Rc::new(Semaphore::new(0));
    let in_flight = Rc::new(Semaphore::new(limits.requests_in_flight_max as u64));
    let requests = Gate::new();
    let mut assembler = RecordAssembler::new(limits.record_bytes_max);
    let mut buf = vec![0u8; READ_CHUNK_BYTES];

    'connection: loop {
        let event = async {
            match reader.read(&mut buf).await {
                Ok(0) => ReadEvent::Closed,
                Ok(n) => ReadEvent::Data(n),
                Err(e) => {
                    log::debug!("{peer}: read failed: {e}");
                    ReadEvent::Failed
                }
            }
        }
        .or(async {
            shutdown.wait().await;
            ReadEvent::Shutdown
        })
        .or(async {
            let _ = close_request.acquire(1).await;
            ReadEvent::Failed
        })
        .await;
        let n = match event {
            ReadEvent::Data(n) => n,
            ReadEvent::Closed | ReadEvent::Failed | ReadEvent::Shutdown => break,
        };
        assembler.extend(&buf[..n]);
        loop {
            match assembler.next_record() {
                Ok(Some(record)) => {
                    // Over its rate limit, the client waits here: its next
                    // request starts later and the socket is not read meanwhile.
                    let ticket = match limiter.admit(peer.ip(), &record) {
                        Admit::Free => None,
                        Admit::After { delay, ticket } => {
                            if !delay.is_zero() {
                                async { glommio::timer::sleep(delay).await }
                                    .or(shutdown.wait())
                                    .await;
                            }
                            Some(ticket)
                        }
                    };
                    let Ok(permit) = in_flight.clone().acquire_static_permit(1).await else {
                        break 'connection;
                    };
                    let ctx = ctx.clone();
                    let reply_tx = reply_tx.clone();
                    let close_request = close_request.clone();
                    let limiter = limiter.clone();
                    let spawned = requests.spawn(async move {
                        let _permit = permit;
                        match handle_record(&ctx, peer, record).await {
                            Ok(Some(reply)) => {
                                if let Some(ticket) = &ticket {
                                    limiter.charge_reply(ticket, reply.len());
                                }
                                let _ = reply_tx.send(reply).await;
                            }
                            Ok(None) => {}
                            Err(e) => {
                                log::warn!("{peer}: {e}; closing the connection");
                                close_request.close();
                            }
                        }
                    });
                    match spawned {
                        Ok(task) => {
                            task.detach();
                        }
                        Err(_) => break 'connection,
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    log::warn!("{peer}: {e}; closing the connection");
                    break 'connection;
                }
            }
        }
    }
    // Finish what was read, send the replies, then close.
    let _ = requests.close().await;
    drop(reply_tx);
    let _ = writer_task.await;
    crate::metrics::connection_closed();
    log::debug!("{peer}: connection closed");
}

/// Sends replies as they finish, record-marked, coalescing small ones.
async fn write_replies(
    mut writer: WriteHalf<TcpStream>,
    replies: LocalReceiver<Bytes>,
    peer: SocketAddr,
) {
    let mut out: Vec<u8> = Vec::with_capacity(COALESCE_REPLY_BYTES_MAX);
    while let Some(first) = replies.recv().await {
        let mut next = Some(first);
        while let Some(reply) = next.take() {
            out.extend_from_slice(&record_mark(reply.len()));
            if reply.len() <= COALESCE_REPLY_BYTES_MAX {
                out.extend_from_slice(&reply);
            } else {
                if writer.write_all(&out).await.is_err() || writer.write_all(&reply).await.is_err()
                {
                    log::debug!("{peer}: write failed; dropping the remaining replies");
                    return;
                }
                out.clear();
            }
            if out.len() >= WRITE_BUFFER_BYTES {
                break;
            }
            // Take whatever else is ready without waiting.
            next = futures_lite::future::poll_once(replies.recv())
                .await
                .flatten();
        }
        if !out.is_empty() {
            if writer.write_all(&out).await.is_err() {
                log::debug!("{peer}: write failed; dropping the remaining replies");
                return;
            }
            out.clear();
        }
    }
    let _ = writer.flush().await;
    let _ = writer.close().await;
}
