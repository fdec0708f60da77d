//! How a namespace without a retry queue takes an emit: written at once
//! when joined, else held in its offline buffer until it is, with the
//! acknowledgement it awaits registered (and its deadline timed).

use std::time::Instant;

use super::acks::{AckKind, AckTimers, AckToken, PendingAck};
use super::errors::EmitError;
use super::namespace::{Buffered, Nsp};
use super::options::ManagerConfig;
use super::output::{Outbox, Output};
use crate::packet::EncodedMessage;
use crate::value::Value;

impl Nsp {
    /// Sends `event` now (joined) or buffers it; `ack` is the token
    /// awaited and its deadline. Fails when the output queue (joined) or
    /// the offline buffer is full, or too many acks are awaited.
    pub(super) fn send(
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
