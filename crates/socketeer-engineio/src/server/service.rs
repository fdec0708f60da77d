//! What answers the requests of a connection (`connection.rs`): any
//! handler closure of [`serve_http`](super::serve_http), an Engine.IO
//! server served alone ([`EngineIo::serve`]) or beside such a handler
//! ([`EngineIo::serve_mounted`]). The server answers the long-polls of
//! its sessions from their heads, without an `http::Request`.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response};

use super::body::RequestBody;
use super::engine::EngineIo;
use super::h1::Plain;
use super::response::{Body, Reply};

/// Answers the requests of a connection.
pub(super) trait Service: Clone + Send + Sync + 'static {
    /// Whether every plain request is to be built as an `http::Request`
    /// as its head is parsed ([`Plain::into_request`] then costs nothing).
    const BUILDS: bool;

    /// Answers a request hyper read.
    fn call(
        &self,
        req: Request<RequestBody>,
        remote: SocketAddr,
    ) -> impl Future<Output = Response<Body>> + Send + 'static;

    /// Answers a plain request read by the connection itself (`h1.rs`),
    /// its body whole.
    fn call_plain(
        &self,
        head: Plain,
        body: Bytes,
        remote: SocketAddr,
    ) -> impl Future<Output = Reply> + Send + 'static;
}

/// A handler closure as a [`Service`]: every request is built for it.
#[derive(Clone)]
pub(super) struct FnService<H>(pub(super) H);

impl<H, R> Service for FnService<H>
where
    H: Fn(Request<RequestBody>, SocketAddr) -> R + Clone + Send + Sync + 'static,
    R: Future<Output = Response<Body>> + Send + 'static,
{
    const BUILDS: bool = true;

    fn call(
        &self,
        req: Request<RequestBody>,
        remote: SocketAddr,
    ) -> impl Future<Output = Response<Body>> + Send + 'static {
        (self.0)(req, remote)
    }

    fn call_plain(
        &self,
        head: Plain,
        body: Bytes,
        remote: SocketAddr,
    ) -> impl Future<Output = Reply> + Send + 'static {
        // Built with the head when this service reads the connection
        // (`BUILDS`); built now inside `Mounted`, where `None` (a head
        // `http` refuses, which httparse's checks leave no room for) is
        // answered 400. Not an `async` block around the handler's future:
        // that would move it twice more per request, and keep it twice.
        match head.into_request() {
            Some(req) => Either::Left {
                inner: Whole {
                    inner: (self.0)(req.map(|()| RequestBody::read(body)), remote),
                },
            },
            None => Either::Right {
                inner: std::future::ready(Reply::Full(super::response::error(
                    super::response::EngineError::BadRequest,
                ))),
            },
        }
    }
}

/// An Engine.IO server served alone: a path outside its own gets 404.
#[derive(Clone)]
pub(super) struct Alone(pub(super) EngineIo);

impl Service for Alone {
    const BUILDS: bool = false;

    fn call(
        &self,
        req: Request<RequestBody>,
        remote: SocketAddr,
    ) -> impl Future<Output = Response<Body>> + Send + 'static {
        self.0.answer(req, Some(remote), true)
    }

    fn call_plain(
        &self,
        head: Plain,
        body: Bytes,
        remote: SocketAddr,
    ) -> impl Future<Output = Reply> + Send + 'static {
        self.0.answer_plain(head, body, Some(remote))
    }
}

/// An Engine.IO server at its path, and a handler closure for every other
/// request.
#[derive(Clone)]
pub(super) struct Mounted<H> {
    pub(super) engine: EngineIo,
    pub(super) others: FnService<H>,
}

impl<H, R> Service for Mounted<H>
where
    H: Fn(Request<RequestBody>, SocketAddr) -> R + Clone + Send + Sync + 'static,
    R: Future<Output = Response<Body>> + Send + 'static,
{
    // Built for the other requests only when asked (their heads are
    // parsed again then): the server's own are most of a busy server's.
    const BUILDS: bool = false;

    fn call(
        &self,
        req: Request<RequestBody>,
        remote: SocketAddr,
    ) -> impl Future<Output = Response<Body>> + Send + 'static {
        if self.engine.matches(req.uri().path()) {
            Either::Left {
                inner: self.engine.answer(req, Some(remote), false),
            }
        } else {
            Either::Right {
                inner: self.others.call(req, remote),
            }
        }
    }

    fn call_plain(
        &self,
        head: Plain,
        body: Bytes,
        remote: SocketAddr,
    ) -> impl Future<Output = Reply> + Send + 'static {
        if self.engine.matches(head.path()) {
            Either::Left {
                inner: self.engine.answer_plain(head, body, Some(remote)),
            }
        } else {
            Either::Right {
                inner: self.others.call_plain(head, body, remote),
            }
        }
    }
}

pin_project_lite::pin_project! {
    /// A handler's future, its response as a [`Reply`].
    struct Whole<F> {
        #[pin]
        inner: F,
    }
}

impl<F: Future<Output = Response<Body>>> Future for Whole<F> {
    type Output = Reply;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Reply> {
        self.project().inner.poll(cx).map(Reply::Full)
    }
}

pin_project_lite::pin_project! {
    /// One of two futures of the same output.
    #[project = EitherProj]
    enum Either<A, B> {
        Left { #[pin] inner: A },
        Right { #[pin] inner: B },
    }
}

impl<A, B, T> Future for Either<A, B>
where
    A: Future<Output = T>,
    B: Future<Output = T>,
{
    type Output = T;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        match self.project() {
            EitherProj::Left { inner } => inner.poll(cx),
            EitherProj::Right { inner } => inner.poll(cx),
        }
    }
}
