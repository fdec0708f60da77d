//! What a namespace and each of its sockets hold: the server's shared
//! state, data only. Their behaviour lives above, in `namespace.rs`,
//! `socket.rs` and `operators.rs`, so the server's modules import one way:
//! adapter ← state ← namespace ← socket ← operators ← connection.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::{Duration, SystemTime};

use http::HeaderMap;
use socketeer_engineio::server::Socket as EngineSocket;
use tokio::sync::oneshot;

use super::adapter::{Adapter, ServerSideAck, SocketId};
use super::data::DataSlot;
use super::error::{
    AckError, ArgumentError, ConnectError, DisconnectReason, MiddlewareError, SocketError,
};
use super::event_table::EventTable;
use super::metrics::Counters;
use super::recovery::RecoveryStore;
use crate::Value;

/// What a client sent when connecting to a namespace.
#[derive(Debug, Clone)]
pub struct Handshake {
    /// The CONNECT packet's payload (`auth` in socket.io-client), `{}` if
    /// none.
    pub auth: Value,
    /// The headers of the first HTTP request (shared by the sockets of a
    /// connection).
    pub headers: Arc<HeaderMap>,
    /// Its query string.
    pub query: String,
    /// Its URL (path and query).
    pub url: String,
    /// The client's address.
    pub address: Option<SocketAddr>,
    /// When the socket connected.
    pub issued: SystemTime,
}

/// A boxed future, as the server keeps the pending work of async
/// handlers and middlewares.
pub(crate) type BoxFuture<T = ()> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

type SyncMiddleware = dyn Fn(&Socket) -> Result<(), ConnectError> + Send + Sync;
type AsyncMiddleware = dyn Fn(Socket) -> BoxFuture<Result<(), ConnectError>> + Send + Sync;
type SyncPacketMiddleware =
    dyn Fn(&Socket, &str, &mut Vec<Value>) -> Result<(), MiddlewareError> + Send + Sync;
type AsyncPacketMiddleware = dyn Fn(Socket, String, Vec<Value>) -> BoxFuture<Result<Vec<Value>, MiddlewareError>>
    + Send
    + Sync;

/// A connection middleware, sync or async (see `Namespace::use_middleware`
/// and `Namespace::use_async_middleware`).
#[derive(Clone)]
pub(crate) enum Middleware {
    Sync(Arc<SyncMiddleware>),
    Async(Arc<AsyncMiddleware>),
}

/// A per-packet middleware, sync (may change the arguments in place) or
/// async (gets them and gives them back).
#[derive(Clone)]
pub(crate) enum PacketMiddleware {
    Sync(Arc<SyncPacketMiddleware>),
    Async(Arc<AsyncPacketMiddleware>),
}

/// A handler of events other servers send with
/// [`Namespace::server_side_emit`].
pub type ServerSideHandler = Arc<dyn Fn(&str, Vec<Value>) + Send + Sync>;
/// A handler of events other servers send, which may answer: the
/// acknowledgement is there when the sending server asked for one
/// ([`Namespace::server_side_emit_with_ack`]).
pub type ServerSideAckHandler = Arc<dyn Fn(&str, Vec<Value>, Option<ServerSideAck>) + Send + Sync>;

/// What a handler is called with: the socket, and what the call is about.
/// [Extractors](super::FromEvent) take their values from it.
pub struct EventParts<'a> {
    /// The socket.
    pub socket: &'a Socket,
    /// The event's name (`"connection"`, `"disconnecting"` and
    /// `"disconnect"` for those handlers).
    pub event: &'a str,
    /// The event's arguments (the `auth` payload for a connection
    /// handler); `None` once an extractor has taken them.
    pub args: Option<Vec<Value>>,
    /// The acknowledgement, when the client asked for one.
    pub ack: Option<AckSender>,
    /// Why the socket disconnects, for disconnect handlers.
    pub reason: Option<DisconnectReason>,
}

impl std::fmt::Debug for EventParts<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventParts")
            .field("socket", &self.socket.inner.id)
            .field("event", &self.event)
            .finish_non_exhaustive()
    }
}

/// A handler with its types erased: extracts its arguments from the parts
/// and runs; returns the rest of its work when it awaits, or why its
/// arguments could not be extracted.
pub(crate) trait ErasedHandler: Send + Sync + 'static {
    fn call(&self, parts: EventParts<'_>) -> Result<Option<BoxFuture>, ArgumentError>;
}

/// The handle of a registered listener, to remove it with `off`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ListenerId(pub(crate) u64);

pub(crate) struct Listener<H: ?Sized + 'static> {
    pub(crate) id: ListenerId,
    pub(crate) once: bool,
    pub(crate) handler: SharedFn<H>,
}

/// A listener's function, shared between the copies of the list it is
/// in. A function without state (a closure that captures nothing, as
/// most handlers are) is a static reference: every socket registers its
/// own listeners, and an `Arc` of nothing still cost each one an
/// allocation.
pub(crate) enum SharedFn<H: ?Sized + 'static> {
    Static(&'static H),
    Counted(Arc<H>),
}

impl<H: ?Sized> Clone for SharedFn<H> {
    fn clone(&self) -> Self {
        match self {
            SharedFn::Static(f) => SharedFn::Static(f),
            SharedFn::Counted(f) => SharedFn::Counted(f.clone()),
        }
    }
}

impl<H: ?Sized> std::ops::Deref for SharedFn<H> {
    type Target = H;

    fn deref(&self) -> &H {
        match self {
            SharedFn::Static(f) => f,
            SharedFn::Counted(f) => f,
        }
    }
}

/// Whether `value` can be a [`SharedFn::Static`]: it has no bytes and
/// nothing to do when dropped, so leaking it leaks nothing.
pub(crate) fn is_stateless<T>(value: &T) -> bool {
    std::mem::size_of_val(value) == 0 && !std::mem::needs_drop::<T>()
}

impl<H: ?Sized + 'static> Clone for Listener<H> {
    fn clone(&self) -> Self {
        Listener {
            id: self.id,
            once: self.once,
            handler: self.handler.clone(),
        }
    }
}

/// An ordered list of listeners, shared copy-on-write: an event's
/// dispatch takes it with a reference count (no allocation per event);
/// registering, which is rare, copies it. A single listener, the common
/// case, is kept inline (no allocation per event and socket).
#[derive(Clone, Default)]
pub(crate) enum Listeners {
    #[default]
    Empty,
    One(Listener<dyn ErasedHandler>),
    Many(Arc<[Listener<dyn ErasedHandler>]>),
}

impl Listeners {
    pub(crate) fn as_slice(&self) -> &[Listener<dyn ErasedHandler>] {
        match self {
            Listeners::Empty => &[],
            Listeners::One(l) => std::slice::from_ref(l),
            Listeners::Many(ls) => ls,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.as_slice().len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.as_slice().is_empty()
    }

    fn rebuild(&mut self, f: impl FnOnce(&mut Vec<Listener<dyn ErasedHandler>>)) {
        let mut v = self.as_slice().to_vec();
        f(&mut v);
        *self = v.into();
    }

    pub(crate) fn push(&mut self, l: Listener<dyn ErasedHandler>) {
        self.rebuild(|v| v.push(l));
    }

    pub(crate) fn push_front(&mut self, l: Listener<dyn ErasedHandler>) {
        self.rebuild(|v| v.insert(0, l));
    }

    pub(crate) fn retain(&mut self, keep: impl Fn(&Listener<dyn ErasedHandler>) -> bool) {
        if self.as_slice().iter().all(&keep) {
            return;
        }
        self.rebuild(|v| v.retain(|l| keep(l)));
    }
}

impl From<Vec<Listener<dyn ErasedHandler>>> for Listeners {
    fn from(mut v: Vec<Listener<dyn ErasedHandler>>) -> Self {
        match v.len() {
            0 => Listeners::Empty,
            1 => Listeners::One(v.pop().expect("one listener")),
            _ => Listeners::Many(v.into()),
        }
    }
}

/// Runs when a namespace's last socket leaves.
pub(crate) type EmptyHook = dyn Fn(&Namespace) + Send + Sync;

/// Told of each event a socket sends (`onAnyOutgoing`).
pub(crate) type OutgoingListener = dyn Fn(&Socket, &str, &[Value]) + Send + Sync;
/// Told of a socket's errors (a middleware's refusal, bad arguments).
pub(crate) type ErrorListener = dyn Fn(&Socket, &SocketError) + Send + Sync;

pub(crate) struct NamespaceInner {
    pub(crate) name: Arc<str>,
    pub(crate) sockets: RwLock<HashMap<SocketId, Socket>>,
    pub(crate) adapter: Box<dyn Adapter>,
    pub(crate) middlewares: RwLock<Vec<Middleware>>,
    pub(crate) on_connection: RwLock<Vec<Listener<dyn ErasedHandler>>>,
    pub(crate) on_server_side: RwLock<Option<ServerSideAckHandler>>,
    pub(crate) ack_ids: AtomicU64,
    pub(crate) ack_timeout: Duration,
    pub(crate) recovery: Option<Mutex<RecoveryStore>>,
    /// Application state for the [`State`](super::State) extractor.
    pub(crate) state: Arc<http::Extensions>,
    /// Most events one socket may have waiting behind a handler that
    /// awaits.
    pub(crate) max_pending_events: usize,
    pub(crate) listener_ids: AtomicU64,
    /// Called when the last socket leaves (a dynamic child namespace with
    /// `cleanup_empty_child_namespaces`).
    pub(crate) on_empty: OnceLock<Box<EmptyHook>>,
    /// The handles of the event and ack counters.
    pub(crate) metrics: Counters,
}

/// A namespace (`/`, `/chat`, ...): its middlewares, its connection
/// handlers and everything that targets its sockets. Cheap to clone.
///
/// ```
/// use socketeer::server::{ConnectError, Socket, SocketIo};
///
/// let io = SocketIo::new(Default::default());
/// let admin = io.of("/admin");
/// admin.use_middleware(|socket: &Socket| {
///     match socket.handshake().auth.get("token").and_then(|t| t.as_str()) {
///         Some("secret") => Ok(()),
///         _ => Err(ConnectError::new("unauthorized")),
///     }
/// });
/// admin.on_connection(|socket: Socket| {
///     socket.join(["staff"]);
/// });
/// // Everything that targets several sockets: no socket yet, no recipient.
/// assert_eq!(admin.emit_serialized("notice", &("maintenance at noon",)).unwrap(), 0);
/// assert_eq!(admin.to("staff").except("interns").emit("ping", vec![]).unwrap(), 0);
/// assert_eq!((admin.name(), admin.socket_count()), ("/admin", 0));
/// ```
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

pub(crate) type AckResult = Result<Vec<Value>, AckError>;

/// What the application registered on a socket, under one lock (one
/// lock per kind cost every socket its own lock for each, most unused).
#[derive(Default)]
pub(crate) struct Handlers {
    pub(crate) events: EventTable<Listeners>,
    pub(crate) any: Listeners,
    /// The kinds most sockets never use, boxed once one is: five empty
    /// lists inline cost every socket 120 bytes.
    rare: Option<Box<RareHandlers>>,
}

/// The listeners and middlewares of [`Handlers`] that few sockets have.
#[derive(Default)]
pub(crate) struct RareHandlers {
    pub(crate) any_outgoing: Vec<Listener<OutgoingListener>>,
    pub(crate) disconnecting: Vec<Listener<dyn ErasedHandler>>,
    pub(crate) disconnect: Vec<Listener<dyn ErasedHandler>>,
    pub(crate) packet_middlewares: Vec<PacketMiddleware>,
    pub(crate) errors: Vec<Listener<ErrorListener>>,
}

impl Handlers {
    /// The rare kinds, if any was ever registered.
    pub(crate) fn rare(&self) -> Option<&RareHandlers> {
        self.rare.as_deref()
    }

    /// The rare kinds, to register one (boxed on first use).
    pub(crate) fn rare_mut(&mut self) -> &mut RareHandlers {
        self.rare.get_or_insert_with(Default::default)
    }

    /// The rare kinds, to change or take some out, if any was registered.
    pub(crate) fn rare_if_any(&mut self) -> Option<&mut RareHandlers> {
        self.rare.as_deref_mut()
    }
}

/// The per-socket queue that keeps a socket's events in order while one
/// of its handlers awaits: `busy` while a task runs the socket's work.
#[derive(Default)]
pub(crate) struct Lane {
    pub(crate) busy: bool,
    pub(crate) queue: VecDeque<Job>,
}

/// One unit of a socket's work: runs now, and returns what is left when
/// it has to wait.
pub(crate) type Job = Box<dyn FnOnce() -> Option<BoxFuture> + Send>;

pub(crate) struct SocketInner {
    pub(crate) id: SocketId,
    pub(crate) ns: Namespace,
    pub(crate) engine: EngineSocket,
    pub(crate) handshake: Arc<Handshake>,
    pub(crate) handlers: RwLock<Handlers>,
    /// Whether any outgoing listener is registered (checked without the
    /// lock on every emit).
    pub(crate) has_outgoing: AtomicBool,
    pub(crate) lane: Mutex<Lane>,
    pub(crate) data: Mutex<Option<DataSlot>>,
    pub(crate) acks: Mutex<HashMap<u64, oneshot::Sender<AckResult>>>,
    pub(crate) connected: AtomicBool,
    /// The private session id of connection state recovery, when on.
    pub(crate) pid: Option<Arc<str>>,
    pub(crate) recovered: bool,
    /// The socket's span (`socketio_socket`: namespace and socket id, at
    /// debug level), entered around its events.
    pub(crate) span: tracing::Span,
}

/// A client's connection to one namespace: its listeners, rooms, data and
/// emits. Cheap to clone; handlers get it with the `Socket` extractor.
///
/// ```
/// use serde::{Deserialize, Serialize};
/// use socketeer::server::{Data, DisconnectReason, Socket};
///
/// #[derive(Clone, Serialize, Deserialize)]
/// struct User { name: String }
///
/// fn on_connection(socket: Socket) {
///     socket.set_data(User { name: "ann".into() }); // socket.data
///     socket.on("join", |socket: Socket, Data(room): Data<String>| {
///         socket.join([room.clone()]);
///         let name = socket.data::<User>().map(|u| u.name);
///         // To the others in the room (not this socket): ["joined", "ann"].
///         let _ = socket.to(room).emit_serialized("joined", &(name,));
///     });
///     socket.on("whoami", |socket: Socket| {
///         // Untyped arguments, or typed ones: a tuple spreads into them.
///         let _ = socket.emit("id", vec![socket.id().into()]);
///         let _ = socket.emit_serialized("room-count", &(socket.rooms().len(),));
///     });
///     socket.on_disconnect(|socket: Socket, reason: DisconnectReason| {
///         println!("{} left: {reason}", socket.id());
///     });
/// }
/// # let io = socketeer::server::SocketIo::new(Default::default());
/// # io.on_connection(on_connection);
/// ```
#[derive(Clone)]
pub struct Socket {
    pub(crate) inner: Arc<SocketInner>,
}

impl std::fmt::Debug for Socket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Socket")
            .field("id", &self.inner.id)
            .field("nsp", &self.inner.ns.inner.name)
            .finish()
    }
}

/// Answers a client's event that asked for an acknowledgement. Only the
/// first answer is sent, later ones are ignored (as the official server's
/// callback); the listeners of one event share that rule.
///
/// ```
/// use socketeer::packet::args_from_serialize;
/// use socketeer::server::{AckSender, Data, Socket};
///
/// fn on_connection(socket: Socket) {
///     // The client's `emit("add", 1, 2, (sum) => ..)`: one typed answer.
///     socket.on("add", |Data((a, b)): Data<(i64, i64)>, ack: AckSender| {
///         let _ = ack.send_serialized(&(a + b));
///     });
///     // `(err, value) => ..`: several answers, from a tuple.
///     socket.on("lookup", |Data(key): Data<String>, ack: AckSender| async move {
///         let answer = args_from_serialize(&((), format!("value of {key}")));
///         let _ = ack.send(answer.unwrap_or_default());
///     });
///     // A client may or may not ask for an answer.
///     socket.on("log", |ack: Option<AckSender>| {
///         if let Some(ack) = ack {
///             let _ = ack.send(vec![]);
///         }
///     });
/// }
/// # let io = socketeer::server::SocketIo::new(Default::default());
/// # io.on_connection(on_connection);
/// ```
#[derive(Debug)]
pub struct AckSender {
    pub(crate) socket: Socket,
    pub(crate) id: u64,
    pub(crate) sent: AckSent,
}

/// Whether an acknowledgement was answered: its own flag when one
/// listener gets it (no allocation), a shared one for several.
#[derive(Debug)]
pub(crate) enum AckSent {
    Own(AtomicBool),
    Shared(Arc<AtomicBool>),
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every connected socket carries these: their size is idle memory
    /// per connection (issue: ≤ 5 KB per idle Socket.IO connection).
    #[test]
    fn per_socket_state_stays_small() {
        let sizes = [
            ("Listeners", std::mem::size_of::<Listeners>()),
            ("Handlers", std::mem::size_of::<Handlers>()),
            ("SocketInner", std::mem::size_of::<SocketInner>()),
        ];
        eprintln!("{sizes:?}");
        // One listener inline (id, once, a static or counted function).
        assert!(sizes[0].1 <= 40, "{sizes:?}");
        assert!(sizes[1].1 <= 72, "{sizes:?}");
        assert!(sizes[2].1 <= 328, "{sizes:?}");
    }

    #[test]
    fn stateless_functions_are_static_and_others_counted() {
        let stateless = || 1;
        assert!(is_stateless(&stateless));
        let captured = Arc::new(5);
        let held = captured.clone();
        let stateful = move || *held;
        assert!(!is_stateless(&stateful));
        // Zero-sized but with something to do on drop: not leaked.
        struct Loud;
        impl Drop for Loud {
            fn drop(&mut self) {}
        }
        assert!(!is_stateless(&Loud));

        let f: SharedFn<dyn Fn() -> i32> = SharedFn::Static(Box::leak(Box::new(stateless)));
        assert_eq!((f.clone())(), 1);
        let g: SharedFn<dyn Fn() -> i32> = SharedFn::Counted(Arc::new(stateful));
        let copy = g.clone();
        assert_eq!((copy)(), 5);
        assert_eq!(Arc::strong_count(&captured), 2);
        drop((g, copy));
        assert_eq!(
            Arc::strong_count(&captured),
            1,
            "the counted function was dropped"
        );
    }
}
