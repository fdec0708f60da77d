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

pub use self::http::{error, Body, EngineError};
pub(crate) use self::http::{payload_response, text};
pub use config::{AllowOrigin, AllowRequest, Cors, EngineIoConfig};
pub use serve::serve_http;
pub use session::{CloseReason, TransportKind};
pub use socket::{RequestInfo, SendError, Socket};

use crate::sync::LockExt;

/// The application side of an Engine.IO server. Called from the session's
/// task: keep these quick, hand long work to other tasks.
pub trait EngineHandler: Send + Sync + 'static {
    /// A session opened.
    fn on_connect(&self, socket: &Socket);
    /// A message arrived.
    fn on_message(&self, socket: &Socket, message: crate::Payload);
    /// The session closed; `socket` can no longer send.
    fn on_disconnect(&self, socket: &Socket, reason: CloseReason);
}

pub(crate) struct SessionEntry {
    pub(crate) socket: Socket,
}

pub(crate) struct Shared {
    pub(crate) config: EngineIoConfig,
    pub(crate) handler: Arc<dyn EngineHandler>,
    pub(crate) sessions: Mutex<HashMap<Arc<str>, SessionEntry>>,
    pub(crate) shutting_down: AtomicBool,
}

impl Shared {
    pub(crate) fn remove(&self, sid: &str) {
        self.sessions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(sid);
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
    pub fn new(mut config: EngineIoConfig, handler: Arc<dyn EngineHandler>) -> Self {
        // A WebSocket message over max_payload is refused by the WebSocket
        // layer itself (close 1009) instead of being buffered first.
        let limits = &mut config.websocket.limits;
        limits.max_message_size = limits.max_message_size.min(config.max_payload);
        limits.max_frame_size = limits.max_frame_size.min(config.max_payload);
        EngineIo {
            shared: Arc::new(Shared {
                config,
                handler,
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
