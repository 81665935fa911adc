//! The per-share access policy both adapters apply on every request, and that
//! SIGHUP replaces while serving: `default_permission`, `read_only` and
//! `allowed_clients`.
//!
//! Why one shared table: NFS and SMB must agree on who may use a share, and a
//! reload must reach every core and every already-open connection at its next
//! request. The table is an `Arc` snapshot behind a lock (replaced whole on
//! reload, read with one clone per request) plus one `AtomicBool` per share
//! that the fs cores of every core hold for `read_only`.

use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

use crate::config::{Cidr, Config, ShareConfig, SharePermission};

/// One share's access policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShareAccess {
    /// Configured name (NFS export path, leading `/`).
    pub name: String,
    pub default_permission: SharePermission,
    pub read_only: bool,
    /// Parsed `allowed_clients`.
    pub allowed: Vec<Cidr>,
    /// How many entries `allowed_clients` had (0 = every client).
    pub allowed_configured: usize,
}

impl ShareAccess {
    pub fn from_config(share: &ShareConfig) -> ShareAccess {
        let allowed = share
            .allowed_clients
            .iter()
            .filter_map(|s| match s.parse::<Cidr>() {
                Ok(c) => Some(c),
                Err(e) => {
                    log::warn!("share {}: ignoring allowed_clients entry: {e}", share.name);
                    None
                }
            })
            .collect();
        ShareAccess {
            name: share.name.clone(),
            default_permission: share.default_permission,
            read_only: share.read_only,
            allowed,
            allowed_configured: share.allowed_clients.len(),
        }
    }

    /// Whether `peer` may use the share.
    pub fn is_allowed(&self, peer: IpAddr) -> bool {
        self.allowed_configured == 0 || self.allowed.iter().any(|c| c.contains(peer))
    }
}

/// Every share's [`ShareAccess`], same order as `[[shares]]`; shared by all
/// cores and replaced on reload.
#[derive(Debug)]
pub struct LiveAccess {
    shares: RwLock<Arc<Vec<ShareAccess>>>,
    /// `read_only` of each share, as the fs cores see it.
    read_only: Vec<Arc<AtomicBool>>,
}

impl LiveAccess {
    pub fn new(shares: &[ShareConfig]) -> Arc<LiveAccess> {
        let table: Vec<ShareAccess> = shares.iter().map(ShareAccess::from_config).collect();
        let read_only = table
            .iter()
            .map(|s| Arc::new(AtomicBool::new(s.read_only)))
            .collect();
        Arc::new(LiveAccess {
            shares: RwLock::new(Arc::new(table)),
            read_only,
        })
    }

    /// The table now in force.
    pub fn snapshot(&self) -> Arc<Vec<ShareAccess>> {
        match self.shares.read() {
            Ok(g) => g.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Share `idx` as now in force.
    pub fn get(&self, idx: usize) -> Option<ShareAccess> {
        self.snapshot().get(idx).cloned()
    }

    /// The flag share `idx`'s fs cores check before every change.
    pub fn read_only_flag(&self, idx: usize) -> Option<Arc<AtomicBool>> {
        self.read_only.get(idx).cloned()
    }

    /// Puts `config`'s share policies in force (same shares, same order: a
    /// reload that adds or removes shares needs a restart and never gets here).
    pub fn replace(&self, config: &Config) {
        let table: Vec<ShareAccess> = config.shares.iter().map(ShareAccess::from_config).collect();
        for (flag, s) in self.read_only.iter().zip(&table) {
            flag.store(s.read_only, Ordering::Release);
        }
        match self.shares.write() {
            Ok(mut g) => *g = Arc::new(table),
            Err(poisoned) => *poisoned.into_inner() = Arc::new(table),
        }
        // Cached resolutions were made against the old defaults.
        super::bump_generation();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replace_reaches_snapshot_and_flags() {
        let mut config = Config::default();
        let live = LiveAccess::new(&config.shares);
        let peer: IpAddr = "192.0.2.7".parse().unwrap();
        assert!(live.get(0).unwrap().is_allowed(peer));
        let flag = live.read_only_flag(0).unwrap();
        assert!(!flag.load(Ordering::Acquire));
        config.shares[0].allowed_clients = vec!["10.0.0.0/8".into()];
        config.shares[0].read_only = true;
        config.shares[0].default_permission = SharePermission::Read;
        let before = super::super::generation();
        live.replace(&config);
        let s = live.get(0).unwrap();
        assert!(!s.is_allowed(peer));
        assert!(s.is_allowed("10.1.2.3".parse().unwrap()));
        assert_eq!(s.default_permission, SharePermission::Read);
        assert!(flag.load(Ordering::Acquire));
        assert!(super::super::generation() > before);
        assert!(live.get(1).is_none());
    }
}
