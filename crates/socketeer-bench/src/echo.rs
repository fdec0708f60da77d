//! The transport-independent part of `io-echo`: building and checking the
//! messages and replies ([`EchoChecker`]), the per-connection pipeline of
//! messages in flight ([`EchoPipe`]) and the state the connections share
//! ([`EchoShared`]). The WebSocket transport (`io.rs`) and the long-polling
//! one (`poll.rs`) both drive it.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::time::Instant;

use hdrhistogram::Histogram;

use super::pace::Pacer;
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
    /// With `--rate`: messages due in the measured phase but not sent
    /// (`depth` were in flight on their connection).
    pub missed: Cell<u64>,
}

/// State of the echo pipeline of one connection, whatever the transport.
pub struct EchoPipe {
    pub checker: EchoChecker,
    pub depth: usize,
    /// Send instants and ack ids of the messages in flight, oldest first.
    pub in_flight: VecDeque<(Instant, u64)>,
    pub next_id: u64,
    /// The packet being built (reused).
    packet: Vec<u8>,
}

impl EchoPipe {
    /// A pipeline of at most `depth` messages in flight, none yet.
    pub fn new(checker: EchoChecker, depth: usize) -> EchoPipe {
        EchoPipe {
            checker,
            depth,
            in_flight: VecDeque::with_capacity(depth),
            next_id: 0,
            packet: Vec::new(),
        }
    }

    /// Appends the packets needed to have `depth` in flight, each with
    /// `frame` applied to turn the packet into what the transport sends.
    pub fn top_up(&mut self, phase: Phase, mut emit: impl FnMut(&[u8])) {
        if phase == Phase::Done {
            return;
        }
        let now = Instant::now();
        while self.send(now, &mut emit) {}
    }

    /// Sends one message timed from `at`, unless `depth` are in flight;
    /// returns whether it was sent (at a fixed rate, one not sent is missed).
    pub fn send(&mut self, at: Instant, mut emit: impl FnMut(&[u8])) -> bool {
        if self.in_flight.len() >= self.depth {
            return false;
        }
        self.packet.clear();
        self.checker.message(&mut self.packet, self.next_id);
        self.in_flight.push_back((at, self.next_id));
        self.next_id += 1;
        emit(&self.packet);
        true
    }

    /// At a fixed rate: sends every message of `pacer` due by `now`, each
    /// timed from when it was due; returns how many of them were missed
    /// (due while `depth` were in flight).
    pub fn send_due(
        &mut self,
        pacer: &mut Pacer,
        now: Instant,
        mut emit: impl FnMut(&[u8]),
    ) -> u64 {
        let mut missed = 0;
        while let Some(due) = pacer.pop_due(now) {
            if !self.send(due, &mut emit) {
                missed += 1;
            }
        }
        missed
    }

    /// Emits the messages owed now: enough to have `depth` in flight or,
    /// with a pacer, those due by now (those due while `depth` are in
    /// flight are missed, and counted in `shared` in the measured phase).
    pub fn owed(
        &mut self,
        shared: &EchoShared,
        phase: Phase,
        pacer: Option<&mut Pacer>,
        emit: impl FnMut(&[u8]),
    ) {
        match pacer {
            None => self.top_up(phase, emit),
            Some(_) if phase == Phase::Done => {}
            Some(pacer) => {
                let missed = self.send_due(pacer, Instant::now(), emit);
                if phase == Phase::Measure {
                    bump(&shared.missed, missed);
                }
            }
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
    fn a_paced_pipe_sends_what_is_due_up_to_its_depth() {
        let epoch = Instant::now();
        let mut pipe = EchoPipe::new(EchoChecker::new(Reply::Ack, b"x".to_vec()), 2);
        // One stream at 1,000/s: due at 0, 1, 2, 3 ms.
        let mut pacer = Pacer::new(epoch, 1000.0, 1, 0);
        let mut sent = Vec::new();
        let now = epoch + std::time::Duration::from_micros(3500);
        let missed = pipe.send_due(&mut pacer, now, |p| sent.push(p.to_vec()));
        // Depth 2: two sent, two missed (no reply came meanwhile).
        assert_eq!(missed, 2);
        assert_eq!(
            sent,
            [
                &b"420[\"message-with-ack\",\"x\"]"[..],
                &b"421[\"message-with-ack\",\"x\"]"[..]
            ]
        );
        // Each is timed from when it was due, not from `now`.
        let due: Vec<_> = pipe
            .in_flight
            .iter()
            .map(|(at, id)| (*at - epoch, *id))
            .collect();
        assert_eq!(
            due,
            [
                (std::time::Duration::ZERO, 0),
                (std::time::Duration::from_millis(1), 1)
            ]
        );
        // Nothing more is due before 4 ms; a reply frees a slot for the next.
        assert_eq!(pipe.send_due(&mut pacer, now, |_| panic!("not due")), 0);
        pipe.in_flight.pop_front();
        sent.clear();
        let later = epoch + std::time::Duration::from_millis(4);
        assert_eq!(
            pipe.send_due(&mut pacer, later, |p| sent.push(p.to_vec())),
            0
        );
        assert_eq!(sent.len(), 1);
        assert_eq!(pipe.in_flight.back().map(|(_, id)| *id), Some(2));
    }

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
