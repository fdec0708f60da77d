//! A WebSocket echo server: text and binary messages are sent back as
//! received; permessage-deflate is offered. The target of the Autobahn
//! test suite and of the WebSocket benchmarks.
//!
//! `cargo run --release --example echo -- [PORT]` (default 9001), binds
//! 127.0.0.1. `TOKIO_WORKER_THREADS` sets the number of worker threads
//! (1: tokio's current-thread scheduler). With `TLS_CERT` and `TLS_KEY`
//! (PEM files) it serves `wss://` instead, with socketeer's rustls settings
//! (`ReloadableCert`: ring, TLS 1.2 and 1.3, ALPN `http/1.1`).
//!
//! permessage-deflate is accepted with the default settings (a client's
//! requests for smaller windows or no context takeover are honoured). The
//! environment can change them: `DEFLATE=0` declines compression;
//! `DEFLATE_WINDOW_BITS=N` bounds both windows to 2^N bytes (9..=15) and
//! `DEFLATE_NO_CONTEXT_TAKEOVER=1` imposes no context takeover both ways,
//! whatever the client offers; `DEFLATE_KEEP_WINDOW_ONLY=1` keeps only the
//! LZ77 windows between messages (`DeflateConfig::keep_window_only`);
//! `DEFLATE_LEVEL=N` sets the zlib level (0..=9; socketeer's default is 1,
//! zlib's own 6).

use std::sync::OnceLock;

use socketeer_engineio::server::ReloadableCert;
use socketeer_ws::deflate::DeflateConfig;
use socketeer_ws::{accept_with_config, Message, ServerConfig};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;

fn config() -> &'static ServerConfig {
    static CONFIG: OnceLock<ServerConfig> = OnceLock::new();
    CONFIG.get_or_init(|| ServerConfig {
        deflate: deflate_config(),
        ..ServerConfig::default()
    })
}

/// The permessage-deflate settings from the environment (see above).
fn deflate_config() -> Option<DeflateConfig> {
    let var = |name: &str| std::env::var(name).ok().map(|v| v.trim().to_string());
    if var("DEFLATE").as_deref() == Some("0") {
        return None;
    }
    let mut config = DeflateConfig::default();
    if let Some(bits) = var("DEFLATE_WINDOW_BITS").and_then(|v| v.parse::<u8>().ok()) {
        config.server_max_window_bits = bits;
        config.client_max_window_bits = bits;
    }
    config.keep_window_only = var("DEFLATE_KEEP_WINDOW_ONLY").as_deref() == Some("1");
    if let Some(level) = var("DEFLATE_LEVEL").and_then(|v| v.parse::<u32>().ok()) {
        config.compression_level = level;
    }
    if var("DEFLATE_NO_CONTEXT_TAKEOVER").as_deref() == Some("1") {
        config.server_no_context_takeover = true;
        config.client_no_context_takeover = true;
    }
    Some(config)
}

async fn serve(tcp: TcpStream, tls: Option<TlsAcceptor>) {
    let _ = tcp.set_nodelay(true);
    match tls {
        None => echo(tcp).await,
        // Boxed: a TLS stream is kilobytes, and an unboxed branch would
        // size the task of every plain connection to fit it (idle ws://
        // connections cost 5,046 bytes each instead of 1,448).
        Some(acceptor) => Box::pin(serve_tls(tcp, acceptor)).await,
    }
}

async fn serve_tls(tcp: TcpStream, acceptor: TlsAcceptor) {
    // Read ahead under rustls, as socketeer's own server does.
    match acceptor
        .accept(socketeer_ws::read_ahead::ReadAhead::new(tcp))
        .await
    {
        Ok(stream) => echo(stream).await,
        Err(e) => tracing::debug!(error = %e, "TLS handshake failed"),
    }
}

async fn echo<S: AsyncRead + AsyncWrite + Unpin>(io: S) {
    // Boxed so the handshake's state does not size every idle connection.
    let mut ws = match Box::pin(accept_with_config(io, config())).await {
        Ok(conn) => conn.ws,
        Err(e) => {
            tracing::debug!(error = %e, "handshake failed");
            return;
        }
    };
    while let Some(msg) = ws.recv().await {
        match msg {
            // Queued only: replies leave in one write when the stream next
            // waits for input.
            Ok(m @ (Message::Text(_) | Message::Binary(_))) => {
                if ws.feed(m).await.is_err() {
                    break;
                }
            }
            Ok(_) => {}
            Err(e) => {
                tracing::debug!(error = %e, "connection ended");
                break;
            }
        }
    }
}

fn main() -> std::io::Result<()> {
    // One worker: the current-thread scheduler, which skips the
    // work-stealing machinery a single worker does not need.
    let one_worker = std::env::var("TOKIO_WORKER_THREADS").is_ok_and(|v| v.trim() == "1");
    let runtime = if one_worker {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?
    };
    runtime.block_on(run())
}

async fn run() -> std::io::Result<()> {
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
        None => 9001,
    };
    let tls = match (std::env::var_os("TLS_CERT"), std::env::var_os("TLS_KEY")) {
        (Some(cert), Some(key)) => Some(
            ReloadableCert::from_pem_files(cert, key)
                .and_then(|c| c.acceptor())
                .map_err(std::io::Error::other)?,
        ),
        _ => None,
    };
    let listener = TcpListener::bind(("127.0.0.1", port)).await?;
    let scheme = if tls.is_some() { "wss" } else { "ws" };
    eprintln!(
        "echo server listening on {scheme}://{}",
        listener.local_addr()?
    );
    loop {
        match listener.accept().await {
            Ok((tcp, _)) => {
                tokio::spawn(serve(tcp, tls.clone()));
            }
            Err(e) => {
                // Out of file descriptors or similar: back off, keep serving.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        }
    }
}
