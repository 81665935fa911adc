//! Oplocks and leases on the SMB side: what CREATE asks for and is granted, the
//! break notifications the fs core's lease table ([`crate::fs::leases`]) sends
//! through a connection's outbox, and OPLOCK_BREAK acknowledgments.
//!
//! Why the table is not here: NFS requests must break SMB grants too, and two
//! clients' connections live on different cores; the table is process-wide in the
//! fs core and this module only translates (MS-SMB2 3.3.5.9.8/3.3.5.9.11 grants,
//! 3.3.4.6/3.3.4.7 notifications, 3.3.5.22 acknowledgments).
//!
//! Every open of a regular file registers (a lease key, or its own open id for an
//! oplock or no caching at all) so the table knows who else has the file open.
//! A directory registers only when it gets a v2 lease (SMB 3.x, R or RH:
//! [`grant_dir`]); it never gets an oplock.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock, Mutex};

use dittofs_smb_wire::create::{
    CreateRequest, FileId, FILE_OVERWRITE, FILE_OVERWRITE_IF, FILE_SUPERSEDE, OPLOCK_LEVEL_BATCH,
    OPLOCK_LEVEL_EXCLUSIVE, OPLOCK_LEVEL_II, OPLOCK_LEVEL_LEASE, OPLOCK_LEVEL_NONE,
};
use dittofs_smb_wire::create_ctx::{
    CreateContext, Lease, LEASE_FLAG_BREAK_IN_PROGRESS, LEASE_FLAG_PARENT_LEASE_KEY_SET,
};
use dittofs_smb_wire::negotiate::{DIALECT_210, DIALECT_300};
use dittofs_smb_wire::oplock::{
    encode_break_notification, OplockBreak, LEASE_BREAK_FLAG_ACK_REQUIRED,
};
use dittofs_smb_wire::status::*;

use super::dispatch::Call;
use super::outbox::{Outbound, OutboxSender};
use super::state::ConnState;
use super::{ok, Reply};
use crate::fs::dirleases::DirLeaseCount;
use crate::fs::leases::{
    self, scoped, AckError, BreakSink, Granted, Holder, Notice, OpenToken, Origin, Request, H, R, W,
};
use crate::fs::{Fs, InodeId};

/// What an open holds in the lease table.
#[derive(Debug)]
pub struct Caching {
    pub origin: Origin,
    /// Dropped with the open: unregisters it.
    pub token: OpenToken,
    /// Data was written through this open: its CLOSE breaks the parent
    /// directory's lease (`crate::fs::dirleases`).
    pub written: bool,
    /// A directory lease: counted while the open lives.
    pub dir_lease: Option<DirLeaseCount>,
}

/// Sends one grant's notices on its connection.
struct Sink {
    tx: OutboxSender,
    /// The session whose keys encrypt the notice (0: sent as is, unsigned).
    session_id: u64,
    target: Target,
    /// Whose grant this is (a parked durable open of it closes when a break
    /// finds the connection gone).
    holder: Holder,
    /// The connection's FSCTL_SMBTORTURE_FORCE_UNACKED_TIMEOUT flag.
    unacked: Arc<AtomicBool>,
}

enum Target {
    Oplock(FileId),
    Lease { key: [u8; 16] },
}

impl BreakSink for Sink {
    fn send(&self, n: &Notice) {
        let body = match self.target {
            Target::Oplock(file_id) => OplockBreak::Oplock {
                oplock_level: if n.new & R != 0 {
                    OPLOCK_LEVEL_II
                } else {
                    OPLOCK_LEVEL_NONE
                },
                file_id,
            },
            // The epoch is the lease's: 0 for a v1 lease, whichever version
            // this open asked for.
            Target::Lease { key } => OplockBreak::LeaseNotification {
                new_epoch: n.epoch,
                flags: if n.ack_required {
                    LEASE_BREAK_FLAG_ACK_REQUIRED
                } else {
                    0
                },
                lease_key: key,
                current_state: n.current,
                new_state: n.new,
            },
        };
        let msg = encode_break_notification(&body);
        // Only while this open's own connection lives: a parked durable open's
        // break must still find it gone (below).
        if let (Target::Lease { .. }, Holder::Lease { client_guid, .. }) =
            (&self.target, self.holder)
        {
            if !self.tx.is_closed() && send_to_client(client_guid, &msg) {
                return;
            }
        }
        // A closed connection's outbox refuses; the grant goes with its opens,
        // or, parked durable opens, now (MS-SMB2 3.3.4.6/3.3.4.7).
        let sent = self.tx.unbounded_send(Outbound {
            session_id: self.session_id,
            msg,
            sign: false,
        });
        if sent.is_err() {
            super::durable::purge_holder(self.holder);
        } else if n.ack_required && self.unacked.load(Ordering::Relaxed) {
            // The client asked that its breaks count as never acknowledged at
            // the transport: the connection ends right after this notice, and
            // its opens with their grants (Samba's ack timeout, taken as 0).
            let _ = self.tx.unbounded_send(Outbound {
                session_id: 0,
                msg: Vec::new(),
                sign: false,
            });
        }
    }
}

/// One connection of a client that opened with a lease: its id, outbox and the
/// session that encrypts notices on it (0: none).
type ClientConn = (u64, OutboxSender, u64);

/// The connections of each client (ClientGuid) that opened with a lease, oldest
/// first. A lease break goes to the oldest one still open, whichever of them the
/// lease's opens came through, as Windows does (smbtorture smb2.lease.v2_complex1
/// checks the transport). Closed ones are dropped when next seen.
static CLIENT_CONNS: LazyLock<Mutex<HashMap<[u8; 16], Vec<ClientConn>>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

fn client_conns() -> std::sync::MutexGuard<'static, HashMap<[u8; 16], Vec<ClientConn>>> {
    CLIENT_CONNS.lock().unwrap_or_else(|e| e.into_inner())
}

/// Notes a connection of `client_guid` (at a lease grant).
fn note_client_conn(client_guid: [u8; 16], conn: ClientConn) {
    let mut m = client_conns();
    let v = m.entry(client_guid).or_default();
    v.retain(|c| !c.1.is_closed());
    if !v.iter().any(|c| c.0 == conn.0) {
        v.push(conn);
    }
}

/// Sends a lease notice on the client's oldest open connection; false if none.
fn send_to_client(client_guid: [u8; 16], msg: &[u8]) -> bool {
    let mut m = client_conns();
    let Some(v) = m.get_mut(&client_guid) else {
        return false;
    };
    while let Some((_, tx, session_id)) = v.first() {
        let sent = tx.unbounded_send(Outbound {
            session_id: *session_id,
            msg: msg.to_vec(),
            sign: false,
        });
        if sent.is_ok() {
            return true;
        }
        v.remove(0);
    }
    m.remove(&client_guid);
    false
}

/// This connection's id in the lease table (assigned on first use).
fn conn_id(st: &mut ConnState) -> u64 {
    if st.lease_conn_id == 0 {
        st.lease_conn_id = leases::new_id();
    }
    st.lease_conn_id
}

/// Rights of a stat open for leases: attributes, security descriptor,
/// synchronize (smbtorture smb2.lease.statopen4 lists them).
const STAT_RIGHTS: u32 = 0x0000_0080 | 0x0000_0100 | 0x0002_0000 | 0x0010_0000;

/// Rights of a stat open for oplocks: attributes and synchronize only;
/// READ_CONTROL breaks an oplock (smbtorture smb2.oplock.statopen1).
const OPLOCK_STAT_RIGHTS: u32 = 0x0000_0080 | 0x0000_0100 | 0x0010_0000;

/// A stat open breaks no lease and does not count against other grants,
/// whatever oplock it asks for (smbtorture smb2.oplock.exclusive4, batch8). An
/// OVERWRITE/SUPERSEDE one still breaks, as a write (batch13, batch14).
pub(crate) fn is_stat_create(req: &CreateRequest) -> bool {
    open_access(req) & !STAT_RIGHTS == 0
}

/// The rights an open uses: an OVERWRITE or SUPERSEDE writes the data whatever
/// it asks (as Samba adds FILE_WRITE_DATA), so it is never a stat open and gets
/// an oplock (smbtorture smb2.oplock.exclusive5, batch13, batch14, batch16).
fn open_access(req: &CreateRequest) -> u32 {
    let access = super::create::granted_access(req.desired_access);
    match req.create_disposition {
        FILE_SUPERSEDE | FILE_OVERWRITE | FILE_OVERWRITE_IF => access | FILE_WRITE_DATA,
        _ => access,
    }
}

/// A stat open for oplocks too: it breaks no oplock and, on an existing file,
/// gets none (an open that creates the file gets what it asks: batch9).
pub(crate) fn is_oplock_stat_create(req: &CreateRequest) -> bool {
    open_access(req) & !OPLOCK_STAT_RIGHTS == 0
}

/// FILE_WRITE_DATA (MS-SMB2 2.2.13.1.1).
const FILE_WRITE_DATA: u32 = 0x0000_0002;

/// The lease a CREATE asks for, when the dialect has leases.
fn requested_lease(st: &ConnState, req: &CreateRequest) -> Option<Lease> {
    if req.requested_oplock_level != OPLOCK_LEVEL_LEASE || st.dialect < DIALECT_210 {
        return None;
    }
    req.contexts.iter().find_map(|c| match c {
        CreateContext::Lease(l) if l.parent_key.is_none() || st.dialect >= DIALECT_300 => Some(*l),
        _ => None,
    })
}

/// The holder a new open of this CREATE will be in the table.
pub(crate) fn origin_for(st: &mut ConnState, req: &CreateRequest) -> Origin {
    let lease = requested_lease(st, req);
    let holder = match lease {
        Some(l) => Holder::Lease {
            client_guid: st.client_guid,
            key: l.key,
        },
        None => Holder::Open(leases::new_id()),
    };
    let parent_key = lease.and_then(|l| {
        l.parent_key
            .filter(|p| l.flags & LEASE_FLAG_PARENT_LEASE_KEY_SET != 0 && *p != [0; 16])
    });
    Origin {
        holder,
        conn: conn_id(st),
        parent_key,
    }
}

/// Runs an fs call as `origin` (so the open's own grant is not broken by it).
pub(crate) async fn as_open<F: Future>(origin: Option<Origin>, fut: F) -> F::Output {
    match origin {
        Some(o) => scoped(o, fut).await,
        None => fut.await,
    }
}

/// Breaks what a write through the current open (its [`scoped`] origin)
/// would, without writing: for SMB requests that change a file's allocation
/// only. Waits as [`crate::fs::Fs`] writes do.
pub(crate) async fn break_for_write(fs: &Fs, ino: InodeId) {
    if leases::ACTIVE_FILES.load(std::sync::atomic::Ordering::Relaxed) == 0 {
        return;
    }
    leases::table()
        .break_and_wait(
            (fs.share().id, ino),
            leases::current_origin(),
            leases::Op::Write,
            std::time::Duration::from_millis(leases::smb_wait_ms()),
        )
        .await;
}

/// Samba's test-only FSCTL (smbtorture `test_block_smb2_transport`, used by
/// smb2.oplock.batch22b): from now on a break needing an acknowledgment ends
/// this connection, as if the client never acknowledged it at the transport.
pub const FSCTL_SMBTORTURE_FORCE_UNACKED_TIMEOUT: u32 = 0x8384_8003;

/// FSCTL_SMBTORTURE_FORCE_UNACKED_TIMEOUT (no input; empty output).
pub(crate) fn force_unacked_timeout(
    st: &mut ConnState,
    req: &dittofs_smb_wire::ioctl::IoctlRequest<'_>,
) -> Result<Reply, u32> {
    if !req.input.is_empty() {
        return Err(STATUS_INVALID_PARAMETER);
    }
    st.break_unacked.store(true, Ordering::Relaxed);
    ok(super::misc::ioctl_body(req, &[]))
}

/// The origin of the open a request names, if any.
pub(crate) fn origin_of(st: &ConnState, call: &Call, id: FileId) -> Option<Origin> {
    let vid = call.file_id(id).ok()?;
    st.opens.get(&vid)?.caching.as_ref().map(|c| c.origin)
}

/// A lease key names one file (MS-SMB2 3.3.5.9.8): a CREATE whose key is held
/// on another file, or that would make a new one, is INVALID_PARAMETER, checked
/// before anything is created (directories too, though they get no lease).
pub(crate) fn check_key(
    st: &ConnState,
    req: &CreateRequest,
    file: Option<leases::FileKey>,
) -> Result<(), u32> {
    let Some(l) = requested_lease(st, req) else {
        return Ok(());
    };
    let holder = Holder::Lease {
        client_guid: st.client_guid,
        key: l.key,
    };
    match leases::table().key_file(holder) {
        Some(f) if Some(f) != file => Err(STATUS_INVALID_PARAMETER),
        _ => Ok(()),
    }
}

/// Registers a new open of a regular file and grants what the rules allow: the
/// caching record for the open, the oplock level and the lease response context.
/// A lease key that already names another file of this client: INVALID_PARAMETER.
/// `created`: this CREATE made the file (a stat open then gets its oplock).
#[allow(clippy::too_many_arguments)]
pub(crate) fn grant(
    st: &ConnState,
    call: &Call,
    fs: &Fs,
    ino: InodeId,
    origin: Origin,
    file_id: FileId,
    req: &CreateRequest,
    created: bool,
) -> Result<(Caching, u8, Option<CreateContext>), u32> {
    let stat = is_stat_create(req);
    let no_oplock = is_oplock_stat_create(req) && !created;
    let lease = requested_lease(st, req);
    let encrypts = st.sessions.get(&call.session_id).is_some_and(|s| s.encrypt);
    let target = match lease {
        Some(l) => Target::Lease { key: l.key },
        None => Target::Oplock(file_id),
    };
    let session_id = if encrypts { call.session_id } else { 0 };
    if let (Some(_), Holder::Lease { client_guid, .. }) = (lease, origin.holder) {
        note_client_conn(client_guid, (origin.conn, (*st.outbox).clone(), session_id));
    }
    let sink = Arc::new(Sink {
        tx: (*st.outbox).clone(),
        session_id,
        target,
        holder: origin.holder,
        unacked: st.break_unacked.clone(),
    });
    let request = match lease {
        Some(l) => Request {
            state: l.state,
            v2: l.parent_key.map(|p| (p, l.epoch)),
            stat,
        },
        // A stat open of an existing file gets no oplock (as Samba).
        None => Request {
            state: match req.requested_oplock_level {
                _ if no_oplock => 0,
                OPLOCK_LEVEL_BATCH => R | W | H,
                OPLOCK_LEVEL_EXCLUSIVE => R | W,
                OPLOCK_LEVEL_II => R,
                _ => 0,
            },
            v2: None,
            stat,
        },
    };
    let (token, g): (OpenToken, Granted) = leases::table()
        .register(
            (fs.share().id, ino),
            origin.holder,
            origin.conn,
            sink,
            request,
        )
        .map_err(|_| STATUS_INVALID_PARAMETER)?;
    let caching = Caching {
        origin,
        token,
        written: false,
        dir_lease: None,
    };
    match lease {
        Some(l) => {
            let mut flags = 0;
            if g.breaking {
                flags |= LEASE_FLAG_BREAK_IN_PROGRESS;
            }
            // The response has the lease's version, not the request's: a v1
            // request on a v2 lease gets a v2 context and the reverse a v1 one
            // (smbtorture smb2.lease.v2_epoch2/3, as Windows and Samba).
            let parent_key = match (g.v2, l.parent_key) {
                (true, p) => Some(p.unwrap_or([0; 16])),
                (false, _) => None,
            };
            if parent_key.is_some_and(|p| p != [0; 16])
                && l.flags & LEASE_FLAG_PARENT_LEASE_KEY_SET != 0
            {
                flags |= LEASE_FLAG_PARENT_LEASE_KEY_SET;
            }
            let ctx = CreateContext::Lease(Lease {
                key: l.key,
                state: g.state,
                flags,
                duration: 0,
                parent_key,
                epoch: if g.v2 { g.epoch } else { 0 },
            });
            Ok((caching, OPLOCK_LEVEL_LEASE, Some(ctx)))
        }
        None => Ok((caching, level_of(g.state), None)),
    }
}

/// The oplock level of an oplock grant's state.
fn level_of(state: u32) -> u8 {
    match state {
        s if s == R | W | H => OPLOCK_LEVEL_BATCH,
        s if s == R | W => OPLOCK_LEVEL_EXCLUSIVE,
        s if s & R != 0 => OPLOCK_LEVEL_II,
        _ => OPLOCK_LEVEL_NONE,
    }
}

/// A reconnected durable open: its grant's notices now go to this connection
/// (and name the new file id). Returns the oplock level and lease context of
/// the CREATE response; `lease` is the reconnect's lease request.
pub(crate) fn rebind(
    st: &mut ConnState,
    call: &Call,
    open: &mut super::state::Open,
    file_id: FileId,
    lease: Option<Lease>,
) -> (u8, Option<CreateContext>) {
    let conn = conn_id(st);
    let encrypts = st.sessions.get(&call.session_id).is_some_and(|s| s.encrypt);
    let Some(c) = open.caching.as_mut() else {
        return (OPLOCK_LEVEL_NONE, None);
    };
    c.origin.conn = conn;
    let target = match lease {
        Some(l) => Target::Lease { key: l.key },
        None => Target::Oplock(file_id),
    };
    let sink = Arc::new(Sink {
        tx: (*st.outbox).clone(),
        session_id: if encrypts { call.session_id } else { 0 },
        target,
        holder: c.origin.holder,
        unacked: st.break_unacked.clone(),
    });
    let Some(g) = leases::table().rebind(c.token.file(), c.origin.holder, conn, sink) else {
        return (OPLOCK_LEVEL_NONE, None);
    };
    match lease {
        Some(l) => {
            let ctx = CreateContext::Lease(Lease {
                key: l.key,
                state: g.state,
                flags: if g.breaking {
                    LEASE_FLAG_BREAK_IN_PROGRESS
                } else {
                    0
                },
                duration: 0,
                parent_key: l.parent_key,
                epoch: if l.parent_key.is_some() { g.epoch } else { 0 },
            });
            (OPLOCK_LEVEL_LEASE, Some(ctx))
        }
        None => (level_of(g.state), None),
    }
}

/// OPLOCK_BREAK: an oplock or lease break acknowledgment.
pub async fn oplock_break(
    st: &mut ConnState,
    call: &mut Call,
    req: &OplockBreak,
) -> Result<Reply, u32> {
    let mut body = Vec::new();
    match *req {
        OplockBreak::Oplock {
            oplock_level,
            file_id,
        } => {
            let state = match oplock_level {
                OPLOCK_LEVEL_NONE => 0,
                OPLOCK_LEVEL_II => R,
                // Acknowledging to exclusive/batch or "lease" is not a break answer.
                OPLOCK_LEVEL_LEASE => return Err(STATUS_INVALID_PARAMETER),
                _ => return Err(STATUS_INVALID_OPLOCK_PROTOCOL),
            };
            let vid = call.file_id(file_id)?;
            let open = match st.opens.get(&vid) {
                Some(o) if o.session_id == call.session_id => o,
                _ => return Err(STATUS_FILE_CLOSED),
            };
            let Some(c) = open.caching.as_ref() else {
                return Err(STATUS_INVALID_OPLOCK_PROTOCOL);
            };
            if !matches!(c.origin.holder, Holder::Open(_)) {
                return Err(STATUS_INVALID_PARAMETER);
            }
            let new = leases::table()
                .ack(c.token.file(), c.origin.holder, state)
                .map_err(|_| STATUS_INVALID_OPLOCK_PROTOCOL)?;
            OplockBreak::Oplock {
                oplock_level: if new & R != 0 {
                    OPLOCK_LEVEL_II
                } else {
                    OPLOCK_LEVEL_NONE
                },
                file_id,
            }
            .encode(&mut body);
        }
        OplockBreak::LeaseAck {
            lease_key,
            lease_state,
            ..
        } => {
            let holder = Holder::Lease {
                client_guid: st.client_guid,
                key: lease_key,
            };
            // The lease may be held through another connection of the same
            // client (smbtorture smb2.lease.complex1): look the key up server-wide.
            let Some(file) = leases::table().key_file(holder) else {
                return Err(STATUS_OBJECT_NAME_NOT_FOUND);
            };
            let new = leases::table()
                .ack(file, holder, lease_state)
                .map_err(|e| match e {
                    AckError::NotFound => STATUS_OBJECT_NAME_NOT_FOUND,
                    AckError::NotBreaking => STATUS_UNSUCCESSFUL,
                    AckError::TooMuch => STATUS_REQUEST_NOT_ACCEPTED,
                })?;
            OplockBreak::LeaseAck {
                flags: 0,
                lease_key,
                lease_state: new,
                lease_duration: 0,
            }
            .encode(&mut body);
        }
        OplockBreak::LeaseNotification { .. } => return Err(STATUS_INVALID_PARAMETER),
    }
    ok(body)
}

/// A directory open's lease (MS-SMB2 3.3.5.9.11): only a v2 lease on a 3.x
/// dialect, R or RH (write caching is never granted on a directory). Anything
/// else gets no caching and no lease context, as before directory leasing.
pub(crate) fn grant_dir(
    st: &ConnState,
    call: &Call,
    fs: &Fs,
    ino: InodeId,
    origin: Origin,
    file_id: FileId,
    req: &CreateRequest,
) -> Result<(Option<Caching>, u8, Option<CreateContext>), u32> {
    match requested_lease(st, req) {
        Some(l) if l.parent_key.is_some() && st.dialect >= DIALECT_300 => {}
        _ => return Ok((None, OPLOCK_LEVEL_NONE, None)),
    }
    let mut dir_req = req.clone();
    for c in &mut dir_req.contexts {
        if let CreateContext::Lease(l) = c {
            l.state &= R | H;
        }
    }
    let (mut caching, level, ctx) = grant(st, call, fs, ino, origin, file_id, &dir_req, false)?;
    caching.dir_lease = Some(DirLeaseCount::new());
    Ok((Some(caching), level, ctx))
}
