//! Request routing of the admin API: path → handler, auth, JSON in and out.

use serde::Deserialize;
use serde_json::{json, Value};

use super::admin::AdminError;
use super::auth::{authenticate, Auth};
use super::http::{Request, Response};
use super::{status, ApiContext};
use crate::config::ShareConfig;

/// Answers one request.
pub fn handle(ctx: &ApiContext, req: &Request) -> Response {
    let segments: Vec<&str> = req
        .path
        .trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    let method = req.method.as_str();
    match (method, segments.as_slice()) {
        ("GET", ["health"]) => Response::json(200, &json!({ "status": "alive" })),
        ("GET", ["ready"]) => ready(ctx),
        ("GET", ["api", "v1", "status"]) => Response::json(200, &status::status(ctx)),
        ("GET", ["api", "v1", "shares"]) => {
            let shares: Vec<Value> = ctx.config.shares.iter().map(share_json).collect();
            Response::json(200, &json!(shares))
        }
        ("GET", ["api", "v1", "shares", name]) => {
            match ctx
                .config
                .shares
                .iter()
                .find(|s| s.name.trim_start_matches('/') == *name)
            {
                Some(s) => Response::json(200, &share_json(s)),
                None => Response::error(404, format!("no share named {name:?}")),
            }
        }
        (_, ["api", "v1", "users" | "groups" | "grants", ..]) => match authorize(ctx, req) {
            Ok(who) => {
                let resp = identity(ctx, req, method, &segments[2..]);
                if method != "GET" && resp.status < 300 {
                    log::info!("admin API: {who} {method} {} -> {}", req.path, resp.status);
                }
                resp
            }
            Err(resp) => resp,
        },
        (
            _,
            ["health" | "ready"] | ["api", "v1", "status" | "shares"] | ["api", "v1", "shares", _],
        ) => Response::error(405, "method not allowed"),
        _ => Response::error(404, format!("no endpoint {}", req.path)),
    }
}

fn ready(ctx: &ApiContext) -> Response {
    if !ctx.readiness.is_ready() {
        return Response::json(
            503,
            &json!({ "ready": false, "reason": "starting (listeners or WAL recovery) or stopping" }),
        );
    }
    let failing = status::failing_metadata(ctx);
    if !failing.is_empty() {
        return Response::json(
            503,
            &json!({ "ready": false, "reason": "metadata store unreachable", "stores": failing }),
        );
    }
    Response::json(200, &json!({ "ready": true }))
}

fn share_json(s: &ShareConfig) -> Value {
    json!({
        "name": s.name,
        "metadata_store": s.metadata_store,
        "block_store": s.block_store,
        "read_only": s.read_only,
        "default_permission": s.default_permission,
        "allowed_clients": s.allowed_clients,
        "squash": s.squash,
        "anon_uid": s.anon_uid,
        "anon_gid": s.anon_gid,
    })
}

/// Checks credentials; the error is the 401/403 response (and is logged).
fn authorize(ctx: &ApiContext, req: &Request) -> Result<String, Response> {
    let peer = req
        .peer
        .map_or_else(|| "unknown".to_owned(), |p| p.to_string());
    match authenticate(
        req.header("authorization"),
        &ctx.tokens_file,
        ctx.admin.as_ref(),
    ) {
        Auth::Allowed(who) => Ok(who),
        Auth::Unauthenticated(why) => {
            log::warn!("admin API: {peer} {} {}: 401 ({why})", req.method, req.path);
            let mut resp = Response::error(401, format!("authentication required: {why}"));
            resp.headers.push((
                "WWW-Authenticate",
                "Bearer realm=\"dittofs\", Basic realm=\"dittofs\"".to_owned(),
            ));
            Err(resp)
        }
        Auth::Forbidden(why) => {
            log::warn!("admin API: {peer} {} {}: 403 ({why})", req.method, req.path);
            Err(Response::error(403, why))
        }
    }
}

fn admin_result<T: serde::Serialize>(r: Result<T, AdminError>, ok: u16) -> Response {
    match r {
        Ok(v) if ok == 204 => {
            let _ = v;
            Response::new(204, "application/json", Vec::new())
        }
        Ok(v) => Response::json(ok, &json!(v)),
        Err(e) => Response::error(e.status(), e.to_string()),
    }
}

fn body<T: for<'de> Deserialize<'de>>(req: &Request) -> Result<T, Response> {
    serde_json::from_slice(&req.body).map_err(|e| Response::error(400, format!("bad JSON: {e}")))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewUser {
    name: String,
    password: String,
    uid: Option<u32>,
    gid: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UserUpdate {
    password: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewGroup {
    name: String,
    gid: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Grant {
    user: Option<String>,
    group: Option<String>,
    share: String,
    /// Absent on DELETE.
    permission: Option<String>,
}

fn identity(ctx: &ApiContext, req: &Request, method: &str, rest: &[&str]) -> Response {
    let admin = ctx.admin.as_ref();
    macro_rules! parse {
        ($t:ty) => {
            match body::<$t>(req) {
                Ok(v) => v,
                Err(resp) => return resp,
            }
        };
    }
    match (method, rest) {
        ("GET", ["users"]) => admin_result(admin.list_users(), 200),
        ("POST", ["users"]) => {
            let u = parse!(NewUser);
            admin_result(admin.add_user(&u.name, &u.password, u.uid, u.gid), 201)
        }
        ("GET", ["users", name]) => match admin.list_users() {
            Ok(users) => match users.into_iter().find(|u| u.name == *name) {
                Some(u) => Response::json(200, &json!(u)),
                None => Response::error(404, format!("no user named {name:?}")),
            },
            Err(e) => Response::error(e.status(), e.to_string()),
        },
        ("PATCH" | "PUT", ["users", name]) => {
            let u = parse!(UserUpdate);
            admin_result(admin.set_password(name, &u.password), 204)
        }
        ("DELETE", ["users", name]) => admin_result(admin.remove_user(name), 204),
        ("GET", ["groups"]) => admin_result(admin.list_groups(), 200),
        ("POST", ["groups"]) => {
            let g = parse!(NewGroup);
            admin_result(admin.add_group(&g.name, g.gid), 201)
        }
        ("GET", ["groups", name]) => match admin.list_groups() {
            Ok(groups) => match groups.into_iter().find(|g| g.name == *name) {
                Some(g) => Response::json(200, &json!(g)),
                None => Response::error(404, format!("no group named {name:?}")),
            },
            Err(e) => Response::error(e.status(), e.to_string()),
        },
        ("DELETE", ["groups", name]) => admin_result(admin.remove_group(name), 204),
        ("POST" | "PUT" | "DELETE", ["grants"]) => {
            let g = parse!(Grant);
            let result = match (&g.user, &g.group, method, &g.permission) {
                (Some(u), None, "DELETE", _) => admin.revoke(u, &g.share),
                (None, Some(gr), "DELETE", _) => admin.group_grant(gr, &g.share, "none"),
                (Some(u), None, _, Some(p)) => admin.grant(u, &g.share, p),
                (None, Some(gr), _, Some(p)) => admin.group_grant(gr, &g.share, p),
                (_, _, _, None) if method != "DELETE" => {
                    return Response::error(400, "\"permission\" is required")
                }
                _ => return Response::error(400, "give exactly one of \"user\" and \"group\""),
            };
            admin_result(result, 204)
        }
        (_, ["users" | "groups" | "grants", ..]) if rest.len() <= 2 => {
            Response::error(405, "method not allowed")
        }
        _ => Response::error(404, format!("no endpoint {}", req.path)),
    }
}

#[cfg(test)]
mod tests;
