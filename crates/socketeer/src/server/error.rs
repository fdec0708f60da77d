//! What can go wrong in the server's API, and why sockets end.

use socketeer_engineio::server::CloseReason;

use crate::packet::EncodeError;
use crate::Value;

/// Why a socket disconnected, with the official reason strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DisconnectReason {
    /// The server called [`Socket::disconnect`](super::Socket::disconnect).
    ServerNamespaceDisconnect,
    /// The client left the namespace.
    ClientNamespaceDisconnect,
    /// The client's transport closed.
    TransportClose,
    /// The client's transport failed.
    TransportError,
    /// The client did not answer a ping in time.
    PingTimeout,
    /// The client sent an invalid packet.
    ParseError,
    /// The server is shutting down.
    ServerShuttingDown,
    /// The server closed the whole connection.
    ForcedServerClose,
}

impl DisconnectReason {
    /// The reason as the official server names it (those that end the
    /// whole connection as Engine.IO names them).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ServerNamespaceDisconnect => "server namespace disconnect",
            Self::ClientNamespaceDisconnect => "client namespace disconnect",
            Self::ForcedServerClose => "forced server close",
            Self::TransportClose => CloseReason::TransportClose.as_str(),
            Self::TransportError => CloseReason::TransportError.as_str(),
            Self::PingTimeout => CloseReason::PingTimeout.as_str(),
            Self::ParseError => CloseReason::ParseError.as_str(),
            Self::ServerShuttingDown => CloseReason::ServerShuttingDown.as_str(),
        }
    }

    /// Whether a client that lost its socket this way may get its session
    /// back (connection state recovery).
    pub fn is_recoverable(self) -> bool {
        matches!(
            self,
            Self::TransportClose
                | Self::TransportError
                | Self::PingTimeout
                | Self::ServerShuttingDown
                | Self::ForcedServerClose
        )
    }
}

impl From<CloseReason> for DisconnectReason {
    /// Why the sockets of a connection end when its Engine.IO session does.
    fn from(reason: CloseReason) -> Self {
        match reason {
            CloseReason::TransportClose => Self::TransportClose,
            CloseReason::TransportError => Self::TransportError,
            CloseReason::PingTimeout => Self::PingTimeout,
            CloseReason::ParseError => Self::ParseError,
            CloseReason::ForcedClose => Self::ForcedServerClose,
            CloseReason::ServerShuttingDown => Self::ServerShuttingDown,
        }
    }
}

impl std::fmt::Display for DisconnectReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why an emit failed.
#[derive(Debug, thiserror::Error)]
pub enum EmitError {
    /// The socket is disconnected.
    #[error("socket disconnected")]
    Disconnected,
    /// The client does not keep up: the message would have taken its send
    /// queue over the limit (`EngineIoConfig::max_queued_bytes`), so its
    /// connection is being closed (disconnect reason "transport error").
    #[error("send queue full")]
    QueueFull,
    /// The event or arguments cannot be encoded.
    #[error(transparent)]
    Encode(#[from] EncodeError),
}

/// Why [`BroadcastOperator::try_fetch_sockets`](super::BroadcastOperator::try_fetch_sockets)
/// failed (socket.io's `fetchSockets()` rejects in the same cases).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FetchError {
    /// Not every other server answered within the adapter's request
    /// timeout.
    #[error("timeout reached: only {answered} of {expected} other servers answered")]
    Timeout {
        /// How many other servers answered.
        answered: usize,
        /// How many other servers share the namespace.
        expected: usize,
    },
    /// The adapter could not reach the other servers (say, Redis is down).
    #[error("the other servers could not be asked: {0}")]
    Unavailable(String),
}

/// Why an acknowledgement did not arrive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AckError {
    /// No answer within the timeout.
    #[error("acknowledgement timed out")]
    Timeout,
    /// The socket disconnected first.
    #[error("socket disconnected before acknowledging")]
    Disconnected,
    /// The emit itself failed.
    #[error("emit failed")]
    EmitFailed,
    /// The answer did not have the shape asked for
    /// ([`AckRequest::typed`](super::AckRequest::typed)).
    #[error("the acknowledgement's arguments have another shape")]
    InvalidAnswer,
}

/// Why a per-packet middleware dropped an event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct MiddlewareError(pub String);

/// Why a handler's arguments could not be extracted: the handler is not
/// called, the socket's error listeners are told, and a client waiting for
/// an acknowledgement gets `{"error": "<this message>"}`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArgumentError {
    /// The arguments do not have the shape the handler asked for.
    #[error("invalid arguments for \"{event}\": {message}")]
    Invalid {
        /// The event.
        event: String,
        /// What serde said.
        message: String,
    },
    /// The handler takes an acknowledgement ([`AckSender`](super::AckSender))
    /// but the client did not ask for one (take `Option<AckSender>` to
    /// accept both).
    #[error("\"{0}\" was sent without an acknowledgement")]
    NoAck(String),
    /// The handler takes a value (a [`State`](super::State), a
    /// [`SocketData`](super::SocketData), a [`DisconnectReason`]) that is
    /// not there.
    #[error("nothing to extract for {0}")]
    Missing(&'static str),
}

/// What a socket's error listeners (`socket.on_error`) are told of.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SocketError {
    /// A packet middleware dropped an event.
    #[error(transparent)]
    Middleware(#[from] MiddlewareError),
    /// A handler could not take the arguments it was sent.
    #[error(transparent)]
    Arguments(#[from] ArgumentError),
    /// More events waited behind a slow handler than the server allows;
    /// the connection is closed.
    #[error("too many events waiting for a handler")]
    Overloaded,
}

/// A middleware's refusal: the client gets CONNECT_ERROR with this message
/// (and data, if any).
#[derive(Debug, Clone, PartialEq)]
pub struct ConnectError {
    /// The message (`err.message` in socket.io-client).
    pub message: String,
    /// Extra data (`err.data` in socket.io-client).
    pub data: Option<Value>,
}

impl ConnectError {
    /// A refusal with a message.
    pub fn new(message: impl Into<String>) -> Self {
        ConnectError {
            message: message.into(),
            data: None,
        }
    }

    /// Adds data.
    pub fn with_data(mut self, data: Value) -> Self {
        self.data = Some(data);
        self
    }

    /// The CONNECT_ERROR payload: `{"message", "data"?}`.
    pub(crate) fn to_value(&self) -> Value {
        let mut map = crate::Map::new();
        map.insert("message".into(), Value::String(self.message.clone()));
        if let Some(d) = &self.data {
            map.insert("data".into(), d.clone());
        }
        Value::Object(map)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_read_as_the_official_server_names_them() {
        let all = [
            (CloseReason::TransportClose, "transport close"),
            (CloseReason::TransportError, "transport error"),
            (CloseReason::PingTimeout, "ping timeout"),
            (CloseReason::ParseError, "parse error"),
            (CloseReason::ForcedClose, "forced server close"),
            (CloseReason::ServerShuttingDown, "server shutting down"),
        ];
        for (engine, name) in all {
            assert_eq!(DisconnectReason::from(engine).as_str(), name);
        }
        assert_eq!(
            DisconnectReason::ServerNamespaceDisconnect.to_string(),
            "server namespace disconnect"
        );
        assert!(DisconnectReason::PingTimeout.is_recoverable());
        assert!(!DisconnectReason::ClientNamespaceDisconnect.is_recoverable());
    }
}
