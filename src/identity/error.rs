//! [`IdentityError`]: what the identity service refuses and why, with the
//! HTTP status and the stable code the REST API answers with.

use crate::meta::MetaError;

/// Why an identity operation failed.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error("invalid {kind} name {name:?}: {reason}")]
    InvalidName {
        kind: &'static str,
        name: String,
        reason: &'static str,
    },
    #[error("invalid {kind} {id}: {reason}")]
    InvalidId {
        kind: &'static str,
        id: u32,
        reason: &'static str,
    },
    #[error("invalid password: {0}")]
    InvalidPassword(&'static str),
    #[error("invalid permission {0:?} (expected none, read, read-write or admin)")]
    InvalidPermission(String),
    #[error("no user named {0:?}")]
    UserNotFound(String),
    #[error("no group named {0:?}")]
    GroupNotFound(String),
    #[error("no share named {0:?}")]
    ShareNotFound(String),
    #[error("user {0:?} already exists")]
    UserExists(String),
    #[error("group {0:?} already exists")]
    GroupExists(String),
    #[error("uid {0} belongs to another user")]
    UidInUse(u32),
    #[error("gid {0} belongs to another group")]
    GidInUse(u32),
    #[error("no free {kind} left in {min}..={max} (see [identity] {kind}_min/{kind}_max)")]
    RangeExhausted {
        kind: &'static str,
        min: u32,
        max: u32,
    },
    #[error("group {group:?} is the primary group of user {user:?}")]
    GroupInUse { group: String, user: String },
    #[error("user {user:?} is not a member of group {group:?}")]
    NotMember { user: String, group: String },
    #[error("{who} has no grant on share {share:?}")]
    NoGrant { who: String, share: String },
    #[error("wrong user name or password")]
    BadCredentials,
    #[error("the identity store is a memory store: nothing outlives this process; manage users of a running server with --server URL")]
    VolatileStore,
    #[error("password hashing failed: {0}")]
    Hash(String),
    #[error("identity store: {0}")]
    Store(#[from] MetaError),
}

impl IdentityError {
    /// HTTP status of this error in the REST API.
    pub fn http_status(&self) -> u16 {
        use IdentityError::*;
        match self {
            InvalidName { .. }
            | InvalidId { .. }
            | InvalidPassword(_)
            | InvalidPermission(_)
            | VolatileStore => 400,
            BadCredentials => 401,
            UserNotFound(_)
            | GroupNotFound(_)
            | ShareNotFound(_)
            | NotMember { .. }
            | NoGrant { .. } => 404,
            UserExists(_)
            | GroupExists(_)
            | UidInUse(_)
            | GidInUse(_)
            | GroupInUse { .. }
            | RangeExhausted { .. } => 409,
            Hash(_) | Store(_) => 500,
        }
    }

    /// Stable machine-readable code of this error in the REST API.
    pub fn code(&self) -> &'static str {
        use IdentityError::*;
        match self {
            InvalidName { .. } | InvalidId { .. } | InvalidPassword(_) | InvalidPermission(_) => {
                "invalid"
            }
            VolatileStore => "volatile_store",
            BadCredentials => "bad_credentials",
            UserNotFound(_)
            | GroupNotFound(_)
            | ShareNotFound(_)
            | NotMember { .. }
            | NoGrant { .. } => "not_found",
            UserExists(_) | GroupExists(_) | UidInUse(_) | GidInUse(_) => "exists",
            GroupInUse { .. } | RangeExhausted { .. } => "conflict",
            Hash(_) | Store(_) => "internal",
        }
    }

    /// Whether the caller must change the request (usage error, exit 2 in the
    /// CLI) rather than the system failing (exit 1).
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            IdentityError::InvalidName { .. }
                | IdentityError::InvalidId { .. }
                | IdentityError::InvalidPassword(_)
                | IdentityError::InvalidPermission(_)
                | IdentityError::VolatileStore
        )
    }
}
