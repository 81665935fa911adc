//! Asynchronous operations of one connection (MS-SMB2 3.3.4.2, 3.3.5.16).
//!
//! A request that must wait (a blocking LOCK, CHANGE_NOTIFY) gets an interim
//! STATUS_PENDING response carrying a fresh AsyncId (granting credits as any
//! response does) and its work moves to a detached glommio task on this core.
//! That task ends with [`AsyncOp::finish`], which posts the final response
//! (same MessageId and AsyncId, no credits) to the connection's outbox.
//!
//! Why the table is the single source of truth: an entry leaves it exactly
//! once, either through `finish` or through a cancellation (CANCEL, CLOSE,
//! TREE_DISCONNECT, LOGOFF, connection end). Cancelling posts the final
//! response itself and drops the entry's oneshot sender, which stops the task;
//! a task that completes after its entry was cancelled posts nothing. The
//! table is `Rc<RefCell<..>>` because the connection task and its op tasks all
//! run on one core and never hold the borrow across an await.
//!
//! The number of pending operations per connection is bounded by
//! [`PENDING_MAX`]; past it a request that would wait fails with
//! STATUS_INSUFFICIENT_RESOURCES instead of growing memory without limit.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};

use dittofs_smb_wire::header::{flags, Header};
use dittofs_smb_wire::status::{
    STATUS_CANCELLED, STATUS_INSUFFICIENT_RESOURCES, STATUS_NOTIFY_CLEANUP, STATUS_RANGE_NOT_LOCKED,
};
use futures_channel::oneshot;

use super::dispatch::Call;
use super::error_reply;
use super::outbox::{Outbound, OutboxSender};
use super::state::ConnState;
use crate::fs::locks::{self, FileKey, LockOwner};
use crate::fs::watch::{self, WatchId};

/// A connection's async operations and what they hold server-wide.
pub struct AsyncState {
    /// Server-wide unique id of this connection (byte-range lock owner).
    pub conn_id: u64,
    pub pending: PendingTable,
    /// Opens holding (or waiting for) byte-range locks: volatile id → file.
    pub locked: HashMap<u64, FileKey>,
    /// Opens with a directory watch: volatile id → watch.
    pub watches: HashMap<u64, WatchId>,
}

impl Default for AsyncState {
    fn default() -> Self {
        static NEXT_CONN_ID: AtomicU64 = AtomicU64::new(1);
        AsyncState {
            conn_id: NEXT_CONN_ID.fetch_add(1, Ordering::Relaxed),
            pending: PendingTable::default(),
            locked: HashMap::new(),
            watches: HashMap::new(),
        }
    }
}

/// After CLOSE, TREE_DISCONNECT or LOGOFF: whatever belonged to opens that are
/// gone is released (locks, watches) or completed (pending operations: a
/// waiting lock with STATUS_RANGE_NOT_LOCKED, a watch with STATUS_NOTIFY_CLEANUP).
pub fn release_closed(st: &mut ConnState) {
    let opens = &st.opens;
    let a = &mut st.async_ops;
    a.pending.cancel_where(
        |(_, i)| i.kind != PendingKind::Create && !opens.contains_key(&i.file_id),
        |i| match i.kind {
            PendingKind::Lock => STATUS_RANGE_NOT_LOCKED,
            PendingKind::Notify => STATUS_NOTIFY_CLEANUP,
            PendingKind::Create => STATUS_CANCELLED,
        },
    );
    let owner = a.conn_id;
    a.locked.retain(|fid, key| {
        let keep = opens.contains_key(fid);
        if !keep {
            locks::global().release_owner(
                *key,
                LockOwner {
                    conn: owner,
                    open: *fid,
                },
            );
        }
        keep
    });
    a.watches.retain(|fid, w| {
        let keep = opens.contains_key(fid);
        if !keep {
            watch::global().unregister(*w);
        }
        keep
    });
}

/// A session ends without LOGOFF (failed re-authentication, replaced by a
/// reconnect): its opens close and what they held is released or completed
/// as on CLOSE.
pub fn end_session(st: &mut ConnState, session_id: u64) {
    st.sessions.remove(&session_id);
    st.opens.retain(|_, o| o.session_id != session_id);
    super::ipc::drop_pipes(st, session_id, None);
    release_closed(st);
}

/// Connection end: pending operations are dropped unanswered, locks and
/// watches released.
pub fn connection_ended(st: &mut ConnState) {
    st.async_ops.pending.drop_all();
    st.opens.clear();
    release_closed(st);
}

/// Most operations pending at once on one connection.
pub const PENDING_MAX: usize = 512;

/// What an async operation waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PendingKind {
    Lock,
    Notify,
    /// A CREATE waiting for break acknowledgments (`defer.rs`); it names no open.
    Create,
}

/// What a pending operation belongs to (for cancellation on close/logoff).
#[derive(Debug, Clone, Copy)]
pub struct PendingInfo {
    pub message_id: u64,
    pub session_id: u64,
    pub tree_id: u32,
    /// Volatile file id of the open it waits on.
    pub file_id: u64,
    pub kind: PendingKind,
}

struct Entry {
    info: PendingInfo,
    /// Header of the final response (async form), status and credits to fill.
    template: Header,
    sign: bool,
    outbox: OutboxSender,
    /// Dropped on cancellation: the task's receiver then resolves.
    _cancel: oneshot::Sender<()>,
}

impl Entry {
    fn post(self, status: u32, body: &[u8]) {
        let mut h = self.template;
        h.status = status;
        let mut msg = Vec::with_capacity(64 + body.len());
        h.encode(&mut msg);
        msg.extend_from_slice(body);
        // The connection may be gone; then nobody is waiting for the answer.
        let _ = self.outbox.unbounded_send(Outbound {
            session_id: h.session_id,
            msg,
            sign: self.sign,
        });
    }
}

#[derive(Default)]
struct Inner {
    ops: HashMap<u64, Entry>,
    next_async_id: u64,
}

/// The connection's pending operations.
#[derive(Default, Clone)]
pub struct PendingTable(Rc<RefCell<Inner>>);

/// The handle a waiting task finishes its operation with.
pub struct AsyncOp {
    table: PendingTable,
    pub async_id: u64,
}

impl AsyncOp {
    /// Whether the operation is still waiting (not cancelled).
    pub fn is_live(&self) -> bool {
        self.table.0.borrow().ops.contains_key(&self.async_id)
    }

    /// Sends the final response, unless the operation was cancelled already.
    pub fn finish(self, status: u32, body: &[u8]) {
        let entry = self.table.0.borrow_mut().ops.remove(&self.async_id);
        if let Some(e) = entry {
            e.post(status, body);
        }
    }
}

impl PendingTable {
    /// Registers an operation that goes async. Marks `call` so its response
    /// becomes the interim one; the receiver resolves when it is cancelled.
    pub(crate) fn start(
        &self,
        call: &mut Call,
        hdr: &Header,
        file_id: u64,
        kind: PendingKind,
        outbox: OutboxSender,
    ) -> Result<(AsyncOp, oneshot::Receiver<()>), u32> {
        if call.more_follow {
            return Err(dittofs_smb_wire::status::STATUS_INTERNAL_ERROR);
        }
        let mut inner = self.0.borrow_mut();
        if inner.ops.len() >= PENDING_MAX {
            return Err(STATUS_INSUFFICIENT_RESOURCES);
        }
        inner.next_async_id += 1;
        let async_id = inner.next_async_id;
        let mut template = hdr.response(0, 0);
        template.flags = (template.flags | flags::ASYNC_COMMAND) & !flags::RELATED_OPERATIONS;
        template.async_id = async_id;
        template.session_id = call.session_id;
        template.tree_id = 0;
        let (tx, rx) = oneshot::channel();
        inner.ops.insert(
            async_id,
            Entry {
                info: PendingInfo {
                    message_id: hdr.message_id,
                    session_id: call.session_id,
                    tree_id: call.tree_id,
                    file_id,
                    kind,
                },
                template,
                sign: call.signed,
                outbox,
                _cancel: tx,
            },
        );
        call.async_id = Some(async_id);
        Ok((
            AsyncOp {
                table: self.clone(),
                async_id,
            },
            rx,
        ))
    }

    /// CANCEL of an async request (by AsyncId) or of a sync one (by
    /// MessageId): completes it with STATUS_CANCELLED. False if none matched.
    pub fn cancel_request(&self, hdr: &Header) -> bool {
        let found = {
            let inner = self.0.borrow();
            if hdr.is_async() {
                inner
                    .ops
                    .contains_key(&hdr.async_id)
                    .then_some(hdr.async_id)
            } else {
                inner
                    .ops
                    .iter()
                    .find(|(_, e)| e.info.message_id == hdr.message_id)
                    .map(|(id, _)| *id)
            }
        };
        match found {
            Some(id) => {
                self.cancel_where(|i| i.0 == id, |_| STATUS_CANCELLED);
                true
            }
            None => false,
        }
    }

    /// Completes every operation `pred` selects with the status `status_of`
    /// gives it (`(async_id, info)` in, NTSTATUS out). Returns how many.
    pub fn cancel_where(
        &self,
        pred: impl Fn((u64, &PendingInfo)) -> bool,
        status_of: impl Fn(&PendingInfo) -> u32,
    ) -> usize {
        let taken: Vec<Entry> = {
            let mut inner = self.0.borrow_mut();
            let ids: Vec<u64> = inner
                .ops
                .iter()
                .filter(|(id, e)| pred((**id, &e.info)))
                .map(|(id, _)| *id)
                .collect();
            ids.iter().filter_map(|id| inner.ops.remove(id)).collect()
        };
        let n = taken.len();
        for e in taken {
            let status = status_of(&e.info);
            let (_, body) = error_reply(status);
            e.post(status, &body);
        }
        n
    }

    /// Drops every operation without a response (connection end).
    pub fn drop_all(&self) {
        let ops = std::mem::take(&mut self.0.borrow_mut().ops);
        drop(ops);
    }

    /// Operations pending now.
    pub fn len(&self) -> usize {
        self.0.borrow().ops.len()
    }

    /// Whether nothing is pending.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_lite::StreamExt;
    use std::net::{Ipv4Addr, SocketAddr};

    fn call() -> Call {
        Call {
            session_id: 5,
            tree_id: 3,
            last_file_id: None,
            local: SocketAddr::from((Ipv4Addr::LOCALHOST, 445)),
            signed: true,
            async_id: None,
            more_follow: false,
        }
    }

    fn req(mid: u64) -> Header {
        Header {
            command: 0xA,
            message_id: mid,
            session_id: 5,
            tree_id: 3,
            ..Header::default()
        }
    }

    #[test]
    fn finish_posts_async_final_once() {
        let t = PendingTable::default();
        let (tx, rx) = super::super::outbox::channel();
        let mut c = call();
        let (op, _cancel) = t
            .start(&mut c, &req(9), 1, PendingKind::Lock, tx.clone())
            .unwrap();
        assert_eq!(c.async_id, Some(op.async_id));
        assert!(op.is_live());
        op.finish(0, &[4, 0, 0, 0]);
        assert!(t.is_empty());
        drop(tx);
        let got: Vec<Outbound> = futures_lite::future::block_on(rx.collect());
        assert_eq!(got.len(), 1);
        let h = Header::decode(&got[0].msg).unwrap();
        assert!(h.is_async() && h.is_response());
        assert_eq!((h.message_id, h.async_id, h.credits), (9, 1, 0));
        assert!(got[0].sign);
    }

    #[test]
    fn cancel_by_message_or_async_id_and_bound() {
        let t = PendingTable::default();
        let (tx, rx) = super::super::outbox::channel();
        let mut c = call();
        let (op1, mut cancel1) = t
            .start(&mut c, &req(1), 1, PendingKind::Lock, tx.clone())
            .unwrap();
        let (_op2, _c2) = t
            .start(&mut c, &req(2), 2, PendingKind::Notify, tx.clone())
            .unwrap();
        assert!(!t.cancel_request(&req(7)), "unknown message id");
        assert!(t.cancel_request(&req(1)));
        assert_eq!(
            cancel1.try_recv(),
            Err(oneshot::Canceled),
            "the task sees it"
        );
        assert!(!op1.is_live());
        op1.finish(0, &[]);
        let mut by_async = req(0);
        by_async.flags |= flags::ASYNC_COMMAND;
        by_async.async_id = 2;
        assert!(t.cancel_request(&by_async));
        assert!(t.is_empty());
        for i in 0..PENDING_MAX as u64 {
            t.start(&mut c, &req(10 + i), 3, PendingKind::Lock, tx.clone())
                .map(|(op, rx)| std::mem::forget((op, rx)))
                .unwrap();
        }
        assert_eq!(
            t.start(&mut c, &req(1), 3, PendingKind::Lock, tx.clone())
                .err(),
            Some(STATUS_INSUFFICIENT_RESOURCES)
        );
        assert_eq!(t.cancel_where(|(_, i)| i.file_id == 3, |_| 0), PENDING_MAX);
        drop(tx);
        let got: Vec<Outbound> = futures_lite::future::block_on(rx.collect());
        assert_eq!(got.len(), 2 + PENDING_MAX, "only cancellations posted");
        let h = Header::decode(&got[0].msg).unwrap();
        assert_eq!((h.message_id, h.status), (1, STATUS_CANCELLED));
    }
}
