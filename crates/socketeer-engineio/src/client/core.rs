//! The Sans-I/O Engine.IO client session: handshake, heartbeat watchdog,
//! outgoing queue and the polling → WebSocket upgrade, with time passed in.
//!
//! The driver (`client/driver.rs`) owns the sockets and the clock; it feeds this
//! state machine the packets it receives and the instants at which things
//! happen, and asks it what to write where:
//!
//! - inputs: [`handle_packet`](ClientSession::handle_packet) (from the
//!   active transport), [`handle_probe_packet`](ClientSession::handle_probe_packet)
//!   (from the WebSocket being probed), [`handle_timeout`](ClientSession::handle_timeout),
//!   [`send`](ClientSession::send), [`close`](ClientSession::close),
//!   [`transport_closed`](ClientSession::transport_closed);
//! - outputs: [`poll_event`](ClientSession::poll_event),
//!   [`poll_timeout`](ClientSession::poll_timeout),
//!   [`poll_ws_frame`](ClientSession::poll_ws_frame) (WebSocket),
//!   [`poll_payload`](ClientSession::poll_payload) (a polling POST body),
//!   [`should_probe`](ClientSession::should_probe) /
//!   [`start_probe`](ClientSession::start_probe) /
//!   [`is_pausing`](ClientSession::is_pausing) /
//!   [`paused`](ClientSession::paused) (the upgrade).
//!
//! ```
//! use std::time::{Duration, Instant};
//! use socketeer_engineio::client::core::ClientSession;
//! use socketeer_engineio::client::{CloseReason, Event, Transports};
//! use socketeer_engineio::{Limits, Packet, Payload, Utf8Bytes};
//!
//! let t0 = Instant::now();
//! let mut s = ClientSession::new(Transports::WebSocket);
//! let open = r#"0{"sid":"abc","upgrades":[],"pingInterval":300,"pingTimeout":200,"maxPayload":1000}"#;
//! s.handle_packet(Packet::decode_text(Utf8Bytes::from_static(open), &Limits::default()).unwrap(), t0);
//! assert!(s.is_open());
//! // The server pings; the session answers.
//! s.handle_packet(Packet::Ping(None), t0 + Duration::from_millis(300));
//! assert_eq!(s.poll_ws_frame(), Some(Payload::Text("3".into())));
//! // No ping within pingInterval + pingTimeout: the transport is closed.
//! assert_eq!(s.poll_timeout(), Some(t0 + Duration::from_millis(800)));
//! s.handle_timeout(t0 + Duration::from_millis(800));
//! assert_eq!(s.poll_event(), Some(Event::Closed(CloseReason::PingTimeout)));
//! ```

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::types::{CloseReason, Event, SendError, Transports};
use crate::packet::{OpenPacket, Packet};
use crate::payload::{PayloadBuilder, SEPARATOR};
use crate::server::core::TransportKind;
use crate::Payload;

/// Where the upgrade from polling to WebSocket stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpgradeState {
    /// Not started (or not possible).
    None,
    /// A WebSocket is being opened and probed with `2probe`.
    Probing,
    /// `3probe` received: polling is pausing (no new requests); once the
    /// driver has no request in flight it calls
    /// [`ClientSession::paused`].
    Pausing,
    /// The session runs on WebSocket now.
    Done,
    /// The probe failed; the session stays on polling.
    Failed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Waiting for the `open` packet.
    Opening,
    Open,
    /// [`ClientSession::close`] was called: the outbox (ending with a
    /// `close` packet) drains, then the driver calls `transport_closed`.
    Closing,
    Closed,
}

/// The client side of one Engine.IO session, without I/O.
#[derive(Debug)]
pub struct ClientSession {
    transports: Transports,
    state: State,
    handshake: Option<OpenPacket>,
    transport: TransportKind,
    upgrade: UpgradeState,
    ping_deadline: Option<Instant>,
    outbox: VecDeque<Packet>,
    /// Bytes of messages that left the outbox since
    /// [`ClientSession::take_released`] was last called.
    released: usize,
    events: VecDeque<Event>,
    report_pings: bool,
}

/// The bytes a packet's message counts in the client's send queue.
fn message_len(packet: &Packet) -> usize {
    match packet {
        Packet::Message(m) => m.len(),
        _ => 0,
    }
}

impl ClientSession {
    /// A session that will open on the first transport `transports` allows
    /// (polling for [`Transports::Polling`] and [`Transports::Both`],
    /// WebSocket for [`Transports::WebSocket`] and
    /// [`Transports::WebSocketFirst`]; the fallback from one to the other
    /// is a new session, see [`Transports::attempts`]).
    pub fn new(transports: Transports) -> Self {
        let transport = match transports {
            Transports::WebSocket | Transports::WebSocketFirst => TransportKind::WebSocket,
            Transports::Polling | Transports::Both => TransportKind::Polling,
        };
        ClientSession {
            transports,
            state: State::Opening,
            handshake: None,
            transport,
            upgrade: UpgradeState::None,
            ping_deadline: None,
            outbox: VecDeque::new(),
            released: 0,
            events: VecDeque::new(),
            report_pings: false,
        }
    }

    /// Reports each ping of the server as [`Event::Ping`] (off by
    /// default), for a Socket.IO manager's `ping` event.
    pub fn report_pings(&mut self, on: bool) {
        self.report_pings = on;
    }

    /// The transport currently carrying the session.
    pub fn transport(&self) -> TransportKind {
        self.transport
    }

    /// The handshake, once the `open` packet has arrived.
    pub fn handshake(&self) -> Option<&OpenPacket> {
        self.handshake.as_ref()
    }

    /// Whether the handshake is done and the session is not closing.
    pub fn is_open(&self) -> bool {
        self.state == State::Open
    }

    /// Whether [`close`](Self::close) was called and the session is not
    /// closed yet.
    pub fn is_closing(&self) -> bool {
        self.state == State::Closing
    }

    /// Whether the session has ended (its `Closed` event is queued or
    /// was taken).
    pub fn is_closed(&self) -> bool {
        self.state == State::Closed
    }

    /// The upgrade's state.
    pub fn upgrade_state(&self) -> UpgradeState {
        self.upgrade
    }

    /// Packets queued for the active transport.
    pub fn outbox_len(&self) -> usize {
        self.outbox.len()
    }

    /// Bytes of messages that have left the outbox (written to a
    /// transport, or dropped when the session closed) since the last call:
    /// what a driver that bounds its send queue by bytes gives back.
    pub fn take_released(&mut self) -> usize {
        std::mem::take(&mut self.released)
    }

    /// A packet arrived on the active transport at `now`.
    ///
    /// The first packet must be `open`; anything else closes the session
    /// with [`CloseReason::TransportError`]. Afterwards: `ping` is answered
    /// with `pong` and re-arms the heartbeat watchdog, messages become
    /// events, `close` ends the session with
    /// [`CloseReason::TransportClose`], and the rest is ignored.
    pub fn handle_packet(&mut self, packet: Packet, now: Instant) {
        match self.state {
            State::Closed => {}
            State::Opening => match packet {
                Packet::Open(open) => {
                    self.state = State::Open;
                    self.ping_deadline = Some(now + heartbeat(&open));
                    self.handshake = Some(open);
                }
                other => {
                    tracing::debug!(packet = %other.packet_type(), "expected an open packet");
                    self.transport_closed(CloseReason::TransportError);
                }
            },
            State::Open | State::Closing => match packet {
                Packet::Ping(data) => {
                    if let Some(open) = &self.handshake {
                        self.ping_deadline = Some(now + heartbeat(open));
                    }
                    if self.state == State::Open {
                        self.outbox.push_back(Packet::Pong(data));
                        if self.report_pings {
                            self.events.push_back(Event::Ping);
                        }
                    }
                }
                Packet::Message(Payload::Text(text)) => self.events.push_back(Event::Message(text)),
                Packet::Message(Payload::Binary(data)) => {
                    self.events.push_back(Event::Binary(data))
                }
                Packet::Close => self.transport_closed(CloseReason::TransportClose),
                Packet::Open(_) | Packet::Pong(_) | Packet::Upgrade | Packet::Noop => {}
            },
        }
    }

    /// The deadline of the heartbeat watchdog: the server's next ping is
    /// due before it (`pingInterval + pingTimeout` after the last ping or
    /// the handshake). `None` before the handshake and after the end.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.state {
            State::Open | State::Closing => self.ping_deadline,
            State::Opening | State::Closed => None,
        }
    }

    /// Time passed: at or after the deadline of
    /// [`poll_timeout`](Self::poll_timeout) the session ends with
    /// [`CloseReason::PingTimeout`].
    pub fn handle_timeout(&mut self, now: Instant) {
        if let Some(deadline) = self.poll_timeout() {
            if now >= deadline {
                self.transport_closed(CloseReason::PingTimeout);
            }
        }
    }

    /// Queues a message. Text containing the record separator `0x1E`
    /// cannot cross long-polling: it is refused while the session is on
    /// polling.
    pub fn send(&mut self, message: Payload) -> Result<(), SendError> {
        if matches!(self.state, State::Closing | State::Closed) {
            return Err(SendError::Closed);
        }
        if let Payload::Text(text) = &message {
            if self.transport == TransportKind::Polling && text.as_bytes().contains(&SEPARATOR) {
                return Err(SendError::RecordSeparator);
            }
        }
        self.outbox.push_back(Packet::Message(message));
        Ok(())
    }

    /// Closes the session (as `socket.close()` does): a `close` packet
    /// follows what is queued; once the driver has written everything it
    /// calls [`transport_closed`](Self::transport_closed) with
    /// [`CloseReason::ForcedClose`]. An upgrade under way is abandoned
    /// (before the switch) so the close leaves on the current transport.
    pub fn close(&mut self) {
        match self.state {
            State::Opening => self.transport_closed(CloseReason::ForcedClose),
            State::Open => {
                self.state = State::Closing;
                if matches!(self.upgrade, UpgradeState::Probing | UpgradeState::Pausing) {
                    self.upgrade = UpgradeState::Failed;
                }
                self.outbox.push_back(Packet::Close);
            }
            State::Closing | State::Closed => {}
        }
    }

    /// The session ended for `reason` (the transport closed or failed, or
    /// the driver finished a [`close`](Self::close)): queues
    /// [`Event::Closed`] once; later calls do nothing.
    pub fn transport_closed(&mut self, reason: CloseReason) {
        if self.state == State::Closed {
            return;
        }
        self.state = State::Closed;
        self.ping_deadline = None;
        self.released += self.outbox.iter().map(message_len).sum::<usize>();
        self.outbox.clear();
        if matches!(self.upgrade, UpgradeState::Probing | UpgradeState::Pausing) {
            self.upgrade = UpgradeState::Failed;
        }
        self.events.push_back(Event::Closed(reason));
    }

    /// The next event for the application.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// The next frame to write while the session is on WebSocket (nothing
    /// before the handshake: messages queued earlier wait for it).
    pub fn poll_ws_frame(&mut self) -> Option<Payload> {
        if self.transport != TransportKind::WebSocket
            || matches!(self.state, State::Opening | State::Closed)
        {
            return None;
        }
        let packet = self.outbox.pop_front()?;
        self.released += message_len(&packet);
        Some(packet.encode())
    }

    /// The body of the next polling POST while the session is on polling
    /// and not pausing: queued packets joined into one payload of at most
    /// `max_payload` bytes (the server's `maxPayload`), except that a
    /// single larger packet still goes alone. `None` when nothing is
    /// queued.
    pub fn poll_payload(&mut self, max_payload: usize) -> Option<Bytes> {
        if self.transport != TransportKind::Polling
            || matches!(self.state, State::Opening | State::Closed)
            || self.upgrade == UpgradeState::Pausing
        {
            return None;
        }
        let mut builder = PayloadBuilder::new();
        while let Some(packet) = self.outbox.front() {
            let size = encoded_len(packet) + usize::from(!builder.is_empty());
            if !builder.is_empty() && builder.len().saturating_add(size) > max_payload {
                break;
            }
            let Some(packet) = self.outbox.pop_front() else {
                break;
            };
            self.released += message_len(&packet);
            if builder.push(&packet).is_err() {
                // Only text with 0x1E fails, and `send` refuses it.
                tracing::warn!("dropped a text packet containing 0x1E on polling");
            }
        }
        (!builder.is_empty()).then(|| builder.finish())
    }

    /// Whether the driver should open a WebSocket and probe it: the
    /// session is open on polling, [`Transports::Both`] was asked for, the
    /// server offers `websocket`, and no upgrade was tried yet.
    pub fn should_probe(&self) -> bool {
        self.state == State::Open
            && self.transport == TransportKind::Polling
            && self.transports == Transports::Both
            && self.upgrade == UpgradeState::None
            && self
                .handshake
                .as_ref()
                .is_some_and(|h| h.upgrades.iter().any(|u| u == "websocket"))
    }

    /// The driver starts opening the probe WebSocket. Once it is open, the
    /// driver writes [`probe_frame`](Self::probe_frame) on it.
    pub fn start_probe(&mut self) {
        if self.should_probe() {
            self.upgrade = UpgradeState::Probing;
        }
    }

    /// The `2probe` frame to send on a freshly opened probe WebSocket.
    pub fn probe_frame() -> Payload {
        Packet::Ping(Some(crate::Utf8Bytes::from_static("probe"))).encode()
    }

    /// A packet arrived on the probe WebSocket: `3probe` moves the upgrade
    /// to [`UpgradeState::Pausing`]; anything else fails it. Returns
    /// whether the probe is still good.
    pub fn handle_probe_packet(&mut self, packet: Packet) -> bool {
        if self.upgrade != UpgradeState::Probing {
            return false;
        }
        match packet {
            Packet::Pong(Some(data)) if data.as_str() == "probe" => {
                self.upgrade = UpgradeState::Pausing;
                true
            }
            other => {
                tracing::debug!(packet = %other.packet_type(), "probe failed");
                self.upgrade = UpgradeState::Failed;
                false
            }
        }
    }

    /// The probe WebSocket could not be opened or failed before the
    /// switch; the session stays on polling.
    pub fn probe_failed(&mut self) {
        if matches!(self.upgrade, UpgradeState::Probing | UpgradeState::Pausing) {
            self.upgrade = UpgradeState::Failed;
        }
    }

    /// Whether polling is pausing for the upgrade: the driver must start
    /// no new GET or POST, and calls [`paused`](Self::paused) once none is
    /// in flight.
    pub fn is_pausing(&self) -> bool {
        self.upgrade == UpgradeState::Pausing && self.state != State::Closed
    }

    /// Polling has paused (no request in flight): the session switches to
    /// the probed WebSocket. `5` (upgrade) is the first frame written on
    /// it, followed by everything queued meanwhile; [`Event::Upgraded`] is
    /// queued.
    pub fn paused(&mut self) {
        if !self.is_pausing() {
            return;
        }
        self.upgrade = UpgradeState::Done;
        self.transport = TransportKind::WebSocket;
        self.outbox.push_front(Packet::Upgrade);
        self.events.push_back(Event::Upgraded);
    }
}

/// `pingInterval + pingTimeout`.
fn heartbeat(open: &OpenPacket) -> Duration {
    Duration::from_millis(open.ping_interval.saturating_add(open.ping_timeout))
}

/// A packet's length in a polling payload.
fn encoded_len(packet: &Packet) -> usize {
    match packet {
        Packet::Message(Payload::Binary(b)) => 1 + b.len().div_ceil(3) * 4,
        Packet::Message(Payload::Text(t)) => 1 + t.len(),
        Packet::Ping(Some(t)) | Packet::Pong(Some(t)) => 1 + t.len(),
        _ => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{payload, Limits, Utf8Bytes};

    fn open_packet(upgrades: &[&str]) -> Packet {
        Packet::Open(OpenPacket {
            sid: "sid1".into(),
            upgrades: upgrades.iter().map(|s| s.to_string()).collect(),
            ping_interval: 300,
            ping_timeout: 200,
            max_payload: 1_000_000,
        })
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn opened(transports: Transports, upgrades: &[&str], t0: Instant) -> ClientSession {
        let mut s = ClientSession::new(transports);
        s.handle_packet(open_packet(upgrades), t0);
        assert!(s.is_open());
        s
    }

    #[test]
    fn initial_transport() {
        assert_eq!(
            ClientSession::new(Transports::Both).transport(),
            TransportKind::Polling
        );
        assert_eq!(
            ClientSession::new(Transports::Polling).transport(),
            TransportKind::Polling
        );
        assert_eq!(
            ClientSession::new(Transports::WebSocket).transport(),
            TransportKind::WebSocket
        );
        assert_eq!(
            ClientSession::new(Transports::WebSocketFirst).transport(),
            TransportKind::WebSocket
        );
    }

    #[test]
    fn pings_reported_when_asked() {
        let t0 = Instant::now();
        for report in [false, true] {
            let mut s = opened(Transports::WebSocket, &[], t0);
            s.report_pings(report);
            s.handle_packet(Packet::Ping(None), t0);
            assert_eq!(s.poll_event() == Some(Event::Ping), report);
            assert_eq!(s.poll_event(), None);
            assert!(matches!(s.poll_ws_frame(), Some(Payload::Text(t)) if t == "3"));
        }
    }

    #[test]
    fn handshake_first() {
        let t0 = Instant::now();
        let mut s = ClientSession::new(Transports::Polling);
        assert!(s.handshake().is_none());
        assert_eq!(s.poll_timeout(), None);
        s.handle_packet(Packet::text("too early"), t0);
        assert!(s.is_closed());
        assert_eq!(
            s.poll_event(),
            Some(Event::Closed(CloseReason::TransportError))
        );
        assert_eq!(s.poll_event(), None);
        assert!(s.send(Payload::Text("x".into())).is_err());
    }

    #[test]
    fn heartbeat_watchdog() {
        let t0 = Instant::now();
        let mut s = opened(Transports::WebSocket, &[], t0);
        assert_eq!(s.handshake().map(|h| h.sid.as_str()), Some("sid1"));
        assert_eq!(s.poll_timeout(), Some(t0 + ms(500)));
        s.handle_timeout(t0 + ms(499));
        assert!(s.is_open());
        // Pings re-arm the watchdog and are answered in order.
        for i in 1..=5u64 {
            s.handle_packet(Packet::Ping(None), t0 + ms(300 * i));
            assert_eq!(s.poll_ws_frame(), Some(Payload::Text("3".into())));
            assert_eq!(s.poll_timeout(), Some(t0 + ms(300 * i + 500)));
            s.handle_timeout(t0 + ms(300 * i + 499));
            assert!(s.is_open());
        }
        // Other packets do not re-arm it.
        s.handle_packet(Packet::text("hi"), t0 + ms(1900));
        assert_eq!(s.poll_timeout(), Some(t0 + ms(2000)));
        s.handle_timeout(t0 + ms(2000));
        assert_eq!(s.poll_event(), Some(Event::Message("hi".into())));
        assert_eq!(
            s.poll_event(),
            Some(Event::Closed(CloseReason::PingTimeout))
        );
        assert_eq!(s.poll_timeout(), None);
        assert_eq!(s.poll_ws_frame(), None);
        // Once closed, nothing more happens.
        s.handle_packet(Packet::Close, t0 + ms(2001));
        s.transport_closed(CloseReason::TransportError);
        assert_eq!(s.poll_event(), None);
    }

    #[test]
    fn messages_queued_before_the_handshake_wait_for_it() {
        let t0 = Instant::now();
        for transports in [Transports::WebSocket, Transports::Polling] {
            let mut s = ClientSession::new(transports);
            s.send(Payload::Text("early".into())).unwrap();
            assert_eq!(s.poll_ws_frame(), None);
            assert_eq!(s.poll_payload(1000), None);
            s.handle_packet(open_packet(&[]), t0);
            let sent = match transports {
                Transports::WebSocket => s.poll_ws_frame().map(|f| f.len()),
                _ => s.poll_payload(1000).map(|b| b.len()),
            };
            assert_eq!(sent, Some("4early".len()));
        }
    }

    #[test]
    fn messages_and_server_close() {
        let t0 = Instant::now();
        let mut s = opened(Transports::WebSocket, &[], t0);
        s.handle_packet(Packet::text("a"), t0);
        s.handle_packet(Packet::binary(vec![1, 2]), t0);
        s.handle_packet(Packet::Noop, t0);
        s.handle_packet(Packet::Pong(None), t0);
        s.handle_packet(Packet::Close, t0);
        assert_eq!(s.poll_event(), Some(Event::Message("a".into())));
        assert_eq!(
            s.poll_event(),
            Some(Event::Binary(Bytes::from_static(&[1, 2])))
        );
        assert_eq!(
            s.poll_event(),
            Some(Event::Closed(CloseReason::TransportClose))
        );
        assert_eq!(s.poll_event(), None);
    }

    #[test]
    fn released_bytes_follow_messages_out_of_the_outbox() {
        let t0 = Instant::now();
        let mut s = opened(Transports::WebSocket, &[], t0);
        s.send(Payload::Text("hello".into())).unwrap();
        s.send(Payload::Binary(Bytes::from_static(&[0; 10])))
            .unwrap();
        s.send(Payload::Text("bye".into())).unwrap();
        assert_eq!(s.take_released(), 0);
        s.poll_ws_frame().unwrap();
        s.poll_ws_frame().unwrap();
        assert_eq!(s.take_released(), 15);
        assert_eq!(s.take_released(), 0);
        // A pong is not a message the application queued.
        s.handle_packet(Packet::Ping(None), t0);
        s.transport_closed(CloseReason::TransportError);
        assert_eq!(s.take_released(), 3);

        let mut p = opened(Transports::Polling, &[], t0);
        p.send(Payload::Text("abc".into())).unwrap();
        p.send(Payload::Text("de".into())).unwrap();
        p.poll_payload(1000).unwrap();
        assert_eq!(p.take_released(), 5);
    }

    #[test]
    fn websocket_sends_in_order() {
        let t0 = Instant::now();
        let mut s = opened(Transports::WebSocket, &[], t0);
        s.send(Payload::Text("one".into())).unwrap();
        s.send(Payload::Binary(Bytes::from_static(b"\x01")))
            .unwrap();
        // 0x1E is fine on WebSocket-only sessions.
        s.send(Payload::Text("a\x1eb".into())).unwrap();
        assert_eq!(s.outbox_len(), 3);
        assert_eq!(s.poll_ws_frame(), Some(Payload::Text("4one".into())));
        assert_eq!(
            s.poll_ws_frame(),
            Some(Payload::Binary(Bytes::from_static(b"\x01")))
        );
        assert_eq!(s.poll_ws_frame(), Some(Payload::Text("4a\x1eb".into())));
        assert_eq!(s.poll_ws_frame(), None);
        // Polling payloads are not produced on WebSocket.
        s.send(Payload::Text("x".into())).unwrap();
        assert_eq!(s.poll_payload(1000), None);
    }

    #[test]
    fn polling_batches_under_max_payload() {
        let t0 = Instant::now();
        let mut s = opened(Transports::Polling, &["websocket"], t0);
        assert!(!s.should_probe(), "polling-only never upgrades");
        assert_eq!(s.poll_payload(100), None);
        assert_eq!(
            s.send(Payload::Text("a\x1eb".into())),
            Err(SendError::RecordSeparator)
        );
        for text in ["aaaa", "bbbb", "cccc"] {
            s.send(Payload::Text(Utf8Bytes::from_static(text))).unwrap();
        }
        s.send(Payload::Binary(Bytes::from_static(&[1, 2, 3, 4])))
            .unwrap();
        // "4aaaa" + 0x1E + "4bbbb" = 11 bytes; a third packet would make 17.
        assert_eq!(
            s.poll_payload(16).as_deref(),
            Some("4aaaa\x1e4bbbb".as_bytes())
        );
        // Exactly at the limit: "4cccc" + 0x1E + "bAQIDBA==" = 15 bytes.
        assert_eq!(
            s.poll_payload(15).as_deref(),
            Some("4cccc\x1ebAQIDBA==".as_bytes())
        );
        assert_eq!(s.poll_payload(15), None);
        // One packet larger than the limit still goes, alone.
        s.send(Payload::Text("0123456789".into())).unwrap();
        s.send(Payload::Text("x".into())).unwrap();
        assert_eq!(s.poll_payload(4).as_deref(), Some(&b"40123456789"[..]));
        assert_eq!(s.poll_payload(4).as_deref(), Some(&b"4x"[..]));
        // A ping is answered on the next POST.
        s.handle_packet(Packet::Ping(None), t0 + ms(10));
        let body = s.poll_payload(1000).unwrap();
        assert_eq!(
            payload::decode(body, &Limits::default()).unwrap(),
            [Packet::Pong(None)]
        );
    }

    #[test]
    fn upgrade() {
        let t0 = Instant::now();
        let mut s = opened(Transports::Both, &["websocket"], t0);
        assert!(s.should_probe());
        s.start_probe();
        assert_eq!(s.upgrade_state(), UpgradeState::Probing);
        assert!(!s.should_probe());
        assert_eq!(ClientSession::probe_frame(), Payload::Text("2probe".into()));
        // While probing, polling goes on.
        s.send(Payload::Text("before".into())).unwrap();
        assert_eq!(s.poll_payload(1000).as_deref(), Some(&b"4before"[..]));
        assert!(s.handle_probe_packet(Packet::Pong(Some("probe".into()))));
        assert!(s.is_pausing());
        // Pausing: nothing more is posted.
        s.send(Payload::Text("during".into())).unwrap();
        assert_eq!(s.poll_payload(1000), None);
        assert_eq!(s.poll_ws_frame(), None);
        // The last poll's packets still count.
        s.handle_packet(Packet::Noop, t0);
        s.handle_packet(Packet::text("late"), t0);
        s.paused();
        assert_eq!(s.transport(), TransportKind::WebSocket);
        assert_eq!(s.upgrade_state(), UpgradeState::Done);
        assert!(!s.is_pausing());
        assert_eq!(s.poll_ws_frame(), Some(Payload::Text("5".into())));
        assert_eq!(s.poll_ws_frame(), Some(Payload::Text("4during".into())));
        assert_eq!(s.poll_ws_frame(), None);
        assert_eq!(s.poll_event(), Some(Event::Message("late".into())));
        assert_eq!(s.poll_event(), Some(Event::Upgraded));
        assert!(!s.should_probe());
        s.paused();
        assert_eq!(s.poll_event(), None);
    }

    #[test]
    fn upgrade_not_offered_or_failed() {
        let t0 = Instant::now();
        let s = opened(Transports::Both, &[], t0);
        assert!(!s.should_probe());

        let mut s = opened(Transports::Both, &["websocket"], t0);
        s.start_probe();
        assert!(!s.handle_probe_packet(Packet::Pong(Some("nope".into()))));
        assert_eq!(s.upgrade_state(), UpgradeState::Failed);
        assert!(!s.should_probe());
        assert!(!s.handle_probe_packet(Packet::Pong(Some("probe".into()))));
        assert!(!s.is_pausing());
        s.send(Payload::Text("x".into())).unwrap();
        assert_eq!(s.poll_payload(1000).as_deref(), Some(&b"4x"[..]));

        let mut s = opened(Transports::Both, &["websocket"], t0);
        s.start_probe();
        s.probe_failed();
        assert_eq!(s.upgrade_state(), UpgradeState::Failed);
        s.paused();
        assert_eq!(s.transport(), TransportKind::Polling);
    }

    #[test]
    fn close_by_client() {
        let t0 = Instant::now();
        let mut s = opened(Transports::Both, &["websocket"], t0);
        s.start_probe();
        s.send(Payload::Text("last".into())).unwrap();
        s.close();
        assert!(s.is_closing());
        assert_eq!(s.upgrade_state(), UpgradeState::Failed);
        assert_eq!(s.send(Payload::Text("x".into())), Err(SendError::Closed));
        // A ping while closing re-arms the watchdog but is not answered.
        s.handle_packet(Packet::Ping(None), t0 + ms(100));
        assert_eq!(
            s.poll_payload(1000).as_deref(),
            Some("4last\x1e1".as_bytes())
        );
        assert_eq!(s.poll_event(), None);
        s.transport_closed(CloseReason::ForcedClose);
        assert_eq!(
            s.poll_event(),
            Some(Event::Closed(CloseReason::ForcedClose))
        );
        assert!(s.is_closed());

        // Closing before the handshake ends at once.
        let mut s = ClientSession::new(Transports::WebSocket);
        s.close();
        assert_eq!(
            s.poll_event(),
            Some(Event::Closed(CloseReason::ForcedClose))
        );
    }

    mod prop {
        use super::*;
        use proptest::prelude::*;

        #[derive(Debug, Clone)]
        enum Op {
            Packet(u8, String),
            Timeout(u64),
            Send(bool, String),
            Close,
            StartProbe,
            ProbePacket(bool),
            ProbeFailed,
            Paused,
            PollPayload(usize),
            PollWs,
            TransportClosed,
        }

        fn op() -> impl Strategy<Value = Op> {
            prop_oneof![
                4 => (0u8..8, "[a-z\u{1e}]{0,6}").prop_map(|(t, s)| Op::Packet(t, s)),
                2 => (0u64..2000).prop_map(Op::Timeout),
                3 => (any::<bool>(), "[a-z\u{1e}]{0,6}").prop_map(|(b, s)| Op::Send(b, s)),
                1 => Just(Op::Close),
                1 => Just(Op::StartProbe),
                1 => any::<bool>().prop_map(Op::ProbePacket),
                1 => Just(Op::ProbeFailed),
                1 => Just(Op::Paused),
                2 => (1usize..40).prop_map(Op::PollPayload),
                2 => Just(Op::PollWs),
                1 => Just(Op::TransportClosed),
            ]
        }

        fn packet(t: u8, s: String) -> Packet {
            match t {
                0 => open_packet(&["websocket"]),
                1 => Packet::Close,
                2 => Packet::Ping(None),
                3 => Packet::Pong(Some(s.into())),
                4 => Packet::text(s),
                5 => Packet::Upgrade,
                6 => Packet::Noop,
                _ => Packet::binary(s.into_bytes()),
            }
        }

        proptest! {
            /// Whatever happens in whatever order: no panic, exactly one
            /// `Closed` event at most and nothing after it, POST bodies
            /// within the limit unless they hold a single packet, and
            /// nothing written before the handshake.
            #[test]
            fn any_sequence_keeps_the_invariants(
                transports in prop_oneof![
                    Just(Transports::Polling),
                    Just(Transports::WebSocket),
                    Just(Transports::Both)
                ],
                ops in proptest::collection::vec(op(), 0..60),
            ) {
                let t0 = Instant::now();
                let mut s = ClientSession::new(transports);
                let mut closed = 0;
                let mut events_after_close = 0;
                for op in ops {
                    let opened = s.handshake().is_some();
                    match op {
                        Op::Packet(t, text) => s.handle_packet(packet(t, text), t0),
                        Op::Timeout(n) => s.handle_timeout(t0 + ms(n)),
                        Op::Send(binary, text) => {
                            let m = if binary {
                                Payload::Binary(Bytes::from(text.into_bytes()))
                            } else {
                                Payload::Text(text.into())
                            };
                            let _ = s.send(m);
                        }
                        Op::Close => s.close(),
                        Op::StartProbe => s.start_probe(),
                        Op::ProbePacket(good) => {
                            let data = if good { "probe" } else { "nope" };
                            s.handle_probe_packet(Packet::Pong(Some(data.into())));
                        }
                        Op::ProbeFailed => s.probe_failed(),
                        Op::Paused => s.paused(),
                        Op::PollPayload(max) => {
                            if let Some(body) = s.poll_payload(max) {
                                prop_assert!(opened);
                                prop_assert_eq!(s.transport(), TransportKind::Polling);
                                let packets = payload::decode(body.clone(), &Limits::UNLIMITED)
                                    .expect("a valid payload");
                                prop_assert!(!packets.is_empty());
                                prop_assert!(body.len() <= max || packets.len() == 1);
                            }
                        }
                        Op::PollWs => {
                            if s.poll_ws_frame().is_some() {
                                prop_assert!(opened);
                                prop_assert_eq!(s.transport(), TransportKind::WebSocket);
                            }
                        }
                        Op::TransportClosed => s.transport_closed(CloseReason::TransportError),
                    }
                    while let Some(e) = s.poll_event() {
                        if closed > 0 {
                            events_after_close += 1;
                        }
                        if matches!(e, Event::Closed(_)) {
                            closed += 1;
                        }
                    }
                    if s.is_closed() {
                        prop_assert_eq!(s.poll_timeout(), None);
                        prop_assert_eq!(s.outbox_len(), 0);
                    }
                }
                prop_assert!(closed <= 1);
                prop_assert_eq!(events_after_close, 0);
            }
        }
    }
}
