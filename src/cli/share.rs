//! `dittofs share …`: the `[[shares]]` of the configuration file, edited
//! directly (server stopped; `--config PATH` or the default path) or through
//! a running server's REST API (`--server URL`), which applies updates live.
//! Both end in [`dittofs::shares::file`].

use std::path::PathBuf;

use anyhow::anyhow;
use clap::{Args, Subcommand};
use dittofs::config::{self, SharePermission};
use dittofs::identity::{parse_permission, permission_name};
use dittofs::shares::{self, file, NewShare, ShareError, ShareUpdate, ShareView};
use serde_json::Value;

use super::{remote, CliFailure};

/// Where a share command runs: a configuration file or a running server.
#[derive(Debug, Args)]
pub struct ShareTarget {
    #[arg(long, short = 'c', value_name = "PATH", help = crate::CONFIG_HELP)]
    config: Option<PathBuf>,
    /// Send the command to a running server's REST API instead of editing the
    /// file, e.g. http://127.0.0.1:8080 [env: DITTOFS_API]
    #[arg(long, value_name = "URL")]
    server: Option<String>,
    /// Bearer token for --server [env: DITTOFS_TOKEN]
    #[arg(long, value_name = "TOKEN")]
    token: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum ShareCommand {
    /// List the shares of the configuration.
    List {
        #[command(flatten)]
        target: ShareTarget,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Show one share as JSON.
    Show {
        #[command(flatten)]
        target: ShareTarget,
        /// Share name, with or without the leading '/'.
        name: String,
    },
    /// Add a [[shares]] entry; a running server serves it after its next restart.
    Add {
        #[command(flatten)]
        target: ShareTarget,
        /// Share name, with or without the leading '/'.
        name: String,
        /// An existing [[metadata_stores]] name.
        #[arg(long, value_name = "NAME")]
        metadata_store: String,
        /// An existing [[block_stores]] name.
        #[arg(long, value_name = "NAME")]
        block_store: String,
        /// none, read, read-write or admin.
        #[arg(long, value_name = "P")]
        default_permission: Option<String>,
        /// Refuse every change.
        #[arg(long)]
        read_only: bool,
        /// Client IPs/CIDRs allowed to connect, comma-separated.
        #[arg(long, value_name = "A,B", value_delimiter = ',')]
        allowed_clients: Option<Vec<String>>,
    },
    /// Change default_permission, read_only or allowed_clients; a running
    /// server applies them at once (like SIGHUP).
    Update {
        #[command(flatten)]
        target: ShareTarget,
        /// Share name, with or without the leading '/'.
        name: String,
        /// none, read, read-write or admin.
        #[arg(long, value_name = "P")]
        default_permission: Option<String>,
        /// true or false.
        #[arg(long, value_name = "BOOL")]
        read_only: Option<bool>,
        /// Client IPs/CIDRs allowed to connect, comma-separated ("" = all).
        #[arg(long, value_name = "A,B", value_delimiter = ',')]
        allowed_clients: Option<Vec<String>>,
    },
    /// Remove a [[shares]] entry; a running server serves it until its next restart.
    Remove {
        #[command(flatten)]
        target: ShareTarget,
        /// Share name, with or without the leading '/'.
        name: String,
    },
}

/// `dittofs share …`
pub fn share(cmd: ShareCommand) -> Result<(), CliFailure> {
    match cmd {
        ShareCommand::List { target, json } => {
            let shares: Vec<ShareView> = match server(&target) {
                Some((url, token)) => decode(remote::call(
                    &url,
                    token.as_deref(),
                    "GET",
                    "/api/v1/shares",
                    None,
                )?)?,
                None => file::list(&path(&target)?).map_err(fail)?,
            };
            if json {
                println!("{}", pretty(&shares)?);
            } else {
                println!(
                    "{:<20} {:<16} {:<16} {:<11} {:<5} ALLOWED_CLIENTS",
                    "NAME", "METADATA_STORE", "BLOCK_STORE", "DEFAULT", "RO"
                );
                for s in &shares {
                    let clients = if s.allowed_clients.is_empty() {
                        "-".to_owned()
                    } else {
                        s.allowed_clients.join(",")
                    };
                    println!(
                        "{:<20} {:<16} {:<16} {:<11} {:<5} {clients}",
                        s.name,
                        s.metadata_store,
                        s.block_store,
                        permission_name(s.default_permission),
                        s.read_only
                    );
                }
            }
        }
        ShareCommand::Show { target, name } => {
            let share: ShareView = match server(&target) {
                Some((url, token)) => decode(remote::call(
                    &url,
                    token.as_deref(),
                    "GET",
                    &share_path(&name),
                    None,
                )?)?,
                None => file::show(&path(&target)?, &name).map_err(fail)?,
            };
            println!("{}", pretty(&share)?);
        }
        ShareCommand::Add {
            target,
            name,
            metadata_store,
            block_store,
            default_permission,
            read_only,
            allowed_clients,
        } => {
            let new = NewShare {
                name,
                metadata_store,
                block_store,
                default_permission: perm(default_permission.as_deref())?,
                read_only: read_only.then_some(true),
                allowed_clients: allowed_clients.map(clean),
            };
            let shown = format!("/{}", new.name.trim_start_matches('/'));
            match server(&target) {
                Some((url, token)) => {
                    let body =
                        serde_json::to_string(&new).map_err(|e| CliFailure::Runtime(e.into()))?;
                    remote::call(
                        &url,
                        token.as_deref(),
                        "POST",
                        "/api/v1/shares",
                        Some(&body),
                    )?;
                    println!("added share {shown}; the server serves it after its next restart");
                }
                None => {
                    let path = path(&target)?;
                    file::add(&path, &new).map_err(fail)?;
                    println!("added share {shown} to {}", path.display());
                }
            }
        }
        ShareCommand::Update {
            target,
            name,
            default_permission,
            read_only,
            allowed_clients,
        } => {
            let update = ShareUpdate {
                default_permission: perm(default_permission.as_deref())?,
                read_only,
                allowed_clients: allowed_clients.map(clean),
            };
            if update == ShareUpdate::default() {
                return Err(CliFailure::Usage(anyhow!(
                    "nothing to change: give --default-permission, --read-only or --allowed-clients"
                )));
            }
            match server(&target) {
                Some((url, token)) => {
                    let body = serde_json::to_string(&update)
                        .map_err(|e| CliFailure::Runtime(e.into()))?;
                    let answer = remote::call(
                        &url,
                        token.as_deref(),
                        "PUT",
                        &share_path(&name),
                        Some(&body),
                    )?;
                    let outcome: shares::UpdateOutcome = decode(answer)?;
                    println!(
                        "updated share {name}; applied: {}; needs a restart: {}",
                        or_none(&outcome.applied),
                        or_none(&outcome.needs_restart)
                    );
                }
                None => {
                    let path = path(&target)?;
                    file::update(&path, &name, &update).map_err(fail)?;
                    println!(
                        "updated share {name} in {} (a running server applies it on SIGHUP)",
                        path.display()
                    );
                }
            }
        }
        ShareCommand::Remove { target, name } => match server(&target) {
            Some((url, token)) => {
                remote::call(&url, token.as_deref(), "DELETE", &share_path(&name), None)?;
                println!("removed share {name}; the server serves it until its next restart");
            }
            None => {
                let path = path(&target)?;
                file::remove(&path, &name).map_err(fail)?;
                println!("removed share {name} from {}", path.display());
            }
        },
    }
    Ok(())
}

fn server(target: &ShareTarget) -> Option<(String, Option<String>)> {
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let url = target.server.clone().or_else(|| env("DITTOFS_API"))?;
    Some((url, target.token.clone().or_else(|| env("DITTOFS_TOKEN"))))
}

/// The file to edit: --config, else the default path (which must exist).
fn path(target: &ShareTarget) -> Result<PathBuf, CliFailure> {
    match &target.config {
        Some(p) => Ok(p.clone()),
        None => {
            let p = config::default_config_path();
            if p.exists() {
                Ok(p)
            } else {
                Err(CliFailure::Usage(anyhow!(
                    "no configuration file at {} (give --config PATH, or --server URL for a \
                     running server)",
                    p.display()
                )))
            }
        }
    }
}

fn share_path(name: &str) -> String {
    format!("/api/v1/shares/{}", name.trim_start_matches('/'))
}

fn perm(p: Option<&str>) -> Result<Option<SharePermission>, CliFailure> {
    p.map(|p| parse_permission(p).map_err(|e| CliFailure::Usage(e.into())))
        .transpose()
}

fn clean(list: Vec<String>) -> Vec<String> {
    list.into_iter().filter(|c| !c.trim().is_empty()).collect()
}

fn fail(e: ShareError) -> CliFailure {
    if e.is_usage() {
        CliFailure::Usage(e.into())
    } else {
        CliFailure::Runtime(e.into())
    }
}

fn decode<T: serde::de::DeserializeOwned>(v: Value) -> Result<T, CliFailure> {
    serde_json::from_value(v).map_err(|e| CliFailure::Runtime(anyhow!("unexpected answer: {e}")))
}

fn pretty<T: serde::Serialize>(v: &T) -> Result<String, CliFailure> {
    serde_json::to_string_pretty(v).map_err(|e| CliFailure::Runtime(anyhow!("encoding JSON: {e}")))
}

fn or_none(keys: &[String]) -> String {
    if keys.is_empty() {
        "none".to_owned()
    } else {
        keys.join(", ")
    }
}
