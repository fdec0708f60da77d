//! WebSocket echo server written the way a typical fastwebsockets user would:
//! hyper 1 serves the HTTP/1.1 upgrade request, `fastwebsockets::upgrade`
//! answers it, and a spawned task runs the `FragmentCollector`
//! `read_frame`/`write_frame` loop (unconstrained by tokio's co-operative
//! budget, as in the crate's own echo server example).
//!
//! Usage: `echo-fastwebsockets PORT` (binds 127.0.0.1:PORT). The worker count
//! follows `TOKIO_WORKER_THREADS`, as for any `#[tokio::main]` program.

use fastwebsockets::upgrade::{upgrade, UpgradeFut};
use fastwebsockets::{FragmentCollector, OpCode, WebSocketError};
use http_body_util::Empty;
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    bench_peers::raise_fd_limit();
    let listener = TcpListener::bind(bench_peers::listen_addr_from_args()).await?;
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                // Typically EMFILE; keep serving the connections we have.
                eprintln!("accept failed: {e}");
                continue;
            }
        };
        stream.set_nodelay(true)?;
        tokio::spawn(async move {
            let connection = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service_fn(handle_upgrade))
                .with_upgrades();
            if let Err(e) = connection.await {
                eprintln!("http error: {e}");
            }
        });
    }
}

/// Answers the upgrade request and spawns the echo loop for the upgraded stream.
async fn handle_upgrade(
    mut request: Request<Incoming>,
) -> Result<Response<Empty<Bytes>>, WebSocketError> {
    let (response, upgraded) = upgrade(&mut request)?;
    tokio::spawn(async move {
        if let Err(e) = tokio::task::unconstrained(echo(upgraded)).await {
            eprintln!("connection error: {e}");
        }
    });
    Ok(response)
}

/// Echoes every complete text or binary message until the peer closes.
/// Pings and closes are answered by fastwebsockets itself (auto-pong and
/// auto-close are on by default).
async fn echo(upgraded: UpgradeFut) -> Result<(), WebSocketError> {
    let mut ws = FragmentCollector::new(upgraded.await?);
    loop {
        let frame = ws.read_frame().await?;
        match frame.opcode {
            OpCode::Close => return Ok(()),
            OpCode::Text | OpCode::Binary => ws.write_frame(frame).await?,
            _ => {}
        }
    }
}
