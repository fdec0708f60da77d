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
//! assert!(matches!(core.poll_output(), Some(Output::Transmit(m)) if m.text == "40"));
//! core.on_text(r#"0{"sid":"abc"}"#, now); // the server accepted the namespace
//! assert!(matches!(core.poll_output(), Some(Output::Transmit(m)) if m.text == r#"42["hello",1]"#));
//! assert!(matches!(core.poll_output(), Some(Output::Event(Event::Connect { sid, .. })) if sid == "abc"));
//! # Ok::<(), socketeer::client::EmitError>(())
//! ```

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use socketeer_engineio::Payload;

use self::acks::{AckKind, AckTimers, PendingAck};
use self::namespace::{Buffered, Nsp, Queued};
use super::backoff::{Backoff, Rng};
use crate::packet::{
    is_reserved_event, DecodeError, Decoder, DecoderConfig, EncodedMessage, Packet, PacketType,
};
use crate::value::{Map, Value};

mod acks;
mod errors;
mod namespace;
mod options;
mod output;

pub use self::acks::AckToken;
pub use self::errors::{AckError, ConnectError, DisconnectReason, EmitError};
pub use self::options::{Auth, EmitFlags, ManagerConfig, SocketOptions};
use self::output::Outbox;
pub use self::output::{Event, Output};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ready {
    Closed,
    Opening,
    Open,
}

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
    backoff: Backoff,
    rng: Rng,
    ready: Ready,
    open_deadline: Option<Instant>,
    reconnecting: bool,
    reconnect_at: Option<Instant>,
    skip_reconnect: bool,
    nsps: Vec<Nsp>,
    by_name: HashMap<Arc<str>, usize>,
    decoder: Decoder,
    timers: AckTimers,
    out: Outbox,
    next_token: AckToken,
}

impl fmt::Debug for ManagerCore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ManagerCore")
            .field("ready", &self.ready)
            .field("reconnecting", &self.reconnecting)
            .field("namespaces", &self.by_name.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl ManagerCore {
    /// A core with `config`; `seed` seeds the backoff jitter.
    pub fn new(config: ManagerConfig, seed: u64) -> ManagerCore {
        let backoff = Backoff::new(
            config.reconnection_delay,
            config.reconnection_delay_max,
            config.randomization_factor,
        );
        let decoder = Decoder::with_config(DecoderConfig {
            max_attachments: config.max_attachments,
        });
        ManagerCore {
            config,
            backoff,
            rng: Rng::new(seed),
            ready: Ready::Closed,
            open_deadline: None,
            reconnecting: false,
            reconnect_at: None,
            skip_reconnect: false,
            nsps: Vec::new(),
            by_name: HashMap::new(),
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
        self.ready == Ready::Open
    }

    /// Whether a reconnection is scheduled or under way.
    pub fn is_reconnecting(&self) -> bool {
        self.reconnecting
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
        self.backoff.attempts()
    }

    fn nsp(&self, name: &str) -> Option<&Nsp> {
        self.nsps.get(*self.by_name.get(name)?)
    }

    // ----------------------------------------------------------------
    // Outputs and time

    /// The next output, in order.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop()
    }

    /// When [`handle_timeout`](Self::handle_timeout) is next due.
    pub fn poll_timeout(&self) -> Option<Instant> {
        [self.reconnect_at, self.open_deadline, self.timers.next()]
            .into_iter()
            .flatten()
            .min()
    }

    /// Runs what is due at `now`: acknowledgement timeouts, a connection
    /// attempt that takes too long, the next reconnection attempt.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some((idx, id)) = self.timers.pop_due(now) {
            let Some(ack) = self.nsps.get_mut(idx).and_then(|n| n.acks.remove(&id)) else {
                continue;
            };
            match ack.kind {
                AckKind::User(token) => {
                    if let Some(n) = self.nsps.get_mut(idx) {
                        n.send_buffer.retain(|b| b.ack_id != Some(id));
                    }
                    self.out.event(Event::Ack {
                        token,
                        result: Err(AckError::Timeout),
                    });
                }
                AckKind::Queue(qid) => self.queue_result(idx, qid, Err(AckError::Timeout), now),
            }
        }
        if self.ready == Ready::Opening && self.open_deadline.is_some_and(|d| d <= now) {
            self.out.push(Output::Close);
            self.on_open_error("timeout", now);
        }
        if self.reconnect_at.is_some_and(|at| at <= now) {
            self.reconnect_at = None;
            if self.skip_reconnect {
                return;
            }
            self.out
                .event(Event::ReconnectAttempt(self.backoff.attempts()));
            self.open(now);
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
        self.index(nsp, opts);
    }

    /// Joins a namespace declared with [`register`](Self::register) (as
    /// [`connect`](Self::connect)).
    pub fn join(&mut self, nsp: &str, now: Instant) {
        let Some(&idx) = self.by_name.get(nsp) else {
            return;
        };
        let Some(n) = self.nsps.get_mut(idx) else {
            return;
        };
        if n.connected || n.active {
            return;
        }
        n.active = true;
        if !self.reconnecting {
            self.open(now);
        }
        if self.ready == Ready::Open {
            self.send_connect(idx);
        }
    }

    fn index(&mut self, nsp: &str, opts: SocketOptions) -> usize {
        match self.by_name.get(nsp) {
            Some(&i) => i,
            None => {
                let name: Arc<str> = Arc::from(nsp);
                self.nsps.push(Nsp {
                    name: name.clone(),
                    opts,
                    active: false,
                    connected: false,
                    sid: None,
                    pid: None,
                    last_offset: None,
                    recovered: false,
                    next_ack: 0,
                    acks: HashMap::new(),
                    send_buffer: VecDeque::new(),
                    receive_buffer: VecDeque::new(),
                    queue: VecDeque::new(),
                    queue_seq: 0,
                });
                let i = self.nsps.len() - 1;
                self.by_name.insert(name, i);
                i
            }
        }
    }

    fn open(&mut self, now: Instant) {
        if self.ready != Ready::Closed {
            return;
        }
        self.ready = Ready::Opening;
        self.skip_reconnect = false;
        self.open_deadline = self.config.timeout.map(|t| now + t);
        self.out.push(Output::Open);
    }

    fn send_connect(&mut self, idx: usize) {
        let Some(n) = self.nsps.get(idx) else { return };
        let mut data = n.opts.auth.get();
        if let Some(pid) = &n.pid {
            let mut m = Map::new();
            m.insert("pid".into(), Value::from(pid.as_str()));
            if let Some(offset) = &n.last_offset {
                m.insert("offset".into(), Value::from(offset.as_str()));
            }
            // The auth payload's own keys win, as in socket.io-client.
            m.extend(data.take().unwrap_or_default());
            data = Some(m);
        }
        let packet = Packet::connect(n.name.to_string(), data.map(Value::Object));
        self.out.transmit(&packet);
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
        let idx = *self
            .by_name
            .get(nsp)
            .ok_or_else(|| EmitError::UnknownNamespace(nsp.to_owned()))?;
        let max = self.config.max_buffered;
        let max_acks = self.config.max_pending_acks;
        let open = self.ready == Ready::Open;
        let out_full = self.out.transmits() >= max;
        let token = flags.ack.then_some(self.next_token);
        let Some(n) = self.nsps.get_mut(idx) else {
            return Err(EmitError::UnknownNamespace(nsp.to_owned()));
        };
        let timeout = flags.timeout.or(n.opts.ack_timeout);

        if n.retries().is_some() && !flags.volatile {
            if n.queue.len() >= max {
                return Err(EmitError::BufferFull);
            }
            // Encoded once here to report bad input now.
            EncodedMessage::event(&n.name, event, Some(0), &args)?;
            let qid = n.queue_seq;
            n.queue_seq += 1;
            n.queue.push_back(Queued {
                qid,
                event: event.to_owned(),
                args,
                token,
                timeout,
                tries: 0,
                pending: false,
            });
            if token.is_some() {
                self.next_token += 1;
            }
            self.drain_queue(idx, false, now);
            return Ok(token);
        }

        if flags.volatile && !open {
            // Dropped, as socket.io-client does when the transport is not
            // writable; an ack will never come.
            if let Some(token) = token {
                self.next_token += 1;
                self.out.event(Event::Ack {
                    token,
                    result: Err(AckError::Disconnected),
                });
            }
            return Ok(token);
        }
        let send_now = n.connected;
        if send_now && out_full || !send_now && n.send_buffer.len() >= max {
            return Err(EmitError::BufferFull);
        }
        if token.is_some() && n.acks.len() >= max_acks {
            return Err(EmitError::TooManyPendingAcks);
        }
        let ack_id = token.map(|_| n.next_ack);
        let msg = EncodedMessage::event(&n.name, event, ack_id, &args)?;
        if let (Some(token), Some(id)) = (token, ack_id) {
            n.next_ack += 1;
            self.next_token += 1;
            let deadline = timeout.map(|t| now + t);
            n.acks.insert(
                id,
                PendingAck {
                    kind: AckKind::User(token),
                    deadline,
                },
            );
            if let Some(d) = deadline {
                self.timers.insert(d, idx, id);
            }
        }
        if send_now {
            self.out.push(Output::Transmit(msg));
        } else {
            n.send_buffer.push_back(Buffered { msg, ack_id });
        }
        Ok(token)
    }

    /// Changes how long the acknowledgement `token` is awaited: until
    /// `since + timeout` (for a packet of a retry queue, each try waits
    /// `timeout`). Nothing changes if it is no longer awaited.
    pub fn set_ack_timeout(&mut self, token: AckToken, timeout: Duration, since: Instant) {
        for (idx, n) in self.nsps.iter_mut().enumerate() {
            let found = n
                .acks
                .iter_mut()
                .find(|(_, a)| matches!(a.kind, AckKind::User(t) if t == token));
            if let Some((&id, ack)) = found {
                self.timers.cancel(ack.deadline, idx, id);
                let d = since + timeout;
                ack.deadline = Some(d);
                self.timers.insert(d, idx, id);
                return;
            }
            let Some(q) = n.queue.iter_mut().find(|q| q.token == Some(token)) else {
                continue;
            };
            q.timeout = Some(timeout);
            let (qid, pending) = (q.qid, q.pending);
            if pending {
                let in_flight = n
                    .acks
                    .iter_mut()
                    .find(|(_, a)| matches!(a.kind, AckKind::Queue(x) if x == qid));
                if let Some((&id, ack)) = in_flight {
                    self.timers.cancel(ack.deadline, idx, id);
                    let d = since + timeout;
                    ack.deadline = Some(d);
                    self.timers.insert(d, idx, id);
                }
            }
            return;
        }
    }

    /// Answers the server's event that asked for an acknowledgement.
    pub fn ack(&mut self, nsp: &str, id: u64, args: Vec<Value>) -> Result<(), EmitError> {
        if self.ready != Ready::Open {
            return Err(EmitError::Closed);
        }
        let msg = Packet::ack(nsp.to_owned(), id, args).encode_message()?;
        self.out.push(Output::Transmit(msg));
        Ok(())
    }

    /// Leaves `nsp` ("io client disconnect"): no reconnection for it. When
    /// no namespace is left, the connection closes.
    pub fn disconnect(&mut self, nsp: &str, now: Instant) {
        let Some(&idx) = self.by_name.get(nsp) else {
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
        for idx in 0..self.nsps.len() {
            let Some(n) = self.nsps.get_mut(idx) else {
                continue;
            };
            n.send_buffer.clear();
            let acks: Vec<PendingAck> = n.acks.drain().map(|(_, a)| a).collect();
            let queue: Vec<Queued> = n.queue.drain(..).collect();
            for a in acks {
                if let AckKind::User(token) = a.kind {
                    self.out.event(Event::Ack {
                        token,
                        result: Err(AckError::Closed),
                    });
                }
            }
            for q in queue {
                if let Some(token) = q.token {
                    self.out.event(Event::Ack {
                        token,
                        result: Err(AckError::Closed),
                    });
                }
            }
        }
        self.timers.clear();
    }

    // ----------------------------------------------------------------
    // The Engine.IO connection

    /// The Engine.IO connection asked for with [`Output::Open`] is open:
    /// every wanted namespace is joined.
    pub fn on_open(&mut self, _now: Instant) {
        if self.ready != Ready::Opening {
            return;
        }
        self.ready = Ready::Open;
        self.open_deadline = None;
        self.decoder.reset();
        for idx in 0..self.nsps.len() {
            if self.nsps.get(idx).is_some_and(|n| n.active) {
                self.send_connect(idx);
            }
        }
        if self.reconnecting {
            let attempt = self.backoff.attempts();
            self.reconnecting = false;
            self.backoff.reset();
            self.out.event(Event::Reconnect(attempt));
        }
    }

    /// The Engine.IO connection did not open (`error` says why).
    pub fn on_open_error(&mut self, error: &str, now: Instant) {
        if self.ready != Ready::Opening {
            return;
        }
        self.ready = Ready::Closed;
        self.open_deadline = None;
        for idx in 0..self.nsps.len() {
            let Some(n) = self.nsps.get(idx) else {
                continue;
            };
            if n.active && !n.connected {
                let nsp = n.name.clone();
                self.out.event(Event::ConnectError {
                    nsp,
                    error: ConnectError::new(error),
                });
            }
        }
        if self.reconnecting {
            self.reconnecting = false;
            self.reconnect(now);
            self.out.event(Event::ReconnectError(error.to_owned()));
        } else if self.config.reconnection && self.backoff.attempts() == 0 {
            self.reconnect(now);
        }
    }

    /// The open Engine.IO connection ended.
    pub fn on_close(&mut self, reason: DisconnectReason, now: Instant) {
        if self.ready == Ready::Closed {
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
        if self.ready != Ready::Open {
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
        let Some(&idx) = self.by_name.get(&*p.nsp) else {
            return;
        };
        let Some(n) = self.nsps.get_mut(idx) else {
            return;
        };
        if !n.active {
            return;
        }
        match p.kind.normalized() {
            PacketType::Connect => {
                let sid = p.data.as_ref().and_then(|d| d.get("sid")?.as_str());
                let Some(sid) = sid.map(str::to_owned) else {
                    let nsp = n.name.clone();
                    self.out.event(Event::ConnectError {
                        nsp,
                        error: ConnectError::new("invalid CONNECT packet: no sid"),
                    });
                    return;
                };
                let pid = p
                    .data
                    .as_ref()
                    .and_then(|d| d.get("pid")?.as_str())
                    .map(str::to_owned);
                n.recovered = pid.is_some() && n.pid == pid;
                n.pid = pid;
                n.sid = Some(sid.clone());
                n.connected = true;
                let recovered = n.recovered;
                let nsp = n.name.clone();
                let received: Vec<_> = n.receive_buffer.drain(..).collect();
                let buffered: Vec<Buffered> = n.send_buffer.drain(..).collect();
                for (event, args, ack_id) in received {
                    self.deliver(idx, event, args, ack_id);
                }
                for b in buffered {
                    self.out.push(Output::Transmit(b.msg));
                }
                self.drain_queue(idx, true, now);
                self.out.event(Event::Connect {
                    nsp,
                    sid,
                    recovered,
                });
            }
            PacketType::Event => {
                let Some(Value::Array(mut items)) = p.data else {
                    return;
                };
                if items.is_empty() {
                    return;
                }
                let event = match items.remove(0) {
                    Value::String(s) => s,
                    Value::Number(x) => x.to_string(),
                    _ => return,
                };
                if n.connected {
                    self.deliver(idx, event, items, p.id);
                } else if n.receive_buffer.len() < self.config.max_buffered {
                    n.receive_buffer.push_back((event, items, p.id));
                } else {
                    tracing::warn!("receive buffer full: event dropped");
                }
            }
            PacketType::Ack => {
                let Some(id) = p.id else { return };
                let Some(ack) = n.acks.remove(&id) else {
                    return;
                };
                self.timers.cancel(ack.deadline, idx, id);
                let args = match p.data {
                    Some(Value::Array(a)) => a,
                    _ => Vec::new(),
                };
                match ack.kind {
                    AckKind::User(token) => self.out.event(Event::Ack {
                        token,
                        result: Ok(args),
                    }),
                    AckKind::Queue(qid) => self.queue_result(idx, qid, Ok(args), now),
                }
            }
            PacketType::Disconnect => {
                self.nsp_close(idx, DisconnectReason::IoServerDisconnect, now);
                self.destroy(idx, now);
            }
            PacketType::ConnectError => {
                let error = match p.data {
                    Some(Value::String(s)) => ConnectError::new(s),
                    Some(Value::Object(mut m)) => ConnectError {
                        message: match m.remove("message") {
                            Some(Value::String(s)) => s,
                            _ => String::new(),
                        },
                        data: m.remove("data"),
                    },
                    _ => ConnectError::new(""),
                };
                let nsp = n.name.clone();
                self.destroy(idx, now);
                self.out.event(Event::ConnectError { nsp, error });
            }
            PacketType::BinaryEvent | PacketType::BinaryAck => {}
        }
    }

    // ----------------------------------------------------------------
    // Internals

    /// Hands an event to the application; notes its recovery offset.
    fn deliver(&mut self, idx: usize, event: String, args: Vec<Value>, ack_id: Option<u64>) {
        let Some(n) = self.nsps.get_mut(idx) else {
            return;
        };
        if n.pid.is_some() {
            if let Some(Value::String(offset)) = args.last() {
                n.last_offset = Some(offset.clone());
            }
        }
        let nsp = n.name.clone();
        self.out.event(Event::Message {
            nsp,
            event,
            args,
            ack_id,
        });
    }

    /// A namespace's disconnection: acks that cannot come any more fail.
    fn nsp_close(&mut self, idx: usize, reason: DisconnectReason, now: Instant) {
        let Some(n) = self.nsps.get_mut(idx) else {
            return;
        };
        let was_connected = n.connected;
        n.connected = false;
        n.sid = None;
        n.receive_buffer.clear();
        let nsp = n.name.clone();
        // Acks of buffered packets stay: those packets are yet to be sent.
        let buffered: std::collections::HashSet<u64> =
            n.send_buffer.iter().filter_map(|b| b.ack_id).collect();
        let gone: Vec<u64> = n
            .acks
            .keys()
            .copied()
            .filter(|id| !buffered.contains(id))
            .collect();
        let mut failed = Vec::new();
        for id in gone {
            if let Some(a) = n.acks.remove(&id) {
                self.timers.cancel(a.deadline, idx, id);
                failed.push(a);
            }
        }
        if was_connected {
            self.out.event(Event::Disconnect { nsp, reason });
        }
        for a in failed {
            match a.kind {
                AckKind::User(token) => self.out.event(Event::Ack {
                    token,
                    result: Err(AckError::Disconnected),
                }),
                AckKind::Queue(qid) => {
                    // As socket.io-client: only an ack with a timeout
                    // hears of the disconnection; without, the packet is
                    // sent again on reconnection.
                    let with_timeout = self
                        .nsps
                        .get(idx)
                        .and_then(|n| n.queue.front())
                        .is_some_and(|q| q.qid == qid && q.timeout.is_some());
                    if with_timeout {
                        self.queue_result(idx, qid, Err(AckError::Disconnected), now);
                    }
                }
            }
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
        self.skip_reconnect = true;
        self.reconnecting = false;
        self.reconnect_at = None;
        if self.ready != Ready::Closed {
            self.closed(DisconnectReason::IoClientDisconnect, true, now);
        }
    }

    fn closed(&mut self, reason: DisconnectReason, ask_close: bool, now: Instant) {
        if ask_close {
            self.out.push(Output::Close);
        }
        self.decoder.reset();
        self.backoff.reset();
        self.ready = Ready::Closed;
        self.open_deadline = None;
        for idx in 0..self.nsps.len() {
            if self.nsps.get(idx).is_some_and(|n| n.active) {
                self.nsp_close(idx, reason, now);
            }
        }
        if self.config.reconnection && !self.skip_reconnect {
            self.reconnect(now);
        }
    }

    fn reconnect(&mut self, now: Instant) {
        if self.reconnecting || self.skip_reconnect {
            return;
        }
        let limit = self.config.reconnection_attempts.unwrap_or(u32::MAX);
        if self.backoff.attempts() >= limit {
            self.backoff.reset();
            self.out.event(Event::ReconnectFailed);
            self.reconnecting = false;
        } else {
            let delay = self.backoff.duration(self.rng.next_f64());
            self.reconnecting = true;
            self.reconnect_at = Some(now + delay);
        }
    }

    /// Sends the retry queue's head unless it is in flight (or `force`).
    fn drain_queue(&mut self, idx: usize, force: bool, now: Instant) {
        let Some(n) = self.nsps.get_mut(idx) else {
            return;
        };
        if !n.connected {
            return;
        }
        let id = n.next_ack;
        let Some(head) = n.queue.front_mut() else {
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
            EncodedMessage::event(&n.name, &head.event, Some(id), &head.args),
        );
        n.next_ack += 1;
        // A resent packet replaces its earlier ack id.
        let stale: Vec<(u64, Option<Instant>)> = n
            .acks
            .iter()
            .filter(|(_, a)| matches!(a.kind, AckKind::Queue(q) if q == qid))
            .map(|(&i, a)| (i, a.deadline))
            .collect();
        for (i, d) in stale {
            n.acks.remove(&i);
            self.timers.cancel(d, idx, i);
        }
        let Ok(msg) = msg else {
            // Checked when queued; cannot happen.
            return;
        };
        if let Some(n) = self.nsps.get_mut(idx) {
            n.acks.insert(
                id,
                PendingAck {
                    kind: AckKind::Queue(qid),
                    deadline,
                },
            );
        }
        if let Some(d) = deadline {
            self.timers.insert(d, idx, id);
        }
        self.out.push(Output::Transmit(msg));
    }

    fn queue_result(
        &mut self,
        idx: usize,
        qid: u64,
        result: Result<Vec<Value>, AckError>,
        now: Instant,
    ) {
        let Some(n) = self.nsps.get_mut(idx) else {
            return;
        };
        let retries = n.retries().unwrap_or(0);
        let Some(head) = n.queue.front_mut() else {
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
            let token = n.queue.pop_front().and_then(|q| q.token);
            if let Some(token) = token {
                self.out.event(Event::Ack { token, result });
            }
        }
        self.drain_queue(idx, false, now);
    }
}

#[cfg(test)]
mod tests;
