//! The transport-independent part of `io-echo`: building and checking the
//! messages and replies ([`EchoChecker`]), the per-connection pipeline of
//! messages in flight ([`EchoPipe`]) and the state the connections share
//! ([`EchoShared`]). The WebSocket transport (`io.rs`) and the long-polling
//! one (`poll.rs`) both drive it.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::time::Instant;

use hdrhistogram::Histogram;

use super::wire::{ack_id, ack_packet, event_packet, Packet};
use super::{bump, Phase, Reply, RunState};

/// One reply in 16 is compared byte for byte with the expected packet.
pub const CONTENT_CHECK_EVERY: u64 = 16;

/// Checks one reply of `io-echo` and returns the ack id it answers, if any.
pub struct EchoChecker {
    reply: Reply,
    payload: Vec<u8>,
    expected_event: Vec<u8>,
    received: u64,
}

impl EchoChecker {
    /// For replies of `reply` kind to messages carrying `payload`.
    pub fn new(reply: Reply, payload: Vec<u8>) -> EchoChecker {
        let mut expected_event = Vec::new();
        event_packet(&mut expected_event, "echo", None, &payload);
        EchoChecker {
            reply,
            payload,
            expected_event,
            received: 0,
        }
    }

    /// Appends the packet of message `id` (the ack id, in ack mode).
    pub fn message(&self, out: &mut Vec<u8>, id: u64) {
        match self.reply {
            Reply::Ack => event_packet(out, "message-with-ack", Some(id), &self.payload),
            Reply::Event => event_packet(out, "echo", None, &self.payload),
        }
    }

    /// Checks `packet` if it is a reply: `None` when it is not one, else
    /// the ack id it answers (`Some(None)` for an event reply). Acks may
    /// come in any order (a server may run handlers concurrently).
    pub fn check(&mut self, packet: &Packet<'_>) -> Result<Option<Option<u64>>, String> {
        let (packet, expected, id) = match (self.reply, packet) {
            (Reply::Ack, Packet::Ack(p)) => {
                let id = ack_id(p).ok_or("ack without an id")?;
                (*p, ack_packet(id, &self.payload), Some(id))
            }
            (Reply::Event, Packet::Event(p)) if p.starts_with(b"42[\"echo\"") => {
                (*p, self.expected_event.clone(), None)
            }
            _ => return Ok(None),
        };
        if packet.len() != expected.len() {
            return Err(format!(
                "reply of {} bytes, expected {}",
                packet.len(),
                expected.len()
            ));
        }
        self.received += 1;
        if self.received % CONTENT_CHECK_EVERY == 1 && packet != expected.as_slice() {
            return Err(format!(
                "unexpected reply {:?}",
                String::from_utf8_lossy(packet)
            ));
        }
        Ok(Some(id))
    }
}

/// Shared state of `io-echo`.
pub struct EchoShared {
    pub run: RunState,
    /// Round-trips completed in the measured phase.
    pub messages: Cell<u64>,
    /// Engine.IO pings answered.
    pub pings: Cell<u64>,
    pub latency: RefCell<Histogram<u64>>,
}

/// State of the echo pipeline of one connection, whatever the transport.
pub struct EchoPipe {
    pub checker: EchoChecker,
    pub depth: usize,
    /// Send instants and ack ids of the messages in flight, oldest first.
    pub in_flight: VecDeque<(Instant, u64)>,
    pub next_id: u64,
}

impl EchoPipe {
    /// Appends the packets needed to have `depth` in flight, each with
    /// `frame` applied to turn the packet into what the transport sends.
    pub fn top_up(&mut self, phase: Phase, mut emit: impl FnMut(&[u8])) {
        if phase == Phase::Done {
            return;
        }
        let now = Instant::now();
        let mut packet = Vec::new();
        while self.in_flight.len() < self.depth {
            packet.clear();
            self.checker.message(&mut packet, self.next_id);
            self.in_flight.push_back((now, self.next_id));
            self.next_id += 1;
            emit(&packet);
        }
    }

    /// Handles one received packet; returns whether it completed a round-trip.
    pub fn on_packet(
        &mut self,
        packet: &Packet<'_>,
        shared: &EchoSharedRef<'_>,
        received_at: Instant,
    ) -> Result<(), String> {
        let Some(id) = self.checker.check(packet)? else {
            return Ok(());
        };
        let index = match id {
            Some(id) => self
                .in_flight
                .iter()
                .position(|(_, pending)| *pending == id)
                .ok_or_else(|| format!("ack {id} answers no message in flight"))?,
            None => 0,
        };
        let (sent, _) = self
            .in_flight
            .remove(index)
            .ok_or("reply to a message that was never sent")?;
        bump(&shared.0.run.replies, 1);
        if shared.0.run.phase.get() == Phase::Measure {
            super::record(&mut shared.0.latency.borrow_mut(), sent, received_at);
            bump(&shared.0.messages, 1);
        }
        Ok(())
    }
}

/// A borrowed handle on the shared state of `io-echo` (for `poll.rs`).
pub struct EchoSharedRef<'a>(&'a EchoShared);

impl EchoShared {
    /// The run's state.
    pub fn run(&self) -> &RunState {
        &self.run
    }

    /// Adds answered pings.
    pub fn add_pings(&self, n: u64) {
        bump(&self.pings, n);
    }

    /// A handle for [`EchoPipe::on_packet`].
    pub fn handle(&self) -> EchoSharedRef<'_> {
        EchoSharedRef(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_and_checks_acks() {
        let mut checker = EchoChecker::new(Reply::Ack, b"abc".to_vec());
        let mut out = Vec::new();
        checker.message(&mut out, 7);
        assert_eq!(out, b"427[\"message-with-ack\",\"abc\"]");
        let reply = ack_packet(7, b"abc");
        assert_eq!(reply, b"437[\"abc\"]");
        assert_eq!(ack_id(&reply), Some(7));
        assert_eq!(checker.check(&Packet::Ack(&reply)).unwrap(), Some(Some(7)));
        // Content is compared on one reply in 16 (the first was checked).
        assert!(checker.check(&Packet::Ack(b"437[\"abd\"]")).is_ok());
        assert!(checker.check(&Packet::Ack(b"437[\"abcd\"]")).is_err());
        assert_eq!(
            checker.check(&Packet::Event(b"42[\"auth\",{}]")).unwrap(),
            None
        );
        let mut events = EchoChecker::new(Reply::Event, b"abc".to_vec());
        assert_eq!(
            events
                .check(&Packet::Event(b"42[\"echo\",\"abc\"]"))
                .unwrap(),
            Some(None)
        );
        assert!(events
            .check(&Packet::Event(b"42[\"echo\",\"abcd\"]"))
            .is_err());
    }
}
