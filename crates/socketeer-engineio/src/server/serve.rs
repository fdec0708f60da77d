//! Running the server on a listener: [`EngineIo::serve`],
//! [`EngineIo::serve_with_shutdown`], [`EngineIo::serve_mounted`] and the
//! generic accept loop [`serve_http`].

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http::header::{HeaderValue, CONNECTION};
use http::{Request, Response, StatusCode};
use tokio::sync::{mpsc, Semaphore};

use super::accept::{AcceptBackoff, PerIp};
use super::body::RequestBody;
use super::connection::{serve_connection, HeadLimits};
use super::engine::EngineIo;
use super::response::{json, Body};
use super::service::{Alone, FnService, Mounted, Service};

impl EngineIo {
    /// Serves this Engine.IO server alone on `listener` (see
    /// [`serve_http`]) until
    /// the listener fails. Other paths get 404.
    pub async fn serve(self, listener: tokio::net::TcpListener) -> std::io::Result<()> {
        self.serve_with_shutdown(listener, std::future::pending())
            .await
    }

    /// Serves this Engine.IO server alone on `listener` until `signal`
    /// completes; then stops accepting, closes every session ("server
    /// shutting down", WebSocket close 1001), answers new handshakes with
    /// 503 and waits (up to 10 s) for open HTTP requests to finish.
    pub async fn serve_with_shutdown(
        self,
        listener: tokio::net::TcpListener,
        signal: impl std::future::Future<Output = ()>,
    ) -> std::io::Result<()> {
        let service = Alone(self.clone());
        let shutdown = async move {
            signal.await;
            self.shutdown();
        };
        let options = HttpOptions {
            drain: Duration::from_secs(10),
            ..HttpOptions::default()
        };
        accept_loop(listener, service, shutdown, &options).await
    }

    /// Serves this Engine.IO server at its path and `handler` for every
    /// other request (a web app's pages beside its Socket.IO server), with
    /// the accept loop of [`serve_http_with`] and `options`, until
    /// `signal` completes; then shuts the server down as
    /// [`EngineIo::serve_with_shutdown`] does and drains the connections.
    ///
    /// What [`serve_http_with`] with a handler that calls
    /// [`EngineIo::handle`] for the server's path does, at less cost per
    /// request: a long-poll or POST of a known session is routed from its
    /// head, without an `http::Request` built (about 14% of a Socket.IO
    /// server's instructions per message over long-polling); the heads of
    /// the handler's requests are parsed twice instead (about a thousand
    /// instructions each).
    ///
    /// ```no_run
    /// use http::{Response, StatusCode};
    /// use socketeer_engineio::server::{Body, EngineIo, HttpOptions};
    ///
    /// # async fn run(engine: EngineIo) -> std::io::Result<()> {
    /// let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    /// let pages = |_req, _remote| async {
    ///     let mut not_found = Response::new(Body::from("no such page"));
    ///     *not_found.status_mut() = StatusCode::NOT_FOUND;
    ///     not_found
    /// };
    /// let ctrl_c = async {
    ///     let _ = tokio::signal::ctrl_c().await;
    /// };
    /// engine
    ///     .serve_mounted(listener, pages, ctrl_c, &HttpOptions::default())
    ///     .await
    /// # }
    /// ```
    pub async fn serve_mounted<H, R, S>(
        self,
        listener: tokio::net::TcpListener,
        handler: H,
        signal: S,
        options: &HttpOptions,
    ) -> std::io::Result<()>
    where
        H: Fn(Request<RequestBody>, SocketAddr) -> R + Clone + Send + Sync + 'static,
        R: std::future::Future<Output = Response<Body>> + Send + 'static,
        S: std::future::Future<Output = ()>,
    {
        let service = Mounted {
            engine: self.clone(),
            others: FnService(handler),
        };
        let shutdown = async move {
            signal.await;
            self.shutdown();
        };
        accept_loop(listener, service, shutdown, options).await
    }
}

/// How [`serve_http_with`] accepts and serves connections. Every field
/// bounds something a peer could otherwise hold open.
#[derive(Clone)]
pub struct HttpOptions {
    /// Most TCP connections open at once (default 10,000): past it the
    /// accept loop waits for one to end before accepting the next (new
    /// peers wait in the listen backlog; nothing is refused). A
    /// connection stops counting once upgraded (to a WebSocket): the
    /// session limits (`EngineIoConfig::max_sessions`, `max_sessions_per_ip`)
    /// bound those.
    pub max_connections: usize,
    /// Most TCP connections open at once from one client IP address
    /// (default none: behind a proxy every client has the proxy's
    /// address). A connection past it is still accepted, but each of its
    /// requests is answered 503 with
    /// `{"code":4,"message":"Too many connections from this address"}`
    /// and the connection is closed (over TLS it is closed at once); the
    /// address's other connections are not affected. As for
    /// `max_connections`, upgraded connections do not count.
    pub max_connections_per_ip: Option<usize>,
    /// Time for a request head to arrive (default 10 s), the WebSocket
    /// handshake's included: a slow client is dropped, not waited for.
    pub header_read_timeout: Duration,
    /// Time for a TLS handshake to complete (default 10 s), counted from
    /// the accept: a client that connects and sends nothing, or only part
    /// of its hello, is disconnected when it runs out. Each handshake runs
    /// in the connection's own task, so slow ones never hold up the
    /// accept loop. Only used with `tls`.
    pub tls_handshake_timeout: Duration,
    /// Most bytes in a request head, request line included (default
    /// 16 KiB, [`DEFAULT_MAX_HEADER_BYTES`]): a longer head is answered
    /// 431 (Request Header Fields Too Large) and its connection closed.
    /// So is a head of more than 100 header fields.
    pub max_header_bytes: usize,
    /// After shutdown, how long open HTTP connections get to finish
    /// (default 10 s).
    pub drain: Duration,
    /// Serves `https://` (and `wss://`) with this rustls acceptor (feature
    /// `tls`). [`ReloadableCert::acceptor`](super::ReloadableCert::acceptor)
    /// makes one whose certificate can be renewed while serving, with ALPN
    /// `http/1.1`; an acceptor of one's own should set
    /// `alpn_protocols` to `http/1.1` alone as well (nothing else is
    /// served).
    #[cfg(feature = "tls")]
    pub tls: Option<tokio_rustls::TlsAcceptor>,
}

/// The default [`HttpOptions::max_header_bytes`]: 16 KiB, as Node's
/// `maxHeaderSize` and socketeer-ws's own server
/// (`ServerConfig::max_header_size`).
pub const DEFAULT_MAX_HEADER_BYTES: usize = 16 << 10;

impl Default for HttpOptions {
    fn default() -> Self {
        HttpOptions {
            max_connections: 10_000,
            max_connections_per_ip: None,
            header_read_timeout: Duration::from_secs(10),
            tls_handshake_timeout: Duration::from_secs(10),
            max_header_bytes: DEFAULT_MAX_HEADER_BYTES,
            drain: Duration::from_secs(10),
            #[cfg(feature = "tls")]
            tls: None,
        }
    }
}

impl std::fmt::Debug for HttpOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut d = f.debug_struct("HttpOptions");
        d.field("max_connections", &self.max_connections)
            .field("max_connections_per_ip", &self.max_connections_per_ip)
            .field("header_read_timeout", &self.header_read_timeout)
            .field("tls_handshake_timeout", &self.tls_handshake_timeout)
            .field("max_header_bytes", &self.max_header_bytes)
            .field("drain", &self.drain);
        #[cfg(feature = "tls")]
        d.field("tls", &self.tls.is_some());
        d.finish()
    }
}

/// Accepts HTTP/1.1 connections (with upgrades) on `listener` and answers
/// each request with `handler`, until `shutdown` completes. Plain requests
/// (`GET`, `POST`, `OPTIONS` whose body, if any, came whole with its head:
/// the long-polling requests) are read and answered by socketeer itself;
/// the first request of a connection that is not plain (a WebSocket
/// upgrade, a streamed or large body, ...) and the rest of that
/// connection are served by hyper. The handler gets both kinds as a
/// [`RequestBody`]. Then it stops
/// accepting, asks every open connection to end after its current request
/// and waits up to `drain` for them. Upgraded connections (WebSockets) are
/// no longer HTTP connections: the server that owns them closes them (as
/// [`EngineIo::shutdown`] does). [`serve_http_with`] with the default
/// [`HttpOptions`] but `drain`.
///
/// ```no_run
/// use socketeer_engineio::server::{serve_http, EngineIo};
///
/// # async fn run(engine: EngineIo) -> std::io::Result<()> {
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
/// let handler = move |req, remote| {
///     let engine = engine.clone();
///     async move { engine.handle(req, Some(remote)).await }
/// };
/// let ctrl_c = async {
///     let _ = tokio::signal::ctrl_c().await;
/// };
/// serve_http(listener, handler, ctrl_c, std::time::Duration::from_secs(10)).await
/// # }
/// ```
pub async fn serve_http<H, R, S>(
    listener: tokio::net::TcpListener,
    handler: H,
    shutdown: S,
    drain: Duration,
) -> std::io::Result<()>
where
    H: Fn(Request<RequestBody>, SocketAddr) -> R + Clone + Send + Sync + 'static,
    R: std::future::Future<Output = Response<Body>> + Send + 'static,
    S: std::future::Future<Output = ()>,
{
    let options = HttpOptions {
        drain,
        ..HttpOptions::default()
    };
    serve_http_with(listener, handler, shutdown, &options).await
}

/// The accept loop of every socketeer server: [`serve_http`] with
/// connection caps (in all and per client IP), request-head and TLS
/// handshake timeouts and optional TLS, as `options` says. While `accept`
/// fails for want of resources (`EMFILE`, `ENFILE`, `ENOMEM`, ...) it
/// waits 10 ms, doubling up to 1 s, and logs a warning; a failure that
/// concerns one pending connection only (`ECONNABORTED`, ...) is retried
/// at once.
pub async fn serve_http_with<H, R, S>(
    listener: tokio::net::TcpListener,
    handler: H,
    shutdown: S,
    options: &HttpOptions,
) -> std::io::Result<()>
where
    H: Fn(Request<RequestBody>, SocketAddr) -> R + Clone + Send + Sync + 'static,
    R: std::future::Future<Output = Response<Body>> + Send + 'static,
    S: std::future::Future<Output = ()>,
{
    accept_loop(listener, FnService(handler), shutdown, options).await
}

/// [`serve_http_with`] with any [`Service`].
async fn accept_loop<V, S>(
    listener: tokio::net::TcpListener,
    service: V,
    shutdown: S,
    options: &HttpOptions,
) -> std::io::Result<()>
where
    V: Service,
    S: std::future::Future<Output = ()>,
{
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    // Each connection task holds a clone; recv() returns None once all
    // have ended.
    let (alive_tx, mut alive_rx) = mpsc::channel::<()>(1);
    let permits = Arc::new(Semaphore::new(options.max_connections.max(1)));
    let per_ip = PerIp::default();
    let mut backoff = AcceptBackoff::default();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            () = &mut shutdown => break,
            p = permits.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
        };
        let (tcp, remote) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(c) => {
                    backoff.succeeded();
                    c
                }
                Err(e) => {
                    // Out of file descriptors and the like: wait (the
                    // peer stays in the listen backlog), then go on.
                    let delay = backoff.failed(&e);
                    tokio::select! {
                        () = &mut shutdown => break,
                        () = tokio::time::sleep(delay) => continue,
                    }
                }
            },
        };
        let _ = tcp.set_nodelay(true);
        let slot = match options.max_connections_per_ip {
            Some(max) => match per_ip.enter(remote.ip(), max) {
                Some(slot) => Some(slot),
                None => {
                    tracing::debug!(%remote, "too many connections from this address");
                    #[cfg(feature = "tls")]
                    if options.tls.is_some() {
                        continue;
                    }
                    let stop = stop_rx.clone();
                    let alive = alive_tx.clone();
                    let head = HeadLimits::of(options);
                    tokio::spawn(async move {
                        let _permit = permit;
                        serve_connection(tcp, remote, FnService(too_many), stop, head).await;
                        drop(alive);
                    });
                    continue;
                }
            },
            None => None,
        };
        let service = service.clone();
        let stop = stop_rx.clone();
        let alive = alive_tx.clone();
        let head = HeadLimits::of(options);
        #[cfg(feature = "tls")]
        let tls = options.tls.clone();
        #[cfg(feature = "tls")]
        let tls_timeout = options.tls_handshake_timeout;
        // The TLS handshake too runs in the connection's task: the loop
        // goes back to accepting at once. A task of its own type: a
        // plain connection's task does not carry the TLS state's size.
        #[cfg(feature = "tls")]
        if let Some(acceptor) = tls {
            tokio::spawn(async move {
                let _permit = permit;
                let _slot = slot;
                // Read ahead under rustls, which asks for 4 KiB at a time:
                // one `recvfrom` per batch of records, not four per record.
                let tcp = socketeer_ws::read_ahead::ReadAhead::new(tcp);
                // Taken out of the handshake's result before it is served:
                // a `match` on that result would keep it (the TLS stream's
                // size again) beside the connection for its whole life.
                let Some(stream) =
                    (match tokio::time::timeout(tls_timeout, acceptor.accept(tcp)).await {
                        Ok(Ok(stream)) => Some(stream),
                        Ok(Err(e)) => {
                            tracing::debug!(%remote, error = %e, "TLS handshake failed");
                            None
                        }
                        Err(_) => {
                            tracing::debug!(%remote, "TLS handshake timed out");
                            None
                        }
                    })
                else {
                    drop(alive);
                    return;
                };
                serve_connection(stream, remote, service, stop, head).await;
                drop(alive);
            });
            continue;
        }
        tokio::spawn(async move {
            let _permit = permit;
            let _slot = slot;
            serve_connection(tcp, remote, service, stop, head).await;
            drop(alive);
        });
    }
    drop(listener);
    let _ = stop_tx.send(true);
    drop(alive_tx);
    if tokio::time::timeout(options.drain, alive_rx.recv())
        .await
        .is_err()
    {
        tracing::warn!(drain = ?options.drain, "connections still open after the drain timeout");
    }
    Ok(())
}

/// The answer to every request on a connection past
/// [`HttpOptions::max_connections_per_ip`]: 503, then the connection
/// closes. (Over TLS the connection is closed at once: no TLS handshake
/// is spent on it.)
async fn too_many(_: Request<RequestBody>, _: SocketAddr) -> Response<Body> {
    let mut resp = json(
        StatusCode::SERVICE_UNAVAILABLE,
        "{\"code\":4,\"message\":\"Too many connections from this address\"}",
    );
    resp.headers_mut()
        .insert(CONNECTION, HeaderValue::from_static("close"));
    resp
}

impl HeadLimits {
    fn of(options: &HttpOptions) -> Self {
        HeadLimits {
            timeout: options.header_read_timeout,
            max_bytes: options.max_header_bytes,
        }
    }
}
