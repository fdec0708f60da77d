//! What a namespace and each of its sockets hold: the server's shared
//! state, data only. Their behaviour lives above, in `namespace.rs`,
//! `socket.rs` and `operators.rs`, so the server's modules import one way:
//! adapter ← state ← namespace ← socket ← operators ← connection.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};

use http::HeaderMap;
use socketeer_engineio::server::Socket as EngineSocket;
use tokio::sync::oneshot;

use super::adapter::{Adapter, ServerSideAck, SocketId};
use super::error::{AckError, ConnectError, DisconnectReason, MiddlewareError};
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

/// A namespace middleware: accepts or refuses each connection.
pub type Middleware = Arc<dyn Fn(&Handshake) -> Result<(), ConnectError> + Send + Sync>;
/// A connection handler.
pub type ConnectionHandler = Arc<dyn Fn(Socket) + Send + Sync>;
/// A handler of events other servers send with
/// [`Namespace::server_side_emit`].
pub type ServerSideHandler = Arc<dyn Fn(&str, Vec<Value>) + Send + Sync>;
/// A handler of events other servers send, which may answer: the
/// acknowledgement is there when the sending server asked for one
/// ([`Namespace::server_side_emit_with_ack`]).
pub type ServerSideAckHandler = Arc<dyn Fn(&str, Vec<Value>, Option<ServerSideAck>) + Send + Sync>;

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

pub(crate) struct NamespaceInner {
    pub(crate) name: Arc<str>,
    pub(crate) sockets: RwLock<HashMap<SocketId, Socket>>,
    pub(crate) adapter: Box<dyn Adapter>,
    pub(crate) middlewares: RwLock<Vec<Middleware>>,
    pub(crate) on_connection: RwLock<Option<ConnectionHandler>>,
    pub(crate) on_server_side: RwLock<Option<ServerSideAckHandler>>,
    pub(crate) ack_ids: AtomicU64,
    pub(crate) ack_timeout: Duration,
    pub(crate) recovery: Option<Mutex<RecoveryStore>>,
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

pub(crate) type AckResult = Result<Vec<Value>, AckError>;

/// What the application registered on a socket, under one lock (one
/// lock per kind cost every socket its own lock for each, most unused).
#[derive(Default)]
pub(crate) struct Handlers {
    pub(crate) events: HashMap<Box<str>, EventHandler>,
    pub(crate) any: Option<AnyHandler>,
    pub(crate) on_disconnect: Vec<DisconnectHandler>,
    pub(crate) packet_middlewares: Vec<PacketMiddleware>,
    pub(crate) on_error: Option<ErrorHandler>,
}

pub(crate) struct SocketInner {
    pub(crate) id: SocketId,
    pub(crate) ns: Namespace,
    pub(crate) engine: EngineSocket,
    pub(crate) handshake: Arc<Handshake>,
    pub(crate) handlers: RwLock<Handlers>,
    pub(crate) acks: Mutex<HashMap<u64, oneshot::Sender<AckResult>>>,
    pub(crate) connected: AtomicBool,
    /// The private session id of connection state recovery, when on.
    pub(crate) pid: Option<Arc<str>>,
    pub(crate) recovered: bool,
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
            .field("nsp", &self.inner.ns.inner.name)
            .finish()
    }
}

/// Answers a client's event that asked for an acknowledgement.
#[derive(Debug)]
pub struct AckSender {
    pub(crate) socket: Socket,
    pub(crate) id: u64,
}
