//! The client's vocabulary, shared by the Sans-I/O core ([`super::core`])
//! and the tokio driver: which transports to use, the events a session
//! reports, why it closed and why a send was refused.

use bytes::Bytes;

use crate::Utf8Bytes;

/// Which transports the client may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Transports {
    /// HTTP long-polling only.
    Polling,
    /// WebSocket only, from the start.
    WebSocket,
    /// Long-polling first, then an upgrade to WebSocket if the server
    /// offers it (engine.io-client's default, `["polling", "websocket"]`).
    #[default]
    Both,
    /// WebSocket first (`["websocket", "polling"]`): when the WebSocket
    /// does not open and `try_all_transports` is on, long-polling (then
    /// the upgrade, as [`Both`](Self::Both)).
    WebSocketFirst,
}

impl Transports {
    /// The session modes to try in order when opening a session: the
    /// first one, then (with `try_all`) the next ones when one fails to
    /// open, as engine.io-client's `tryAllTransports`. A mode is one of
    /// [`Polling`](Self::Polling), [`WebSocket`](Self::WebSocket) or
    /// [`Both`](Self::Both) (polling that may upgrade). `prior_websocket`
    /// (`rememberUpgrade` after a successful upgrade) starts with
    /// WebSocket when WebSocket is allowed.
    ///
    /// ```
    /// use socketeer_engineio::client::Transports;
    ///
    /// assert_eq!(Transports::Both.attempts(false, false), [Transports::Both]);
    /// assert_eq!(
    ///     Transports::WebSocketFirst.attempts(true, false),
    ///     [Transports::WebSocket, Transports::Both]
    /// );
    /// assert_eq!(
    ///     Transports::Both.attempts(false, true),
    ///     [Transports::WebSocket]
    /// );
    /// ```
    pub fn attempts(self, try_all: bool, prior_websocket: bool) -> Vec<Transports> {
        let mut modes = match self {
            Transports::Polling => vec![Transports::Polling],
            Transports::WebSocket => vec![Transports::WebSocket],
            Transports::Both if prior_websocket => vec![Transports::WebSocket, Transports::Both],
            Transports::Both => vec![Transports::Both, Transports::WebSocket],
            Transports::WebSocketFirst => vec![Transports::WebSocket, Transports::Both],
        };
        if !try_all {
            modes.truncate(1);
        }
        modes
    }

    /// Whether WebSocket is among the transports.
    pub fn allows_websocket(self) -> bool {
        self != Transports::Polling
    }
}

/// What happened on the session, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// A text message.
    Message(Utf8Bytes),
    /// A binary message.
    Binary(Bytes),
    /// The session moved from polling to WebSocket.
    Upgraded,
    /// The server pinged (only with `ClientOptions::ping_events`).
    Ping,
    /// The session ended; the last event.
    Closed(CloseReason),
}

/// Why the session ended, as engine.io-client names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CloseReason {
    /// The server closed the session (a `close` packet, or the transport
    /// closed cleanly).
    TransportClose,
    /// The transport failed: an I/O, HTTP or protocol error.
    TransportError,
    /// No ping from the server within `pingInterval + pingTimeout`.
    PingTimeout,
    /// The client closed the session.
    ForcedClose,
}

impl CloseReason {
    /// The reason as engine.io-client names it.
    pub fn as_str(self) -> &'static str {
        match self {
            CloseReason::TransportClose => "transport close",
            CloseReason::TransportError => "transport error",
            CloseReason::PingTimeout => "ping timeout",
            CloseReason::ForcedClose => "forced close",
        }
    }
}

impl std::fmt::Display for CloseReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a message could not be queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SendError {
    /// The session is closed or closing.
    #[error("the session is closed")]
    Closed,
    /// The driver's send queue is full (`ClientOptions::max_queued_messages`
    /// messages are waiting).
    #[error("the send queue is full")]
    QueueFull,
    /// Text containing `0x1E` cannot cross long-polling (refused while the
    /// session is on polling).
    #[error("text containing the record separator 0x1E cannot be sent over polling")]
    RecordSeparator,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transport_attempts() {
        use Transports::*;
        assert_eq!(Polling.attempts(true, true), [Polling]);
        assert_eq!(WebSocket.attempts(true, false), [WebSocket]);
        assert_eq!(Both.attempts(false, false), [Both]);
        assert_eq!(Both.attempts(true, false), [Both, WebSocket]);
        assert_eq!(Both.attempts(true, true), [WebSocket, Both]);
        assert_eq!(WebSocketFirst.attempts(false, false), [WebSocket]);
        assert_eq!(WebSocketFirst.attempts(true, false), [WebSocket, Both]);
        assert_eq!(WebSocketFirst.attempts(true, true), [WebSocket, Both]);
        assert!(!Polling.allows_websocket());
        assert!(WebSocketFirst.allows_websocket());
    }

    #[test]
    fn close_reasons() {
        assert_eq!(CloseReason::TransportClose.to_string(), "transport close");
        assert_eq!(CloseReason::TransportError.as_str(), "transport error");
        assert_eq!(CloseReason::PingTimeout.as_str(), "ping timeout");
        assert_eq!(CloseReason::ForcedClose.as_str(), "forced close");
    }
}
