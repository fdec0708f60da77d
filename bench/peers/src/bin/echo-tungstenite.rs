//! WebSocket echo server written the way a typical tokio-tungstenite user
//! would: `accept_async` per connection, then the stream half forwarded into
//! the sink half, keeping only text and binary messages.
//!
//! Usage: `echo-tungstenite PORT` (binds 127.0.0.1:PORT). The worker count
//! follows `TOKIO_WORKER_THREADS`, as for any `#[tokio::main]` program.

use futures_util::{future, StreamExt, TryStreamExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite;

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
async fn echo(stream: TcpStream) -> Result<(), tungstenite::Error> {
    stream.set_nodelay(true)?;
    let ws = tokio_tungstenite::accept_async(stream).await?;
    let (sink, source) = ws.split();
    source
        .try_filter(|msg| future::ready(msg.is_text() || msg.is_binary()))
        .forward(sink)
        .await
}
