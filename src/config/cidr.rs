//! Client networks in CIDR notation (`10.0.0.0/8`, `fd00::/8`, or a bare address).
//!
//! Shares restrict who may mount them with `allowed_clients`; the config
//! validator parses every entry with this type so a typo fails at start, and the
//! NFS/SMB adapters call [`Cidr::contains`] on each connection's peer address.
//! It is small enough that a crate would not pay for itself.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

/// A network: an address and a prefix length. The host bits of `addr` are
/// kept as written (so `Display` round-trips) but ignored by `contains`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cidr {
    addr: IpAddr,
    prefix_len: u8,
}

/// Why a CIDR string was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CidrError {
    #[error("invalid address {0:?}")]
    Address(String),
    #[error("invalid prefix length {0:?}")]
    PrefixSyntax(String),
    #[error("prefix length {len} exceeds {max} for this address family")]
    PrefixTooLong { len: u32, max: u8 },
}

impl Cidr {
    /// Builds a network; `None` if `prefix_len` is too long for the family.
    pub fn new(addr: IpAddr, prefix_len: u8) -> Option<Cidr> {
        (prefix_len <= max_prefix_len(addr)).then_some(Cidr { addr, prefix_len })
    }

    /// The address as written (host bits included).
    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    /// Number of leading network bits.
    pub fn prefix_len(&self) -> u8 {
        self.prefix_len
    }

    /// Whether `ip` lies in this network. An IPv4-mapped IPv6 peer
    /// (`::ffff:a.b.c.d`, as seen on dual-stack sockets) matches IPv4 networks,
    /// and an IPv4 peer matches an IPv6 network containing its mapped form.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => v4_contains(net, self.prefix_len, ip),
            (IpAddr::V6(net), IpAddr::V6(ip)) => v6_contains(net, self.prefix_len, ip),
            (IpAddr::V4(net), IpAddr::V6(ip)) => ip
                .to_ipv4_mapped()
                .is_some_and(|ip| v4_contains(net, self.prefix_len, ip)),
            (IpAddr::V6(net), IpAddr::V4(ip)) => {
                v6_contains(net, self.prefix_len, ip.to_ipv6_mapped())
            }
        }
    }
}

fn max_prefix_len(addr: IpAddr) -> u8 {
    match addr {
        IpAddr::V4(_) => 32,
        IpAddr::V6(_) => 128,
    }
}

fn v4_contains(net: Ipv4Addr, prefix_len: u8, ip: Ipv4Addr) -> bool {
    let mask = u32::MAX
        .checked_shl(32 - u32::from(prefix_len))
        .unwrap_or(0);
    u32::from(net) & mask == u32::from(ip) & mask
}

fn v6_contains(net: Ipv6Addr, prefix_len: u8, ip: Ipv6Addr) -> bool {
    let mask = u128::MAX
        .checked_shl(128 - u32::from(prefix_len))
        .unwrap_or(0);
    u128::from(net) & mask == u128::from(ip) & mask
}

impl FromStr for Cidr {
    type Err = CidrError;

    /// Parses `ADDR/LEN` or a bare `ADDR` (a single host: /32 or /128).
    fn from_str(s: &str) -> Result<Cidr, CidrError> {
        let (addr_text, len_text) = match s.split_once('/') {
            Some((a, l)) => (a, Some(l)),
            None => (s, None),
        };
        let addr: IpAddr = addr_text
            .parse()
            .map_err(|_| CidrError::Address(addr_text.to_owned()))?;
        let max = max_prefix_len(addr);
        let prefix_len = match len_text {
            None => max,
            Some(l) => {
                // u32::from_str accepts a leading '+'; a prefix length is digits only.
                if l.is_empty() || !l.bytes().all(|b| b.is_ascii_digit()) || l.len() > 3 {
                    return Err(CidrError::PrefixSyntax(l.to_owned()));
                }
                let len: u32 = l
                    .parse()
                    .map_err(|_| CidrError::PrefixSyntax(l.to_owned()))?;
                if len > u32::from(max) {
                    return Err(CidrError::PrefixTooLong { len, max });
                }
                len as u8
            }
        };
        Ok(Cidr { addr, prefix_len })
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix_len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cidr(s: &str) -> Cidr {
        s.parse().unwrap()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn parses_ipv4_and_ipv6() {
        assert_eq!(cidr("10.0.0.0/8").prefix_len(), 8);
        assert_eq!(cidr("10.0.0.0/8").addr(), ip("10.0.0.0"));
        assert_eq!(cidr("fd00::/8").prefix_len(), 8);
        assert_eq!(cidr("0.0.0.0/0").prefix_len(), 0);
        assert_eq!(cidr("::/0").prefix_len(), 0);
    }

    #[test]
    fn bare_address_is_a_single_host() {
        assert_eq!(cidr("192.168.1.7").prefix_len(), 32);
        assert_eq!(cidr("::1").prefix_len(), 128);
        assert!(cidr("192.168.1.7").contains(ip("192.168.1.7")));
        assert!(!cidr("192.168.1.7").contains(ip("192.168.1.8")));
    }

    #[test]
    fn rejects_malformed() {
        assert_eq!(
            "10.0.0/8".parse::<Cidr>(),
            Err(CidrError::Address("10.0.0".into()))
        );
        assert_eq!(
            "10.0.0.0/".parse::<Cidr>(),
            Err(CidrError::PrefixSyntax(String::new()))
        );
        assert_eq!(
            "10.0.0.0/+8".parse::<Cidr>(),
            Err(CidrError::PrefixSyntax("+8".into()))
        );
        assert_eq!(
            "10.0.0.0/8/8".parse::<Cidr>(),
            Err(CidrError::PrefixSyntax("8/8".into()))
        );
        assert_eq!(
            "10.0.0.0/33".parse::<Cidr>(),
            Err(CidrError::PrefixTooLong { len: 33, max: 32 })
        );
        assert_eq!(
            "::/129".parse::<Cidr>(),
            Err(CidrError::PrefixTooLong { len: 129, max: 128 })
        );
        assert!("".parse::<Cidr>().is_err());
        assert!(" 10.0.0.0/8".parse::<Cidr>().is_err());
        assert!("host.example/8".parse::<Cidr>().is_err());
        assert!("10.0.0.0/99999999999".parse::<Cidr>().is_err());
    }

    #[test]
    fn contains_ipv4() {
        let net = cidr("10.1.0.0/16");
        assert!(net.contains(ip("10.1.0.0")));
        assert!(net.contains(ip("10.1.255.255")));
        assert!(!net.contains(ip("10.2.0.0")));
        assert!(!net.contains(ip("9.255.255.255")));
        // Host bits in the written address are ignored.
        assert!(cidr("10.1.2.3/16").contains(ip("10.1.200.1")));
        assert!(cidr("0.0.0.0/0").contains(ip("203.0.113.9")));
        assert!(cidr("10.0.0.1/31").contains(ip("10.0.0.0")));
        assert!(!cidr("10.0.0.1/32").contains(ip("10.0.0.0")));
    }

    #[test]
    fn contains_ipv6() {
        let net = cidr("2001:db8::/32");
        assert!(net.contains(ip("2001:db8::1")));
        assert!(net.contains(ip("2001:db8:ffff:ffff::")));
        assert!(!net.contains(ip("2001:db9::")));
        assert!(cidr("::/0").contains(ip("fe80::1")));
        assert!(cidr("fe80::1/128").contains(ip("fe80::1")));
        assert!(!cidr("fe80::1/128").contains(ip("fe80::2")));
        assert!(cidr("fe80::/127").contains(ip("fe80::1")));
    }

    #[test]
    fn mapped_addresses_cross_families() {
        assert!(cidr("192.168.0.0/16").contains(ip("::ffff:192.168.4.2")));
        assert!(!cidr("192.168.0.0/16").contains(ip("::ffff:10.0.0.1")));
        assert!(!cidr("0.0.0.0/0").contains(ip("2001:db8::1")));
        assert!(cidr("::ffff:0:0/96").contains(ip("10.0.0.1")));
        assert!(!cidr("2001:db8::/32").contains(ip("10.0.0.1")));
    }

    #[test]
    fn display_round_trips() {
        for s in ["10.0.0.0/8", "10.1.2.3/16", "fd00::/8", "::1/128"] {
            assert_eq!(cidr(s).to_string(), s);
            assert_eq!(cidr(&cidr(s).to_string()), cidr(s));
        }
        assert_eq!(cidr("10.0.0.1").to_string(), "10.0.0.1/32");
    }

    #[test]
    fn new_checks_prefix() {
        assert!(Cidr::new(ip("10.0.0.0"), 32).is_some());
        assert!(Cidr::new(ip("10.0.0.0"), 33).is_none());
        assert!(Cidr::new(ip("::"), 128).is_some());
        assert!(Cidr::new(ip("::"), 129).is_none());
    }
}
