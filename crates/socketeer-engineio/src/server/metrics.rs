//! The server's metrics, emitted through the [`metrics`](https://docs.rs/metrics)
//! facade (feature `metrics`, on by default) to whatever recorder the
//! application installed (none: they cost a branch each). The names are
//! the constants below; every counter ends in `_total`, byte counts in
//! `_bytes`, and no label names a session, a room or an address, so the
//! number of series stays fixed.
//!
//! Rare events (a session opening, upgrading or closing, a refused
//! request, a volatile message dropped) are emitted when they happen.
//! Traffic (messages and bytes) is counted by each session's own task in
//! plain integers (`Traffic`) and handed to the recorder at the
//! session's heartbeats (every `ping_interval`) and when it closes: the
//! hot path touches no shared counter, and a scrape sees a session's
//! traffic at most one ping interval late.

use super::core::{CloseReason, TransportKind};
use super::response::EngineError;

/// Counter: sessions opened, by `transport` (`polling`, `websocket`: the
/// transport of the handshake).
pub const CONNECTIONS: &str = "socketeer_engineio_connections_total";
/// Gauge: sessions open now.
pub const SESSIONS: &str = "socketeer_engineio_sessions";
/// Counter: sessions upgraded from polling to WebSocket.
pub const UPGRADES: &str = "socketeer_engineio_upgrades_total";
/// Counter: requests refused with an error, by `cause`: the handshake's
/// and the official errors' (`unknown_transport`, `unknown_sid`,
/// `bad_handshake_method`, `bad_request`, `forbidden` (an `allow_request`
/// hook said no), `unsupported_protocol_version`), `session_limit`
/// (`max_sessions` or `max_sessions_per_ip`), `websocket_handshake` (the
/// WebSocket upgrade failed or the client left before the OPEN packet).
pub const HANDSHAKE_FAILURES: &str = "socketeer_engineio_handshake_failures_total";
/// Counter: sessions closed, by `reason`: `transport_close`,
/// `transport_error`, `ping_timeout`, `parse_error`, `forced_close`,
/// `server_shutting_down`.
pub const DISCONNECTS: &str = "socketeer_engineio_disconnects_total";
/// Counter: sessions closed because their send queue went over its limit
/// (also counted in [`DISCONNECTS`] as `transport_error`).
pub const QUEUE_OVERFLOWS: &str = "socketeer_engineio_queue_overflows_total";
/// Counter: volatile messages dropped.
pub const VOLATILE_DROPPED: &str = "socketeer_engineio_volatile_dropped_total";
/// Counter: Engine.IO messages received from clients.
pub const MESSAGES_RECEIVED: &str = "socketeer_engineio_messages_received_total";
/// Counter: Engine.IO messages sent to clients (handed to the transport).
pub const MESSAGES_SENT: &str = "socketeer_engineio_messages_sent_total";
/// Counter: bytes received: WebSocket message payloads and polling
/// request bodies.
pub const RECEIVED_BYTES: &str = "socketeer_engineio_received_bytes_total";
/// Counter: bytes sent: WebSocket frames (pings included) and polling
/// response payloads (before HTTP compression).
pub const SENT_BYTES: &str = "socketeer_engineio_sent_bytes_total";
/// Gauge: the most bytes one session had queued (outbox and WebSocket
/// send queue) when its task came to write, since the server started.
pub const QUEUE_HIGH_WATER: &str = "socketeer_engineio_send_queue_high_water_bytes";

/// Gives the recorder installed now a description and unit of each of
/// these metrics (the `# HELP` lines of a Prometheus exporter). Optional.
pub fn describe() {
    #[cfg(feature = "metrics")]
    {
        use ::metrics::{describe_counter, describe_gauge, Unit};
        describe_counter!(
            CONNECTIONS,
            "Engine.IO sessions opened, by transport of the handshake"
        );
        describe_gauge!(SESSIONS, "Engine.IO sessions open now");
        describe_counter!(
            UPGRADES,
            "Engine.IO sessions upgraded from polling to WebSocket"
        );
        describe_counter!(HANDSHAKE_FAILURES, "Engine.IO requests refused, by cause");
        describe_counter!(DISCONNECTS, "Engine.IO sessions closed, by reason");
        describe_counter!(
            QUEUE_OVERFLOWS,
            "Engine.IO sessions closed for going over their send queue limit"
        );
        describe_counter!(VOLATILE_DROPPED, "Volatile messages dropped");
        describe_counter!(MESSAGES_RECEIVED, "Engine.IO messages received");
        describe_counter!(MESSAGES_SENT, "Engine.IO messages sent");
        describe_counter!(
            RECEIVED_BYTES,
            Unit::Bytes,
            "Bytes received (WebSocket payloads, polling bodies)"
        );
        describe_counter!(
            SENT_BYTES,
            Unit::Bytes,
            "Bytes sent (WebSocket frames, polling payloads)"
        );
        describe_gauge!(
            QUEUE_HIGH_WATER,
            Unit::Bytes,
            "Most bytes one session had queued when written"
        );
    }
}

/// The label value of a transport.
pub(crate) fn transport_label(t: TransportKind) -> &'static str {
    match t {
        TransportKind::Polling => "polling",
        TransportKind::WebSocket => "websocket",
    }
}

/// The label value of a close reason.
#[cfg_attr(not(feature = "metrics"), allow(dead_code))]
pub(crate) fn reason_label(r: CloseReason) -> &'static str {
    match r {
        CloseReason::TransportClose => "transport_close",
        CloseReason::TransportError => "transport_error",
        CloseReason::PingTimeout => "ping_timeout",
        CloseReason::ParseError => "parse_error",
        CloseReason::ForcedClose => "forced_close",
        CloseReason::ServerShuttingDown => "server_shutting_down",
    }
}

/// Why a request was refused, as the label of [`HANDSHAKE_FAILURES`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// An official error response.
    Error(EngineError),
    /// A session limit.
    SessionLimit,
    /// The WebSocket upgrade or the OPEN packet failed.
    WebSocketHandshake,
}

impl Refusal {
    #[cfg_attr(not(feature = "metrics"), allow(dead_code))]
    fn label(self) -> &'static str {
        match self {
            Refusal::Error(EngineError::UnknownTransport) => "unknown_transport",
            Refusal::Error(EngineError::UnknownSid) => "unknown_sid",
            Refusal::Error(EngineError::BadHandshakeMethod) => "bad_handshake_method",
            Refusal::Error(EngineError::BadRequest) => "bad_request",
            Refusal::Error(EngineError::Forbidden) => "forbidden",
            Refusal::Error(EngineError::UnsupportedProtocolVersion) => {
                "unsupported_protocol_version"
            }
            Refusal::SessionLimit => "session_limit",
            Refusal::WebSocketHandshake => "websocket_handshake",
        }
    }
}

#[cfg(feature = "metrics")]
mod emit {
    use super::*;

    pub(crate) fn opened(t: TransportKind) {
        ::metrics::counter!(CONNECTIONS, "transport" => transport_label(t)).increment(1);
        ::metrics::gauge!(SESSIONS).increment(1.0);
    }

    pub(crate) fn upgraded() {
        ::metrics::counter!(UPGRADES).increment(1);
    }

    pub(crate) fn refused(r: Refusal) {
        ::metrics::counter!(HANDSHAKE_FAILURES, "cause" => r.label()).increment(1);
    }

    pub(crate) fn closed(r: CloseReason) {
        ::metrics::counter!(DISCONNECTS, "reason" => reason_label(r)).increment(1);
        ::metrics::gauge!(SESSIONS).decrement(1.0);
    }

    pub(crate) fn queue_overflow() {
        ::metrics::counter!(QUEUE_OVERFLOWS).increment(1);
    }

    pub(crate) fn volatile_dropped() {
        ::metrics::counter!(VOLATILE_DROPPED).increment(1);
    }

    pub(crate) fn received_bytes(n: usize) {
        ::metrics::counter!(RECEIVED_BYTES).increment(n as u64);
    }

    pub(crate) fn traffic(t: &super::Traffic, high_water: usize) {
        if t.messages_in > 0 {
            ::metrics::counter!(MESSAGES_RECEIVED).increment(t.messages_in);
        }
        if t.bytes_in > 0 {
            ::metrics::counter!(RECEIVED_BYTES).increment(t.bytes_in);
        }
        if t.messages_out > 0 {
            ::metrics::counter!(MESSAGES_SENT).increment(t.messages_out);
        }
        if t.bytes_out > 0 {
            ::metrics::counter!(SENT_BYTES).increment(t.bytes_out);
        }
        ::metrics::gauge!(QUEUE_HIGH_WATER).set(high_water as f64);
    }

    pub(crate) fn sent(messages: usize, bytes: usize) {
        if messages > 0 {
            ::metrics::counter!(MESSAGES_SENT).increment(messages as u64);
        }
        if bytes > 0 {
            ::metrics::counter!(SENT_BYTES).increment(bytes as u64);
        }
    }
}

#[cfg(not(feature = "metrics"))]
mod emit {
    use super::*;

    pub(crate) fn opened(_: TransportKind) {}
    pub(crate) fn upgraded() {}
    pub(crate) fn refused(_: Refusal) {}
    pub(crate) fn closed(_: CloseReason) {}
    pub(crate) fn queue_overflow() {}
    pub(crate) fn volatile_dropped() {}
    pub(crate) fn received_bytes(_: usize) {}
    pub(crate) fn traffic(_: &super::Traffic, _: usize) {}
    pub(crate) fn sent(_: usize, _: usize) {}
}

pub(crate) use emit::{
    closed, opened, queue_overflow, received_bytes, refused, sent, upgraded, volatile_dropped,
};

/// One session's traffic since its last flush, counted by its task alone
/// (plain integers: no atomics on the hot path).
#[derive(Debug, Default)]
pub(crate) struct Traffic {
    messages_in: u64,
    bytes_in: u64,
    messages_out: u64,
    bytes_out: u64,
}

impl Traffic {
    /// A message received.
    pub(crate) fn message_in(&mut self) {
        self.messages_in += 1;
    }

    /// `n` bytes received.
    pub(crate) fn bytes_in(&mut self, n: usize) {
        self.bytes_in += n as u64;
    }

    /// `messages` messages and `bytes` bytes handed to the transport.
    pub(crate) fn sent(&mut self, messages: usize, bytes: usize) {
        self.messages_out += messages as u64;
        self.bytes_out += bytes as u64;
    }

    /// Hands the counts to the recorder (with the server's queue
    /// high-water mark, `high_water`) and starts again from zero.
    pub(crate) fn flush(&mut self, high_water: usize) {
        emit::traffic(self, high_water);
        *self = Traffic::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_distinct() {
        let reasons = [
            CloseReason::TransportClose,
            CloseReason::TransportError,
            CloseReason::PingTimeout,
            CloseReason::ParseError,
            CloseReason::ForcedClose,
            CloseReason::ServerShuttingDown,
        ]
        .map(reason_label);
        let mut sorted = reasons.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), reasons.len());
        assert_eq!(reason_label(CloseReason::PingTimeout), "ping_timeout");
        assert_eq!(
            Refusal::Error(EngineError::UnknownSid).label(),
            "unknown_sid"
        );
        assert_eq!(transport_label(TransportKind::WebSocket), "websocket");
    }

    #[test]
    fn traffic_starts_again_after_a_flush() {
        let mut t = Traffic::default();
        t.message_in();
        t.bytes_in(10);
        t.sent(2, 30);
        assert_eq!((t.messages_in, t.bytes_in), (1, 10));
        assert_eq!((t.messages_out, t.bytes_out), (2, 30));
        t.flush(0);
        assert_eq!(
            (t.messages_in, t.bytes_in, t.messages_out, t.bytes_out),
            (0, 0, 0, 0)
        );
    }
}
