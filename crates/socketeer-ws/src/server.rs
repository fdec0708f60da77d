//! Server handshake over any `AsyncRead + AsyncWrite` (e.g. a `TcpStream`).

use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use http::Request;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::core::{Limits, Protocol};
use crate::deflate::{DeflateConfig, PerMessageDeflate};
use crate::driver::{StreamConfig, WebSocketStream};
use crate::error::{Error, Result};
use crate::handshake::{self, AcceptConfig, HandshakeError, DEFAULT_MAX_HEADER_SIZE};
use crate::role::Role;

/// A hook that inspects each upgrade request (its `Origin`, cookies, path)
/// and may refuse it with [`HandshakeError::Rejected`].
pub type RequestHook = Arc<dyn Fn(&Request<()>) -> Result<(), HandshakeError> + Send + Sync>;

/// Everything a server decides about its connections.
#[derive(Clone)]
pub struct ServerConfig {
    /// Subprotocols spoken, in order of preference.
    pub subprotocols: Vec<String>,
    /// permessage-deflate settings; `None` declines compression
    /// (default: offered with [`DeflateConfig::default`]).
    pub deflate: Option<DeflateConfig>,
    /// Frame and message size limits.
    pub limits: Limits,
    /// Driver settings: send queue, close timeout, keepalive.
    pub stream: StreamConfig,
    /// Time allowed for the whole opening handshake (default 10 s).
    pub handshake_timeout: Duration,
    /// Bound on the request head (default 16 KiB; over it: 431).
    pub max_header_size: usize,
    /// Optional request check, e.g. of the `Origin` header.
    pub request_hook: Option<RequestHook>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            subprotocols: Vec::new(),
            deflate: Some(DeflateConfig::default()),
            limits: Limits::default(),
            stream: StreamConfig::default(),
            handshake_timeout: Duration::from_secs(10),
            max_header_size: DEFAULT_MAX_HEADER_SIZE,
            request_hook: None,
        }
    }
}

impl std::fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerConfig")
            .field("subprotocols", &self.subprotocols)
            .field("deflate", &self.deflate)
            .field("limits", &self.limits)
            .field("stream", &self.stream)
            .field("handshake_timeout", &self.handshake_timeout)
            .field("max_header_size", &self.max_header_size)
            .field("request_hook", &self.request_hook.is_some())
            .finish()
    }
}

impl ServerConfig {
    /// Builds the protocol state for an accepted handshake.
    pub fn protocol_for(&self, accepted: &handshake::Accepted) -> Protocol {
        let mut proto = Protocol::with_limits(Role::Server, self.limits);
        if let (Some(params), Some(dc)) = (accepted.deflate, &self.deflate) {
            proto.set_deflate(PerMessageDeflate::new(Role::Server, params, dc));
        }
        proto
    }

    /// The handshake-level part of this config.
    pub fn accept_config(&self) -> AcceptConfig {
        AcceptConfig {
            subprotocols: self.subprotocols.clone(),
            deflate: self.deflate.clone(),
        }
    }
}

/// A connection after a successful server handshake.
#[derive(Debug)]
pub struct ServerConnection<S> {
    /// The WebSocket.
    pub ws: WebSocketStream<S>,
    /// The upgrade request, for the application to inspect.
    pub request: Request<()>,
    /// The subprotocol chosen.
    pub subprotocol: Option<String>,
}

/// Accepts a WebSocket handshake on `io` with default settings.
pub async fn accept<S>(io: S) -> Result<WebSocketStream<S>>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    Ok(accept_with_config(io, &ServerConfig::default()).await?.ws)
}

/// Accepts a WebSocket handshake on `io`. Bad requests are answered with
/// the matching HTTP status and a plain-text reason before the error is
/// returned; a handshake over `handshake_timeout` is dropped.
pub async fn accept_with_config<S>(mut io: S, config: &ServerConfig) -> Result<ServerConnection<S>>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let head = tokio::time::timeout(config.handshake_timeout, read_request(&mut io, config)).await;
    let (request, leftover) = match head {
        Ok(Ok(r)) => r,
        Ok(Err(Error::Handshake(e))) => return Err(refuse(&mut io, e).await),
        Ok(Err(e)) => return Err(e),
        Err(_) => return Err(refuse(&mut io, HandshakeError::Timeout).await),
    };
    if let Some(hook) = &config.request_hook {
        if let Err(e) = hook(&request) {
            return Err(refuse(&mut io, e).await);
        }
    }
    let accepted = match handshake::accept(&request, &config.accept_config()) {
        Ok(a) => a,
        Err(e) => return Err(refuse(&mut io, e).await),
    };
    let mut out = Vec::with_capacity(256);
    handshake::write_response(&accepted.response, &mut out);
    let write = async {
        io.write_all(&out).await?;
        io.flush().await
    };
    tokio::time::timeout(config.handshake_timeout, write)
        .await
        .map_err(|_| HandshakeError::Timeout)??;
    let proto = config.protocol_for(&accepted);
    Ok(ServerConnection {
        ws: WebSocketStream::from_parts(io, proto, leftover, config.stream),
        request,
        subprotocol: accepted.subprotocol,
    })
}

/// Writes the error response (best effort, bounded) and returns the error.
async fn refuse<S: AsyncWrite + Unpin>(io: &mut S, e: HandshakeError) -> Error {
    tracing::debug!(error = %e, "refusing WebSocket handshake");
    let resp = handshake::error_response(&e);
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        io.write_all(&resp).await?;
        io.shutdown().await
    })
    .await;
    Error::Handshake(e)
}

async fn read_request<S: AsyncRead + Unpin>(
    io: &mut S,
    config: &ServerConfig,
) -> Result<(Request<()>, BytesMut)> {
    let mut buf = BytesMut::with_capacity(1024);
    loop {
        if let Some((req, len)) = handshake::parse_request(&buf, config.max_header_size)? {
            let _ = buf.split_to(len);
            return Ok((req, buf));
        }
        if buf.len() > config.max_header_size {
            return Err(HandshakeError::HeaderTooLarge(config.max_header_size).into());
        }
        buf.reserve(1024);
        if io.read_buf(&mut buf).await? == 0 {
            return Err(HandshakeError::Eof.into());
        }
    }
}
