//! Share mutations of the admin API (already authenticated by the router):
//! `POST /api/v1/shares`, `PUT|PATCH|DELETE /api/v1/shares/NAME`, all through
//! [`crate::shares::ShareAdmin`] (the same file edit the CLI does).
//!
//! An update is applied live (200, with what the reload applied); an add or
//! a removal is saved and answered 202: shares are wired into the executors
//! at start, so it takes effect at the next restart.

use serde::de::DeserializeOwned;
use serde_json::json;

use super::http::{Request, Response};
use super::routes::share_error;
use super::ApiContext;
use crate::shares::{NewShare, ShareUpdate};

const AT_RESTART: &str = "saved to the configuration file; takes effect at the next restart \
                          (shares are not added or removed live)";

/// `rest`: the path segments after `/api/v1/shares`.
pub(super) fn handle(ctx: &ApiContext, req: &Request, rest: &[&str]) -> Response {
    match (req.method.as_str(), rest) {
        ("POST", []) => {
            let new: NewShare = match body(req) {
                Ok(b) => b,
                Err(resp) => return resp,
            };
            match ctx.shares.add(&new) {
                Ok(share) => Response::json(
                    202,
                    &json!({ "share": share, "saved": true, "message": AT_RESTART }),
                ),
                Err(e) => share_error(&e),
            }
        }
        ("PUT" | "PATCH", [name]) => {
            let update: ShareUpdate = match body(req) {
                Ok(b) => b,
                Err(resp) => return resp,
            };
            match ctx.shares.update(name, &update) {
                Ok(outcome) => Response::json(200, &json!(outcome)),
                Err(e) => share_error(&e),
            }
        }
        ("DELETE", [name]) => match ctx.shares.remove(name) {
            Ok(()) => Response::json(
                202,
                &json!({ "removed": format!("/{}", name.trim_start_matches('/')), "saved": true, "message": AT_RESTART }),
            ),
            Err(e) => share_error(&e),
        },
        _ => Response::error(405, "method not allowed"),
    }
}

fn body<T: DeserializeOwned>(req: &Request) -> Result<T, Response> {
    serde_json::from_slice(&req.body)
        .map_err(|e| Response::error(400, format!("bad JSON body: {e}")))
}
