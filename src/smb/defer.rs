//! Deferred CREATE: an open that must wait for a lease or oplock break to be
//! acknowledged goes async (MS-SMB2 3.3.5.9, 3.3.4.2) instead of blocking its
//! connection.
//!
//! Why a replay rather than a continuation: the CREATE handler works on the
//! connection's state (`&mut ConnState`), which only the connection loop may
//! touch. So when a break needs an acknowledgment the handler stops before
//! changing anything ([`STATUS_DEFERRED`], the breaks already sent), the
//! dispatcher answers STATUS_PENDING with a fresh AsyncId ([`super::pending`]),
//! and a detached task on this core waits (bounded by `lease_break_wait_ms`)
//! until every break is acknowledged or forced. It then hands the request back
//! to the connection loop ([`Replay`]), which runs CREATE again (now without
//! deferring: the grants are already broken) and posts the final response with
//! the AsyncId. Meanwhile the connection keeps reading frames, so the breaking
//! client's OPLOCK_BREAK acknowledgment on the same connection gets through
//! (no self-deadlock), and two clients opening each other's leased files wait
//! in parallel instead of each blocking its connection.
//!
//! A CREATE inside a compound chain with more requests after it cannot go async
//! and waits in place as before (bounded); so does a replayed one.

use std::net::SocketAddr;
use std::time::Duration;

use dittofs_smb_wire::create::FileId;
use dittofs_smb_wire::header::Header;
use dittofs_smb_wire::status::{STATUS_CANCELLED, STATUS_INVALID_PARAMETER, STATUS_PENDING};
use dittofs_smb_wire::Request;
use futures_channel::mpsc;
use futures_lite::FutureExt;

use super::dispatch::Call;
use super::pending::{AsyncOp, PendingKind};
use super::state::ConnState;
use super::{error_reply, Reply, SmbContext};
use crate::fs::leases::{self, FileKey, Op, Origin};
use crate::fs::{Fs, InodeId};

/// Internal status (never sent): the CREATE handler deferred itself. Not a valid
/// NTSTATUS facility, so no real status collides with it.
pub(crate) const STATUS_DEFERRED: u32 = 0xDEF0_0001;

/// The breaks a deferred CREATE waits for.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Wait {
    file: FileKey,
    origin: Origin,
    op: Op,
}

/// A deferred CREATE handed back to its connection loop.
pub struct Replay {
    op: AsyncOp,
    msg: Vec<u8>,
    session_id: u64,
    tree_id: u32,
    last_file_id: Option<FileId>,
    local: SocketAddr,
    signed: bool,
}

/// The connection loop's end of the replay queue.
pub type ReplayReceiver = mpsc::UnboundedReceiver<Replay>;

/// A connection's deferral state.
#[derive(Default)]
pub struct DeferState {
    /// Set by the connection loop; without it nothing is deferred (unit tests).
    tx: Option<mpsc::UnboundedSender<Replay>>,
    /// What the CREATE being handled deferred for.
    wait: Option<Wait>,
    /// A replayed CREATE is running: it waits in place.
    replaying: bool,
}

impl DeferState {
    /// A live replay queue (the connection loop keeps the receiver).
    pub fn install(&mut self) -> ReplayReceiver {
        let (tx, rx) = mpsc::unbounded();
        self.tx = Some(tx);
        rx
    }
}

/// Breaks what `op` by `origin` on `ino` conflicts with. When an acknowledgment
/// is needed and the request may go async: records the wait and returns
/// [`STATUS_DEFERRED`]; otherwise waits in place (bounded; never for the
/// caller's own connection).
pub(crate) async fn break_or_defer(
    st: &mut ConnState,
    call: &Call,
    fs: &Fs,
    ino: InodeId,
    origin: Origin,
    op: Op,
) -> Result<(), u32> {
    if leases::ACTIVE_FILES.load(std::sync::atomic::Ordering::Relaxed) == 0 {
        return Ok(());
    }
    let file = (fs.share().id, ino);
    let table = leases::table();
    if st.defer.tx.is_some() && !st.defer.replaying && !call.more_follow {
        if table.break_create(file, origin, op, true) {
            st.defer.wait = Some(Wait { file, origin, op });
            return Err(STATUS_DEFERRED);
        }
        return Ok(());
    }
    // In place: nothing to wait for by the CREATE rule, or else the bounded
    // wait of any fs operation (never for the caller's own connection).
    if !table.break_create(file, origin, op, !st.defer.replaying) {
        return Ok(());
    }
    let wait = Duration::from_millis(leases::smb_wait_ms());
    table.break_and_wait(file, Some(origin), op, wait).await;
    Ok(())
}

/// A rename (SET_INFO) whose breaks of other opens' handle caching need an
/// acknowledgment goes async like a CREATE: nothing renamed yet, the breaks
/// sent, [`STATUS_DEFERRED`]; the replay renames once they are acknowledged.
pub(crate) fn rename_or_defer(st: &mut ConnState, call: &Call, file: FileKey) -> Result<(), u32> {
    let Some(origin) = leases::current_origin() else {
        return Ok(());
    };
    if leases::ACTIVE_FILES.load(std::sync::atomic::Ordering::Relaxed) == 0
        || st.defer.tx.is_none()
        || st.defer.replaying
        || call.more_follow
    {
        return Ok(());
    }
    if leases::table().break_now(file, Some(origin), Op::Rename) {
        st.defer.wait = Some(Wait {
            file,
            origin,
            op: Op::Rename,
        });
        return Err(STATUS_DEFERRED);
    }
    Ok(())
}

/// The CREATE (or rename) deferred: answers STATUS_PENDING and starts the task that waits
/// for the breaks and hands the request back.
pub(crate) fn go_async(st: &mut ConnState, call: &mut Call, hdr: &Header, msg: &[u8]) -> Reply {
    let (Some(w), Some(tx)) = (st.defer.wait.take(), st.defer.tx.clone()) else {
        return error_reply(STATUS_INVALID_PARAMETER);
    };
    let outbox = st.outbox.clone();
    let (op, cancelled) =
        match st
            .async_ops
            .pending
            .start(call, hdr, 0, PendingKind::Create, outbox)
        {
            Ok(x) => x,
            Err(status) => return error_reply(status),
        };
    let replay = Replay {
        op,
        msg: msg.to_vec(),
        session_id: call.session_id,
        tree_id: call.tree_id,
        last_file_id: call.last_file_id,
        local: call.local,
        signed: call.signed,
    };
    glommio::spawn_local(async move {
        let wait = Duration::from_millis(leases::smb_wait_ms());
        let done = async {
            leases::table()
                .wait_breaks(w.file, w.origin, w.op, wait)
                .await;
            true
        };
        let cancel = async {
            let _ = cancelled.await;
            false
        };
        if done.or(cancel).await && replay.op.is_live() {
            // The connection may be gone; then nobody waits for the answer.
            let _ = tx.unbounded_send(replay);
        }
    })
    .detach();
    error_reply(STATUS_PENDING)
}

/// Runs a deferred CREATE again on its connection and posts its final response.
pub async fn replay(ctx: &SmbContext, st: &mut ConnState, r: Replay) {
    if !r.op.is_live() {
        return;
    }
    let mut call = Call {
        session_id: r.session_id,
        tree_id: r.tree_id,
        last_file_id: r.last_file_id,
        local: r.local,
        signed: r.signed,
        async_id: None,
        more_follow: false,
    };
    st.defer.replaying = true;
    let result = match Request::decode(&r.msg) {
        Ok((_, Request::Create(req))) => super::create::create(ctx, st, &mut call, &req).await,
        Ok((_, Request::SetInfo(req))) => {
            let o = super::oplock::origin_of(st, &call, req.file_id);
            super::oplock::as_open(o, super::info::set_info(ctx, st, &mut call, &req)).await
        }
        _ => Err(STATUS_INVALID_PARAMETER),
    };
    st.defer.replaying = false;
    st.defer.wait = None;
    let (status, body) = match result {
        Ok(reply) => reply,
        Err(STATUS_DEFERRED) => error_reply(STATUS_CANCELLED),
        Err(status) => error_reply(status),
    };
    r.op.finish(status, &body);
}
