//! WebSocket upgrades on a hyper 1.x server (and so in axum or any tower
//! stack built on hyper).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::BytesMut;
use http::{Request, Response};
use hyper::upgrade::{OnUpgrade, Upgraded};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::core::Protocol;
use crate::direct::{DirectWriter, SharedTcpStream};
use crate::driver::{StreamConfig, WebSocketStream};
use crate::error::{Error, Result};
use crate::handshake::{self, HandshakeError};
use crate::io_enum::io_enum;
use crate::prefixed::Prefixed;
use crate::server::ServerConfig;

/// A WebSocket over a hyper upgraded connection.
pub type HyperWebSocket = WebSocketStream<UpgradedIo>;

/// The connection under a WebSocket accepted from hyper: the plain TCP
/// stream itself when hyper served one (then other tasks may write
/// prepared frames to it, see [`HyperWebSocket::direct_writer`]), else
/// hyper's upgraded connection (TLS, other transports).
#[derive(Debug)]
pub enum UpgradedIo {
    /// A plain TCP connection, taken back from hyper.
    Tcp(SharedTcpStream),
    /// Any other connection hyper upgraded.
    Hyper(TokioIo<Upgraded>),
}

impl UpgradedIo {
    /// Takes the TCP stream back from hyper when the connection is one
    /// (served as `TokioIo<TcpStream>`, as this crate's users and axum
    /// do); bytes hyper had read past the request are returned too.
    fn from_upgraded(upgraded: Upgraded) -> (Self, BytesMut) {
        let upgraded = match upgraded.downcast::<TokioIo<TcpStream>>() {
            Ok(parts) => {
                return (
                    UpgradedIo::Tcp(SharedTcpStream::new(parts.io.into_inner())),
                    BytesMut::from(parts.read_buf),
                )
            }
            Err(upgraded) => upgraded,
        };
        // A TCP stream handed to hyper after its first bytes were read
        // (socketeer-engineio's server): what is left of them comes first.
        match upgraded.downcast::<TokioIo<Prefixed<TcpStream>>>() {
            Ok(parts) => {
                let (prefix, tcp) = parts.io.into_inner().into_parts();
                let mut leftover = BytesMut::from(&prefix[..]);
                leftover.extend_from_slice(&parts.read_buf);
                (UpgradedIo::Tcp(SharedTcpStream::new(tcp)), leftover)
            }
            Err(upgraded) => (UpgradedIo::Hyper(TokioIo::new(upgraded)), BytesMut::new()),
        }
    }
}

io_enum!(UpgradedIo { Tcp, Hyper });

impl HyperWebSocket {
    /// A writer for prepared frames from another task, if the connection
    /// is plain TCP and accepts outside frames now
    /// ([`Protocol::accepts_outside_frames`]). Whoever lends it out must
    /// take it back before this stream is used again (see
    /// [`crate::direct`]).
    pub fn direct_writer(&self) -> Option<DirectWriter> {
        match self.get_ref() {
            UpgradedIo::Tcp(tcp) if self.protocol().accepts_outside_frames() => Some(tcp.writer()),
            _ => None,
        }
    }

    /// Whether the connection is plain TCP, so that
    /// [`direct_writer`](Self::direct_writer) may lend a writer.
    pub fn has_direct_writer(&self) -> bool {
        matches!(self.get_ref(), UpgradedIo::Tcp(_))
    }
}

/// Whether a request asks for a WebSocket upgrade.
pub fn is_upgrade_request<B>(req: &Request<B>) -> bool {
    // Names as constants: a `&str` name is parsed again on every lookup,
    // and every long-polling request asks this.
    let headers = req.headers();
    crate::handshake::header_has_token(headers, http::header::UPGRADE, "websocket")
        && crate::handshake::header_has_token(headers, http::header::CONNECTION, "upgrade")
}

/// Answers an upgrade request: returns the 101 response to send and a
/// future that yields the WebSocket once hyper hands over the connection.
///
/// On error, answer with [`rejection`] (status and reason).
pub fn upgrade<B, R: Default>(
    req: &mut Request<B>,
    config: &ServerConfig,
) -> Result<(Response<R>, UpgradeFuture), HandshakeError> {
    let head = {
        let mut b = Request::builder().method(req.method()).uri(req.uri());
        for (k, v) in req.headers() {
            b = b.header(k, v);
        }
        b.body(())
            .map_err(|e| HandshakeError::Malformed(e.to_string()))?
    };
    if let Some(hook) = &config.request_hook {
        hook(&head)?;
    }
    let accepted = handshake::accept(&head, &config.accept_config())?;
    let proto = config.protocol_for(&accepted);
    let on_upgrade = hyper::upgrade::on(req);
    let (parts, ()) = accepted.response.into_parts();
    Ok((
        Response::from_parts(parts, R::default()),
        UpgradeFuture {
            on_upgrade,
            proto: Some(proto),
            config: config.stream,
        },
    ))
}

/// The response for a refused upgrade: the error's status and its text.
pub fn rejection(err: &HandshakeError) -> Response<String> {
    let mut resp = Response::new(format!("{err}\n"));
    *resp.status_mut() = err.status();
    if err.status() == http::StatusCode::UPGRADE_REQUIRED {
        resp.headers_mut().insert(
            "sec-websocket-version",
            http::HeaderValue::from_static("13"),
        );
    }
    resp
}

/// Resolves to the WebSocket after the 101 response has been sent.
#[derive(Debug)]
pub struct UpgradeFuture {
    on_upgrade: OnUpgrade,
    proto: Option<Protocol>,
    config: StreamConfig,
}

impl Future for UpgradeFuture {
    type Output = Result<HyperWebSocket>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let upgraded = match Pin::new(&mut this.on_upgrade).poll(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(r) => r.map_err(|e| Error::Io(std::io::Error::other(e)))?,
        };
        let proto = this.proto.take().ok_or(Error::ConnectionClosed)?;
        let (io, leftover) = UpgradedIo::from_upgraded(upgraded);
        Poll::Ready(Ok(WebSocketStream::from_parts(
            io,
            proto,
            leftover,
            this.config,
        )))
    }
}
