//! WebSocket echo server on sockudo-ws, the way its documentation shows:
//! the handshake through `sockudo_ws::handshake`, then the
//! `WebSocketStream` (its corked, vectored writer) split into its stream
//! and sink halves, with the data messages forwarded from one to the other
//! (`forward` flushes only when no more input is ready, as for the
//! tungstenite peer).
//!
//! With `DEFLATE=1` in the environment, a client's permessage-deflate offer
//! is accepted with sockudo-ws's own negotiation (`parse_deflate_offer`,
//! `DeflateConfig::from_params`: its defaults, zlib level 6, for what the
//! offer leaves open) and the connection is a `CompressedWebSocketStream`.
//!
//! Usage: `echo-sockudo PORT` (binds 127.0.0.1:PORT). The worker count
//! follows `TOKIO_WORKER_THREADS`, as for any `#[tokio::main]` program.

use bytes::BytesMut;
use futures_util::{future, StreamExt, TryStreamExt};
use sockudo_ws::deflate::parse_deflate_offer;
use sockudo_ws::handshake::{build_response, generate_accept_key, parse_request};
use sockudo_ws::protocol::Message;
use sockudo_ws::{CompressedWebSocketStream, Config, DeflateConfig, WebSocketStream};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

#[tokio::main]
async fn main() -> std::io::Result<()> {
    bench_peers::raise_fd_limit();
    let deflate = std::env::var("DEFLATE").is_ok_and(|v| v.trim() == "1");
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
            if let Err(e) = echo(stream, deflate).await {
                eprintln!("connection error: {e}");
            }
        });
    }
}

/// Answers the opening handshake, then echoes every data message until the
/// peer closes.
async fn echo(mut stream: TcpStream, deflate: bool) -> sockudo_ws::Result<()> {
    stream.set_nodelay(true)?;
    let mut head = BytesMut::with_capacity(4096);
    loop {
        if stream.read_buf(&mut head).await? == 0 {
            return Err(sockudo_ws::Error::ConnectionClosed);
        }
        if let Some((request, _)) = parse_request(&head)? {
            let accepted = match (deflate, request.extensions) {
                (true, Some(offer)) => parse_deflate_offer(offer)
                    .map(|params| DeflateConfig::from_params(&params))
                    .transpose()?,
                _ => None,
            };
            let extensions = accepted.as_ref().map(DeflateConfig::to_response_header);
            let response = build_response(
                &generate_accept_key(request.key),
                None,
                extensions.as_deref(),
            );
            stream.write_all(&response).await?;
            if let Some(config) = accepted {
                let ws = CompressedWebSocketStream::server(stream, Config::default(), config);
                let (sink, source) = StreamExt::split(ws);
                return source
                    .try_filter(|msg| {
                        future::ready(matches!(msg, Message::Text(_) | Message::Binary(_)))
                    })
                    .forward(sink)
                    .await;
            }
            break;
        }
    }
    let ws = WebSocketStream::server(stream, Config::default());
    // The futures split (sockudo-ws has a split of its own, for two tasks).
    let (sink, source) = StreamExt::split(ws);
    source
        .try_filter(|msg| future::ready(matches!(msg, Message::Text(_) | Message::Binary(_))))
        .forward(sink)
        .await
}
