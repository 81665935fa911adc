//! Durable handles (MS-SMB2 3.3.5.9.6/.7 v1 DHnQ/DHnC, 3.3.5.9.10/.12 v2
//! DH2Q/DH2C): an open with a batch oplock or a lease caching the handle (H)
//! outlives its connection for a timeout, and a CREATE with a reconnect context
//! on a new connection of the same user takes it back (same persistent file id,
//! grant kept).
//!
//! Why a process-wide table: the reconnecting connection may land on another
//! core, so a parked open cannot stay in the dead connection's [`ConnState`].
//! Like the lease and lock tables it is sharded by persistent id over
//! `std::sync::Mutex`es that are never held across an await, and [`PARKED`]
//! makes "nothing parked" one relaxed load.
//!
//! While parked an open keeps its lease-table registration, share-mode entry
//! and delete-on-close flag. It ends when its timeout passes (a timer task on
//! the core where its connection ended closes it, deleting the file when
//! delete-on-close was set), or when a break of its grant is sent (the sink
//! finds its connection gone, [`purge_holder`]): MS-SMB2 3.3.4.6/3.3.4.7 close a
//! disconnected open instead of breaking it. Its byte-range locks stay in the
//! lock table while parked (they still conflict with other opens and stop
//! their I/O), are handed to the new connection's owner at the reconnect and
//! released when the parked open ends ([`ParkedLocks`]). Persistent handles are refused
//! (granted as plain durable), as Samba does without continuous availability.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{LazyLock, Mutex, MutexGuard};
use std::time::Duration;

use dittofs_smb_wire::create::{CreateRequest, CreateResponse, FileId, FILE_OPENED};
use dittofs_smb_wire::create_ctx::{CreateContext, Lease};
use dittofs_smb_wire::status::*;

use super::dispatch::Call;
use super::state::{ConnState, Open};
use super::tree::disk_share;
use super::{ok, times_of, Reply, SmbContext};
use crate::fs::leases::{self, Holder, H};
use crate::fs::locks::{self, FileKey, LockOwner};
use crate::fs::Cred;

/// Timeout when the client asks for none (v1 always), as Samba and Windows.
pub const TIMEOUT_MS_DEFAULT: u32 = 60_000;
/// Longest timeout granted.
pub const TIMEOUT_MS_MAX: u32 = 300_000;
/// DH2Q flag: a persistent handle (not offered).
const DH2_FLAG_PERSISTENT: u32 = 0x02;
const SHARDS: usize = 16;
/// How long a reconnect looks for an open whose connection is still ending.
const RECONNECT_POLLS: u32 = 10;
const RECONNECT_POLL_MS: u64 = 5;

/// What makes an open durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Durable {
    /// DH2Q (else DHnQ).
    pub v2: bool,
    pub create_guid: [u8; 16],
    pub timeout_ms: u32,
    /// The lease key and whether it is a v2 lease (None: an oplock).
    pub lease: Option<([u8; 16], bool)>,
}

/// A durable open whose connection is gone.
struct Parked {
    open: Open,
    user: String,
    client_guid: [u8; 16],
    cred: Cred,
    /// Which park this is (a reattached and parked again open gets a new one).
    generation: u64,
    /// Its byte-range locks, kept for the reconnect.
    locks: Option<ParkedLocks>,
}

/// The byte-range locks of a parked open: released when dropped (expiry,
/// break, shutdown), handed over by [`ParkedLocks::reassign`] at a reconnect.
struct ParkedLocks {
    key: FileKey,
    owner: LockOwner,
}

impl ParkedLocks {
    /// Gives the locks to the open's new owner; nothing is released.
    fn reassign(self, to: LockOwner) -> FileKey {
        let key = self.key;
        locks::global().reassign(key, self.owner, to);
        std::mem::forget(self);
        key
    }
}

impl Drop for ParkedLocks {
    fn drop(&mut self) {
        locks::global().release_owner(self.key, self.owner);
    }
}

/// Parked opens in the whole process (0: nothing to look up or purge).
static PARKED: AtomicUsize = AtomicUsize::new(0);
static TABLE: LazyLock<Vec<Mutex<HashMap<u64, Parked>>>> =
    LazyLock::new(|| (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect());

fn shard(persistent: u64) -> MutexGuard<'static, HashMap<u64, Parked>> {
    TABLE[(persistent as usize) % SHARDS]
        .lock()
        .unwrap_or_else(|e| e.into_inner())
}

fn take(persistent: u64, generation: Option<u64>) -> Option<Parked> {
    if PARKED.load(Ordering::Relaxed) == 0 {
        return None;
    }
    let mut s = shard(persistent);
    if generation.is_some_and(|g| s.get(&persistent).map(|p| p.generation) != Some(g)) {
        return None;
    }
    let p = s.remove(&persistent)?;
    PARKED.fetch_sub(1, Ordering::Relaxed);
    Some(p)
}

fn put(persistent: u64, p: Parked) {
    if shard(persistent).insert(persistent, p).is_none() {
        PARKED.fetch_add(1, Ordering::Relaxed);
    }
}

/// A reconnect context in a CREATE.
enum Reconnect {
    V1 {
        persistent: u64,
    },
    V2 {
        persistent: u64,
        create_guid: [u8; 16],
    },
}

fn persistent_of(file_id: &[u8; 16]) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&file_id[..8]);
    u64::from_le_bytes(b)
}

/// The durable request of a CREATE (validated: one kind only), if any.
/// Returns (v2, create_guid, timeout_ms).
pub(crate) fn requested(req: &CreateRequest) -> Result<Option<(bool, [u8; 16], u32)>, u32> {
    let mut found = None;
    let mut reconnect = false;
    for c in &req.contexts {
        let this = match c {
            CreateContext::DurableRequest => Some((false, [0; 16], TIMEOUT_MS_DEFAULT)),
            CreateContext::DurableV2Request {
                timeout,
                flags: _,
                create_guid,
            } => {
                let t = if *timeout == 0 {
                    TIMEOUT_MS_DEFAULT
                } else {
                    (*timeout).min(TIMEOUT_MS_MAX)
                };
                Some((true, *create_guid, t))
            }
            CreateContext::DurableReconnect { .. } | CreateContext::DurableV2Reconnect { .. } => {
                reconnect = true;
                None
            }
            _ => None,
        };
        if let Some(t) = this {
            if found.is_some() {
                return Err(STATUS_INVALID_PARAMETER);
            }
            found = Some(t);
        }
    }
    if reconnect && found.is_some() {
        return Err(STATUS_INVALID_PARAMETER);
    }
    Ok(found)
}

fn reconnect_of(req: &CreateRequest) -> Result<Option<Reconnect>, u32> {
    let mut found = None;
    let (mut v1_request, mut v2_request) = (false, false);
    for c in &req.contexts {
        let r = match c {
            CreateContext::DurableReconnect { file_id } => Reconnect::V1 {
                persistent: persistent_of(file_id),
            },
            CreateContext::DurableV2Reconnect {
                file_id,
                create_guid,
                flags,
            } => {
                if flags & DH2_FLAG_PERSISTENT != 0 {
                    return Err(STATUS_OBJECT_NAME_NOT_FOUND);
                }
                Reconnect::V2 {
                    persistent: persistent_of(file_id),
                    create_guid: *create_guid,
                }
            }
            CreateContext::DurableRequest => {
                v1_request = true;
                continue;
            }
            CreateContext::DurableV2Request { .. } => {
                v2_request = true;
                continue;
            }
            _ => continue,
        };
        if found.is_some() {
            return Err(STATUS_INVALID_PARAMETER);
        }
        found = Some(r);
    }
    // MS-SMB2 3.3.5.9.7/3.3.5.9.12: DHnQ next to DHnC is ignored; any other
    // request next to a reconnect is invalid.
    match found {
        Some(Reconnect::V1 { .. }) if v2_request => Err(STATUS_INVALID_PARAMETER),
        Some(Reconnect::V2 { .. }) if v1_request || v2_request => Err(STATUS_INVALID_PARAMETER),
        f => Ok(f),
    }
}

/// Whether a CREATE's name names the open's path (case-insensitively).
fn same_name(open: &Open, name: &str) -> bool {
    let asked: Vec<&str> = name.split('\\').filter(|c| !c.is_empty()).collect();
    let have: Vec<&str> = open.path.split('\\').filter(|c| !c.is_empty()).collect();
    asked.len() == have.len()
        && asked
            .iter()
            .zip(&have)
            .all(|(a, b)| a.to_lowercase() == b.to_lowercase())
}

/// Whether an open's grant lets it be durable now: a batch oplock or a lease
/// with H (MS-SMB2 3.3.5.9.6, 3.3.5.9.10).
fn grant_allows(open: &Open) -> bool {
    let Some(c) = open.caching.as_ref() else {
        return false;
    };
    match leases::table().state(c.token.file(), c.origin.holder) {
        Some((state, breaking_to)) => state & breaking_to.unwrap_or(state) & H != 0,
        None => false,
    }
}

/// Marks a new open durable when it asked and its grant allows; the response
/// context to add.
pub(crate) fn grant(
    open: &mut Open,
    asked: Option<(bool, [u8; 16], u32)>,
    lease: Option<&Lease>,
) -> Option<CreateContext> {
    let (v2, create_guid, timeout_ms) = asked?;
    if open.is_dir || !grant_allows(open) {
        return None;
    }
    open.durable = Some(Durable {
        v2,
        create_guid,
        timeout_ms,
        lease: lease.map(|l| (l.key, l.parent_key.is_some())),
    });
    Some(if v2 {
        CreateContext::DurableV2Response {
            timeout: timeout_ms,
            flags: 0,
        }
    } else {
        CreateContext::DurableResponse
    })
}

/// Connection end: parks its durable opens whose grant still allows it (the
/// rest are closed with the connection) and arms their expiry on this core.
pub fn park(ctx: &SmbContext, st: &mut ConnState) {
    park_where(ctx, st, None);
}

/// A session ended by a reconnect naming it (PreviousSessionId): its durable
/// opens are parked for the reconnect, like at a disconnect.
pub(crate) fn park_session(ctx: &SmbContext, st: &mut ConnState, sid: u64) {
    park_where(ctx, st, Some(sid));
}

fn park_where(ctx: &SmbContext, st: &mut ConnState, only: Option<u64>) {
    let ids: Vec<u64> = st
        .opens
        .iter()
        .filter(|(_, o)| o.durable.is_some() && only.is_none_or(|s| o.session_id == s))
        .map(|(k, _)| *k)
        .collect();
    for vid in ids {
        let Some(open) = st.opens.remove(&vid) else {
            continue;
        };
        // Delete-on-close set: not kept (Samba refuses to disconnect such a
        // handle; smbtorture durable-open.delete_on_close1).
        if open.delete_pending || !grant_allows(&open) {
            st.opens.insert(vid, open);
            continue;
        }
        let Some(sess) = st.sessions.get(&open.session_id) else {
            continue;
        };
        let timeout_ms = open.durable.map_or(TIMEOUT_MS_DEFAULT, |d| d.timeout_ms);
        let persistent = open.persistent;
        let generation = leases::new_id();
        let fs = ctx.shares.get(open.share).map(|s| s.fs.clone());
        log::debug!("durable open {} parked for {timeout_ms} ms", open.path);
        // Taken out of the connection's bookkeeping so its end does not
        // release them.
        let locks = st.async_ops.locked.remove(&vid).map(|key| ParkedLocks {
            key,
            owner: LockOwner {
                conn: st.async_ops.conn_id,
                open: vid,
            },
        });
        put(
            persistent,
            Parked {
                open,
                user: sess.user.clone(),
                client_guid: st.client_guid,
                cred: sess.cred.clone(),
                generation,
                locks,
            },
        );
        let Some(fs) = fs else {
            continue;
        };
        glommio::spawn_local(async move {
            glommio::timer::sleep(Duration::from_millis(u64::from(timeout_ms))).await;
            if let Some(mut p) = take(persistent, Some(generation)) {
                log::debug!("durable open {} expired", p.open.path);
                p.open.caching = None;
                if p.open.delete_pending {
                    if let Err(s) = super::create::delete_now(&fs, &p.cred, &p.open, true).await {
                        log::debug!("delete on close of {} failed: {s:#x}", p.open.path);
                    }
                }
                drop(p);
                fs.reap_released().await;
            }
        })
        .detach();
    }
}

/// Connection end: opens with delete-on-close set are closed with their
/// deletion (run on this core after the connection is gone).
pub fn delete_on_disconnect(ctx: &SmbContext, st: &mut ConnState) {
    let ids: Vec<u64> = st
        .opens
        .iter()
        .filter(|(_, o)| o.delete_pending)
        .map(|(k, _)| *k)
        .collect();
    for vid in ids {
        let Some(mut open) = st.opens.remove(&vid) else {
            continue;
        };
        // Its grant goes first: the remove breaks every grant on the file and
        // must not wait for this connection's, which can no longer answer.
        open.caching = None;
        let (Some(share), Some(sess)) = (
            ctx.shares.get(open.share),
            st.sessions.get(&open.session_id),
        ) else {
            continue;
        };
        let (fs, cred, windows) = (share.fs.clone(), sess.cred.clone(), !st.posix);
        glommio::spawn_local(async move {
            if let Err(s) = super::create::delete_now(&fs, &cred, &open, windows).await {
                log::debug!("delete on close of {} failed: {s:#x}", open.path);
            }
            drop(open);
            fs.reap_released().await;
        })
        .detach();
    }
}

/// A break was sent to `holder` whose connection is gone: its parked opens are
/// closed (MS-SMB2 3.3.4.6/3.3.4.7), which unregisters their grants so the
/// breaker stops waiting.
pub(crate) fn purge_holder(holder: Holder) {
    if PARKED.load(Ordering::Relaxed) == 0 {
        return;
    }
    let mut gone = Vec::new();
    for s in TABLE.iter() {
        let mut s = s.lock().unwrap_or_else(|e| e.into_inner());
        let ids: Vec<u64> = s
            .iter()
            .filter(|(_, p)| p.open.caching.as_ref().map(|c| c.origin.holder) == Some(holder))
            .map(|(k, _)| *k)
            .collect();
        for id in ids {
            if let Some(p) = s.remove(&id) {
                PARKED.fetch_sub(1, Ordering::Relaxed);
                gone.push(p);
            }
        }
    }
    // Dropped outside the shard locks: dropping unregisters from the lease table.
    for p in gone {
        log::debug!("durable open {} closed by a break", p.open.path);
    }
}

/// CREATE with DHnC or DH2C: takes a parked open back, or
/// STATUS_OBJECT_NAME_NOT_FOUND. `None` when the CREATE is no reconnect.
pub(crate) async fn reconnect(
    ctx: &SmbContext,
    st: &mut ConnState,
    call: &mut Call,
    req: &CreateRequest,
) -> Option<Result<Reply, u32>> {
    let rc = match reconnect_of(req) {
        Ok(Some(rc)) => rc,
        Ok(None) => return None,
        Err(e) => return Some(Err(e)),
    };
    Some(reattach(ctx, st, call, req, rc).await)
}

async fn reattach(
    ctx: &SmbContext,
    st: &mut ConnState,
    call: &mut Call,
    req: &CreateRequest,
    rc: Reconnect,
) -> Result<Reply, u32> {
    let share = disk_share(st, call)?;
    let Some(sess) = st.sessions.get(&call.session_id) else {
        return Err(STATUS_USER_SESSION_DELETED);
    };
    let user = sess.user.clone();
    let persistent = match rc {
        Reconnect::V1 { persistent } | Reconnect::V2 { persistent, .. } => persistent,
    };
    // The client may reconnect before this server has seen the old connection
    // end (its task parks the opens): look again for a short while.
    let mut found = take(persistent, None);
    for _ in 0..RECONNECT_POLLS {
        if found.is_some() {
            break;
        }
        glommio::timer::sleep(Duration::from_millis(RECONNECT_POLL_MS)).await;
        found = take(persistent, None);
    }
    let Some(mut p) = found else {
        return Err(STATUS_OBJECT_NAME_NOT_FOUND);
    };
    let Some(d) = p.open.durable else {
        return Err(STATUS_OBJECT_NAME_NOT_FOUND);
    };
    // Every other field of the CREATE is ignored, the oplock level included.
    let asked_lease = req.contexts.iter().find_map(|c| match c {
        CreateContext::Lease(l) => Some(*l),
        _ => None,
    });
    // DHnC takes back v1 and v2 opens, DH2C those with its CreateGuid (zero for
    // a v1 open, as Samba: smbtorture durable-open.reopen2-lease); the
    // ClientGuid matters only through the lease key.
    let matches = match rc {
        Reconnect::V1 { .. } => true,
        Reconnect::V2 { create_guid, .. } => d.create_guid == create_guid,
    } && p.user == user
        && p.open.share == share
        && match (d.lease, asked_lease) {
            (Some((key, _)), Some(l)) => key == l.key && p.client_guid == st.client_guid,
            (None, None) => true,
            _ => false,
        };
    if !matches {
        put(persistent, p);
        return Err(STATUS_OBJECT_NAME_NOT_FOUND);
    }
    // A lease names a file: a reconnect with the lease but another name is
    // refused (the oplock form ignores the name), as Samba and Windows do.
    if d.lease.is_some() && !same_name(&p.open, &req.name) {
        put(persistent, p);
        return Err(STATUS_INVALID_PARAMETER);
    }
    let fs = &ctx.shares[share].fs;
    let attr = match fs.getattr(p.open.ino, None).await {
        Ok(a) => a,
        Err(_) => return Err(STATUS_OBJECT_NAME_NOT_FOUND),
    };
    let vid = st.new_file_id();
    let file_id = FileId {
        persistent,
        volatile: vid,
    };
    p.open.session_id = call.session_id;
    p.open.tree_id = call.tree_id;
    let (oplock_level, lease_ctx) =
        super::oplock::rebind(st, call, &mut p.open, file_id, asked_lease);
    log::debug!("durable open {} reconnected", p.open.path);
    if let Some(l) = p.locks.take() {
        let to = LockOwner {
            conn: st.async_ops.conn_id,
            open: vid,
        };
        let key = l.reassign(to);
        st.async_ops.locked.insert(vid, key);
    }
    st.opens.insert(vid, p.open);
    call.last_file_id = Some(file_id);
    // A reconnect is answered without a durable context (as Samba;
    // smbtorture durable-open.reopen1a-lease, durable-v2-open.reopen2).
    let contexts: Vec<CreateContext> = lease_ctx.into_iter().collect();
    let mut body = Vec::new();
    CreateResponse {
        oplock_level,
        flags: 0,
        create_action: FILE_OPENED,
        times: times_of(fs, &attr).await,
        file_id,
        contexts,
    }
    .encode(&mut body);
    ok(body)
}
