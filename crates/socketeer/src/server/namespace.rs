//! Namespaces: their sockets, middlewares and connection handler.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::Duration;

use super::adapter::{Adapter, InMemoryAdapter, Room, SocketId};
use super::operators::BroadcastOperator;
use super::recovery::{ConnectionStateRecovery, RecoveryStore};
use super::socket::Socket;
use super::Handshake;
use crate::Value;

/// A middleware's refusal: the client gets CONNECT_ERROR with this message
/// (and data, if any).
#[derive(Debug, Clone, PartialEq)]
pub struct ConnectError {
    /// The message (`err.message` in socket.io-client).
    pub message: String,
    /// Extra data (`err.data` in socket.io-client).
    pub data: Option<Value>,
}

impl ConnectError {
    /// A refusal with a message.
    pub fn new(message: impl Into<String>) -> Self {
        ConnectError {
            message: message.into(),
            data: None,
        }
    }

    /// Adds data.
    pub fn with_data(mut self, data: Value) -> Self {
        self.data = Some(data);
        self
    }

    pub(crate) fn to_value(&self) -> Value {
        let mut map = crate::Map::new();
        map.insert("message".into(), Value::String(self.message.clone()));
        if let Some(d) = &self.data {
            map.insert("data".into(), d.clone());
        }
        Value::Object(map)
    }
}

/// A namespace middleware: accepts or refuses each connection.
pub type Middleware = Arc<dyn Fn(&Handshake) -> Result<(), ConnectError> + Send + Sync>;
/// A connection handler.
pub type ConnectionHandler = Arc<dyn Fn(Socket) + Send + Sync>;

pub(crate) struct NamespaceInner {
    name: Arc<str>,
    sockets: RwLock<HashMap<SocketId, Socket>>,
    adapter: Box<dyn Adapter>,
    middlewares: RwLock<Vec<Middleware>>,
    on_connection: RwLock<Option<ConnectionHandler>>,
    ack_ids: AtomicU64,
    ack_timeout: Duration,
    recovery: Option<Mutex<RecoveryStore>>,
}

/// A namespace (`/`, `/chat`, ...). Cheap to clone.
#[derive(Clone)]
pub struct Namespace {
    pub(crate) inner: Arc<NamespaceInner>,
}

impl std::fmt::Debug for Namespace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Namespace")
            .field("name", &self.inner.name)
            .finish()
    }
}

impl Namespace {
    pub(crate) fn new(
        name: &str,
        ack_timeout: Duration,
        recovery: Option<ConnectionStateRecovery>,
    ) -> Self {
        Namespace {
            inner: Arc::new(NamespaceInner {
                name: name.into(),
                sockets: RwLock::new(HashMap::new()),
                adapter: Box::new(InMemoryAdapter::new()),
                middlewares: RwLock::new(Vec::new()),
                on_connection: RwLock::new(None),
                ack_ids: AtomicU64::new(0),
                ack_timeout,
                recovery: recovery.map(|c| Mutex::new(RecoveryStore::new(c))),
            }),
        }
    }

    /// The namespace's name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    pub(crate) fn adapter(&self) -> &dyn Adapter {
        self.inner.adapter.as_ref()
    }

    /// The connection state recovery store, locked, when recovery is on.
    /// Recorded emits, restores and session saves of the namespace take
    /// turns on it, so a restored socket misses nothing and gets nothing
    /// twice.
    pub(crate) fn recovery(&self) -> Option<MutexGuard<'_, RecoveryStore>> {
        self.inner
            .recovery
            .as_ref()
            .map(|m| m.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Whether connection state recovery is on.
    pub fn recovery_enabled(&self) -> bool {
        self.inner.recovery.is_some()
    }

    /// Encodes an event and hands it to `deliver`. With recovery on (and
    /// the emit not volatile) the event first gets the next offset as its
    /// last argument and is recorded for `opts`' targets; `deliver` then
    /// runs with the store still locked, so each socket gets recorded
    /// events in offset order.
    pub(crate) fn emit_recorded<R>(
        &self,
        opts: &super::adapter::BroadcastOptions,
        event: &str,
        mut args: Vec<Value>,
        deliver: impl FnOnce(&crate::packet::EncodedMessage) -> R,
    ) -> Result<R, crate::packet::EncodeError> {
        use crate::packet::EncodedMessage;
        match self.recovery() {
            Some(mut store) if !opts.volatile => {
                args.push(Value::String(store.next_offset()));
                let msg = EncodedMessage::event(self.name(), event, None, &args)?;
                store.record(opts, msg.clone(), std::time::Instant::now());
                Ok(deliver(&msg))
            }
            _ => {
                let msg = EncodedMessage::event(self.name(), event, None, &args)?;
                Ok(deliver(&msg))
            }
        }
    }

    pub(crate) fn next_ack_id(&self) -> u64 {
        self.inner.ack_ids.fetch_add(1, Ordering::Relaxed)
    }

    pub(crate) fn ack_timeout(&self) -> Duration {
        self.inner.ack_timeout
    }

    /// Sets the handler called for each new socket.
    pub fn on_connection<F>(&self, handler: F)
    where
        F: Fn(Socket) + Send + Sync + 'static,
    {
        *self
            .inner
            .on_connection
            .write()
            .unwrap_or_else(|p| p.into_inner()) = Some(Arc::new(handler));
    }

    /// Adds a middleware, run in order for each connection attempt.
    pub fn use_middleware<F>(&self, middleware: F)
    where
        F: Fn(&Handshake) -> Result<(), ConnectError> + Send + Sync + 'static,
    {
        self.inner
            .middlewares
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .push(Arc::new(middleware));
    }

    pub(crate) fn run_middlewares(&self, handshake: &Handshake) -> Result<(), ConnectError> {
        let middlewares = self
            .inner
            .middlewares
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        for m in middlewares {
            m(handshake)?;
        }
        Ok(())
    }

    pub(crate) fn add_socket(&self, socket: &Socket) {
        self.inner
            .sockets
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(socket.sid().clone(), socket.clone());
        self.adapter()
            .add_all(socket.sid(), &[socket.sid().clone()]);
    }

    pub(crate) fn connected(&self, socket: Socket) {
        let handler = self
            .inner
            .on_connection
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        if let Some(h) = handler {
            h(socket);
        }
    }

    pub(crate) fn remove_socket(&self, id: &SocketId) {
        self.adapter().del_all(id);
        self.inner
            .sockets
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(id);
    }

    pub(crate) fn socket(&self, id: &str) -> Option<Socket> {
        self.inner
            .sockets
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(id)
            .cloned()
    }

    pub(crate) fn socket_ids(&self) -> Vec<SocketId> {
        self.inner
            .sockets
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .keys()
            .cloned()
            .collect()
    }

    /// The number of connected sockets.
    pub fn socket_count(&self) -> usize {
        self.inner
            .sockets
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .len()
    }

    /// All rooms with at least one socket.
    pub fn rooms(&self) -> Vec<Room> {
        self.adapter().rooms()
    }

    /// Targets the sockets in a room.
    pub fn to(&self, room: impl Into<Room>) -> BroadcastOperator {
        BroadcastOperator::new(self.clone()).to(room)
    }

    /// Targets every socket except those in a room.
    pub fn except(&self, room: impl Into<Room>) -> BroadcastOperator {
        BroadcastOperator::new(self.clone()).except(room)
    }

    /// Targets every socket of the namespace.
    pub fn broadcast(&self) -> BroadcastOperator {
        BroadcastOperator::new(self.clone())
    }

    /// Emits to every socket of the namespace.
    pub fn emit(
        &self,
        event: &str,
        args: Vec<crate::Value>,
    ) -> Result<usize, super::socket::EmitError> {
        self.broadcast().emit(event, args)
    }

    /// Disconnects every socket (reason "server namespace disconnect").
    pub fn disconnect_sockets(&self) {
        self.broadcast().disconnect_sockets();
    }
}
