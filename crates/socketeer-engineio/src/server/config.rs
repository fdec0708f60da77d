//! Server settings: [`EngineIoConfig`]. Its parts are in modules of their
//! own: CORS (`cors.rs`), the session cookie (`cookie.rs`), polling
//! compression (`compression.rs`) and the hooks (`hooks.rs`).

use std::time::Duration;

use socketeer_ws::DeflateConfig;

use super::compression::HttpCompression;
use super::cookie::CookieOptions;
use super::cors::Cors;
use super::hooks::{AllowRequest, AllowRequestAsync, ConnectionErrorHook, HeadersHook};
use super::rate::InboundRate;

/// Default for [`DeflateConfig::min_compress_size`] in [`per_message_deflate`],
/// in bytes: Node's `perMessageDeflate.threshold`.
pub const PER_MESSAGE_DEFLATE_THRESHOLD: usize = 1024;

/// WebSocket compression as Node's `perMessageDeflate: true`: socketeer-ws's
/// [`DeflateConfig::default`] with the threshold of Node's `ws`
/// ([`PER_MESSAGE_DEFLATE_THRESHOLD`], 1,024 bytes, where socketeer-ws's
/// own default is 32): smaller messages are sent uncompressed.
///
/// ```
/// use socketeer_engineio::server::{per_message_deflate, EngineIoConfig};
///
/// let mut config = EngineIoConfig::default();
/// config.websocket.deflate = Some(per_message_deflate());
/// ```
pub fn per_message_deflate() -> DeflateConfig {
    DeflateConfig {
        min_compress_size: PER_MESSAGE_DEFLATE_THRESHOLD,
        ..DeflateConfig::default()
    }
}

/// Server settings. Defaults are the official server's.
#[derive(Clone)]
pub struct EngineIoConfig {
    /// Where the server is mounted (default `/engine.io/`).
    pub path: String,
    /// Time between pings (default 25 s).
    pub ping_interval: Duration,
    /// Time to answer a ping (default 20 s).
    pub ping_timeout: Duration,
    /// Time for a WebSocket upgrade to complete (default 10 s).
    pub upgrade_timeout: Duration,
    /// Most bytes in one message or polling request (default 1 000 000;
    /// over it: HTTP 413 or WebSocket close 1009).
    pub max_payload: usize,
    /// Accept the polling transport (default true).
    pub allow_polling: bool,
    /// Accept the WebSocket transport (default true).
    pub allow_websocket: bool,
    /// Allow polling sessions to upgrade to WebSocket (default true).
    pub allow_upgrades: bool,
    /// CORS headers; `None` sends none (default).
    pub cors: Option<Cors>,
    /// Refuse sessions with 403 `{"code":4,"message":"<its message>"}`
    /// (default none).
    pub allow_request: Option<AllowRequest>,
    /// The same, asynchronous (default none); run after
    /// [`allow_request`](Self::allow_request) when both are set.
    pub allow_request_async: Option<AllowRequestAsync>,
    /// gzip/deflate of polling responses (Node's `httpCompression`; default
    /// on, from 1,024 bytes); `None` turns it off.
    pub http_compression: Option<HttpCompression>,
    /// `Set-Cookie` with the session id on a session's handshake (Node's
    /// `cookie`; default none).
    pub cookie: Option<CookieOptions>,
    /// Adds headers to a session's handshake response, after the cookie
    /// (Node's `initial_headers` event; default none).
    pub initial_headers: Option<HeadersHook>,
    /// Adds headers to every successful response: handshakes, polling
    /// requests and WebSocket upgrades, after `initial_headers` (Node's
    /// `headers` event; default none).
    pub headers: Option<HeadersHook>,
    /// Called for every request refused with an official error (Node's
    /// `connection_error` event; default none).
    pub connection_error: Option<ConnectionErrorHook>,
    /// A message sent to every session right after its OPEN packet, in
    /// the same polling response or as the next WebSocket frame (Node's
    /// `initialPacket`; default none).
    pub initial_packet: Option<crate::Payload>,
    /// Most bytes queued for one session (default 8 MiB): in its outbox
    /// and, on WebSocket, in the WebSocket's send queue, each message
    /// counted at its WebSocket frame's length (a broadcast frame in full
    /// for every recipient, though its bytes are shared). A send that
    /// would cross it fails with
    /// [`SendError::QueueFull`](super::SendError::QueueFull) and closes the
    /// session: what was queued is dropped, the application sees
    /// [`CloseReason::TransportError`](super::CloseReason::TransportError)
    /// ("transport error"), a WebSocket gets close code 1008 (policy
    /// violation) with reason "send queue overflow", and
    /// [`EngineStats::queue_overflows`](super::EngineStats::queue_overflows)
    /// counts it. Volatile messages are dropped instead. A message alone in
    /// an empty queue is taken whatever its size. The WebSocket's own limit
    /// (`websocket.stream.max_send_queue`) is raised to it if lower.
    pub max_queued_bytes: usize,
    /// Most messages queued in one session's outbox (default 65 536), a
    /// second bound beside `max_queued_bytes` for the bookkeeping of many
    /// small messages; going over it closes the session in the same way.
    /// The outbox empties each time the session's task runs (on polling:
    /// at each poll).
    pub max_queued_messages: usize,
    /// Most concurrent sessions (default 100 000). A handshake past it is
    /// answered 503 with `{"code":4,"message":"Too many sessions"}`;
    /// open sessions are not affected.
    pub max_sessions: usize,
    /// Most concurrent sessions from one client IP address (default none:
    /// behind a proxy every client has the proxy's address). A handshake
    /// past it is answered 503 with
    /// `{"code":4,"message":"Too many sessions from this address"}`.
    /// Sessions served without a remote address (through
    /// [`EngineIo::handle`](super::EngineIo::handle) with `None`) are not
    /// counted. For TCP connections per address see
    /// [`HttpOptions::max_connections_per_ip`](super::HttpOptions::max_connections_per_ip).
    pub max_sessions_per_ip: Option<usize>,
    /// The inbound rate guard: most messages one session handles, per
    /// second on average and in a burst (default none, as the official
    /// server). Every message received counts (on WebSocket each
    /// WebSocket message, on polling each packet of a POST). A session
    /// over it is paused, not closed: it reads nothing more until its
    /// next message is due, so its client is slowed by TCP backpressure
    /// (on polling: its POST is answered once its packets are handled)
    /// and nothing it sent is lost. Its pings are answered late as well:
    /// keep the rate well above what a client needs within
    /// `ping_timeout`.
    pub max_inbound_rate: Option<InboundRate>,
    /// WebSocket settings (limits, compression; default: no compression,
    /// as the official server). For Node's `perMessageDeflate: true` set
    /// `deflate` to [`per_message_deflate()`] (threshold 1,024 bytes).
    pub websocket: socketeer_ws::ServerConfig,
    /// Pause after a frame sent with [`Socket::send_frame_flush`](super::Socket::send_frame_flush) (the
    /// Socket.IO CONNECT reply) before what follows it (default 5 ms): the
    /// official Node server leaves such a gap, and some clients rely on
    /// reading the reply on its own.
    pub handshake_write_gap: Duration,
    /// Let a session's handlers write broadcast frames straight to idle
    /// WebSocket sessions on plain TCP (default true). A frame queued for
    /// a session whose task sleeps with nothing to write is then written
    /// by the sending task at the end of its turn (one write per
    /// recipient for all it queued there), instead of waking the
    /// recipient's task to write it (a broadcast took 11–26% less CPU per
    /// delivery in the benchmarks of docs/bench.md). The writes happen on
    /// the sender's worker thread;
    /// with `false` each recipient's task writes its own frames, which
    /// other worker threads may take on.
    pub direct_writes: bool,
}

impl Default for EngineIoConfig {
    fn default() -> Self {
        let websocket = socketeer_ws::ServerConfig {
            deflate: None,
            ..Default::default()
        };
        EngineIoConfig {
            path: "/engine.io/".into(),
            ping_interval: Duration::from_millis(25_000),
            ping_timeout: Duration::from_millis(20_000),
            upgrade_timeout: Duration::from_millis(10_000),
            max_payload: 1_000_000,
            allow_polling: true,
            allow_websocket: true,
            allow_upgrades: true,
            cors: None,
            allow_request: None,
            allow_request_async: None,
            http_compression: Some(HttpCompression::default()),
            cookie: None,
            initial_headers: None,
            headers: None,
            connection_error: None,
            initial_packet: None,
            max_queued_bytes: 8 << 20,
            max_queued_messages: 65_536,
            max_sessions: 100_000,
            max_sessions_per_ip: None,
            max_inbound_rate: None,
            websocket,
            handshake_write_gap: Duration::from_millis(5),
            direct_writes: true,
        }
    }
}

impl std::fmt::Debug for EngineIoConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EngineIoConfig")
            .field("path", &self.path)
            .field("ping_interval", &self.ping_interval)
            .field("ping_timeout", &self.ping_timeout)
            .field("max_payload", &self.max_payload)
            .field("max_inbound_rate", &self.max_inbound_rate)
            .field("cors", &self.cors)
            .field("http_compression", &self.http_compression)
            .field("cookie", &self.cookie)
            .finish_non_exhaustive()
    }
}
