//! One core's SMB listener and its connections.
//!
//! Why frames are handled one at a time per connection: the session, tree and
//! open tables then need no locking and responses keep the order SMB signing
//! and the preauth hash assume. Concurrency comes from many connections spread
//! over the cores (SO_REUSEPORT, like the NFS listener). A frame that is
//! oversized or not SMB closes that connection only.

use std::net::SocketAddr;
use std::rc::Rc;

use futures_lite::io::{AsyncReadExt, AsyncWriteExt};
use futures_lite::FutureExt;
use glommio::net::{TcpListener, TcpStream};

use dittofs_smb_wire::frame::{encode_transport_header, split_frame};

use super::state::ConnState;
use super::{handle_frame, FrameResult, SmbContext, FRAME_BYTES_MAX};
use crate::runtime::conn::accept_until_shutdown;
use crate::runtime::shutdown::LocalShutdown;

/// Bytes read from the socket per read call.
const READ_CHUNK_BYTES: usize = 1 << 20;
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

async fn serve(
    mut stream: TcpStream,
    peer: SocketAddr,
    local: SocketAddr,
    ctx: Rc<SmbContext>,
    shutdown: LocalShutdown,
) {
    let _ = stream.set_nodelay(true);
    let mut state = ConnState::default();
    state.peer = Some(peer);
    crate::metrics::connection_opened();
    let mut buf: Vec<u8> = Vec::with_capacity(READ_CHUNK_BYTES);
    let mut chunk = vec![0u8; READ_CHUNK_BYTES];
    'conn: loop {
        // Handle every complete frame already buffered.
        loop {
            let (frame_len, consumed) = match split_frame(&buf, FRAME_BYTES_MAX) {
                Ok(Some((frame, consumed))) => (frame.len(), consumed),
                Ok(None) => break,
                Err(e) => {
                    log::debug!("{peer}: bad SMB frame: {e}; closing");
                    break 'conn;
                }
            };
            let frame = &buf[consumed - frame_len..consumed];
            let result = handle_frame(&ctx, &mut state, local, frame).await;
            buf.drain(..consumed);
            match result {
                FrameResult::Reply(msg) => {
                    let Ok(th) = encode_transport_header(msg.len()) else {
                        break 'conn;
                    };
                    if stream.write_all(&th).await.is_err() || stream.write_all(&msg).await.is_err()
                    {
                        break 'conn;
                    }
                }
                FrameResult::NoReply => {}
                FrameResult::Close(why) => {
                    log::debug!("{peer}: {why}; closing the SMB connection");
                    break 'conn;
                }
            }
        }
        let n = async { Some(stream.read(&mut chunk).await) }
            .or(async {
                shutdown.wait().await;
                None
            })
            .await;
        match n {
            Some(Ok(0)) | Some(Err(_)) | None => break,
            Some(Ok(n)) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let _ = stream.close().await;
    crate::metrics::connection_closed();
    log::debug!("{peer}: SMB connection closed");
}
