//! WebSocket echo server on tokio-websockets, the way its documentation
//! shows: `ServerBuilder::accept` per connection, then the stream half
//! forwarded into the sink half, keeping only text and binary messages
//! (`forward` flushes only when no more input is ready, as for the
//! tungstenite peer).
//!
//! Usage: `echo-tokio-websockets PORT` (binds 127.0.0.1:PORT). The worker
//! count follows `TOKIO_WORKER_THREADS`, as for any `#[tokio::main]`
//! program.

use futures_util::{future, StreamExt, TryStreamExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_websockets::ServerBuilder;

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
        tokio::spawn(async move {
            if let Err(e) = echo(stream).await {
                eprintln!("connection error: {e}");
            }
        });
    }
}

/// Performs the server handshake, then echoes every data message until the
/// peer closes.
async fn echo(stream: TcpStream) -> Result<(), tokio_websockets::Error> {
    stream.set_nodelay(true)?;
    let (_request, ws) = ServerBuilder::new().accept(stream).await?;
    let (sink, source) = ws.split();
    source
        .try_filter(|msg| future::ready(msg.is_text() || msg.is_binary()))
        .forward(sink)
        .await
}
