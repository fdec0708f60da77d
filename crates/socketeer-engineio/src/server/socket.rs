//! The application's handle on one Engine.IO session.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{HeaderMap, Uri};
use tokio::sync::Notify;

use super::core::{CloseReason, TransportKind};
use crate::sync::LockExt;
use crate::{Packet, Payload, PreparedFrame};

/// A request to the server, as the application sees it: for a session
/// ([`Socket::request`]), its first (handshake) request; for the hooks
/// ([`HeadersHook`](super::HeadersHook), …), the request at hand.
#[derive(Debug, Clone)]
pub struct RequestInfo {
    /// The request URI (path and query).
    pub uri: Uri,
    /// The request headers (shared with the layers above, not copied).
    pub headers: Arc<HeaderMap>,
    /// The peer's address, when the server knows it.
    pub remote_addr: Option<SocketAddr>,
}

impl RequestInfo {
    /// The URI's query, parsed and percent-decoded (Node's
    /// `handshake.query`).
    pub fn query(&self) -> crate::query::Query {
        crate::query::Query::parse(self.uri.query().unwrap_or(""))
    }
}

/// Why a send was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// The session is closed.
    #[error("session closed")]
    Closed,
    /// The session's send queue is full (the client does not keep up).
    #[error("send queue full")]
    QueueFull,
}

/// A packet queued for a session.
#[derive(Debug, Clone)]
pub(crate) enum Outgoing {
    /// An encoded Engine.IO packet.
    Payload(Payload),
    /// The same, with its WebSocket frame built once for every recipient
    /// of a broadcast.
    Prepared(PreparedFrame),
}

impl Outgoing {
    /// The Engine.IO packet (sliced from the prepared frame, no copy).
    pub(crate) fn into_payload(self) -> Payload {
        match self {
            Outgoing::Payload(p) => p,
            Outgoing::Prepared(f) => f.payload(),
        }
    }
}

#[derive(Debug, Default)]
pub(crate) struct Outbox {
    pub(crate) frames: VecDeque<Outgoing>,
    pub(crate) close: Option<CloseReason>,
    /// The first this many frames leave in a write of their own.
    pub(crate) barrier: Option<usize>,
}

#[derive(Debug)]
pub(crate) struct SocketInner {
    pub(crate) sid: Arc<str>,
    pub(crate) info: RequestInfo,
    pub(crate) outbox: Mutex<Outbox>,
    /// Requests of the HTTP side for the session's task.
    pub(crate) commands: Mutex<super::command::Commands>,
    /// Wakes the session's task: messages or commands queued.
    pub(crate) notify: Notify,
    transport: AtomicU8,
    closed: AtomicBool,
    /// A long-polling POST is being read or handled.
    pub(crate) posting: AtomicBool,
    max_queue: usize,
}

/// A connected Engine.IO session: send messages to it, close it.
///
/// Cheap to clone; all clones refer to the same session. Messages queue in
/// order and leave in batches, whatever the transport.
#[derive(Debug, Clone)]
pub struct Socket {
    pub(crate) inner: Arc<SocketInner>,
}

impl Socket {
    pub(crate) fn new(
        sid: Arc<str>,
        info: RequestInfo,
        transport: TransportKind,
        max_queue: usize,
    ) -> Self {
        Socket {
            inner: Arc::new(SocketInner {
                sid,
                info,
                outbox: Mutex::new(Outbox::default()),
                commands: Mutex::new(super::command::Commands::default()),
                notify: Notify::new(),
                transport: AtomicU8::new(transport as u8),
                closed: AtomicBool::new(false),
                posting: AtomicBool::new(false),
                max_queue,
            }),
        }
    }

    /// The session id.
    pub fn id(&self) -> &str {
        &self.inner.sid
    }

    /// A request to the server, as the application sees it: for a session
    /// ([`Socket::request`]), its first (handshake) request; for the hooks
    /// ([`HeadersHook`](super::HeadersHook), …), the request at hand.
    pub fn request(&self) -> &RequestInfo {
        &self.inner.info
    }

    /// The transport carrying the session now.
    pub fn transport(&self) -> TransportKind {
        if self.inner.transport.load(Ordering::Relaxed) == TransportKind::WebSocket as u8 {
            TransportKind::WebSocket
        } else {
            TransportKind::Polling
        }
    }

    pub(crate) fn set_transport(&self, t: TransportKind) {
        self.inner.transport.store(t as u8, Ordering::Relaxed);
    }

    /// Whether the session has closed.
    pub fn is_closed(&self) -> bool {
        self.inner.closed.load(Ordering::Acquire)
    }

    pub(crate) fn mark_closed(&self) {
        self.inner.closed.store(true, Ordering::Release);
    }

    pub(crate) fn lock(&self) -> std::sync::MutexGuard<'_, Outbox> {
        self.inner.outbox.locked()
    }

    pub(crate) fn commands(&self) -> std::sync::MutexGuard<'_, super::command::Commands> {
        self.inner.commands.locked()
    }

    /// Hands a request to the session's task; gives it back if the
    /// session has ended.
    pub(crate) fn command(
        &self,
        cmd: super::command::Command,
    ) -> Result<(), super::command::Command> {
        self.commands().push(cmd)?;
        self.inner.notify.notify_one();
        Ok(())
    }

    /// Queues a message.
    pub fn send(&self, message: Payload) -> Result<(), SendError> {
        self.send_frame(Packet::Message(message).encode())
    }

    /// Queues a text message.
    pub fn send_text(&self, text: impl Into<crate::Utf8Bytes>) -> Result<(), SendError> {
        self.send(Payload::Text(text.into()))
    }

    /// Queues a binary message.
    pub fn send_binary(&self, data: impl Into<Bytes>) -> Result<(), SendError> {
        self.send(Payload::Binary(data.into()))
    }

    /// Queues a packet encoded once for many sessions (a broadcast): only a
    /// reference count is added per recipient.
    pub fn send_frame(&self, frame: Payload) -> Result<(), SendError> {
        self.push(Outgoing::Payload(frame))
    }

    /// Queues a packet whose WebSocket frame was built once for many
    /// sessions (a broadcast): a WebSocket session writes those bytes as
    /// they are (unless it compresses messages of that size), a polling
    /// session sends the packet it holds.
    pub fn send_prepared(&self, frame: PreparedFrame) -> Result<(), SendError> {
        self.push(Outgoing::Prepared(frame))
    }

    fn push(&self, item: Outgoing) -> Result<(), SendError> {
        if self.is_closed() {
            return Err(SendError::Closed);
        }
        let wake = {
            let mut outbox = self.lock();
            if outbox.close.is_some() {
                return Err(SendError::Closed);
            }
            if outbox.frames.len() >= self.inner.max_queue {
                return Err(SendError::QueueFull);
            }
            let wake = outbox.frames.is_empty();
            outbox.frames.push_back(item);
            wake
        };
        // The session task takes the whole queue whenever it runs, so the
        // wake-up for the first queued frame covers the ones behind it.
        if wake {
            self.inner.notify.notify_one();
        }
        Ok(())
    }

    /// Queues a frame and has everything queued so far written in a write
    /// of its own, before anything queued later: peers that read a
    /// handshake reply and then attach a listener for the next message
    /// (the official test suites do) see them in separate reads.
    pub fn send_frame_flush(&self, frame: Payload) -> Result<(), SendError> {
        if self.is_closed() {
            return Err(SendError::Closed);
        }
        {
            let mut outbox = self.lock();
            if outbox.close.is_some() {
                return Err(SendError::Closed);
            }
            outbox.frames.push_back(Outgoing::Payload(frame));
            let n = outbox.frames.len();
            outbox.barrier.get_or_insert(n);
        }
        self.inner.notify.notify_one();
        Ok(())
    }

    /// Queues a message only if the queue is empty and the session open:
    /// for data that is worthless late (Socket.IO `volatile`).
    pub fn send_volatile(&self, frame: Payload) -> bool {
        if self.is_closed() {
            return false;
        }
        {
            let mut outbox = self.lock();
            if outbox.close.is_some() || !outbox.frames.is_empty() {
                return false;
            }
            outbox.frames.push_back(Outgoing::Payload(frame));
        }
        self.inner.notify.notify_one();
        true
    }

    /// Closes the session after the messages already queued are sent.
    pub fn close(&self) {
        self.close_with(CloseReason::ForcedClose);
    }

    /// Closes the session with a given reason (as seen by the handler).
    pub fn close_with(&self, reason: CloseReason) {
        self.lock().close.get_or_insert(reason);
        self.inner.notify.notify_one();
    }
}
