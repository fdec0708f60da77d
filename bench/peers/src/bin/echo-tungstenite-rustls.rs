//! `wss://` echo server on tokio-tungstenite behind tokio-rustls, the way a
//! typical user would put them together: `TlsAcceptor::accept`, then
//! `accept_async` on the TLS stream, then the stream half forwarded into the
//! sink half (text and binary messages only), as `echo-tungstenite` does.
//!
//! Usage: `TLS_CERT=cert.pem TLS_KEY=key.pem echo-tungstenite-rustls PORT`
//! (binds 127.0.0.1:PORT). The rustls settings are socketeer's (see
//! `bench_peers::tls_acceptor_from_env`).

use futures_util::{future, StreamExt, TryStreamExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_tungstenite::tungstenite;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    bench_peers::raise_fd_limit();
    let acceptor = bench_peers::tls_acceptor_from_env();
    let listener = TcpListener::bind(bench_peers::listen_addr_from_args()).await?;
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                eprintln!("accept failed: {e}");
                continue;
            }
        };
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            if let Err(e) = echo(acceptor, stream).await {
                eprintln!("connection error: {e}");
            }
        });
    }
}

/// The TLS handshake, the WebSocket handshake, then every data message
/// echoed until the peer closes.
async fn echo(acceptor: TlsAcceptor, stream: TcpStream) -> Result<(), tungstenite::Error> {
    stream.set_nodelay(true)?;
    let tls = acceptor.accept(stream).await?;
    let ws = tokio_tungstenite::accept_async(tls).await?;
    let (sink, source) = ws.split();
    source
        .try_filter(|msg| future::ready(msg.is_text() || msg.is_binary()))
        .forward(sink)
        .await
}
