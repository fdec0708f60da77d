//! Mounting a Socket.IO server in a tower stack (axum, hyper): a
//! [`SocketIoLayer`] answers requests under the server's path and passes
//! every other request to the wrapped service.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Either;

use super::io::SocketIo;

/// A tower layer that puts a [`SocketIo`] server in front of a service.
#[derive(Debug, Clone)]
pub struct SocketIoLayer {
    io: SocketIo,
}

impl SocketIoLayer {
    /// A layer serving `io` at its configured path.
    pub fn new(io: SocketIo) -> Self {
        SocketIoLayer { io }
    }
}

impl<S> tower_layer::Layer<S> for SocketIoLayer {
    type Service = SocketIoService<S>;

    fn layer(&self, inner: S) -> SocketIoService<S> {
        SocketIoService {
            io: self.io.clone(),
            inner,
        }
    }
}

/// The service made by [`SocketIoLayer`]: Socket.IO requests go to the
/// server, the rest to `inner`. Its responses carry either body.
///
/// The client's address is taken from an `SocketAddr` request extension
/// when one is present (axum's `ConnectInfo` layer, or your own).
#[derive(Debug, Clone)]
pub struct SocketIoService<S> {
    io: SocketIo,
    inner: S,
}

impl<S> SocketIoService<S> {
    /// Wraps `inner` with `io` without going through a layer.
    pub fn new(io: SocketIo, inner: S) -> Self {
        SocketIoService { io, inner }
    }
}

/// What [`SocketIoService`] answers with.
pub type EitherResponse<B> = Response<Either<super::Body, B>>;

impl<S, ReqBody, ResBody> tower_service::Service<Request<ReqBody>> for SocketIoService<S>
where
    S: tower_service::Service<Request<ReqBody>, Response = Response<ResBody>>,
    S::Future: Send + 'static,
    ReqBody: http_body::Body<Data = Bytes> + Send + 'static,
    ReqBody::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Response = EitherResponse<ResBody>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        if self.io.matches(req.uri().path()) {
            let remote = req.extensions().get::<SocketAddr>().copied();
            let resp = self.io.handle(req, remote);
            return Box::pin(async move { Ok(resp.await.map(Either::Left)) });
        }
        let fut = self.inner.call(req);
        Box::pin(async move { Ok(fut.await?.map(Either::Right)) })
    }
}

/// A service answering 404 to everything, for a server with no other
/// routes: `SocketIoService::new(io, NotFound)`.
#[derive(Debug, Clone, Copy, Default)]
pub struct NotFound;

impl<B> tower_service::Service<Request<B>> for NotFound {
    type Response = Response<super::Body>;
    type Error = Infallible;
    type Future = std::future::Ready<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: Request<B>) -> Self::Future {
        let mut resp = Response::new(super::Body::new(Bytes::from_static(b"not found")));
        *resp.status_mut() = http::StatusCode::NOT_FOUND;
        std::future::ready(Ok(resp))
    }
}
