//! A namespace's session as the server drives it: the CONNECT answer that
//! joins it (delivering and sending what waited), the answers to its
//! acknowledgements, changes to their deadlines, and its disconnection
//! (failing the acknowledgements that cannot come any more), and its end
//! when the client closes.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use super::acks::{AckKind, AckTimers, AckToken, PendingAck};
use super::errors::{AckError, ConnectError, DisconnectReason};
use super::namespace::{Buffered, Nsp, Queued};
use super::output::{Event, Outbox, Output};
use crate::value::Value;

impl Nsp {
    /// The server's CONNECT answer (its data): the namespace is joined;
    /// held events are delivered, buffered packets sent, the retry queue
    /// resumed.
    pub(super) fn accept(
        &mut self,
        data: Option<&Value>,
        now: Instant,
        timers: &mut AckTimers,
        out: &mut Outbox,
    ) {
        let sid = data.and_then(|d| d.get("sid")?.as_str());
        let Some(sid) = sid.map(str::to_owned) else {
            out.event(Event::ConnectError {
                nsp: self.name.clone(),
                error: ConnectError::new("invalid CONNECT packet: no sid"),
            });
            return;
        };
        let pid = data.and_then(|d| d.get("pid")?.as_str()).map(str::to_owned);
        self.recovered = pid.is_some() && self.pid == pid;
        self.pid = pid;
        self.sid = Some(sid.clone());
        self.connected = true;
        let recovered = self.recovered;
        let nsp = self.name.clone();
        let received: Vec<_> = self.receive_buffer.drain(..).collect();
        let buffered: Vec<Buffered> = self.send_buffer.drain(..).collect();
        for (event, args, ack_id) in received {
            self.deliver(event, args, ack_id, out);
        }
        for b in buffered {
            out.push(Output::Transmit(b.msg));
        }
        self.drain_queue(true, now, timers, out);
        out.event(Event::Connect {
            nsp,
            sid,
            recovered,
        });
    }

    /// The Engine.IO connection did not open: if wanted and not joined,
    /// the namespace hears of it ([`Event::ConnectError`]).
    pub(super) fn open_failed(&self, error: &str, out: &mut Outbox) {
        if self.active && !self.connected {
            out.event(Event::ConnectError {
                nsp: self.name.clone(),
                error: ConnectError::new(error),
            });
        }
    }

    /// The server's ACK `id` (its data), if awaited.
    pub(super) fn acked(
        &mut self,
        id: u64,
        data: Option<Value>,
        now: Instant,
        timers: &mut AckTimers,
        out: &mut Outbox,
    ) {
        let Some(ack) = self.acks.remove(&id) else {
            return;
        };
        timers.cancel(ack.deadline, self.idx, id);
        let args = match data {
            Some(Value::Array(a)) => a,
            _ => Vec::new(),
        };
        match ack.kind {
            AckKind::User(token) => out.event(Event::Ack {
                token,
                result: Ok(args),
            }),
            AckKind::Queue(qid) => self.queue_result(qid, Ok(args), now, timers, out),
        }
    }

    /// The deadline of acknowledgement `id` passed: it fails with
    /// [`AckError::Timeout`] (its packet, if still buffered, is dropped),
    /// or its queued packet is tried again.
    pub(super) fn timed_out(
        &mut self,
        id: u64,
        now: Instant,
        timers: &mut AckTimers,
        out: &mut Outbox,
    ) {
        let Some(ack) = self.acks.remove(&id) else {
            return;
        };
        match ack.kind {
            AckKind::User(token) => {
                self.send_buffer.retain(|b| b.ack_id != Some(id));
                out.event(Event::Ack {
                    token,
                    result: Err(AckError::Timeout),
                });
            }
            AckKind::Queue(qid) => {
                self.queue_result(qid, Err(AckError::Timeout), now, timers, out);
            }
        }
    }

    /// Moves the deadline of acknowledgement `token` to `since + timeout`
    /// if this namespace awaits it; returns whether it does.
    pub(super) fn set_ack_timeout(
        &mut self,
        token: AckToken,
        timeout: Duration,
        since: Instant,
        timers: &mut AckTimers,
    ) -> bool {
        let idx = self.idx;
        let found = self
            .acks
            .iter_mut()
            .find(|(_, a)| matches!(a.kind, AckKind::User(t) if t == token));
        if let Some((&id, ack)) = found {
            timers.cancel(ack.deadline, idx, id);
            let d = since + timeout;
            ack.deadline = Some(d);
            timers.insert(d, idx, id);
            return true;
        }
        let Some(q) = self.queue.iter_mut().find(|q| q.token == Some(token)) else {
            return false;
        };
        q.timeout = Some(timeout);
        let (qid, pending) = (q.qid, q.pending);
        if pending {
            let in_flight = self
                .acks
                .iter_mut()
                .find(|(_, a)| matches!(a.kind, AckKind::Queue(x) if x == qid));
            if let Some((&id, ack)) = in_flight {
                timers.cancel(ack.deadline, idx, id);
                let d = since + timeout;
                ack.deadline = Some(d);
                timers.insert(d, idx, id);
            }
        }
        true
    }

    /// The namespace's disconnection: acks that cannot come any more fail.
    pub(super) fn close(
        &mut self,
        reason: DisconnectReason,
        now: Instant,
        timers: &mut AckTimers,
        out: &mut Outbox,
    ) {
        let idx = self.idx;
        let was_connected = self.connected;
        self.connected = false;
        self.sid = None;
        self.receive_buffer.clear();
        let nsp = self.name.clone();
        // Acks of buffered packets stay: those packets are yet to be sent.
        let buffered: HashSet<u64> = self.send_buffer.iter().filter_map(|b| b.ack_id).collect();
        let gone: Vec<u64> = self
            .acks
            .keys()
            .copied()
            .filter(|id| !buffered.contains(id))
            .collect();
        let mut failed = Vec::new();
        for id in gone {
            if let Some(a) = self.acks.remove(&id) {
                timers.cancel(a.deadline, idx, id);
                failed.push(a);
            }
        }
        if was_connected {
            out.event(Event::Disconnect { nsp, reason });
        }
        for a in failed {
            match a.kind {
                AckKind::User(token) => out.event(Event::Ack {
                    token,
                    result: Err(AckError::Disconnected),
                }),
                AckKind::Queue(qid) => {
                    // As socket.io-client: only an ack with a timeout
                    // hears of the disconnection; without, the packet is
                    // sent again on reconnection.
                    let with_timeout = self
                        .queue
                        .front()
                        .is_some_and(|q| q.qid == qid && q.timeout.is_some());
                    if with_timeout {
                        self.queue_result(qid, Err(AckError::Disconnected), now, timers, out);
                    }
                }
            }
        }
    }

    /// The client closes: buffered and queued packets are dropped, and
    /// every acknowledgement still awaited fails with
    /// [`AckError::Closed`].
    pub(super) fn abandon(&mut self, out: &mut Outbox) {
        self.send_buffer.clear();
        let acks: Vec<PendingAck> = self.acks.drain().map(|(_, a)| a).collect();
        let queue: Vec<Queued> = self.queue.drain(..).collect();
        for a in acks {
            if let AckKind::User(token) = a.kind {
                out.event(Event::Ack {
                    token,
                    result: Err(AckError::Closed),
                });
            }
        }
        for q in queue {
            if let Some(token) = q.token {
                out.event(Event::Ack {
                    token,
                    result: Err(AckError::Closed),
                });
            }
        }
    }
}
