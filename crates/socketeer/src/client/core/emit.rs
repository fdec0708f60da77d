//! How a namespace takes an emit: into its retry queue if it has one;
//! dropped if volatile while there is no connection; else written at once
//! when joined, or held in its offline buffer until it is, with the
//! acknowledgement it awaits registered (and its deadline timed).

use std::time::Instant;

use super::acks::{AckKind, AckTimers, AckToken, PendingAck};
use super::errors::{AckError, EmitError};
use super::namespace::{Buffered, Nsp};
use super::options::{EmitFlags, ManagerConfig};
use super::output::{Event, Outbox, Output};
use crate::packet::EncodedMessage;
use crate::value::Value;

/// One emit, as the application asked for it.
pub(super) struct Emit<'a> {
    pub(super) event: &'a str,
    pub(super) args: Vec<Value>,
    pub(super) flags: EmitFlags,
    /// The token of its acknowledgement, when asked for one.
    pub(super) token: Option<AckToken>,
}

impl Nsp {
    /// Takes an emit; `open`: whether the Engine.IO connection is. The
    /// token, if any, is used when this succeeds.
    pub(super) fn emit(
        &mut self,
        e: Emit<'_>,
        open: bool,
        config: &ManagerConfig,
        now: Instant,
        timers: &mut AckTimers,
        out: &mut Outbox,
    ) -> Result<(), EmitError> {
        let Emit {
            event,
            args,
            flags,
            token,
        } = e;
        let timeout = flags.timeout.or(self.opts.ack_timeout);
        if self.retries().is_some() && !flags.volatile {
            self.enqueue(event, args, token, timeout, config.max_buffered)?;
            self.drain_queue(false, now, timers, out);
            return Ok(());
        }
        if flags.volatile && !open {
            // Dropped, as socket.io-client does when the transport is not
            // writable; an ack will never come.
            if let Some(token) = token {
                out.event(Event::Ack {
                    token,
                    result: Err(AckError::Disconnected),
                });
            }
            return Ok(());
        }
        let ack = token.map(|t| (t, timeout.map(|d| now + d)));
        self.send(event, args, ack, config, timers, out)
    }

    /// Sends `event` now (joined) or buffers it; `ack` is the token
    /// awaited and its deadline. Fails when the output queue (joined) or
    /// the offline buffer is full, or too many acks are awaited.
    fn send(
        &mut self,
        event: &str,
        args: Vec<Value>,
        ack: Option<(AckToken, Option<Instant>)>,
        config: &ManagerConfig,
        timers: &mut AckTimers,
        out: &mut Outbox,
    ) -> Result<(), EmitError> {
        let max = config.max_buffered;
        let send_now = self.connected;
        if send_now && out.transmits() >= max || !send_now && self.send_buffer.len() >= max {
            return Err(EmitError::BufferFull);
        }
        if ack.is_some() && self.acks.len() >= config.max_pending_acks {
            return Err(EmitError::TooManyPendingAcks);
        }
        let ack_id = ack.map(|_| self.next_ack);
        let msg = EncodedMessage::event(&self.name, event, ack_id, &args)?;
        if let (Some((token, deadline)), Some(id)) = (ack, ack_id) {
            self.next_ack += 1;
            self.acks.insert(
                id,
                PendingAck {
                    kind: AckKind::User(token),
                    deadline,
                },
            );
            if let Some(d) = deadline {
                timers.insert(d, self.idx, id);
            }
        }
        if send_now {
            out.push(Output::Transmit(msg));
        } else {
            self.send_buffer.push_back(Buffered { msg, ack_id });
        }
        Ok(())
    }
}
