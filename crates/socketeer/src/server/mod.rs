//! The Socket.IO v5 server: namespaces, events, acknowledgements, rooms,
//! broadcasts and middlewares, on top of the Engine.IO server.
//!
//! Handlers run on the connection's task and must be quick; spawn tasks
//! for slow work (an [`socket::AckRequest`] can be awaited there).

pub mod adapter;
mod client;
pub mod namespace;
pub mod operators;
pub mod recovery;
pub mod service;
pub mod socket;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock, RwLock};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::{HeaderMap, Request, Response};
use socketeer_engineio::server::{EngineIo, EngineIoConfig};

pub use adapter::{
    Adapter, AdapterFactory, BroadcastOptions, ClusterOp, InMemoryAdapter, RemoteSockets, Room,
    SocketId, SocketInfo,
};
pub use namespace::{ConnectError, Namespace, NamespaceHandle};
pub use operators::BroadcastOperator;
pub use recovery::ConnectionStateRecovery;
pub use service::{SocketIoLayer, SocketIoService};
pub use socket::{
    AckError, AckRequest, AckSender, DisconnectReason, EmitError, MiddlewareError, Socket,
};
pub use socketeer_engineio::server::Body;

/// What a client sent when connecting to a namespace.
#[derive(Debug, Clone)]
pub struct Handshake {
    /// The CONNECT packet's payload (`auth` in socket.io-client), `{}` if
    /// none.
    pub auth: crate::Value,
    /// The headers of the first HTTP request.
    pub headers: HeaderMap,
    /// Its query string.
    pub query: String,
    /// Its URL (path and query).
    pub url: String,
    /// The client's address.
    pub address: Option<SocketAddr>,
    /// When the socket connected.
    pub issued: SystemTime,
}

/// Server settings.
#[derive(Debug, Clone)]
pub struct SocketIoConfig {
    /// The Engine.IO settings (default path `/socket.io/`).
    pub engine: EngineIoConfig,
    /// Time for a new connection to join a namespace (default 45 s).
    pub connect_timeout: Duration,
    /// Default wait for acknowledgements (default 30 s).
    pub ack_timeout: Duration,
    /// Most binary attachments in one packet (default 10).
    pub max_attachments: usize,
    /// Connection state recovery (off by default, as in socket.io): see
    /// [`recovery`].
    pub connection_state_recovery: Option<ConnectionStateRecovery>,
    /// Makes each namespace's [`Adapter`] (default: in memory, one
    /// server).
    pub adapter: AdapterFactory,
}

impl Default for SocketIoConfig {
    fn default() -> Self {
        SocketIoConfig {
            engine: EngineIoConfig {
                path: "/socket.io/".into(),
                ..Default::default()
            },
            connect_timeout: Duration::from_secs(45),
            ack_timeout: Duration::from_secs(30),
            max_attachments: 10,
            connection_state_recovery: None,
            adapter: AdapterFactory::default(),
        }
    }
}

type NamespaceMatcher = Arc<dyn Fn(&str) -> bool + Send + Sync>;
type NamespaceSetup = Arc<dyn Fn(&Namespace) + Send + Sync>;

pub(crate) struct IoInner {
    pub(crate) config: SocketIoConfig,
    namespaces: RwLock<HashMap<String, Namespace>>,
    dynamic: RwLock<Vec<(NamespaceMatcher, NamespaceSetup)>>,
    engine: OnceLock<EngineIo>,
}

impl IoInner {
    pub(crate) fn namespace_for(&self, name: &str) -> Option<Namespace> {
        if let Some(ns) = self
            .namespaces
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(name)
        {
            return Some(ns.clone());
        }
        let dynamic = self
            .dynamic
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let (_, setup) = dynamic.iter().find(|(matches, _)| matches(name))?;
        let ns = {
            let mut map = self.namespaces.write().unwrap_or_else(|p| p.into_inner());
            map.entry(name.to_owned())
                .or_insert_with(|| Namespace::new(name, &self.config))
                .clone()
        };
        setup(&ns);
        Some(ns)
    }
}

/// A new random id: 15 bytes, URL-safe base64.
pub(crate) fn new_id() -> SocketId {
    use base64::Engine as _;
    let mut raw = [0u8; 15];
    let _ = getrandom::fill(&mut raw);
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(raw)
        .into()
}

/// A Socket.IO server. Cheap to clone.
///
/// ```no_run
/// use socketeer::server::SocketIo;
///
/// # async fn run() -> std::io::Result<()> {
/// let io = SocketIo::new(Default::default());
/// io.of("/").on_connection(|socket| {
///     socket.on("chat", |socket, args, _ack| {
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
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

impl SocketIo {
    /// A server with `config` and the main namespace `/`.
    pub fn new(config: SocketIoConfig) -> Self {
        let engine_config = config.engine.clone();
        let inner = Arc::new(IoInner {
            config,
            namespaces: RwLock::new(HashMap::new()),
            dynamic: RwLock::new(Vec::new()),
            engine: OnceLock::new(),
        });
        let handler = Arc::new(client::SioHandler {
            io: Arc::downgrade(&inner),
        });
        let _ = inner.engine.set(EngineIo::new(engine_config, handler));
        let io = SocketIo { inner };
        io.of("/");
        io
    }

    /// The namespace with this name, created if needed.
    pub fn of(&self, name: &str) -> Namespace {
        let mut map = self
            .inner
            .namespaces
            .write()
            .unwrap_or_else(|p| p.into_inner());
        map.entry(name.to_owned())
            .or_insert_with(|| Namespace::new(name, &self.inner.config))
            .clone()
    }

    /// Accepts namespaces whose names `matches` approves, calling `setup`
    /// once for each when its first client connects.
    pub fn of_dynamic<M, S>(&self, matches: M, setup: S)
    where
        M: Fn(&str) -> bool + Send + Sync + 'static,
        S: Fn(&Namespace) + Send + Sync + 'static,
    {
        self.inner
            .dynamic
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .push((Arc::new(matches), Arc::new(setup)));
    }

    /// The Engine.IO server underneath.
    pub fn engine(&self) -> &EngineIo {
        // Set in `new`, before the value is shared.
        self.inner
            .engine
            .get()
            .expect("engine is set in SocketIo::new")
    }

    /// Whether a request path belongs to this server.
    pub fn matches(&self, path: &str) -> bool {
        self.engine().matches(path)
    }

    /// Answers one HTTP request addressed to this server.
    pub async fn handle<B>(&self, req: Request<B>, remote: Option<SocketAddr>) -> Response<Body>
    where
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        self.engine().handle(req, remote).await
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
}
