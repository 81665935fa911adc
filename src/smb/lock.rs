//! SMB2 LOCK (MS-SMB2 3.3.5.14) over the server-wide byte-range lock table
//! (`fs::locks`), and the mandatory-locking check READ and WRITE make.
//!
//! The element rules are Samba's reading of the spec: a request is either all
//! unlocks or all locks (an unlock request stops at its first non-unlock
//! element with STATUS_INVALID_PARAMETER, the unlocks before it applied); only
//! its first element may omit
//! SMB2_LOCKFLAG_FAIL_IMMEDIATELY (the request then blocks, async, until every
//! range can be taken at once); any other flag combination is
//! STATUS_INVALID_PARAMETER. Locks are granted all-or-none; unlocks are applied
//! in order and stop at the first range not held (STATUS_RANGE_NOT_LOCKED).
//! Lock sequence numbers are checked on durable and resilient opens
//! (`lockseq.rs`); a request that has to wait (async) records no number, so
//! its replay is processed again.

use dittofs_smb_wire::create::FileId;
use dittofs_smb_wire::header::Header;
use dittofs_smb_wire::io::{
    LockRequest, LOCKFLAG_EXCLUSIVE, LOCKFLAG_FAIL_IMMEDIATELY, LOCKFLAG_SHARED, LOCKFLAG_UNLOCK,
};
use dittofs_smb_wire::session::encode_empty;
use dittofs_smb_wire::status::*;
use futures_lite::FutureExt;

use super::create::open_mut;
use super::dispatch::Call;
use super::lockseq::{self, Begin};
use super::pending::PendingKind;
use super::state::ConnState;
use super::{ok, Reply, SmbContext};
use crate::fs::locks::{self, FileKey, LockError, LockOwner, LockRange};

fn lock_body() -> Vec<u8> {
    let mut body = Vec::new();
    encode_empty(&mut body);
    body
}

/// The checked form of a LOCK request.
#[derive(Debug, PartialEq, Eq)]
enum Plan {
    /// Ranges to unlock in order; `then_invalid`: an element after them is
    /// not an unlock, so the request fails with STATUS_INVALID_PARAMETER once
    /// they are unlocked (smbtorture smb2.lock.multiple-unlock, MS-SMB2
    /// 3.3.5.14.1).
    Unlock {
        ranges: Vec<(u64, u64)>,
        then_invalid: bool,
    },
    Lock {
        ranges: Vec<LockRange>,
        wait: bool,
    },
}

fn plan(req: &LockRequest) -> Result<Plan, u32> {
    let first = req.locks.first().ok_or(STATUS_INVALID_PARAMETER)?;
    if first.flags & LOCKFLAG_UNLOCK != 0 {
        if first.flags != LOCKFLAG_UNLOCK {
            return Err(STATUS_INVALID_PARAMETER);
        }
        let ranges: Vec<(u64, u64)> = req
            .locks
            .iter()
            .take_while(|l| l.flags == LOCKFLAG_UNLOCK)
            .map(|l| (l.offset, l.length))
            .collect();
        let then_invalid = ranges.len() < req.locks.len();
        return Ok(Plan::Unlock {
            ranges,
            then_invalid,
        });
    }
    let wait = first.flags & LOCKFLAG_FAIL_IMMEDIATELY == 0;
    let mut ranges = Vec::with_capacity(req.locks.len());
    for (i, l) in req.locks.iter().enumerate() {
        let exclusive = match l.flags & !LOCKFLAG_FAIL_IMMEDIATELY {
            LOCKFLAG_SHARED => false,
            LOCKFLAG_EXCLUSIVE => true,
            _ => return Err(STATUS_INVALID_PARAMETER),
        };
        if i > 0 && l.flags & LOCKFLAG_FAIL_IMMEDIATELY == 0 {
            return Err(STATUS_INVALID_PARAMETER);
        }
        ranges.push(LockRange {
            offset: l.offset,
            length: l.length,
            exclusive,
        });
    }
    Ok(Plan::Lock { ranges, wait })
}

/// The lock table key and owner of the open a request names.
fn target(
    ctx: &SmbContext,
    st: &mut ConnState,
    call: &Call,
    id: FileId,
) -> Result<(FileKey, LockOwner, u64), u32> {
    let conn = st.async_ops.conn_id;
    let fid = call.file_id(id)?;
    let open = open_mut(st, call, id)?;
    // The persistent half must match too (smbtorture smb2.lock.valid-request).
    if id != FileId::RELATED && id.persistent != open.persistent {
        return Err(STATUS_FILE_CLOSED);
    }
    if open.is_dir {
        return Err(STATUS_INVALID_PARAMETER);
    }
    let key = FileKey {
        share: ctx.shares[open.share].fs.share().id,
        ino: open.ino,
    };
    Ok((key, LockOwner { conn, open: fid }, fid))
}

pub fn lock(
    ctx: &SmbContext,
    st: &mut ConnState,
    call: &mut Call,
    hdr: &Header,
    req: &LockRequest,
) -> Result<Reply, u32> {
    let slot = match lockseq::begin(st, call, req.file_id, req.lock_sequence) {
        Begin::Replay => return ok(lock_body()),
        Begin::Proceed(slot) => slot,
    };
    let reply = apply(ctx, st, call, hdr, req)?;
    if reply.0 == STATUS_SUCCESS {
        lockseq::record(st, call, req.file_id, slot);
    }
    Ok(reply)
}

fn apply(
    ctx: &SmbContext,
    st: &mut ConnState,
    call: &mut Call,
    hdr: &Header,
    req: &LockRequest,
) -> Result<Reply, u32> {
    let (key, owner, fid) = target(ctx, st, call, req.file_id)?;
    let table = locks::global();
    let (ranges, wait) = match plan(req)? {
        Plan::Unlock {
            ranges,
            then_invalid,
        } => {
            for (offset, length) in ranges {
                table
                    .unlock(key, owner, offset, length)
                    .map_err(|_| STATUS_RANGE_NOT_LOCKED)?;
            }
            if then_invalid {
                return Err(STATUS_INVALID_PARAMETER);
            }
            return ok(lock_body());
        }
        Plan::Lock { ranges, wait } => (ranges, wait),
    };
    // A byte-range lock ends other opens' caching (MS-FSA 2.1.5.7: level II
    // and read leases are broken to none; smbtorture smb2.lease.lock1). The
    // breaks are sent, not waited for.
    if crate::fs::leases::ACTIVE_FILES.load(std::sync::atomic::Ordering::Relaxed) > 0 {
        let origin = super::oplock::origin_of(st, call, req.file_id);
        crate::fs::leases::table().break_now(
            (key.share, key.ino),
            origin,
            crate::fs::leases::Op::Write,
        );
    }
    let rx = match table.lock(key, owner, &ranges, wait) {
        Ok(()) => {
            st.async_ops.locked.insert(fid, key);
            return ok(lock_body());
        }
        Err(LockError::InvalidRange) => return Err(STATUS_INVALID_LOCK_RANGE),
        Err(LockError::Conflict(None)) => return Err(STATUS_LOCK_NOT_GRANTED),
        Err(LockError::Conflict(Some(rx))) => rx,
    };
    let outbox = st.outbox.clone();
    let (op, cancelled) = st
        .async_ops
        .pending
        .start(call, hdr, fid, PendingKind::Lock, outbox)?;
    // Recorded now so CLOSE releases whatever the waiter is granted.
    st.async_ops.locked.insert(fid, key);
    glommio::spawn_local(async move {
        let granted = async move {
            let mut rx = rx;
            loop {
                // A dropped sender (table entry gone) also means "try again".
                let _ = rx.await;
                match table.lock(key, owner, &ranges, true) {
                    Ok(()) => return Ok(ranges),
                    Err(LockError::Conflict(Some(next))) => rx = next,
                    Err(_) => return Err(STATUS_LOCK_NOT_GRANTED),
                }
            }
        };
        let cancel = async move {
            let _ = cancelled.await;
            Err(STATUS_CANCELLED)
        };
        match granted.or(cancel).await {
            Ok(_) if op.is_live() => op.finish(STATUS_SUCCESS, &lock_body()),
            Ok(ranges) => {
                // Cancelled while being granted: give the ranges back.
                for r in ranges {
                    let _ = table.unlock(key, owner, r.offset, r.length);
                }
            }
            Err(STATUS_CANCELLED) => {}
            Err(status) => op.finish(status, &super::error_reply(status).1),
        }
    })
    .detach();
    Ok((STATUS_PENDING, super::error_reply(STATUS_PENDING).1))
}

/// MS-FSA mandatory locking for READ (`write == false`) and WRITE: another
/// open's exclusive lock stops both; a shared lock stops WRITE.
pub fn check_io(
    ctx: &SmbContext,
    st: &mut ConnState,
    call: &Call,
    id: FileId,
    offset: u64,
    length: u64,
    write: bool,
) -> Result<(), u32> {
    let (key, owner, _) = target(ctx, st, call, id)?;
    if locks::global().io_allowed(key, owner, offset, length, write) {
        Ok(())
    } else {
        Err(STATUS_FILE_LOCK_CONFLICT)
    }
}

/// [`check_io`] for an open named by its volatile id, share index and inode
/// (server-side copy checks its source open this way).
#[allow(clippy::too_many_arguments)]
pub fn check_io_open(
    ctx: &SmbContext,
    st: &ConnState,
    vid: u64,
    share: usize,
    ino: crate::fs::InodeId,
    offset: u64,
    length: u64,
    write: bool,
) -> Result<(), u32> {
    let key = FileKey {
        share: ctx.shares[share].fs.share().id,
        ino,
    };
    let owner = LockOwner {
        conn: st.async_ops.conn_id,
        open: vid,
    };
    if locks::global().io_allowed(key, owner, offset, length, write) {
        Ok(())
    } else {
        Err(STATUS_FILE_LOCK_CONFLICT)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dittofs_smb_wire::io::LockElement;

    fn req(els: &[(u64, u64, u32)]) -> LockRequest {
        LockRequest {
            locks: els
                .iter()
                .map(|&(offset, length, flags)| LockElement {
                    offset,
                    length,
                    flags,
                })
                .collect(),
            ..LockRequest::default()
        }
    }

    #[test]
    fn element_rules() {
        const FI: u32 = LOCKFLAG_FAIL_IMMEDIATELY;
        assert_eq!(
            plan(&req(&[(0, 1, LOCKFLAG_UNLOCK), (5, 1, LOCKFLAG_UNLOCK)])),
            Ok(Plan::Unlock {
                ranges: vec![(0, 1), (5, 1)],
                then_invalid: false
            })
        );
        assert_eq!(
            plan(&req(&[(0, 1, LOCKFLAG_UNLOCK), (5, 1, LOCKFLAG_SHARED)])),
            Ok(Plan::Unlock {
                ranges: vec![(0, 1)],
                then_invalid: true
            }),
            "unlock then lock: the unlock applies, then the request fails"
        );
        assert_eq!(
            plan(&req(&[
                (0, 1, LOCKFLAG_SHARED | FI),
                (5, 1, LOCKFLAG_UNLOCK)
            ])),
            Err(STATUS_INVALID_PARAMETER),
            "lock then unlock: nothing is locked"
        );
        assert_eq!(
            plan(&req(&[(0, 1, LOCKFLAG_EXCLUSIVE | LOCKFLAG_UNLOCK)])),
            Err(STATUS_INVALID_PARAMETER)
        );
        assert_eq!(
            plan(&req(&[(0, 1, LOCKFLAG_SHARED | LOCKFLAG_EXCLUSIVE)])),
            Err(STATUS_INVALID_PARAMETER)
        );
        assert_eq!(
            plan(&req(&[(0, 1, LOCKFLAG_EXCLUSIVE), (5, 1, LOCKFLAG_SHARED)])),
            Err(STATUS_INVALID_PARAMETER),
            "only the first element may block"
        );
        let Ok(Plan::Lock { ranges, wait }) = plan(&req(&[
            (0, 1, LOCKFLAG_EXCLUSIVE),
            (5, 2, LOCKFLAG_SHARED | FI),
        ])) else {
            panic!("valid request refused");
        };
        assert!(wait);
        assert_eq!(ranges.len(), 2);
        assert!(ranges[0].exclusive && !ranges[1].exclusive);
        let Ok(Plan::Lock { wait, .. }) = plan(&req(&[(0, 1, LOCKFLAG_SHARED | FI)])) else {
            panic!("valid request refused");
        };
        assert!(!wait);
        assert_eq!(plan(&req(&[(0, 1, 0)])), Err(STATUS_INVALID_PARAMETER));
    }
}
