//! What the application configures: the [`ManagerConfig`] of the whole
//! client (reconnection, limits), each namespace's [`SocketOptions`] (its
//! [`Auth`] payload, retries, ack timeout) and the [`EmitFlags`] of one
//! emit.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use crate::value::{Map, Value};

/// The auth payload sent in CONNECT packets.
#[derive(Clone, Default)]
pub enum Auth {
    /// No payload.
    #[default]
    None,
    /// The same object on every connection.
    Static(Value),
    /// Called before every CONNECT, so a reconnection can send a fresh
    /// token.
    Dynamic(Arc<dyn Fn() -> Value + Send + Sync>),
    /// Awaited before every CONNECT (socket.io-client's `auth: (cb) =>
    /// ...`), e.g. to fetch a token. The core does not await: the driver
    /// does, and hands the value over with
    /// [`ManagerCore::set_auth`](super::ManagerCore::set_auth) (see
    /// [`ManagerCore::pending_auths`](super::ManagerCore::pending_auths)).
    Async(AsyncAuth),
}

/// The future of an [`Auth::Async`] payload.
pub type AuthFuture = Pin<Box<dyn Future<Output = Value> + Send>>;
/// The function of an [`Auth::Async`] payload.
pub type AsyncAuth = Arc<dyn Fn() -> AuthFuture + Send + Sync>;

impl Auth {
    /// The payload to send; for [`Auth::Async`], the value it resolved
    /// to (`resolved`).
    pub(super) fn get(&self, resolved: Option<&Value>) -> Option<Map> {
        let value = match self {
            Auth::None => return None,
            Auth::Static(v) => v.clone(),
            Auth::Dynamic(f) => f(),
            Auth::Async(_) => resolved?.clone(),
        };
        match value {
            Value::Object(map) => Some(map),
            Value::Null => None,
            other => {
                tracing::warn!(?other, "auth payload is not an object; not sent");
                None
            }
        }
    }
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Auth::None => f.write_str("None"),
            Auth::Static(v) => f.debug_tuple("Static").field(v).finish(),
            Auth::Dynamic(_) => f.write_str("Dynamic(..)"),
            Auth::Async(_) => f.write_str("Async(..)"),
        }
    }
}

/// Options of one namespace's socket, as socket.io-client's.
#[derive(Debug, Clone, Default)]
pub struct SocketOptions {
    /// The auth payload of CONNECT packets.
    pub auth: Auth,
    /// With `Some(n)`, n > 0, every emit (volatile ones excepted) goes
    /// through a queue: each packet asks for an acknowledgement, one is in
    /// flight at a time, and a packet not acknowledged (within
    /// [`ack_timeout`](Self::ack_timeout), or before a disconnection) is
    /// sent again, up to `n` more times; sent again on every reconnection
    /// until acknowledged. Delivery becomes at least once, in order.
    pub retries: Option<u32>,
    /// Default wait for acknowledgements (none: until answered or
    /// disconnected).
    pub ack_timeout: Option<Duration>,
}

impl SocketOptions {
    /// Options with this static auth payload (an object).
    pub fn with_auth(auth: impl Into<Value>) -> SocketOptions {
        SocketOptions {
            auth: Auth::Static(auth.into()),
            ..Default::default()
        }
    }
}

/// Reconnection and limits, with socket.io-client's defaults.
#[derive(Debug, Clone)]
pub struct ManagerConfig {
    /// Whether to reconnect automatically (default true).
    pub reconnection: bool,
    /// Attempts before giving up ([`Event::ReconnectFailed`](super::Event::ReconnectFailed)); `None`
    /// (default) tries forever.
    pub reconnection_attempts: Option<u32>,
    /// First delay before reconnecting (default 1000 ms).
    pub reconnection_delay: Duration,
    /// Longest delay (default 5000 ms).
    pub reconnection_delay_max: Duration,
    /// Jitter of each delay, `0..=1` (default 0.5).
    pub randomization_factor: f64,
    /// Time for the Engine.IO connection to open (default 20 s; `None`:
    /// no limit).
    pub timeout: Option<Duration>,
    /// Per namespace, the most packets held while offline, in the retry
    /// queue, and (for the whole client) waiting to be written (default
    /// 1024). Beyond it an emit fails with [`EmitError::BufferFull`](super::EmitError::BufferFull).
    pub max_buffered: usize,
    /// The most acknowledgements awaited at once per namespace (default
    /// 65536).
    pub max_pending_acks: usize,
    /// The most binary attachments in one received packet (default 10).
    pub max_attachments: usize,
}

impl Default for ManagerConfig {
    fn default() -> Self {
        ManagerConfig {
            reconnection: true,
            reconnection_attempts: None,
            reconnection_delay: Duration::from_millis(1000),
            reconnection_delay_max: Duration::from_millis(5000),
            randomization_factor: 0.5,
            timeout: Some(Duration::from_secs(20)),
            max_buffered: 1024,
            max_pending_acks: 65536,
            max_attachments: 10,
        }
    }
}

/// How to emit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EmitFlags {
    /// Drop the packet rather than buffer it when there is no connection.
    pub volatile: bool,
    /// Ask for an acknowledgement; the emit returns its [`AckToken`](super::AckToken).
    pub ack: bool,
    /// Wait at most this long for the acknowledgement (default: the
    /// namespace's [`SocketOptions::ack_timeout`]).
    pub timeout: Option<Duration>,
}
