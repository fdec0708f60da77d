//! Why things fail: a namespace's [`DisconnectReason`], a refused
//! connection ([`ConnectError`]), an acknowledgement that did not come
//! ([`AckError`]), an emit that could not be made ([`EmitError`]).

use std::fmt;

use crate::packet::EncodeError;
use crate::value::Value;

/// Why a namespace disconnected: the reasons of socket.io-client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DisconnectReason {
    /// The server disconnected the socket (no reconnection follows).
    IoServerDisconnect,
    /// The application disconnected the socket (no reconnection follows).
    IoClientDisconnect,
    /// The server did not ping in time.
    PingTimeout,
    /// The connection was closed.
    TransportClose,
    /// The connection failed.
    TransportError,
    /// The server sent a packet that could not be decoded.
    ParseError,
}

impl DisconnectReason {
    /// The reason as socket.io-client names it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::IoServerDisconnect => "io server disconnect",
            Self::IoClientDisconnect => "io client disconnect",
            Self::PingTimeout => "ping timeout",
            Self::TransportClose => "transport close",
            Self::TransportError => "transport error",
            Self::ParseError => "parse error",
        }
    }

    /// Whether the client reconnects after this disconnection.
    pub fn reconnects(self) -> bool {
        !matches!(self, Self::IoServerDisconnect | Self::IoClientDisconnect)
    }
}

impl fmt::Display for DisconnectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A refused connection: the server's CONNECT_ERROR (`message` and the
/// optional `data` of its error), or a failed Engine.IO connection.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ConnectError {
    /// The message, e.g. `"unauthorized"` from a middleware.
    pub message: String,
    /// The error's `data`, when the server gave some.
    pub data: Option<Value>,
}

impl ConnectError {
    pub(super) fn new(message: impl Into<String>) -> ConnectError {
        ConnectError {
            message: message.into(),
            data: None,
        }
    }

    /// The error of a CONNECT_ERROR packet's data: a string (older
    /// servers) or `{ message, data }`.
    pub(super) fn from_data(data: Option<Value>) -> ConnectError {
        match data {
            Some(Value::String(s)) => ConnectError::new(s),
            Some(Value::Object(mut m)) => ConnectError {
                message: match m.remove("message") {
                    Some(Value::String(s)) => s,
                    _ => String::new(),
                },
                data: m.remove("data"),
            },
            _ => ConnectError::new(""),
        }
    }
}

/// Why an acknowledgement did not arrive.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AckError {
    /// No answer within the timeout ("operation has timed out").
    #[error("operation has timed out")]
    Timeout,
    /// The socket disconnected after sending the event.
    #[error("socket has been disconnected")]
    Disconnected,
    /// The client was closed before an answer came.
    #[error("client closed")]
    Closed,
    /// The event could not be emitted.
    #[error("emit failed: {0}")]
    Emit(#[from] EmitError),
    /// The answer does not read as the type asked for
    /// ([`AckRequest::typed`](crate::client::AckRequest::typed)).
    #[error("acknowledgement of another shape")]
    InvalidAnswer,
}

/// Why an emit failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EmitError {
    /// The event name is reserved (`connect`, `disconnect`, ...).
    #[error("\"{0}\" is a reserved event name")]
    ReservedEvent(String),
    /// The offline buffer, the retry queue or the output queue is full
    /// ([`ManagerConfig::max_buffered`](super::ManagerConfig::max_buffered)).
    #[error("send buffer full")]
    BufferFull,
    /// Too many acknowledgements are awaited
    /// ([`ManagerConfig::max_pending_acks`](super::ManagerConfig::max_pending_acks)).
    #[error("too many pending acknowledgements")]
    TooManyPendingAcks,
    /// No such namespace on this client.
    #[error("unknown namespace {0:?}")]
    UnknownNamespace(String),
    /// The packet cannot be encoded.
    #[error("cannot encode: {0}")]
    Encode(String),
    /// The client is closed.
    #[error("client closed")]
    Closed,
}

impl From<EncodeError> for EmitError {
    fn from(e: EncodeError) -> Self {
        EmitError::Encode(e.to_string())
    }
}
