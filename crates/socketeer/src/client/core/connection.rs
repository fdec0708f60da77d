//! The Engine.IO connection as the core sees it: closed, opening (with
//! its open deadline) or open; and reconnection: the backoff and its
//! jitter, whether an attempt is scheduled and when, and whether
//! reconnecting is off because the client gave up.

use std::time::{Duration, Instant};

use super::options::ManagerConfig;
use super::output::{Event, Outbox, Output};
use crate::client::backoff::{Backoff, Rng};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Ready {
    Closed,
    Opening,
    Open,
}

#[derive(Debug)]
pub(super) struct Connection {
    pub(super) ready: Ready,
    pub(super) open_deadline: Option<Instant>,
    pub(super) reconnecting: bool,
    pub(super) reconnect_at: Option<Instant>,
    pub(super) skip_reconnect: bool,
    pub(super) backoff: Backoff,
    rng: Rng,
    /// From [`ManagerConfig`]: whether to reconnect, how many attempts,
    /// how long an opening may take.
    reconnection: bool,
    reconnection_attempts: Option<u32>,
    timeout: Option<Duration>,
}

impl Connection {
    /// Closed, with `config`'s reconnection; `seed` seeds the jitter.
    pub(super) fn new(config: &ManagerConfig, seed: u64) -> Connection {
        Connection {
            ready: Ready::Closed,
            open_deadline: None,
            reconnecting: false,
            reconnect_at: None,
            skip_reconnect: false,
            backoff: Backoff::new(
                config.reconnection_delay,
                config.reconnection_delay_max,
                config.randomization_factor,
            ),
            rng: Rng::new(seed),
            reconnection: config.reconnection,
            reconnection_attempts: config.reconnection_attempts,
            timeout: config.timeout,
        }
    }

    /// Asks for a connection ([`Output::Open`]) unless there is one.
    pub(super) fn open(&mut self, now: Instant, out: &mut Outbox) {
        if self.ready != Ready::Closed {
            return;
        }
        self.ready = Ready::Opening;
        self.skip_reconnect = false;
        self.open_deadline = self.timeout.map(|t| now + t);
        out.push(Output::Open);
    }

    /// The connection opened; with the attempt it took when it was a
    /// reconnection (the backoff then starts over).
    pub(super) fn opened(&mut self) -> Option<u32> {
        self.ready = Ready::Open;
        self.open_deadline = None;
        if !self.reconnecting {
            return None;
        }
        let attempt = self.backoff.attempts();
        self.reconnecting = false;
        self.backoff.reset();
        Some(attempt)
    }

    /// The connection did not open.
    pub(super) fn open_failed(&mut self) {
        self.ready = Ready::Closed;
        self.open_deadline = None;
    }

    /// After [`open_failed`](Self::open_failed) and the namespaces' errors:
    /// the next attempt is scheduled (a failed reconnection also reports
    /// [`Event::ReconnectError`]).
    pub(super) fn retry_after_failure(&mut self, error: &str, now: Instant, out: &mut Outbox) {
        if self.reconnecting {
            self.reconnecting = false;
            self.reconnect(now, out);
            out.event(Event::ReconnectError(error.to_owned()));
        } else if self.reconnection && self.backoff.attempts() == 0 {
            self.reconnect(now, out);
        }
    }

    /// Whether the opening under way has passed its deadline.
    pub(super) fn open_timed_out(&self, now: Instant) -> bool {
        self.ready == Ready::Opening && self.open_deadline.is_some_and(|d| d <= now)
    }

    /// Whether a scheduled reconnection attempt is due at `now` (and still
    /// wanted).
    pub(super) fn attempt_due(&mut self, now: Instant) -> bool {
        if self.reconnect_at.is_some_and(|at| at <= now) {
            self.reconnect_at = None;
            return !self.skip_reconnect;
        }
        false
    }

    /// No more reconnection: the client closes.
    pub(super) fn give_up(&mut self) {
        self.skip_reconnect = true;
        self.reconnecting = false;
        self.reconnect_at = None;
    }

    /// The open connection ended.
    pub(super) fn closed(&mut self) {
        self.backoff.reset();
        self.ready = Ready::Closed;
        self.open_deadline = None;
    }

    /// After [`closed`](Self::closed) and the namespaces' disconnection:
    /// reconnects if configured and wanted.
    pub(super) fn reconnect_after_close(&mut self, now: Instant, out: &mut Outbox) {
        if self.reconnection && !self.skip_reconnect {
            self.reconnect(now, out);
        }
    }

    /// Schedules the next attempt, or gives up ([`Event::ReconnectFailed`])
    /// after the configured number of attempts.
    fn reconnect(&mut self, now: Instant, out: &mut Outbox) {
        if self.reconnecting || self.skip_reconnect {
            return;
        }
        let limit = self.reconnection_attempts.unwrap_or(u32::MAX);
        if self.backoff.attempts() >= limit {
            self.backoff.reset();
            out.event(Event::ReconnectFailed);
            self.reconnecting = false;
        } else {
            let delay = self.backoff.duration(self.rng.next_f64());
            self.reconnecting = true;
            self.reconnect_at = Some(now + delay);
        }
    }
}
