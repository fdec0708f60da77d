//! A Socket.IO socket: one client's connection to one namespace.

use std::collections::HashMap;
use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use serde::Serialize;
use socketeer_engineio::server::{SendError, Socket as EngineSocket};
use socketeer_engineio::PreparedFrame;
use tokio::sync::oneshot;

use super::adapter::{BroadcastOptions, Room, SocketId};
use super::error::{AckError, DisconnectReason, EmitError};
use super::metrics;
use super::state::{
    AckResult, AckSender, AckSent, Handlers, Handshake, Lane, Namespace, RareHandlers, Socket,
    SocketInner,
};
use crate::packet::{EncodeError, EncodedMessage, Packet};
use crate::Value;
use socketeer_engineio::sync::{LockExt, RwLockExt};

fn send_error(e: SendError) -> EmitError {
    match e {
        SendError::Closed => EmitError::Disconnected,
        SendError::QueueFull => EmitError::QueueFull,
    }
}

impl AckSent {
    fn flag(&self) -> &AtomicBool {
        match self {
            AckSent::Own(f) => f,
            AckSent::Shared(f) => f,
        }
    }
}

impl AckSender {
    pub(crate) fn new(socket: Socket, id: u64) -> Self {
        AckSender {
            socket,
            id,
            sent: AckSent::Own(AtomicBool::new(false)),
        }
    }

    /// A second handle on the same acknowledgement (the first answer from
    /// either is the one sent).
    pub(crate) fn share(&mut self) -> AckSender {
        let shared = match &self.sent {
            AckSent::Shared(f) => f.clone(),
            AckSent::Own(f) => {
                let f = Arc::new(AtomicBool::new(f.load(Ordering::Acquire)));
                self.sent = AckSent::Shared(f.clone());
                f
            }
        };
        AckSender {
            socket: self.socket.clone(),
            id: self.id,
            sent: AckSent::Shared(shared),
        }
    }

    /// Sends the acknowledgement with these arguments. Only the first
    /// answer leaves; later ones are ignored.
    pub fn send(&self, args: Vec<Value>) -> Result<(), EmitError> {
        if self.sent.flag().swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        let msg = EncodedMessage::ack(self.socket.namespace_name(), self.id, &args)?;
        self.socket.send_encoded(&msg)?;
        self.socket.inner.ns.inner.metrics.ack_sent();
        Ok(())
    }

    /// Sends the acknowledgement with one typed argument: `arg` is the
    /// answer itself (`ack.send_serialized(&reply)` is socket.io's
    /// `callback(reply)`), not an argument list as for emits. Several
    /// typed answers: `ack.send(args_from_serialize(&(a, b))?)`
    /// ([`args_from_serialize`](crate::packet::args_from_serialize)).
    pub fn send_serialized<T: Serialize + ?Sized>(&self, arg: &T) -> Result<(), EmitError> {
        let value =
            Value::from_serialize(arg).map_err(|e| EmitError::Encode(EncodeError::Json(e)))?;
        self.send(vec![value])
    }

    /// Whether an answer was sent.
    pub fn is_sent(&self) -> bool {
        self.sent.flag().load(Ordering::Acquire)
    }

    /// The ack id.
    pub fn id(&self) -> u64 {
        self.id
    }
}

impl Socket {
    pub(crate) fn new(
        id: SocketId,
        ns: Namespace,
        engine: EngineSocket,
        handshake: Arc<Handshake>,
        pid: Option<Arc<str>>,
        recovered: bool,
    ) -> Self {
        let span = tracing::debug_span!("socketio_socket", nsp = ns.name(), id = &*id);
        Socket {
            inner: Arc::new(SocketInner {
                span,
                id,
                ns,
                engine,
                handshake,
                handlers: RwLock::new(Handlers::default()),
                has_outgoing: AtomicBool::new(false),
                lane: Mutex::new(Lane::default()),
                data: Mutex::new(None),
                acks: Mutex::new(HashMap::new()),
                connected: AtomicBool::new(true),
                pid,
                recovered,
            }),
        }
    }

    /// The socket id (also the name of a room holding only this socket).
    pub fn id(&self) -> &str {
        &self.inner.id
    }

    pub(crate) fn sid(&self) -> &SocketId {
        &self.inner.id
    }

    /// What the client sent when connecting.
    pub fn handshake(&self) -> &Handshake {
        &self.inner.handshake
    }

    /// The namespace.
    pub fn namespace(&self) -> &Namespace {
        &self.inner.ns
    }

    fn namespace_name(&self) -> &str {
        self.inner.ns.name()
    }

    /// The underlying Engine.IO session.
    pub fn engine(&self) -> &EngineSocket {
        &self.inner.engine
    }

    /// Whether this socket took over the session of an earlier connection
    /// (connection state recovery): same id, same rooms, and the events
    /// emitted meanwhile already replayed to the client.
    pub fn recovered(&self) -> bool {
        self.inner.recovered
    }

    pub(crate) fn pid(&self) -> Option<&Arc<str>> {
        self.inner.pid.as_ref()
    }

    /// Whether the socket is still connected.
    pub fn connected(&self) -> bool {
        self.inner.connected.load(Ordering::Acquire)
    }

    pub(crate) fn dispatch_ack(&self, id: u64, args: Vec<Value>) {
        self.inner.ns.inner.metrics.ack_received();
        let _span = self.inner.span.enter();
        tracing::trace!(id, "ack received");
        let tx = self.inner.acks.locked().remove(&id);
        if let Some(tx) = tx {
            let _ = tx.send(Ok(args));
        }
    }

    pub(crate) fn send_encoded(&self, msg: &EncodedMessage) -> Result<(), EmitError> {
        self.send_encoded_with(msg, true)
    }

    /// Queues a message; with `compress` false, never compressed over a
    /// WebSocket (see [`Socket::compress`]).
    pub(crate) fn send_encoded_with(
        &self,
        msg: &EncodedMessage,
        compress: bool,
    ) -> Result<(), EmitError> {
        if !self.connected() {
            return Err(EmitError::Disconnected);
        }
        for frame in msg.frames() {
            self.inner
                .engine
                .send_frame_with(frame, compress)
                .map_err(send_error)?;
        }
        Ok(())
    }

    /// Queues a broadcast's frames, built once for every recipient.
    pub(crate) fn send_prepared(
        &self,
        frames: &[PreparedFrame],
        compress: bool,
    ) -> Result<(), EmitError> {
        if !self.connected() {
            return Err(EmitError::Disconnected);
        }
        for frame in frames {
            self.inner
                .engine
                .send_prepared_with(frame.clone(), compress)
                .map_err(send_error)?;
        }
        Ok(())
    }

    /// Queues a message only if the client is ready for it now and it
    /// fits under the send queue's limit (`volatile`: dropped, never a
    /// reason to disconnect); returns whether it was queued.
    pub(crate) fn send_volatile(&self, msg: &EncodedMessage, compress: bool) -> bool {
        if !self.connected() {
            return false;
        }
        if msg.frame_count() == 1 {
            return self.inner.engine.send_volatile_with(
                socketeer_engineio::Payload::Text(msg.text.clone()),
                compress,
            );
        }
        let frames: Vec<PreparedFrame> = msg.frames().map(PreparedFrame::from_payload).collect();
        self.inner
            .engine
            .send_volatile_prepared_with(&frames, compress)
    }

    /// Queues a broadcast's frames, built once for every recipient, only
    /// if the client is ready for them now (`volatile`).
    pub(crate) fn send_prepared_volatile(&self, frames: &[PreparedFrame], compress: bool) -> bool {
        self.connected()
            && self
                .inner
                .engine
                .send_volatile_prepared_with(frames, compress)
    }

    /// The target of this socket's own emits when they are recorded for
    /// connection state recovery: the room of its id.
    fn own_room(&self) -> BroadcastOptions {
        BroadcastOptions {
            rooms: vec![self.inner.id.clone()],
            ..Default::default()
        }
    }

    /// Emits an event with these arguments (binary values, nested
    /// anywhere, become attachments).
    ///
    /// With connection state recovery on, the event gets an offset as its
    /// last argument and is kept for replay, so a client that reconnects
    /// in time gets it even if this socket's connection is gone.
    pub fn emit(&self, event: &str, args: Vec<Value>) -> Result<(), EmitError> {
        self.emit_with(event, args, true)
    }

    fn emit_with(&self, event: &str, args: Vec<Value>, compress: bool) -> Result<(), EmitError> {
        self.notify_outgoing(event, &args);
        if self.inner.ns.recovery_enabled() {
            self.inner
                .ns
                .emit_recorded(&self.own_room(), event, args, |m, _| {
                    self.send_encoded_with(m, compress)
                })??;
        } else {
            let msg = EncodedMessage::event(self.namespace_name(), event, None, &args)?;
            self.send_encoded_with(&msg, compress)?;
        }
        self.inner.ns.inner.metrics.events_sent(1);
        Ok(())
    }

    /// Emits an event with typed arguments, in one serde pass: `args` is
    /// the argument list, a tuple whose elements become the arguments
    /// (`&(a, b)` sends two, `&(a,)` one, `&()` none; a `Vec` or a slice
    /// spreads the same way). Any other value fails with
    /// [`EncodeError::ArgsNotSequence`]. Every `*_serialized` emit of the
    /// server and the client reads its arguments so: `("move", &(Move
    /// { x: 1, y: 2 },))` sends `["move",{"x":1,"y":2}]`, `("score",
    /// &("ann", 42))` sends `["score","ann",42]` (see the [`Socket`]
    /// example).
    pub fn emit_serialized<T: Serialize + ?Sized>(
        &self,
        event: &str,
        args: &T,
    ) -> Result<(), EmitError> {
        self.emit_serialized_with(event, args, true)
    }

    fn emit_serialized_with<T: Serialize + ?Sized>(
        &self,
        event: &str,
        args: &T,
        compress: bool,
    ) -> Result<(), EmitError> {
        if self.inner.ns.recovery_enabled() || self.has_outgoing_listeners() {
            let args = crate::packet::args_from_serialize(args)?;
            return self.emit_with(event, args, compress);
        }
        let msg = EncodedMessage::event_serialize(self.namespace_name(), event, None, args)?;
        self.send_encoded_with(&msg, compress)?;
        self.inner.ns.inner.metrics.events_sent(1);
        Ok(())
    }

    /// Emits an event only if the client is ready for it right now;
    /// otherwise drops it (`volatile`). Returns whether it was queued.
    pub fn emit_volatile(&self, event: &str, args: Vec<Value>) -> bool {
        self.emit_volatile_with(event, args, true)
    }

    fn emit_volatile_with(&self, event: &str, args: Vec<Value>, compress: bool) -> bool {
        self.notify_outgoing(event, &args);
        let sent = match EncodedMessage::event(self.namespace_name(), event, None, &args) {
            Ok(msg) => self.send_volatile(&msg, compress),
            Err(_) => false,
        };
        self.inner.ns.inner.metrics.events_sent(usize::from(sent));
        sent
    }

    /// [`Socket::emit_volatile`] with typed arguments (a tuple; see
    /// [`Socket::emit_serialized`]); false also when they do not
    /// serialize.
    pub fn emit_volatile_serialized<T: Serialize + ?Sized>(&self, event: &str, args: &T) -> bool {
        self.emit_volatile_serialized_with(event, args, true)
    }

    fn emit_volatile_serialized_with<T: Serialize + ?Sized>(
        &self,
        event: &str,
        args: &T,
        compress: bool,
    ) -> bool {
        match crate::packet::args_from_serialize(args) {
            Ok(args) => self.emit_volatile_with(event, args, compress),
            Err(_) => false,
        }
    }

    /// Emits an event and waits for the client's acknowledgement, by
    /// default for the namespace's ack timeout; `.timeout(d)` changes it.
    pub fn emit_with_ack(&self, event: &str, args: Vec<Value>) -> AckRequest {
        self.emit_with_ack_with(event, args, true)
    }

    /// [`Socket::emit_with_ack`] with typed arguments (a tuple; see
    /// [`Socket::emit_serialized`]); [`AckRequest::typed`] reads the
    /// answer typed. Arguments that do not serialize fail the request
    /// ([`AckError::EmitFailed`]). See the [`AckRequest`] example.
    pub fn emit_serialized_with_ack<T: Serialize + ?Sized>(
        &self,
        event: &str,
        args: &T,
    ) -> AckRequest {
        self.emit_serialized_with_ack_with(event, args, true)
    }

    fn emit_serialized_with_ack_with<T: Serialize + ?Sized>(
        &self,
        event: &str,
        args: &T,
        compress: bool,
    ) -> AckRequest {
        match crate::packet::args_from_serialize(args) {
            Ok(args) => self.emit_with_ack_with(event, args, compress),
            Err(e) => {
                tracing::debug!(error = %e, "acknowledged emit with arguments that do not serialize");
                AckRequest {
                    socket: self.clone(),
                    id: 0,
                    rx: oneshot::channel().1,
                    failed: true,
                    timeout: self.inner.ns.ack_timeout(),
                }
            }
        }
    }

    fn emit_with_ack_with(&self, event: &str, args: Vec<Value>, compress: bool) -> AckRequest {
        self.notify_outgoing(event, &args);
        let id = self.inner.ns.next_ack_id();
        let rx = self.register_ack(id);
        let sent = EncodedMessage::event(self.namespace_name(), event, Some(id), &args)
            .map_err(EmitError::from)
            .and_then(|m| self.send_encoded_with(&m, compress));
        if sent.is_err() {
            self.forget_ack(id);
        } else {
            self.inner.ns.inner.metrics.events_sent(1);
        }
        AckRequest {
            socket: self.clone(),
            id,
            rx,
            failed: sent.is_err(),
            timeout: self.inner.ns.ack_timeout(),
        }
    }

    pub(crate) fn register_ack(&self, id: u64) -> oneshot::Receiver<AckResult> {
        let (tx, rx) = oneshot::channel();
        self.inner.acks.locked().insert(id, tx);
        rx
    }

    pub(crate) fn forget_ack(&self, id: u64) {
        self.inner.acks.locked().remove(&id);
    }

    /// Joins rooms.
    pub fn join<R: Into<Room>>(&self, rooms: impl IntoIterator<Item = R>) {
        let rooms: Vec<Room> = rooms.into_iter().map(Into::into).collect();
        self.inner.ns.adapter().add_all(&self.inner.id, &rooms);
    }

    /// Leaves a room.
    pub fn leave(&self, room: &str) {
        self.inner.ns.adapter().del(&self.inner.id, room);
    }

    /// The rooms this socket is in (its own id included).
    pub fn rooms(&self) -> Vec<Room> {
        self.inner.ns.adapter().socket_rooms(&self.inner.id)
    }

    /// Disconnects this socket from its namespace (reason "server
    /// namespace disconnect"); the client is told with a DISCONNECT packet.
    /// The connection forgets the socket when it next reads a packet for
    /// this namespace (see `connection`), so this may run on any task.
    pub fn disconnect(&self) {
        if !self.connected() {
            return;
        }
        if let Ok(m) = Packet::disconnect(self.namespace_name().to_owned()).encode_message() {
            let _ = self.send_encoded(&m);
        }
        self.on_close(DisconnectReason::ServerNamespaceDisconnect);
    }

    /// Marks the socket gone: leaves every room, fails pending acks and
    /// runs the disconnect handlers (once).
    pub(crate) fn on_close(&self, reason: DisconnectReason) {
        if !self.inner.connected.swap(false, Ordering::AcqRel) {
            return;
        }
        metrics::disconnected(reason);
        let _span = self.inner.span.enter();
        tracing::debug!(%reason, "socket disconnected");
        // `disconnecting` sees the rooms; `disconnect` comes after they
        // are left.
        let disconnecting = self.take_rare(|r| &mut r.disconnecting);
        self.dispatch_disconnect("disconnecting", disconnecting, reason);
        let session = match &self.inner.pid {
            Some(pid) if reason.is_recoverable() => Some((pid.clone(), self.rooms())),
            _ => None,
        };
        self.inner.ns.remove_socket(&self.inner.id);
        if let (Some((pid, rooms)), Some(mut store)) = (session, self.inner.ns.recovery()) {
            let data = self.inner.data.locked().take();
            store.persist(pid, self.inner.id.clone(), rooms, data, Instant::now());
        }
        let acks = std::mem::take(&mut *self.inner.acks.locked());
        for (_, tx) in acks {
            let _ = tx.send(Err(AckError::Disconnected));
        }
        let disconnect = self.take_rare(|r| &mut r.disconnect);
        self.dispatch_disconnect("disconnect", disconnect, reason);
        self.forget_handlers();
    }

    /// Takes one of the rarely registered lists out of the handlers.
    fn take_rare<T>(&self, list: impl FnOnce(&mut RareHandlers) -> &mut Vec<T>) -> Vec<T> {
        let mut h = self.inner.handlers.write_ok();
        h.rare_if_any()
            .map(|r| std::mem::take(list(r)))
            .unwrap_or_default()
    }

    /// Drops what the application registered: handlers may hold clones of
    /// this socket, a cycle. Events already queued behind a handler that
    /// awaits still run first.
    fn forget_handlers(&self) {
        let socket = self.clone();
        let forget = move || {
            // Outside the lock: dropping handlers may run anything.
            let registered = std::mem::take(&mut *socket.inner.handlers.write_ok());
            drop(registered);
            None
        };
        let mut lane = self.inner.lane.locked();
        if lane.busy {
            lane.queue.push_back(Box::new(forget));
        } else {
            drop(lane);
            forget();
        }
    }
}

impl Socket {
    /// Chooses whether this socket's next emit may be compressed
    /// (socket.io's `socket.compress(false).emit(..)`): with `false`, the
    /// message goes uncompressed over a WebSocket with permessage-deflate
    /// whatever its size; with `true` (the default of every emit) it is
    /// compressed when it reaches the threshold
    /// ([`per_message_deflate`](socketeer_engineio::server::per_message_deflate)'s
    /// 1,024 bytes). Long-polling is not concerned (HTTP compression
    /// applies to a whole response). For broadcasts, see
    /// [`BroadcastOperator::compress`](super::BroadcastOperator::compress).
    ///
    /// ```no_run
    /// # fn f(socket: socketeer::server::Socket) {
    /// let _ = socket.compress(false).emit("frame", vec!["already compressed".into()]);
    /// # }
    /// ```
    pub fn compress(&self, compress: bool) -> SocketEmitter<'_> {
        SocketEmitter {
            socket: self,
            compress,
        }
    }
}

/// One socket's emit with options, from [`Socket::compress`].
#[derive(Debug, Clone, Copy)]
pub struct SocketEmitter<'a> {
    socket: &'a Socket,
    compress: bool,
}

impl SocketEmitter<'_> {
    /// Changes the choice of [`Socket::compress`].
    pub fn compress(mut self, compress: bool) -> Self {
        self.compress = compress;
        self
    }

    /// [`Socket::emit`] with these options.
    pub fn emit(self, event: &str, args: Vec<Value>) -> Result<(), EmitError> {
        self.socket.emit_with(event, args, self.compress)
    }

    /// [`Socket::emit_serialized`] with these options.
    pub fn emit_serialized<T: Serialize + ?Sized>(
        self,
        event: &str,
        args: &T,
    ) -> Result<(), EmitError> {
        self.socket.emit_serialized_with(event, args, self.compress)
    }

    /// [`Socket::emit_volatile`] with these options.
    pub fn emit_volatile(self, event: &str, args: Vec<Value>) -> bool {
        self.socket.emit_volatile_with(event, args, self.compress)
    }

    /// [`Socket::emit_with_ack`] with these options.
    pub fn emit_with_ack(self, event: &str, args: Vec<Value>) -> AckRequest {
        self.socket.emit_with_ack_with(event, args, self.compress)
    }

    /// [`Socket::emit_volatile_serialized`] with these options.
    pub fn emit_volatile_serialized<T: Serialize + ?Sized>(self, event: &str, args: &T) -> bool {
        self.socket
            .emit_volatile_serialized_with(event, args, self.compress)
    }

    /// [`Socket::emit_serialized_with_ack`] with these options.
    pub fn emit_serialized_with_ack<T: Serialize + ?Sized>(
        self,
        event: &str,
        args: &T,
    ) -> AckRequest {
        self.socket
            .emit_serialized_with_ack_with(event, args, self.compress)
    }
}

/// An emit waiting for its acknowledgement; await it (after `.timeout(..)`
/// if the default does not suit) for the answer's arguments, or
/// [`typed`](Self::typed) for them deserialized.
///
/// ```
/// use std::time::Duration;
/// use socketeer::server::{AckError, Socket};
///
/// async fn ask(socket: Socket) {
///     // The client answers `callback(3)`.
///     let sum = socket
///         .emit_serialized_with_ack("add", &(1, 2))
///         .timeout(Duration::from_secs(5))
///         .typed::<i64>()
///         .await;
///     match sum {
///         Ok(sum) => println!("1 + 2 = {sum}"),
///         Err(AckError::Timeout) => println!("no answer in time"),
///         Err(e) => println!("failed: {e}"),
///     }
///     // Untyped: every argument of the answer.
///     let args = socket.emit_with_ack("ping", vec![]).await;
///     println!("{args:?}");
/// }
/// # let _ = ask;
/// ```
pub struct AckRequest {
    socket: Socket,
    id: u64,
    rx: oneshot::Receiver<AckResult>,
    failed: bool,
    timeout: Duration,
}

impl AckRequest {
    /// Sets how long to wait for the acknowledgement.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Waits for the acknowledgement and reads its arguments as `T` (one
    /// argument: `T` from it; several: from their array, so a tuple).
    pub async fn typed<T: serde::de::DeserializeOwned>(self) -> Result<T, AckError> {
        let args = self.await?;
        crate::value::typed_args(args).map_err(|e| {
            tracing::debug!(error = %e, "acknowledgement of another shape");
            AckError::InvalidAnswer
        })
    }
}

impl IntoFuture for AckRequest {
    type Output = AckResult;
    type IntoFuture = Pin<Box<dyn Future<Output = AckResult> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            if self.failed {
                return Err(AckError::EmitFailed);
            }
            match tokio::time::timeout(self.timeout, self.rx).await {
                Ok(Ok(r)) => r,
                Ok(Err(_)) => Err(AckError::Disconnected),
                Err(_) => {
                    self.socket.forget_ack(self.id);
                    Err(AckError::Timeout)
                }
            }
        })
    }
}
