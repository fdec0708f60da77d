//! The tokio driver: a [`Protocol`] over any `AsyncRead + AsyncWrite`.

use std::future::{poll_fn, Future};
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{ready, Context, Poll, Wake, Waker};
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use futures_core::Stream;
use futures_sink::Sink;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::{Instant, Sleep};

use crate::close::{CloseCode, CloseFrame};
use crate::core::{CloseState, Fragment, PreparedFrame, Protocol};
use crate::error::{Error, Result};
use crate::message::Message;
use crate::role::Role;

/// Smallest free space offered to a read.
const MIN_READ_SPACE: usize = 2048;
/// Initial read buffer size; doubled while reads fill it, up to the max.
const READ_BUF_START: usize = 4096;
const READ_BUF_MAX: usize = 256 * 1024;
/// A frame with at least this much still to come is read alone.
const LARGE_FRAME_REST: usize = 2048;
/// Most buffers handed to one vectored write.
const MAX_IOVECS: usize = 64;

/// Read buffers of connections that have nothing left to read, kept per
/// thread for the next connection that reads.
///
/// An idle connection holds no read buffer, but a busy one waits for input
/// between every batch: freeing its buffer there made glibc trim the heap
/// and grow it again (a `brk` and freshly zeroed pages for every other
/// read of 16 KiB messages at depth 16). A buffer taken back a moment
/// later, often by another connection, is also still in cache.
mod read_pool {
    use std::cell::RefCell;

    use bytes::BytesMut;

    /// Most bytes of spare capacity kept per thread.
    const MAX_BYTES: usize = 1 << 20;
    /// Most buffers kept per thread.
    const MAX_BUFFERS: usize = 16;

    struct Pool {
        buffers: Vec<BytesMut>,
        bytes: usize,
    }

    thread_local! {
        static POOL: RefCell<Pool> = const {
            RefCell::new(Pool { buffers: Vec::new(), bytes: 0 })
        };
    }

    /// The most recently returned buffer, if any (empty, with capacity).
    pub(super) fn take() -> Option<BytesMut> {
        POOL.try_with(|p| {
            let mut p = p.borrow_mut();
            let buf = p.buffers.pop()?;
            p.bytes -= buf.capacity();
            Some(buf)
        })
        .ok()
        .flatten()
    }

    /// Buffers held now.
    #[cfg(test)]
    pub(super) fn len() -> usize {
        POOL.with(|p| p.borrow().buffers.len())
    }

    /// Keeps an empty buffer for reuse, or frees it when the pool is full.
    pub(super) fn give(mut buf: BytesMut) {
        buf.clear();
        // Once no received payload points into it any more, the space in
        // front of the view is free again: take it back.
        let _ = buf.try_reclaim(buf.capacity() + 1);
        if buf.capacity() < super::MIN_READ_SPACE {
            return;
        }
        let _ = POOL.try_with(|p| {
            let mut p = p.borrow_mut();
            if p.buffers.len() < MAX_BUFFERS && p.bytes + buf.capacity() <= MAX_BYTES {
                p.bytes += buf.capacity();
                p.buffers.push(buf);
            }
        });
    }
}

/// Keepalive pings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Keepalive {
    /// Time between pings.
    pub interval: Duration,
    /// How long to wait for the pong before failing with 1011.
    pub timeout: Duration,
}

/// Driver settings (the protocol limits live in [`crate::Limits`]).
#[derive(Debug, Clone, Copy)]
pub struct StreamConfig {
    /// Most bytes queued for writing (default 8 MiB). Waiting sends
    /// ([`WebSocketStream::feed`], [`WebSocketStream::send`], the `Sink`)
    /// wait for room; non-waiting ones ([`WebSocketStream::try_feed`],
    /// [`WebSocketStream::feed_prepared`]) are refused with
    /// [`Error::QueueFull`]. A message alone in an empty queue is taken
    /// whatever its size. Pongs the peer asks for and does not read are
    /// not refused: when they take the queue over the limit the connection
    /// fails with close code 1008 and [`Error::SendQueueOverflow`].
    pub max_send_queue: usize,
    /// How long the closing handshake and TCP close may take before the
    /// connection is dropped (default 10 s).
    pub close_timeout: Duration,
    /// Optional keepalive pings (off by default). Pings are sent and
    /// checked while the stream is being read.
    pub keepalive: Option<Keepalive>,
}

impl Default for StreamConfig {
    fn default() -> Self {
        StreamConfig {
            max_send_queue: 8 << 20,
            close_timeout: Duration::from_secs(10),
            keepalive: None,
        }
    }
}

#[derive(Debug)]
struct KeepaliveState {
    config: Keepalive,
    sleep: Pin<Box<Sleep>>,
    awaiting_pong: bool,
}

/// A WebSocket connection over `S`: a [`Stream`] of received messages and
/// a [`Sink`] of messages to send, plus async helpers.
///
/// Writes are batched: [`WebSocketStream::feed`] only queues, and queued
/// frames leave in one vectored write on [`WebSocketStream::flush`], on
/// [`WebSocketStream::send`], or whenever the stream waits for input. An
/// idle connection holds no read or write buffer: read buffers of
/// connections waiting for input go to a small per-thread pool (at most 16
/// buffers and 1 MiB of spare space per thread) for the next read.
#[derive(Debug)]
pub struct WebSocketStream<S> {
    io: S,
    proto: Protocol,
    read_buf: BytesMut,
    read_size: usize,
    config: StreamConfig,
    keepalive: Option<Box<KeepaliveState>>,
    close_deadline: Option<Pin<Box<Sleep>>>,
    pending_error: Option<Error>,
    eof: bool,
    done: bool,
    /// Our FIN is out (`poll_shutdown` done): not again on the next poll.
    shut_down: bool,
    /// The peer stopped answering: do not wait for it on close.
    peer_unresponsive: bool,
}

impl<S> WebSocketStream<S>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    /// Wraps a transport on which the handshake is already done.
    /// `leftover` holds bytes read past the handshake.
    pub fn from_parts(io: S, proto: Protocol, leftover: BytesMut, config: StreamConfig) -> Self {
        let keepalive = config.keepalive.map(|k| {
            Box::new(KeepaliveState {
                config: k,
                sleep: Box::pin(tokio::time::sleep(k.interval)),
                awaiting_pong: false,
            })
        });
        WebSocketStream {
            io,
            proto,
            read_buf: leftover,
            read_size: READ_BUF_START,
            config,
            keepalive,
            close_deadline: None,
            pending_error: None,
            eof: false,
            done: false,
            shut_down: false,
            peer_unresponsive: false,
        }
    }

    /// Wraps a transport with a fresh protocol state of the given role.
    pub fn from_raw(io: S, role: Role) -> Self {
        Self::from_parts(
            io,
            Protocol::new(role),
            BytesMut::new(),
            StreamConfig::default(),
        )
    }

    /// The protocol state.
    pub fn protocol(&self) -> &Protocol {
        &self.proto
    }

    /// The underlying transport.
    pub fn get_ref(&self) -> &S {
        &self.io
    }

    /// Writes queued output until none is left or the transport blocks.
    fn poll_write_out(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.proto.has_output() {
            let n = if self.io.is_write_vectored() {
                let mut slices = [IoSlice::new(&[]); MAX_IOVECS];
                let count = self.proto.output_chunks(&mut slices);
                match slices.get(..count).unwrap_or_default() {
                    // One buffer (small frames are copied into one): a
                    // plain write, which on a TCP stream is a `send`; Linux
                    // charges `writev` its file layer on top, about 0.5 µs
                    // a call on loopback.
                    [one] => ready!(Pin::new(&mut self.io).poll_write(cx, one))?,
                    slices => ready!(Pin::new(&mut self.io).poll_write_vectored(cx, slices))?,
                }
            } else {
                let mut slices = [IoSlice::new(&[]); 1];
                self.proto.output_chunks(&mut slices);
                ready!(Pin::new(&mut self.io).poll_write(cx, &slices[0]))?
            };
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.proto.advance_output(n);
        }
        Poll::Ready(Ok(()))
    }

    fn poll_flush_all(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_write_out(cx))?;
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn arm_close_deadline(&mut self) {
        if self.close_deadline.is_none() {
            self.close_deadline = Some(Box::pin(tokio::time::sleep(self.config.close_timeout)));
        }
    }

    /// Polls for the next message. Pending output is flushed before the
    /// stream waits for input.
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Message>>> {
        loop {
            if self.done {
                return Poll::Ready(None);
            }
            if self.pending_error.is_none() {
                match self.proto.receive(&mut self.read_buf) {
                    Ok(Some(msg)) => {
                        if let (Message::Pong(_), Some(ka)) = (&msg, self.keepalive.as_mut()) {
                            ka.awaiting_pong = false;
                            let next = Instant::now() + ka.config.interval;
                            ka.sleep.as_mut().reset(next);
                        }
                        if matches!(msg, Message::Ping(_) | Message::Close(_)) {
                            // Answer now if the socket takes it; else later.
                            let _ = self.poll_write_out(cx);
                            if self.proto.output_len() > self.config.max_send_queue {
                                // A peer that pings and never reads would
                                // otherwise grow the queue without bound.
                                self.fail_overflow();
                                continue;
                            }
                        }
                        return Poll::Ready(Some(Ok(msg)));
                    }
                    Ok(None) => {}
                    Err(e) => self.pending_error = Some(Error::Protocol(e)),
                }
            }
            if self.pending_error.is_some() || self.proto.should_close_transport() || self.eof {
                return self.poll_finish(cx);
            }
            if self.proto.close_state() != CloseState::Open {
                self.arm_close_deadline();
                if let Some(deadline) = self.close_deadline.as_mut() {
                    if deadline.as_mut().poll(cx).is_ready() {
                        tracing::debug!("closing handshake timed out");
                        self.peer_unresponsive = true;
                        self.proto.abort(CloseCode::PROTOCOL_ERROR, "close timeout");
                        return self.poll_finish(cx);
                    }
                }
            }
            if let Some(ka) = self.keepalive.as_mut() {
                if ka.sleep.as_mut().poll(cx).is_ready() {
                    if ka.awaiting_pong {
                        self.peer_unresponsive = true;
                        self.proto
                            .abort(CloseCode::INTERNAL_ERROR, "keepalive ping timeout");
                        self.pending_error = Some(Error::KeepaliveTimeout);
                        continue;
                    }
                    ka.awaiting_pong = true;
                    let next = Instant::now() + ka.config.timeout;
                    ka.sleep.as_mut().reset(next);
                    if self.proto.close_state() == CloseState::Open {
                        let _ = self.proto.send(Message::Ping(Bytes::new()));
                    }
                    continue;
                }
            }
            if self.proto.has_output() {
                if let Poll::Ready(Err(e)) = self.poll_flush_all(cx) {
                    self.done = true;
                    return Poll::Ready(Some(Err(e.into())));
                }
            }
            let spare = self.read_buf.capacity() - self.read_buf.len();
            if spare < MIN_READ_SPACE {
                if self.read_buf.is_empty() {
                    if let Some(pooled) = read_pool::take() {
                        self.read_buf = pooled;
                    }
                }
                if self.read_buf.capacity() - self.read_buf.len() < MIN_READ_SPACE {
                    self.read_buf.reserve(self.read_size);
                }
            }
            let before = self.read_buf.len();
            // Inside a large frame, read up to its end only: bytes of the
            // next frame would otherwise have to be copied out of a buffer
            // still shared with queued payloads.
            let polled = match self.proto.frame_remaining(before) {
                Some(rest) if rest >= LARGE_FRAME_REST => {
                    let mut limited = (&mut self.read_buf).limit(rest);
                    tokio_util::io::poll_read_buf(Pin::new(&mut self.io), cx, &mut limited)
                }
                _ => tokio_util::io::poll_read_buf(Pin::new(&mut self.io), cx, &mut self.read_buf),
            };
            match polled {
                Poll::Pending => {
                    if self.read_buf.is_empty() {
                        // Idle: give the buffers back.
                        read_pool::give(std::mem::take(&mut self.read_buf));
                        self.proto.shrink_idle();
                    }
                    return Poll::Pending;
                }
                Poll::Ready(Ok(0)) => {
                    self.eof = true;
                    if self.proto.close_state() == CloseState::Open {
                        self.pending_error = Some(Error::Io(io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            "connection closed without a close frame",
                        )));
                    }
                }
                Poll::Ready(Ok(n)) => {
                    if before + n >= self.read_size && self.read_size < READ_BUF_MAX {
                        self.read_size *= 2;
                    }
                }
                Poll::Ready(Err(e)) => {
                    self.done = true;
                    return Poll::Ready(Some(Err(e.into())));
                }
            }
        }
    }

    /// Fails the connection whose send queue went over its limit: close
    /// code 1008 (a limit of ours, not a protocol error), queued behind
    /// what is already waiting; the close timeout bounds the flush.
    fn fail_overflow(&mut self) {
        tracing::debug!(
            queued = self.proto.output_len(),
            limit = self.config.max_send_queue,
            "send queue over its limit"
        );
        self.proto
            .abort(CloseCode::POLICY_VIOLATION, "send queue overflow");
        // The peer may only be slow: it gets what is queued and the close
        // frame if it reads them within the close timeout.
        self.pending_error = Some(Error::SendQueueOverflow {
            limit: self.config.max_send_queue,
        });
    }

    /// Whether `len` more bytes fit in the send queue: under the limit,
    /// or alone in an empty queue.
    fn has_room(&self, len: usize) -> bool {
        let queued = self.proto.output_len();
        queued == 0 || queued.saturating_add(len) <= self.config.max_send_queue
    }

    /// Waits (writing) until `len` more bytes fit in the send queue.
    fn poll_room(&mut self, cx: &mut Context<'_>, len: usize) -> Poll<Result<()>> {
        if !self.has_room(len) {
            // Returns ready only once everything queued is written.
            ready!(self.poll_write_out(cx))?;
        }
        Poll::Ready(Ok(()))
    }

    /// Flushes what is queued (a close frame, usually), shuts the
    /// transport down, then reports a pending error once and ends.
    fn poll_finish(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Message>>> {
        self.arm_close_deadline();
        let timed_out = self
            .close_deadline
            .as_mut()
            .is_some_and(|d| d.as_mut().poll(cx).is_ready());
        // Also after EOF: our FIN must go out now, not when the stream is
        // dropped (the peer waits for it to finish its close).
        if !timed_out {
            if self.poll_flush_all(cx).is_pending() {
                return Poll::Pending;
            }
            if !self.shut_down {
                if Pin::new(&mut self.io).poll_shutdown(cx).is_pending() {
                    return Poll::Pending;
                }
                self.shut_down = true;
            }
            // Read and drop what the peer still sends until it closes too:
            // closing with unread input would make the kernel answer with a
            // reset, and the peer might lose our close frame.
            while !self.eof && !self.peer_unresponsive {
                self.read_buf.clear();
                if self.read_buf.capacity() < MIN_READ_SPACE {
                    self.read_buf.reserve(READ_BUF_START);
                }
                match tokio_util::io::poll_read_buf(Pin::new(&mut self.io), cx, &mut self.read_buf)
                {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(Ok(0)) | Poll::Ready(Err(_)) => self.eof = true,
                    Poll::Ready(Ok(_)) => {}
                }
            }
        }
        self.done = true;
        self.read_buf = BytesMut::new();
        self.proto.shrink_idle();
        match self.pending_error.take() {
            Some(e) => Poll::Ready(Some(Err(e))),
            None => Poll::Ready(None),
        }
    }

    /// Receives the next message; `None` once the connection has ended.
    pub async fn recv(&mut self) -> Option<Result<Message>> {
        poll_fn(|cx| self.poll_recv(cx)).await
    }

    /// Waits until the send queue is under its limit (the `Sink` does not
    /// know the next message's size: it may then go over by that one).
    pub fn poll_send_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<()>> {
        self.poll_room(cx, 1)
    }

    /// Queues a message without writing, waiting first until it fits in
    /// the send queue. Use [`WebSocketStream::flush`] (or keep reading) to
    /// write.
    pub async fn feed(&mut self, message: Message) -> Result<()> {
        let len = self.proto.frame_len(&message);
        poll_fn(|cx| self.poll_room(cx, len)).await?;
        self.proto.send(message)
    }

    /// Queues a message if it fits in the send queue, without waiting;
    /// otherwise [`Error::QueueFull`] and nothing is queued.
    pub fn try_feed(&mut self, message: Message) -> Result<()> {
        if !self.has_room(self.proto.frame_len(&message)) {
            return Err(Error::QueueFull);
        }
        self.proto.send(message)
    }

    /// [`WebSocketStream::try_feed`] for a message that must go out
    /// uncompressed whatever its size (see [`Protocol::send_uncompressed`]).
    pub fn try_feed_uncompressed(&mut self, message: Message) -> Result<()> {
        if !self.has_room(self.proto.frame_len(&message)) {
            return Err(Error::QueueFull);
        }
        self.proto.send_uncompressed(message)
    }

    /// Queues one frame of a fragmented message (see
    /// [`Protocol::send_fragment`]), waiting first if the queue is full.
    pub async fn feed_fragment(&mut self, kind: Fragment, payload: Bytes, fin: bool) -> Result<()> {
        let len = PreparedFrame::wire_len_of(payload.len()) + 4;
        poll_fn(|cx| self.poll_room(cx, len)).await?;
        self.proto.send_fragment(kind, payload, fin)
    }

    /// Queues a frame prepared once for many connections if it fits in
    /// the send queue (its whole wire size counts, though its bytes are
    /// shared); otherwise [`Error::QueueFull`] and nothing is queued.
    pub fn feed_prepared(&mut self, frame: &PreparedFrame) -> Result<()> {
        if !self.has_room(frame.wire_len()) {
            return Err(Error::QueueFull);
        }
        self.proto.send_prepared(frame)
    }

    /// Queues the rest of a prepared frame whose first `written` bytes
    /// another task wrote to the connection (see [`crate::direct`]): it
    /// leaves before anything queued after it. Never refused for room:
    /// the frame was already on its way.
    pub fn feed_prepared_rest(&mut self, frame: &PreparedFrame, written: usize) -> Result<()> {
        self.proto.send_prepared_rest(frame, written)
    }

    /// Writes everything queued.
    pub async fn flush(&mut self) -> Result<()> {
        poll_fn(|cx| self.poll_flush_all(cx)).await?;
        Ok(())
    }

    /// Queues and writes a message.
    pub async fn send(&mut self, message: Message) -> Result<()> {
        self.feed(message).await?;
        self.flush().await
    }

    /// Closes the connection: sends a close frame, waits (bounded by the
    /// close timeout) for the peer's and for the transport to close,
    /// discarding messages that arrive meanwhile.
    pub async fn close(&mut self, frame: Option<CloseFrame>) -> Result<()> {
        self.proto.close(frame)?;
        while let Some(r) = self.recv().await {
            r?;
        }
        Ok(())
    }

    /// Splits into a reading half and a writing half usable from two
    /// tasks. Received pings are still answered by the reading half.
    pub fn split(self) -> (WsReader<S>, WsWriter<S>) {
        let shared = Shared::new(self);
        (
            WsReader {
                inner: shared.clone(),
            },
            WsWriter { inner: shared },
        )
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Stream for WebSocketStream<S> {
    type Item = Result<Message>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().poll_recv(cx)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Sink<Message> for WebSocketStream<S> {
    type Error = Error;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        self.get_mut().poll_send_ready(cx)
    }

    fn start_send(self: Pin<&mut Self>, item: Message) -> Result<()> {
        self.get_mut().proto.send(item)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        self.get_mut().poll_flush_all(cx).map_err(Error::from)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        let this = self.get_mut();
        this.proto.close(None)?;
        this.poll_flush_all(cx).map_err(Error::from)
    }
}

/// Both halves of a split stream poll the same transport in both
/// directions (the reader writes pongs), and a transport keeps one waker
/// per direction: so each half polls with a waker that wakes both.
#[derive(Debug, Default)]
struct BothWaker {
    reader: Mutex<Option<Waker>>,
    writer: Mutex<Option<Waker>>,
}

impl Wake for BothWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        for slot in [&self.reader, &self.writer] {
            if let Some(w) = slot.lock().unwrap_or_else(|p| p.into_inner()).take() {
                w.wake();
            }
        }
    }
}

#[derive(Debug)]
struct Shared<S> {
    stream: Mutex<WebSocketStream<S>>,
    wakers: Arc<BothWaker>,
    waker: Waker,
}

impl<S> Shared<S> {
    fn new(stream: WebSocketStream<S>) -> Arc<Self> {
        let wakers = Arc::new(BothWaker::default());
        Arc::new(Shared {
            stream: Mutex::new(stream),
            waker: Waker::from(wakers.clone()),
            wakers,
        })
    }

    /// Runs `f` on the stream with a waker that wakes both halves.
    fn poll_with<T>(
        &self,
        cx: &mut Context<'_>,
        reader: bool,
        f: impl FnOnce(&mut WebSocketStream<S>, &mut Context<'_>) -> Poll<T>,
    ) -> Poll<T> {
        let slot = if reader {
            &self.wakers.reader
        } else {
            &self.wakers.writer
        };
        {
            let mut slot = slot.lock().unwrap_or_else(|p| p.into_inner());
            if !slot.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                *slot = Some(cx.waker().clone());
            }
        }
        let mut stream = self.stream.lock().unwrap_or_else(|p| p.into_inner());
        let mut both = Context::from_waker(&self.waker);
        f(&mut stream, &mut both)
    }
}

/// The reading half of a split [`WebSocketStream`].
#[derive(Debug)]
pub struct WsReader<S> {
    inner: Arc<Shared<S>>,
}

/// The writing half of a split [`WebSocketStream`].
#[derive(Debug)]
pub struct WsWriter<S> {
    inner: Arc<Shared<S>>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> WsReader<S> {
    /// Receives the next message.
    pub async fn recv(&mut self) -> Option<Result<Message>> {
        poll_fn(|cx| self.inner.poll_with(cx, true, |s, cx| s.poll_recv(cx))).await
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Stream for WsReader<S> {
    type Item = Result<Message>;
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.inner.poll_with(cx, true, |s, cx| s.poll_recv(cx))
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> WsWriter<S> {
    /// Queues and writes a message.
    pub async fn send(&mut self, message: Message) -> Result<()> {
        self.feed(message).await?;
        self.flush().await
    }

    /// Queues a message, waiting until it fits in the send queue.
    pub async fn feed(&mut self, message: Message) -> Result<()> {
        poll_fn(|cx| {
            self.inner.poll_with(cx, false, |s, cx| {
                let len = s.proto.frame_len(&message);
                s.poll_room(cx, len)
            })
        })
        .await?;
        self.inner
            .stream
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .proto
            .send(message)
    }

    /// Writes everything queued.
    pub async fn flush(&mut self) -> Result<()> {
        poll_fn(|cx| {
            self.inner
                .poll_with(cx, false, |s, cx| s.poll_flush_all(cx))
        })
        .await?;
        Ok(())
    }

    /// Sends a close frame; the reading half sees the peer's answer.
    pub async fn close(&mut self, frame: Option<CloseFrame>) -> Result<()> {
        self.inner
            .stream
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .proto
            .close(frame)?;
        self.flush().await
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Sink<Message> for WsWriter<S> {
    type Error = Error;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        self.inner
            .poll_with(cx, false, |s, cx| s.poll_send_ready(cx))
    }

    fn start_send(self: Pin<&mut Self>, item: Message) -> Result<()> {
        self.inner
            .stream
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .proto
            .send(item)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        self.inner
            .poll_with(cx, false, |s, cx| s.poll_flush_all(cx))
            .map_err(Error::from)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        self.inner.poll_with(cx, false, |s, cx| {
            s.proto.close(None)?;
            s.poll_flush_all(cx).map_err(Error::from)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A duplex pipe that counts its plain and its vectored writes.
    struct CountingIo {
        inner: tokio::io::DuplexStream,
        writes: usize,
        vectored: usize,
    }

    impl AsyncRead for CountingIo {
        fn poll_read(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &mut tokio::io::ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            Pin::new(&mut self.inner).poll_read(cx, buf)
        }
    }

    impl AsyncWrite for CountingIo {
        fn poll_write(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            self.writes += 1;
            Pin::new(&mut self.inner).poll_write(cx, buf)
        }

        fn poll_write_vectored(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            bufs: &[IoSlice<'_>],
        ) -> Poll<io::Result<usize>> {
            self.vectored += 1;
            Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
        }

        fn is_write_vectored(&self) -> bool {
            true
        }

        fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Pin::new(&mut self.inner).poll_flush(cx)
        }

        fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Pin::new(&mut self.inner).poll_shutdown(cx)
        }
    }

    /// Output in one buffer goes out with a plain write (a `send` on TCP,
    /// cheaper than a `writev` of one buffer); output in several, with one
    /// vectored write.
    #[tokio::test(flavor = "current_thread")]
    async fn one_buffer_is_a_plain_write_and_several_a_vectored_one() {
        let (server_io, _client_io) = tokio::io::duplex(1 << 20);
        let io = CountingIo {
            inner: server_io,
            writes: 0,
            vectored: 0,
        };
        let mut ws = WebSocketStream::from_raw(io, Role::Server);
        // Two small messages: copied into one buffer.
        ws.feed(Message::binary(vec![1u8; 64])).await.unwrap();
        ws.feed(Message::binary(vec![2u8; 64])).await.unwrap();
        ws.flush().await.unwrap();
        assert_eq!((ws.get_ref().writes, ws.get_ref().vectored), (1, 0));
        // A large payload is queued by reference behind its header.
        ws.send(Message::binary(vec![3u8; 100_000])).await.unwrap();
        assert_eq!((ws.get_ref().writes, ws.get_ref().vectored), (1, 1));
    }

    fn idle(ws: &mut WebSocketStream<tokio::io::DuplexStream>) {
        let mut cx = Context::from_waker(Waker::noop());
        assert!(ws.poll_recv(&mut cx).is_pending());
    }

    async fn binary(ws: &mut WebSocketStream<tokio::io::DuplexStream>) -> Bytes {
        match ws.recv().await {
            Some(Ok(Message::Binary(b))) => b,
            other => panic!("expected a binary message, got {other:?}"),
        }
    }

    /// A peer that pings and never reads: the pongs stop at the queue
    /// limit and the connection fails with 1008 instead of growing.
    #[tokio::test(flavor = "current_thread")]
    async fn unread_pongs_over_the_limit_fail_the_connection() {
        // The pipe holds 4 KiB: everything past it stays queued.
        let (server_io, mut client_io) = tokio::io::duplex(4096);
        let config = StreamConfig {
            max_send_queue: 10_000,
            close_timeout: Duration::from_millis(50),
            ..StreamConfig::default()
        };
        let mut server = WebSocketStream::from_parts(
            server_io,
            Protocol::new(Role::Server),
            BytesMut::new(),
            config,
        );
        let mut client = Protocol::new(Role::Client);
        for _ in 0..200 {
            client
                .send(Message::Ping(Bytes::from(vec![1; 125])))
                .unwrap();
        }
        let pings = client.take_output();
        // 200 pongs of 127 bytes: 25,400 bytes, over 4 KiB + 10,000.
        let writer = tokio::spawn(async move {
            use tokio::io::AsyncWriteExt;
            let _ = client_io.write_all(&pings).await;
            client_io
        });
        let mut pings_seen = 0;
        let err = loop {
            match server.recv().await {
                Some(Ok(Message::Ping(_))) => pings_seen += 1,
                Some(Ok(other)) => panic!("unexpected {other:?}"),
                Some(Err(e)) => break e,
                None => panic!("ended without an error"),
            }
            assert!(server.protocol().output_len() <= 10_000 + 127 + 4);
        };
        assert!(
            matches!(err, Error::SendQueueOverflow { limit: 10_000 }),
            "{err}"
        );
        assert!((70..200).contains(&pings_seen), "{pings_seen} pings");
        assert!(server.recv().await.is_none());
        drop(writer);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn pongs_under_the_limit_are_answered() {
        let (server_io, mut client_io) = tokio::io::duplex(1 << 16);
        let mut server = WebSocketStream::from_raw(server_io, Role::Server);
        let mut client = Protocol::new(Role::Client);
        for _ in 0..100 {
            client
                .send(Message::Ping(Bytes::from_static(b"p")))
                .unwrap();
        }
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        client_io.write_all(&client.take_output()).await.unwrap();
        for _ in 0..100 {
            assert!(matches!(server.recv().await, Some(Ok(Message::Ping(_)))));
        }
        idle(&mut server);
        let mut got = vec![0; 300];
        client_io.read_exact(&mut got).await.unwrap();
        let mut buf = BytesMut::from(&got[..]);
        for _ in 0..100 {
            assert!(matches!(
                client.receive(&mut buf),
                Ok(Some(Message::Pong(_)))
            ));
        }
    }

    #[test]
    fn pooled_read_buffer_keeps_a_payload_that_still_points_into_it() {
        while read_pool::take().is_some() {}
        let mut buf = BytesMut::with_capacity(8192);
        buf.extend_from_slice(&[7; 100]);
        let held = buf.split().freeze();
        read_pool::give(buf);
        let mut reused = read_pool::take().expect("a pooled buffer");
        assert!(reused.is_empty());
        reused.extend_from_slice(&[9; 4000]);
        assert!(held.iter().all(|&b| b == 7));
        assert!(read_pool::take().is_none());
    }

    #[tokio::test(flavor = "current_thread")]
    async fn connections_on_one_thread_share_read_buffers_safely() {
        let (server_a, client_a) = tokio::io::duplex(1 << 20);
        let (server_b, client_b) = tokio::io::duplex(1 << 20);
        let mut server_a = WebSocketStream::from_raw(server_a, Role::Server);
        let mut server_b = WebSocketStream::from_raw(server_b, Role::Server);
        let mut client_a = WebSocketStream::from_raw(client_a, Role::Client);
        let mut client_b = WebSocketStream::from_raw(client_b, Role::Client);
        let mut kept = Vec::new();
        for round in 0..20u8 {
            // Sizes around the buffer sizes, so that buffers are split,
            // grown, handed back while a payload points into them, and taken
            // by the other connection.
            let len = 1000 + usize::from(round) * 3000;
            client_a
                .send(Message::Binary(vec![round; len].into()))
                .await
                .unwrap();
            let a = binary(&mut server_a).await;
            idle(&mut server_a);
            assert_eq!(read_pool::len(), 1, "A's buffer went to the pool");
            client_b
                .send(Message::Binary(vec![!round; len].into()))
                .await
                .unwrap();
            let b = binary(&mut server_b).await;
            assert_eq!(read_pool::len(), 0, "B read with A's buffer");
            idle(&mut server_b);
            kept.push((round, a, b));
        }
        for (round, a, b) in kept {
            assert!(
                a.iter().all(|&x| x == round),
                "round {round}: A's payload changed"
            );
            assert!(
                b.iter().all(|&x| x == !round),
                "round {round}: B's payload changed"
            );
        }
    }
}
