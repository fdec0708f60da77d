//! [`EngineIo`], the server handle, and the state it shares with the HTTP
//! side (`http.rs`) and the session tasks (`driver.rs`): the configuration,
//! the session factory and the open sessions. Answering requests is in
//! `http.rs`, serving a listener in `serve.rs`.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use super::config::EngineIoConfig;
use super::core::CloseReason;
use super::handler::{EngineHandler, SessionFactory, Stateless};
use super::socket::Socket;
use super::stats::{Counters, EngineStats};
use crate::sync::LockExt;

pub(crate) struct SessionEntry {
    pub(crate) socket: Socket,
}

pub(crate) struct Shared {
    pub(crate) config: EngineIoConfig,
    pub(crate) factory: Arc<dyn SessionFactory>,
    pub(crate) sessions: Mutex<HashMap<Arc<str>, SessionEntry>>,
    /// Open sessions by client address, for `max_sessions_per_ip`; locked
    /// after `sessions` when both are.
    pub(crate) per_ip: Mutex<HashMap<IpAddr, usize>>,
    pub(crate) shutting_down: AtomicBool,
    pub(crate) counters: Arc<Counters>,
}

impl Shared {
    pub(crate) fn remove(&self, sid: &str) {
        let mut sessions = self.sessions.locked();
        let Some(entry) = sessions.remove(sid) else {
            return;
        };
        if let Some(ip) = entry.socket.request().remote_addr.map(|a| a.ip()) {
            let mut per_ip = self.per_ip.locked();
            if let Some(n) = per_ip.get_mut(&ip) {
                *n -= 1;
                if *n == 0 {
                    per_ip.remove(&ip);
                }
            }
        }
    }

    /// Adds a session unless a session limit is reached: `max_sessions`
    /// in all, `max_sessions_per_ip` from its client's address. The check
    /// and the insertion are one step, so concurrent handshakes cannot
    /// overshoot.
    pub(crate) fn insert(&self, socket: &Socket) -> Result<(), Full> {
        let mut sessions = self.sessions.locked();
        if sessions.len() >= self.config.max_sessions {
            return Err(Full::Sessions);
        }
        if let Some(ip) = socket.request().remote_addr.map(|a| a.ip()) {
            let mut per_ip = self.per_ip.locked();
            let n = per_ip.entry(ip).or_insert(0);
            if self.config.max_sessions_per_ip.is_some_and(|max| *n >= max) {
                if *n == 0 {
                    per_ip.remove(&ip);
                }
                return Err(Full::SessionsPerIp);
            }
            *n += 1;
        }
        let entry = SessionEntry {
            socket: socket.clone(),
        };
        sessions.insert(socket.inner.sid.clone(), entry);
        Ok(())
    }
}

/// Which session limit refused a handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Full {
    /// `max_sessions`.
    Sessions,
    /// `max_sessions_per_ip`.
    SessionsPerIp,
}

impl Full {
    /// The refusal's message, in the 503 response's JSON body.
    pub(crate) fn message(self) -> &'static str {
        match self {
            Full::Sessions => "Too many sessions",
            Full::SessionsPerIp => "Too many sessions from this address",
        }
    }
}

/// An Engine.IO server.
#[derive(Clone)]
pub struct EngineIo {
    pub(crate) shared: Arc<Shared>,
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
        // The session's byte limit covers its WebSocket's queue: the
        // WebSocket's own limit must not cut in below it.
        let stream = &mut config.websocket.stream;
        stream.max_send_queue = stream.max_send_queue.max(config.max_queued_bytes);
        EngineIo {
            shared: Arc::new(Shared {
                config,
                factory,
                sessions: Mutex::new(HashMap::new()),
                per_ip: Mutex::new(HashMap::new()),
                shutting_down: AtomicBool::new(false),
                counters: Arc::default(),
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

    /// The server's counters now: bytes queued (in all and for the
    /// fullest session), volatile messages dropped, sessions closed by
    /// reason and for going over their queue limit. Costs one pass over
    /// the open sessions; sending a message updates no shared counter.
    pub fn stats(&self) -> EngineStats {
        let mut stats = self.shared.counters.snapshot();
        let sessions = self.shared.sessions.locked();
        stats.sessions = sessions.len();
        for entry in sessions.values() {
            let queued = entry.socket.queued_bytes();
            stats.queued_bytes += queued;
            stats.max_session_queued_bytes = stats.max_session_queued_bytes.max(queued);
        }
        stats
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

#[cfg(test)]
mod tests {
    use super::*;

    struct Nothing;

    impl EngineHandler for Nothing {
        fn on_connect(&self, _: &Socket) {}
        fn on_message(&self, _: &Socket, _: crate::Payload) {}
        fn on_disconnect(&self, _: &Socket, _: CloseReason) {}
    }

    #[test]
    fn the_websocket_queue_limit_is_never_below_the_session_limit() {
        let engine = EngineIo::new(
            EngineIoConfig {
                max_queued_bytes: 32 << 20,
                ..Default::default()
            },
            Arc::new(Nothing),
        );
        assert_eq!(engine.config().websocket.stream.max_send_queue, 32 << 20);
        let engine = EngineIo::new(
            EngineIoConfig {
                max_queued_bytes: 1 << 20,
                ..Default::default()
            },
            Arc::new(Nothing),
        );
        assert_eq!(engine.config().websocket.stream.max_send_queue, 8 << 20);
        let stats = engine.stats();
        assert_eq!((stats.sessions, stats.queued_bytes), (0, 0));
    }
}
