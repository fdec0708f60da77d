//! Acknowledgement bookkeeping: the [`AckToken`] the application holds,
//! what a namespace remembers of each acknowledgement it awaits, and the
//! `AckTimers` of their deadlines.

use std::collections::BTreeSet;
use std::time::Instant;

/// Identifies an acknowledgement the application waits for; given back in
/// [`Event::Ack`](super::Event::Ack).
pub type AckToken = u64;

#[derive(Debug, Clone, Copy)]
pub(super) enum AckKind {
    User(AckToken),
    Queue(u64),
}

#[derive(Debug, Clone, Copy)]
pub(super) struct PendingAck {
    pub(super) kind: AckKind,
    pub(super) deadline: Option<Instant>,
}

/// The deadlines of awaited acknowledgements, across namespaces, soonest
/// first: (when, namespace index, ack id).
#[derive(Debug, Default)]
pub(super) struct AckTimers(BTreeSet<(Instant, usize, u64)>);

impl AckTimers {
    pub(super) fn insert(&mut self, at: Instant, nsp: usize, id: u64) {
        self.0.insert((at, nsp, id));
    }

    /// Forgets the timer of an acknowledgement with this `deadline`, if any.
    pub(super) fn cancel(&mut self, deadline: Option<Instant>, nsp: usize, id: u64) {
        if let Some(d) = deadline {
            self.0.remove(&(d, nsp, id));
        }
    }

    /// The soonest deadline.
    pub(super) fn next(&self) -> Option<Instant> {
        self.0.first().map(|t| t.0)
    }

    /// Removes and returns the soonest timer due at `now`: (namespace
    /// index, ack id).
    pub(super) fn pop_due(&mut self, now: Instant) -> Option<(usize, u64)> {
        let &(at, nsp, id) = self.0.first()?;
        if at > now {
            return None;
        }
        self.0.pop_first();
        Some((nsp, id))
    }

    pub(super) fn clear(&mut self) {
        self.0.clear();
    }
}
