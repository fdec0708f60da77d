//! The application's handles: [`Manager`], [`Socket`], [`ClientBuilder`].

use std::collections::HashMap;
use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;
use socketeer_engineio::client::{ClientOptions, Transports};
use tokio::sync::{oneshot, Notify};

use super::cache;
use super::core::{
    AckError, AckToken, Auth, ConnectError, DisconnectReason, EmitError, EmitFlags, ManagerConfig,
    ManagerCore, SocketOptions,
};
use super::driver;
use super::listeners::ListenerId;
use super::shared::{
    AckResult, AckSender, ManagerHandlers, Shared, Socket, SocketHandlers, SocketInner, State,
};
use super::url::ClientUrl;
use crate::Value;

/// Settings of a [`Manager`]: the Engine.IO connection and the
/// reconnection behaviour ([`ManagerConfig`], socket.io-client's
/// defaults). [`ClientBuilder`] sets the same with its methods.
///
/// ```
/// use std::time::Duration;
/// use socketeer::client::{ManagerOptions, Transports};
///
/// let mut options = ManagerOptions::default();
/// options.engine.transports = Transports::WebSocket;
/// options.config.reconnection_attempts = Some(5);
/// options.config.reconnection_delay = Duration::from_millis(200);
/// options.config.timeout = Some(Duration::from_secs(5));
/// assert_eq!(options.engine.path, "/socket.io/");
/// // Manager::new("http://127.0.0.1:3000", options) (in a tokio runtime)
/// ```
#[derive(Debug, Clone)]
pub struct ManagerOptions {
    /// The Engine.IO client settings: `path` (default `/socket.io/`),
    /// `transports`, `query`, `headers`, `tls`, limits. Its `url` is
    /// replaced by the manager's.
    pub engine: ClientOptions,
    /// Reconnection (socket.io-client's defaults) and bounds.
    pub config: ManagerConfig,
}

impl Default for ManagerOptions {
    fn default() -> Self {
        let mut engine = ClientOptions::new("");
        engine.path = "/socket.io/".into();
        ManagerOptions {
            engine,
            config: ManagerConfig::default(),
        }
    }
}

/// One Engine.IO connection (with reconnection) shared by the sockets of
/// several namespaces, as socket.io-client's `Manager`. Cheap to clone.
///
/// The connection opens when a socket connects and closes when every
/// socket has disconnected (or [`close`](Self::close)), or when every
/// handle is dropped. Handlers that hold handles keep it alive until then.
///
/// Its events are socket.io-client's Manager events: each has an `on_*`
/// and a `once_*` method, which return a [`ListenerId`] to remove the
/// listener with [`Manager::off_listener`].
///
/// ```no_run
/// use serde_json::json;
/// use socketeer::client::{Manager, ManagerOptions, SocketOptions};
///
/// # async fn run() {
/// let manager = Manager::new("http://127.0.0.1:3000", ManagerOptions::default());
/// manager.on_open(|| println!("connected"));
/// manager.on_close(|reason| println!("connection lost: {reason}"));
/// manager.on_error(|error| println!("cannot connect: {error}"));
/// let attempts = manager.on_reconnect_attempt(|n| println!("attempt {n}"));
/// manager.once_reconnect(|n| println!("back after {n} attempts"));
/// // Two namespaces over the one connection.
/// let main = manager.socket("/", SocketOptions::default());
/// let admin = manager.socket("/admin", SocketOptions::with_auth(json!({ "token": "abc" })));
/// main.connect();
/// admin.connect();
/// // Later: stop reporting attempts, then close everything.
/// manager.off_listener(attempts);
/// manager.close();
/// # }
/// ```
#[derive(Clone)]
pub struct Manager {
    pub(crate) shared: Arc<Shared>,
}

impl std::fmt::Debug for Manager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Manager")
            .field("url", &self.shared.engine.url)
            .finish_non_exhaustive()
    }
}

impl Manager {
    /// A manager for the server at `url` (`http://`, `https://`, `ws://`
    /// or `wss://`; the path comes from the options). Spawns its task:
    /// call it within a tokio runtime. Nothing connects before a socket
    /// does.
    pub fn new(url: impl Into<String>, options: ManagerOptions) -> Manager {
        let mut engine = options.engine;
        engine.url = url.into();
        engine.ping_events = true;
        let running = Arc::new(AtomicBool::new(true));
        let mut seed = [0u8; 8];
        let _ = getrandom::fill(&mut seed);
        let wake = Arc::new(Notify::new());
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                core: ManagerCore::new(options.config, u64::from_le_bytes(seed)),
                acks: HashMap::new(),
                sockets: HashMap::new(),
                connect_waiters: HashMap::new(),
                last_error: None,
            }),
            wake: wake.clone(),
            engine,
            handlers: ManagerHandlers::default(),
            stalled: AtomicUsize::new(0),
            running: running.clone(),
        });
        tokio::spawn(driver::run(Arc::downgrade(&shared), wake, running));
        Manager { shared }
    }

    /// The socket of namespace `nsp` (the same one on every call; `opts`
    /// count on the first). It connects when [`Socket::connect`] is
    /// called, so handlers can be set first.
    pub fn socket(&self, nsp: &str, opts: SocketOptions) -> Socket {
        let nsp = normalize_nsp(nsp);
        let mut state = self.shared.lock();
        let inner = state
            .sockets
            .entry(Arc::from(nsp.as_str()))
            .or_insert_with(|| {
                Arc::new(SocketInner {
                    nsp: Arc::from(nsp.as_str()),
                    handlers: SocketHandlers::default(),
                })
            })
            .clone();
        state.core.register(&nsp, opts);
        drop(state);
        Socket {
            shared: self.shared.clone(),
            inner,
        }
    }

    /// Whether `other` is a handle of this manager (one connection).
    pub fn same_as(&self, other: &Manager) -> bool {
        Arc::ptr_eq(&self.shared, &other.shared)
    }

    /// Whether the Engine.IO connection is open.
    pub fn is_open(&self) -> bool {
        self.shared.lock().core.is_open()
    }

    /// Calls `handler` with the attempt number (from 1) before each
    /// reconnection attempt (the Manager's `reconnect_attempt`).
    pub fn on_reconnect_attempt<F: Fn(u32) + Send + Sync + 'static>(
        &self,
        handler: F,
    ) -> ListenerId {
        let h = &self.shared.handlers;
        h.reconnect_attempt.add(&h.ids, false, Arc::new(handler))
    }

    /// Calls `handler` with the number of attempts it took, on each
    /// successful reconnection (the Manager's `reconnect`).
    pub fn on_reconnect<F: Fn(u32) + Send + Sync + 'static>(&self, handler: F) -> ListenerId {
        let h = &self.shared.handlers;
        h.reconnect.add(&h.ids, false, Arc::new(handler))
    }

    /// Calls `handler` with the error when a reconnection attempt fails
    /// (the Manager's `reconnect_error`).
    pub fn on_reconnect_error<F: Fn(&str) + Send + Sync + 'static>(
        &self,
        handler: F,
    ) -> ListenerId {
        let h = &self.shared.handlers;
        h.reconnect_error.add(&h.ids, false, Arc::new(handler))
    }

    /// Calls `handler` when reconnection gives up
    /// ([`ManagerConfig::reconnection_attempts`]; the Manager's
    /// `reconnect_failed`).
    pub fn on_reconnect_failed<F: Fn() + Send + Sync + 'static>(&self, handler: F) -> ListenerId {
        let h = &self.shared.handlers;
        h.reconnect_failed.add(&h.ids, false, Arc::new(handler))
    }

    /// Disconnects every socket ("io client disconnect") and closes the
    /// connection; no reconnection follows. Awaited acknowledgements fail.
    pub fn close(&self) {
        self.shared.lock().core.close(Instant::now());
        self.shared.wake.notify_one();
    }
}

impl Socket {
    /// The namespace.
    pub fn namespace(&self) -> &str {
        &self.inner.nsp
    }

    /// The manager this socket belongs to.
    pub fn manager(&self) -> Manager {
        Manager {
            shared: self.shared.clone(),
        }
    }

    /// The socket id the server gave, while connected.
    pub fn id(&self) -> Option<String> {
        self.shared
            .lock()
            .core
            .sid(&self.inner.nsp)
            .map(str::to_owned)
    }

    /// Whether the namespace is joined.
    pub fn connected(&self) -> bool {
        self.shared.lock().core.connected(&self.inner.nsp)
    }

    /// Whether the socket reconnects by itself: false after a server-side
    /// or client-side disconnect, or a refusal.
    pub fn active(&self) -> bool {
        self.shared.lock().core.active(&self.inner.nsp)
    }

    /// Whether the last connection recovered the previous session
    /// (connection state recovery): missed events were replayed.
    pub fn recovered(&self) -> bool {
        self.shared.lock().core.recovered(&self.inner.nsp)
    }

    /// Packets emitted and not yet sent: held while offline, or waiting
    /// in the retry queue.
    pub fn buffered(&self) -> usize {
        let state = self.shared.lock();
        state.core.buffered(&self.inner.nsp) + state.core.queued(&self.inner.nsp)
    }

    /// Joins the namespace (opening the connection if needed); again
    /// after a disconnect. Events come to the handlers set. With an
    /// [`Auth::Async`] payload, it is awaited first (on a spawned task).
    pub fn connect(&self) {
        let auth = {
            let state = self.shared.lock();
            let joining = !state.core.active(&self.inner.nsp);
            state.core.async_auth(&self.inner.nsp).filter(|_| joining)
        };
        let Some(auth) = auth else {
            self.join();
            return;
        };
        let socket = self.clone();
        tokio::spawn(async move {
            let value = auth().await;
            socket.shared.lock().core.set_auth(&socket.inner.nsp, value);
            socket.join();
        });
    }

    fn join(&self) {
        self.shared
            .lock()
            .core
            .join(&self.inner.nsp, Instant::now());
        self.shared.wake.notify_one();
    }

    /// Leaves the namespace ("io client disconnect"); no reconnection
    /// follows. The connection closes when no socket is left.
    pub fn disconnect(&self) {
        self.shared
            .lock()
            .core
            .disconnect(&self.inner.nsp, Instant::now());
        self.shared.wake.notify_one();
    }

    /// Adds a handler called on every (re)connection to the namespace
    /// (`socket.on("connect")`); remove it with
    /// [`off_listener`](Self::off_listener).
    pub fn on_connect<F: Fn(&Socket) + Send + Sync + 'static>(&self, handler: F) -> ListenerId {
        let h = &self.inner.handlers;
        h.connect.add(&h.ids, false, Arc::new(handler))
    }

    /// Adds a handler called on the next connection to the namespace only
    /// (`socket.once("connect")`).
    pub fn once_connect<F: Fn(&Socket) + Send + Sync + 'static>(&self, handler: F) -> ListenerId {
        let h = &self.inner.handlers;
        h.connect.add(&h.ids, true, Arc::new(handler))
    }

    /// Adds a handler called when the namespace is left, with the reason.
    pub fn on_disconnect<F>(&self, handler: F) -> ListenerId
    where
        F: Fn(&Socket, DisconnectReason) + Send + Sync + 'static,
    {
        let h = &self.inner.handlers;
        h.disconnect.add(&h.ids, false, Arc::new(handler))
    }

    /// Adds a handler called the next time the namespace is left only.
    pub fn once_disconnect<F>(&self, handler: F) -> ListenerId
    where
        F: Fn(&Socket, DisconnectReason) + Send + Sync + 'static,
    {
        let h = &self.inner.handlers;
        h.disconnect.add(&h.ids, true, Arc::new(handler))
    }

    /// Adds a handler called when joining fails: the server's refusal
    /// (e.g. a middleware's error; the socket then stays disconnected) or
    /// a connection attempt that failed (reconnection goes on).
    pub fn on_connect_error<F>(&self, handler: F) -> ListenerId
    where
        F: Fn(&Socket, &ConnectError) + Send + Sync + 'static,
    {
        let h = &self.inner.handlers;
        h.connect_error.add(&h.ids, false, Arc::new(handler))
    }

    /// Adds a handler called the next time joining fails only.
    pub fn once_connect_error<F>(&self, handler: F) -> ListenerId
    where
        F: Fn(&Socket, &ConnectError) + Send + Sync + 'static,
    {
        let h = &self.inner.handlers;
        h.connect_error.add(&h.ids, true, Arc::new(handler))
    }

    fn emit_flags(
        &self,
        event: &str,
        args: Vec<Value>,
        flags: EmitFlags,
    ) -> Result<Option<AckToken>, EmitError> {
        self.notify_outgoing(event, &args, flags.volatile);
        let r = {
            let mut state = self.shared.lock();
            if !self.shared.room(&state, flags.volatile)? {
                return Ok(None);
            }
            state
                .core
                .emit(&self.inner.nsp, event, args, flags, Instant::now())
        };
        self.shared.wake.notify_one();
        r
    }

    /// Calls the outgoing listeners, before the packet leaves (as
    /// socket.io-client does), when it is to leave: not for a reserved
    /// name, nor a volatile event with no connection or no room.
    fn notify_outgoing(&self, event: &str, args: &[Value], volatile: bool) {
        if !self.has_outgoing() || crate::packet::is_reserved_event(event) {
            return;
        }
        let sent = {
            let state = self.shared.lock();
            matches!(self.shared.room(&state, volatile), Ok(true))
                && (!volatile || state.core.connected(&self.inner.nsp))
        };
        if sent {
            self.dispatch_outgoing(event, args);
        }
    }

    /// Emits an event (binary values, nested anywhere, become
    /// attachments). While disconnected it is buffered and sent, in
    /// order, once connected again; with [`SocketOptions::retries`] it is
    /// sent until acknowledged. Fails with [`EmitError::BufferFull`] past
    /// [`ManagerConfig::max_buffered`] packets held (offline, or waiting
    /// for room in a full send queue).
    pub fn emit(&self, event: &str, args: Vec<Value>) -> Result<(), EmitError> {
        self.emit_flags(event, args, EmitFlags::default())
            .map(|_| ())
    }

    /// Emits an event with typed arguments: `args` is the argument list,
    /// a tuple whose elements become the arguments (`&(a, b)` sends two,
    /// `&(a,)` one, `&()` none; a `Vec` or a slice spreads the same way),
    /// as the server's
    /// [`emit_serialized`](crate::server::Socket::emit_serialized) reads
    /// it. Any other value fails with [`EmitError::Encode`]. See the
    /// [`Socket`] example.
    pub fn emit_serialized<T: Serialize + ?Sized>(
        &self,
        event: &str,
        args: &T,
    ) -> Result<(), EmitError> {
        self.emit(event, serialize_args(args)?)
    }

    /// Emits an event only if the connection is open and its send queue
    /// has room; otherwise drops it (`volatile`). Never buffered while
    /// offline, never retried.
    pub fn emit_volatile(&self, event: &str, args: Vec<Value>) -> Result<(), EmitError> {
        let flags = EmitFlags {
            volatile: true,
            ..Default::default()
        };
        self.emit_flags(event, args, flags).map(|_| ())
    }

    /// [`emit_volatile`](Self::emit_volatile) with typed arguments (a
    /// tuple; see [`emit_serialized`](Self::emit_serialized)).
    pub fn emit_volatile_serialized<T: Serialize + ?Sized>(
        &self,
        event: &str,
        args: &T,
    ) -> Result<(), EmitError> {
        self.emit_volatile(event, serialize_args(args)?)
    }

    /// Emits an event (now, as [`emit`](Self::emit)) and returns the
    /// request to await for the server's acknowledgement; `.timeout(..)`
    /// bounds the wait (the default is [`SocketOptions::ack_timeout`],
    /// else until answered or disconnected).
    pub fn emit_with_ack(&self, event: &str, args: Vec<Value>) -> AckRequest {
        let flags = EmitFlags {
            ack: true,
            ..Default::default()
        };
        let now = Instant::now();
        self.notify_outgoing(event, &args, false);
        let r = {
            let mut state = self.shared.lock();
            let room = self.shared.room(&state, false);
            match room.and_then(|_| state.core.emit(&self.inner.nsp, event, args, flags, now)) {
                Ok(Some(token)) => {
                    let (tx, rx) = oneshot::channel();
                    state.acks.insert(token, tx);
                    Ok((token, rx))
                }
                Ok(None) => Err(AckError::Closed),
                Err(e) => Err(AckError::Emit(e)),
            }
        };
        self.shared.wake.notify_one();
        AckRequest {
            shared: self.shared.clone(),
            emitted: now,
            state: r,
        }
    }

    /// [`emit_with_ack`](Self::emit_with_ack) with typed arguments (a
    /// tuple; see [`emit_serialized`](Self::emit_serialized));
    /// [`AckRequest::typed`] reads the answer typed.
    pub fn emit_serialized_with_ack<T: Serialize + ?Sized>(
        &self,
        event: &str,
        args: &T,
    ) -> AckRequest {
        match serialize_args(args) {
            Ok(args) => self.emit_with_ack(event, args),
            Err(e) => AckRequest {
                shared: self.shared.clone(),
                emitted: Instant::now(),
                state: Err(AckError::Emit(e)),
            },
        }
    }
}

/// `nsp` with its leading `/`.
fn normalize_nsp(nsp: &str) -> String {
    if nsp.starts_with('/') {
        nsp.to_owned()
    } else {
        format!("/{nsp}")
    }
}

fn serialize_args<T: Serialize + ?Sized>(args: &T) -> Result<Vec<Value>, EmitError> {
    match Value::from_serialize(args) {
        Ok(Value::Array(a)) => Ok(a),
        Ok(Value::Null) => Ok(Vec::new()),
        Ok(_) => Err(EmitError::Encode(
            "event arguments must serialize to a JSON array".into(),
        )),
        Err(e) => Err(EmitError::Encode(e.to_string())),
    }
}

/// An emitted event waiting for its acknowledgement; `.await` it (after
/// `.timeout(..)` if needed). Dropping it stops waiting (the event was
/// sent all the same).
#[must_use = "await the request for the acknowledgement"]
pub struct AckRequest {
    shared: Arc<Shared>,
    emitted: Instant,
    state: Result<(AckToken, oneshot::Receiver<AckResult>), AckError>,
}

impl std::fmt::Debug for AckRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AckRequest")
            .field("token", &self.state.as_ref().map(|s| s.0))
            .finish_non_exhaustive()
    }
}

impl AckRequest {
    /// Fails with [`AckError::Timeout`] when no acknowledgement came within
    /// `timeout` of the emit (the packet is dropped if it is still
    /// buffered). With retries, each try waits this long.
    pub fn timeout(self, timeout: Duration) -> Self {
        if let Ok((token, _)) = &self.state {
            self.shared
                .lock()
                .core
                .set_ack_timeout(*token, timeout, self.emitted);
            self.shared.wake.notify_one();
        }
        self
    }

    /// Waits for the acknowledgement and reads its arguments as `T`: one
    /// argument gives `T` from it, several from their array (a tuple).
    /// Fails with [`AckError::InvalidAnswer`] when they do not fit. See
    /// the [`Socket`] example.
    pub async fn typed<T: serde::de::DeserializeOwned>(self) -> Result<T, AckError> {
        let args = self.await?;
        crate::value::typed_args(args).map_err(|_| AckError::InvalidAnswer)
    }
}

impl IntoFuture for AckRequest {
    type Output = AckResult;
    type IntoFuture = Pin<Box<dyn Future<Output = AckResult> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            let (_, rx) = self.state?;
            rx.await.unwrap_or(Err(AckError::Closed))
        })
    }
}

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
