//! The Socket.IO v5 server: namespaces, events, acknowledgements, rooms,
//! broadcasts and middlewares, on top of the Engine.IO server.
//!
//! Handlers run on the connection's task and must be quick; spawn tasks
//! for slow work (an [`AckRequest`] can be awaited there).
//!
//! The modules import one way, each only from those before it:
//! `error`, `adapter` (rooms and targeting; the [`AdapterHost`] trait is
//! the adapter's way back into the server), `recovery`, `config`, `state`
//! (what a namespace and a socket hold), `namespace`, `socket`,
//! `operators` (everything that targets several sockets), `namespaces`,
//! `connection` (the Sans-I/O [`ConnectionCore`] and its driver), `io`
//! ([`SocketIo`]) and `service` (tower).

pub mod adapter;
mod config;
pub mod connection;
mod error;
mod io;
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
    ServerSideAck, ServerSideAcks, ServerSideAcksFuture, SocketId, SocketInfo,
};
pub use config::SocketIoConfig;
pub use connection::ConnectionCore;
pub use error::{AckError, ConnectError, DisconnectReason, EmitError, MiddlewareError};
pub use io::SocketIo;
pub use operators::BroadcastOperator;
pub use recovery::ConnectionStateRecovery;
pub use service::{SocketIoLayer, SocketIoService};
pub use socket::AckRequest;
pub use socketeer_engineio::server::Body;
pub use state::{
    AckSender, AnyHandler, ConnectionHandler, DisconnectHandler, ErrorHandler, EventHandler,
    Handshake, Middleware, Namespace, PacketMiddleware, ServerSideAckHandler, ServerSideHandler,
    Socket,
};
