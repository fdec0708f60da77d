//! The Socket.IO v5 server: namespaces, events, acknowledgements, rooms,
//! broadcasts and middlewares, on top of the Engine.IO server.
//!
//! Handlers ([`Handler`]) take [extractors](extract) as arguments
//! ([`Data<T>`] for typed arguments, [`AckSender`], [`State<T>`], ...) and
//! may be sync or async. A socket's events are handled in order; a
//! handler that awaits holds up only its own socket's later events.
//!
//! The modules import one way, each only from those before it:
//! `error`, `metrics`, `adapter` (rooms and targeting; the [`AdapterHost`] trait is
//! the adapter's way back into the server), `data` (`socket.data`),
//! `recovery`, `config`, `state` (what a namespace and a socket hold),
//! `namespace`, `socket`, `extract` and `handler` (what handlers are),
//! `dispatch` (running them in order), `listeners` (registering them),
//! `operators` (everything that targets several sockets), `namespaces`,
//! `connection` (the Sans-I/O [`ConnectionCore`] and its driver), `io`
//! ([`SocketIo`]) and `service` (tower).

pub mod adapter;
mod config;
pub mod connection;
mod data;
mod dispatch;
mod error;
mod event_table;
pub mod extract;
pub mod handler;
mod io;
mod listeners;
pub mod metrics;
mod namespace;
mod namespaces;
pub mod operators;
pub mod recovery;
pub mod service;
mod socket;
mod state;

pub use adapter::{
    Adapter, AdapterFactory, AdapterHost, BroadcastOptions, ClusterAcks, ClusterOp,
    InMemoryAdapter, NamespaceHandle, RemoteAck, RemoteAcks, RemoteSockets, Room, ServerCount,
    ServerSideAck, ServerSideAcks, ServerSideAcksFuture, SocketId, SocketInfo, TryRemoteSockets,
};
pub use config::SocketIoConfig;
pub use connection::ConnectionCore;
pub use error::{
    AckError, ArgumentError, ConnectError, DisconnectReason, EmitError, FetchError,
    MiddlewareError, SocketError,
};
pub use extract::{Args, Data, Event, FromEvent, SocketData, State, TryData};
pub use handler::Handler;
pub use io::SocketIo;
pub use namespaces::ParentNamespace;
pub use operators::BroadcastOperator;
pub use recovery::ConnectionStateRecovery;
pub use service::{SocketIoLayer, SocketIoService};
pub use socket::{AckRequest, SocketEmitter};
pub use socketeer_engineio::server::Body;
/// Runs a task that broadcasts (a timer, a feed) so that its frames for
/// idle WebSocket sessions are written by the task itself, as a socket's
/// handlers' are, instead of waking every session: see
/// [`socketeer_engineio::server::batch_writes`].
pub use socketeer_engineio::server::{batch_writes, BatchedWrites};
pub use state::{
    AckSender, EventParts, Handshake, ListenerId, Namespace, ServerSideAckHandler,
    ServerSideHandler, Socket,
};
