//! The SMB2/3 front end: thin handlers over the protocol-neutral fs core.
//!
//! Why this shape: every byte-level concern (framing, codecs, NTLM, key
//! derivation, signing, encryption) lives in the pure `dittofs-smb-wire` crate;
//! this module only keeps the per-connection tables ([`state`]), turns requests
//! into fs core calls and core results into NTSTATUS and info classes. One
//! file per command family; [`dispatch`] runs a frame (compound chain,
//! credits, signing, encryption), [`conn`] is the listener every core runs.

pub mod access;
pub mod auth;
pub mod conn;
mod create;
mod dir;
mod dispatch;
mod info;
mod io;
mod misc;
mod negotiate;
mod observe;
pub mod state;
pub mod status;
mod throttle;
mod tree;

use std::rc::Rc;

use dittofs_smb_wire::create::FileTimes;
use dittofs_smb_wire::fscc::{attr as attrs, filetime_from_unix};
use dittofs_smb_wire::oplock::encode_error_response;

pub use dispatch::{handle_frame, FrameResult};

use crate::fs::{Attr, FileType, Fs, FsError, Timespec};

/// Largest READ/WRITE/transact payload advertised (8 MiB).
pub const IO_BYTES_MAX: u32 = 8 << 20;
/// Largest frame accepted: the largest WRITE plus headers and a transform header.
pub const FRAME_BYTES_MAX: usize = IO_BYTES_MAX as usize + (64 << 10);

/// One share as SMB sees it.
pub struct SmbShare {
    pub fs: Rc<Fs>,
    /// Share name: the configured name without the leading `/`.
    pub name: String,
}

/// What every connection of a core shares.
pub struct SmbContext {
    pub shares: Vec<SmbShare>,
    pub users: Box<dyn auth::UserSource>,
    pub server_guid: [u8; 16],
    /// FILETIME the server started.
    pub start_time: u64,
    /// Share permissions, `allowed_clients` and the guest policy; `None`
    /// (unit tests): no checks beyond the fs core's, guests refused.
    pub access: Option<access::AccessPolicy>,
    /// This core's rate limiter (the NFS buckets); `None` (unit tests): none.
    pub limiter: Option<Rc<crate::runtime::ratelimit::CoreLimiter>>,
}

impl SmbContext {
    pub fn new(
        shares: Vec<SmbShare>,
        users: Box<dyn auth::UserSource>,
        server_guid: [u8; 16],
    ) -> Self {
        let now = Timespec::now();
        SmbContext {
            shares,
            users,
            server_guid,
            start_time: filetime_from_unix(now.sec, now.nsec),
            access: None,
            limiter: None,
        }
    }

    /// Rate-limits requests with `limiter`.
    pub fn with_limiter(mut self, limiter: Rc<crate::runtime::ratelimit::CoreLimiter>) -> Self {
        self.limiter = Some(limiter);
        self
    }

    /// Applies `policy` (share permissions, allowed_clients, guests).
    pub fn with_access(mut self, policy: access::AccessPolicy) -> Self {
        self.access = Some(policy);
        self
    }

    /// Share by name, case-insensitive, with or without a leading `/`.
    pub fn find_share(&self, name: &str) -> Option<usize> {
        let name = name.trim_start_matches('/');
        self.shares
            .iter()
            .position(|s| s.name.eq_ignore_ascii_case(name))
    }
}

/// (status, body) of one response.
pub(crate) type Reply = (u32, Vec<u8>);

/// A response carrying only an NTSTATUS.
pub(crate) fn error_reply(status: u32) -> Reply {
    let mut body = Vec::new();
    encode_error_response(&[], &mut body);
    (status, body)
}

/// A success response with `body`.
pub(crate) fn ok(body: Vec<u8>) -> Result<Reply, u32> {
    Ok((dittofs_smb_wire::status::STATUS_SUCCESS, body))
}

pub(crate) fn fs_err(e: FsError) -> u32 {
    status::to_ntstatus(&e)
}

fn ft(t: Timespec) -> u64 {
    filetime_from_unix(t.sec, t.nsec)
}

/// The CREATE/CLOSE/info view of an inode's attributes.
pub(crate) fn file_times(a: &Attr) -> FileTimes {
    let btime = if a.btime == Timespec::default() {
        a.ctime
    } else {
        a.btime
    };
    let is_dir = a.ftype == FileType::Directory;
    let mut file_attributes = if is_dir {
        attrs::DIRECTORY
    } else {
        attrs::ARCHIVE
    };
    if a.mode & 0o222 == 0 && !is_dir {
        file_attributes |= attrs::READONLY;
    }
    FileTimes {
        creation_time: ft(btime),
        last_access_time: ft(a.atime),
        last_write_time: ft(a.mtime),
        change_time: ft(a.ctime),
        allocation_size: if is_dir {
            0
        } else {
            a.size.div_ceil(4096) * 4096
        },
        end_of_file: if is_dir { 0 } else { a.size },
        file_attributes,
    }
}

/// 16 random bytes from the kernel (server GUID, challenges, nonce salts).
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    let mut filled = 0;
    while filled < N {
        // SAFETY: the pointer and length describe the unfilled tail of `out`, which
        // lives for the whole call; getrandom writes at most that many bytes.
        let n = unsafe {
            libc::getrandom(
                out[filled..].as_mut_ptr().cast::<libc::c_void>(),
                N - filled,
                0,
            )
        };
        if n <= 0 {
            // EINTR or a kernel without getrandom: fall back to time-derived bytes
            // (uniqueness, not secrecy, is what GUIDs need; challenges get both
            // from getrandom on every supported kernel).
            let t = Timespec::now();
            let seed = (t.sec as u64) ^ (u64::from(t.nsec) << 20) ^ (filled as u64);
            for (i, b) in out[filled..].iter_mut().enumerate() {
                *b = (seed.rotate_left(i as u32 * 7) & 0xFF) as u8;
            }
            break;
        }
        filled += n as usize;
    }
    out
}
