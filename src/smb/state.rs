//! Per-connection SMB state: negotiated dialect, sessions (with their keys and
//! trees), opens (file ids) and the credit window.
//!
//! Why one struct owned by the connection task: only the connection loop
//! touches it (READ/WRITE tasks in flight get owned copies of what they need,
//! `pipeline.rs`), so the tables need no locks and a session or open can never
//! be touched by another connection: a channel bound to a session of this
//! connection (multichannel, `bind.rs`) forwards its requests here.

use std::collections::{HashMap, HashSet};

use dittofs_smb_wire::crypto::{Cipher, PreauthHash, SigningAlgorithm};
use dittofs_smb_wire::fscc::dir::DirEntry as WireDirEntry;

use crate::fs::{Cred, InodeId};

/// Credits a client may hold at once.
pub const CREDITS_MAX: u64 = 8192;

/// The message-id window the client may use (MS-SMB2 3.3.1.1 CommandSequenceWindow).
#[derive(Debug)]
pub struct Credits {
    /// Lowest id not yet used.
    low: u64,
    /// One past the highest id granted.
    high: u64,
    /// Ids in `low..high` already used (out of order).
    used: HashSet<u64>,
}

impl Default for Credits {
    fn default() -> Self {
        Credits {
            low: 0,
            high: 1,
            used: HashSet::new(),
        }
    }
}

impl Credits {
    /// Consumes ids `mid..mid+charge`; false if any is outside the window or used.
    pub fn consume(&mut self, mid: u64, charge: u16) -> bool {
        let charge = u64::from(charge.max(1));
        let Some(end) = mid.checked_add(charge) else {
            return false;
        };
        if mid < self.low || end > self.high || (mid..end).any(|m| self.used.contains(&m)) {
            return false;
        }
        self.used.extend(mid..end);
        while self.used.remove(&self.low) {
            self.low += 1;
        }
        true
    }

    /// Credits still held by the client.
    pub fn outstanding(&self) -> u64 {
        self.high - self.low - self.used.len() as u64
    }

    /// Grants up to `requested` (at least 1 when the client holds none), capped.
    pub fn grant(&mut self, requested: u16) -> u16 {
        let room = CREDITS_MAX.saturating_sub(self.outstanding());
        let mut n = u64::from(requested).min(room);
        if n == 0 && self.outstanding() == 0 {
            n = 1;
        }
        self.high += n;
        n as u16
    }
}

/// Where an authentication stands.
pub enum Auth {
    /// CHALLENGE sent; waiting for AUTHENTICATE.
    Challenged {
        negotiate_msg: Vec<u8>,
        challenge_msg: Vec<u8>,
        server_challenge: [u8; 8],
        /// DER MechTypeList of the client's NegTokenInit (for mechListMIC).
        mech_types_der: Option<Vec<u8>>,
        /// Whether the client spoke SPNEGO (vs raw NTLMSSP).
        spnego: bool,
    },
    /// Authenticated.
    Valid,
}

/// One tree connect.
#[derive(Debug, Clone, Copy)]
pub enum Tree {
    /// IPC$ (the srvsvc named pipe, see `ipc.rs`).
    Ipc,
    /// Index into the context's shares.
    Disk(usize),
}

/// One session.
pub struct Session {
    pub auth: Auth,
    /// A re-authentication in progress on a valid session (MS-SMB2 3.3.5.5.3):
    /// its CHALLENGE state; the session keeps serving requests meanwhile.
    pub reauth: Option<Auth>,
    pub user: String,
    pub cred: Cred,
    /// A guest or anonymous session (no session key; guest permission).
    pub guest: bool,
    pub signing_key: Vec<u8>,
    pub encryption_key: Vec<u8>,
    pub decryption_key: Vec<u8>,
    pub signing_algo: SigningAlgorithm,
    /// Every response is signed (the client asked for signing).
    pub signing_required: bool,
    /// Every response is encrypted.
    pub encrypt: bool,
    pub trees: HashMap<u32, Tree>,
    pub preauth: PreauthHash,
    pub nonce_salt: [u8; 4],
}

/// The counter half of the next AES-CCM/GCM nonce ([`crypto::make_nonce`]).
///
/// Why one counter for the whole process: a session's encryption key is
/// shared by every channel bound to it (multichannel, `bind.rs`), each on its
/// own connection and maybe core; per-channel counters would repeat values
/// under the same key and only a random salt would keep the nonces apart. A
/// process-wide counter never repeats, so no two messages under any key share
/// a nonce (2^64 messages are out of reach).
///
/// [`crypto::make_nonce`]: dittofs_smb_wire::crypto::make_nonce
pub fn next_nonce_counter() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// A directory listing in progress on an open.
pub struct DirScan {
    pub entries: Vec<WireDirEntry>,
    pub pos: usize,
}

/// One open (CREATE → CLOSE).
pub struct Open {
    pub session_id: u64,
    pub tree_id: u32,
    pub share: usize,
    pub ino: InodeId,
    /// Parent directory and name, for delete-on-close and rename; `None` for the root.
    pub parent: Option<(InodeId, Vec<u8>)>,
    /// Path from the share root with a leading `\`.
    pub path: String,
    pub is_dir: bool,
    pub delete_pending: bool,
    pub write_through: bool,
    pub granted_access: u32,
    /// FilePositionInformation: set by SET_INFO, advanced by READ and WRITE
    /// (what Samba reports; smbtorture smb2.read.position).
    pub position: u64,
    pub scan: Option<DirScan>,
    /// Its registration in the lease table (regular files); dropping it unregisters.
    pub caching: Option<super::oplock::Caching>,
    /// Its entry in the share-mode table; dropping it releases the entry.
    pub share_mode: Option<crate::fs::sharemode::ShareModeToken>,
    /// The persistent half of its FileId: process-unique, kept by a durable
    /// reconnect (the volatile half is the key in `ConnState::opens`).
    pub persistent: u64,
    /// Granted durable (see `durable.rs`).
    pub durable: Option<super::durable::Durable>,
    /// Its hold on a regular file: an unlinked file stays alive until the
    /// last hold goes (`crate::fs::unlinked`).
    pub hold: Option<crate::fs::unlinked::OpenHold>,
    /// Set for an open of a named stream (`super::streams`): `ino` is then the
    /// stream's inode, delete and rename act on the stream table.
    pub stream: Option<super::streams::StreamOpen>,
    /// Its delayed LastWriteTime updates (`writetime.rs`).
    pub write_time: super::writetime::WriteTime,
    /// Lock sequence replay state and resiliency (`lockseq.rs`).
    pub replay: super::lockseq::LockReplay,
}

/// Everything one connection negotiated and opened.
#[derive(Default)]
pub struct ConnState {
    /// The client's address (`allowed_clients`); `None` in unit tests.
    pub peer: Option<std::net::SocketAddr>,
    pub dialect: u16,
    pub negotiated: bool,
    pub client_guid: [u8; 16],
    pub client_security_mode: u16,
    pub client_capabilities: u32,
    pub client_dialects: Vec<u16>,
    pub server_capabilities: u32,
    pub server_security_mode: u16,
    pub preauth: PreauthHash,
    pub cipher: Option<Cipher>,
    pub signing_ctx: Option<u16>,
    pub sessions: HashMap<u64, Session>,
    pub opens: HashMap<u64, Open>,
    /// Named pipe opens on IPC$ (srvsvc), keyed like `opens`.
    pub pipes: HashMap<u64, super::ipc::Pipe>,
    pub credits: Credits,
    /// SMB 3.1.1 POSIX extensions negotiated (see `posix.rs`).
    pub posix: bool,
    /// Messages sent without a request in hand (async finals, breaks, notifies).
    pub outbox: super::outbox::Outbox,
    /// This connection in the lease table (0 until the first open asks).
    pub lease_conn_id: u64,
    /// FSCTL_SMBTORTURE_FORCE_UNACKED_TIMEOUT was asked on this connection:
    /// a break needing an acknowledgment ends it (`oplock.rs`).
    pub break_unacked: std::sync::Arc<std::sync::atomic::AtomicBool>,
    /// Pending async operations, byte-range lock and watch bookkeeping.
    pub async_ops: super::pending::AsyncState,
    /// READs and WRITEs in flight as tasks (`pipeline.rs`).
    pub pipeline: super::pipeline::Pipeline,
    /// CREATEs waiting (async) for break acknowledgments.
    pub defer: super::defer::DeferState,
    /// Sessions the client sent encrypted requests on: what the server sends
    /// them without a request in hand (an async final) is encrypted too, as
    /// their answers are (MS-SMB2 3.3.4.1.4; a client that encrypts refuses
    /// a plain message, smbtorture smb2.session.encryption-*).
    pub client_encrypts: HashSet<u64>,
    /// Sessions of other connections bound to this one as a channel
    /// (multichannel, `bind.rs`), by session id.
    pub channels: HashMap<u64, super::bind::Channel>,
    /// This connection's forwarding queue (its sessions publish it so their
    /// bound channels reach this loop); `None` in unit tests.
    pub home: Option<super::sessions::HomeSender>,
    /// The key the response to the SESSION_SETUP being handled is signed
    /// with when it is a bind (the bound session's own key, 3.3.5.5.2).
    pub bind_signer: Option<(SigningAlgorithm, Vec<u8>)>,
    next_session_id: u64,
    next_tree_id: u32,
    next_file_id: u64,
}

impl ConnState {
    /// A process-unique session id: a SESSION_SETUP naming another
    /// connection's session (a binding attempt, a reconnect) must not find an
    /// unrelated session of this connection.
    pub fn new_session_id(&mut self) -> u64 {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        self.next_session_id = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        (self.next_session_id << 8) | 0x11
    }

    pub fn new_tree_id(&mut self) -> u32 {
        self.next_tree_id += 1;
        self.next_tree_id
    }

    pub fn new_file_id(&mut self) -> u64 {
        self.next_file_id += 1;
        self.next_file_id
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credit_window_enforced() {
        let mut c = Credits::default();
        assert!(c.consume(0, 0));
        assert!(!c.consume(0, 1), "reused id");
        assert!(!c.consume(1, 1), "not granted yet");
        assert_eq!(c.grant(10), 10);
        assert!(c.consume(5, 1));
        assert!(c.consume(1, 4));
        assert_eq!(c.outstanding(), 5);
        assert!(!c.consume(8, 4), "multi-credit beyond the window");
        assert!(c.consume(6, 5));
        assert_eq!(c.outstanding(), 0);
        assert_eq!(c.grant(0), 1, "never leave the client without credits");
        let mut c = Credits::default();
        assert_eq!(c.grant(u16::MAX), CREDITS_MAX as u16 - 1);
    }
}
