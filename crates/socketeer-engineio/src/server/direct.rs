//! Writes to idle WebSocket sessions from the task that sends to them.
//!
//! A broadcast to N idle sessions used to wake N tasks, each to write one
//! prepared frame. Now a session's task that goes to sleep with nothing
//! to write, on a plain TCP WebSocket, lends its connection's writer
//! (`socketeer_ws::direct::DirectWriter`) to its outbox: it *parks*. A
//! frame queued for a parked session while a session's task is being
//! polled is not a wake-up:
//! the sender's poll ends by writing what it queued for each parked
//! recipient, in one write per recipient (so the frames of several
//! broadcasts handled in one poll leave together); past 1,024 recipients
//! the rest are written by a task of their own, 1,024 at a time, so that
//! a fan-out to thousands does not hold the thread from the other
//! sessions (their heartbeats) for its whole length. Whatever the socket
//! does not take at once, or what is not a prepared frame, goes back to
//! the recipient's task, woken as before.
//!
//! The rule that keeps the stream of frames whole: the task *unparks*
//! (takes the writer back, under the outbox lock) before it touches its
//! WebSocket, and parks only when the WebSocket has nothing queued. A
//! direct write happens under the same lock, so the two never overlap.

use std::future::Future;
use std::io::IoSlice;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Poll};

use socketeer_ws::upgrade::HyperWebSocket;

use super::events;
use super::metrics;
use super::outbox::{Outbox, Outgoing, Parked};
use super::socket::{close_batch, open_batch, reuse_batch, Socket};
use super::stats::Counters;

/// Most frames in one direct write.
const MAX_SLICES: usize = 64;

pin_project_lite::pin_project! {
    /// A future whose frames for idle WebSocket sessions are written by
    /// its own task at the end of each poll: see [`batch_writes`].
    #[derive(Debug)]
    #[must_use = "futures do nothing unless polled"]
    pub struct BatchedWrites<F> {
        #[pin]
        inner: F,
    }
}

/// Runs `future` as a session's handlers run: the frames it queues for
/// idle WebSocket sessions (broadcasts, with
/// [`EngineIoConfig::direct_writes`](super::EngineIoConfig::direct_writes)
/// on) are written by its own task when each of its polls ends, one
/// write per session for all it queued in that poll, instead of
/// waking every session's task. For a task of the application that
/// broadcasts (a timer, a feed, a cluster adapter's subscriber); without
/// it such a task's sends wake the sessions as usual.
///
/// ```
/// # async fn run(io: socketeer_engineio::server::EngineIo) {
/// use socketeer_engineio::server::batch_writes;
///
/// tokio::spawn(batch_writes(async move {
///     let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
///     loop {
///         tick.tick().await;
///         // Queue a prepared frame for every session here.
///     }
/// }));
/// # }
/// ```
pub fn batch_writes<F: Future>(future: F) -> BatchedWrites<F> {
    BatchedWrites { inner: future }
}

/// Writes the batch's sessions when the poll ends, even by a panic (a
/// session left claimed would otherwise never be woken).
struct CloseBatch;

impl Drop for CloseBatch {
    fn drop(&mut self) {
        let mut parked = close_batch();
        if parked.len() <= CHUNK {
            write_all(parked.drain(..));
            reuse_batch(parked);
            return;
        }
        // A fan-out to thousands: the first chunk now, the rest from a
        // task of its own that lets other tasks run between chunks (the
        // sessions' heartbeats, other clients' input), rather than one
        // poll that holds the thread for the whole fan-out. The sessions
        // stay claimed until written, so what is queued for them
        // meanwhile follows in order.
        let rest = parked.split_off(CHUNK);
        write_all(parked.drain(..));
        reuse_batch(parked);
        match tokio::runtime::Handle::try_current() {
            Ok(handle) => {
                handle.spawn(async move {
                    let mut rest = rest.into_iter();
                    loop {
                        write_all(rest.by_ref().take(CHUNK));
                        if rest.len() == 0 {
                            break;
                        }
                        tokio::task::yield_now().await;
                    }
                });
            }
            Err(_) => write_all(rest.into_iter()),
        }
    }
}

/// Sessions written to in one go before other tasks get the thread.
const CHUNK: usize = 1024;

/// Writes to each session what is queued for it; counts the writes once
/// per server, not per write (the counters are shared by every session
/// of a server).
fn write_all(sockets: impl Iterator<Item = Socket>) {
    let mut counted: Option<(Arc<Counters>, Written)> = None;
    for socket in sockets {
        let written = write_parked(&socket);
        if written.writes == 0 {
            continue;
        }
        match &mut counted {
            Some((c, sum)) if Arc::ptr_eq(c, &socket.inner.counters) => sum.add(written),
            _ => {
                if let Some((c, sum)) = counted.take() {
                    sum.record(&c);
                }
                counted = Some((socket.inner.counters.clone(), written));
            }
        }
    }
    if let Some((c, sum)) = counted {
        sum.record(&c);
    }
}

/// What direct writes took: writes, whole messages, bytes.
#[derive(Debug, Default, Clone, Copy)]
struct Written {
    writes: u64,
    messages: usize,
    bytes: usize,
}

impl Written {
    fn add(&mut self, other: Written) {
        self.writes += other.writes;
        self.messages += other.messages;
        self.bytes += other.bytes;
    }

    /// Into the server's stats and the metrics (messages and bytes sent,
    /// as a session's task counts what it writes).
    fn record(self, counters: &Counters) {
        counters.direct_writes(self.writes);
        metrics::sent(self.messages, self.bytes);
    }
}

impl<F: Future> Future for BatchedWrites<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let inner = self.project().inner;
        if !open_batch() {
            // Inside another batch (nested polls): that one writes.
            return inner.poll(cx);
        }
        let _close = CloseBatch;
        inner.poll(cx)
    }
}

impl Socket {
    /// Lends the WebSocket's writer to the outbox if the session's task
    /// may sleep without writing anything: nothing queued anywhere, the
    /// connection plain TCP and open, nobody listening for packets as
    /// they are created.
    pub(crate) fn park(&self, ws: &HyperWebSocket) {
        if !ws.has_direct_writer() || self.inner.events.listens(events::PACKET_CREATE) {
            return;
        }
        let Some(writer) = ws.direct_writer() else {
            return;
        };
        let compress_from = ws.protocol().compress_threshold();
        let mut outbox = self.lock();
        if outbox.is_empty() && outbox.close.is_none() && outbox.barrier.is_none() {
            outbox.parked = Some(Parked {
                writer,
                compress_from,
            });
            outbox.claimed = false;
            self.inner.parked.store(true, Ordering::Relaxed);
        }
    }

    /// Takes the writer back before the task touches its WebSocket (waits
    /// for a direct write in progress).
    pub(crate) fn unpark(&self) {
        // Only this session's task sets the flag: no lock unless parked.
        if !self.inner.parked.load(Ordering::Relaxed) {
            return;
        }
        let mut outbox = self.lock();
        outbox.parked = None;
        outbox.claimed = false;
        self.inner.parked.store(false, Ordering::Relaxed);
    }
}

/// Writes what is queued for a parked session, in one write; what is
/// left (not taken by the socket, not a prepared frame, a close) is for
/// the session's task, woken for it.
fn write_parked(socket: &Socket) -> Written {
    let mut outbox = socket.lock();
    outbox.claimed = false;
    if outbox.is_empty() {
        return Written::default();
    }
    if outbox.parked.is_none() {
        // The task took its writer back after the frames were queued:
        // they were not a wake-up, so this is.
        drop(outbox);
        socket.inner.notify.notify_one();
        return Written::default();
    }
    let mut written = Written::default();
    if outbox.close.is_none() && outbox.barrier.is_none() {
        written = write_front(&mut outbox);
        socket.sync_bytes(&outbox);
    }
    if !outbox.is_empty() {
        // The task takes the writer back itself (`unpark`); until then no
        // batch writes here, and pushes do not wake it again.
        outbox.claimed = true;
        drop(outbox);
        socket.inner.notify.notify_one();
    }
    written
}

/// Writes the outbox's leading prepared frames that need no compression.
fn write_front(outbox: &mut Outbox) -> Written {
    let Some(parked) = outbox.parked.as_ref() else {
        return Written::default();
    };
    let mut slices = [IoSlice::new(&[]); MAX_SLICES];
    let mut n = 0;
    for item in outbox.frames().iter().take(MAX_SLICES) {
        let frame = match item {
            Outgoing::PreparedUncompressed(f) => f,
            Outgoing::Prepared(f) if f.payload_len() < parked.compress_from => f,
            _ => break,
        };
        slices[n] = IoSlice::new(frame.wire_bytes());
        n += 1;
    }
    if n == 0 {
        return Written::default();
    }
    // An error (the peer went away) is the task's to see on its own
    // write: the frames stay queued for it.
    match parked.writer.try_write_vectored(&slices[..n]) {
        Ok(bytes) if bytes > 0 => Written {
            writes: 1,
            messages: outbox.drop_written(bytes),
            bytes,
        },
        _ => Written::default(),
    }
}
