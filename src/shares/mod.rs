//! Share definitions administration: list, show, add, update and remove
//! `[[shares]]` entries of the configuration file.
//!
//! Shares live in the configuration file, so that is what these operations
//! edit: [`edit`] changes the TOML document in place with `toml_edit` (the
//! operator's comments and layout stay), checks the result with the same
//! parsing and validation as `dittofs start`, and [`file`] replaces the file
//! atomically (temp file + rename, mode kept). The CLI calls [`file`]
//! directly when the server is stopped; the running server's REST API calls
//! [`ShareAdmin`], which does the same and then, for an update, re-reads
//! the file through the SIGHUP reload path so `default_permission`,
//! `read_only` and `allowed_clients` are in force at the next NFS or SMB
//! request. Adding or removing a share is saved and takes effect at the next
//! restart (the executors wire shares in at start).

pub mod edit;
pub mod file;
#[cfg(test)]
mod tests;

use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

use serde::{Deserialize, Serialize};

use crate::config::{Config, ShareConfig, SharePermission, Squash};
use crate::runtime::reload::Reloader;

/// Why a share operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ShareError {
    #[error("no share named {0:?}")]
    NotFound(String),
    #[error("a share named {0:?} already exists")]
    Exists(String),
    /// The change would leave an invalid configuration (the message is the
    /// validation's).
    #[error("{0}")]
    Invalid(String),
    #[error("the server runs on the embedded default configuration: there is no file to save shares in (start with --config PATH)")]
    NoFile,
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl ShareError {
    /// The HTTP status the API answers with.
    pub fn http_status(&self) -> u16 {
        match self {
            ShareError::NotFound(_) => 404,
            ShareError::Exists(_) | ShareError::NoFile => 409,
            ShareError::Invalid(_) => 400,
            ShareError::Io { .. } => 500,
        }
    }

    /// Whether this is the caller's mistake (CLI exit status 2).
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            ShareError::NotFound(_) | ShareError::Exists(_) | ShareError::Invalid(_)
        )
    }
}

/// A share as the API and the CLI show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShareView {
    pub name: String,
    pub metadata_store: String,
    pub block_store: String,
    pub read_only: bool,
    pub default_permission: SharePermission,
    pub allowed_clients: Vec<String>,
    pub squash: Squash,
    pub anon_uid: u32,
    pub anon_gid: u32,
}

impl From<&ShareConfig> for ShareView {
    fn from(s: &ShareConfig) -> ShareView {
        ShareView {
            name: s.name.clone(),
            metadata_store: s.metadata_store.clone(),
            block_store: s.block_store.clone(),
            read_only: s.read_only,
            default_permission: s.default_permission,
            allowed_clients: s.allowed_clients.clone(),
            squash: s.squash,
            anon_uid: s.anon_uid,
            anon_gid: s.anon_gid,
        }
    }
}

/// `POST /api/v1/shares` and `dittofs share add`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewShare {
    /// With or without the leading '/'; saved with it.
    pub name: String,
    pub metadata_store: String,
    pub block_store: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_permission: Option<SharePermission>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_only: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_clients: Option<Vec<String>>,
}

/// `PUT /api/v1/shares/NAME` and `dittofs share update`: the keys that
/// apply live; absent ones keep their value.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShareUpdate {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_permission: Option<SharePermission>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_only: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_clients: Option<Vec<String>>,
}

/// Whether `name` (as given by a caller, '/' optional) names `share`.
pub fn same_name(share: &str, name: &str) -> bool {
    share.trim_start_matches('/') == name.trim_start_matches('/')
}

/// What a live update did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpdateOutcome {
    pub share: Option<ShareView>,
    /// Keys now in force (from the reload's report).
    pub applied: Vec<String>,
    /// Keys saved that wait for a restart.
    pub needs_restart: Vec<String>,
}

/// The running server's share operations (behind the REST API).
pub struct ShareAdmin {
    path: Option<PathBuf>,
    /// The configuration at start, for listing when there is no file.
    running: Config,
    /// Set once the runtime built its reloader (after the API started).
    reloader: OnceLock<Arc<Mutex<Reloader>>>,
    /// One change at a time.
    lock: Mutex<()>,
}

impl ShareAdmin {
    pub fn new(path: Option<PathBuf>, running: Config) -> ShareAdmin {
        ShareAdmin {
            path,
            running,
            reloader: OnceLock::new(),
            lock: Mutex::new(()),
        }
    }

    /// Hands over the reloader SIGHUP uses, so updates apply through it.
    pub fn set_reloader(&self, reloader: Arc<Mutex<Reloader>>) {
        let _ = self.reloader.set(reloader);
    }

    fn path(&self) -> Result<&PathBuf, ShareError> {
        self.path.as_ref().ok_or(ShareError::NoFile)
    }

    /// The shares saved in the file (the running ones without a file).
    pub fn list(&self) -> Result<Vec<ShareView>, ShareError> {
        match &self.path {
            Some(p) => file::list(p),
            None => Ok(self.running.shares.iter().map(ShareView::from).collect()),
        }
    }

    pub fn show(&self, name: &str) -> Result<ShareView, ShareError> {
        self.list()?
            .into_iter()
            .find(|s| same_name(&s.name, name))
            .ok_or_else(|| ShareError::NotFound(name.to_owned()))
    }

    /// Saves a new share; it is served after the next restart.
    pub fn add(&self, new: &NewShare) -> Result<ShareView, ShareError> {
        let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        file::add(self.path()?, new)
    }

    /// Saves the removal; the share is served until the next restart.
    pub fn remove(&self, name: &str) -> Result<(), ShareError> {
        let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        file::remove(self.path()?, name)
    }

    /// Saves the update and applies it through the reload path.
    pub fn update(&self, name: &str, update: &ShareUpdate) -> Result<UpdateOutcome, ShareError> {
        let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        let share = file::update(self.path()?, name, update)?;
        let mut outcome = UpdateOutcome {
            share: Some(share),
            ..UpdateOutcome::default()
        };
        match self.reloader.get() {
            Some(reloader) => {
                let mut reloader = reloader.lock().unwrap_or_else(|e| e.into_inner());
                match reloader.reload() {
                    Ok(report) => {
                        outcome.applied = report.applied;
                        outcome.needs_restart = report.needs_restart;
                    }
                    Err(e) => outcome.needs_restart.push(format!("reload failed: {e}")),
                }
            }
            None => outcome
                .needs_restart
                .push("the server is still starting; send SIGHUP to apply".into()),
        }
        Ok(outcome)
    }
}
