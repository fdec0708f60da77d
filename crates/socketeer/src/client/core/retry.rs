//! A namespace's retry queue (with [`SocketOptions::retries`](super::SocketOptions::retries)):
//! packets queued in order, one in flight at a time, each sent again until
//! acknowledged or out of tries.

use std::time::{Duration, Instant};

use super::acks::{AckKind, AckTimers, AckToken, PendingAck};
use super::errors::{AckError, EmitError};
use super::namespace::{Nsp, Queued};
use super::output::{Event, Outbox, Output};
use crate::packet::EncodedMessage;
use crate::value::Value;

impl Nsp {
    /// Queues an emit (at most `max` queued), to be sent in its turn.
    pub(super) fn enqueue(
        &mut self,
        event: &str,
        args: Vec<Value>,
        token: Option<AckToken>,
        timeout: Option<Duration>,
        max: usize,
    ) -> Result<(), EmitError> {
        if self.queue.len() >= max {
            return Err(EmitError::BufferFull);
        }
        // Encoded once here to report bad input now.
        EncodedMessage::event(&self.name, event, Some(0), &args)?;
        let qid = self.queue_seq;
        self.queue_seq += 1;
        self.queue.push_back(Queued {
            qid,
            event: event.to_owned(),
            args,
            token,
            timeout,
            tries: 0,
            pending: false,
        });
        Ok(())
    }

    /// Sends the retry queue's head unless it is in flight (or `force`).
    pub(super) fn drain_queue(
        &mut self,
        force: bool,
        now: Instant,
        timers: &mut AckTimers,
        out: &mut Outbox,
    ) {
        if !self.connected {
            return;
        }
        let idx = self.idx;
        let id = self.next_ack;
        let Some(head) = self.queue.front_mut() else {
            return;
        };
        if head.pending && !force {
            return;
        }
        head.pending = true;
        head.tries = head.tries.saturating_add(1);
        let deadline = head.timeout.map(|t| now + t);
        let (qid, msg) = (
            head.qid,
            EncodedMessage::event(&self.name, &head.event, Some(id), &head.args),
        );
        self.next_ack += 1;
        // A resent packet replaces its earlier ack id.
        let stale: Vec<(u64, Option<Instant>)> = self
            .acks
            .iter()
            .filter(|(_, a)| matches!(a.kind, AckKind::Queue(q) if q == qid))
            .map(|(&i, a)| (i, a.deadline))
            .collect();
        for (i, d) in stale {
            self.acks.remove(&i);
            timers.cancel(d, idx, i);
        }
        let Ok(msg) = msg else {
            // Checked when queued; cannot happen.
            return;
        };
        self.acks.insert(
            id,
            PendingAck {
                kind: AckKind::Queue(qid),
                deadline,
            },
        );
        if let Some(d) = deadline {
            timers.insert(d, idx, id);
        }
        out.push(Output::Transmit(msg));
    }

    /// The outcome of a try of the queued packet `qid`: done when
    /// acknowledged or out of tries (its [`Event::Ack`] then goes out),
    /// else sent again; then the next packet goes.
    pub(super) fn queue_result(
        &mut self,
        qid: u64,
        result: Result<Vec<Value>, AckError>,
        now: Instant,
        timers: &mut AckTimers,
        out: &mut Outbox,
    ) {
        let retries = self.retries().unwrap_or(0);
        let Some(head) = self.queue.front_mut() else {
            return;
        };
        if head.qid != qid {
            // Already acknowledged (a late answer to an earlier try).
            return;
        }
        head.pending = false;
        let done = match &result {
            Ok(_) => true,
            Err(_) => head.tries > retries,
        };
        if done {
            let token = self.queue.pop_front().and_then(|q| q.token);
            if let Some(token) = token {
                out.event(Event::Ack { token, result });
            }
        }
        self.drain_queue(false, now, timers, out);
    }
}
