//! Identity shared by NFS and SMB: users, groups, passwords and the share
//! permission every caller ends up with.
//!
//! Why one module: the CLI (`dittofs user …`, `dittofs group …`, on the store
//! directly while the server is stopped), the REST admin API (while it runs)
//! and the protocol adapters must apply the same rules, so there is one
//! service, [`Admin`], and one resolution, [`effective_permission`].
//!
//! * **Where identities live**: in one metadata store (`[identity]
//!   metadata_store`, default the first share's store), through the
//!   `MetadataStore` identity methods; the store only keeps records unique, all
//!   policy is here.
//! * **Passwords**: a bcrypt hash (admin/API logins) and the NT hash (MD4 of the
//!   UTF-16LE password, what NTLM needs) are both kept in the `UserRecord`. The
//!   NT hash is a password equivalent: the LMDB files are 0600 in a 0700
//!   directory, no log line or API answer ever carries a hash ([`api_types`]
//!   has no hash field at all).
//! * **Resolution**: a user's own grant for a share wins, else the highest
//!   grant of the user's groups (primary and supplementary), else the share's
//!   `default_permission`; callers that map to no user get the default.
//! * **Caching**: every change made through [`Admin`] bumps a process-wide
//!   [`generation`]; [`PermissionCache`] (one per core) drops entries of an
//!   older generation, and entries older than [`CACHE_TTL_MS`] (changes made by
//!   another process on a shared PostgreSQL store).

pub mod access;
mod admin;
pub mod api;
pub mod api_types;
mod error;
mod password;
mod resolve;
mod rules;
pub mod store;

#[cfg(test)]
mod tests;

use std::sync::atomic::{AtomicU64, Ordering};

pub use access::{LiveAccess, ShareAccess};
pub use admin::{Admin, NewUser};
pub use error::IdentityError;
pub use password::{nt_hash, verify_bcrypt};
pub use resolve::{effective_permission, guest_permission, PermissionCache, CACHE_TTL_MS};
pub use rules::{check_group_name, check_user_name, RESERVED_IDS, RESERVED_NAMES};

pub use crate::config::SharePermission;
pub use crate::meta::{GroupRecord, UserRecord};

static GENERATION: AtomicU64 = AtomicU64::new(1);

/// Process-wide identity generation: changes whenever [`Admin`] changes a
/// user or group, so caches know their entries may be stale.
pub fn generation() -> u64 {
    GENERATION.load(Ordering::Acquire)
}

/// Marks every cached resolution stale (after a change, or a config reload).
pub fn bump_generation() {
    GENERATION.fetch_add(1, Ordering::AcqRel);
}

/// The spelling of a share permission in the CLI, the API and the config.
pub fn permission_name(p: SharePermission) -> &'static str {
    match p {
        SharePermission::None => "none",
        SharePermission::Read => "read",
        SharePermission::ReadWrite => "read-write",
        SharePermission::Admin => "admin",
    }
}

/// Parses `none`, `read`, `read-write` (also `rw`) or `admin`.
pub fn parse_permission(s: &str) -> Result<SharePermission, IdentityError> {
    Ok(match s {
        "none" => SharePermission::None,
        "read" | "ro" => SharePermission::Read,
        "read-write" | "rw" => SharePermission::ReadWrite,
        "admin" => SharePermission::Admin,
        other => {
            return Err(IdentityError::InvalidPermission(other.to_owned()));
        }
    })
}
