//! The identity operations as values ([`Operation`]), their HTTP form (the
//! routes of [`super::api_types`], both directions) and their execution
//! ([`execute`]). The CLI executes an operation locally or sends its HTTP form
//! to a running server; the server parses the HTTP form back with
//! [`Operation::from_http`] and executes it with the same [`execute`] —
//! [`handle`] does both for the REST server in one call.

use serde::de::DeserializeOwned;

use super::api_types::{
    ErrorBody, GrantRequest, GroupView, NewGroupRequest, NewUserRequest, PasswordRequest, UserView,
    GROUPS_PATH, USERS_PATH,
};
use super::{Admin, IdentityError, NewUser};
use crate::config::SharePermission;

/// One identity operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Operation {
    ListUsers,
    GetUser(String),
    AddUser(NewUserRequest),
    RemoveUser(String),
    SetPassword {
        user: String,
        password: String,
    },
    Grant {
        user: String,
        share: String,
        permission: SharePermission,
    },
    Revoke {
        user: String,
        share: String,
    },
    Join {
        user: String,
        group: String,
    },
    Leave {
        user: String,
        group: String,
    },
    ListGroups,
    GetGroup(String),
    AddGroup(NewGroupRequest),
    RemoveGroup(String),
    GroupGrant {
        group: String,
        share: String,
        permission: SharePermission,
    },
    GroupRevoke {
        group: String,
        share: String,
    },
}

/// What an operation answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    User(UserView),
    Users(Vec<UserView>),
    Group(GroupView),
    Groups(Vec<GroupView>),
    /// A change without a body (HTTP 204).
    Done,
}

/// An HTTP request: method, path and JSON body (empty for none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRequest {
    pub method: &'static str,
    pub path: String,
    pub body: Option<String>,
}

/// An HTTP answer: status and JSON body (empty for 204).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    pub status: u16,
    pub body: String,
}

/// Why a request is not an operation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    #[error("no such route")]
    NoRoute,
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("bad request body: {0}")]
    BadBody(String),
}

impl RouteError {
    fn status(&self) -> u16 {
        match self {
            RouteError::NoRoute => 404,
            RouteError::MethodNotAllowed => 405,
            RouteError::BadBody(_) => 400,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            RouteError::NoRoute => "no_route",
            RouteError::MethodNotAllowed => "method_not_allowed",
            RouteError::BadBody(_) => "bad_request",
        }
    }
}

/// Percent-encodes one path segment (everything but unreserved characters).
pub fn encode_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Decodes one percent-encoded path segment; `None` when malformed or not UTF-8.
pub fn decode_segment(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn share_segment(share: &str) -> String {
    encode_segment(share.trim_start_matches('/'))
}

fn json<T: serde::Serialize>(v: &T) -> Option<String> {
    // Serializing these plain structs cannot fail.
    Some(serde_json::to_string(v).unwrap_or_default())
}

fn parse_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, RouteError> {
    serde_json::from_slice(body).map_err(|e| RouteError::BadBody(e.to_string()))
}

impl Operation {
    /// The HTTP request of this operation.
    pub fn to_http(&self) -> HttpRequest {
        use Operation::*;
        let user = |n: &str| format!("{USERS_PATH}/{}", encode_segment(n));
        let group = |n: &str| format!("{GROUPS_PATH}/{}", encode_segment(n));
        let (method, path, body) = match self {
            ListUsers => ("GET", USERS_PATH.to_owned(), None),
            GetUser(n) => ("GET", user(n), None),
            AddUser(r) => ("POST", USERS_PATH.to_owned(), json(r)),
            RemoveUser(n) => ("DELETE", user(n), None),
            SetPassword { user: u, password } => (
                "PUT",
                format!("{}/password", user(u)),
                json(&PasswordRequest {
                    password: password.clone(),
                }),
            ),
            Grant {
                user: u,
                share,
                permission,
            } => (
                "PUT",
                format!("{}/grants/{}", user(u), share_segment(share)),
                json(&GrantRequest {
                    permission: *permission,
                }),
            ),
            Revoke { user: u, share } => (
                "DELETE",
                format!("{}/grants/{}", user(u), share_segment(share)),
                None,
            ),
            Join { user: u, group: g } => (
                "PUT",
                format!("{}/groups/{}", user(u), encode_segment(g)),
                None,
            ),
            Leave { user: u, group: g } => (
                "DELETE",
                format!("{}/groups/{}", user(u), encode_segment(g)),
                None,
            ),
            ListGroups => ("GET", GROUPS_PATH.to_owned(), None),
            GetGroup(n) => ("GET", group(n), None),
            AddGroup(r) => ("POST", GROUPS_PATH.to_owned(), json(r)),
            RemoveGroup(n) => ("DELETE", group(n), None),
            GroupGrant {
                group: g,
                share,
                permission,
            } => (
                "PUT",
                format!("{}/grants/{}", group(g), share_segment(share)),
                json(&GrantRequest {
                    permission: *permission,
                }),
            ),
            GroupRevoke { group: g, share } => (
                "DELETE",
                format!("{}/grants/{}", group(g), share_segment(share)),
                None,
            ),
        };
        HttpRequest { method, path, body }
    }

    /// Whether this operation changes anything (the API requires an
    /// administrator's credentials for these).
    pub fn is_mutation(&self) -> bool {
        !matches!(
            self,
            Operation::ListUsers
                | Operation::GetUser(_)
                | Operation::ListGroups
                | Operation::GetGroup(_)
        )
    }

    /// Parses a request of the identity routes (path without query string).
    pub fn from_http(method: &str, path: &str, body: &[u8]) -> Result<Operation, RouteError> {
        let path = path.trim_end_matches('/');
        let (is_user, rest) = if let Some(rest) = path.strip_prefix(USERS_PATH) {
            (true, rest)
        } else if let Some(rest) = path.strip_prefix(GROUPS_PATH) {
            (false, rest)
        } else {
            return Err(RouteError::NoRoute);
        };
        if !(rest.is_empty() || rest.starts_with('/')) {
            return Err(RouteError::NoRoute);
        }
        let segs: Vec<String> = rest
            .split('/')
            .skip(1)
            .map(|s| decode_segment(s).ok_or(RouteError::NoRoute))
            .collect::<Result<_, _>>()?;
        let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
        let method_err = Err(RouteError::MethodNotAllowed);
        let op = match (is_user, segs.as_slice()) {
            (true, []) => match method {
                "GET" => Operation::ListUsers,
                "POST" => Operation::AddUser(parse_body(body)?),
                _ => return method_err,
            },
            (true, [name]) => match method {
                "GET" => Operation::GetUser((*name).to_owned()),
                "DELETE" => Operation::RemoveUser((*name).to_owned()),
                _ => return method_err,
            },
            (true, [name, "password"]) => match method {
                "PUT" => {
                    let r: PasswordRequest = parse_body(body)?;
                    Operation::SetPassword {
                        user: (*name).to_owned(),
                        password: r.password,
                    }
                }
                _ => return method_err,
            },
            (true, [name, "grants", share]) => {
                let (user, share) = ((*name).to_owned(), format!("/{share}"));
                match method {
                    "PUT" => Operation::Grant {
                        user,
                        share,
                        permission: parse_body::<GrantRequest>(body)?.permission,
                    },
                    "DELETE" => Operation::Revoke { user, share },
                    _ => return method_err,
                }
            }
            (true, [name, "groups", group]) => {
                let (user, group) = ((*name).to_owned(), (*group).to_owned());
                match method {
                    "PUT" => Operation::Join { user, group },
                    "DELETE" => Operation::Leave { user, group },
                    _ => return method_err,
                }
            }
            (false, []) => match method {
                "GET" => Operation::ListGroups,
                "POST" => Operation::AddGroup(parse_body(body)?),
                _ => return method_err,
            },
            (false, [name]) => match method {
                "GET" => Operation::GetGroup((*name).to_owned()),
                "DELETE" => Operation::RemoveGroup((*name).to_owned()),
                _ => return method_err,
            },
            (false, [name, "grants", share]) => {
                let (group, share) = ((*name).to_owned(), format!("/{share}"));
                match method {
                    "PUT" => Operation::GroupGrant {
                        group,
                        share,
                        permission: parse_body::<GrantRequest>(body)?.permission,
                    },
                    "DELETE" => Operation::GroupRevoke { group, share },
                    _ => return method_err,
                }
            }
            _ => return Err(RouteError::NoRoute),
        };
        Ok(op)
    }
}

/// Runs `op` against `admin`.
pub async fn execute(admin: &Admin, op: Operation) -> Result<Outcome, IdentityError> {
    use Operation::*;
    Ok(match op {
        ListUsers => Outcome::Users(admin.list_users().await?),
        GetUser(n) => Outcome::User(admin.get_user(&n).await?),
        AddUser(r) => Outcome::User(
            admin
                .add_user(&NewUser {
                    name: r.name,
                    password: r.password,
                    uid: r.uid,
                    gid: r.gid,
                    groups: r.groups,
                })
                .await?,
        ),
        RemoveUser(n) => {
            admin.remove_user(&n).await?;
            Outcome::Done
        }
        SetPassword { user, password } => {
            admin.set_password(&user, &password).await?;
            Outcome::Done
        }
        Grant {
            user,
            share,
            permission,
        } => {
            admin.grant(&user, &share, permission).await?;
            Outcome::Done
        }
        Revoke { user, share } => {
            admin.revoke(&user, &share).await?;
            Outcome::Done
        }
        Join { user, group } => {
            admin.join(&user, &group).await?;
            Outcome::Done
        }
        Leave { user, group } => {
            admin.leave(&user, &group).await?;
            Outcome::Done
        }
        ListGroups => Outcome::Groups(admin.list_groups().await?),
        GetGroup(n) => Outcome::Group(admin.get_group(&n).await?),
        AddGroup(r) => Outcome::Group(admin.add_group(&r.name, r.gid).await?),
        RemoveGroup(n) => {
            admin.remove_group(&n).await?;
            Outcome::Done
        }
        GroupGrant {
            group,
            share,
            permission,
        } => {
            admin.group_grant(&group, &share, permission).await?;
            Outcome::Done
        }
        GroupRevoke { group, share } => {
            admin.group_revoke(&group, &share).await?;
            Outcome::Done
        }
    })
}

fn error_response(status: u16, code: &str, error: String) -> HttpResponse {
    HttpResponse {
        status,
        body: serde_json::to_string(&ErrorBody {
            error,
            code: code.to_owned(),
        })
        .unwrap_or_default(),
    }
}

impl Outcome {
    /// The HTTP answer of a successful operation (`created`: POST → 201).
    pub fn to_http(&self, created: bool) -> HttpResponse {
        let body = match self {
            Outcome::User(u) => serde_json::to_string(u),
            Outcome::Users(u) => serde_json::to_string(u),
            Outcome::Group(g) => serde_json::to_string(g),
            Outcome::Groups(g) => serde_json::to_string(g),
            Outcome::Done => {
                return HttpResponse {
                    status: 204,
                    body: String::new(),
                }
            }
        };
        HttpResponse {
            status: if created { 201 } else { 200 },
            body: body.unwrap_or_default(),
        }
    }

    /// Reads the answer to `op` back from the server's JSON body.
    pub fn from_http(op: &Operation, body: &str) -> Result<Outcome, serde_json::Error> {
        use Operation::*;
        Ok(match op {
            ListUsers => Outcome::Users(serde_json::from_str(body)?),
            GetUser(_) | AddUser(_) => Outcome::User(serde_json::from_str(body)?),
            ListGroups => Outcome::Groups(serde_json::from_str(body)?),
            GetGroup(_) | AddGroup(_) => Outcome::Group(serde_json::from_str(body)?),
            _ => Outcome::Done,
        })
    }
}

/// Serves one request of the identity routes (the REST server calls this for
/// every path under `/api/v1/users` and `/api/v1/groups`, after checking
/// credentials for mutations: see [`Operation::is_mutation`] via
/// [`Operation::from_http`]).
pub async fn handle(admin: &Admin, method: &str, path: &str, body: &[u8]) -> HttpResponse {
    let op = match Operation::from_http(method, path, body) {
        Ok(op) => op,
        Err(e) => return error_response(e.status(), e.code(), e.to_string()),
    };
    let created = matches!(op, Operation::AddUser(_) | Operation::AddGroup(_));
    match execute(admin, op).await {
        Ok(outcome) => outcome.to_http(created),
        Err(e) => {
            if e.http_status() >= 500 {
                log::warn!("identity API {method} {path}: {e}");
            }
            error_response(e.http_status(), e.code(), e.to_string())
        }
    }
}
