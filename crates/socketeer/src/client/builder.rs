//! [`ClientBuilder`] and [`io`]: one namespace's client in one expression.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use socketeer_engineio::client::Transports;
use tokio::sync::oneshot;

use super::cache;
use super::core::{Auth, ConnectError, DisconnectReason, SocketOptions};
use super::manager::{normalize_nsp, Manager, ManagerOptions};
use super::shared::{AckSender, Socket};
use super::url::ClientUrl;
use crate::Value;

type Setup = Box<dyn FnOnce(&Socket) + Send>;
type ManagerSetup = Box<dyn FnOnce(&Manager) + Send>;

/// Builds a client for one namespace in one expression:
///
/// ```no_run
/// use socketeer::client::ClientBuilder;
/// use serde_json::json;
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let socket = ClientBuilder::new("http://127.0.0.1:3000")
///     .namespace("/chat")
///     .auth(json!({ "token": "abc" }))
///     .on("message", |_socket, args, _ack| println!("{args:?}"))
///     .connect()
///     .await?;
/// socket.emit("message", vec!["hello".into()])?;
/// # Ok(()) }
/// ```
#[must_use = "nothing happens until `connect` is awaited"]
pub struct ClientBuilder {
    url: String,
    nsp: String,
    /// Shares the manager of the server (socket.io-client's `io()` cache).
    multiplex: bool,
    options: ManagerOptions,
    socket: SocketOptions,
    setup: Vec<Setup>,
    manager_setup: Vec<ManagerSetup>,
}

impl std::fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("url", &self.url)
            .field("nsp", &self.nsp)
            .field("multiplex", &self.multiplex)
            .field("options", &self.options)
            .field("socket", &self.socket)
            .finish_non_exhaustive()
    }
}

/// socket.io-client's `io(url)`: a [`ClientBuilder`] for `url`, whose
/// path is the namespace (`http://host:3000/chat` joins `/chat`; the
/// Engine.IO path is [`ClientBuilder::path`]).
///
/// ```no_run
/// # async fn run() -> Result<(), socketeer::client::ConnectError> {
/// let chat = socketeer::client::io("http://127.0.0.1:3000/chat").connect().await?;
/// // Same server, another namespace: the same connection (`force_new` to opt out).
/// let news = socketeer::client::io("http://127.0.0.1:3000/news").connect().await?;
/// assert!(chat.manager().same_as(&news.manager()));
/// # Ok(()) }
/// ```
pub fn io(url: impl Into<String>) -> ClientBuilder {
    ClientBuilder::new(url)
}

impl ClientBuilder {
    /// A client of the server at `url` with default options. The URL's
    /// path is the namespace (`/` without one), as in socket.io-client;
    /// [`namespace`](Self::namespace) overrides it.
    pub fn new(url: impl Into<String>) -> Self {
        let url = url.into();
        let nsp = ClientUrl::parse(&url).map_or_else(|| "/".to_owned(), |u| u.namespace);
        ClientBuilder {
            url,
            nsp,
            multiplex: true,
            options: ManagerOptions::default(),
            socket: SocketOptions::default(),
            setup: Vec::new(),
            manager_setup: Vec::new(),
        }
    }

    /// The namespace to join (default: the URL's path, else `/`).
    pub fn namespace(mut self, nsp: impl Into<String>) -> Self {
        self.nsp = nsp.into();
        self
    }

    /// A connection of its own, not shared with the other sockets to the
    /// same server (socket.io-client's `forceNew`; default false: the
    /// sockets of one server, origin and path, share one manager and its
    /// connection, whose options and manager handlers are the first
    /// builder's, the later ones adding their manager handlers).
    pub fn force_new(mut self, on: bool) -> Self {
        self.multiplex = !on;
        self
    }

    /// `multiplex(false)` is [`force_new(true)`](Self::force_new), as in
    /// socket.io-client.
    pub fn multiplex(mut self, on: bool) -> Self {
        self.multiplex = on;
        self
    }

    /// Cookies the server sets are sent back on the session's later
    /// requests (for sticky load balancers); see
    /// `socketeer_engineio::client::ClientOptions::with_credentials`.
    pub fn with_credentials(mut self, on: bool) -> Self {
        self.options.engine.with_credentials = on;
        self
    }

    /// When the first transport fails to open, try the next (e.g. polling
    /// after a refused WebSocket with [`Transports::WebSocketFirst`]); see
    /// `socketeer_engineio::client::ClientOptions::try_all_transports`.
    pub fn try_all_transports(mut self, on: bool) -> Self {
        self.options.engine.try_all_transports = on;
        self
    }

    /// After a successful upgrade to WebSocket, start on WebSocket next
    /// time; see `socketeer_engineio::client::ClientOptions::remember_upgrade`.
    pub fn remember_upgrade(mut self, on: bool) -> Self {
        self.options.engine.remember_upgrade = on;
        self
    }

    /// The Engine.IO path (default `/socket.io/`).
    pub fn path(mut self, path: impl Into<String>) -> Self {
        self.options.engine.path = path.into();
        self
    }

    /// Which transports to use (default: polling, then an upgrade to
    /// WebSocket; [`Transports::WebSocketFirst`] is socket.io-client's
    /// `["websocket", "polling"]`).
    pub fn transports(mut self, transports: Transports) -> Self {
        self.options.engine.transports = transports;
        self
    }

    /// Adds a query parameter to every request.
    pub fn query(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.options.engine.query.push((key.into(), value.into()));
        self
    }

    /// Adds a header to every request.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.options
            .engine
            .headers
            .push((name.into(), value.into()));
        self
    }

    /// The auth payload (an object), the same on every connection.
    pub fn auth(mut self, auth: impl Into<Value>) -> Self {
        self.socket.auth = Auth::Static(auth.into());
        self
    }

    /// The auth payload, computed before every connection and reconnection.
    pub fn auth_fn<F, V>(mut self, auth: F) -> Self
    where
        F: Fn() -> V + Send + Sync + 'static,
        V: Into<Value>,
    {
        self.socket.auth = Auth::Dynamic(Arc::new(move || auth().into()));
        self
    }

    /// The auth payload, awaited before every connection and reconnection
    /// (socket.io-client's `auth: (cb) => ...`), e.g. a token fetched
    /// from elsewhere:
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), socketeer::client::ConnectError> {
    /// use serde_json::json;
    /// async fn fetch_token() -> String { "t0k3n".into() }
    /// let socket = socketeer::client::io("http://127.0.0.1:3000")
    ///     .auth_async(|| async { json!({ "token": fetch_token().await }) })
    ///     .connect()
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub fn auth_async<F, Fut, V>(mut self, auth: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = V> + Send + 'static,
        V: Into<Value>,
    {
        self.socket.auth = Auth::Async(Arc::new(move || {
            let fut = auth();
            Box::pin(async move { fut.await.into() })
        }));
        self
    }

    /// Whether to reconnect (default true).
    pub fn reconnection(mut self, on: bool) -> Self {
        self.options.config.reconnection = on;
        self
    }

    /// Attempts before giving up (default: forever).
    pub fn reconnection_attempts(mut self, attempts: u32) -> Self {
        self.options.config.reconnection_attempts = Some(attempts);
        self
    }

    /// First reconnection delay (default 1 s).
    pub fn reconnection_delay(mut self, delay: Duration) -> Self {
        self.options.config.reconnection_delay = delay;
        self
    }

    /// Longest reconnection delay (default 5 s).
    pub fn reconnection_delay_max(mut self, delay: Duration) -> Self {
        self.options.config.reconnection_delay_max = delay;
        self
    }

    /// Jitter of the reconnection delays, `0..=1` (default 0.5).
    pub fn randomization_factor(mut self, factor: f64) -> Self {
        self.options.config.randomization_factor = factor;
        self
    }

    /// Packets buffered while offline, at most (default 1024).
    pub fn max_buffered(mut self, max: usize) -> Self {
        self.options.config.max_buffered = max;
        self
    }

    /// Delivery at least once: see [`SocketOptions::retries`].
    pub fn retries(mut self, retries: u32) -> Self {
        self.socket.retries = Some(retries);
        self
    }

    /// Default acknowledgement timeout.
    pub fn ack_timeout(mut self, timeout: Duration) -> Self {
        self.socket.ack_timeout = Some(timeout);
        self
    }

    /// All manager options at once.
    pub fn options(mut self, options: ManagerOptions) -> Self {
        self.options = options;
        self
    }

    /// Sets the handler of `event`; see [`Socket::on`].
    pub fn on<F>(mut self, event: &str, handler: F) -> Self
    where
        F: Fn(&Socket, Vec<Value>, Option<AckSender>) + Send + Sync + 'static,
    {
        let event = event.to_owned();
        self.setup.push(Box::new(move |s| {
            s.on(&event, handler);
        }));
        self
    }

    /// Adds a catch-all handler; see [`Socket::on_any`].
    pub fn on_any<F>(mut self, handler: F) -> Self
    where
        F: Fn(&Socket, &str, Vec<Value>, Option<AckSender>) + Send + Sync + 'static,
    {
        self.setup.push(Box::new(move |s| {
            s.on_any(handler);
        }));
        self
    }

    /// Adds a connection handler; see [`Socket::on_connect`].
    pub fn on_connect<F: Fn(&Socket) + Send + Sync + 'static>(mut self, handler: F) -> Self {
        self.setup.push(Box::new(move |s| {
            s.on_connect(handler);
        }));
        self
    }

    /// Adds a disconnection handler; see [`Socket::on_disconnect`].
    pub fn on_disconnect<F>(mut self, handler: F) -> Self
    where
        F: Fn(&Socket, DisconnectReason) + Send + Sync + 'static,
    {
        self.setup.push(Box::new(move |s| {
            s.on_disconnect(handler);
        }));
        self
    }

    /// Adds a connect error handler; see [`Socket::on_connect_error`].
    pub fn on_connect_error<F>(mut self, handler: F) -> Self
    where
        F: Fn(&Socket, &ConnectError) + Send + Sync + 'static,
    {
        self.setup.push(Box::new(move |s| {
            s.on_connect_error(handler);
        }));
        self
    }

    /// See [`Manager::on_reconnect_attempt`].
    pub fn on_reconnect_attempt<F: Fn(u32) + Send + Sync + 'static>(mut self, handler: F) -> Self {
        self.manager_setup.push(Box::new(move |m| {
            m.on_reconnect_attempt(handler);
        }));
        self
    }

    /// Adds a handler of the next `event` only; see [`Socket::once`].
    pub fn once<F>(mut self, event: &str, handler: F) -> Self
    where
        F: Fn(&Socket, Vec<Value>, Option<AckSender>) + Send + Sync + 'static,
    {
        let event = event.to_owned();
        self.setup.push(Box::new(move |s| {
            s.once(&event, handler);
        }));
        self
    }

    /// Adds an outgoing catch-all handler; see [`Socket::on_any_outgoing`].
    pub fn on_any_outgoing<F>(mut self, handler: F) -> Self
    where
        F: Fn(&Socket, &str, &[Value]) + Send + Sync + 'static,
    {
        self.setup.push(Box::new(move |s| {
            s.on_any_outgoing(handler);
        }));
        self
    }

    /// See [`Manager::on_open`].
    pub fn on_open<F: Fn() + Send + Sync + 'static>(mut self, handler: F) -> Self {
        self.manager_setup.push(Box::new(move |m| {
            m.on_open(handler);
        }));
        self
    }

    /// See [`Manager::on_close`].
    pub fn on_close<F: Fn(DisconnectReason) + Send + Sync + 'static>(mut self, handler: F) -> Self {
        self.manager_setup.push(Box::new(move |m| {
            m.on_close(handler);
        }));
        self
    }

    /// See [`Manager::on_error`].
    pub fn on_error<F: Fn(&str) + Send + Sync + 'static>(mut self, handler: F) -> Self {
        self.manager_setup.push(Box::new(move |m| {
            m.on_error(handler);
        }));
        self
    }

    /// See [`Manager::on_reconnect_error`].
    pub fn on_reconnect_error<F: Fn(&str) + Send + Sync + 'static>(mut self, handler: F) -> Self {
        self.manager_setup.push(Box::new(move |m| {
            m.on_reconnect_error(handler);
        }));
        self
    }

    /// See [`Manager::on_reconnect`].
    pub fn on_reconnect<F: Fn(u32) + Send + Sync + 'static>(mut self, handler: F) -> Self {
        self.manager_setup.push(Box::new(move |m| {
            m.on_reconnect(handler);
        }));
        self
    }

    /// See [`Manager::on_reconnect_failed`].
    pub fn on_reconnect_failed<F: Fn() + Send + Sync + 'static>(mut self, handler: F) -> Self {
        self.manager_setup.push(Box::new(move |m| {
            m.on_reconnect_failed(handler);
        }));
        self
    }

    /// Builds the socket with its handlers, without connecting: call
    /// [`Socket::connect`]. Its manager is the server's shared one unless
    /// [`force_new`](Self::force_new).
    pub fn build(self) -> Socket {
        self.build_socket().0
    }

    /// The socket, and whether its manager is new.
    fn build_socket(self) -> (Socket, bool) {
        let nsp = normalize_nsp(&self.nsp);
        let key = ClientUrl::parse(&self.url).map(|u| u.cache_key(&self.options.engine.path));
        let (url, options) = (self.url, self.options);
        let (shared, fresh) = cache::manager(
            key.as_deref().unwrap_or_default(),
            &nsp,
            self.multiplex && key.is_some(),
            || Manager::new(url, options).shared,
        );
        let manager = Manager { shared };
        for f in self.manager_setup {
            f(&manager);
        }
        let socket = manager.socket(&nsp, self.socket);
        for f in self.setup {
            f(&socket);
        }
        (socket, fresh)
    }

    /// Connects and waits until the namespace is joined. Fails with the
    /// server's refusal (CONNECT_ERROR), or when the client gives up
    /// reconnecting (with reconnection off, after the first failure; with
    /// [`reconnection_attempts`](Self::reconnection_attempts), after the
    /// last); with the defaults it keeps trying.
    pub async fn connect(self) -> Result<Socket, ConnectError> {
        let (socket, fresh) = self.build_socket();
        let rx = {
            let mut state = socket.shared.lock();
            let (tx, rx) = oneshot::channel();
            state
                .connect_waiters
                .entry(socket.inner.nsp.clone())
                .or_default()
                .push(tx);
            rx
        };
        socket.connect();
        match rx.await {
            Ok(Ok(())) => Ok(socket),
            Ok(Err(e)) => {
                if fresh {
                    socket.manager().close();
                } else {
                    // The shared connection goes on for the other sockets.
                    socket.disconnect();
                }
                Err(e)
            }
            Err(_) => Err(ConnectError {
                message: "client closed".into(),
                data: None,
            }),
        }
    }
}
