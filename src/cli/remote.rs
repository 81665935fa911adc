//! Sends an identity or share operation to a running server's REST API (blocking
//! HTTP/1.1 with ureq; plain http only: the API listens on loopback by
//! default, reach a remote one through an SSH tunnel).

use std::time::Duration;

use anyhow::anyhow;
use dittofs::identity::api::{Operation, Outcome};
use dittofs::identity::api_types::ErrorBody;

use super::CliFailure;

/// Longest one API call may take.
const TIMEOUT_S: u64 = 60;

/// Runs `op` on the server at `base` (e.g. `http://127.0.0.1:8080`).
pub fn send(base: &str, token: Option<&str>, op: &Operation) -> Result<Outcome, CliFailure> {
    let req = op.to_http();
    let body = raw(base, token, req.method, &req.path, req.body.as_deref())?;
    Outcome::from_http(op, &body).map_err(|e| {
        CliFailure::Runtime(anyhow!(
            "{base}{}: unexpected answer ({e}): {body:.200}",
            req.path
        ))
    })
}

/// One JSON call (the share commands); the answer's body as JSON.
pub fn call(
    base: &str,
    token: Option<&str>,
    method: &str,
    path: &str,
    body: Option<&str>,
) -> Result<serde_json::Value, CliFailure> {
    let answer = raw(base, token, method, path, body)?;
    serde_json::from_str(&answer).map_err(|e| {
        CliFailure::Runtime(anyhow!(
            "{base}{path}: unexpected answer ({e}): {answer:.200}"
        ))
    })
}

fn raw(
    base: &str,
    token: Option<&str>,
    method: &str,
    path: &str,
    body: Option<&str>,
) -> Result<String, CliFailure> {
    if !(base.starts_with("http://") || base.starts_with("https://")) {
        return Err(CliFailure::Usage(anyhow!(
            "--server {base:?}: expected a URL like http://127.0.0.1:8080"
        )));
    }
    let url = format!("{}{}", base.trim_end_matches('/'), path);
    let mut call = ureq::request(method, &url).timeout(Duration::from_secs(TIMEOUT_S));
    if let Some(token) = token {
        call = call.set("Authorization", &format!("Bearer {token}"));
    }
    let answer = match body {
        Some(body) => call
            .set("Content-Type", "application/json")
            .send_string(body),
        None => call.call(),
    };
    match answer {
        Ok(resp) => resp
            .into_string()
            .map_err(|e| CliFailure::Runtime(anyhow!("{url}: reading the answer: {e}"))),
        Err(ureq::Error::Status(status, resp)) => {
            let body = resp.into_string().unwrap_or_default();
            let message = serde_json::from_str::<ErrorBody>(&body)
                .map(|e| e.error)
                .unwrap_or_else(|_| format!("HTTP {status}: {body:.200}"));
            let e = anyhow!("{message} (server {base}, HTTP {status})");
            Err(if status == 400 {
                CliFailure::Usage(e)
            } else {
                CliFailure::Runtime(e)
            })
        }
        Err(ureq::Error::Transport(t)) => Err(CliFailure::Runtime(anyhow!(
            "cannot reach the server at {base}: {t}"
        ))),
    }
}
