//! WebSocket upgrades on a hyper 1.x server (and so in axum or any tower
//! stack built on hyper).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::BytesMut;
use http::{Request, Response};
use hyper::upgrade::{OnUpgrade, Upgraded};
use hyper_util::rt::TokioIo;

use crate::core::Protocol;
use crate::driver::{StreamConfig, WebSocketStream};
use crate::error::{Error, Result};
use crate::handshake::{self, HandshakeError};
use crate::server::ServerConfig;

/// A WebSocket over a hyper upgraded connection.
pub type HyperWebSocket = WebSocketStream<TokioIo<Upgraded>>;

/// Whether a request asks for a WebSocket upgrade.
pub fn is_upgrade_request<B>(req: &Request<B>) -> bool {
    let has = |name: &str, token: &str| {
        req.headers().get_all(name).iter().any(|v| {
            v.to_str()
                .map(|s| s.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
                .unwrap_or(false)
        })
    };
    has("upgrade", "websocket") && has("connection", "upgrade")
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
        Poll::Ready(Ok(WebSocketStream::from_parts(
            TokioIo::new(upgraded),
            proto,
            BytesMut::new(),
            this.config,
        )))
    }
}
