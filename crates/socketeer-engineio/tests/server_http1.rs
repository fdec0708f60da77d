//! Engine.IO server integration tests: the server's own HTTP/1.1 path.
//! Plain requests are answered without hyper, on keep-alive connections,
//! pipelined or not; a request that is not plain (a body still arriving,
//! a WebSocket upgrade) hands the connection to hyper, which serves it
//! and the requests after it. Requests written by hand on raw TCP, so
//! that the bytes arrive as each test needs.
//! The fixture is in `support/mod.rs`.

mod support;

use std::time::Duration;

use socketeer_engineio::server::{EngineIoConfig, Socket};
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// One response read off `tcp`: the head (lower-cased) and the body.
async fn response(tcp: &mut TcpStream, pending: &mut Vec<u8>) -> (String, String) {
    step("a response", async {
        loop {
            if let Some(end) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&pending[..end]).to_lowercase();
                let len = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length: "))
                    .map_or(0, |v| v.trim().parse::<usize>().expect("a length"));
                if pending.len() >= end + 4 + len {
                    let body = String::from_utf8_lossy(&pending[end + 4..end + 4 + len]).into();
                    pending.drain(..end + 4 + len);
                    return (head, body);
                }
            }
            let mut chunk = [0u8; 4096];
            let n = tcp.read(&mut chunk).await.expect("read");
            assert!(n > 0, "closed after {:?}", String::from_utf8_lossy(pending));
            pending.extend_from_slice(&chunk[..n]);
        }
    })
    .await
}

/// A polling handshake on `tcp`, answered by the server's own path (a
/// `Date`, the content type): the session id.
async fn handshake_on(tcp: &mut TcpStream, pending: &mut Vec<u8>) -> String {
    tcp.write_all(b"GET /engine.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("write");
    let (head, body) = response(tcp, pending).await;
    assert!(head.starts_with("http/1.1 200 ok\r\n"), "{head}");
    assert!(head.contains("\r\ndate: "), "{head}");
    assert!(
        head.contains("\r\ncontent-type: text/plain; charset=utf-8"),
        "{head}"
    );
    let open: serde_json::Value =
        serde_json::from_str(body.strip_prefix('0').expect("an open packet")).expect("JSON");
    open["sid"].as_str().expect("sid").to_owned()
}

/// A raw connection to `server` with a polling session opened on it (the
/// handshake answered by the server's own path) and reported: the
/// connection, its bytes read and not yet taken, the session.
async fn session_on(server: &mut TestServer) -> (TcpStream, Vec<u8>, Socket) {
    let mut tcp = TcpStream::connect(server.addr).await.expect("connect");
    let mut pending = Vec::new();
    let sid = handshake_on(&mut tcp, &mut pending).await;
    let socket = server.connected(&sid).await;
    (tcp, pending, socket)
}

/// Writes `request` with its last 4 bytes (its body's, here) 50 ms after
/// the rest: a body that is still on its way when the head is read.
async fn send_with_late_body(tcp: &mut TcpStream, request: &str) {
    let (head_part, body_part) = request.split_at(request.len() - 4);
    tcp.write_all(head_part.as_bytes()).await.expect("write");
    tokio::time::sleep(Duration::from_millis(50)).await;
    tcp.write_all(body_part.as_bytes()).await.expect("write");
}

fn post(path: &str, body: &str) -> String {
    format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_requests_share_a_connection_pipelined_or_not() {
    within(async {
        let mut server = TestServer::start(calm()).await;
        let (mut tcp, mut pending, socket) = session_on(&mut server).await;
        let sid = socket.id().to_owned();
        let path = server.polling(&sid);

        // Two POSTs in one write: answered in order, handled in order.
        let both = post(&path, "4one") + &post(&path, "4two");
        tcp.write_all(both.as_bytes()).await.expect("write");
        for _ in 0..2 {
            let (head, body) = response(&mut tcp, &mut pending).await;
            assert!(head.starts_with("http/1.1 200 ok\r\n"), "{head}");
            assert_eq!(body, "ok");
        }
        assert_eq!(server.received(&sid).await, text("one"));
        assert_eq!(server.received(&sid).await, text("two"));

        // A body that comes after its head: hyper serves it, and the
        // requests after it on the connection.
        send_with_late_body(&mut tcp, &post(&path, "4three")).await;
        let (head, body) = response(&mut tcp, &mut pending).await;
        assert!(head.starts_with("http/1.1 200 ok\r\n"), "{head}");
        assert_eq!(body, "ok");
        assert_eq!(server.received(&sid).await, text("three"));
        tcp.write_all(post(&path, "4four").as_bytes())
            .await
            .expect("write");
        let (_, body) = response(&mut tcp, &mut pending).await;
        assert_eq!(body, "ok");
        assert_eq!(server.received(&sid).await, text("four"));
        server.assert_alive(&sid);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_close_and_preflight() {
    within(async {
        let server = TestServer::start(calm()).await;
        let mut tcp = TcpStream::connect(server.addr).await.expect("connect");
        let mut pending = Vec::new();
        tcp.write_all(b"OPTIONS /engine.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .expect("write");
        let (head, body) = response(&mut tcp, &mut pending).await;
        assert!(head.starts_with("http/1.1 204 no content\r\n"), "{head}");
        assert!(!head.contains("content-length"), "{head}");
        assert_eq!(body, "");
        tcp.write_all(
            b"GET /engine.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        )
        .await
        .expect("write");
        let (head, _) = response(&mut tcp, &mut pending).await;
        assert!(head.contains("\r\nconnection: close"), "{head}");
        let mut rest = Vec::new();
        step("the server closes", tcp.read_to_end(&mut rest))
            .await
            .expect("read");
        assert!(rest.is_empty(), "{rest:?}");
    })
    .await;
}

/// A poll of a known session is routed from its head alone (no
/// `http::Request` built); one whose target has characters the server's
/// own path leaves to hyper (`{`, `^`, `|`) is served by hyper, with the rest
/// of its connection: both reach the session alike.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn polls_routed_from_the_head_or_by_hyper_reach_the_session_alike() {
    within(async {
        let mut server = TestServer::start(calm()).await;
        let (mut tcp, mut pending, socket) = session_on(&mut server).await;
        let sid = socket.id().to_owned();
        let path = server.polling(&sid);
        for (target, message) in [
            (path.clone(), "one"),
            (format!("{path}&t=%7Bx%7D"), "two"),
            (format!("{path}&t={{x}}"), "three"),
            (format!("{path}&t=x^|y"), "four"),
            (path.clone(), "five"),
        ] {
            let request = post(&target, &format!("4{message}"));
            tcp.write_all(request.as_bytes()).await.expect("write");
            let (head, body) = response(&mut tcp, &mut pending).await;
            assert!(head.starts_with("http/1.1 200 ok\r\n"), "{target}: {head}");
            assert_eq!(body, "ok", "{target}");
            assert_eq!(server.received(&sid).await, text(message), "{target}");
        }
        // And a long-poll gets what the session sent: the fixture's echoes,
        // then one more.
        socket.send_text("back").expect("open");
        let poll = format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n");
        tcp.write_all(poll.as_bytes()).await.expect("write");
        let (_, body) = response(&mut tcp, &mut pending).await;
        assert_eq!(body, "4one\x1e4two\x1e4three\x1e4four\x1e4five\x1e4back");
        server.assert_alive(&sid);
    })
    .await;
}

/// [`EngineIo::serve_mounted`]: the server at its path, a handler for
/// everything else, on one keep-alive connection; plain requests and one
/// that hyper serves (a body arriving after its head) reach each alike,
/// and the signal shuts the server down.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_mounted_beside_a_handler() {
    within(async {
        let (mut server, stop) = TestServer::start_mounted(calm()).await;
        let (mut tcp, mut pending, socket) = session_on(&mut server).await;
        let sid = socket.id().to_owned();
        let path = server.polling(&sid);
        let page = "GET /index.html?x=1 HTTP/1.1\r\nHost: x\r\n\r\n";
        let unknown = r#"{"code":0,"message":"Transport unknown"}"#;
        for (request, status, answer) in [
            (post(&path, "4one"), "200 ok", "ok".to_owned()),
            (
                page.to_owned(),
                "200 ok",
                "page GET /index.html?x=1 ".to_owned(),
            ),
            (
                post("/form", "a=1"),
                "200 ok",
                "page POST /form a=1".to_owned(),
            ),
            (
                post("/engine.io.js", "x"),
                "200 ok",
                "page POST /engine.io.js x".to_owned(),
            ),
            // The server's path without its last `/` is the server's.
            (
                post("/engine.io", "4two"),
                "400 bad request",
                unknown.to_owned(),
            ),
            (post(&path, "4three"), "200 ok", "ok".to_owned()),
        ] {
            tcp.write_all(request.as_bytes()).await.expect("write");
            let (head, body) = response(&mut tcp, &mut pending).await;
            let status_line = format!("http/1.1 {status}\r\n");
            assert!(head.starts_with(&status_line), "{request}: {head}");
            assert_eq!(body, answer, "{request}");
        }
        assert_eq!(server.received(&sid).await, text("one"));
        assert_eq!(server.received(&sid).await, text("three"));
        // A body after its head: hyper serves the rest of the connection.
        send_with_late_body(&mut tcp, &post("/late", "body")).await;
        let (_, body) = response(&mut tcp, &mut pending).await;
        assert_eq!(body, "page POST /late body");
        tcp.write_all(post(&path, "4four").as_bytes())
            .await
            .expect("write");
        let (_, body) = response(&mut tcp, &mut pending).await;
        assert_eq!(body, "ok");
        assert_eq!(server.received(&sid).await, text("four"));
        stop.send(()).expect("serving");
        assert_eq!(
            server.disconnected(&sid).await,
            socketeer_engineio::server::CloseReason::ServerShuttingDown
        );
    })
    .await;
}

/// A connection that served polling requests can then upgrade: hyper
/// takes it over with the bytes already read, and the WebSocket answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_upgrades_after_plain_requests() {
    within(async {
        let mut server = TestServer::start(calm()).await;
        let (mut tcp, mut pending, socket) = session_on(&mut server).await;
        let sid = socket.id().to_owned();
        let mut upgrade = format!(
            "GET /engine.io/?EIO=4&transport=websocket&sid={sid} HTTP/1.1\r\nHost: x\r\n\
             Upgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        .into_bytes();
        // The probe "2probe", masked (mask 0), in the same write.
        upgrade.extend_from_slice(&[0x81, 0x86, 0, 0, 0, 0]);
        upgrade.extend_from_slice(b"2probe");
        tcp.write_all(&upgrade).await.expect("write");
        let reply = [0x81, 0x06, b'3', b'p', b'r', b'o', b'b', b'e'];
        step("the probe's answer", async {
            while !pending.ends_with(&reply) {
                let mut chunk = [0u8; 1024];
                let n = tcp.read(&mut chunk).await.expect("read");
                assert!(n > 0, "closed: {:?}", String::from_utf8_lossy(&pending));
                pending.extend_from_slice(&chunk[..n]);
            }
        })
        .await;
        assert!(pending.starts_with(b"HTTP/1.1 101"), "{pending:?}");
        server.assert_alive(&sid);
    })
    .await;
}

/// The request-head timeout holds on the server's own path: a client
/// that sends part of a head and stops is disconnected once the limit has
/// passed since its previous response, as with hyper; requests that come
/// in time keep the connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_head_that_stops_halfway_is_timed_out() {
    within(async {
        let config = EngineIoConfig::default();
        let engine = socketeer_engineio::server::EngineIo::new(
            config,
            std::sync::Arc::new(Recorder(tokio::sync::mpsc::unbounded_channel().0)),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let options = socketeer_engineio::server::HttpOptions {
            header_read_timeout: Duration::from_millis(300),
            ..Default::default()
        };
        let handler = move |req, remote| {
            let engine = engine.clone();
            async move { engine.handle(req, Some(remote)).await }
        };
        tokio::spawn(async move {
            socketeer_engineio::server::serve_http_with(
                listener,
                handler,
                std::future::pending(),
                &options,
            )
            .await
        });
        let mut tcp = TcpStream::connect(addr).await.expect("connect");
        let mut pending = Vec::new();
        // Whole requests first, each within the limit: the time counts
        // from when the connection starts waiting for each head.
        for _ in 0..3 {
            tokio::time::sleep(Duration::from_millis(150)).await;
            tcp.write_all(b"OPTIONS /engine.io/ HTTP/1.1\r\nHost: x\r\n\r\n")
                .await
                .expect("write");
            response(&mut tcp, &mut pending).await;
        }
        let started = std::time::Instant::now();
        tokio::time::sleep(Duration::from_millis(100)).await;
        tcp.write_all(b"GET /engine.io/?EIO=4")
            .await
            .expect("write");
        let mut rest = Vec::new();
        step("the server closes", tcp.read_to_end(&mut rest))
            .await
            .expect("read");
        let took = started.elapsed();
        assert!(rest.is_empty(), "{rest:?}");
        // 0.9 to 1 times the limit (see `HeadTimer`).
        assert!(took >= Duration::from_millis(250), "{took:?}");
    })
    .await;
}
