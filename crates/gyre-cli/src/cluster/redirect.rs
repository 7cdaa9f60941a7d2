//! The errors a cluster node answers instead of running a command, as
//! values: [`Reroute::Moved`] (the slot lives elsewhere: go there, and
//! remember it), [`Reroute::Ask`] (for this one command, send `ASKING` and
//! then the command to the named node), [`Reroute::TryAgain`] (the slot is
//! being handed over: retry shortly on the same node).
//!
//! Limits, shared by every follower (`-c` and `bench --cluster`): at most
//! [`REDIRECTS_MAX`] MOVED/ASK hops and [`TRYAGAIN_RETRIES_MAX`] retries per
//! command, waiting [`tryagain_backoff`] before each retry; past them the
//! last error is the command's reply. `-CLUSTERDOWN` is not rerouted: it is
//! the reply.

use std::time::Duration;

use super::slot::{SlotId, SLOTS};
use super::NodeAddr;

/// Most MOVED or ASK redirects followed for one command (redis-cli follows
/// without a bound; cluster clients use 5 to 16).
pub const REDIRECTS_MAX: u32 = 16;

/// Most `-TRYAGAIN` retries for one command.
pub const TRYAGAIN_RETRIES_MAX: u32 = 10;

/// Wait before the first `-TRYAGAIN` retry; doubled for each next one.
pub const TRYAGAIN_BACKOFF_FIRST: Duration = Duration::from_millis(5);

/// Longest wait between two `-TRYAGAIN` retries.
pub const TRYAGAIN_BACKOFF_MAX: Duration = Duration::from_millis(250);

/// What a cluster error tells the client to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reroute {
    /// `MOVED <slot> <host>:<port>`: the slot is served by that node.
    Moved {
        /// The command's slot.
        slot: SlotId,
        /// Its node (the host may be empty: the current one, as in Redis).
        addr: NodeAddr,
    },
    /// `ASK <slot> <host>:<port>`: send `ASKING` and the command there, once.
    Ask {
        /// The command's slot.
        slot: SlotId,
        /// The node to ask.
        addr: NodeAddr,
    },
    /// `TRYAGAIN ...`: retry on the same node after a short wait.
    TryAgain,
}

impl Reroute {
    /// Reads an error reply's text (without the `-`); `None` for any other error.
    pub fn parse(error: &[u8]) -> Option<Reroute> {
        if error.starts_with(b"TRYAGAIN") && error.get(8).is_none_or(|&b| b == b' ') {
            return Some(Reroute::TryAgain);
        }
        let text = std::str::from_utf8(error).ok()?;
        let (kind, rest) = text.split_once(' ')?;
        let (slot, addr) = rest.trim_end().split_once(' ')?;
        let slot: u16 = slot.parse().ok().filter(|&s| usize::from(s) < SLOTS)?;
        let (slot, addr) = (SlotId(slot), NodeAddr::parse(addr)?);
        match kind {
            "MOVED" => Some(Reroute::Moved { slot, addr }),
            "ASK" => Some(Reroute::Ask { slot, addr }),
            _ => None,
        }
    }
}

/// How long to wait before `-TRYAGAIN` retry number `retry` (0 for the
/// first): [`TRYAGAIN_BACKOFF_FIRST`] doubled each time, capped at
/// [`TRYAGAIN_BACKOFF_MAX`].
pub fn tryagain_backoff(retry: u32) -> Duration {
    TRYAGAIN_BACKOFF_FIRST.saturating_mul(1 << retry.min(16)).min(TRYAGAIN_BACKOFF_MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(host: &str, port: u16) -> NodeAddr {
        NodeAddr { host: host.into(), port }
    }

    #[test]
    fn redirects_parse() {
        assert_eq!(
            Reroute::parse(b"MOVED 3999 127.0.0.1:6381"),
            Some(Reroute::Moved { slot: SlotId(3999), addr: addr("127.0.0.1", 6381) })
        );
        assert_eq!(
            Reroute::parse(b"ASK 12182 10.0.0.2:7002"),
            Some(Reroute::Ask { slot: SlotId(12182), addr: addr("10.0.0.2", 7002) })
        );
        // An unknown endpoint: the host is empty (the caller keeps its own).
        assert_eq!(Reroute::parse(b"MOVED 1 :7003"), Some(Reroute::Moved { slot: SlotId(1), addr: addr("", 7003) }));
        assert_eq!(
            Reroute::parse(b"TRYAGAIN The slot is being handed over to another node; try again"),
            Some(Reroute::TryAgain)
        );
        assert_eq!(Reroute::parse(b"TRYAGAIN"), Some(Reroute::TryAgain));
    }

    #[test]
    fn other_errors_are_not_redirects() {
        for text in [
            &b"CLUSTERDOWN Hash slot not served"[..],
            b"ERR unknown command",
            b"MOVED",
            b"MOVED 16384 h:1",
            b"MOVED x h:1",
            b"MOVED 1 nocolon",
            b"MOVEDX 1 h:1",
            b"TRYAGAINX",
            b"\xffMOVED 1 h:1",
        ] {
            assert_eq!(Reroute::parse(text), None, "{}", String::from_utf8_lossy(text));
        }
    }

    #[test]
    fn backoff_doubles_up_to_its_cap() {
        assert_eq!(tryagain_backoff(0), Duration::from_millis(5));
        assert_eq!(tryagain_backoff(1), Duration::from_millis(10));
        assert_eq!(tryagain_backoff(5), Duration::from_millis(160));
        assert_eq!(tryagain_backoff(6), TRYAGAIN_BACKOFF_MAX);
        assert_eq!(tryagain_backoff(u32::MAX), TRYAGAIN_BACKOFF_MAX);
        let total: Duration = (0..TRYAGAIN_RETRIES_MAX).map(tryagain_backoff).sum();
        assert!(total < Duration::from_secs(2), "{total:?}");
    }
}
