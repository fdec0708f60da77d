//! A session's outbox: the packets queued for it, in order, until its
//! task (or a direct write, see `direct.rs`) sends them.
//!
//! It keeps their wire length beside them (the queue limit is counted in
//! bytes of WebSocket frames), the session's pending close, the barrier
//! that gives a handshake reply a write of its own, and, while the
//! session's task sleeps, the WebSocket writer it lends for direct writes
//! (a parked session). The outbox is a plain data structure behind the
//! session's lock; the session (`socket.rs`) decides what goes in.

use std::collections::VecDeque;

use super::core::CloseReason;
use crate::{Payload, PreparedFrame};

/// A packet queued for a session.
#[derive(Debug, Clone)]
pub(crate) enum Outgoing {
    /// An encoded Engine.IO packet.
    Payload(Payload),
    /// The same, with its WebSocket frame built once for every recipient
    /// of a broadcast.
    Prepared(PreparedFrame),
    /// An encoded packet never compressed over WebSocket
    /// (`compress(false)`).
    Uncompressed(Payload),
    /// A prepared frame never compressed over WebSocket
    /// (`compress(false)`).
    PreparedUncompressed(PreparedFrame),
    /// The rest of a prepared frame whose first bytes (this many) were
    /// written directly (see `direct.rs`): it leaves before anything else.
    PreparedRest(PreparedFrame, usize),
}

impl Outgoing {
    /// What the packet adds to the session's queue: its WebSocket frame's
    /// length (a prepared frame's bytes are shared, but each recipient
    /// holds them until it has written them).
    pub(crate) fn wire_len(&self) -> usize {
        match self {
            Outgoing::Payload(p) | Outgoing::Uncompressed(p) => PreparedFrame::wire_len_of(p.len()),
            Outgoing::Prepared(f) | Outgoing::PreparedUncompressed(f) => f.wire_len(),
            Outgoing::PreparedRest(f, written) => f.wire_len() - written,
        }
    }

    /// The Engine.IO packet (sliced from the prepared frame, no copy).
    pub(crate) fn into_payload(self) -> Payload {
        match self {
            Outgoing::Payload(p) | Outgoing::Uncompressed(p) => p,
            Outgoing::Prepared(f)
            | Outgoing::PreparedUncompressed(f)
            | Outgoing::PreparedRest(f, _) => f.payload(),
        }
    }
}

/// What waits to be sent to one session (behind its lock).
#[derive(Debug, Default)]
pub(crate) struct Outbox {
    frames: VecDeque<Outgoing>,
    /// The wire length of `frames`.
    bytes: usize,
    pub(crate) close: Option<CloseReason>,
    /// The first this many frames leave in a write of their own (a
    /// `u32`: the outbox stays within one allocation size class).
    pub(crate) barrier: Option<std::num::NonZeroU32>,
    /// The session's task sleeps with nothing to write and has lent its
    /// WebSocket's writer (see `direct.rs`).
    pub(crate) parked: Option<Parked>,
    /// A batch will write to this parked session (it need not be woken).
    pub(crate) claimed: bool,
}

impl Outbox {
    /// Queues `item`, whose wire length is `len`.
    pub(crate) fn push(&mut self, item: Outgoing, len: usize) {
        self.frames.push_back(item);
        self.bytes += len;
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }

    pub(crate) fn len(&self) -> usize {
        self.frames.len()
    }

    /// Drops every frame queued, and the barrier (the session closes for
    /// going over its queue limit).
    pub(crate) fn drop_queued(&mut self) {
        self.frames = VecDeque::new();
        self.bytes = 0;
        self.barrier = None;
    }

    /// Takes every frame queued.
    pub(crate) fn take(&mut self) -> VecDeque<Outgoing> {
        self.bytes = 0;
        std::mem::take(&mut self.frames)
    }

    /// Takes the first `n` frames.
    pub(crate) fn take_first(&mut self, n: usize) -> VecDeque<Outgoing> {
        let rest = self.frames.split_off(n.min(self.frames.len()));
        let first = std::mem::replace(&mut self.frames, rest);
        let taken: usize = first.iter().map(Outgoing::wire_len).sum();
        self.bytes = self.bytes.saturating_sub(taken);
        first
    }

    /// Bytes queued here.
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    /// The frames queued, in order.
    pub(crate) fn frames(&self) -> &VecDeque<Outgoing> {
        &self.frames
    }

    /// Removes the first `written` bytes of the queue's prepared frames
    /// (written directly): whole frames, and the rest of a frame cut in
    /// two stays first. Returns how many whole frames were removed.
    pub(crate) fn drop_written(&mut self, mut written: usize) -> usize {
        self.bytes -= written;
        let mut whole = 0;
        while let Some(front) = self.frames.front() {
            let len = front.wire_len();
            if written >= len {
                written -= len;
                whole += 1;
                self.frames.pop_front();
                continue;
            }
            if written > 0 {
                if let Some(Outgoing::Prepared(f) | Outgoing::PreparedUncompressed(f)) =
                    self.frames.pop_front()
                {
                    self.frames.push_front(Outgoing::PreparedRest(f, written));
                }
            }
            break;
        }
        whole
    }
}

/// The writer a parked session lends, and what it may write (see
/// `direct.rs`).
#[derive(Debug)]
pub(crate) struct Parked {
    pub(crate) writer: socketeer_ws::direct::DirectWriter,
    /// Prepared frames whose payload is at least this long are compressed
    /// by the WebSocket (permessage-deflate): not for a direct write.
    pub(crate) compress_from: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An Engine.IO message packet of `n` bytes ("4" and n - 1 of data):
    /// a frame of n + 2 bytes while n <= 125.
    fn text(n: usize) -> Payload {
        Payload::Text(format!("4{}", "x".repeat(n - 1)).into())
    }

    fn queue(outbox: &mut Outbox, item: Outgoing) {
        let len = item.wire_len();
        outbox.push(item, len);
    }

    /// Every session keeps one, inside its state (see `socket.rs`): each
    /// 16 bytes is a size class of that allocation.
    #[test]
    fn the_outbox_stays_small() {
        assert!(std::mem::size_of::<Outbox>() <= 64);
    }

    #[test]
    fn a_direct_write_removes_whole_frames_and_keeps_the_rest_of_a_cut_one_first() {
        let mut outbox = Outbox::default();
        let a = PreparedFrame::from_payload(text(10));
        let b = PreparedFrame::from_payload(text(20));
        queue(&mut outbox, Outgoing::Prepared(a.clone()));
        queue(&mut outbox, Outgoing::Prepared(b.clone()));
        queue(&mut outbox, Outgoing::Payload(text(5)));
        assert_eq!(outbox.bytes(), 12 + 22 + 7);
        // All of `a` and 5 bytes of `b` went out.
        assert_eq!(outbox.drop_written(12 + 5), 1);
        assert_eq!(outbox.len(), 2);
        assert_eq!(outbox.bytes(), 17 + 7);
        match outbox.frames().front() {
            Some(Outgoing::PreparedRest(f, 5)) => assert_eq!(f.wire_bytes(), b.wire_bytes()),
            other => panic!("the rest of b first, got {other:?}"),
        }
        assert_eq!(outbox.frames()[0].wire_len(), 17);
        // Then the rest of `b`, exactly: the plain frame stays.
        assert_eq!(outbox.drop_written(17), 1);
        assert_eq!(outbox.len(), 1);
        assert_eq!(outbox.bytes(), 7);
        // Nothing written, nothing removed.
        assert_eq!(outbox.drop_written(0), 0);
        assert_eq!(outbox.len(), 1);
    }

    #[test]
    fn taking_part_of_the_outbox_keeps_the_rest_counted() {
        let mut outbox = Outbox::default();
        queue(&mut outbox, Outgoing::Payload(text(10)));
        queue(&mut outbox, Outgoing::Payload(text(20)));
        let first = outbox.take_first(1);
        assert_eq!(first.len(), 1);
        assert_eq!(outbox.bytes(), 22);
        assert_eq!(outbox.take().len(), 1);
        assert_eq!(outbox.bytes(), 0);
    }

    #[test]
    fn dropping_what_is_queued_clears_the_count_and_the_barrier() {
        let mut outbox = Outbox::default();
        queue(&mut outbox, Outgoing::Payload(text(10)));
        outbox.barrier = std::num::NonZeroU32::new(1);
        outbox.drop_queued();
        assert!(outbox.is_empty());
        assert_eq!(outbox.bytes(), 0);
        assert_eq!(outbox.barrier, None);
    }
}
