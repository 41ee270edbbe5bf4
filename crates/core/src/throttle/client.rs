//! Who a login attempt comes from, as the limiter counts it.

use std::fmt;
use std::net::IpAddr;

/// A client as the limiter counts it: an IPv4 address, or an IPv6 /64 (one host usually
/// holds a whole /64, so counting single IPv6 addresses would count nothing).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClientId(pub(super) IpAddr);

impl ClientId {
    /// The client of a request from `ip` (an IPv4-mapped IPv6 address counts as IPv4).
    pub fn of(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V4(v4) => ClientId(IpAddr::V4(v4)),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => ClientId(IpAddr::V4(v4)),
                None => {
                    let prefix = u128::from(v6) & !((1u128 << 64) - 1);
                    ClientId(IpAddr::V6(prefix.into()))
                }
            },
        }
    }

    /// A client whose address is not known (a request that did not come over TCP, as in
    /// tests): every such request counts as the same client.
    pub fn unknown() -> Self {
        ClientId(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED))
    }
}

impl fmt::Display for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            IpAddr::V4(v4) => write!(f, "{v4}"),
            IpAddr::V6(v6) => write!(f, "{v6}/64"),
        }
    }
}
