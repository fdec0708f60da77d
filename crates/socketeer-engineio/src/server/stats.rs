//! The server's counters: [`EngineStats`], a snapshot of what the sessions
//! have queued, dropped and why they closed.
//!
//! The counters are atomics bumped on rare events only (a volatile message
//! dropped, a session closing); the bytes queued are read from each
//! session's own gauges when a snapshot is taken, so sending a message
//! touches no shared counter.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use super::core::CloseReason;
use super::metrics;

/// Number of [`CloseReason`]s.
const REASONS: usize = 6;

fn index(reason: CloseReason) -> usize {
    match reason {
        CloseReason::TransportClose => 0,
        CloseReason::TransportError => 1,
        CloseReason::PingTimeout => 2,
        CloseReason::ParseError => 3,
        CloseReason::ForcedClose => 4,
        CloseReason::ServerShuttingDown => 5,
    }
}

/// The counters shared by the server and its sessions.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    volatile_dropped: AtomicU64,
    queue_overflows: AtomicU64,
    closed: [AtomicU64; REASONS],
    queue_high_water: AtomicUsize,
    direct_writes: AtomicU64,
}

impl Counters {
    pub(crate) fn volatile_dropped(&self) {
        self.volatile_dropped.fetch_add(1, Ordering::Relaxed);
        metrics::volatile_dropped();
    }

    pub(crate) fn queue_overflow(&self) {
        self.queue_overflows.fetch_add(1, Ordering::Relaxed);
        metrics::queue_overflow();
    }

    pub(crate) fn closed(&self, reason: CloseReason) {
        if let Some(c) = self.closed.get(index(reason)) {
            c.fetch_add(1, Ordering::Relaxed);
        }
        metrics::closed(reason);
    }

    /// A session's task found `queued` bytes waiting to be written: raises
    /// the high-water mark if it is a new high (a load only, otherwise).
    pub(crate) fn queue_depth(&self, queued: usize) {
        if queued > self.queue_high_water.load(Ordering::Relaxed) {
            self.queue_high_water.fetch_max(queued, Ordering::Relaxed);
        }
    }

    /// `n` writes made straight to parked sessions (counted once per
    /// batch, not per write).
    pub(crate) fn direct_writes(&self, n: u64) {
        self.direct_writes.fetch_add(n, Ordering::Relaxed);
    }

    /// The most bytes one session had queued when its task came to write.
    pub(crate) fn queue_high_water(&self) -> usize {
        self.queue_high_water.load(Ordering::Relaxed)
    }

    pub(crate) fn snapshot(&self) -> EngineStats {
        EngineStats {
            volatile_dropped: self.volatile_dropped.load(Ordering::Relaxed),
            queue_overflows: self.queue_overflows.load(Ordering::Relaxed),
            closed: std::array::from_fn(|i| self.closed[i].load(Ordering::Relaxed)),
            queued_bytes_high_water: self.queue_high_water(),
            direct_writes: self.direct_writes.load(Ordering::Relaxed),
            ..EngineStats::default()
        }
    }
}

/// What an [`EngineIo`](super::EngineIo) server has queued and dropped,
/// and why its sessions closed: see [`EngineIo::stats`](super::EngineIo::stats).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct EngineStats {
    /// Sessions open now.
    pub sessions: usize,
    /// Bytes queued for the open sessions now, in their outboxes and
    /// WebSocket send queues (a broadcast frame counts once per recipient,
    /// though its bytes are shared).
    pub queued_bytes: usize,
    /// The most bytes queued for one session now.
    pub max_session_queued_bytes: usize,
    /// Volatile messages dropped since the server started (the session was
    /// not ready, or the message would have crossed its queue limit).
    pub volatile_dropped: u64,
    /// Sessions closed since the server started because a message would
    /// have taken their queue over `max_queued_bytes` or
    /// `max_queued_messages` (also counted as
    /// [`CloseReason::TransportError`]).
    pub queue_overflows: u64,
    /// The most bytes one session had queued (outbox and WebSocket send
    /// queue) when its task came to write them, since the server started.
    pub queued_bytes_high_water: usize,
    /// Writes made to idle WebSocket sessions by the task that queued the
    /// frames (a broadcast from a session's handler), instead of waking
    /// each session's task to write them, since the server started.
    pub direct_writes: u64,
    closed: [u64; REASONS],
}

impl EngineStats {
    /// Sessions closed since the server started with this reason.
    pub fn closed(&self, reason: CloseReason) -> u64 {
        self.closed.get(index(reason)).copied().unwrap_or(0)
    }

    /// Sessions closed since the server started, whatever the reason.
    pub fn closed_total(&self) -> u64 {
        self.closed.iter().sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_by_reason() {
        let c = Counters::default();
        c.closed(CloseReason::TransportError);
        c.closed(CloseReason::TransportError);
        c.closed(CloseReason::PingTimeout);
        c.queue_overflow();
        c.volatile_dropped();
        c.volatile_dropped();
        c.queue_depth(300);
        c.queue_depth(100);
        let s = c.snapshot();
        assert_eq!(s.queued_bytes_high_water, 300);
        assert_eq!(s.closed(CloseReason::TransportError), 2);
        assert_eq!(s.closed(CloseReason::PingTimeout), 1);
        assert_eq!(s.closed(CloseReason::ForcedClose), 0);
        assert_eq!(s.closed_total(), 3);
        assert_eq!(s.queue_overflows, 1);
        assert_eq!(s.volatile_dropped, 2);
    }
}
