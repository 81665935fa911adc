//! SIGHUP (`systemctl reload dittofs`): re-read the configuration file and
//! apply what can change while serving.
//!
//! Live: `logging.level` (unless `RUST_LOG` is set, which wins as at start),
//! `[rate_limit]`, and every share's `rate_limit`, `default_permission`,
//! `read_only` and `allowed_clients` (the access policies go to the shared
//! [`crate::identity::LiveAccess`] table, which NFS and SMB consult on every
//! request: new mounts and connections and existing ones at their next
//! request see them; cached permission resolutions are dropped). Everything
//! else (ports,
//! listen address, cores, stores, cache, WAL, share definitions, log format)
//! is wired into the executors at start, so a change there is reported as
//! "needs a restart" and the running value is kept. A file that does not
//! parse or validate changes nothing. Command-line overrides given at start
//! are applied again, so `--nfs-port` stays in force.

use std::path::PathBuf;
use std::sync::Arc;

use super::ratelimit::{LiveLimits, Settings};
use crate::config::{Config, Overrides};

/// Where the running configuration came from, to read it again.
#[derive(Debug, Clone)]
pub struct ReloadSource {
    /// The configuration file; `None` when running on the embedded default.
    pub path: Option<PathBuf>,
    /// The `dittofs start` flags, applied again after reading.
    pub overrides: Overrides,
}

/// What a reload did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ReloadReport {
    /// Keys whose new values are in force.
    pub applied: Vec<String>,
    /// Keys that changed in the file but keep their running value until a restart.
    pub needs_restart: Vec<String>,
}

/// Compares the running configuration with a newly read one: which changed
/// keys can be applied live and which need a restart.
pub fn diff(running: &Config, new: &Config) -> ReloadReport {
    let mut r = ReloadReport::default();
    let mut restart_if = |changed: bool, key: &str| {
        if changed {
            r.needs_restart.push(key.to_owned());
        }
    };
    restart_if(running.data_dir != new.data_dir, "data_dir");
    restart_if(running.listen != new.listen, "listen");
    restart_if(running.cores != new.cores, "cores");
    restart_if(
        running.logging.format != new.logging.format,
        "logging.format",
    );
    restart_if(running.adapters.nfs != new.adapters.nfs, "adapters.nfs");
    restart_if(running.adapters.smb != new.adapters.smb, "adapters.smb");
    restart_if(running.cache != new.cache, "cache");
    restart_if(running.wal != new.wal, "wal");
    restart_if(
        running.metadata_stores != new.metadata_stores,
        "metadata_stores",
    );
    restart_if(running.block_stores != new.block_stores, "block_stores");
    let same_names = running.shares.len() == new.shares.len()
        && running
            .shares
            .iter()
            .zip(&new.shares)
            .all(|(a, b)| a.name == b.name);
    if !same_names {
        r.needs_restart
            .push("shares (added, removed, renamed or reordered)".into());
    } else {
        for (i, (a, b)) in running.shares.iter().zip(&new.shares).enumerate() {
            let mut a_rest = a.clone();
            a_rest.rate_limit = b.rate_limit;
            a_rest.default_permission = b.default_permission;
            a_rest.read_only = b.read_only;
            a_rest.allowed_clients = b.allowed_clients.clone();
            if a_rest != *b {
                r.needs_restart.push(format!("shares[{i}] ({})", a.name));
            }
            for (changed, key) in [
                (a.rate_limit != b.rate_limit, "rate_limit"),
                (
                    a.default_permission != b.default_permission,
                    "default_permission",
                ),
                (a.read_only != b.read_only, "read_only"),
                (a.allowed_clients != b.allowed_clients, "allowed_clients"),
            ] {
                if changed {
                    r.applied.push(format!("shares[{i}].{key} ({})", a.name));
                }
            }
        }
    }
    if running.logging.level != new.logging.level {
        r.applied.push("logging.level".into());
    }
    if running.rate_limit != new.rate_limit {
        r.applied.push("rate_limit".into());
    }
    r
}

/// Holds the running configuration and applies reloads to it.
pub struct Reloader {
    source: ReloadSource,
    running: Config,
    limits: Arc<LiveLimits>,
    /// Share access policies, when the server runs (not in unit tests).
    access: Option<Arc<crate::identity::LiveAccess>>,
}

impl Reloader {
    pub fn new(source: ReloadSource, running: Config, limits: Arc<LiveLimits>) -> Reloader {
        Reloader {
            source,
            running,
            limits,
            access: None,
        }
    }

    /// Also reloads the shares' access policies into `access`.
    pub fn with_access(mut self, access: Arc<crate::identity::LiveAccess>) -> Reloader {
        self.access = Some(access);
        self
    }

    /// Reads the file again and applies what can change live; logs what it
    /// did. Returns the report, or the reason nothing changed.
    pub fn reload(&mut self) -> Result<ReloadReport, String> {
        let Some(path) = self.source.path.clone() else {
            let msg = "running on the embedded default configuration: there is no file to reload \
                       (start with --config PATH)";
            log::warn!("reload: {msg}");
            return Err(msg.into());
        };
        let mut new = match Config::load(&path) {
            Ok(c) => c,
            Err(e) => {
                log::error!("reload: {e}; keeping the running configuration");
                return Err(e.to_string());
            }
        };
        self.source.overrides.apply(&mut new);
        if let Err(e) = new.validate() {
            let e = e.in_file(&path);
            log::error!("reload: {e}; keeping the running configuration");
            return Err(e.to_string());
        }
        let report = diff(&self.running, &new);
        self.apply(&new, &report);
        if report.applied.is_empty() && report.needs_restart.is_empty() {
            log::info!("reload: {}: nothing changed", path.display());
        } else {
            log::info!(
                "reload: {}: applied: {}; needs a restart (running values kept): {}",
                path.display(),
                list(&report.applied),
                list(&report.needs_restart)
            );
        }
        Ok(report)
    }

    fn apply(&mut self, new: &Config, report: &ReloadReport) {
        if self.running.logging.level != new.logging.level {
            if std::env::var_os("RUST_LOG").is_some_and(|v| !v.is_empty()) {
                log::warn!(
                    "reload: logging.level is now {:?} in the file, but RUST_LOG is set and \
                     wins; the level stays",
                    new.logging.level
                );
            } else {
                log::set_max_level(crate::logging::max_level(&new.logging));
            }
            self.running.logging.level = new.logging.level.clone();
        }
        let limits_changed = report
            .applied
            .iter()
            .any(|k| k == "rate_limit" || (k.starts_with("shares[") && k.contains("].rate_limit")));
        let access_changed = report.applied.iter().any(|k| {
            k.starts_with("shares[")
                && ["default_permission", "read_only", "allowed_clients"]
                    .iter()
                    .any(|f| k.contains(&format!("].{f} ")))
        });
        if access_changed {
            for (running, new) in self.running.shares.iter_mut().zip(&new.shares) {
                if running.name == new.name {
                    running.default_permission = new.default_permission;
                    running.read_only = new.read_only;
                    running.allowed_clients = new.allowed_clients.clone();
                }
            }
            if let Some(access) = &self.access {
                access.replace(&self.running);
            }
        }
        if limits_changed {
            self.running.rate_limit = new.rate_limit.clone();
            for (running, new) in self.running.shares.iter_mut().zip(&new.shares) {
                if running.name == new.name {
                    running.rate_limit = new.rate_limit;
                }
            }
            self.limits.replace(Settings::from_config(&self.running));
        }
    }
}

fn list(keys: &[String]) -> String {
    if keys.is_empty() {
        "none".into()
    } else {
        keys.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn live_and_restart_keys_are_told_apart() {
        let running = Config::default();
        let mut new = running.clone();
        assert_eq!(diff(&running, &new), ReloadReport::default());
        new.logging.level = "debug".into();
        new.rate_limit.per_client.requests_per_s = 5;
        new.adapters.nfs.port = 2049;
        new.cores = 3;
        new.shares[0].read_only = true;
        new.shares[0].squash = crate::config::Squash::All;
        new.shares[0].rate_limit = Some(Default::default());
        let r = diff(&running, &new);
        assert_eq!(
            r.applied,
            vec![
                "shares[0].rate_limit (/export)",
                "shares[0].read_only (/export)",
                "logging.level",
                "rate_limit"
            ]
        );
        assert_eq!(
            r.needs_restart,
            vec!["cores", "adapters.nfs", "shares[0] (/export)"]
        );
        new.shares[0].name = "/other".into();
        assert_eq!(
            diff(&running, &new)
                .needs_restart
                .last()
                .map(String::as_str),
            Some("shares (added, removed, renamed or reordered)")
        );
    }

    #[test]
    fn reload_applies_limits_and_keeps_restart_keys() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, "cores = 2\n").unwrap();
        let running = Config::load(&path).unwrap();
        running.validate().unwrap();
        let limits = LiveLimits::new(Settings::from_config(&running));
        let source = ReloadSource {
            path: Some(path.clone()),
            overrides: Overrides::default(),
        };
        let mut r = Reloader::new(source, running, limits.clone());
        std::fs::write(
            &path,
            "cores = 4\n[rate_limit.per_client]\nrequests_per_s = 9\n",
        )
        .unwrap();
        let report = r.reload().unwrap();
        assert_eq!(report.applied, vec!["rate_limit"]);
        assert_eq!(report.needs_restart, vec!["cores"]);
        assert_eq!(limits.snapshot().global.per_client.requests_per_s, 9);
        assert_eq!(r.running.cores, 2);
        // A broken file changes nothing.
        std::fs::write(&path, "[rate_limit.per_client]\nrequests_burst = 3\n").unwrap();
        assert!(r.reload().is_err());
        assert_eq!(limits.snapshot().global.per_client.requests_per_s, 9);
        // The embedded default has nothing to reload.
        let mut none = Reloader::new(
            ReloadSource {
                path: None,
                overrides: Overrides::default(),
            },
            Config::default(),
            limits,
        );
        assert!(none.reload().is_err());
    }
}

#[cfg(test)]
mod access_tests {
    use super::*;
    use crate::config::SharePermission;

    #[test]
    fn reload_puts_share_access_in_force() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        let share = "[metadata_stores.m]\ntype = \"memory\"\n[block_stores.b]\ntype = \"memory\"\n\
                     [[shares]]\nname = \"/s\"\nmetadata_store = \"m\"\nblock_store = \"b\"\n";
        std::fs::write(&path, share).unwrap();
        let running = Config::load(&path).unwrap();
        running.validate().unwrap();
        let access = crate::identity::LiveAccess::new(&running.shares);
        let limits = LiveLimits::new(Settings::from_config(&running));
        let source = ReloadSource {
            path: Some(path.clone()),
            overrides: Overrides::default(),
        };
        let mut r = Reloader::new(source, running, limits).with_access(access.clone());
        std::fs::write(
            &path,
            format!(
                "{share}default_permission = \"read\"\nread_only = true\n\
                 allowed_clients = [\"10.0.0.0/8\"]\nroot_mode = 448\n"
            ),
        )
        .unwrap();
        let report = r.reload().unwrap();
        assert_eq!(
            report.applied,
            vec![
                "shares[0].default_permission (/s)",
                "shares[0].read_only (/s)",
                "shares[0].allowed_clients (/s)"
            ]
        );
        assert_eq!(report.needs_restart, vec!["shares[0] (/s)"]);
        let s = access.get(0).unwrap();
        assert_eq!(s.default_permission, SharePermission::Read);
        assert!(s.read_only);
        assert!(!s.is_allowed("127.0.0.1".parse().unwrap()));
        assert!(access
            .read_only_flag(0)
            .unwrap()
            .load(std::sync::atomic::Ordering::Acquire));
        // root_mode needs a restart: the running value stays.
        assert_ne!(r.running.shares[0].root_mode, 448);
    }
}
