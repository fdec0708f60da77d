//! The Sans-I/O client core: one Engine.IO connection multiplexing
//! namespaces, with reconnection, buffering, acknowledgements, retries
//! and connection state recovery. No I/O, no clock: the driver feeds it
//! what happened (with the time) and carries out its [`Output`]s.
//!
//! ```
//! use std::time::Instant;
//! use socketeer::client::core::{ManagerConfig, ManagerCore, Output, Event, EmitFlags};
//! use socketeer::client::SocketOptions;
//! use socketeer::Value;
//!
//! let now = Instant::now();
//! let mut core = ManagerCore::new(ManagerConfig::default(), 7);
//! core.connect("/", SocketOptions::default(), now);
//! assert!(matches!(core.poll_output(), Some(Output::Open))); // open an Engine.IO connection
//! // Emitted before the namespace is joined: buffered.
//! core.emit("/", "hello", vec![Value::from(1)], EmitFlags::default(), now)?;
//! core.on_open(now); // the Engine.IO connection is open
//! assert!(matches!(core.poll_output(), Some(Output::Event(Event::Open))));
//! assert!(matches!(core.poll_output(), Some(Output::Transmit(m)) if m.text == "40"));
//! core.on_text(r#"0{"sid":"abc"}"#, now); // the server accepted the namespace
//! assert!(matches!(core.poll_output(), Some(Output::Transmit(m)) if m.text == r#"42["hello",1]"#));
//! assert!(matches!(core.poll_output(), Some(Output::Event(Event::Connect { sid, .. })) if sid == "abc"));
//! # Ok::<(), socketeer::client::EmitError>(())
//! ```

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use socketeer_engineio::Payload;

use self::acks::AckTimers;
use self::connection::{Connection, Ready};
use self::emit::Emit;
use self::namespace::{Namespaces, Nsp};
use crate::packet::{is_reserved_event, DecodeError, Decoder, DecoderConfig, Packet, PacketType};
use crate::value::Value;

mod acks;
mod connection;
mod emit;
mod errors;
mod namespace;
mod options;
mod output;
mod retry;
mod session;

pub use self::acks::AckToken;
pub use self::errors::{AckError, ConnectError, DisconnectReason, EmitError};
pub use self::options::{AsyncAuth, Auth, AuthFuture, EmitFlags, ManagerConfig, SocketOptions};
use self::output::Outbox;
pub use self::output::{Event, Output};

/// The client state machine: see the [module docs](self).
///
/// Inputs: [`connect`](Self::connect), [`emit`](Self::emit),
/// [`ack`](Self::ack), [`disconnect`](Self::disconnect) from the
/// application; [`on_open`](Self::on_open),
/// [`on_open_error`](Self::on_open_error), [`on_message`](Self::on_message),
/// [`on_close`](Self::on_close) from the Engine.IO connection;
/// [`handle_timeout`](Self::handle_timeout) when
/// [`poll_timeout`](Self::poll_timeout) is reached. Outputs:
/// [`poll_output`](Self::poll_output).
pub struct ManagerCore {
    config: ManagerConfig,
    conn: Connection,
    nsps: Namespaces,
    decoder: Decoder,
    timers: AckTimers,
    out: Outbox,
    next_token: AckToken,
}

impl fmt::Debug for ManagerCore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ManagerCore")
            .field("ready", &self.conn.ready)
            .field("reconnecting", &self.conn.reconnecting)
            .field("namespaces", &self.nsps.names().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl ManagerCore {
    /// A core with `config`; `seed` seeds the backoff jitter.
    pub fn new(config: ManagerConfig, seed: u64) -> ManagerCore {
        let decoder = Decoder::with_config(DecoderConfig {
            max_attachments: config.max_attachments,
        });
        ManagerCore {
            conn: Connection::new(&config, seed),
            config,
            nsps: Namespaces::default(),
            decoder,
            timers: AckTimers::default(),
            out: Outbox::default(),
            next_token: 0,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &ManagerConfig {
        &self.config
    }

    // ----------------------------------------------------------------
    // Queries

    /// Whether the Engine.IO connection is open.
    pub fn is_open(&self) -> bool {
        self.conn.ready == Ready::Open
    }

    /// Whether a reconnection is scheduled or under way.
    pub fn is_reconnecting(&self) -> bool {
        self.conn.reconnecting
    }

    /// Whether the namespace is joined.
    pub fn connected(&self, nsp: &str) -> bool {
        self.nsp(nsp).is_some_and(|n| n.connected)
    }

    /// Whether the namespace is wanted: joined, or to be joined on the
    /// next connection (false after a server or client disconnect, or a
    /// CONNECT_ERROR).
    pub fn active(&self, nsp: &str) -> bool {
        self.nsp(nsp).is_some_and(|n| n.active)
    }

    /// The namespace's socket id while joined.
    pub fn sid(&self, nsp: &str) -> Option<&str> {
        self.nsp(nsp)?.sid.as_deref()
    }

    /// Whether the last join of the namespace recovered its session.
    pub fn recovered(&self, nsp: &str) -> bool {
        self.nsp(nsp).is_some_and(|n| n.recovered)
    }

    /// The recovery session id the server gave (`pid`), if any.
    pub fn pid(&self, nsp: &str) -> Option<&str> {
        self.nsp(nsp)?.pid.as_deref()
    }

    /// The offset of the last event received, sent back on reconnection.
    pub fn last_offset(&self, nsp: &str) -> Option<&str> {
        self.nsp(nsp)?.last_offset.as_deref()
    }

    /// Packets held for the namespace until it is joined.
    pub fn buffered(&self, nsp: &str) -> usize {
        self.nsp(nsp).map_or(0, |n| n.send_buffer.len())
    }

    /// Packets in the namespace's retry queue.
    pub fn queued(&self, nsp: &str) -> usize {
        self.nsp(nsp).map_or(0, |n| n.queue.len())
    }

    /// Reconnection attempts counted by the backoff.
    pub fn attempts(&self) -> u32 {
        self.conn.backoff.attempts()
    }

    fn nsp(&self, name: &str) -> Option<&Nsp> {
        self.nsps.named(name)
    }

    // ----------------------------------------------------------------
    // Outputs and time

    /// The next output, in order.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop()
    }

    /// When [`handle_timeout`](Self::handle_timeout) is next due.
    pub fn poll_timeout(&self) -> Option<Instant> {
        [
            self.conn.reconnect_at,
            self.conn.open_deadline,
            self.timers.next(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Runs what is due at `now`: acknowledgement timeouts, a connection
    /// attempt that takes too long, the next reconnection attempt.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some((idx, id)) = self.timers.pop_due(now) {
            if let Some(n) = self.nsps.get_mut(idx) {
                n.timed_out(id, now, &mut self.timers, &mut self.out);
            }
        }
        if self.conn.open_timed_out(now) {
            self.out.push(Output::Close);
            self.on_open_error("timeout", now);
        }
        if self.conn.attempt_due(now) {
            self.out
                .event(Event::ReconnectAttempt(self.conn.backoff.attempts()));
            self.conn.open(now, &mut self.out);
        }
    }

    // ----------------------------------------------------------------
    // The application

    /// Joins namespace `nsp` (with `opts` the first time; later calls keep
    /// the first options): on the open connection at once, else on the
    /// next one, opening it if needed. Again after a server or client
    /// disconnect, it joins anew.
    pub fn connect(&mut self, nsp: &str, opts: SocketOptions, now: Instant) {
        self.register(nsp, opts);
        self.join(nsp, now);
    }

    /// Declares namespace `nsp` with `opts` without joining it (nothing
    /// changes if it exists), so that emits can be buffered.
    pub fn register(&mut self, nsp: &str, opts: SocketOptions) {
        self.nsps.declare(nsp, opts);
    }

    /// Joins a namespace declared with [`register`](Self::register) (as
    /// [`connect`](Self::connect)).
    pub fn join(&mut self, nsp: &str, now: Instant) {
        let Some(n) = self.nsps.named_mut(nsp) else {
            return;
        };
        if n.connected || n.active {
            return;
        }
        n.active = true;
        if !self.conn.reconnecting {
            self.conn.open(now, &mut self.out);
        }
        if self.conn.ready == Ready::Open {
            self.out.transmit(&n.connect_packet());
        }
    }

    /// The [`Auth::Async`] payloads to await before the next
    /// [`on_open`](Self::on_open): those of the wanted namespaces with no
    /// value set since their last CONNECT. The driver awaits them and
    /// hands each value over with [`set_auth`](Self::set_auth).
    pub fn pending_auths(&self) -> Vec<(Arc<str>, AsyncAuth)> {
        self.nsps
            .iter()
            .filter(|n| n.active && !n.auth_fresh)
            .filter_map(|n| match &n.opts.auth {
                Auth::Async(f) => Some((n.name.clone(), f.clone())),
                _ => None,
            })
            .collect()
    }

    /// The [`Auth::Async`] function of `nsp`, if it has one.
    pub fn async_auth(&self, nsp: &str) -> Option<AsyncAuth> {
        match &self.nsp(nsp)?.opts.auth {
            Auth::Async(f) => Some(f.clone()),
            _ => None,
        }
    }

    /// The value `nsp`'s [`Auth::Async`] payload resolved to, for its next
    /// CONNECT (later ones reuse it until a new value is set).
    pub fn set_auth(&mut self, nsp: &str, value: Value) {
        if let Some(n) = self.nsps.named_mut(nsp) {
            n.resolved_auth = Some(value);
            n.auth_fresh = true;
        }
    }

    /// Emits `event` with `args` on `nsp`. Sent at once when the namespace
    /// is joined; else buffered until it is (a volatile emit is dropped
    /// when there is no open connection). With `flags.ack`, returns the
    /// token of the [`Event::Ack`] to come.
    pub fn emit(
        &mut self,
        nsp: &str,
        event: &str,
        args: Vec<Value>,
        flags: EmitFlags,
        now: Instant,
    ) -> Result<Option<AckToken>, EmitError> {
        if is_reserved_event(event) {
            return Err(EmitError::ReservedEvent(event.to_owned()));
        }
        let idx = self
            .nsps
            .index_of(nsp)
            .ok_or_else(|| EmitError::UnknownNamespace(nsp.to_owned()))?;
        let open = self.conn.ready == Ready::Open;
        let token = flags.ack.then_some(self.next_token);
        let Some(n) = self.nsps.get_mut(idx) else {
            return Err(EmitError::UnknownNamespace(nsp.to_owned()));
        };
        let e = Emit {
            event,
            args,
            flags,
            token,
        };
        n.emit(e, open, &self.config, now, &mut self.timers, &mut self.out)?;
        if token.is_some() {
            self.next_token += 1;
        }
        Ok(token)
    }

    /// Changes how long the acknowledgement `token` is awaited: until
    /// `since + timeout` (for a packet of a retry queue, each try waits
    /// `timeout`). Nothing changes if it is no longer awaited.
    pub fn set_ack_timeout(&mut self, token: AckToken, timeout: Duration, since: Instant) {
        for n in self.nsps.iter_mut() {
            if n.set_ack_timeout(token, timeout, since, &mut self.timers) {
                return;
            }
        }
    }

    /// Answers the server's event that asked for an acknowledgement.
    pub fn ack(&mut self, nsp: &str, id: u64, args: Vec<Value>) -> Result<(), EmitError> {
        if self.conn.ready != Ready::Open {
            return Err(EmitError::Closed);
        }
        let msg = Packet::ack(nsp.to_owned(), id, args).encode_message()?;
        self.out.push(Output::Transmit(msg));
        Ok(())
    }

    /// Leaves `nsp` ("io client disconnect"): no reconnection for it. When
    /// no namespace is left, the connection closes.
    pub fn disconnect(&mut self, nsp: &str, now: Instant) {
        let Some(idx) = self.nsps.index_of(nsp) else {
            return;
        };
        let Some(n) = self.nsps.get(idx) else { return };
        let was_connected = n.connected;
        if was_connected {
            let p = Packet::disconnect(n.name.to_string());
            self.out.transmit(&p);
        }
        self.nsp_close(idx, DisconnectReason::IoClientDisconnect, now);
        self.destroy(idx, now);
    }

    /// Leaves every namespace and closes the connection. Awaited
    /// acknowledgements fail: [`AckError::Disconnected`] for sent packets,
    /// [`AckError::Closed`] for buffered or queued ones, which are dropped.
    pub fn close(&mut self, now: Instant) {
        let names: Vec<Arc<str>> = self.nsps.iter().map(|n| n.name.clone()).collect();
        for name in names {
            self.disconnect(&name, now);
        }
        self.close_manager(now);
        for n in self.nsps.iter_mut() {
            n.abandon(&mut self.out);
        }
        self.timers.clear();
    }

    // ----------------------------------------------------------------
    // The Engine.IO connection

    /// The Engine.IO connection asked for with [`Output::Open`] is open:
    /// every wanted namespace is joined.
    pub fn on_open(&mut self, _now: Instant) {
        if self.conn.ready != Ready::Opening {
            return;
        }
        let reconnected = self.conn.opened();
        self.decoder.reset();
        self.out.event(Event::Open);
        for n in self.nsps.iter_mut().filter(|n| n.active) {
            self.out.transmit(&n.connect_packet());
        }
        if let Some(attempt) = reconnected {
            self.out.event(Event::Reconnect(attempt));
        }
    }

    /// The Engine.IO connection did not open (`error` says why).
    pub fn on_open_error(&mut self, error: &str, now: Instant) {
        if self.conn.ready != Ready::Opening {
            return;
        }
        self.conn.open_failed();
        self.out.event(Event::Error(error.to_owned()));
        for n in self.nsps.iter() {
            n.open_failed(error, &mut self.out);
        }
        self.conn.retry_after_failure(error, now, &mut self.out);
    }

    /// The server pinged on the open Engine.IO connection ([`Event::Ping`]).
    pub fn on_ping(&mut self) {
        if self.conn.ready == Ready::Open {
            self.out.event(Event::Ping);
        }
    }

    /// The open Engine.IO connection ended.
    pub fn on_close(&mut self, reason: DisconnectReason, now: Instant) {
        if self.conn.ready == Ready::Closed {
            return;
        }
        self.closed(reason, false, now);
    }

    /// A text message from the Engine.IO connection (without the Engine.IO
    /// `4` prefix).
    pub fn on_text(&mut self, text: &str, now: Instant) {
        let r = self.decoder.decode_str(text);
        self.decoded(r, now);
    }

    /// A binary message from the Engine.IO connection.
    pub fn on_binary(&mut self, data: Bytes, now: Instant) {
        let r = self.decoder.decode_binary(data);
        self.decoded(r, now);
    }

    /// A message from the Engine.IO connection.
    pub fn on_message(&mut self, message: Payload, now: Instant) {
        let r = self.decoder.decode_message(message);
        self.decoded(r, now);
    }

    fn decoded(&mut self, r: Result<Option<Packet>, DecodeError>, now: Instant) {
        if self.conn.ready != Ready::Open {
            return;
        }
        match r {
            Ok(Some(p)) => self.on_packet(p, now),
            Ok(None) => {}
            Err(e) => {
                tracing::debug!(error = %e, "invalid packet from the server");
                self.closed(DisconnectReason::ParseError, true, now);
            }
        }
    }

    fn on_packet(&mut self, p: Packet, now: Instant) {
        let Some(idx) = self.nsps.index_of(&p.nsp) else {
            return;
        };
        let Some(n) = self.nsps.get_mut(idx) else {
            return;
        };
        if !n.active {
            return;
        }
        match p.kind.normalized() {
            PacketType::Connect => n.accept(p.data.as_ref(), now, &mut self.timers, &mut self.out),
            PacketType::Event => n.receive(p.data, p.id, self.config.max_buffered, &mut self.out),
            PacketType::Ack => {
                let Some(id) = p.id else { return };
                n.acked(id, p.data, now, &mut self.timers, &mut self.out);
            }
            PacketType::Disconnect => {
                self.nsp_close(idx, DisconnectReason::IoServerDisconnect, now);
                self.destroy(idx, now);
            }
            PacketType::ConnectError => {
                let error = ConnectError::from_data(p.data);
                let nsp = n.name.clone();
                self.destroy(idx, now);
                self.out.event(Event::ConnectError { nsp, error });
            }
            PacketType::BinaryEvent | PacketType::BinaryAck => {}
        }
    }

    // ----------------------------------------------------------------
    // Internals

    /// A namespace's disconnection: acks that cannot come any more fail.
    fn nsp_close(&mut self, idx: usize, reason: DisconnectReason, now: Instant) {
        if let Some(n) = self.nsps.get_mut(idx) {
            n.close(reason, now, &mut self.timers, &mut self.out);
        }
    }

    /// The namespace is given up; the connection closes when none is left.
    fn destroy(&mut self, idx: usize, now: Instant) {
        if let Some(n) = self.nsps.get_mut(idx) {
            n.active = false;
        }
        if !self.nsps.iter().any(|n| n.active) {
            self.close_manager(now);
        }
    }

    fn close_manager(&mut self, now: Instant) {
        self.conn.give_up();
        if self.conn.ready != Ready::Closed {
            self.closed(DisconnectReason::IoClientDisconnect, true, now);
        }
    }

    fn closed(&mut self, reason: DisconnectReason, ask_close: bool, now: Instant) {
        if ask_close {
            self.out.push(Output::Close);
        }
        if self.conn.ready == Ready::Open {
            self.out.event(Event::Close(reason));
        }
        self.decoder.reset();
        self.conn.closed();
        for n in self.nsps.iter_mut().filter(|n| n.active) {
            n.close(reason, now, &mut self.timers, &mut self.out);
        }
        self.conn.reconnect_after_close(now, &mut self.out);
    }
}

#[cfg(test)]
mod tests;
