//! The REST admin API and the `/metrics` endpoint: the operator's HTTP side.
//!
//! Both run on their own threads ([`http`]), never on a data core, each on
//! its own port bound to loopback by default (`[api]`, `[metrics]`; port 0
//! disables). The API answers `/health` (the process is alive), `/ready`
//! (the runtime flipped [`Readiness`] after every listener was bound and WAL
//! recovery finished, and the metadata stores answer), `/api/v1/status`,
//! `/api/v1/shares` (the configuration file's `[[shares]]`, changed through
//! [`crate::shares::ShareAdmin`]), and users, groups and
//! grants through [`AdminOps`] (the identity system's operations, shared with
//! the CLI). Mutating endpoints, and reading users or groups, need a bearer
//! token or an admin user ([`auth`]).

pub mod admin;
pub mod auth;
pub mod http;
mod routes;
mod shares;
pub mod status;

use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::config::Config;

pub use admin::{AdminOps, BasicAuth, IdentityOps, NoIdentity};
pub use status::StoreProbe;

/// Whether the server is ready to serve: set by the runtime once every core
/// has bound its listener and recovered its WAL, cleared when shutdown starts.
#[derive(Debug, Clone, Default)]
pub struct Readiness(Arc<AtomicBool>);

impl Readiness {
    pub fn new() -> Readiness {
        Readiness::default()
    }

    pub fn set(&self, ready: bool) {
        self.0.store(ready, Ordering::SeqCst);
    }

    pub fn is_ready(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// Why the HTTP endpoints could not start.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("cannot listen on {addr} ({what}): {source}; pick another port with --{what}-port or [{what}] port, 0 disables")]
    Listen {
        addr: SocketAddr,
        what: &'static str,
        source: std::io::Error,
    },
}

/// What the API needs from the running server.
pub struct ApiContext {
    pub config: Config,
    pub readiness: Readiness,
    pub admin: Arc<dyn AdminOps>,
    /// `<data_dir>/admin-tokens`.
    pub tokens_file: PathBuf,
    pub cores: usize,
    /// Health checks of the stores, for `/ready` and the status page.
    pub stores: Vec<StoreProbe>,
    /// Share definitions: list, add, update (live), remove.
    pub shares: Arc<crate::shares::ShareAdmin>,
}

fn bind(addr: SocketAddr, what: &'static str) -> Result<TcpListener, ApiError> {
    TcpListener::bind(addr).map_err(|source| ApiError::Listen { addr, what, source })
}

/// Binds and starts the admin API (unless `[api] port = 0`).
pub fn start_api(ctx: ApiContext) -> Result<Option<SocketAddr>, ApiError> {
    if ctx.config.api.port == 0 {
        return Ok(None);
    }
    let addr = SocketAddr::new(ctx.config.api.address, ctx.config.api.port);
    let listener = bind(addr, "api")?;
    let ctx = Arc::new(ctx);
    http::serve(
        listener,
        "dittofs-api",
        Arc::new(move |req| routes::handle(&ctx, req)),
    )
    .map_err(|source| ApiError::Listen {
        addr,
        what: "api",
        source,
    })?;
    log::info!("admin API on http://{addr}/ (health, ready, api/v1)");
    Ok(Some(addr))
}

/// Binds and starts `/metrics` (unless `[metrics] port = 0`).
pub fn start_metrics(config: &Config) -> Result<Option<SocketAddr>, ApiError> {
    if config.metrics.port == 0 {
        return Ok(None);
    }
    let addr = SocketAddr::new(config.metrics.address, config.metrics.port);
    let listener = bind(addr, "metrics")?;
    http::serve(
        listener,
        "dittofs-metrics",
        Arc::new(
            |req: &http::Request| match (req.method.as_str(), req.path.as_str()) {
                ("GET", "/metrics") => http::Response::new(
                    200,
                    crate::metrics::exposition::CONTENT_TYPE,
                    crate::metrics::exposition::render(),
                ),
                ("GET", _) => http::Response::error(404, "only /metrics is served here"),
                _ => http::Response::error(405, "use GET"),
            },
        ),
    )
    .map_err(|source| ApiError::Listen {
        addr,
        what: "metrics",
        source,
    })?;
    log::info!("Prometheus metrics on http://{addr}/metrics");
    Ok(Some(addr))
}
