//! An async ONC RPC client connection: many calls in flight, replies matched by xid.
//!
//! One connection = one reader task (record marking via the server's
//! [`RecordAssembler`], xid → waiting caller) and one writer task (record-marked
//! calls, small ones coalesced into one `write`). Callers never hold a borrow across
//! an `await`, so any number of tasks on the executor can share a connection; that is
//! what gives a queue depth per connection like a real NFS client's slot table.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::rc::Rc;

use bytes::Bytes;
use dittofs::rpc::message::decode_reply;
use dittofs::rpc::{record_mark, AcceptStat, Auth, CallHeader, RecordAssembler, ReplyStat};
use dittofs::rpc::{XdrError, XdrReader, XdrWriter};
use futures_channel::{mpsc, oneshot};
use futures_lite::{AsyncReadExt, AsyncWriteExt, StreamExt};
use glommio::net::TcpStream;

/// Largest reply record accepted (a 1 MiB READ plus headers, with room to spare).
const REPLY_BYTES_MAX: usize = 8 << 20;
/// Bytes read from the socket at a time.
const READ_CHUNK_BYTES: usize = 256 << 10;
/// Calls up to this size are copied into one buffer and sent with one write.
const COALESCE_CALL_BYTES_MAX: usize = 16 << 10;
/// Flush the coalescing buffer once it holds this much.
const WRITE_BUFFER_BYTES: usize = 256 << 10;

/// Why a call got no usable reply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientError {
    #[error("connect to {addr}: {msg}")]
    Connect { addr: SocketAddr, msg: String },
    #[error("connection closed before the reply")]
    Closed,
    #[error("RPC reply not accepted: {0:?}")]
    Rpc(ReplyStat),
    #[error("undecodable reply: {0}")]
    Xdr(#[from] XdrError),
}

impl ClientError {
    /// Short key used when counting errors by kind.
    pub fn key(&self) -> String {
        match self {
            ClientError::Connect { .. } => "CONNECT".into(),
            ClientError::Closed => "CONNECTION_CLOSED".into(),
            ClientError::Rpc(ReplyStat::Accepted(a)) => format!("RPC_{a:?}").to_uppercase(),
            ClientError::Rpc(s) => format!("RPC_{s:?}").to_uppercase(),
            ClientError::Xdr(_) => "GARBAGE_REPLY".into(),
        }
    }
}

type Waiters = RefCell<HashMap<u32, oneshot::Sender<Bytes>>>;

/// One TCP connection to an RPC server.
pub struct RpcConn {
    calls: mpsc::UnboundedSender<Bytes>,
    waiters: Rc<Waiters>,
    next_xid: Cell<u32>,
    cred: Auth,
    /// Set by the reader task when the connection is gone.
    closed: Rc<Cell<bool>>,
    /// Replies whose xid matched no call (a protocol error of the server).
    pub stray_replies: Rc<Cell<u64>>,
}

impl RpcConn {
    /// Connects and starts the reader and writer tasks on the current executor.
    pub async fn connect(addr: SocketAddr, cred: Auth) -> Result<Rc<RpcConn>, ClientError> {
        let stream = TcpStream::connect(addr)
            .await
            .map_err(|e| ClientError::Connect {
                addr,
                msg: e.to_string(),
            })?;
        let _ = stream.set_nodelay(true);
        let (reader, writer) = futures_lite::io::split(stream);
        let (tx, rx) = mpsc::unbounded::<Bytes>();
        let waiters: Rc<Waiters> = Rc::new(RefCell::new(HashMap::new()));
        let stray = Rc::new(Cell::new(0));
        let closed = Rc::new(Cell::new(false));
        glommio::spawn_local(write_calls(writer, rx)).detach();
        glommio::spawn_local(read_replies(
            reader,
            waiters.clone(),
            stray.clone(),
            closed.clone(),
        ))
        .detach();
        // Distinct xid spaces per connection make a misrouted reply visible.
        let seed = u32::from(addr.port()).wrapping_mul(2_654_435_761) ^ fastrand::u32(..);
        Ok(Rc::new(RpcConn {
            calls: tx,
            waiters,
            next_xid: Cell::new(seed),
            cred,
            closed,
            stray_replies: stray,
        }))
    }

    /// Sends one call and waits for its reply; on success the reader is at the results.
    pub async fn call(
        &self,
        prog: u32,
        vers: u32,
        proc_: u32,
        encode_args: impl FnOnce(&mut XdrWriter),
    ) -> Result<XdrReader, ClientError> {
        let xid = self.next_xid.get();
        self.next_xid.set(xid.wrapping_add(1));
        let mut w = XdrWriter::with_capacity(256);
        CallHeader {
            xid,
            prog,
            vers,
            proc_,
            auth: self.cred.clone(),
        }
        .encode(&mut w);
        encode_args(&mut w);
        if self.closed.get() {
            return Err(ClientError::Closed);
        }
        let (tx, rx) = oneshot::channel();
        self.waiters.borrow_mut().insert(xid, tx);
        if self.calls.unbounded_send(w.into_bytes()).is_err() {
            self.waiters.borrow_mut().remove(&xid);
            return Err(ClientError::Closed);
        }
        let record = rx.await.map_err(|_| ClientError::Closed)?;
        let mut r = XdrReader::new(record);
        let (_xid, stat) = decode_reply(&mut r)?;
        match stat {
            ReplyStat::Accepted(AcceptStat::Success) => Ok(r),
            other => Err(ClientError::Rpc(other)),
        }
    }
}

impl Drop for RpcConn {
    fn drop(&mut self) {
        // Ends the writer task, which closes the socket; the reader then ends too.
        self.calls.close_channel();
    }
}

async fn write_calls(
    mut writer: futures_lite::io::WriteHalf<TcpStream>,
    mut calls: mpsc::UnboundedReceiver<Bytes>,
) {
    let mut out: Vec<u8> = Vec::with_capacity(WRITE_BUFFER_BYTES);
    while let Some(first) = calls.next().await {
        let mut next = Some(first);
        while let Some(call) = next.take() {
            out.extend_from_slice(&record_mark(call.len()));
            if call.len() <= COALESCE_CALL_BYTES_MAX {
                out.extend_from_slice(&call);
            } else {
                if writer.write_all(&out).await.is_err() || writer.write_all(&call).await.is_err() {
                    return;
                }
                out.clear();
            }
            if out.len() >= WRITE_BUFFER_BYTES {
                break;
            }
            next = calls.try_recv().ok();
        }
        if !out.is_empty() {
            if writer.write_all(&out).await.is_err() {
                return;
            }
            out.clear();
        }
    }
    let _ = writer.close().await;
}

async fn read_replies(
    mut reader: futures_lite::io::ReadHalf<TcpStream>,
    waiters: Rc<Waiters>,
    stray: Rc<Cell<u64>>,
    closed: Rc<Cell<bool>>,
) {
    let mut assembler = RecordAssembler::new(REPLY_BYTES_MAX);
    let mut buf = vec![0u8; READ_CHUNK_BYTES];
    'conn: loop {
        let n = match reader.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        assembler.extend(&buf[..n]);
        loop {
            match assembler.next_record() {
                Ok(Some(record)) => {
                    let xid = record
                        .get(..4)
                        .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]));
                    let waiter = xid.and_then(|x| waiters.borrow_mut().remove(&x));
                    match waiter {
                        Some(tx) => {
                            let _ = tx.send(record);
                        }
                        None => stray.set(stray.get() + 1),
                    }
                }
                Ok(None) => break,
                Err(_) => break 'conn,
            }
        }
    }
    // Fail every call still waiting: dropping the senders cancels the receivers.
    closed.set(true);
    waiters.borrow_mut().clear();
}
