//! The server's settings.

use std::sync::Arc;
use std::time::Duration;

use socketeer_engineio::server::EngineIoConfig;

use super::adapter::AdapterFactory;
use super::recovery::ConnectionStateRecovery;

/// Server settings: start from `Default` and change what you need.
///
/// ```
/// use std::time::Duration;
/// use socketeer::server::{ConnectionStateRecovery, SocketIo, SocketIoConfig};
///
/// #[derive(Clone)]
/// struct Db; // a connection pool, say; handlers take it with `State<Db>`
///
/// let mut config = SocketIoConfig::default().with_state(Db);
/// config.engine.ping_interval = Duration::from_secs(10);
/// config.ack_timeout = Duration::from_secs(5);
/// config.connection_state_recovery = Some(ConnectionStateRecovery::default());
/// let io = SocketIo::new(config);
/// assert!(io.main_namespace().recovery_enabled());
/// ```
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
    /// [`recovery`](super::recovery).
    pub connection_state_recovery: Option<ConnectionStateRecovery>,
    /// Makes each namespace's [`Adapter`](super::Adapter) (default: in
    /// memory, one server).
    pub adapter: AdapterFactory,
    /// Application state for the [`State`](super::State) extractor (set
    /// with [`SocketIoConfig::with_state`]).
    pub state: Arc<http::Extensions>,
    /// Most events one socket may have waiting while one of its handlers
    /// awaits (default 1,024); a client that sends more is flooding a
    /// slow handler, and its connection is closed ("transport error").
    pub max_pending_events: usize,
    /// Removes a namespace made by a dynamic matcher
    /// ([`SocketIo::of_dynamic`](super::SocketIo::of_dynamic)) when its last
    /// socket leaves (default false, as socket.io's
    /// `cleanupEmptyChildNamespaces`).
    pub cleanup_empty_child_namespaces: bool,
}

impl SocketIoConfig {
    /// Adds application state, given to handlers that take
    /// [`State<T>`](super::State) (one value per type; a second value of
    /// the same type replaces the first).
    pub fn with_state<T: Clone + Send + Sync + 'static>(mut self, state: T) -> Self {
        Arc::make_mut(&mut self.state).insert(state);
        self
    }
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
            state: Arc::default(),
            max_pending_events: 1024,
            cleanup_empty_child_namespaces: false,
        }
    }
}
