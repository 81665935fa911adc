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
mod bind;
pub mod conn;
mod copychunk;
mod create;
mod defer;
mod dir;
mod dispatch;
pub mod durable;
mod fsctl;
mod info;
mod io;
mod ipc;
mod lock;
mod lockseq;
mod misc;
mod negotiate;
mod notify;
mod observe;
mod oplock;
pub mod outbox;
pub mod pending;
pub mod pipeline;
mod posix;
mod sessions;
mod sharemode;
pub mod state;
pub mod status;
pub mod streams;
mod throttle;
mod tree;
pub mod writetime;

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
    /// Permission of callers without a grant (srvsvc lists shares by permission).
    pub default_permission: crate::config::SharePermission,
}

/// What every connection of a core shares.
pub struct SmbContext {
    pub shares: Vec<SmbShare>,
    pub users: Box<dyn auth::UserSource>,
    pub server_guid: [u8; 16],
    /// FILETIME the server started.
    pub start_time: u64,
    /// Share permissions of users (users and groups); `None` (unit tests):
    /// every user gets the share's `default_permission`.
    pub identity: Option<crate::identity::PermissionCache>,
    /// `[adapters.smb] admin_users`: sessions of these users run as root.
    pub admin_users: Vec<String>,
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
            identity: None,
            admin_users: Vec::new(),
            access: None,
            limiter: None,
        }
    }

    /// Resolves share permissions through `cache` (users and groups), for
    /// share enumeration.
    pub fn with_identity(mut self, cache: crate::identity::PermissionCache) -> Self {
        self.identity = Some(cache);
        self
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
        creation_time: ft(a.btime),
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

/// FILE_ATTRIBUTE_* bits stored per inode ([`Fs::set_dos_attributes`]); READONLY
/// and DIRECTORY are always derived from the POSIX attributes. NORMAL marks "set,
/// with none of the others", so that clearing ARCHIVE sticks.
pub(crate) const DOS_STORED: u32 = attrs::HIDDEN | attrs::SYSTEM | attrs::ARCHIVE;

/// What to store for the FILE_ATTRIBUTE_* bits a client sets.
pub(crate) fn dos_to_store(requested: u32) -> u32 {
    match requested & DOS_STORED {
        0 => attrs::NORMAL,
        bits => bits,
    }
}

/// The stored bits with SPARSE_FILE set or cleared (FSCTL_SET_SPARSE; only
/// that FSCTL changes it: CREATE and SetInfo keep it as it is). An inode
/// whose bits were never set starts from what [`file_times`] derives.
pub(crate) fn with_sparse(stored: u32, derived: u32, sparse: bool) -> u32 {
    let base = if stored == 0 {
        derived & DOS_STORED
    } else {
        stored
    };
    let bits = if sparse {
        (base & !attrs::NORMAL) | attrs::SPARSE_FILE
    } else {
        base & !attrs::SPARSE_FILE
    };
    if bits & !attrs::NORMAL == 0 {
        attrs::NORMAL
    } else {
        bits
    }
}

/// [`file_times`] with the stored DOS bits (HIDDEN, SYSTEM, ARCHIVE) of the inode
/// merged in; an inode whose bits were never set keeps the derived ones.
pub(crate) async fn times_of(fs: &Fs, a: &Attr) -> FileTimes {
    let t = file_times(a);
    match fs.dos_attributes(a.ino).await {
        Ok(stored) => with_dos(t, stored),
        Err(_) => t,
    }
}

fn with_dos(mut t: FileTimes, stored: u32) -> FileTimes {
    if stored != 0 {
        let derived = t.file_attributes & (attrs::DIRECTORY | attrs::READONLY);
        t.file_attributes = match derived | (stored & (DOS_STORED | attrs::SPARSE_FILE)) {
            0 => attrs::NORMAL,
            bits => bits,
        };
    }
    t
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

#[cfg(test)]
mod tests {
    use super::*;

    fn times(attributes: u32) -> FileTimes {
        FileTimes {
            file_attributes: attributes,
            ..FileTimes::default()
        }
    }

    #[test]
    fn stored_dos_bits_replace_the_derived_archive_bit() {
        // never set: the derived bits stay
        assert_eq!(
            with_dos(times(attrs::ARCHIVE), 0).file_attributes,
            attrs::ARCHIVE
        );
        // cifs sfu: SYSTEM on a regular file
        let sys = dos_to_store(attrs::SYSTEM | attrs::ARCHIVE);
        assert_eq!(
            with_dos(times(attrs::ARCHIVE), sys).file_attributes,
            attrs::SYSTEM | attrs::ARCHIVE
        );
        // cleared to "normal": no ARCHIVE any more
        let none = dos_to_store(attrs::NORMAL);
        assert_eq!(none, attrs::NORMAL);
        assert_eq!(
            with_dos(times(attrs::ARCHIVE), none).file_attributes,
            attrs::NORMAL
        );
        // READONLY and DIRECTORY stay derived from the mode
        assert_eq!(
            with_dos(times(attrs::DIRECTORY), dos_to_store(attrs::HIDDEN)).file_attributes,
            attrs::DIRECTORY | attrs::HIDDEN
        );
        assert_eq!(
            with_dos(times(attrs::ARCHIVE | attrs::READONLY), none).file_attributes,
            attrs::READONLY
        );
    }
}
