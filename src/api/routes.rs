//! Request routing of the admin API: path → handler, auth, JSON in and out.

use serde_json::json;

use super::auth::{authenticate, Auth};
use super::http::{Request, Response};
use super::{status, ApiContext};

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
        ("GET", ["api", "v1", "shares"]) => match ctx.shares.list() {
            Ok(shares) => Response::json(200, &json!(shares)),
            Err(e) => share_error(&e),
        },
        ("GET", ["api", "v1", "shares", name]) => match ctx.shares.show(name) {
            Ok(share) => Response::json(200, &json!(share)),
            Err(e) => share_error(&e),
        },
        ("POST", ["api", "v1", "shares"])
        | ("PUT" | "PATCH" | "DELETE", ["api", "v1", "shares", _]) => match authorize(ctx, req) {
            Ok(who) => {
                let resp = super::shares::handle(ctx, req, &segments[3..]);
                log::info!("admin API: {who} {method} {} -> {}", req.path, resp.status);
                resp
            }
            Err(resp) => resp,
        },
        (_, ["api", "v1", "users" | "groups", ..]) => match authorize(ctx, req) {
            Ok(who) => {
                let resp = identity(ctx, req, method);
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

/// The answer to a failed share operation.
pub(super) fn share_error(e: &crate::shares::ShareError) -> Response {
    Response::error(e.http_status(), e.to_string())
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

/// Users and groups: handed to the identity system's own routes (the ones
/// the CLI's `--server` mode speaks); a successful change is logged with who
/// made it.
fn identity(ctx: &ApiContext, req: &Request, method: &str) -> Response {
    let (status, body) = ctx.admin.identity(method, &req.path, &req.body);
    if body.is_empty() {
        Response::new(status, "application/json", Vec::new())
    } else {
        let mut body = body.into_bytes();
        body.push(b'\n');
        Response::new(status, "application/json", body)
    }
}

#[cfg(test)]
mod tests;
