//! Oplocks and leases: the caching rights SMB clients hold on files, and the breaks
//! that take them back before another open, an SMB write or an NFS request sees a
//! file whose data or handle a client may be caching.
//!
//! Why one table for the whole process, not one per core: two clients' connections
//! (and the NFS request touching the same file) run on different cores, and each
//! must see the other's grants. The table is sharded by inode over
//! [`SHARDS`] `std::sync::Mutex`es; a critical section only reads or edits one
//! file's grant list and never awaits. Notifications leave through a
//! [`BreakSink`] (the SMB adapter's per-connection outbox), so this module stays
//! protocol-neutral.
//!
//! Why the hook is here and not in the protocol handlers: [`Fs::read`],
//! [`Fs::write`], [`Fs::setattr`] (size), [`Fs::remove`] and [`Fs::rename`] call
//! [`Fs::break_leases`] first, so NFS and SMB go through the same code. When no
//! file in the process has a grant that costs one relaxed atomic load
//! ([`ACTIVE_FILES`]), which keeps the NFS hot path unchanged.
//!
//! Who is asking: an SMB handler runs its fs call inside [`scoped`] with its
//! [`Origin`] (lease key or open id, and its connection), so its own grant is not
//! broken by its own write. Calls outside such a scope (NFS) break every grant.
//!
//! Waiting: a break that needs an acknowledgment (anything beyond read caching)
//! makes the caller wait, polling every [`POLL_MS`], until the holder acknowledges
//! or closes, at most [`smb_wait_ms`] for SMB callers (MS-SMB2 uses 35 s; ours is
//! configurable and shorter) and [`nfs_wait_ms`] for NFS (NFS clients retransmit;
//! a short bound keeps an NFS request from stalling a core's client for long).
//! When the bound passes, the grant is downgraded as if acknowledged (MS-SMB2
//! 3.3.6.3). A caller of [`LeaseTable::break_and_wait`] never waits for a holder
//! on its own connection: SMB connections handle one frame at a time, so that
//! acknowledgment could not arrive; the notification is still sent. An SMB
//! CREATE instead goes async ([`LeaseTable::break_now`], then
//! [`LeaseTable::wait_breaks`] from a detached task; `smb/defer.rs`) and does
//! wait for its own connection's holders.
//!
//! Simplifications (documented in ARCHITECTURE.md): a sharing violation
//! ([`super::sharemode`]) breaks H of every other grant on the file, not only
//! of the conflicting opens' ([`Op::Sharing`]), directory leases are v2 only and
//! never wait for their acknowledgment (`dirleases.rs`), one
//! pending break per grant (further breaks follow after its acknowledgment, as
//! Windows does), oplocks are the lease states R (level II), RW (exclusive) and
//! RWH (batch).

use std::cell::Cell;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use super::{Fs, InodeId};

/// Read caching.
pub const R: u32 = 0x01;
/// Handle caching.
pub const H: u32 = 0x02;
/// Write caching.
pub const W: u32 = 0x04;
/// Every caching right.
pub const RWH: u32 = R | W | H;

/// Shards of the table (by inode).
pub const SHARDS: usize = 64;
/// How often a waiting caller looks at the grants again.
pub const POLL_MS: u64 = 2;
/// Default bound on an SMB open/write waiting for a break acknowledgment (the
/// MS-SMB2 value; a waiting CREATE is async, so it stalls no connection).
pub const SMB_WAIT_MS_DEFAULT: u64 = 35_000;
/// Default bound on an NFS request waiting for a break acknowledgment.
pub const NFS_WAIT_MS_DEFAULT: u64 = 2_000;

/// Files with at least one registered SMB open; 0 means nothing to break anywhere.
pub static ACTIVE_FILES: AtomicUsize = AtomicUsize::new(0);
static SMB_WAIT_MS: AtomicU64 = AtomicU64::new(SMB_WAIT_MS_DEFAULT);
static NFS_WAIT_MS: AtomicU64 = AtomicU64::new(NFS_WAIT_MS_DEFAULT);
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// Sets the wait bounds (from the configuration).
pub fn set_wait_bounds(smb_ms: u64, nfs_ms: u64) {
    SMB_WAIT_MS.store(smb_ms, Ordering::Relaxed);
    NFS_WAIT_MS.store(nfs_ms, Ordering::Relaxed);
}

/// Bound on an SMB caller's wait for an acknowledgment.
pub fn smb_wait_ms() -> u64 {
    SMB_WAIT_MS.load(Ordering::Relaxed)
}

/// Bound on an NFS caller's wait for an acknowledgment.
pub fn nfs_wait_ms() -> u64 {
    NFS_WAIT_MS.load(Ordering::Relaxed)
}

/// A process-unique id (SMB connections and oplock opens).
pub fn new_id() -> u64 {
    NEXT_ID.fetch_add(1, Ordering::Relaxed)
}

/// A file: share id and inode.
pub type FileKey = (u32, InodeId);

/// Who holds a grant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Holder {
    /// A lease, shared by all opens of one client with one lease key.
    Lease {
        client_guid: [u8; 16],
        key: [u8; 16],
    },
    /// One open (oplock, or no caching at all); the id comes from [`new_id`].
    Open(u64),
}

/// The caller of an fs operation, when it is an SMB open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Origin {
    pub holder: Holder,
    /// Connection id ([`new_id`]); grants held on it are not waited for.
    pub conn: u64,
    /// The v2 lease's ParentLeaseKey: the directory lease with this key (same
    /// client) is not broken by this open's changes to its directory.
    pub parent_key: Option<[u8; 16]>,
}

/// One break to tell a holder about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Notice {
    pub current: u32,
    pub new: u32,
    /// Lease epoch after the break (v2 leases; 0 otherwise).
    pub epoch: u16,
    pub ack_required: bool,
}

/// Delivers notices to a holder (the SMB adapter encodes and queues them).
pub trait BreakSink: Send + Sync {
    fn send(&self, notice: &Notice);
}

/// What breaks grants, and what each keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// Another open of the file: write caching goes.
    Open,
    /// A read (NFS READ): write caching goes.
    Read,
    /// Write or truncate: everything goes.
    Write,
    /// Rename: handle caching goes (and write caching, for NFS).
    Rename,
    /// Remove: everything goes.
    Remove,
    /// A new SMB open refused by an existing open's share mode (MS-SMB2
    /// 3.3.5.9): handle caching goes, so the holder closes its cached handles.
    Sharing,
    /// An open that is a stat open for leases but not for oplocks (it asks
    /// READ_CONTROL besides attributes/synchronize): like [`Op::Open`] for
    /// oplocks, nothing for leases (Samba's is_oplock_stat_open vs
    /// is_lease_stat_open; smbtorture smb2.oplock.statopen1, smb2.lease.statopen4).
    OplockOpen,
    /// The contents of a leased directory changed: everything goes
    /// (`dirleases.rs`).
    DirChange,
}

impl Op {
    /// Caching rights a grant may keep through this operation.
    fn keep(self, nfs: bool) -> u32 {
        match self {
            Op::Open | Op::Read => R | H,
            Op::Write | Op::DirChange => 0,
            Op::Remove if nfs => 0,
            // An SMB delete is an open with DELETE that ends in delete-on-close:
            // handle caching goes, the data stays readable through the other
            // opens (smbtorture smb2.lease.unlink expects RH to R).
            Op::Remove => R,
            Op::Rename if nfs => R,
            Op::Rename | Op::Sharing => R | W,
            Op::OplockOpen => R | H,
        }
    }

    /// Caching rights a grant (an oplock or a lease) may keep through this
    /// operation. An SMB delete leaves level II oplocks alone (Samba does not
    /// break them at unlink; smbtorture smb2.oplock.exclusive2); an open that is
    /// a stat open for leases breaks only oplocks.
    fn keep_for(self, nfs: bool, oplock: bool) -> u32 {
        match self {
            Op::Remove if oplock && !nfs => R,
            Op::OplockOpen if !oplock => RWH,
            _ => self.keep(nfs),
        }
    }

    /// Rights whose break a CREATE waits for (Samba's delay mask): handle
    /// caching when the open hit a sharing violation, write caching otherwise.
    /// Breaking only other rights lets the open go on at once (smbtorture
    /// smb2.lease.breaking4: RH broken to none by an overwrite is not waited for).
    fn delay_mask(self) -> u32 {
        match self {
            Op::Sharing => H,
            _ => W,
        }
    }

    /// Rights whose break an fs operation waits for ([`LeaseTable::break_and_wait`]):
    /// data operations only for write caching (cached writes must land first;
    /// dropping read or handle caching needs nothing from the client before
    /// the data changes), namespace operations for handle caching too (cached
    /// handles must close first).
    fn wait_mask(self) -> u32 {
        match self {
            Op::Open | Op::OplockOpen | Op::Read | Op::Write => W,
            Op::Rename | Op::Remove | Op::Sharing => W | H,
            Op::DirChange => RWH,
        }
    }
}

/// Which breaks a caller waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wait {
    /// An fs operation: a break of any of these rights ([`Op::wait_mask`]).
    Fs(u32),
    /// An SMB CREATE ([`FileGrants::begin_with`]).
    Create(CreateWait),
}

/// How a CREATE waits on breaks ([`LeaseTable::break_create`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct CreateWait {
    /// The open's first try (not a retry after an acknowledgment).
    first: bool,
    /// [`Op::delay_mask`].
    delay: u32,
}

/// Why an acknowledgment is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckError {
    /// No such lease/open on the file.
    NotFound,
    /// Nothing is being broken.
    NotBreaking,
    /// The acknowledged state is more than the break left.
    TooMuch,
}

/// A grant request at open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request {
    /// Requested rights (oplock levels as R / RW / RWH).
    pub state: u32,
    /// v2 lease: its parent key and the client's epoch.
    pub v2: Option<([u8; 16], u16)>,
    /// A stat open (attributes, security descriptor, synchronize only): it
    /// breaks nothing and, without a lease, keeps no one else from caching.
    pub stat: bool,
}

/// What an open was granted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Granted {
    pub state: u32,
    pub epoch: u16,
    /// A break of this lease is in progress (SMB2_LEASE_FLAG_BREAK_IN_PROGRESS).
    pub breaking: bool,
    /// The lease is a v2 one: the version its first open asked for, which every
    /// later open's response keeps (smbtorture smb2.lease.v2_epoch2/3).
    pub v2: bool,
}

struct Grant {
    holder: Holder,
    state: u32,
    breaking_to: Option<u32>,
    /// While breaking: the state the conflicting requests seen since the break
    /// began need (at most `breaking_to`). When the acknowledgment leaves more,
    /// the next break follows at once ([`FileGrants::ack`]).
    required: u32,
    epoch: u16,
    v2: bool,
    opens: u32,
    conn: u64,
    sink: Arc<dyn BreakSink>,
    /// An oplock-less stat open: invisible to [`FileGrants::allowed`].
    stat: bool,
    /// Connections with opens of this grant and how many: breaks go to the
    /// first (the lease's oldest open still there, as Windows and Samba do).
    conns: Vec<(u64, Arc<dyn BreakSink>, u32)>,
}

impl Grant {
    fn add_conn(&mut self, conn: u64, sink: Arc<dyn BreakSink>) {
        match self.conns.iter_mut().find(|c| c.0 == conn) {
            Some(c) => c.2 += 1,
            None => self.conns.push((conn, sink, 1)),
        }
        self.retarget();
    }

    fn drop_conn(&mut self, conn: u64) {
        if let Some(i) = self.conns.iter().position(|c| c.0 == conn) {
            self.conns[i].2 = self.conns[i].2.saturating_sub(1);
            if self.conns[i].2 == 0 {
                self.conns.remove(i);
            }
        }
        self.retarget();
    }

    fn retarget(&mut self) {
        if let Some((conn, sink, _)) = self.conns.first() {
            self.conn = *conn;
            self.sink = sink.clone();
        }
    }
}

impl Grant {
    fn is_oplock(&self) -> bool {
        matches!(self.holder, Holder::Open(_))
    }
}

/// Oplocks exist as R (level II), RW (exclusive) and RWH (batch) only.
fn oplock_state(s: u32) -> u32 {
    match s & RWH {
        RWH => RWH,
        s if s & (R | W) == R | W => R | W,
        s if s & R != 0 => R,
        _ => 0,
    }
}

/// Leases exist as R, RH, RW, RWH: nothing without R.
fn lease_state(s: u32) -> u32 {
    if s & R == 0 {
        0
    } else {
        s & RWH
    }
}

/// A notice and where it goes.
type Outgoing = (Arc<dyn BreakSink>, Notice);

#[derive(Default)]
struct FileGrants {
    grants: Vec<Grant>,
}

impl FileGrants {
    /// Starts the breaks `op` needs on every grant but `except`'s. Returns the
    /// notices to send and whether a break the caller must wait for is pending.
    #[cfg(test)]
    fn begin(
        &mut self,
        except: Option<Holder>,
        wait_conn: Option<u64>,
        keep: u32,
    ) -> (Vec<Outgoing>, bool) {
        self.begin_with(except, wait_conn, |_| keep, Wait::Fs(RWH))
    }

    /// [`FileGrants::begin`] for `op` (per grant kind, [`Op::keep_for`]). A
    /// write or byte-range lock through an open holding a level II oplock also
    /// breaks that oplock to none (no acknowledgment: MS-SMB2 3.3.4.6; Samba
    /// does, smbtorture smb2.oplock.batch1, batch6, brl3, levelii500).
    fn begin_op(
        &mut self,
        except: Option<Holder>,
        wait_conn: Option<u64>,
        op: Op,
        nfs: bool,
    ) -> (Vec<Outgoing>, bool) {
        let mut own = Vec::new();
        if op == Op::Write {
            if let Some(g) = self.grants.iter_mut().find(|g| {
                Some(g.holder) == except && g.is_oplock() && g.state == R && g.breaking_to.is_none()
            }) {
                g.state = 0;
                own.push((
                    g.sink.clone(),
                    Notice {
                        current: R,
                        new: 0,
                        epoch: 0,
                        ack_required: false,
                    },
                ));
            }
        }
        let (mut notices, pending) = self.begin_with(
            except,
            wait_conn,
            |g| op.keep_for(nfs, g.is_oplock()),
            Wait::Fs(op.wait_mask()),
        );
        notices.extend(own);
        (notices, pending)
    }

    /// [`FileGrants::begin`] with the keep rights per grant; `how`: which
    /// breaks the caller waits for. A CREATE follows Samba's pending rule
    /// (MS-SMB2 3.3.4.7 leaves it to the server): it waits for a break of the
    /// rights in its delay mask, and for any lease already breaking unless
    /// this is its first try and it needs more from that lease (smbtorture
    /// smb2.lease.breaking3/4).
    fn begin_with(
        &mut self,
        except: Option<Holder>,
        wait_conn: Option<u64>,
        keep_of: impl Fn(&Grant) -> u32,
        how: Wait,
    ) -> (Vec<Outgoing>, bool) {
        let mut notices = Vec::new();
        let mut pending = false;
        for g in &mut self.grants {
            if Some(g.holder) == except {
                continue;
            }
            let keep = keep_of(g);
            let waitable = wait_conn != Some(g.conn);
            let to = if g.is_oplock() {
                // Level II, or none: an oplock is never broken to exclusive.
                match oplock_state(g.state & keep) {
                    s if s == g.state => s,
                    s => s & R,
                }
            } else {
                lease_state(g.state & keep)
            };
            if g.breaking_to.is_some() {
                // No second notice while one is outstanding: what this request
                // needs is remembered and broken after the acknowledgment.
                g.required &= to;
                pending |= waitable
                    && match how {
                        Wait::Fs(mask) => g.state & !keep & mask != 0,
                        Wait::Create(c) => to == g.state || !c.first || g.state & c.delay != 0,
                    };
                continue;
            }
            if to == g.state {
                continue;
            }
            if g.v2 {
                g.epoch = g.epoch.wrapping_add(1);
            }
            let ack_required = g.state & !R != 0;
            notices.push((
                g.sink.clone(),
                Notice {
                    current: g.state,
                    new: to,
                    epoch: g.epoch,
                    ack_required,
                },
            ));
            if ack_required {
                g.breaking_to = Some(to);
                g.required = to;
                pending |= waitable
                    && match how {
                        Wait::Fs(mask) => g.state & !to & mask != 0,
                        Wait::Create(c) => g.state & c.delay != 0,
                    };
            } else {
                g.state = to;
            }
        }
        (notices, pending)
    }

    /// The wait bound passed: a grant whose break was not acknowledged loses
    /// all caching, as Samba does (smbtorture smb2.lease.timeout expects no
    /// caching left, and a late acknowledgment refused).
    fn force(&mut self, except: Option<Holder>) {
        for g in &mut self.grants {
            if Some(g.holder) != except && g.breaking_to.take().is_some() {
                log::info!("break of {:?} not acknowledged in time", g.holder);
                g.state = 0;
                g.required = 0;
            }
        }
    }

    /// Rights a new open by `holder` may get next to the other opens.
    fn allowed(&self, holder: Holder) -> u32 {
        let others = self
            .grants
            .iter()
            .filter(|g| g.holder != holder && g.opens > 0 && !g.stat);
        let mut allowed = RWH;
        for g in others {
            allowed &= !W;
            if g.is_oplock() && g.state != 0 {
                // Next to an oplock a lease gets read caching only.
                allowed &= R;
            }
        }
        allowed
    }

    fn register(
        &mut self,
        holder: Holder,
        conn: u64,
        sink: Arc<dyn BreakSink>,
        req: Request,
    ) -> Granted {
        let allowed = self.allowed(holder);
        if let Some(g) = self.grants.iter_mut().find(|g| g.holder == holder) {
            g.opens += 1;
            g.add_conn(conn, sink);
            // MS-SMB2 3.3.5.9.8 as Windows does it (smbtorture smb2.lease.upgrade*):
            // alone, a lease is upgraded to what it asks of a superset of its state;
            // next to other openers only to exactly a valid, strictly larger state
            // that they allow, else it is left as is.
            if g.breaking_to.is_none() && req.state & g.state == g.state {
                let want = if allowed == RWH {
                    lease_state(req.state & allowed)
                } else if lease_state(req.state) == req.state && req.state & !allowed == 0 {
                    req.state
                } else {
                    g.state
                };
                if want & g.state == g.state && want != g.state {
                    g.state = want;
                    if g.v2 {
                        g.epoch = g.epoch.wrapping_add(1);
                    }
                }
            }
            return Granted {
                state: g.state,
                epoch: g.epoch,
                breaking: g.breaking_to.is_some(),
                v2: g.v2,
            };
        }
        let state = match holder {
            // An oplock next to a lease caching handles gets none (smbtorture
            // smb2.lease.oplock).
            Holder::Open(_)
                if self
                    .grants
                    .iter()
                    .any(|g| !g.is_oplock() && g.opens > 0 && g.state & H != 0) =>
            {
                0
            }
            Holder::Open(_) => {
                let s = oplock_state(req.state);
                if s & allowed == s {
                    s
                } else {
                    oplock_state(s & allowed) & R
                }
            }
            Holder::Lease { .. } => lease_state(req.state & allowed),
        };
        let epoch = req.v2.map_or(0, |(_, e)| e.wrapping_add(1));
        self.grants.push(Grant {
            holder,
            state,
            breaking_to: None,
            required: state,
            epoch,
            v2: req.v2.is_some(),
            opens: 1,
            conn,
            sink: sink.clone(),
            conns: vec![(conn, sink, 1)],
            stat: req.stat && state == 0 && matches!(holder, Holder::Open(_)),
        });
        Granted {
            state,
            epoch,
            breaking: false,
            v2: req.v2.is_some(),
        }
    }

    /// Drops one open of `holder` on `conn`; true when the file has no grant left.
    fn unregister(&mut self, holder: Holder, conn: u64) -> bool {
        if let Some(i) = self.grants.iter().position(|g| g.holder == holder) {
            let g = &mut self.grants[i];
            g.drop_conn(conn);
            g.opens = g.opens.saturating_sub(1);
            if g.opens == 0 {
                self.grants.swap_remove(i);
            }
        }
        self.grants.is_empty()
    }

    /// An acknowledgment: the acknowledged state, and the next break when
    /// requests that came during the break need more (MS-SMB2 3.3.5.22.2).
    /// The next break keeps read caching while the acknowledged state has
    /// more than that, so a lease steps RH, R, none as Windows does
    /// (smbtorture smb2.lease.breaking3), and keeps the epoch of the break
    /// that started it (v2_breaking3).
    fn ack(&mut self, holder: Holder, state: u32) -> Result<(u32, Option<Outgoing>), AckError> {
        let g = self
            .grants
            .iter_mut()
            .find(|g| g.holder == holder)
            .ok_or(AckError::NotFound)?;
        let to = g.breaking_to.ok_or(AckError::NotBreaking)?;
        if state & !to != 0 {
            if g.is_oplock() {
                // MS-SMB2 3.3.5.22.1: a wrong level ends the oplock.
                g.state = 0;
                g.breaking_to = None;
            }
            return Err(AckError::TooMuch);
        }
        g.state = state;
        g.breaking_to = None;
        if state & !g.required == 0 || g.is_oplock() {
            g.required = state;
            return Ok((state, None));
        }
        let next = if state & !R != 0 {
            (g.required | R) & state
        } else {
            g.required & state
        };
        let ack_required = state & !R != 0;
        let notice = Notice {
            current: state,
            new: next,
            epoch: g.epoch,
            ack_required,
        };
        if ack_required {
            g.breaking_to = Some(next);
        } else {
            g.state = next;
            g.required = next;
        }
        Ok((state, Some((g.sink.clone(), notice))))
    }
}

/// The process-wide grant table.
pub struct LeaseTable {
    shards: Vec<Mutex<HashMap<FileKey, FileGrants>>>,
    /// File and open count of every lease key (a key names one file, MS-SMB2
    /// 3.3.5.9.8). Never locked together with a shard.
    lease_files: Mutex<HashMap<Holder, (FileKey, u32)>>,
}

/// The lease key of a CREATE already names another file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyInUse;

static TABLE: LazyLock<LeaseTable> = LazyLock::new(|| LeaseTable {
    shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
    lease_files: Mutex::new(HashMap::new()),
});

/// The table.
pub fn table() -> &'static LeaseTable {
    &TABLE
}

/// Releases one open's registration when dropped (CLOSE, connection teardown).
#[derive(Debug)]
pub struct OpenToken {
    file: FileKey,
    holder: Holder,
    conn: u64,
}

impl OpenToken {
    pub fn file(&self) -> FileKey {
        self.file
    }
    pub fn holder(&self) -> Holder {
        self.holder
    }
}

impl Drop for OpenToken {
    fn drop(&mut self) {
        table().unregister(self.file, self.holder, self.conn);
    }
}

impl LeaseTable {
    fn shard(&self, file: FileKey) -> MutexGuard<'_, HashMap<FileKey, FileGrants>> {
        let i = (file.1 as usize ^ file.0 as usize) % SHARDS;
        // A panic while holding the lock cannot leave a grant list half-edited in a
        // way that matters more than losing the table; keep serving.
        self.shards[i].lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers an open of `file` and grants what the rules allow. Breaks must have
    /// been done before ([`LeaseTable::break_and_wait`] with [`Op::Open`]).
    pub fn register(
        &self,
        file: FileKey,
        holder: Holder,
        conn: u64,
        sink: Arc<dyn BreakSink>,
        req: Request,
    ) -> Result<(OpenToken, Granted), KeyInUse> {
        if let Holder::Lease { .. } = holder {
            let mut keys = self.lease_files.lock().unwrap_or_else(|e| e.into_inner());
            let e = keys.entry(holder).or_insert((file, 0));
            if e.0 != file {
                return Err(KeyInUse);
            }
            e.1 += 1;
        }
        let mut shard = self.shard(file);
        let f = shard.entry(file).or_insert_with(|| {
            ACTIVE_FILES.fetch_add(1, Ordering::Relaxed);
            FileGrants::default()
        });
        let granted = f.register(holder, conn, sink, req);
        Ok((OpenToken { file, holder, conn }, granted))
    }

    fn unregister(&self, file: FileKey, holder: Holder, conn: u64) {
        {
            let mut shard = self.shard(file);
            if let Some(f) = shard.get_mut(&file) {
                if f.unregister(holder, conn) {
                    shard.remove(&file);
                    ACTIVE_FILES.fetch_sub(1, Ordering::Relaxed);
                }
            }
        }
        if let Holder::Lease { .. } = holder {
            let mut keys = self.lease_files.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(e) = keys.get_mut(&holder) {
                e.1 = e.1.saturating_sub(1);
                if e.1 == 0 {
                    keys.remove(&holder);
                }
            }
        }
    }

    /// The file a lease key is registered on, if any.
    pub fn key_file(&self, holder: Holder) -> Option<FileKey> {
        let keys = self.lease_files.lock().unwrap_or_else(|e| e.into_inner());
        keys.get(&holder).map(|e| e.0)
    }

    /// An acknowledgment of a break of `holder`'s grant on `file`: the new state.
    pub fn ack(&self, file: FileKey, holder: Holder, state: u32) -> Result<u32, AckError> {
        let (acked, next) = {
            let mut shard = self.shard(file);
            shard
                .get_mut(&file)
                .ok_or(AckError::NotFound)?
                .ack(holder, state)?
        };
        if let Some((sink, n)) = next {
            sink.send(&n);
        }
        Ok(acked)
    }

    /// A durable open reattached on another connection: the grant's notices go
    /// to `sink` and its connection is `conn` now. Returns what it holds.
    pub fn rebind(
        &self,
        file: FileKey,
        holder: Holder,
        conn: u64,
        sink: Arc<dyn BreakSink>,
    ) -> Option<Granted> {
        let mut shard = self.shard(file);
        let g = shard
            .get_mut(&file)?
            .grants
            .iter_mut()
            .find(|g| g.holder == holder)?;
        g.conn = conn;
        g.sink = sink;
        Some(Granted {
            state: g.state,
            epoch: g.epoch,
            breaking: g.breaking_to.is_some(),
            v2: g.v2,
        })
    }

    /// Current (state, breaking_to) of a grant, for tests and diagnostics.
    pub fn state(&self, file: FileKey, holder: Holder) -> Option<(u32, Option<u32>)> {
        let shard = self.shard(file);
        let g = shard
            .get(&file)?
            .grants
            .iter()
            .find(|g| g.holder == holder)?;
        Some((g.state, g.breaking_to))
    }

    /// Breaks what `op` by `origin` (None: NFS) conflicts with on `file`, then waits
    /// (bounded by `wait`) until every break needing an acknowledgment is acknowledged
    /// or its holder closed. Never holds a lock across an await.
    pub async fn break_and_wait(
        &self,
        file: FileKey,
        origin: Option<Origin>,
        op: Op,
        wait: Duration,
    ) {
        let except = origin.map(|o| o.holder);
        let wait_conn = origin.map(|o| o.conn);
        let nfs = origin.is_none();
        let deadline = Instant::now() + wait;
        loop {
            let (notices, pending) = match self.shard(file).get_mut(&file) {
                Some(f) => f.begin_op(except, wait_conn, op, nfs),
                None => return,
            };
            for (sink, n) in &notices {
                sink.send(n);
            }
            if !pending {
                return;
            }
            if Instant::now() >= deadline {
                if let Some(f) = self.shard(file).get_mut(&file) {
                    f.force(except);
                }
                return;
            }
            glommio::timer::sleep(Duration::from_millis(POLL_MS)).await;
        }
    }
}

impl LeaseTable {
    /// Starts the breaks `op` by `origin` needs on `file` without waiting. True when
    /// one of them (on any connection, the caller's own included) needs an
    /// acknowledgment first: the SMB CREATE then goes async ([`LeaseTable::wait_breaks`]).
    pub fn break_now(&self, file: FileKey, origin: Option<Origin>, op: Op) -> bool {
        let except = origin.map(|o| o.holder);
        let (notices, pending) = match self.shard(file).get_mut(&file) {
            Some(f) => f.begin_op(except, None, op, origin.is_none()),
            None => return false,
        };
        for (sink, n) in &notices {
            sink.send(n);
        }
        pending
    }

    /// [`LeaseTable::break_now`] for an SMB CREATE (`first`: its first try, not
    /// a retry after an acknowledgment): true when it must wait, by Samba's rule
    /// ([`FileGrants::begin_with`]).
    pub fn break_create(&self, file: FileKey, origin: Origin, op: Op, first: bool) -> bool {
        let create = CreateWait {
            first,
            delay: op.delay_mask(),
        };
        let (notices, pending) = match self.shard(file).get_mut(&file) {
            Some(f) => f.begin_with(
                Some(origin.holder),
                None,
                |g| op.keep_for(false, g.is_oplock()),
                Wait::Create(create),
            ),
            None => return false,
        };
        for (sink, n) in &notices {
            sink.send(n);
        }
        pending
    }

    /// Waits (bounded by `wait`) until the breaks [`LeaseTable::break_create`]
    /// started are acknowledged on every connection, the caller's included; past
    /// the bound the grants lose their caching ([`FileGrants::force`]). Never
    /// holds a lock across an await.
    pub async fn wait_breaks(&self, file: FileKey, origin: Origin, op: Op, wait: Duration) {
        let deadline = Instant::now() + wait;
        while self.break_create(file, origin, op, false) {
            if Instant::now() >= deadline {
                if let Some(f) = self.shard(file).get_mut(&file) {
                    f.force(Some(origin.holder));
                }
                return;
            }
            glommio::timer::sleep(Duration::from_millis(POLL_MS)).await;
        }
    }
}

thread_local! {
    static CURRENT: Cell<Option<Origin>> = const { Cell::new(None) };
}

/// The origin of the fs call being polled on this thread (None: NFS or internal).
pub fn current_origin() -> Option<Origin> {
    CURRENT.with(Cell::get)
}

/// Runs `fut` with `origin` as the caller of every fs call it makes (like a task
/// local: set around each poll, so other tasks on the core never see it).
pub fn scoped<F: Future>(origin: Origin, fut: F) -> Scoped<F> {
    Scoped {
        origin,
        fut: Box::pin(fut),
    }
}

/// Future returned by [`scoped`].
pub struct Scoped<F> {
    origin: Origin,
    fut: Pin<Box<F>>,
}

impl<F: Future> Future for Scoped<F> {
    type Output = F::Output;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let prev = CURRENT.with(|c| c.replace(Some(self.origin)));
        let r = self.fut.as_mut().poll(cx);
        CURRENT.with(|c| c.set(prev));
        r
    }
}

impl Fs {
    /// Breaks the grants `op` on `ino` conflicts with and waits for them (module
    /// docs). One relaxed load when no file has a grant.
    pub(super) async fn break_leases(&self, ino: InodeId, op: Op) {
        if ACTIVE_FILES.load(Ordering::Relaxed) == 0 {
            return;
        }
        let origin = current_origin();
        let wait_ms = if origin.is_some() {
            smb_wait_ms()
        } else {
            nfs_wait_ms()
        };
        table()
            .break_and_wait(
                (self.share.id, ino),
                origin,
                op,
                Duration::from_millis(wait_ms),
            )
            .await;
    }

    /// [`Fs::break_leases`] for the file `name` in `dir`, if there is one.
    pub(super) async fn break_leases_at(&self, dir: InodeId, name: &[u8], op: Op) {
        if ACTIVE_FILES.load(Ordering::Relaxed) == 0 {
            return;
        }
        if let Ok(a) = self.meta.lookup(dir, name).await {
            self.break_leases(a.ino, op).await;
        }
    }
}

#[cfg(test)]
#[path = "leases_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "leases_oplock_tests.rs"]
mod oplock_tests;
