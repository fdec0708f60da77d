//! Namespaces: their sockets, middlewares and connection handler.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock, Weak};
use std::time::Duration;

use super::adapter::{Adapter, BroadcastOptions, ClusterOp, Room, SocketId, SocketInfo};
use super::operators::BroadcastOperator;
use super::recovery::RecoveryStore;
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
/// A handler of events other servers send with
/// [`Namespace::server_side_emit`].
pub type ServerSideHandler = Arc<dyn Fn(&str, Vec<Value>) + Send + Sync>;

pub(crate) struct NamespaceInner {
    name: Arc<str>,
    sockets: RwLock<HashMap<SocketId, Socket>>,
    adapter: Box<dyn Adapter>,
    middlewares: RwLock<Vec<Middleware>>,
    on_connection: RwLock<Option<ConnectionHandler>>,
    on_server_side: RwLock<Option<ServerSideHandler>>,
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
    pub(crate) fn new(name: &str, config: &super::SocketIoConfig) -> Self {
        let name: Arc<str> = name.into();
        Namespace {
            inner: Arc::new_cyclic(|weak| NamespaceInner {
                name: name.clone(),
                sockets: RwLock::new(HashMap::new()),
                adapter: config.adapter.make(NamespaceHandle {
                    name,
                    inner: weak.clone(),
                }),
                middlewares: RwLock::new(Vec::new()),
                on_connection: RwLock::new(None),
                on_server_side: RwLock::new(None),
                ack_ids: AtomicU64::new(0),
                ack_timeout: config.ack_timeout,
                recovery: config
                    .connection_state_recovery
                    .clone()
                    .map(|c| Mutex::new(RecoveryStore::new(c))),
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

    /// Every socket of the namespace, on every server.
    pub async fn fetch_sockets(&self) -> Vec<SocketInfo> {
        self.broadcast().fetch_sockets().await
    }

    /// Sends an event to the handlers of the other servers sharing this
    /// namespace (set with [`Namespace::on_server_side_emit`]); nothing
    /// happens with a single server.
    pub fn server_side_emit(&self, event: &str, args: Vec<Value>) {
        if self.adapter().is_clustered() {
            self.adapter().publish(ClusterOp::ServerSideEmit {
                event: event.to_owned(),
                args,
            });
        }
    }

    /// Sets the handler of events other servers send with
    /// [`Namespace::server_side_emit`].
    pub fn on_server_side_emit<F>(&self, handler: F)
    where
        F: Fn(&str, Vec<Value>) + Send + Sync + 'static,
    {
        *self
            .inner
            .on_server_side
            .write()
            .unwrap_or_else(|p| p.into_inner()) = Some(Arc::new(handler));
    }

    /// This server's sockets that `opts` targets.
    pub(crate) fn local_socket_infos(&self, opts: &BroadcastOptions) -> Vec<SocketInfo> {
        let all = self.socket_ids();
        self.adapter()
            .targets(opts, &mut all.into_iter())
            .into_iter()
            .map(|id| SocketInfo {
                rooms: self.adapter().socket_rooms(&id),
                id,
                local: true,
            })
            .collect()
    }
}

/// A namespace as its adapter sees it: what a multi-server adapter needs
/// to apply the other servers' operations here. Holds no strong
/// reference.
#[derive(Clone)]
pub struct NamespaceHandle {
    name: Arc<str>,
    inner: Weak<NamespaceInner>,
}

impl std::fmt::Debug for NamespaceHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NamespaceHandle")
            .field("name", &self.name)
            .finish()
    }
}

impl NamespaceHandle {
    /// The namespace's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    fn namespace(&self) -> Option<Namespace> {
        self.inner.upgrade().map(|inner| Namespace { inner })
    }

    /// Applies another server's operation to this server's sockets
    /// (without publishing it again).
    pub fn apply(&self, op: ClusterOp) {
        let Some(ns) = self.namespace() else { return };
        let local = |mut opts: BroadcastOptions| {
            opts.local = true;
            BroadcastOperator::with_options(ns.clone(), opts)
        };
        match op {
            ClusterOp::Emit { opts, event, args } => {
                let _ = local(opts).emit(&event, args);
            }
            ClusterOp::Join { opts, rooms } => local(opts).sockets_join(rooms),
            ClusterOp::Leave { opts, rooms } => {
                let target = local(opts);
                for room in rooms {
                    target.sockets_leave(&room);
                }
            }
            ClusterOp::Disconnect { opts } => local(opts).disconnect_sockets(),
            ClusterOp::ServerSideEmit { event, args } => {
                let handler = ns
                    .inner
                    .on_server_side
                    .read()
                    .unwrap_or_else(|p| p.into_inner())
                    .clone();
                if let Some(h) = handler {
                    h(&event, args);
                }
            }
        }
    }

    /// This server's sockets that `opts` targets, to answer another
    /// server's `fetch_sockets`.
    pub fn local_sockets(&self, opts: &BroadcastOptions) -> Vec<SocketInfo> {
        self.namespace()
            .map(|ns| ns.local_socket_infos(opts))
            .unwrap_or_default()
    }
}
