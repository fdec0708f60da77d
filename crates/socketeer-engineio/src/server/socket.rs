//! The application's handle on one Engine.IO session.
//!
//! What waits to be sent to it is in its outbox (`outbox.rs`). The
//! thread's batch of parked sessions that a poll queued frames for (see
//! `direct.rs`) is kept here: it is a list of sessions, filled by the
//! session's sends, so it lives with them (in `outbox.rs` the two modules
//! would import each other).

use std::cell::RefCell;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{HeaderMap, Uri};
use tokio::sync::Notify;

use super::core::{CloseReason, TransportKind};
use super::events::Events;
use super::outbox::{Outbox, Outgoing};
use super::stats::Counters;
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
    /// The message would have taken the session's send queue over its
    /// limit (`max_queued_bytes` or `max_queued_messages`: the client does
    /// not keep up). The session is being closed ("transport error"; a
    /// WebSocket gets close code 1008) and what was queued is dropped.
    #[error("send queue full")]
    QueueFull,
}

/// A prepared frame to queue, compressed by the WebSocket or not.
fn prepared(frame: PreparedFrame, compress: bool) -> Outgoing {
    if compress {
        Outgoing::Prepared(frame)
    } else {
        Outgoing::PreparedUncompressed(frame)
    }
}

thread_local! {
    /// The parked sessions a poll on this thread queued frames for, while
    /// a batch is open (see `direct.rs`).
    static BATCH: RefCell<Batch> = const {
        RefCell::new(Batch {
            open: false,
            parked: Vec::new(),
        })
    };
}

struct Batch {
    open: bool,
    parked: Vec<Socket>,
}

/// Adds a parked session to this thread's open batch; false when no
/// batch is open (the sender must wake the session instead).
fn defer(socket: &Socket) -> bool {
    BATCH.with(|b| match b.try_borrow_mut() {
        Ok(mut b) if b.open => {
            b.parked.push(socket.clone());
            true
        }
        _ => false,
    })
}

/// Opens this thread's batch; false if one is open already.
pub(crate) fn open_batch() -> bool {
    BATCH.with(|b| !std::mem::replace(&mut b.borrow_mut().open, true))
}

/// Closes this thread's batch: the sessions to write to, in the order
/// they were queued for. Give the list back with [`reuse_batch`].
pub(crate) fn close_batch() -> Vec<Socket> {
    BATCH.with(|b| {
        let mut b = b.borrow_mut();
        b.open = false;
        std::mem::take(&mut b.parked)
    })
}

/// Keeps an emptied list's room for the next batch.
pub(crate) fn reuse_batch(list: Vec<Socket>) {
    BATCH.with(|b| {
        if let Ok(mut b) = b.try_borrow_mut() {
            if b.parked.capacity() == 0 {
                b.parked = list;
            }
        }
    });
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
    /// The outbox holds the WebSocket's writer (see `direct.rs`); only the
    /// session's task changes it, so it reads it without the lock.
    pub(crate) parked: AtomicBool,
    /// A long-polling POST is being read or handled.
    pub(crate) posting: AtomicBool,
    /// Bytes in the outbox (kept beside it under its lock, readable
    /// without it).
    outbox_bytes: AtomicUsize,
    /// Bytes in the WebSocket's send queue, as the session's task last
    /// saw them (it stores them each time it has polled the WebSocket).
    pub(crate) backlog: AtomicUsize,
    /// The session was closed for going over its queue limit.
    overflowed: AtomicBool,
    pub(crate) counters: Arc<Counters>,
    limits: QueueLimits,
    /// The application's listeners on this session's events.
    pub(crate) events: Events,
}

/// The bounds on what may wait to be sent to one session.
#[derive(Debug, Clone, Copy)]
pub(crate) struct QueueLimits {
    pub(crate) messages: usize,
    pub(crate) bytes: usize,
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
        limits: QueueLimits,
        counters: Arc<Counters>,
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
                parked: AtomicBool::new(false),
                posting: AtomicBool::new(false),
                outbox_bytes: AtomicUsize::new(0),
                backlog: AtomicUsize::new(0),
                overflowed: AtomicBool::new(false),
                counters,
                limits,
                events: Events::default(),
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

    /// Bytes waiting to be sent to this session: in its outbox and, on
    /// WebSocket, in the WebSocket's send queue (a broadcast frame counts
    /// in full for each recipient). Bounded by `max_queued_bytes`.
    pub fn queued_bytes(&self) -> usize {
        self.inner.outbox_bytes.load(Ordering::Relaxed) + self.inner.backlog.load(Ordering::Relaxed)
    }

    /// Whether the session was closed because its send queue went over
    /// its limit.
    pub fn overflowed(&self) -> bool {
        self.inner.overflowed.load(Ordering::Relaxed)
    }

    /// Records the outbox's size after a change, under its lock.
    pub(crate) fn sync_bytes(&self, outbox: &Outbox) {
        self.inner
            .outbox_bytes
            .store(outbox.bytes(), Ordering::Relaxed);
    }

    /// Whether `len` more bytes fit: under the limit, or alone in an empty
    /// queue (a message over the limit cannot be split; it already exists).
    fn has_room(&self, outbox: &Outbox, len: usize) -> bool {
        let limits = self.inner.limits;
        if outbox.len() >= limits.messages {
            return false;
        }
        let queued = outbox.bytes() + self.inner.backlog.load(Ordering::Relaxed);
        queued == 0 || queued.saturating_add(len) <= limits.bytes
    }

    /// Closes the session for going over its queue limit: what is queued
    /// is dropped now (the client will not get it anyway), the task closes
    /// the transport (WebSocket close code 1008).
    pub(crate) fn overflow(&self, outbox: &mut Outbox) {
        outbox.drop_queued();
        self.sync_bytes(outbox);
        outbox.close.get_or_insert(CloseReason::TransportError);
        if !self.inner.overflowed.swap(true, Ordering::Relaxed) {
            self.inner.counters.queue_overflow();
        }
    }

    /// For a parked session: whether a batch writes what was just queued
    /// (then the task is not woken).
    fn claim_parked(&self, outbox: &mut Outbox) -> bool {
        if outbox.parked.is_none() {
            return false;
        }
        if !outbox.claimed && defer(self) {
            outbox.claimed = true;
        }
        outbox.claimed
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

    /// Hands a long-poll to the session's task, waking it only if it
    /// must be (see [`Commands`]); gives it back if the session has ended.
    ///
    /// [`Commands`]: super::command::Commands
    pub(crate) fn offer_poll(
        &self,
        reply: super::command::PollReply,
    ) -> Result<(), super::command::Command> {
        let offered = self.commands().offer_poll(reply)?;
        // An unannounced poll still wakes the task when something is
        // queued already (the task may have flushed before the poll came);
        // what is queued after this wakes it anyway.
        if offered == super::command::Offered::Queued || !self.lock().is_empty() {
            self.inner.notify.notify_one();
        }
        Ok(())
    }

    /// A long-poll's HTTP request went away before its answer. Still
    /// queued, it is taken out and the session fails, as the official
    /// server's does ("poll connection closed prematurely") and as the
    /// session's task does for a poll it holds, rather than send the next
    /// messages into a closed request.
    pub(crate) fn poll_gone(&self) {
        let gone = self.commands().take_gone_poll();
        if gone.is_some() {
            let _ = self.command(super::command::Command::Fail(CloseReason::TransportError));
        }
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

    /// [`Socket::send`] with a choice of compression (engine.io's
    /// `socket.send(data, { compress })`): with `false` the message never
    /// goes compressed over a WebSocket with permessage-deflate, whatever
    /// its size; with `true` (what [`Socket::send`] does) it is compressed
    /// when it reaches the threshold. Long-polling responses are not
    /// concerned (their compression is the HTTP response's).
    pub fn send_with(&self, message: Payload, compress: bool) -> Result<(), SendError> {
        self.send_frame_with(Packet::Message(message).encode(), compress)
    }

    /// [`Socket::send_frame`] with a choice of compression (see
    /// [`Socket::send_with`]).
    pub fn send_frame_with(&self, frame: Payload, compress: bool) -> Result<(), SendError> {
        self.push(if compress {
            Outgoing::Payload(frame)
        } else {
            Outgoing::Uncompressed(frame)
        })
    }

    /// [`Socket::send_prepared`] with a choice of compression (see
    /// [`Socket::send_with`]): with `false` the prepared bytes are written
    /// as they are whatever the message's size.
    pub fn send_prepared_with(
        &self,
        frame: PreparedFrame,
        compress: bool,
    ) -> Result<(), SendError> {
        self.push(prepared(frame, compress))
    }

    fn push(&self, item: Outgoing) -> Result<(), SendError> {
        if self.is_closed() {
            return Err(SendError::Closed);
        }
        let len = item.wire_len();
        let wake = {
            let mut outbox = self.lock();
            if outbox.close.is_some() {
                return Err(SendError::Closed);
            }
            if !self.has_room(&outbox, len) {
                tracing::debug!(
                    sid = self.id(),
                    queued = self.queued_bytes(),
                    len,
                    "send queue over its limit: closing the session"
                );
                self.overflow(&mut outbox);
                drop(outbox);
                self.inner.notify.notify_one();
                return Err(SendError::QueueFull);
            }
            let wake = outbox.is_empty();
            outbox.push(item, len);
            self.sync_bytes(&outbox);
            wake && !self.claim_parked(&mut outbox)
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
    /// (the official test suites do) see them in separate reads. (Counted
    /// in the queue, never refused: it is the handshake's reply.)
    pub fn send_frame_flush(&self, frame: Payload) -> Result<(), SendError> {
        if self.is_closed() {
            return Err(SendError::Closed);
        }
        {
            let mut outbox = self.lock();
            if outbox.close.is_some() {
                return Err(SendError::Closed);
            }
            let item = Outgoing::Payload(frame);
            let len = item.wire_len();
            outbox.push(item, len);
            self.sync_bytes(&outbox);
            let n = u32::try_from(outbox.len()).unwrap_or(u32::MAX);
            // n >= 1: the frame was just queued.
            if let Some(n) = std::num::NonZeroU32::new(n) {
                outbox.barrier.get_or_insert(n);
            }
        }
        self.inner.notify.notify_one();
        Ok(())
    }

    /// Queues a message only if the session is open, nothing waits in its
    /// outbox and the message fits under the queue limit: for data that is
    /// worthless late (Socket.IO `volatile`). A message not queued is
    /// dropped (and counted in
    /// [`EngineStats::volatile_dropped`](super::EngineStats::volatile_dropped)),
    /// never a reason to close the session.
    pub fn send_volatile(&self, frame: Payload) -> bool {
        self.push_volatile([Outgoing::Payload(frame)])
    }

    /// [`Socket::send_volatile`] with a choice of compression (see
    /// [`Socket::send_with`]).
    pub fn send_volatile_with(&self, frame: Payload, compress: bool) -> bool {
        if compress {
            self.push_volatile([Outgoing::Payload(frame)])
        } else {
            self.push_volatile([Outgoing::Uncompressed(frame)])
        }
    }

    /// [`Socket::send_volatile`] for packets whose WebSocket frames were
    /// built once for many sessions (a volatile broadcast, with its binary
    /// attachments): all of them are queued, or none.
    pub fn send_volatile_prepared(&self, frames: &[PreparedFrame]) -> bool {
        self.push_volatile(frames.iter().cloned().map(Outgoing::Prepared))
    }

    /// [`Socket::send_volatile_prepared`] with a choice of compression
    /// (see [`Socket::send_with`]).
    pub fn send_volatile_prepared_with(&self, frames: &[PreparedFrame], compress: bool) -> bool {
        self.push_volatile(frames.iter().map(|f| prepared(f.clone(), compress)))
    }

    fn push_volatile<I>(&self, items: I) -> bool
    where
        I: IntoIterator<Item = Outgoing>,
        I::IntoIter: Clone,
    {
        if self.is_closed() {
            return false;
        }
        let items = items.into_iter();
        let len: usize = items.clone().map(|i| i.wire_len()).sum();
        {
            let mut outbox = self.lock();
            if outbox.close.is_some() {
                return false;
            }
            if !outbox.is_empty() || !self.has_room(&outbox, len) {
                drop(outbox);
                self.inner.counters.volatile_dropped();
                return false;
            }
            for item in items {
                let len = item.wire_len();
                outbox.push(item, len);
            }
            self.sync_bytes(&outbox);
            if self.claim_parked(&mut outbox) {
                return true;
            }
        }
        self.inner.notify.notify_one();
        true
    }

    /// Calls `f` once the session has moved from long-polling to
    /// WebSocket, with the new transport (engine.io's `upgrade` event).
    /// A session opened on WebSocket never upgrades.
    ///
    /// Like every listener of a session, `f` runs on the session's task,
    /// between its reads and writes: keep it quick (hand long work to
    /// another task) and do not block. A listener registered after the
    /// session closed is never called; every listener is dropped when
    /// the session closes (so it may hold a clone of this `Socket`).
    pub fn on_upgrade(&self, f: impl Fn(TransportKind) + Send + Sync + 'static) {
        self.inner.events.add_upgrade(Arc::new(f));
    }

    /// Calls `f` with every packet the client sends (engine.io's `packet`
    /// event): pings, pongs, messages, close, over either transport,
    /// before the session acts on it (the probe packets of an upgrade
    /// are not included). Runs on the session's task: keep it quick (see
    /// [`Socket::on_upgrade`]). A session without such a listener pays
    /// one atomic load per packet for this.
    pub fn on_packet(&self, f: impl Fn(&Packet) + Send + Sync + 'static) {
        self.inner.events.add_packet(Arc::new(f));
    }

    /// Calls `f` with every packet the session sends (engine.io's
    /// `packetCreate` event): pings, messages, the close packet. It is
    /// called when the session's task hands the packet to its transport
    /// (not when the application queues it), decoded again from the
    /// queued bytes. Runs on the session's task: keep it quick (see
    /// [`Socket::on_upgrade`]).
    pub fn on_packet_create(&self, f: impl Fn(&Packet) + Send + Sync + 'static) {
        self.inner.events.add_packet_create(Arc::new(f));
    }

    /// Calls `f` each time what was queued has been handed to the
    /// client (engine.io's `drain` event): over WebSocket when the
    /// WebSocket's send queue has been written out, over long-polling
    /// when a poll has been answered with the packets queued. Runs on
    /// the session's task: keep it quick (see [`Socket::on_upgrade`]).
    pub fn on_drain(&self, f: impl Fn() + Send + Sync + 'static) {
        self.inner.events.add_drain(Arc::new(f));
    }

    /// Calls `f` once the session has closed, with the reason (engine.io's
    /// `close` event), after the application's handler has seen the close
    /// (for a Socket.IO connection: after its sockets' `disconnect`
    /// handlers). Runs on the session's task: keep it quick (see
    /// [`Socket::on_upgrade`]).
    pub fn on_close(&self, f: impl Fn(CloseReason) + Send + Sync + 'static) {
        self.inner.events.add_close(Arc::new(f));
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

#[cfg(test)]
mod tests {
    use super::*;

    fn socket(messages: usize, bytes: usize) -> (Socket, Arc<Counters>) {
        let counters = Arc::new(Counters::default());
        let info = RequestInfo {
            uri: Uri::from_static("/engine.io/"),
            headers: Arc::default(),
            remote_addr: None,
        };
        let socket = Socket::new(
            "sid".into(),
            info,
            TransportKind::WebSocket,
            QueueLimits { messages, bytes },
            counters.clone(),
        );
        (socket, counters)
    }

    /// An Engine.IO message packet of `n` bytes ("4" and n - 1 of data):
    /// a frame of n + 2 bytes while n <= 125.
    fn text(n: usize) -> Payload {
        Payload::Text(format!("4{}", "x".repeat(n - 1)).into())
    }

    /// Every session keeps one: each 16 bytes is a size class of its
    /// allocation (Arc counts included; the outbox's own bound is in
    /// `outbox.rs`).
    #[test]
    fn per_session_state_stays_small() {
        assert!(std::mem::size_of::<SocketInner>() <= 368);
    }

    #[test]
    fn counts_wire_bytes_and_closes_at_the_byte_limit() {
        let (s, counters) = socket(1000, 100);
        s.send_frame(text(40)).unwrap();
        s.send_frame(text(40)).unwrap();
        assert_eq!(s.queued_bytes(), 84);
        // A frame built once for many sessions counts in full.
        let prepared = PreparedFrame::from_payload(text(10));
        s.send_prepared(prepared.clone()).unwrap();
        assert_eq!(s.queued_bytes(), 96);
        // 96 + 12 would cross 100: refused, the session is closed and what
        // was queued is dropped.
        assert_eq!(s.send_prepared(prepared), Err(SendError::QueueFull));
        assert!(s.overflowed());
        assert_eq!(s.queued_bytes(), 0);
        assert_eq!(s.lock().close, Some(CloseReason::TransportError));
        assert_eq!(s.send_frame(text(2)), Err(SendError::Closed));
        assert_eq!(counters.snapshot().queue_overflows, 1);
    }

    #[test]
    fn the_websocket_backlog_counts_too() {
        let (s, _) = socket(1000, 100);
        s.inner.backlog.store(90, Ordering::Relaxed);
        assert_eq!(s.queued_bytes(), 90);
        s.send_frame(text(8)).unwrap();
        assert_eq!(s.queued_bytes(), 100);
        assert_eq!(s.send_frame(text(1)), Err(SendError::QueueFull));
        assert!(s.overflowed());
    }

    #[test]
    fn a_message_alone_may_exceed_the_limit() {
        let (s, _) = socket(1000, 100);
        s.send_frame(text(500)).unwrap();
        assert_eq!(s.queued_bytes(), 504);
        assert_eq!(s.send_frame(text(1)), Err(SendError::QueueFull));
    }

    #[test]
    fn the_message_count_is_a_second_bound() {
        let (s, counters) = socket(3, 1 << 20);
        for _ in 0..3 {
            s.send_frame(text(1)).unwrap();
        }
        assert_eq!(s.send_frame(text(1)), Err(SendError::QueueFull));
        assert!(s.overflowed());
        assert_eq!(counters.snapshot().queue_overflows, 1);
    }

    #[test]
    fn volatile_messages_are_dropped_and_counted_never_fatal() {
        let (s, counters) = socket(1000, 100);
        assert!(s.send_volatile(text(10)));
        // Something queued: not ready, dropped.
        assert!(!s.send_volatile(text(10)));
        let taken = s.lock().take();
        assert_eq!(taken.len(), 1);
        // Room by count, but not by bytes.
        s.inner.backlog.store(95, Ordering::Relaxed);
        assert!(!s.send_volatile(text(10)));
        assert!(!s.overflowed());
        assert_eq!(s.lock().close, None);
        assert_eq!(counters.snapshot().volatile_dropped, 2);
        s.inner.backlog.store(0, Ordering::Relaxed);
        assert!(s.send_volatile(text(10)));
        // Several frames (a packet and its attachments): all or none.
        s.lock().take();
        let frames = [
            PreparedFrame::from_payload(text(40)),
            PreparedFrame::from_payload(Payload::Binary(Bytes::from(vec![0; 40]))),
        ];
        assert!(s.send_volatile_prepared(&frames));
        assert_eq!(s.queued_bytes(), 84);
        s.lock().take();
        s.sync_bytes(&s.lock());
        s.inner.backlog.store(20, Ordering::Relaxed);
        assert!(!s.send_volatile_prepared(&frames));
        assert_eq!(s.lock().len(), 0);
        assert_eq!(counters.snapshot().volatile_dropped, 3);
    }
}
