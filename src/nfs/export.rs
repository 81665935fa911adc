//! Who may use an export and as whom: client networks (CIDR) and identity squashing.
//!
//! Both rules come from the share's configuration and are applied on every
//! MOUNT and NFS call, so they are parsed once when the context is built.

use std::net::IpAddr;

use crate::config::{ShareConfig, Squash};
use crate::fs::Cred;
use crate::rpc::Auth;

/// One `allowed_clients` entry: an address with a prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    prefix_len: u8,
}

/// An `allowed_clients` entry that is not `ADDR` or `ADDR/PREFIX`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid CIDR {0:?}")]
pub struct CidrError(pub String);

fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

impl Cidr {
    /// Parses `10.0.0.0/8`, `fd00::/8` or a bare address (a single host).
    pub fn parse(s: &str) -> Result<Cidr, CidrError> {
        let err = || CidrError(s.to_owned());
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr = canonical(addr.trim().parse::<IpAddr>().map_err(|_| err())?);
        let bits = if addr.is_ipv4() { 32 } else { 128 };
        let prefix_len = match prefix {
            Some(p) => p.trim().parse::<u8>().map_err(|_| err())?,
            None => bits,
        };
        if prefix_len > bits {
            return Err(err());
        }
        Ok(Cidr { addr, prefix_len })
    }

    /// Whether `ip` lies in this network (IPv4-mapped IPv6 peers count as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, canonical(ip)) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix_len))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix_len))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// Parses a share's `allowed_clients`, skipping (with a warning) entries that
/// config validation should already have rejected.
pub fn parse_allowed(share: &ShareConfig) -> Vec<Cidr> {
    share
        .allowed_clients
        .iter()
        .filter_map(|s| match Cidr::parse(s) {
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
    fn cidr_matching() {
        let c = Cidr::parse("10.1.0.0/16").unwrap();
        assert!(c.contains("10.1.2.3".parse().unwrap()));
        assert!(c.contains("::ffff:10.1.2.3".parse().unwrap()));
        assert!(!c.contains("10.2.0.1".parse().unwrap()));
        assert!(Cidr::parse("0.0.0.0/0")
            .unwrap()
            .contains("1.2.3.4".parse().unwrap()));
        assert!(Cidr::parse("::1").unwrap().contains("::1".parse().unwrap()));
        assert!(Cidr::parse("10.0.0.0/33").is_err());
        assert!(Cidr::parse("nope").is_err());
        let host = Cidr::parse("192.168.1.5").unwrap();
        assert!(!host.contains("192.168.1.6".parse().unwrap()));
    }

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
