//! One core's SMB listener and its connections.
//!
//! Why frames are handled one at a time per connection: the session, tree and
//! open tables then need no locking and responses keep the order SMB signing
//! and the preauth hash assume. Concurrency comes from many connections spread
//! over the cores (SO_REUSEPORT, like the NFS listener). A frame that is
//! oversized or not SMB closes that connection only.

use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use futures_lite::io::{AsyncReadExt, AsyncWriteExt};
use futures_lite::FutureExt;
use glommio::net::{TcpListener, TcpStream};
use glommio::sync::Gate;

use dittofs_smb_wire::frame::{encode_transport_header, split_frame};

use super::state::ConnState;
use super::{handle_frame, FrameResult, SmbContext, FRAME_BYTES_MAX};
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
                let (Ok(peer), Ok(local)) = (stream.peer_addr(), stream.local_addr()) else {
                    continue;
                };
                log::debug!("core {core}: SMB connection from {peer}");
                let task = serve(stream, peer, local, ctx.clone(), shutdown.clone());
                match connections.spawn(task) {
                    Ok(t) => {
                        t.detach();
                    }
                    Err(_) => break,
                }
            }
            Some(Err(e)) => {
                log::warn!("core {core}: SMB accept failed: {e}");
                glommio::timer::sleep(Duration::from_millis(50)).await;
            }
        }
    }
    drop(listener);
    let _ = async {
        let _ = connections.close().await;
    }
    .or(async {
        glommio::timer::sleep(Duration::from_millis(DRAIN_TIMEOUT_MS)).await;
    })
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
    log::debug!("{peer}: SMB connection closed");
}
