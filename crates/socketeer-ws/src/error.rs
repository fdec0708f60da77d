//! Error types.

use crate::close_code::CloseCode;

/// A violation of RFC 6455 / 7692 by the peer, or of one of our limits.
/// Each maps to the close code sent before the connection is dropped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    /// An opcode reserved for future use.
    #[error("reserved opcode {0:#x}")]
    ReservedOpcode(u8),
    /// RSV bits set without an extension that defines them.
    #[error("reserved bits set")]
    ReservedBits,
    /// A control frame with FIN clear.
    #[error("fragmented control frame")]
    FragmentedControl,
    /// A control frame longer than 125 bytes.
    #[error("control frame payload over 125 bytes")]
    ControlTooLong,
    /// A 64-bit length with the most significant bit set.
    #[error("invalid payload length")]
    InvalidLength,
    /// A client frame without a mask (seen by a server).
    #[error("unmasked frame from client")]
    UnmaskedFrame,
    /// A server frame with a mask (seen by a client).
    #[error("masked frame from server")]
    MaskedFrame,
    /// A continuation frame with no message in progress.
    #[error("continuation frame without a message in progress")]
    UnexpectedContinuation,
    /// A new data frame while a fragmented message is in progress.
    #[error("new data frame inside a fragmented message")]
    ExpectedContinuation,
    /// Text that is not UTF-8 (message or close reason).
    #[error("invalid UTF-8 in text")]
    InvalidUtf8,
    /// A close code that may not be sent on the wire.
    #[error("invalid close code {0}")]
    InvalidCloseCode(u16),
    /// A close payload of one byte.
    #[error("close payload of one byte")]
    InvalidClosePayload,
    /// A frame over the frame size limit.
    #[error("frame of {size} bytes over the limit of {limit}")]
    FrameTooLarge {
        /// The frame's declared payload length.
        size: u64,
        /// The configured limit.
        limit: usize,
    },
    /// A message over the message size limit.
    #[error("message over the limit of {limit} bytes")]
    MessageTooLarge {
        /// The configured limit.
        limit: usize,
    },
    /// A compressed message that does not inflate.
    #[error("invalid compressed data")]
    BadCompressedData,
}

impl ProtocolError {
    /// The close code to send for this error.
    pub fn close_code(&self) -> CloseCode {
        match self {
            Self::InvalidUtf8 | Self::BadCompressedData => CloseCode::INVALID_PAYLOAD,
            Self::FrameTooLarge { .. } | Self::MessageTooLarge { .. } => CloseCode::MESSAGE_TOO_BIG,
            _ => CloseCode::PROTOCOL_ERROR,
        }
    }
}

/// Errors from a WebSocket connection.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The peer broke the protocol or a limit; a close frame was queued.
    #[error("protocol error: {0}")]
    Protocol(#[from] ProtocolError),
    /// An I/O error on the underlying transport.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// The opening handshake failed.
    #[error("handshake failed: {0}")]
    Handshake(#[from] crate::handshake::HandshakeError),
    /// The connection is closed; nothing more can be sent or received.
    #[error("connection closed")]
    ConnectionClosed,
    /// The send queue has no room for this message (only from
    /// non-waiting sends); nothing was queued and the connection is open.
    #[error("send queue full")]
    QueueFull,
    /// Replies the peer asked for (pongs) and did not read took the send
    /// queue over `StreamConfig::max_send_queue`: the connection was
    /// failed with close code 1008 (policy violation).
    #[error("send queue over its limit of {limit} bytes")]
    SendQueueOverflow {
        /// The configured limit.
        limit: usize,
    },
    /// The peer did not answer a keepalive ping in time.
    #[error("keepalive ping timed out")]
    KeepaliveTimeout,
    /// A message we were asked to send is invalid (e.g. a control payload
    /// over 125 bytes).
    #[error("invalid message to send: {0}")]
    InvalidMessage(&'static str),
}

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
