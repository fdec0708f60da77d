//! Running the server on a listener: [`EngineIo::serve`],
//! [`EngineIo::serve_with_shutdown`] and the generic accept loop
//! [`serve_http`].

use std::net::SocketAddr;
use std::time::Duration;

use http::{Request, Response, StatusCode};
use tokio::sync::mpsc;

use super::engine::EngineIo;
use super::response::{text, Body};

impl EngineIo {
    /// Serves this Engine.IO server alone on `listener` with hyper until
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
        let engine = self.clone();
        let handler = move |req: Request<hyper::body::Incoming>, remote: SocketAddr| {
            let engine = engine.clone();
            async move {
                if !engine.matches(req.uri().path()) {
                    return text(StatusCode::NOT_FOUND, "not found");
                }
                engine.handle(req, Some(remote)).await
            }
        };
        let shutdown = async move {
            signal.await;
            self.shutdown();
        };
        serve_http(listener, handler, shutdown, Duration::from_secs(10)).await
    }
}

/// Accepts HTTP/1.1 connections (with upgrades) on `listener` and answers
/// each request with `handler`, until `shutdown` completes. Then it stops
/// accepting, asks every open connection to end after its current request
/// and waits up to `drain` for them. Upgraded connections (WebSockets) are
/// no longer HTTP connections: the server that owns them closes them (as
/// [`EngineIo::shutdown`] does).
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
    H: Fn(Request<hyper::body::Incoming>, SocketAddr) -> R + Clone + Send + Sync + 'static,
    R: std::future::Future<Output = Response<Body>> + Send + 'static,
    S: std::future::Future<Output = ()>,
{
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    // Each connection task holds a clone; recv() returns None once all
    // have ended.
    let (alive_tx, mut alive_rx) = mpsc::channel::<()>(1);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (tcp, remote) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(c) => c,
                Err(e) => {
                    // Out of file descriptors and the like: wait, go on.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = tcp.set_nodelay(true);
        let handler = handler.clone();
        let mut stop = stop_rx.clone();
        let alive = alive_tx.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let response = handler(req, remote);
                async move { Ok::<_, std::convert::Infallible>(response.await) }
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(tcp), service)
                .with_upgrades();
            let mut conn = std::pin::pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => {}
                // The Ref wait_for yields is not Send: drop it at once.
                () = async { let _ = stop.wait_for(|stopped| *stopped).await; } => {
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.await;
                }
            }
            drop(alive);
        });
    }
    drop(listener);
    let _ = stop_tx.send(true);
    drop(alive_tx);
    if tokio::time::timeout(drain, alive_rx.recv()).await.is_err() {
        tracing::warn!(?drain, "connections still open after the drain timeout");
    }
    Ok(())
}
