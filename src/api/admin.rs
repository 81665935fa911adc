//! Users, groups and grants in the admin API: one implementation behind the
//! API and the CLI.
//!
//! The identity system (`crate::identity`) owns these operations, their HTTP
//! form (routes and JSON shapes in `identity::api_types`) and their
//! execution; the CLI's `--server` mode sends exactly that HTTP form. The API
//! only checks credentials and hands the request to [`AdminOps::identity`];
//! [`IdentityOps`] is the production implementation over
//! [`crate::identity::Admin`], [`NoIdentity`] (no identity store) answers 501.

use std::sync::Arc;

use crate::identity::Admin;

/// Result of checking HTTP Basic credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BasicAuth {
    /// Right password, member of `[identity] admin_group`.
    Admin,
    /// Right password, not an administrator (403 on the identity endpoints).
    NotAdmin,
    /// Unknown user or wrong password (401).
    Invalid,
}

/// What the admin API needs of the identity system. Blocking: the API runs on
/// its own threads, never on a data core.
pub trait AdminOps: Send + Sync {
    /// Serves one request under `/api/v1/users` or `/api/v1/groups` (already
    /// authenticated): HTTP status and JSON body (empty for 204).
    fn identity(&self, method: &str, path: &str, body: &[u8]) -> (u16, String);

    /// Checks HTTP Basic credentials against the identity store (bcrypt).
    fn check_basic(&self, user: &str, password: &str) -> BasicAuth;
}

/// No identity store: every identity route answers 501, Basic logins fail.
pub struct NoIdentity;

impl AdminOps for NoIdentity {
    fn identity(&self, _method: &str, _path: &str, _body: &[u8]) -> (u16, String) {
        (
            501,
            r#"{"error":"user and group management is not available","code":"unavailable"}"#
                .to_owned(),
        )
    }

    fn check_basic(&self, _user: &str, _password: &str) -> BasicAuth {
        BasicAuth::Invalid
    }
}

/// The identity system behind the API.
pub struct IdentityOps {
    admin: Arc<Admin>,
}

impl IdentityOps {
    pub fn new(admin: Arc<Admin>) -> IdentityOps {
        IdentityOps { admin }
    }
}

impl AdminOps for IdentityOps {
    fn identity(&self, method: &str, path: &str, body: &[u8]) -> (u16, String) {
        let resp = futures_lite::future::block_on(crate::identity::api::handle(
            &self.admin,
            method,
            path,
            body,
        ));
        (resp.status, resp.body)
    }

    fn check_basic(&self, user: &str, password: &str) -> BasicAuth {
        futures_lite::future::block_on(async {
            let Ok(record) = self.admin.verify_password(user, password).await else {
                return BasicAuth::Invalid;
            };
            match self.admin.is_admin(&record).await {
                Ok(true) => BasicAuth::Admin,
                Ok(false) => BasicAuth::NotAdmin,
                Err(e) => {
                    log::warn!("admin API: cannot check group membership of {user:?}: {e}");
                    BasicAuth::Invalid
                }
            }
        })
    }
}
