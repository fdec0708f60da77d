//! What the core gives back: [`Output`]s for the driver, among them the
//! [`Event`]s for the application, and the `Outbox` that holds them
//! until polled.

use std::collections::VecDeque;
use std::sync::Arc;

use super::acks::AckToken;
use super::errors::{AckError, ConnectError, DisconnectReason};
use crate::packet::{EncodedMessage, Packet};
use crate::value::Value;

/// What the core asks the driver to do, or tells the application.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// Open an Engine.IO connection; answer with [`ManagerCore::on_open`](super::ManagerCore::on_open)
    /// or [`ManagerCore::on_open_error`](super::ManagerCore::on_open_error).
    Open,
    /// Write these Engine.IO messages, in order.
    Transmit(EncodedMessage),
    /// Close the Engine.IO connection (after writing what came before);
    /// no need to report its end.
    Close,
    /// Something for the application.
    Event(Event),
}

/// What the application hears.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A namespace was joined; `recovered` when the server restored the
    /// previous session (missed events follow).
    Connect {
        /// The namespace.
        nsp: Arc<str>,
        /// The socket id the server gave.
        sid: String,
        /// Whether connection state recovery succeeded.
        recovered: bool,
    },
    /// Joining a namespace failed: a CONNECT_ERROR from the server (the
    /// namespace is then given up), or an Engine.IO connection that did
    /// not open (reconnection goes on).
    ConnectError {
        /// The namespace.
        nsp: Arc<str>,
        /// What went wrong.
        error: ConnectError,
    },
    /// A joined namespace was left.
    Disconnect {
        /// The namespace.
        nsp: Arc<str>,
        /// Why.
        reason: DisconnectReason,
    },
    /// An event from the server.
    Message {
        /// The namespace.
        nsp: Arc<str>,
        /// The event name.
        event: String,
        /// Its arguments (with the recovery offset last, as the server
        /// sent them, when the server has connection state recovery).
        args: Vec<Value>,
        /// The ack id to answer with [`ManagerCore::ack`](super::ManagerCore::ack), if asked.
        ack_id: Option<u64>,
    },
    /// The outcome of an emit that asked for an acknowledgement.
    Ack {
        /// The token the emit returned.
        token: AckToken,
        /// The acknowledgement's arguments, or why none came.
        result: Result<Vec<Value>, AckError>,
    },
    /// The Engine.IO connection opened (the first time and after each
    /// reconnection): socket.io-client's Manager `open`.
    Open,
    /// The open Engine.IO connection ended, with the reason: the Manager's
    /// `close` (the namespaces' [`Disconnect`](Self::Disconnect) follow).
    Close(DisconnectReason),
    /// The server pinged: the Manager's `ping`.
    Ping,
    /// The Engine.IO connection did not open (`"timeout"`, or the
    /// transport's error): the Manager's `error`. The namespaces'
    /// [`ConnectError`](Self::ConnectError) follow, and
    /// [`ReconnectError`](Self::ReconnectError) during a reconnection.
    Error(String),
    /// A reconnection attempt starts (1 for the first).
    ReconnectAttempt(u32),
    /// Reconnected, after this many attempts.
    Reconnect(u32),
    /// A reconnection attempt failed.
    ReconnectError(String),
    /// Reconnection gave up after
    /// [`ManagerConfig::reconnection_attempts`](super::ManagerConfig::reconnection_attempts).
    ReconnectFailed,
}

/// The outputs not yet polled, in order, with a count of the transmits
/// among them (bounded by [`ManagerConfig::max_buffered`](super::ManagerConfig::max_buffered)).
#[derive(Debug, Default)]
pub(super) struct Outbox {
    queue: VecDeque<Output>,
    transmits: usize,
}

impl Outbox {
    /// The next output, in order.
    pub(super) fn pop(&mut self) -> Option<Output> {
        let o = self.queue.pop_front()?;
        if matches!(o, Output::Transmit(_)) {
            self.transmits = self.transmits.saturating_sub(1);
        }
        Some(o)
    }

    pub(super) fn push(&mut self, o: Output) {
        if matches!(o, Output::Transmit(_)) {
            self.transmits += 1;
        }
        self.queue.push_back(o);
    }

    pub(super) fn event(&mut self, e: Event) {
        self.queue.push_back(Output::Event(e));
    }

    /// Queues `packet` for writing (dropped, with a warning, if it cannot
    /// be encoded).
    pub(super) fn transmit(&mut self, packet: &Packet) {
        match packet.encode_message() {
            Ok(m) => self.push(Output::Transmit(m)),
            Err(e) => tracing::warn!(error = %e, "cannot encode packet; dropped"),
        }
    }

    /// How many transmits wait to be polled.
    pub(super) fn transmits(&self) -> usize {
        self.transmits
    }
}
