//! Engine.IO server integration tests: receive-side bounds. A request
//! head over `HttpOptions::max_header_bytes` (431). The other receive-side
//! bounds have their tests beside their transport: `server_flood.rs` for
//! the request-head timeout, `server_polling.rs` for 413,
//! `server_websocket.rs` for 1009. The fixture is in `support/mod.rs`.

mod support;

use std::time::Duration;

use socketeer_engineio::server::{serve_http_with, HttpOptions, DEFAULT_MAX_HEADER_BYTES};
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Sends a polling handshake whose head has a header of `filler` bytes;
/// the server's answer (what it sent before closing, or within 5 s).
async fn head_with(addr: std::net::SocketAddr, filler: usize) -> String {
    let mut tcp = TcpStream::connect(addr).await.expect("connect");
    let request = format!(
        "GET /engine.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: 127.0.0.1\r\n\
         X-Filler: {}\r\nConnection: close\r\n\r\n",
        "a".repeat(filler)
    );
    // The server may answer (and close) before it has read everything.
    let _ = tcp.write_all(request.as_bytes()).await;
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), tcp.read_to_end(&mut answer)).await;
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_heads_over_the_limit_get_431() {
    within(async {
        assert_eq!(HttpOptions::default().max_header_bytes, 64 << 10);
        let server = TestServer::start(calm()).await;
        // The default accept loop (`EngineIo::serve`): 64 KiB.
        let ok = head_with(server.addr, DEFAULT_MAX_HEADER_BYTES - 1024).await;
        assert!(ok.starts_with("HTTP/1.1 200"), "{ok:.200}");
        let big = head_with(server.addr, DEFAULT_MAX_HEADER_BYTES + 1).await;
        assert!(big.starts_with("HTTP/1.1 431"), "{big:.200}");

        // A lower limit of one's own.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let engine = server.engine.clone();
        let handler = move |req, remote| {
            let engine = engine.clone();
            async move { engine.handle(req, Some(remote)).await }
        };
        let options = HttpOptions {
            max_header_bytes: 16 << 10,
            ..HttpOptions::default()
        };
        let serve = tokio::spawn(async move {
            serve_http_with(listener, handler, std::future::pending(), &options).await
        });
        let ok = head_with(addr, 15 << 10).await;
        assert!(ok.starts_with("HTTP/1.1 200"), "{ok:.200}");
        let big = head_with(addr, 16 << 10).await;
        assert!(big.starts_with("HTTP/1.1 431"), "{big:.200}");
        // The server goes on.
        let (sid, _) = server.handshake().await;
        assert!(!sid.is_empty());
        serve.abort();
    })
    .await;
}
