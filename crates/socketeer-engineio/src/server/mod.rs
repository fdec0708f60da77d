//! The Engine.IO v4 server: HTTP long-polling, WebSocket, the upgrade
//! between them, heartbeats, CORS and the official error responses.
//!
//! [`EngineIo::handle`] answers one HTTP request (mount it in hyper, axum
//! or tower); [`EngineIo::serve`] runs a plain hyper server. Each session
//! is driven by one task around the Sans-I/O [`session::SessionCore`].

mod config;
mod http;
mod serve;
pub mod session;
mod socket;
mod task;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

pub use self::http::{error, Body, EngineError};
pub(crate) use self::http::{payload_response, text};
pub use config::{AllowOrigin, AllowRequest, Cors, EngineIoConfig};
pub use serve::{serve_http, serve_http_with, HttpOptions};
pub use session::{CloseReason, TransportKind};
pub use socket::{RequestInfo, SendError, Socket};

use crate::sync::LockExt;

/// The application side of an Engine.IO server, shared by every session.
/// Called from the session's task: keep these quick, hand long work to
/// other tasks. For state of its own per session, implement
/// [`SessionFactory`] instead.
pub trait EngineHandler: Send + Sync + 'static {
    /// A session opened.
    fn on_connect(&self, socket: &Socket);
    /// A message arrived.
    fn on_message(&self, socket: &Socket, message: crate::Payload);
    /// The session closed; `socket` can no longer send.
    fn on_disconnect(&self, socket: &Socket, reason: CloseReason);
}

/// The application side of one session, owned by the session's task: it
/// gets the session's messages in order, with `&mut self` (no lock), and
/// may ask for a timer of its own.
pub trait SessionHandler: Send + 'static {
    /// A message arrived.
    fn on_message(&mut self, socket: &Socket, message: crate::Payload);
    /// The session closed; `socket` can no longer send.
    fn on_close(self: Box<Self>, socket: &Socket, reason: CloseReason);
    /// When [`SessionHandler::handle_timeout`] is next due, if ever.
    fn poll_timeout(&self) -> Option<Instant> {
        None
    }
    /// Called once the time from [`SessionHandler::poll_timeout`] has come.
    fn handle_timeout(&mut self, _socket: &Socket, _now: Instant) {}
}

/// Makes the [`SessionHandler`] of each new session.
pub trait SessionFactory: Send + Sync + 'static {
    /// A session opened.
    fn open(&self, socket: &Socket) -> Box<dyn SessionHandler>;
}

/// An [`EngineHandler`] seen as a [`SessionFactory`]: each session
/// forwards to the one shared handler.
struct Stateless(Arc<dyn EngineHandler>);

struct StatelessSession(Arc<dyn EngineHandler>);

impl SessionFactory for Stateless {
    fn open(&self, socket: &Socket) -> Box<dyn SessionHandler> {
        self.0.on_connect(socket);
        Box::new(StatelessSession(self.0.clone()))
    }
}

impl SessionHandler for StatelessSession {
    fn on_message(&mut self, socket: &Socket, message: crate::Payload) {
        self.0.on_message(socket, message);
    }

    fn on_close(self: Box<Self>, socket: &Socket, reason: CloseReason) {
        self.0.on_disconnect(socket, reason);
    }
}

pub(crate) struct SessionEntry {
    pub(crate) socket: Socket,
}

pub(crate) struct Shared {
    pub(crate) config: EngineIoConfig,
    pub(crate) factory: Arc<dyn SessionFactory>,
    pub(crate) sessions: Mutex<HashMap<Arc<str>, SessionEntry>>,
    pub(crate) shutting_down: AtomicBool,
}

impl Shared {
    pub(crate) fn remove(&self, sid: &str) {
        self.sessions.locked().remove(sid);
    }
}

/// An Engine.IO server.
#[derive(Clone)]
pub struct EngineIo {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for EngineIo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EngineIo")
            .field("config", &self.shared.config)
            .finish_non_exhaustive()
    }
}

impl EngineIo {
    /// A server with `config`, calling `handler` for every session.
    pub fn new(config: EngineIoConfig, handler: Arc<dyn EngineHandler>) -> Self {
        Self::with_sessions(config, Arc::new(Stateless(handler)))
    }

    /// A server with `config`, giving each session the handler `factory`
    /// makes for it.
    pub fn with_sessions(mut config: EngineIoConfig, factory: Arc<dyn SessionFactory>) -> Self {
        // A WebSocket message over max_payload is refused by the WebSocket
        // layer itself (close 1009) instead of being buffered first.
        let limits = &mut config.websocket.limits;
        limits.max_message_size = limits.max_message_size.min(config.max_payload);
        limits.max_frame_size = limits.max_frame_size.min(config.max_payload);
        EngineIo {
            shared: Arc::new(Shared {
                config,
                factory,
                sessions: Mutex::new(HashMap::new()),
                shutting_down: AtomicBool::new(false),
            }),
        }
    }

    /// The settings.
    pub fn config(&self) -> &EngineIoConfig {
        &self.shared.config
    }

    /// Number of open sessions.
    pub fn session_count(&self) -> usize {
        self.shared.sessions.locked().len()
    }

    /// Whether a request path belongs to this server.
    pub fn matches(&self, path: &str) -> bool {
        let mount = self.shared.config.path.as_str();
        path == mount || path == mount.trim_end_matches('/')
    }

    /// Closes every session ("server shutting down") and answers new
    /// requests with 503.
    pub fn shutdown(&self) {
        self.shared.shutting_down.store(true, Ordering::Release);
        let sockets: Vec<Socket> = self
            .shared
            .sessions
            .locked()
            .values()
            .map(|e| e.socket.clone())
            .collect();
        for s in sockets {
            s.close_with(CloseReason::ServerShuttingDown);
        }
    }
}
