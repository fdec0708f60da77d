//! The server of the conformance contract in DESIGN.md, for the official
//! Engine.IO / Socket.IO protocol test suites and the interop tests:
//! `cargo run --release --example conformance -- [PORT]` (default 3000).
//!
//! - `/engine.io/`: raw Engine.IO, every message echoed.
//! - `/socket.io/`: Socket.IO (not yet: answers 404 until that layer lands).

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use socketeer_engineio::server::{
    AllowOrigin, CloseReason, Cors, EngineHandler, EngineIo, EngineIoConfig, Socket,
};
use socketeer_engineio::Message;
use tokio::net::TcpListener;

struct Echo;

impl EngineHandler for Echo {
    fn on_connect(&self, _socket: &Socket) {}

    fn on_message(&self, socket: &Socket, message: Message) {
        let _ = socket.send(message);
    }

    fn on_disconnect(&self, _socket: &Socket, _reason: CloseReason) {}
}

fn contract_config(path: &str) -> EngineIoConfig {
    EngineIoConfig {
        path: path.into(),
        ping_interval: Duration::from_millis(300),
        ping_timeout: Duration::from_millis(200),
        max_payload: 1_000_000,
        cors: Some(Cors {
            origin: AllowOrigin::Any,
            credentials: false,
        }),
        ..Default::default()
    }
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let port: u16 = match std::env::args().nth(1) {
        Some(p) => p.parse().map_err(|_| {
            std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("bad port {p:?}"))
        })?,
        None => 3000,
    };
    let engine = EngineIo::new(contract_config("/engine.io/"), Arc::new(Echo));
    let listener = TcpListener::bind(("127.0.0.1", port)).await?;
    eprintln!(
        "conformance server listening on http://{}",
        listener.local_addr()?
    );
    loop {
        let (tcp, remote) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = tcp.set_nodelay(true);
        let engine = engine.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                let engine = engine.clone();
                async move {
                    if engine.matches(req.uri().path()) {
                        return Ok::<_, Infallible>(engine.handle(req, Some(remote)).await);
                    }
                    let mut not_found = Response::new(http_body_util::Full::new(
                        bytes::Bytes::from_static(b"not found"),
                    ));
                    *not_found.status_mut() = StatusCode::NOT_FOUND;
                    Ok(not_found)
                }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(tcp), service)
                .with_upgrades()
                .await;
        });
    }
}
