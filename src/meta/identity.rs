//! Users, groups and per-share grants as the metadata store keeps them.
//!
//! Why here: identities must be shared by every node that serves one
//! namespace (a PostgreSQL store is shared by several servers), survive
//! restarts (LMDB) and change atomically with nothing else, so they live in the
//! metadata store next to the namespace rather than in the config file. The
//! SMB server (NTLM: `nt_hash`) and the identity CLI/REST read and write them
//! through [`super::MetadataStore`]; the store enforces only uniqueness (names
//! and uid/gid numbers), never policy.

use serde::{Deserialize, Serialize};

pub use crate::config::SharePermission;

/// One user account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRecord {
    /// Unique key.
    pub name: String,
    /// Unique among users.
    pub uid: u32,
    /// Primary group.
    pub gid: u32,
    /// Supplementary groups.
    pub groups: Vec<u32>,
    /// bcrypt hash of the password.
    pub password_hash: String,
    /// MD4 of the UTF-16LE password, for NTLM (SMB); `None` when not set.
    pub nt_hash: Option<[u8; 16]>,
    /// Per-share grants: (share name, permission).
    pub share_permissions: Vec<(String, SharePermission)>,
}

/// One group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupRecord {
    /// Unique key.
    pub name: String,
    /// Unique among groups.
    pub gid: u32,
    /// Per-share grants: (share name, permission).
    pub share_permissions: Vec<(String, SharePermission)>,
}
