//! A WebSocket echo server: text and binary messages are sent back as
//! received; permessage-deflate is offered. The target of the Autobahn
//! test suite and of the WebSocket benchmarks.
//!
//! `cargo run --release --example echo -- [PORT]` (default 9001), binds
//! 127.0.0.1. `TOKIO_WORKER_THREADS` sets the number of worker threads
//! (1: tokio's current-thread scheduler).
//!
//! permessage-deflate is accepted with the default settings (a client's
//! requests for smaller windows or no context takeover are honoured). The
//! environment can change them: `DEFLATE=0` declines compression;
//! `DEFLATE_WINDOW_BITS=N` bounds both windows to 2^N bytes (9..=15) and
//! `DEFLATE_NO_CONTEXT_TAKEOVER=1` imposes no context takeover both ways,
//! whatever the client offers; `DEFLATE_KEEP_WINDOW_ONLY=1` keeps only the
//! LZ77 windows between messages (`DeflateConfig::keep_window_only`).

use std::sync::OnceLock;

use socketeer_ws::deflate::DeflateConfig;
use socketeer_ws::{accept_with_config, Message, ServerConfig};
use tokio::net::{TcpListener, TcpStream};

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
    if var("DEFLATE_NO_CONTEXT_TAKEOVER").as_deref() == Some("1") {
        config.server_no_context_takeover = true;
        config.client_no_context_takeover = true;
    }
    Some(config)
}

async fn serve(tcp: TcpStream) {
    let _ = tcp.set_nodelay(true);
    // Boxed so the handshake's state does not size every idle connection.
    let mut ws = match Box::pin(accept_with_config(tcp, config())).await {
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
    let listener = TcpListener::bind(("127.0.0.1", port)).await?;
    eprintln!("echo server listening on ws://{}", listener.local_addr()?);
    loop {
        match listener.accept().await {
            Ok((tcp, _)) => {
                tokio::spawn(serve(tcp));
            }
            Err(e) => {
                // Out of file descriptors or similar: back off, keep serving.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        }
    }
}
