//! Engine.IO server integration tests: receive-side bounds. A request
//! head over `HttpOptions::max_header_bytes` (431), and the inbound
//! rate guard (`EngineIoConfig::max_inbound_rate`) on both transports: a
//! session over its rate is paced, loses nothing and still writes, and
//! other sessions are not held back. The other receive-side
//! bounds have their tests beside their transport: `server_flood.rs` for
//! the request-head timeout, `server_polling.rs` for 413,
//! `server_websocket.rs` for 1009. The fixture is in `support/mod.rs`.

mod support;

use std::time::{Duration, Instant};

use socketeer_engineio::server::{
    serve_http_with, EngineIoConfig, HttpOptions, InboundRate, DEFAULT_MAX_HEADER_BYTES,
};
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
        assert_eq!(HttpOptions::default().max_header_bytes, 16 << 10);
        let server = TestServer::start(calm()).await;
        // The default accept loop (`EngineIo::serve`): 16 KiB.
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
            max_header_bytes: 4 << 10,
            ..HttpOptions::default()
        };
        let serve = tokio::spawn(async move {
            serve_http_with(listener, handler, std::future::pending(), &options).await
        });
        let ok = head_with(addr, 3 << 10).await;
        assert!(ok.starts_with("HTTP/1.1 200"), "{ok:.200}");
        let big = head_with(addr, 4 << 10).await;
        assert!(big.starts_with("HTTP/1.1 431"), "{big:.200}");
        // The server goes on.
        let (sid, _) = server.handshake().await;
        assert!(!sid.is_empty());
        serve.abort();
    })
    .await;
}

/// A slow rate: 100 messages per second, 10 at once.
fn paced() -> EngineIoConfig {
    EngineIoConfig {
        max_inbound_rate: Some(InboundRate {
            per_second: 100,
            burst: 10,
        }),
        ..calm()
    }
}

/// A POST of 110 packets is handled at the rate (the burst, then 100 a
/// second: at least a second) and answered once all are handled, in
/// order; another session's POST meanwhile is answered at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn polling_post_over_the_rate_is_paced_and_loses_nothing() {
    within(async {
        let mut server = TestServer::start(paced()).await;
        let (sid, _) = server.handshake().await;
        let (other, _) = server.handshake().await;
        let body: Vec<String> = (0..110).map(|i| format!("4m{i}")).collect();
        let body = body.join("\u{1e}");
        let addr = server.addr;
        let path = server.polling(&sid);
        let started = Instant::now();
        let paced_post = tokio::spawn(async move {
            let r = post(addr, &path, body).await;
            (r, started.elapsed())
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        let t = Instant::now();
        server.post_ok(&other, "4other").await;
        let other_took = t.elapsed();
        assert!(
            !paced_post.is_finished(),
            "the paced POST was answered before another session's ({other_took:?})"
        );
        let (r, took) = step("the paced POST", paced_post).await.unwrap();
        assert_eq!(r.text(), "ok", "{r:?}");
        println!(
            "110 packets at 100/s (burst 10) in {took:?}; another session's POST in {other_took:?}"
        );
        assert!(took >= Duration::from_millis(1_000), "{took:?}");
        let mut got = Vec::new();
        while got.len() < 110 {
            let (from, m) = server
                .event("a message", |e| match e {
                    Event::Message(from, m) => Some((from.clone(), m.clone())),
                    _ => None,
                })
                .await;
            if from == sid {
                got.push(m);
            }
        }
        let expected: Vec<_> = (0..110).map(|i| text(&format!("m{i}"))).collect();
        assert_eq!(got, expected);
        server.assert_alive(&sid);
    })
    .await;
}

/// A WebSocket session over its rate reads at the rate, loses nothing,
/// and still writes while it does not read: with 1 message per second
/// and a burst of 2, the echoes of the first two come at once, the third
/// a second later.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_over_the_rate_is_paced_and_still_writes() {
    within(async {
        let config = EngineIoConfig {
            max_inbound_rate: Some(InboundRate {
                per_second: 1,
                burst: 2,
            }),
            ..calm()
        };
        let server = TestServer::start(config).await;
        let (mut ws, _) = server.websocket().await;
        // The handshake spent nothing: the burst is whole.
        let started = Instant::now();
        ws.send_text_batch(["4a", "4b", "4c"].map(String::from));
        assert_eq!(ws.message().await, text("a"));
        assert_eq!(ws.message().await, text("b"));
        let two = started.elapsed();
        assert_eq!(ws.message().await, text("c"));
        let three = started.elapsed();
        println!("echoes of a burst of 2 in {two:?}, the third in {three:?}");
        assert!(two < Duration::from_millis(700), "{two:?}");
        assert!(three >= Duration::from_millis(900), "{three:?}");
    })
    .await;
}
