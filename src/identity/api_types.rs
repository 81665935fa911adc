//! JSON shapes and routes of the identity part of the REST admin API, shared
//! by the server (`src/api/`, which hands requests to [`super::api::handle`])
//! and the CLI's `--server` client, so both ends cannot drift apart.
//!
//! Routes (`{share}` without its leading '/', path segments percent-encoded):
//!
//! | method | path | body | answer |
//! |---|---|---|---|
//! | GET | `/api/v1/users` | | 200 `[UserView]` |
//! | POST | `/api/v1/users` | `NewUserRequest` | 201 `UserView` |
//! | GET | `/api/v1/users/{name}` | | 200 `UserView` |
//! | DELETE | `/api/v1/users/{name}` | | 204 |
//! | PUT | `/api/v1/users/{name}/password` | `PasswordRequest` | 204 |
//! | PUT | `/api/v1/users/{name}/grants/{share}` | `GrantRequest` | 204 |
//! | DELETE | `/api/v1/users/{name}/grants/{share}` | | 204 |
//! | PUT | `/api/v1/users/{name}/groups/{group}` | | 204 (join) |
//! | DELETE | `/api/v1/users/{name}/groups/{group}` | | 204 (leave) |
//! | GET | `/api/v1/groups` | | 200 `[GroupView]` |
//! | POST | `/api/v1/groups` | `NewGroupRequest` | 201 `GroupView` |
//! | GET | `/api/v1/groups/{name}` | | 200 `GroupView` |
//! | DELETE | `/api/v1/groups/{name}` | | 204 |
//! | PUT | `/api/v1/groups/{name}/grants/{share}` | `GrantRequest` | 204 |
//! | DELETE | `/api/v1/groups/{name}/grants/{share}` | | 204 |
//!
//! Errors answer `ErrorBody` with the status of `IdentityError::http_status`
//! (400 invalid, 401, 404 unknown name, 409 exists/in use, 500), or 400
//! `{"code":"bad_request"}` for JSON that does not parse, 404 `no_route` and
//! 405 `method_not_allowed`. No shape has a field for a password hash.

use serde::{Deserialize, Serialize};

use crate::config::SharePermission;

/// Path prefix of the identity routes.
pub const USERS_PATH: &str = "/api/v1/users";
/// Path prefix of the group routes.
pub const GROUPS_PATH: &str = "/api/v1/groups";

/// A user as the API and `user list --json` show it: never any hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserView {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    /// Name of the group whose gid is the primary gid, if there is one.
    pub primary_group: Option<String>,
    /// Supplementary groups by name (a gid with no group record as its number).
    pub groups: Vec<String>,
    /// Supplementary gids.
    pub gids: Vec<u32>,
    pub grants: Vec<GrantView>,
    /// Whether an NT hash is set (the user can log in over SMB).
    pub has_nt_hash: bool,
}

/// A group with its members (users whose primary or supplementary gid it is).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupView {
    pub name: String,
    pub gid: u32,
    pub members: Vec<String>,
    pub grants: Vec<GrantView>,
}

/// One share grant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantView {
    /// The share's configured name, e.g. `/export`.
    pub share: String,
    pub permission: SharePermission,
}

/// `POST /api/v1/users`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewUserRequest {
    pub name: String,
    pub password: String,
    #[serde(default)]
    pub uid: Option<u32>,
    #[serde(default)]
    pub gid: Option<u32>,
    /// Names of existing groups to join.
    #[serde(default)]
    pub groups: Vec<String>,
}

/// `PUT /api/v1/users/{name}/password`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PasswordRequest {
    pub password: String,
}

/// `PUT …/grants/{share}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrantRequest {
    pub permission: SharePermission,
}

/// `POST /api/v1/groups`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewGroupRequest {
    pub name: String,
    #[serde(default)]
    pub gid: Option<u32>,
}

/// Body of every error answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// One-line message for people.
    pub error: String,
    /// Stable code: invalid, not_found, exists, conflict, bad_credentials,
    /// volatile_store, internal, bad_request, no_route, method_not_allowed.
    pub code: String,
}
