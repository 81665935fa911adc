//! One SMB2/3 client connection with many requests in flight.
//!
//! Like the RPC client ([`crate::client`]): a reader task matches responses to
//! waiting callers (by MessageId) and a writer task coalesces small requests into one
//! `write`. SMB adds credits: every request spends `CreditCharge` credits (one per
//! 64 KiB of payload) and every response grants some back; a caller without enough
//! credits waits until a response grants them, so the window the server allows is
//! never exceeded. Interim (STATUS_PENDING) responses grant credits but do not
//! complete the call.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::rc::Rc;

use dittofs_smb_wire::crypto::{self, SigningAlgorithm};
use dittofs_smb_wire::frame::{encode_transport_header, split_frame, TRANSPORT_HEADER_LEN};
use dittofs_smb_wire::header::{flags, Command, Header, HEADER_LEN};
use dittofs_smb_wire::status::STATUS_PENDING;
use futures_channel::{mpsc, oneshot};
use futures_lite::{AsyncReadExt, AsyncWriteExt, StreamExt};
use glommio::net::TcpStream;

use super::SmbError;

/// Largest response frame accepted (the transport header's 24-bit limit).
const FRAME_BYTES_MAX: usize = dittofs_smb_wire::frame::FRAME_LEN_MAX;
const READ_CHUNK_BYTES: usize = 256 << 10;
const COALESCE_BYTES_MAX: usize = 16 << 10;
const WRITE_BUFFER_BYTES: usize = 256 << 10;
/// Credits asked for with every request (servers cap the total they grant).
const CREDIT_REQUEST: u16 = 64;

type Waiters = RefCell<HashMap<u64, oneshot::Sender<Vec<u8>>>>;

/// State shared by the callers and the reader task.
struct Shared {
    waiters: Waiters,
    credits: Cell<u32>,
    credit_waiters: RefCell<Vec<oneshot::Sender<()>>>,
    closed: Cell<bool>,
}

impl Shared {
    fn grant(&self, n: u16) {
        self.credits.set(self.credits.get() + u32::from(n));
        for w in self.credit_waiters.borrow_mut().drain(..) {
            let _ = w.send(());
        }
    }
}

/// One request's raw bytes (kept for the 3.1.1 preauth hash) and its response.
pub struct Exchange {
    pub request: Vec<u8>,
    pub response: Vec<u8>,
    pub header: Header,
}

/// One TCP connection to an SMB server.
pub struct SmbConn {
    tx: mpsc::UnboundedSender<Vec<u8>>,
    shared: Rc<Shared>,
    next_mid: Cell<u64>,
    pub session_id: Cell<u64>,
    /// The session's signing key, set after SESSION_SETUP, and whether every
    /// request is signed (else only TREE_CONNECT, which 3.1.1 requires signed).
    signing: RefCell<Option<(SigningAlgorithm, Vec<u8>, bool)>>,
    /// Whether the dialect uses CreditCharge (2.1 and later).
    pub multi_credit: Cell<bool>,
    /// Responses whose MessageId matched no request.
    pub stray_responses: Rc<Cell<u64>>,
}

impl SmbConn {
    pub async fn connect(addr: SocketAddr) -> Result<SmbConn, SmbError> {
        let stream = TcpStream::connect(addr)
            .await
            .map_err(|e| SmbError::Connect(format!("{addr}: {e}")))?;
        let _ = stream.set_nodelay(true);
        let (reader, writer) = futures_lite::io::split(stream);
        let (tx, rx) = mpsc::unbounded::<Vec<u8>>();
        let shared = Rc::new(Shared {
            waiters: RefCell::new(HashMap::new()),
            credits: Cell::new(1),
            credit_waiters: RefCell::new(Vec::new()),
            closed: Cell::new(false),
        });
        let stray = Rc::new(Cell::new(0));
        glommio::spawn_local(write_frames(writer, rx)).detach();
        glommio::spawn_local(read_frames(reader, shared.clone(), stray.clone())).detach();
        Ok(SmbConn {
            tx,
            shared,
            next_mid: Cell::new(0),
            session_id: Cell::new(0),
            signing: RefCell::new(None),
            multi_credit: Cell::new(false),
            stray_responses: stray,
        })
    }

    /// Signs later TREE_CONNECTs with `key`, and every later request when `all`.
    pub fn set_signing(&self, algo: SigningAlgorithm, key: Vec<u8>, all: bool) {
        *self.signing.borrow_mut() = Some((algo, key, all));
    }

    /// Takes `charge` credits (waiting for grants if needed); returns the MessageId.
    async fn take_credits(&self, charge: u32) -> Result<u64, SmbError> {
        loop {
            if self.shared.closed.get() {
                return Err(SmbError::Closed);
            }
            let have = self.shared.credits.get();
            if have >= charge {
                self.shared.credits.set(have - charge);
                let mid = self.next_mid.get();
                self.next_mid.set(mid + u64::from(charge));
                return Ok(mid);
            }
            let (tx, rx) = oneshot::channel();
            self.shared.credit_waiters.borrow_mut().push(tx);
            rx.await.map_err(|_| SmbError::Closed)?;
        }
    }

    /// Sends one request (header built here) and waits for its final response.
    /// `payload_bytes` sizes the CreditCharge (READ/WRITE length).
    pub async fn call(
        &self,
        cmd: Command,
        tree_id: u32,
        body: &[u8],
        payload_bytes: usize,
    ) -> Result<Exchange, SmbError> {
        let charge = if self.multi_credit.get() {
            payload_bytes.div_ceil(65536).max(1) as u32
        } else {
            1
        };
        let mid = self.take_credits(charge).await?;
        let h = Header {
            credit_charge: if cmd == Command::Negotiate {
                0
            } else {
                charge as u16
            },
            command: cmd as u16,
            credits: CREDIT_REQUEST.max(charge as u16),
            message_id: mid,
            tree_id,
            session_id: self.session_id.get(),
            ..Header::default()
        };
        let mut msg = Vec::with_capacity(HEADER_LEN + body.len());
        h.encode(&mut msg);
        msg.extend_from_slice(body);
        if let Some((algo, key, _)) = self
            .signing
            .borrow()
            .as_ref()
            .filter(|(_, _, all)| *all || cmd == Command::TreeConnect)
        {
            crypto::sign(*algo, key, &mut msg).map_err(|e| SmbError::Crypto(e.to_string()))?;
        }
        let (tx, rx) = oneshot::channel();
        self.shared.waiters.borrow_mut().insert(mid, tx);
        let len = encode_transport_header(msg.len()).map_err(SmbError::Wire)?;
        let mut frame = Vec::with_capacity(TRANSPORT_HEADER_LEN + msg.len());
        frame.extend_from_slice(&len);
        frame.extend_from_slice(&msg);
        if self.tx.unbounded_send(frame).is_err() {
            self.shared.waiters.borrow_mut().remove(&mid);
            return Err(SmbError::Closed);
        }
        let response = rx.await.map_err(|_| SmbError::Closed)?;
        let header = Header::decode(&response).map_err(SmbError::Wire)?;
        Ok(Exchange {
            request: msg,
            response,
            header,
        })
    }
}

impl Drop for SmbConn {
    fn drop(&mut self) {
        self.tx.close_channel();
    }
}

async fn write_frames(
    mut writer: futures_lite::io::WriteHalf<TcpStream>,
    mut frames: mpsc::UnboundedReceiver<Vec<u8>>,
) {
    let mut out: Vec<u8> = Vec::with_capacity(WRITE_BUFFER_BYTES);
    while let Some(first) = frames.next().await {
        let mut next = Some(first);
        while let Some(f) = next.take() {
            if f.len() <= COALESCE_BYTES_MAX {
                out.extend_from_slice(&f);
            } else {
                if writer.write_all(&out).await.is_err() || writer.write_all(&f).await.is_err() {
                    return;
                }
                out.clear();
            }
            if out.len() >= WRITE_BUFFER_BYTES {
                break;
            }
            next = frames.try_recv().ok();
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

async fn read_frames(
    mut reader: futures_lite::io::ReadHalf<TcpStream>,
    shared: Rc<Shared>,
    stray: Rc<Cell<u64>>,
) {
    let mut buf: Vec<u8> = Vec::with_capacity(READ_CHUNK_BYTES * 2);
    let mut chunk = vec![0u8; READ_CHUNK_BYTES];
    'conn: loop {
        let n = match reader.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        buf.extend_from_slice(&chunk[..n]);
        let mut consumed = 0;
        loop {
            match split_frame(&buf[consumed..], FRAME_BYTES_MAX) {
                Ok(Some((msg, used))) => {
                    let Ok(h) = Header::decode(msg) else {
                        break 'conn;
                    };
                    shared.grant(h.credits);
                    let interim = h.status == STATUS_PENDING && h.flags & flags::ASYNC_COMMAND != 0;
                    if !interim {
                        let w = shared.waiters.borrow_mut().remove(&h.message_id);
                        match w {
                            Some(tx) => {
                                let _ = tx.send(msg.to_vec());
                            }
                            None => stray.set(stray.get() + 1),
                        }
                    }
                    consumed += used;
                }
                Ok(None) => break,
                Err(_) => break 'conn,
            }
        }
        buf.drain(..consumed);
    }
    shared.closed.set(true);
    shared.waiters.borrow_mut().clear();
    for w in shared.credit_waiters.borrow_mut().drain(..) {
        drop(w);
    }
}
