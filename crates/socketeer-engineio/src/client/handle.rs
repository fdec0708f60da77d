//! What the application holds of a client session: the options and errors
//! of [`connect`](super::connect), and the two handles ([`EngineClient`],
//! [`EngineEvents`]) the task it spawns (in `driver.rs`) serves, with the
//! state they share with that task. The driver builds on this module; this
//! module does not know the driver.

use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{mpsc, Notify};

use super::types::{Event, SendError, Transports};
use crate::packet::{DecodeError, Limits, OpenPacket};
use crate::server::core::TransportKind;
use crate::{Payload, Utf8Bytes};

/// The default [`ClientOptions::path`].
pub const DEFAULT_PATH: &str = "/engine.io/";

/// Everything a client decides about its connection.
#[derive(Clone)]
pub struct ClientOptions {
    /// `http://`, `https://`, `ws://` or `wss://` URL of the server. Only
    /// its scheme, host, port and query are used: the path comes from
    /// [`path`](Self::path), as in engine.io-client.
    pub url: String,
    /// The Engine.IO endpoint (default `/engine.io/`; Socket.IO uses
    /// `/socket.io/`).
    pub path: String,
    /// Extra query parameters, sent (percent-encoded) on every request
    /// after the URL's own query.
    pub query: Vec<(String, String)>,
    /// Extra headers, sent on every polling request and on the WebSocket
    /// handshake.
    pub headers: Vec<(String, String)>,
    /// Which transports to use (default [`Transports::Both`]).
    pub transports: Transports,
    /// When the first transport fails to open, try the next one
    /// (engine.io-client's `tryAllTransports`; default false): see
    /// [`Transports::attempts`].
    pub try_all_transports: bool,
    /// After a session opened on WebSocket or upgraded to it, the next
    /// sessions to the same server (origin and path) in this process
    /// start on WebSocket (engine.io-client's `rememberUpgrade`; default
    /// false). A session opened on polling, or a WebSocket that fails to
    /// open, forgets it (until the next upgrade).
    pub remember_upgrade: bool,
    /// Keep the cookies the server sets (`Set-Cookie`) and send them back
    /// (`Cookie`) on the later requests of the session, polling and the
    /// WebSocket handshake: what a load balancer with cookie-based sticky
    /// sessions needs (engine.io-client's `withCredentials` in Node, with
    /// its cookie jar; default false). See [`CookieJar`](super::CookieJar).
    pub with_credentials: bool,
    /// Report the server's pings as [`Event::Ping`] (default false).
    pub ping_events: bool,
    /// TLS settings for `https://` and `wss://` (e.g. a custom root store);
    /// `None` uses the webpki roots.
    pub tls: Option<Arc<rustls::ClientConfig>>,
    /// Time allowed for the connection and handshake (default 20 s, as
    /// engine.io-client's `timeout`).
    pub connect_timeout: Duration,
    /// Bounds on what the server sends: one polling response body or one
    /// WebSocket message (default 16 MiB, 100 000 packets per payload).
    pub limits: Limits,
    /// Messages that may wait in the send queue before
    /// [`EngineClient::send`] answers [`SendError::QueueFull`] (default
    /// 10 000).
    pub max_queued_messages: usize,
    /// Bytes of messages that may wait in the send queue (from
    /// [`EngineClient::send`] until the driver hands them to the transport)
    /// before [`EngineClient::send`] answers [`SendError::QueueFull`] and
    /// [`EngineClient::send_wait`] waits (default 8 MiB). A message alone
    /// in an empty queue is taken whatever its size.
    pub max_queued_bytes: usize,
    /// Events that may wait to be taken from [`EngineEvents`] before the
    /// client stops reading the network (default 1 024).
    pub event_buffer: usize,
    /// How long [`EngineClient::close`] may take to deliver what is queued
    /// and the `close` packet (default 5 s).
    pub close_timeout: Duration,
}

impl ClientOptions {
    /// Default options for `url`.
    pub fn new(url: impl Into<String>) -> Self {
        ClientOptions {
            url: url.into(),
            path: DEFAULT_PATH.to_owned(),
            query: Vec::new(),
            headers: Vec::new(),
            transports: Transports::Both,
            try_all_transports: false,
            remember_upgrade: false,
            with_credentials: false,
            ping_events: false,
            tls: None,
            connect_timeout: Duration::from_secs(20),
            limits: Limits {
                max_payload: 16 << 20,
                ..Limits::default()
            },
            max_queued_messages: 10_000,
            max_queued_bytes: 8 << 20,
            event_buffer: 1024,
            close_timeout: Duration::from_secs(5),
        }
    }
}

impl std::fmt::Debug for ClientOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientOptions")
            .field("url", &self.url)
            .field("path", &self.path)
            .field("query", &self.query)
            .field("headers", &self.headers)
            .field("transports", &self.transports)
            .field("try_all_transports", &self.try_all_transports)
            .field("remember_upgrade", &self.remember_upgrade)
            .field("with_credentials", &self.with_credentials)
            .field("ping_events", &self.ping_events)
            .field("connect_timeout", &self.connect_timeout)
            .field("limits", &self.limits)
            .field("max_queued_messages", &self.max_queued_messages)
            .field("max_queued_bytes", &self.max_queued_bytes)
            .field("event_buffer", &self.event_buffer)
            .field("close_timeout", &self.close_timeout)
            .finish_non_exhaustive()
    }
}

/// Why [`connect`](super::connect) failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The URL is not `http(s)://` or `ws(s)://host[:port]...`.
    #[error("invalid URL: {0}")]
    Url(String),
    /// A header name or value is not valid HTTP.
    #[error("invalid header {0:?}")]
    InvalidHeader(String),
    /// TCP or TLS failed.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// The TLS configuration could not be built.
    #[error("TLS error: {0}")]
    Tls(String),
    /// An HTTP request failed.
    #[error("HTTP error: {0}")]
    Http(#[from] hyper::Error),
    /// The server answered a request with an error status.
    #[error("HTTP status {0}: {1}")]
    Status(http::StatusCode, String),
    /// A response body was over [`ClientOptions::limits`].
    #[error("response too large: {0}")]
    BodyTooLarge(String),
    /// The WebSocket connection failed.
    #[error("WebSocket error: {0}")]
    WebSocket(#[from] socketeer_ws::Error),
    /// The server sent something that is not Engine.IO.
    #[error("invalid packet: {0}")]
    Decode(#[from] DecodeError),
    /// The first packet was not the handshake, or the connection ended
    /// before it.
    #[error("handshake failed: {0}")]
    Handshake(String),
    /// No handshake within [`ClientOptions::connect_timeout`].
    #[error("connection timed out")]
    Timeout,
}

const TRANSPORT_POLLING: u8 = 0;
const TRANSPORT_WEBSOCKET: u8 = 1;

/// State shared by the handles and the session task.
#[derive(Debug)]
pub(super) struct Shared {
    pub(super) handshake: OpenPacket,
    pub(super) transport: AtomicU8,
    pub(super) closed: AtomicBool,
    pub(super) close_requested: AtomicBool,
    pub(super) close: Notify,
    /// Bytes of messages queued and not yet written.
    pub(super) queued_bytes: AtomicUsize,
    pub(super) max_queued_bytes: usize,
    /// Wakes senders waiting for room in the queue.
    pub(super) room: Notify,
}

impl Shared {
    /// Counts `len` more queued bytes if they fit: under the limit, or
    /// alone in an empty queue.
    fn reserve(&self, len: usize) -> bool {
        let mut queued = self.queued_bytes.load(Ordering::Relaxed);
        loop {
            if queued > 0 && queued.saturating_add(len) > self.max_queued_bytes {
                return false;
            }
            match self.queued_bytes.compare_exchange_weak(
                queued,
                queued + len,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(now) => queued = now,
            }
        }
    }

    /// Gives back bytes that were written (or dropped).
    pub(super) fn release(&self, len: usize) {
        if len > 0 {
            self.queued_bytes.fetch_sub(len, Ordering::Relaxed);
            self.room.notify_waiters();
        }
    }

    pub(super) fn set_transport(&self, kind: TransportKind) {
        let v = match kind {
            TransportKind::Polling => TRANSPORT_POLLING,
            TransportKind::WebSocket => TRANSPORT_WEBSOCKET,
        };
        self.transport.store(v, Ordering::Release);
    }
}

/// The sending half of a client session: cheap to clone, usable from any
/// task. Messages from all clones leave in the order they were queued.
#[derive(Debug, Clone)]
pub struct EngineClient {
    pub(super) tx: mpsc::Sender<Payload>,
    pub(super) shared: Arc<Shared>,
}

impl EngineClient {
    /// The session id.
    pub fn sid(&self) -> &str {
        &self.shared.handshake.sid
    }

    /// The server's handshake: ping interval and timeout, `maxPayload`,
    /// offered upgrades.
    pub fn handshake(&self) -> &OpenPacket {
        &self.shared.handshake
    }

    /// The server's ping interval.
    pub fn ping_interval(&self) -> Duration {
        Duration::from_millis(self.shared.handshake.ping_interval)
    }

    /// The server's ping timeout.
    pub fn ping_timeout(&self) -> Duration {
        Duration::from_millis(self.shared.handshake.ping_timeout)
    }

    /// The transport carrying the session now.
    pub fn transport(&self) -> TransportKind {
        match self.shared.transport.load(Ordering::Acquire) {
            TRANSPORT_WEBSOCKET => TransportKind::WebSocket,
            _ => TransportKind::Polling,
        }
    }

    /// Whether the session has ended or [`close`](Self::close) was called.
    pub fn is_closed(&self) -> bool {
        self.shared.closed.load(Ordering::Acquire)
            || self.shared.close_requested.load(Ordering::Acquire)
    }

    /// Queues a message, without waiting: [`SendError::QueueFull`] when
    /// [`ClientOptions::max_queued_messages`] are waiting or the message
    /// would take the queue over [`ClientOptions::max_queued_bytes`] (see
    /// [`send_wait`](Self::send_wait)).
    pub fn send(&self, message: Payload) -> Result<(), SendError> {
        if self.is_closed() {
            return Err(SendError::Closed);
        }
        if let Payload::Text(text) = &message {
            if self.transport() == TransportKind::Polling
                && text.as_bytes().contains(&crate::payload::SEPARATOR)
            {
                return Err(SendError::RecordSeparator);
            }
        }
        let len = message.len();
        if !self.shared.reserve(len) {
            return Err(SendError::QueueFull);
        }
        self.tx.try_send(message).map_err(|e| {
            self.shared.release(len);
            match e {
                mpsc::error::TrySendError::Full(_) => SendError::QueueFull,
                mpsc::error::TrySendError::Closed(_) => SendError::Closed,
            }
        })
    }

    /// Bytes of messages queued and not yet written (bounded by
    /// [`ClientOptions::max_queued_bytes`]).
    pub fn queued_bytes(&self) -> usize {
        self.shared.queued_bytes.load(Ordering::Relaxed)
    }

    /// Queues a message, waiting while the send queue is full (see
    /// [`ClientOptions::max_queued_messages`]); fails only when the session
    /// is closed or the text cannot cross polling.
    pub async fn send_wait(&self, message: Payload) -> Result<(), SendError> {
        if self.is_closed() {
            return Err(SendError::Closed);
        }
        if let Payload::Text(text) = &message {
            if self.transport() == TransportKind::Polling
                && text.as_bytes().contains(&crate::payload::SEPARATOR)
            {
                return Err(SendError::RecordSeparator);
            }
        }
        let len = message.len();
        loop {
            // Registered before the check, so a release in between wakes it.
            let room = self.shared.room.notified();
            if self.shared.reserve(len) {
                break;
            }
            if self.is_closed() {
                return Err(SendError::Closed);
            }
            room.await;
        }
        self.tx.send(message).await.map_err(|_| {
            self.shared.release(len);
            SendError::Closed
        })
    }

    /// Queues a text message.
    pub fn send_text(&self, text: impl Into<Utf8Bytes>) -> Result<(), SendError> {
        self.send(Payload::Text(text.into()))
    }

    /// Queues a binary message.
    pub fn send_binary(&self, data: impl Into<Bytes>) -> Result<(), SendError> {
        self.send(Payload::Binary(data.into()))
    }

    /// Closes the session: what was queued before is delivered (bounded by
    /// [`ClientOptions::close_timeout`]), then a `close` packet, and
    /// [`EngineEvents`] ends with [`Event::Closed`]`(`[`CloseReason::ForcedClose`](super::CloseReason::ForcedClose)`)`.
    /// Later sends fail with [`SendError::Closed`].
    pub fn close(&self) {
        if !self.shared.close_requested.swap(true, Ordering::AcqRel) {
            self.shared.close.notify_one();
        }
    }
}

/// The receiving half of a client session: its [`Event`]s, in order.
#[derive(Debug)]
pub struct EngineEvents {
    pub(super) rx: mpsc::Receiver<Event>,
}

impl EngineEvents {
    /// The next event; `None` after [`Event::Closed`]. Cancel-safe: usable
    /// in `tokio::select!` without losing events.
    pub async fn next(&mut self) -> Option<Event> {
        self.rx.recv().await
    }

    /// Polls for the next event; `Ready(None)` after [`Event::Closed`].
    pub fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<Event>> {
        self.rx.poll_recv(cx)
    }
}

/// Percent-encodes a query component (RFC 3986 unreserved characters are
/// kept).
pub(super) fn encode_component(s: &str, out: &mut String) {
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 15)]));
        }
    }
}

const HEX: [u8; 16] = *b"0123456789ABCDEF";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_encoding() {
        let mut s = String::new();
        encode_component("a b&c=d/é~", &mut s);
        assert_eq!(s, "a%20b%26c%3Dd%2F%C3%A9~");
    }

    #[test]
    fn handles_cross_tasks() {
        fn send_sync<T: Send + Sync + 'static>() {}
        send_sync::<EngineClient>();
        send_sync::<EngineEvents>();
        send_sync::<ClientOptions>();
        send_sync::<Error>();
    }
}
