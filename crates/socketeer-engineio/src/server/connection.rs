//! Serving one HTTP/1.1 connection: its plain requests here (`h1.rs`:
//! long-polling and handshakes, most of what a server answers, whose
//! body came with its head), the first request that is not plain (a
//! WebSocket upgrade, a body still arriving, ...) and everything after it
//! on the same connection by hyper.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;

use bytes::{Bytes, BytesMut};
use http::Request;
use socketeer_ws::prefixed::Prefixed;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::watch;
use tokio::time::{Instant, Sleep};

use super::body::RequestBody;
use super::h1::{self, Head};
use super::response::Reply;
use super::service::Service;

/// The bounds of a request head, from [`HttpOptions`](super::HttpOptions).
#[derive(Debug, Clone, Copy)]
pub(super) struct HeadLimits {
    pub(super) timeout: std::time::Duration,
    pub(super) max_bytes: usize,
}

/// What a connection keeps between requests, at least.
const READ_CHUNK: usize = 4096;

/// Serves HTTP/1.1 on one connection until it closes, or, once `stop`
/// turns true, until the request in progress is answered.
// Not an `async fn`: see the comment on the block.
#[allow(clippy::manual_async_fn)]
pub(super) fn serve_connection<T, S>(
    mut stream: T,
    remote: SocketAddr,
    service: S,
    mut stop: watch::Receiver<bool>,
    head: HeadLimits,
) -> impl Future<Output = ()> + Send
where
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    S: Service,
{
    // An async block, not an `async fn`: the future of an `async fn`
    // keeps each argument twice (as it came, and moved into the body),
    // about 100 bytes of every connection here.
    async move {
        // No buffer until the client sends something (`read_into`).
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        let mut timer = HeadTimer::new(head.timeout);
        loop {
            // A request head, in the time allowed from when the connection
            // started waiting for it.
            timer.start();
            let parsed = loop {
                match h1::parse_head(&buf, head.max_bytes, S::BUILDS) {
                    Head::Request(parsed) => break parsed,
                    Head::Elsewhere => {
                        return to_hyper(buf, stream, remote, service, stop, head).await;
                    }
                    Head::Partial => {}
                }
                tokio::select! {
                    biased;
                    read = read_into(&mut stream, &mut buf) => match read {
                        Ok(0) | Err(_) => return,
                        Ok(_) => {}
                    },
                    // At shutdown an idle connection closes; one in the
                    // middle of a head gets to finish its request.
                    () = stopped(&mut stop), if buf.is_empty() => return,
                    () = timer.expired() => {
                        tracing::debug!(%remote, "request head timed out");
                        return;
                    }
                }
            };
            let (head_len, body_len, close) = (parsed.head_len, parsed.body_len, parsed.close);
            if buf.len() < head_len + body_len {
                // A body still on its way: hyper streams it to the handler,
                // which sees the request from its head on, as the official
                // server does (a second POST meanwhile fails the session).
                // Clients send a small body with its head: this is rare.
                return to_hyper(buf, stream, remote, service, stop, head).await;
            }
            let response = {
                let mut request = buf.split_to(head_len + body_len);
                let body = request.split_off(head_len).freeze();
                service.call_plain(h1::Plain::new(parsed, request), body, remote)
            };
            // A long-poll may wait for minutes, and a keep-alive connection
            // idle between requests as long: neither keeps a read buffer
            // meanwhile (`read_into` reads what the client sends through the
            // stack). The buffer goes to this thread's spares, where the next
            // head read takes it: a request answered at once costs no
            // allocation.
            if buf.is_empty() {
                let empty = std::mem::take(&mut buf);
                // Not one that held a large request: it still shares the
                // request's allocation (with its head and body), which it
                // would keep.
                if head_len + body_len <= READ_CHUNK {
                    spare::give(empty);
                }
            }
            // Pinned here, not moved into `answer` (an argument of an async
            // fn is kept in its future beside the local it is moved to), in
            // a block: the connection's future keeps room for it across
            // this one await only.
            let answered = {
                let response = std::pin::pin!(response);
                answer(&mut stream, &mut buf, response, &head).await
            };
            let Some(reply) = answered else {
                // The client went away first: its request is dropped (a
                // long-poll whose client left fails its session, as with hyper).
                return;
            };
            let mut close = close || *stop.borrow();
            out.clear();
            match reply {
                Reply::Text(body) => h1::write_text(&body, close, &mut out),
                Reply::Full(response) => {
                    let (parts, body) = response.into_parts();
                    let body: Bytes = match super::body::whole(body).await {
                        Ok(bytes) => bytes,
                        Err(never) => match never {},
                    };
                    close = close || h1::closes(&parts.headers);
                    h1::write_response(parts.status, &parts.headers, &body, close, &mut out);
                }
            }
            if stream.write_all(&out).await.is_err() || stream.flush().await.is_err() {
                return;
            }
            if out.capacity() > 4 * READ_CHUNK {
                out = Vec::new();
            }
            if close {
                let _ = stream.shutdown().await;
                return;
            }
        }
    }
}

/// Runs the handler's future while watching the connection: `None` if
/// the client closed it first. What the client sends meanwhile (its next
/// request, pipelined) waits in `buf`, up to a head and a body.
async fn answer<T, R>(
    stream: &mut T,
    buf: &mut BytesMut,
    mut response: Pin<&mut R>,
    head: &HeadLimits,
) -> Option<Reply>
where
    T: AsyncRead + Unpin,
    R: Future<Output = Reply>,
{
    let room = head.max_bytes + h1::MAX_BODY;
    loop {
        tokio::select! {
            biased;
            r = &mut response => return Some(r),
            read = read_into(stream, buf), if buf.len() < room => match read {
                Ok(0) | Err(_) => return None,
                Ok(_) => {}
            },
        }
    }
}

/// Reads what the client sends next into `buf`: the next part of a
/// request head, or, while a request is answered, a pipelined request or
/// the end of the connection. A connection that waits holds no read buffer
/// (for its next request, or for a long-poll's answer): while `buf` is
/// empty, bytes come through the stack (`poll_read_through`). The rest of
/// a head, or a body sent with it, is read into `buf` directly.
fn read_into<'a, T>(
    stream: &'a mut T,
    buf: &'a mut BytesMut,
) -> impl Future<Output = std::io::Result<usize>> + 'a
where
    T: AsyncRead + Unpin,
{
    std::future::poll_fn(move |cx| {
        if buf.is_empty() {
            return poll_read_through(stream, buf, cx);
        }
        buf.reserve(READ_CHUNK);
        std::pin::pin!(stream.read_buf(&mut *buf)).poll(cx)
    })
}

/// Reads once through a buffer on the stack (never kept in a connection's
/// future) and appends what came to `buf`, which takes a buffer then (a
/// spare one if this thread has it) if it has none.
fn poll_read_through<T: AsyncRead + Unpin>(
    stream: &mut T,
    buf: &mut BytesMut,
    cx: &mut std::task::Context<'_>,
) -> std::task::Poll<std::io::Result<usize>> {
    // Not initialised: it would be zeroed on every poll, and most polls
    // read nothing or a few hundred bytes.
    let mut chunk = [std::mem::MaybeUninit::<u8>::uninit(); READ_CHUNK];
    let mut read = tokio::io::ReadBuf::uninit(&mut chunk);
    std::task::ready!(Pin::new(stream).poll_read(cx, &mut read))?;
    let filled = read.filled();
    if !filled.is_empty() {
        if buf.capacity() == 0 {
            *buf = spare::take();
            buf.reserve(READ_CHUNK);
        }
        buf.extend_from_slice(filled);
    }
    std::task::Poll::Ready(Ok(filled.len()))
}

/// Read buffers of connections that wait (for a long-poll's answer, or
/// for their next request), kept for the next head read on the same
/// thread: a bounded number, so that a fleet of waiting connections holds
/// no buffers beyond them.
mod spare {
    use std::cell::RefCell;

    use bytes::BytesMut;

    /// Most buffers kept per thread.
    const KEPT: usize = 64;
    /// Largest buffer kept.
    const LARGEST: usize = 4 * super::READ_CHUNK;

    thread_local! {
        static SPARE: RefCell<Vec<BytesMut>> = const { RefCell::new(Vec::new()) };
    }

    /// A buffer to read a head into: a spare one, or a new empty one.
    pub(super) fn take() -> BytesMut {
        SPARE.with(|s| s.borrow_mut().pop()).unwrap_or_default()
    }

    /// Keeps an empty buffer for a later head read (or frees it).
    pub(super) fn give(buf: BytesMut) {
        debug_assert!(buf.is_empty());
        SPARE.with(|s| {
            let mut spare = s.borrow_mut();
            if spare.len() < KEPT && buf.capacity() > 0 && buf.capacity() <= LARGEST {
                spare.push(buf);
            }
        });
    }
}

/// Resolves once `stop` is true (or its sender is gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    // The Ref wait_for yields is not Send: drop it at once.
    let _ = stop.wait_for(|stopped| *stopped).await;
}

/// The time limit on a request head. One timer per connection, moved
/// only when its deadline falls more than a tenth of the limit short of
/// the one wanted: a connection that sends a request every millisecond
/// re-arms it about once per tenth of the limit, not per request (hyper
/// arms a new one per request). A head therefore gets between 0.9 and 1
/// times the limit.
struct HeadTimer {
    limit: std::time::Duration,
    slack: std::time::Duration,
    started: Instant,
    sleep: Option<Pin<Box<Sleep>>>,
}

impl HeadTimer {
    fn new(limit: std::time::Duration) -> Self {
        HeadTimer {
            limit,
            slack: limit / 10,
            started: Instant::now(),
            sleep: None,
        }
    }

    /// The connection starts waiting for a head.
    fn start(&mut self) {
        self.started = Instant::now();
    }

    /// Resolves when the head's time is up. The timer only ever goes off
    /// for the head it waits for: it is set within a tenth of that head's
    /// deadline, and a head that arrives in time is never awaited again.
    async fn expired(&mut self) {
        let due = self.started + self.limit;
        let sleep = self
            .sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(due)));
        // Deadlines only move later: one that is close enough is kept.
        if sleep.deadline() + self.slack < due {
            sleep.as_mut().reset(due);
        }
        sleep.as_mut().await;
    }
}

/// Hands the connection to hyper with the bytes already read (`buf`),
/// which serves the rest of it. Boxed: hyper's connection state is
/// large, and a connection task that held it inline would be over twice
/// as large for the whole life of the connection, hyper or not
/// (long-polling connections keep theirs between requests).
fn to_hyper<T, S>(
    buf: BytesMut,
    stream: T,
    remote: SocketAddr,
    service: S,
    mut stop: watch::Receiver<bool>,
    head: HeadLimits,
) -> Pin<Box<impl Future<Output = ()>>>
where
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    S: Service,
{
    let stream = Prefixed::new(buf.freeze(), stream);
    let service = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
        // A clone per request (an `Arc`'s count): the answer's future
        // borrows its service, and hyper wants it apart from the closure.
        let service = service.clone();
        async move {
            let response = service.call(req.map(RequestBody::hyper), remote).await;
            Ok::<_, std::convert::Infallible>(response)
        }
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(head.timeout)
        .max_header_size(head.max_bytes)
        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
        .with_upgrades();
    Box::pin(async move {
        let mut conn = std::pin::pin!(conn);
        tokio::select! {
            _ = conn.as_mut() => {}
            () = stopped(&mut stop) => {
                conn.as_mut().graceful_shutdown();
                let _ = conn.await;
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_connection_task_is_small_with_hyper_boxed() {
        let (_far, near) = tokio::io::duplex(64);
        let (_stop_tx, stop) = watch::channel(false);
        let handler = |_: Request<RequestBody>, _: SocketAddr| async {
            super::super::response::empty(http::StatusCode::OK)
        };
        let limits = HeadLimits {
            timeout: Duration::from_secs(1),
            max_bytes: 8192,
        };
        let service = super::super::service::FnService(handler);
        let task = serve_connection(near, ([127, 0, 0, 1], 1).into(), service, stop, limits);
        // 824 bytes when measured (696 before the handler's requests
        // were boxed with their heads); hyper's state inline made it 1,712.
        let size = std::mem::size_of_val(&task);
        assert!(size < 1024, "a connection task takes {size} bytes");
    }

    struct Nothing;

    impl super::super::EngineHandler for Nothing {
        fn on_connect(&self, _: &super::super::Socket) {}
        fn on_message(&self, _: &super::super::Socket, _: crate::Payload) {}
        fn on_disconnect(&self, _: &super::super::Socket, _: super::super::CloseReason) {}
    }

    /// A connection carries the future of the request it serves, and that
    /// future is moved whole on its way there: an engine's request future
    /// must stay small. Measured here: 712 bytes (the same from a request
    /// head, `answer_plain`), and 1,400 for the connection's future (1,432
    /// when it was an `async fn`). In a release build of `EngineIo::serve`
    /// they were 2,328 and 5,256 (`-Zprint-type-sizes`) when routing was
    /// an `async fn` and `answer` held the future as an argument besides.
    #[test]
    fn an_engine_request_future_is_small() {
        let engine = super::super::EngineIo::new(Default::default(), std::sync::Arc::new(Nothing));
        let request = Request::new(RequestBody::read(Bytes::new()));
        let future = engine.answer(request, None, true);
        let size = std::mem::size_of_val(&future);
        assert!(size <= 768, "a request's future takes {size} bytes");
        let text = "GET /engine.io/?EIO=4&transport=polling HTTP/1.1\r\n\r\n";
        let Head::Request(parsed) = h1::parse_head(text.as_bytes(), 1024, false) else {
            panic!("a plain head");
        };
        let plain = h1::Plain::new(parsed, BytesMut::from(text));
        let future = engine.answer_plain(plain, Bytes::new(), None);
        let size = std::mem::size_of_val(&future);
        assert!(
            size <= 768,
            "a request's future from its head takes {size} bytes"
        );
        let (_far, near) = tokio::io::duplex(64);
        let (_stop_tx, stop) = watch::channel(false);
        let service = super::super::service::Alone(engine);
        let limits = HeadLimits {
            timeout: Duration::from_secs(1),
            max_bytes: 8192,
        };
        let task = serve_connection(near, ([127, 0, 0, 1], 1).into(), service, stop, limits);
        let size = std::mem::size_of_val(&task);
        assert!(size <= 1536, "a connection task takes {size} bytes");
    }
}
