//! [`SocketIo`]: the server, its namespaces, and how it is served.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http::{Request, Response};
use socketeer_engineio::server::{Body, EngineIo};

use super::adapter::{Room, SocketInfo};
use super::config::SocketIoConfig;
use super::connection::driver::SocketIoSessions;
use super::error::EmitError;
use super::handler::Handler;
use super::namespaces::{NamespaceMatcher, Namespaces, ParentNamespace};
use super::operators::BroadcastOperator;
use super::state::{Handshake, ListenerId, Namespace};
use crate::Value;

struct IoInner {
    namespaces: Arc<Namespaces>,
    engine: EngineIo,
}

/// A Socket.IO server. Cheap to clone.
///
/// ```no_run
/// use socketeer::server::{Args, Socket, SocketIo};
///
/// # async fn run() -> std::io::Result<()> {
/// let io = SocketIo::new(Default::default());
/// io.on_connection(|socket: Socket| {
///     socket.on("chat", |socket: Socket, Args(args): Args| {
///         let _ = socket.broadcast().emit("chat", args);
///     });
/// });
/// io.serve(tokio::net::TcpListener::bind("127.0.0.1:3000").await?).await
/// # }
/// ```
#[derive(Clone)]
pub struct SocketIo {
    inner: Arc<IoInner>,
}

impl std::fmt::Debug for SocketIo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SocketIo")
            .field("config", &self.inner.namespaces.config)
            .finish_non_exhaustive()
    }
}

impl SocketIo {
    /// A server with `config` and the main namespace `/`.
    pub fn new(config: SocketIoConfig) -> Self {
        let engine_config = config.engine.clone();
        let namespaces = Arc::new(Namespaces::new(config));
        let sessions = Arc::new(SocketIoSessions {
            namespaces: Arc::downgrade(&namespaces),
        });
        let engine = EngineIo::with_sessions(engine_config, sessions);
        let io = SocketIo {
            inner: Arc::new(IoInner { namespaces, engine }),
        };
        io.of("/");
        io
    }

    /// The main namespace, `/`.
    pub fn main_namespace(&self) -> Namespace {
        self.of("/")
    }

    /// Targets the sockets of the main namespace in a room (`io.to`).
    pub fn to(&self, room: impl Into<Room>) -> BroadcastOperator {
        self.main_namespace().to(room)
    }

    /// Targets every socket of the main namespace except those in a room
    /// (`io.except`).
    pub fn except(&self, room: impl Into<Room>) -> BroadcastOperator {
        self.main_namespace().except(room)
    }

    /// Targets every socket of the main namespace, to chain operators
    /// (`io.timeout(d).emit_with_ack(..)`, `io.local()`, ...).
    pub fn broadcast(&self) -> BroadcastOperator {
        self.main_namespace().broadcast()
    }

    /// Targets every socket of the main namespace with acknowledgements
    /// awaited for at most `timeout` (`io.timeout(d).emit_with_ack(..)`; see
    /// [`BroadcastOperator::timeout`]).
    pub fn timeout(&self, timeout: std::time::Duration) -> BroadcastOperator {
        self.main_namespace().broadcast().timeout(timeout)
    }

    /// Targets the main namespace's sockets of this server only (`io.local`;
    /// see [`BroadcastOperator::local`]).
    pub fn local(&self) -> BroadcastOperator {
        self.main_namespace().broadcast().local()
    }

    /// Targets every socket of the main namespace, dropping the message for
    /// those not ready for it (`io.volatile`; see
    /// [`BroadcastOperator::volatile`]).
    pub fn volatile(&self) -> BroadcastOperator {
        self.main_namespace().broadcast().volatile()
    }

    /// Targets every socket of the main namespace, with a choice of
    /// compression (`io.compress(false).emit(..)`; see
    /// [`BroadcastOperator::compress`]).
    pub fn compress(&self, compress: bool) -> BroadcastOperator {
        self.main_namespace().compress(compress)
    }

    /// Emits to every socket of the main namespace (`io.emit`); returns
    /// how many sockets of this server got it.
    pub fn emit(&self, event: &str, args: Vec<Value>) -> Result<usize, EmitError> {
        self.main_namespace().emit(event, args)
    }

    /// Emits typed arguments (a tuple; see
    /// [`Socket::emit_serialized`](super::Socket::emit_serialized)) to
    /// every socket of the main namespace.
    pub fn emit_serialized<T: serde::Serialize + ?Sized>(
        &self,
        event: &str,
        args: &T,
    ) -> Result<usize, EmitError> {
        self.main_namespace().emit_serialized(event, args)
    }

    /// Every socket of the main namespace, on every server
    /// (`io.fetchSockets()`).
    pub async fn fetch_sockets(&self) -> Vec<SocketInfo> {
        self.main_namespace().fetch_sockets().await
    }

    /// Adds a connection handler on the main namespace (see
    /// [`Namespace::on_connection`]).
    pub fn on_connection<H: Handler<M>, M: 'static>(&self, handler: H) -> ListenerId {
        self.main_namespace().on_connection(handler)
    }

    /// The namespace with this name, created if needed.
    pub fn of(&self, name: &str) -> Namespace {
        self.inner.namespaces.of(name)
    }

    /// Accepts namespaces whose names `matches` approves (it sees the
    /// handshake, `auth` included), calling `setup` once for each when its
    /// first client connects (`io.of(regex | fn)` in socket.io). The
    /// [`ParentNamespace`] broadcasts to all of them.
    pub fn of_dynamic<M, S>(&self, matches: M, setup: S) -> ParentNamespace
    where
        M: Fn(&str, &Handshake) -> bool + Send + Sync + 'static,
        S: Fn(&Namespace) + Send + Sync + 'static,
    {
        self.inner
            .namespaces
            .add_dynamic(NamespaceMatcher::Sync(Box::new(matches)), setup)
    }

    /// As [`SocketIo::of_dynamic`], with a matcher that may await (a
    /// database lookup, say) before answering: socket.io's
    /// `io.of((name, auth, next) => ..)`. It gets the name and the
    /// handshake (`auth` included). Meanwhile the connection's other
    /// namespaces and packets are not held up; the CONNECT is answered
    /// when it is done: joined, or refused with "Invalid namespace" as the
    /// official server does. A name already made is not asked again. See
    /// the [`ParentNamespace`] example.
    pub fn of_dynamic_async<M, Fut, S>(&self, matches: M, setup: S) -> ParentNamespace
    where
        M: Fn(String, Arc<Handshake>) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = bool> + Send + 'static,
        S: Fn(&Namespace) + Send + Sync + 'static,
    {
        let matches = NamespaceMatcher::Async(Box::new(move |name, handshake| {
            Box::pin(matches(name, handshake))
        }));
        self.inner.namespaces.add_dynamic(matches, setup)
    }

    /// The Engine.IO server underneath.
    pub fn engine(&self) -> &EngineIo {
        &self.inner.engine
    }

    /// Whether a request path belongs to this server.
    pub fn matches(&self, path: &str) -> bool {
        self.engine().matches(path)
    }

    /// Answers one HTTP request addressed to this server. The future owns
    /// what it needs (it can be spawned).
    pub fn handle<B>(
        &self,
        req: Request<B>,
        remote: Option<SocketAddr>,
    ) -> impl std::future::Future<Output = Response<Body>> + Send + 'static
    where
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        self.engine().handle(req, remote)
    }

    /// Closes every connection ("server shutting down") and refuses new
    /// ones with 503.
    pub fn shutdown(&self) {
        self.engine().shutdown();
    }

    /// Serves this server alone on `listener` (other paths get 404).
    pub async fn serve(self, listener: tokio::net::TcpListener) -> std::io::Result<()> {
        self.engine().clone().serve(listener).await
    }

    /// Serves this server alone on `listener` until `signal` completes;
    /// then stops accepting, disconnects every socket ("server shutting
    /// down"), answers new handshakes with 503 and waits (up to 10 s) for
    /// open HTTP requests to finish.
    pub async fn serve_with_shutdown(
        self,
        listener: tokio::net::TcpListener,
        signal: impl std::future::Future<Output = ()>,
    ) -> std::io::Result<()> {
        self.engine()
            .clone()
            .serve_with_shutdown(listener, signal)
            .await
    }

    /// Serves this server at its path and `handler` for every other
    /// request (the app's pages), on `options`' accept loop, until
    /// `signal` completes; then shuts down as
    /// [`SocketIo::serve_with_shutdown`] does. Cheaper per long-polling
    /// request than a handler that calls [`SocketIo::handle`] itself: see
    /// [`EngineIo::serve_mounted`].
    pub async fn serve_mounted<H, R, S>(
        self,
        listener: tokio::net::TcpListener,
        handler: H,
        signal: S,
        options: &socketeer_engineio::server::HttpOptions,
    ) -> std::io::Result<()>
    where
        H: Fn(Request<socketeer_engineio::server::RequestBody>, SocketAddr) -> R
            + Clone
            + Send
            + Sync
            + 'static,
        R: std::future::Future<Output = Response<Body>> + Send + 'static,
        S: std::future::Future<Output = ()>,
    {
        self.engine()
            .clone()
            .serve_mounted(listener, handler, signal, options)
            .await
    }
}
