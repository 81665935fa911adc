//! The operations on users, groups and grants the admin API exposes.
//!
//! The identity system (`crate::identity`, built on its own branch) owns these
//! operations and the CLI uses the same ones; the API only routes to them
//! through [`AdminOps`], so there is one implementation behind both. Until the
//! lead wires `identity::Admin` in, [`NoIdentity`] answers every call with
//! 501 and the routing, authentication and error mapping are what is tested.

use std::collections::BTreeMap;

use serde::Serialize;

/// A user as the API shows it (never the password hash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UserView {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    pub groups: Vec<String>,
    /// May use the admin API with HTTP Basic.
    pub admin: bool,
    /// Share name → permission ("none", "read", "read-write", "admin").
    pub grants: BTreeMap<String, String>,
}

/// A group as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GroupView {
    pub name: String,
    pub gid: u32,
    pub grants: BTreeMap<String, String>,
}

/// Why an admin operation failed; decides the HTTP status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdminError {
    /// 404
    #[error("{0}")]
    NotFound(String),
    /// 409 (already exists)
    #[error("{0}")]
    Conflict(String),
    /// 400 (bad name, weak password, unknown share or permission)
    #[error("{0}")]
    Invalid(String),
    /// 501 (no identity system in this build or configuration)
    #[error("{0}")]
    Unavailable(String),
    /// 500 (the store failed)
    #[error("{0}")]
    Internal(String),
}

impl AdminError {
    pub fn status(&self) -> u16 {
        match self {
            AdminError::NotFound(_) => 404,
            AdminError::Conflict(_) => 409,
            AdminError::Invalid(_) => 400,
            AdminError::Unavailable(_) => 501,
            AdminError::Internal(_) => 500,
        }
    }
}

/// Result of checking HTTP Basic credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BasicAuth {
    /// Right password, admin user: may mutate.
    Admin,
    /// Right password, not an admin: 403.
    NotAdmin,
    /// Unknown user or wrong password: 401.
    Invalid,
}

/// User, group and grant operations, shared with the CLI.
///
/// The lead implements this for `crate::identity::Admin` (mapping
/// `IdentityError` onto [`AdminError`]); methods are blocking and called on
/// the API's own threads, never on a data core. Every method has a default
/// that answers 501 (not available), so an implementation may grow.
pub trait AdminOps: Send + Sync {
    fn list_users(&self) -> Result<Vec<UserView>, AdminError> {
        unavailable()
    }
    fn add_user(
        &self,
        _name: &str,
        _password: &str,
        _uid: Option<u32>,
        _gid: Option<u32>,
    ) -> Result<UserView, AdminError> {
        unavailable()
    }
    fn set_password(&self, _name: &str, _password: &str) -> Result<(), AdminError> {
        unavailable()
    }
    fn remove_user(&self, _name: &str) -> Result<(), AdminError> {
        unavailable()
    }
    /// `perm`: "none", "read", "read-write" or "admin".
    fn grant(&self, _user: &str, _share: &str, _perm: &str) -> Result<(), AdminError> {
        unavailable()
    }
    fn revoke(&self, _user: &str, _share: &str) -> Result<(), AdminError> {
        unavailable()
    }
    fn list_groups(&self) -> Result<Vec<GroupView>, AdminError> {
        unavailable()
    }
    fn add_group(&self, _name: &str, _gid: Option<u32>) -> Result<GroupView, AdminError> {
        unavailable()
    }
    fn remove_group(&self, _name: &str) -> Result<(), AdminError> {
        unavailable()
    }
    fn group_grant(&self, _group: &str, _share: &str, _perm: &str) -> Result<(), AdminError> {
        unavailable()
    }
    /// Checks a password against the stored bcrypt hash.
    fn check_basic(&self, _user: &str, _password: &str) -> BasicAuth {
        BasicAuth::Invalid
    }
}

/// [`AdminOps`] when no identity system is wired: every call is 501 and no
/// Basic credentials are valid (bearer tokens still work).
pub struct NoIdentity;

impl AdminOps for NoIdentity {}

fn unavailable<T>() -> Result<T, AdminError> {
    Err(AdminError::Unavailable(
        "user and group management is not available in this build".into(),
    ))
}
