//! Client handshake and `ws://` / `wss://` connections.

use std::time::Duration;

use bytes::BytesMut;
use http::Response;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::core::{Limits, Protocol};
use crate::deflate::PerMessageDeflate;
use crate::driver::{StreamConfig, WebSocketStream};
use crate::error::{Error, Result};
use crate::handshake::{
    self, ClientConfig, HandshakeError, Negotiated, WsUrl, DEFAULT_MAX_HEADER_SIZE,
};
use crate::io_enum::io_enum;
use crate::role::Role;

/// Everything a client decides about its connection.
#[derive(Clone, Default)]
pub struct ConnectOptions {
    /// Subprotocols, headers and compression offered.
    pub handshake: ClientConfig,
    /// Frame and message size limits.
    pub limits: Limits,
    /// Driver settings.
    pub stream: StreamConfig,
    /// Time allowed for TCP, TLS and the handshake (default 10 s when
    /// `None`).
    pub timeout: Option<Duration>,
    /// TLS settings for `wss://`; `None` uses the webpki root store.
    #[cfg(feature = "tls")]
    pub tls: Option<std::sync::Arc<rustls::ClientConfig>>,
}

impl std::fmt::Debug for ConnectOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectOptions")
            .field("handshake", &self.handshake)
            .field("limits", &self.limits)
            .field("stream", &self.stream)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// A TCP stream, or TLS over one.
#[derive(Debug)]
pub enum MaybeTlsStream {
    /// `ws://`.
    Plain(TcpStream),
    /// `wss://`. The TCP stream is read ahead ([`ReadAhead`]): rustls
    /// alone reads 4 KiB per system call.
    ///
    /// [`ReadAhead`]: crate::read_ahead::ReadAhead
    #[cfg(feature = "tls")]
    Tls(Box<tokio_rustls::client::TlsStream<crate::read_ahead::ReadAhead<TcpStream>>>),
}

io_enum!(MaybeTlsStream {
    Plain,
    #[cfg(feature = "tls")]
    Tls,
});

/// Connects to a `ws://` or `wss://` URL with default options.
pub async fn connect(url: &str) -> Result<(WebSocketStream<MaybeTlsStream>, Response<()>)> {
    connect_with_options(url, &ConnectOptions::default()).await
}

/// Connects to a `ws://` or `wss://` URL.
pub async fn connect_with_options(
    url: &str,
    options: &ConnectOptions,
) -> Result<(WebSocketStream<MaybeTlsStream>, Response<()>)> {
    let url = WsUrl::parse(url)?;
    let timeout = options.timeout.unwrap_or(Duration::from_secs(10));
    let fut = async {
        let tcp = TcpStream::connect((url.host.as_str(), url.port)).await?;
        tcp.set_nodelay(true)?;
        let io = if url.tls {
            tls_connect(tcp, &url, options).await?
        } else {
            MaybeTlsStream::Plain(tcp)
        };
        client_handshake(io, &url, options).await
    };
    tokio::time::timeout(timeout, fut)
        .await
        .map_err(|_| HandshakeError::Timeout)?
}

#[cfg(feature = "tls")]
async fn tls_connect(
    tcp: TcpStream,
    url: &WsUrl,
    options: &ConnectOptions,
) -> Result<MaybeTlsStream> {
    use std::sync::Arc;
    let config = match &options.tls {
        Some(c) => c.clone(),
        None => {
            let roots = rustls::RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
            };
            Arc::new(
                rustls::ClientConfig::builder_with_provider(Arc::new(
                    rustls::crypto::ring::default_provider(),
                ))
                .with_safe_default_protocol_versions()
                .map_err(|e| std::io::Error::other(e.to_string()))?
                .with_root_certificates(roots)
                .with_no_client_auth(),
            )
        }
    };
    let name = rustls::pki_types::ServerName::try_from(url.host.clone())
        .map_err(|_| HandshakeError::Url(url.host.clone()))?;
    let tls = tokio_rustls::TlsConnector::from(config)
        .connect(name, crate::read_ahead::ReadAhead::new(tcp))
        .await?;
    Ok(MaybeTlsStream::Tls(Box::new(tls)))
}

#[cfg(not(feature = "tls"))]
async fn tls_connect(_: TcpStream, _: &WsUrl, _: &ConnectOptions) -> Result<MaybeTlsStream> {
    Err(HandshakeError::Url("wss:// needs the `tls` feature".into()).into())
}

/// Performs the client handshake over an established transport.
pub async fn client_handshake<S>(
    mut io: S,
    url: &WsUrl,
    options: &ConnectOptions,
) -> Result<(WebSocketStream<S>, Response<()>)>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let key = handshake::generate_key();
    let request = handshake::client_request(url, &key, &options.handshake);
    io.write_all(&request).await?;
    io.flush().await?;
    let mut buf = BytesMut::with_capacity(1024);
    let (response, len) = loop {
        if let Some(r) = handshake::parse_response(&buf, DEFAULT_MAX_HEADER_SIZE)? {
            break r;
        }
        buf.reserve(1024);
        if io.read_buf(&mut buf).await? == 0 {
            return Err(Error::Handshake(HandshakeError::Eof));
        }
    };
    let _ = buf.split_to(len);
    let Negotiated { deflate, .. } =
        handshake::validate_response(&response, &key, &options.handshake)?;
    let mut proto = Protocol::with_limits(Role::Client, options.limits);
    if let (Some(params), Some(dc)) = (deflate, &options.handshake.deflate) {
        proto.set_deflate(PerMessageDeflate::new(Role::Client, params, dc));
    }
    Ok((
        WebSocketStream::from_parts(io, proto, buf, options.stream),
        response,
    ))
}
