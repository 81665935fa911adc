//! Who may use an export and as whom: client networks (CIDR) and identity squashing.
//!
//! Both rules come from the share's configuration and are applied on every
//! MOUNT and NFS call, so they are parsed once when the context is built.

use std::net::IpAddr;

use crate::config::{Cidr, ShareConfig, Squash};
use crate::fs::Cred;
use crate::rpc::Auth;

/// Parses a share's `allowed_clients`, skipping (with a warning) entries that
/// config validation should already have rejected.
pub fn parse_allowed(share: &ShareConfig) -> Vec<Cidr> {
    share
        .allowed_clients
        .iter()
        .filter_map(|s| match s.parse::<Cidr>() {
            Ok(c) => Some(c),
            Err(e) => {
                log::warn!("share {}: ignoring allowed_clients entry: {e}", share.name);
                None
            }
        })
        .collect()
}

/// Whether `peer` may use a share whose parsed `allowed_clients` is `allowed`.
pub fn is_allowed(allowed: &[Cidr], configured: usize, peer: IpAddr) -> bool {
    configured == 0 || allowed.iter().any(|c| c.contains(peer))
}

/// The credential the core sees for a caller, after the share's squash rule.
pub fn map_cred(share: &ShareConfig, auth: &Auth) -> Cred {
    let anon = Cred {
        uid: share.anon_uid,
        gid: share.anon_gid,
        gids: Vec::new(),
    };
    let Auth::Sys(sys) = auth else {
        return anon;
    };
    match share.squash {
        Squash::All => anon,
        Squash::Root => {
            let root_to_anon = |g: u32| if g == 0 { share.anon_gid } else { g };
            Cred {
                uid: if sys.uid == 0 {
                    share.anon_uid
                } else {
                    sys.uid
                },
                gid: root_to_anon(sys.gid),
                gids: sys.gids.iter().map(|g| root_to_anon(*g)).collect(),
            }
        }
        Squash::None => Cred {
            uid: sys.uid,
            gid: sys.gid,
            gids: sys.gids.clone(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rpc::AuthSys;

    #[test]
    fn squashing() {
        let mut share = ShareConfig::default();
        let root = Auth::Sys(AuthSys {
            stamp: 0,
            machine_name: "m".into(),
            uid: 0,
            gid: 0,
            gids: vec![0, 5],
        });
        assert_eq!(
            map_cred(&share, &root),
            Cred {
                uid: 0,
                gid: 0,
                gids: vec![0, 5]
            }
        );
        share.squash = Squash::Root;
        assert_eq!(
            map_cred(&share, &root),
            Cred {
                uid: 65534,
                gid: 65534,
                gids: vec![65534, 5]
            }
        );
        share.squash = Squash::All;
        assert_eq!(map_cred(&share, &root).uid, 65534);
        share.squash = Squash::None;
        assert_eq!(map_cred(&share, &Auth::None).uid, 65534);
    }
}
