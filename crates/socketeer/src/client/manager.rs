//! The connection shared by a server's namespaces: [`Manager`] and its [`ManagerOptions`].

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use socketeer_engineio::client::ClientOptions;
use tokio::sync::Notify;

use super::core::{ManagerConfig, ManagerCore, SocketOptions};
use super::driver;
use super::listeners::ListenerId;
use super::shared::{ManagerHandlers, Shared, Socket, SocketHandlers, SocketInner, State};

/// Settings of a [`Manager`]: the Engine.IO connection and the
/// reconnection behaviour ([`ManagerConfig`], socket.io-client's
/// defaults). [`ClientBuilder`](super::ClientBuilder) sets the same with its methods.
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

/// `nsp` with its leading `/`.
pub(super) fn normalize_nsp(nsp: &str) -> String {
    if nsp.starts_with('/') {
        nsp.to_owned()
    } else {
        format!("/{nsp}")
    }
}
