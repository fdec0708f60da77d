//! Acknowledgement bookkeeping: the [`AckToken`] the application holds,
//! and what a namespace remembers of each acknowledgement it awaits.

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
