//! Graceful shutdown: `serve_with_shutdown` stops accepting, disconnects
//! every socket with "server shutting down" (WebSocket close 1001, a
//! pending long-poll answered) and returns once connections are gone.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::next_text;
use socketeer::server::SocketIo;
use socketeer::server::{DisconnectReason, Socket};
use socketeer_ws::{connect, Message};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test]
async fn shutdown_closes_every_connection_and_returns() {
    let io = SocketIo::new(Default::default());
    let reasons = Arc::new(Mutex::new(Vec::new()));
    let seen = reasons.clone();
    io.of("/").on_connection(move |socket: Socket| {
        let seen = seen.clone();
        socket.on_disconnect(move |reason: DisconnectReason| {
            seen.lock().unwrap().push(reason.as_str())
        });
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(io.clone().serve_with_shutdown(listener, async {
        let _ = stop_rx.await;
    }));

    tokio::time::timeout(Duration::from_secs(20), async {
        // A WebSocket client in "/".
        let url = format!("ws://{addr}/socket.io/?EIO=4&transport=websocket");
        let (mut ws, _) = connect(&url).await.unwrap();
        assert!(next_text(&mut ws).await.starts_with("0{"));
        ws.send(Message::text("40")).await.unwrap();
        assert!(next_text(&mut ws).await.starts_with("40{"));

        // A long-polling client in "/", with a GET waiting for data.
        let mut http = tokio::net::TcpStream::connect(addr).await.unwrap();
        let get = |q: &str| {
            format!("GET /socket.io/?EIO=4&transport=polling{q} HTTP/1.1\r\nhost: x\r\n\r\n")
        };
        http.write_all(get("").as_bytes()).await.unwrap();
        let handshake = read_response(&mut http).await;
        let sid = handshake
            .split("\"sid\":\"")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .expect("sid")
            .to_owned();
        let post = format!(
            "POST /socket.io/?EIO=4&transport=polling&sid={sid} HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\n\r\n40"
        );
        http.write_all(post.as_bytes()).await.unwrap();
        read_response(&mut http).await;
        http.write_all(get(&format!("&sid={sid}")).as_bytes())
            .await
            .unwrap();
        assert!(read_response(&mut http).await.contains("40{"));
        for _ in 0..200 {
            if io.of("/").socket_count() == 2 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        // A second long-polling session with no poll waiting.
        let mut idle = tokio::net::TcpStream::connect(addr).await.unwrap();
        idle.write_all(get("").as_bytes()).await.unwrap();
        assert!(read_response(&mut idle).await.contains("\"sid\""));
        assert_eq!(io.of("/").socket_count(), 2);
        http.write_all(get(&format!("&sid={sid}")).as_bytes())
            .await
            .unwrap();
        // Let the server read that GET: an idle keep-alive connection whose
        // next request is still unread is simply closed at shutdown (HTTP
        // clients retry those).
        tokio::time::sleep(Duration::from_millis(200)).await;

        stop_tx.send(()).unwrap();
        let stopped_at = std::time::Instant::now();

        // The WebSocket is closed with 1001.
        let close = loop {
            match ws.recv().await {
                Some(Ok(Message::Close(c))) => break c,
                Some(Ok(_)) => continue,
                other => panic!("expected a close frame, got {other:?}"),
            }
        };
        assert_eq!(close.map(|c| c.code.0), Some(1001));
        // The waiting GET is answered with the close packet.
        let answer = read_response(&mut http).await;
        assert!(answer.ends_with('1'), "{answer:?}");

        server.await.unwrap().unwrap();
        // The idle polling session was not waited for until its ping
        // timeout (20 s by default).
        assert!(
            stopped_at.elapsed() < Duration::from_secs(5),
            "shutdown took {:?}",
            stopped_at.elapsed()
        );
        assert!(
            tokio::net::TcpStream::connect(addr).await.is_err(),
            "still accepting after shutdown"
        );
        // Every session ends soon, the idle polling one included (not at
        // its ping timeout, 20 s by default).
        while io.engine().session_count() > 0 && stopped_at.elapsed() < Duration::from_secs(5) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(
            io.engine().session_count(),
            0,
            "sessions left after {:?}",
            stopped_at.elapsed()
        );
        let reasons = reasons.lock().unwrap().clone();
        assert_eq!(reasons, ["server shutting down", "server shutting down"]);
    })
    .await
    .unwrap();
}

/// Reads one HTTP/1.1 response with a content-length body; returns the
/// head and body as text.
async fn read_response(s: &mut tokio::net::TcpStream) -> String {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = s.read(&mut chunk).await.unwrap();
        assert!(
            n > 0,
            "connection closed mid-response: {:?}",
            String::from_utf8_lossy(&buf)
        );
        buf.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buf).into_owned();
        if let Some(end) = text.find("\r\n\r\n") {
            let len: usize = text[..end]
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse().ok())?
                })
                .unwrap_or(0);
            if buf.len() >= end + 4 + len {
                return text;
            }
        }
    }
}
