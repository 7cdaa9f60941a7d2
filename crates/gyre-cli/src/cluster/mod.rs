//! What the client needs to know about Redis Cluster (and so Gyre's
//! cluster mode): which slot a key hashes to, which node serves a slot, the
//! redirect errors a node answers with, and the `cluster status` verb.
//!
//! * [`slot`]: CRC16/XMODEM of the key or of its `{hash tag}`, modulo 16384,
//!   and the slot map read from `CLUSTER SLOTS`;
//! * [`redirect`]: `-MOVED`, `-ASK` and `-TRYAGAIN` as values, with the
//!   bounds every follower of them obeys ([`redirect::REDIRECTS_MAX`],
//!   [`redirect::TRYAGAIN_RETRIES_MAX`]);
//! * [`status`]: `gyre-cli cluster status`, a table made of `CLUSTER NODES`
//!   and `CLUSTER INFO`.
//!
//! Nothing here does I/O except [`status::run`], which asks its session.

#[cfg(test)]
pub mod fake;
pub mod redirect;
pub mod slot;
pub mod status;

use std::fmt;

/// A node's client address, as `CLUSTER SLOTS` and `-MOVED` name it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NodeAddr {
    /// Host name or address (an IPv6 address without brackets).
    pub host: String,
    /// Client port.
    pub port: u16,
}

impl NodeAddr {
    /// `host:port`, split at the last colon (so `::1:7001` is `::1`, 7001,
    /// as redis-cli reads it). `None` without a colon or a valid port.
    pub fn parse(text: &str) -> Option<NodeAddr> {
        let (host, port) = text.rsplit_once(':')?;
        Some(NodeAddr { host: host.to_string(), port: port.parse().ok()? })
    }
}

impl fmt::Display for NodeAddr {
    /// `host:port`, as redis-cli prints it (no brackets around IPv6).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.host, self.port)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_split_at_the_last_colon() {
        let a = NodeAddr::parse("127.0.0.1:7001").unwrap();
        assert_eq!((a.host.as_str(), a.port), ("127.0.0.1", 7001));
        assert_eq!(a.to_string(), "127.0.0.1:7001");
        let v6 = NodeAddr::parse("::1:7002").unwrap();
        assert_eq!((v6.host.as_str(), v6.port), ("::1", 7002));
        assert_eq!(NodeAddr::parse(":7003").unwrap().host, "");
        assert_eq!(NodeAddr::parse("nohost"), None);
        assert_eq!(NodeAddr::parse("h:99999"), None);
    }
}
