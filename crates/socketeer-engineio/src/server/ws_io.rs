//! The session's WebSocket as its task uses it: queued packets fed to
//! it, messages received from it (with the writer lent to the outbox
//! between polls, see `direct.rs`), the send-queue gauge kept after each
//! poll, and its close. Free functions of the WebSocket and the session
//! handle; the loop that calls them is in `driver.rs`.

use std::future::{pending, poll_fn};
use std::sync::atomic::Ordering;

use socketeer_ws::upgrade::HyperWebSocket;
use socketeer_ws::{CloseFrame, Error as WsError};

use super::outbox::Outgoing;
use super::socket::Socket;
use crate::Payload;

/// An Engine.IO frame as a WebSocket message.
pub(crate) fn to_ws(frame: Payload) -> socketeer_ws::Message {
    frame.into()
}

/// The Engine.IO frame a received WebSocket message carries, if any.
pub(super) fn from_ws(msg: socketeer_ws::Message) -> Option<Payload> {
    msg.into_payload()
}

/// Queues one packet on the WebSocket: a prepared frame as it is, unless
/// this connection would compress a message of its size (then it is
/// compressed like any other); a packet sent with `compress(false)`
/// uncompressed, whatever its size.
pub(super) fn feed(ws: &mut HyperWebSocket, item: Outgoing) -> Result<(), WsError> {
    match item {
        Outgoing::Prepared(f) if !ws.protocol().would_compress(f.payload_len()) => {
            ws.feed_prepared(&f)
        }
        Outgoing::PreparedUncompressed(f) => ws.feed_prepared(&f),
        Outgoing::PreparedRest(f, written) => ws.feed_prepared_rest(&f, written),
        Outgoing::Uncompressed(p) => ws.try_feed_uncompressed(to_ws(p)),
        other => ws.try_feed(to_ws(other.into_payload())),
    }
}

pub(super) async fn recv_opt(
    ws: &mut Option<Box<HyperWebSocket>>,
) -> Option<Result<socketeer_ws::Message, WsError>> {
    match ws {
        Some(ws) => ws.recv().await,
        None => pending().await,
    }
}

/// Receives from the session's WebSocket; after every poll (which also
/// writes what is queued) records how much is left in its send queue (see
/// [`note_backlog`]). Each poll takes the connection's writer back from
/// the outbox first, and lends it again if the task is to sleep with
/// nothing to write (see `direct.rs`).
pub(super) async fn recv_ws(
    ws: &mut Option<Box<HyperWebSocket>>,
    socket: &Socket,
    direct_writes: bool,
) -> Option<Result<socketeer_ws::Message, WsError>> {
    match ws {
        Some(ws) => {
            poll_fn(|cx| {
                socket.unpark();
                let polled = ws.poll_recv(cx);
                note_backlog(socket, ws);
                if direct_writes && polled.is_pending() && !ws.protocol().has_output() {
                    socket.park(ws);
                }
                polled
            })
            .await
        }
        None => pending().await,
    }
}

/// What [`ws_io`] did.
pub(super) enum WsIo {
    /// A message received (or the end of the WebSocket).
    Received(Option<Result<socketeer_ws::Message, WsError>>),
    /// What was queued written out (false: the write failed).
    Written(bool),
}

/// Receives from the session's WebSocket if `readable`; else, while the
/// rate guard holds reading back, only writes what is queued (reading
/// would otherwise have written it).
pub(super) async fn ws_io(
    ws: &mut Option<Box<HyperWebSocket>>,
    socket: &Socket,
    readable: bool,
    direct_writes: bool,
) -> WsIo {
    match ws {
        Some(_) if readable => WsIo::Received(recv_ws(ws, socket, direct_writes).await),
        Some(ws) if ws.protocol().has_output() => {
            let written = ws.flush().await.is_ok();
            note_backlog(socket, ws);
            WsIo::Written(written)
        }
        _ => pending().await,
    }
}

/// Records how much waits in the WebSocket's send queue, for the
/// senders' queue limit and the stats; tells the `drain` listeners when
/// the queue has just been written out.
pub(super) fn note_backlog(socket: &Socket, ws: &HyperWebSocket) {
    let now = ws.protocol().output_len();
    // Only the session's task writes the gauge (senders read it): a load
    // and a store, no read-modify-write on this hot path.
    let before = socket.inner.backlog.load(Ordering::Relaxed);
    socket.inner.backlog.store(now, Ordering::Relaxed);
    if before > 0 && now == 0 {
        socket.inner.events.drain();
    }
}

/// The payload size of a received WebSocket message.
pub(super) fn ws_len(msg: &Option<Result<socketeer_ws::Message, WsError>>) -> usize {
    match msg {
        Some(Ok(socketeer_ws::Message::Text(t))) => t.len(),
        Some(Ok(socketeer_ws::Message::Binary(b))) => b.len(),
        _ => 0,
    }
}

/// Closes a WebSocket (with `frame`, if any), ignoring a failure.
pub(super) async fn close_ws(mut ws: Box<HyperWebSocket>, frame: Option<CloseFrame>) {
    let _ = ws.close(frame).await;
}
