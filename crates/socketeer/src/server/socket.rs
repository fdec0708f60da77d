//! A Socket.IO socket: one client's connection to one namespace.

use std::collections::HashMap;
use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use serde::Serialize;
use socketeer_engineio::server::Socket as EngineSocket;
use tokio::sync::oneshot;

use super::adapter::{BroadcastOptions, Room, SocketId};
use super::namespace::Namespace;
use super::operators::BroadcastOperator;
use super::Handshake;
use crate::packet::{EncodeError, EncodedMessage, Packet};
use crate::Value;

/// Why a socket disconnected, with the official reason strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DisconnectReason {
    /// The server called [`Socket::disconnect`].
    ServerNamespaceDisconnect,
    /// The client left the namespace.
    ClientNamespaceDisconnect,
    /// The client's transport closed.
    TransportClose,
    /// The client's transport failed.
    TransportError,
    /// The client did not answer a ping in time.
    PingTimeout,
    /// The client sent an invalid packet.
    ParseError,
    /// The server is shutting down.
    ServerShuttingDown,
    /// The server closed the whole connection.
    ForcedServerClose,
}

impl DisconnectReason {
    /// The reason as the official server names it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ServerNamespaceDisconnect => "server namespace disconnect",
            Self::ClientNamespaceDisconnect => "client namespace disconnect",
            Self::TransportClose => "transport close",
            Self::TransportError => "transport error",
            Self::PingTimeout => "ping timeout",
            Self::ParseError => "parse error",
            Self::ServerShuttingDown => "server shutting down",
            Self::ForcedServerClose => "forced server close",
        }
    }
}

impl DisconnectReason {
    /// Whether a client that lost its socket this way may get its session
    /// back (connection state recovery).
    pub fn is_recoverable(self) -> bool {
        matches!(
            self,
            Self::TransportClose
                | Self::TransportError
                | Self::PingTimeout
                | Self::ServerShuttingDown
                | Self::ForcedServerClose
        )
    }
}

impl std::fmt::Display for DisconnectReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why an emit failed.
#[derive(Debug, thiserror::Error)]
pub enum EmitError {
    /// The socket is disconnected.
    #[error("socket disconnected")]
    Disconnected,
    /// The client does not keep up: its send queue is full.
    #[error("send queue full")]
    QueueFull,
    /// The event or arguments cannot be encoded.
    #[error(transparent)]
    Encode(#[from] EncodeError),
}

/// Why an acknowledgement did not arrive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AckError {
    /// No answer within the timeout.
    #[error("acknowledgement timed out")]
    Timeout,
    /// The socket disconnected first.
    #[error("socket disconnected before acknowledging")]
    Disconnected,
    /// The emit itself failed.
    #[error("emit failed")]
    EmitFailed,
}

/// Answers a client's event that asked for an acknowledgement.
#[derive(Debug)]
pub struct AckSender {
    socket: Socket,
    id: u64,
}

impl AckSender {
    /// Sends the acknowledgement with these arguments.
    pub fn send(self, args: Vec<Value>) -> Result<(), EmitError> {
        let msg = EncodedMessage::ack(self.socket.namespace_name(), self.id, &args)?;
        self.socket.send_encoded(&msg)
    }

    /// Sends the acknowledgement with one serializable argument.
    pub fn send_serialized<T: Serialize>(self, arg: &T) -> Result<(), EmitError> {
        let value =
            Value::from_serialize(arg).map_err(|e| EmitError::Encode(EncodeError::Json(e)))?;
        self.send(vec![value])
    }

    /// The ack id.
    pub fn id(&self) -> u64 {
        self.id
    }
}

/// An event handler: the socket, the arguments, and an acknowledgement
/// callback when the client asked for one.
pub type EventHandler = Arc<dyn Fn(&Socket, Vec<Value>, Option<AckSender>) + Send + Sync>;
/// A catch-all handler: also gets the event name.
pub type AnyHandler = Arc<dyn Fn(&Socket, &str, Vec<Value>, Option<AckSender>) + Send + Sync>;
/// A disconnect handler.
pub type DisconnectHandler = Arc<dyn Fn(&Socket, DisconnectReason) + Send + Sync>;
/// A per-packet middleware: sees (and may change) each incoming event's
/// name and arguments before any handler; an error drops the event.
pub type PacketMiddleware =
    Arc<dyn Fn(&Socket, &str, &mut Vec<Value>) -> Result<(), MiddlewareError> + Send + Sync>;
/// Called with the error of a packet middleware that dropped an event.
pub type ErrorHandler = Arc<dyn Fn(&Socket, &MiddlewareError) + Send + Sync>;

/// Why a per-packet middleware dropped an event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct MiddlewareError(pub String);

type AckResult = Result<Vec<Value>, AckError>;

/// What the application registered on a socket, under one lock (one
/// lock per kind cost every socket its own lock for each, most unused).
#[derive(Default)]
struct Handlers {
    events: HashMap<Box<str>, EventHandler>,
    any: Option<AnyHandler>,
    on_disconnect: Vec<DisconnectHandler>,
    packet_middlewares: Vec<PacketMiddleware>,
    on_error: Option<ErrorHandler>,
}

pub(crate) struct SocketInner {
    pub(crate) id: SocketId,
    pub(crate) ns: Namespace,
    pub(crate) engine: EngineSocket,
    pub(crate) handshake: Arc<Handshake>,
    handlers: RwLock<Handlers>,
    acks: Mutex<HashMap<u64, oneshot::Sender<AckResult>>>,
    connected: AtomicBool,
    /// The private session id of connection state recovery, when on.
    pid: Option<Arc<str>>,
    recovered: bool,
}

/// A client's connection to one namespace. Cheap to clone.
#[derive(Clone)]
pub struct Socket {
    pub(crate) inner: Arc<SocketInner>,
}

impl std::fmt::Debug for Socket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Socket")
            .field("id", &self.inner.id)
            .field("nsp", &self.namespace_name())
            .finish()
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
        Socket {
            inner: Arc::new(SocketInner {
                id,
                ns,
                engine,
                handshake,
                handlers: RwLock::new(Handlers::default()),
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

    /// Registers the handler of an event (replacing an earlier one).
    pub fn on<F>(&self, event: &str, handler: F)
    where
        F: Fn(&Socket, Vec<Value>, Option<AckSender>) + Send + Sync + 'static,
    {
        self.handlers_mut()
            .events
            .insert(event.into(), Arc::new(handler));
    }

    /// Registers a catch-all handler, called for every event before the
    /// event's own handler.
    pub fn on_any<F>(&self, handler: F)
    where
        F: Fn(&Socket, &str, Vec<Value>, Option<AckSender>) + Send + Sync + 'static,
    {
        self.handlers_mut().any = Some(Arc::new(handler));
    }

    /// Registers a handler called once when the socket disconnects.
    pub fn on_disconnect<F>(&self, handler: F)
    where
        F: Fn(&Socket, DisconnectReason) + Send + Sync + 'static,
    {
        self.handlers_mut().on_disconnect.push(Arc::new(handler));
    }

    /// Adds a per-packet middleware (`socket.use` in socket.io), run in
    /// order on every incoming event before its handlers.
    pub fn use_packet_middleware<F>(&self, middleware: F)
    where
        F: Fn(&Socket, &str, &mut Vec<Value>) -> Result<(), MiddlewareError>
            + Send
            + Sync
            + 'static,
    {
        self.handlers_mut()
            .packet_middlewares
            .push(Arc::new(middleware));
    }

    /// Sets the handler told when a packet middleware drops an event.
    pub fn on_error<F>(&self, handler: F)
    where
        F: Fn(&Socket, &MiddlewareError) + Send + Sync + 'static,
    {
        self.handlers_mut().on_error = Some(Arc::new(handler));
    }

    pub(crate) fn dispatch_event(&self, name: &str, mut args: Vec<Value>, ack_id: Option<u64>) {
        let middlewares = self.handlers().packet_middlewares.clone();
        for m in middlewares {
            if let Err(e) = m(self, name, &mut args) {
                tracing::debug!(socket = self.id(), event = name, error = %e, "event dropped by middleware");
                let handler = self.handlers().on_error.clone();
                if let Some(h) = handler {
                    h(self, &e);
                }
                return;
            }
        }
        // Read after the middlewares ran: they may register handlers.
        let (any, handler) = {
            let h = self.handlers();
            (h.any.clone(), h.events.get(name).cloned())
        };
        let ack = |s: &Socket| {
            ack_id.map(|id| AckSender {
                socket: s.clone(),
                id,
            })
        };
        match (any, handler) {
            (Some(any), Some(h)) => {
                any(self, name, args.clone(), None);
                h(self, args, ack(self));
            }
            (Some(any), None) => any(self, name, args, ack(self)),
            (None, Some(h)) => h(self, args, ack(self)),
            (None, None) => {}
        }
    }

    pub(crate) fn dispatch_ack(&self, id: u64, args: Vec<Value>) {
        let tx = self
            .inner
            .acks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&id);
        if let Some(tx) = tx {
            let _ = tx.send(Ok(args));
        }
    }

    pub(crate) fn send_encoded(&self, msg: &EncodedMessage) -> Result<(), EmitError> {
        if !self.connected() {
            return Err(EmitError::Disconnected);
        }
        for frame in msg.frames() {
            self.inner.engine.send_frame(frame).map_err(|e| match e {
                socketeer_engineio::server::SendError::Closed => EmitError::Disconnected,
                socketeer_engineio::server::SendError::QueueFull => EmitError::QueueFull,
            })?;
        }
        Ok(())
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
        if self.inner.ns.recovery_enabled() {
            return self
                .inner
                .ns
                .emit_recorded(&self.own_room(), event, args, |m| self.send_encoded(m))?;
        }
        let msg = EncodedMessage::event(self.namespace_name(), event, None, &args)?;
        self.send_encoded(&msg)
    }

    /// Emits an event whose arguments are any value serializing to a JSON
    /// array (a tuple or a `Vec`), in one serde pass.
    pub fn emit_serialized<T: Serialize + ?Sized>(
        &self,
        event: &str,
        args: &T,
    ) -> Result<(), EmitError> {
        if self.inner.ns.recovery_enabled() {
            let args = crate::packet::args_from_serialize(args)?;
            return self.emit(event, args);
        }
        let msg = EncodedMessage::event_serialize(self.namespace_name(), event, None, args)?;
        self.send_encoded(&msg)
    }

    /// Emits an event only if the client is ready for it right now;
    /// otherwise drops it (`volatile`). Returns whether it was queued.
    pub fn emit_volatile(&self, event: &str, args: Vec<Value>) -> bool {
        let Ok(msg) = EncodedMessage::event(self.namespace_name(), event, None, &args) else {
            return false;
        };
        if msg.frame_count() != 1 || !self.connected() {
            return false;
        }
        self.inner
            .engine
            .send_volatile(socketeer_engineio::Payload::Text(msg.text))
    }

    /// Emits an event and waits for the client's acknowledgement, by
    /// default for the namespace's ack timeout; `.timeout(d)` changes it.
    pub fn emit_with_ack(&self, event: &str, args: Vec<Value>) -> AckRequest {
        let id = self.inner.ns.next_ack_id();
        let (tx, rx) = oneshot::channel();
        self.inner
            .acks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id, tx);
        let sent = EncodedMessage::event(self.namespace_name(), event, Some(id), &args)
            .map_err(EmitError::from)
            .and_then(|m| self.send_encoded(&m));
        if sent.is_err() {
            self.inner
                .acks
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&id);
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
        self.inner
            .acks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id, tx);
        rx
    }

    pub(crate) fn forget_ack(&self, id: u64) {
        self.inner
            .acks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&id);
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

    /// Broadcasts to a room, except this socket.
    pub fn to(&self, room: impl Into<Room>) -> BroadcastOperator {
        self.broadcast().to(room)
    }

    /// Broadcasts to every socket of the namespace except this one.
    pub fn broadcast(&self) -> BroadcastOperator {
        BroadcastOperator::new(self.inner.ns.clone()).except(self.inner.id.clone())
    }

    /// Disconnects this socket from its namespace (reason "server
    /// namespace disconnect"); the client is told with a DISCONNECT packet.
    pub fn disconnect(&self) {
        if !self.connected() {
            return;
        }
        if let Ok(m) = Packet::disconnect(self.namespace_name().to_owned()).encode_message() {
            let _ = self.send_encoded(&m);
        }
        super::client::Client::forget_socket(&self.inner.engine, self.namespace_name());
        self.on_close(DisconnectReason::ServerNamespaceDisconnect);
    }

    /// Marks the socket gone: leaves every room, fails pending acks and
    /// runs the disconnect handlers (once).
    pub(crate) fn on_close(&self, reason: DisconnectReason) {
        if !self.inner.connected.swap(false, Ordering::AcqRel) {
            return;
        }
        let session = match &self.inner.pid {
            Some(pid) if reason.is_recoverable() => Some((pid.clone(), self.rooms())),
            _ => None,
        };
        self.inner.ns.remove_socket(&self.inner.id);
        if let (Some((pid, rooms)), Some(mut store)) = (session, self.inner.ns.recovery()) {
            store.persist(pid, self.inner.id.clone(), rooms, Instant::now());
        }
        let acks = std::mem::take(&mut *self.inner.acks.lock().unwrap_or_else(|p| p.into_inner()));
        for (_, tx) in acks {
            let _ = tx.send(Err(AckError::Disconnected));
        }
        let handlers = std::mem::take(&mut self.handlers_mut().on_disconnect);
        for h in handlers {
            h(self, reason);
        }
        // Handlers may hold clones of this socket: drop them to break
        // cycles (outside the lock: dropping them may run anything).
        let registered = std::mem::take(&mut *self.handlers_mut());
        drop(registered);
    }

    fn handlers(&self) -> std::sync::RwLockReadGuard<'_, Handlers> {
        self.inner
            .handlers
            .read()
            .unwrap_or_else(|p| p.into_inner())
    }

    fn handlers_mut(&self) -> std::sync::RwLockWriteGuard<'_, Handlers> {
        self.inner
            .handlers
            .write()
            .unwrap_or_else(|p| p.into_inner())
    }
}

/// An emit waiting for its acknowledgement; await it (after `.timeout(..)`
/// if the default does not suit).
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
