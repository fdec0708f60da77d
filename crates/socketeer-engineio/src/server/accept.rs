//! What the accept loop of `serve.rs` needs besides accepting: the
//! backoff after failed accepts ([`AcceptBackoff`]) and the count of open
//! connections per client address ([`PerIp`]).

use std::collections::HashMap;
use std::io::ErrorKind;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::sync::LockExt;

/// First pause after an accept that failed for want of resources.
const BACKOFF_MIN: Duration = Duration::from_millis(10);
/// Longest pause between two attempts.
const BACKOFF_MAX: Duration = Duration::from_secs(1);

/// Whether a failed `accept` concerns only the connection it would have
/// returned (the peer gave up or reset before it was accepted): the next
/// accept may succeed at once. Every other error (`EMFILE`, `ENFILE`,
/// `ENOMEM`, `ENOBUFS`, ...) is a shortage that retrying at once would
/// only spin on.
pub(crate) fn is_per_connection(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        ErrorKind::ConnectionAborted | ErrorKind::ConnectionReset | ErrorKind::ConnectionRefused
    ) || e.raw_os_error() == Some(PROTOCOL_ERROR)
}

/// `EPROTO` on Linux: a protocol error on the pending connection.
const PROTOCOL_ERROR: i32 = 71;

/// Exponential backoff across consecutive failed accepts: 10 ms, doubling
/// up to 1 s, back to nothing after an accept succeeds. Logs the first
/// failure of a run at `warn`, and its end.
#[derive(Debug, Default)]
pub(crate) struct AcceptBackoff {
    /// Failures since the last success.
    failures: u32,
}

impl AcceptBackoff {
    /// An accept succeeded.
    pub(crate) fn succeeded(&mut self) {
        if self.failures > 0 {
            tracing::warn!(failures = self.failures, "accepting connections again");
            self.failures = 0;
        }
    }

    /// An accept failed with `e`: how long to wait before the next one.
    pub(crate) fn failed(&mut self, e: &std::io::Error) -> Duration {
        if is_per_connection(e) {
            tracing::debug!(error = %e, "accept failed for one connection");
            return Duration::ZERO;
        }
        let delay = self.delay();
        self.failures = self.failures.saturating_add(1);
        if self.failures == 1 || delay == BACKOFF_MAX {
            tracing::warn!(error = %e, failures = self.failures, ?delay, "accept failed, backing off");
        }
        delay
    }

    fn delay(&self) -> Duration {
        let doublings = self.failures.min(16);
        BACKOFF_MIN.saturating_mul(1 << doublings).min(BACKOFF_MAX)
    }
}

/// Open connections by client address, for
/// [`HttpOptions::max_connections_per_ip`](super::HttpOptions::max_connections_per_ip).
#[derive(Debug, Clone, Default)]
pub(crate) struct PerIp {
    counts: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

/// One connection counted in [`PerIp`] until dropped.
#[derive(Debug)]
pub(crate) struct IpSlot {
    counts: Arc<Mutex<HashMap<IpAddr, usize>>>,
    ip: IpAddr,
}

impl PerIp {
    /// Counts a connection from `ip`, or `None` if `ip` has `max` open.
    pub(crate) fn enter(&self, ip: IpAddr, max: usize) -> Option<IpSlot> {
        let mut counts = self.counts.locked();
        let n = counts.entry(ip).or_insert(0);
        if *n >= max {
            if *n == 0 {
                counts.remove(&ip);
            }
            return None;
        }
        *n += 1;
        Some(IpSlot {
            counts: self.counts.clone(),
            ip,
        })
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.counts.locked().len()
    }
}

impl Drop for IpSlot {
    fn drop(&mut self) {
        let mut counts = self.counts.locked();
        if let Some(n) = counts.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                counts.remove(&self.ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_a_second_and_resets() {
        let mut b = AcceptBackoff::default();
        let emfile = std::io::Error::from_raw_os_error(24);
        let delays: Vec<_> = (0..9).map(|_| b.failed(&emfile).as_millis()).collect();
        assert_eq!(delays, [10, 20, 40, 80, 160, 320, 640, 1000, 1000]);
        b.succeeded();
        assert_eq!(b.failed(&emfile), BACKOFF_MIN);
        let aborted = std::io::Error::from(ErrorKind::ConnectionAborted);
        assert_eq!(b.failed(&aborted), Duration::ZERO);
    }

    #[test]
    fn per_ip_counts_until_dropped() {
        let per_ip = PerIp::default();
        let a: IpAddr = "127.0.0.1".parse().unwrap();
        let b: IpAddr = "127.0.0.2".parse().unwrap();
        let one = per_ip.enter(a, 2).expect("first");
        let two = per_ip.enter(a, 2).expect("second");
        assert!(per_ip.enter(a, 2).is_none());
        let other = per_ip.enter(b, 2).expect("another address");
        drop(one);
        let three = per_ip.enter(a, 2).expect("a slot freed");
        drop((two, three, other));
        assert_eq!(per_ip.len(), 0);
        assert!(per_ip.enter(a, 0).is_none());
        assert_eq!(per_ip.len(), 0);
    }
}
