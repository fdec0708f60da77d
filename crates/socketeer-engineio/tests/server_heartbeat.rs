//! Engine.IO server integration tests: Heartbeats on polling and WebSocket: kept sessions and ping timeouts.
//! The fixture is in `support/mod.rs`.

mod support;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use http::StatusCode;
use socketeer_engineio::server::CloseReason;
use socketeer_engineio::Packet;
use support::*;

// ---------------------------------------------------------------------------
// Heartbeat

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn polling_heartbeat_keeps_the_session() {
    within(async {
        let mut server = TestServer::start(fast()).await;
        let (sid, _) = server.handshake().await;
        let start = Instant::now();
        let mut poller = server.poller(&sid);
        let mut pings = 0;
        while pings < 3 {
            match poller.next().await {
                Polled::Packet(Packet::Ping(None)) => pings += 1,
                other => panic!("expected a ping, got {other:?}"),
            }
        }
        // Three pings, each an interval after the previous pong.
        assert!(start.elapsed() >= Duration::from_millis(850));
        server.assert_alive(&sid);
        server.post_ok(&sid, "4alive").await;
        assert_eq!(poller.message().await, text("alive"));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn polling_ping_timeout() {
    within(async {
        let mut server = TestServer::start(fast()).await;
        let (sid, _) = server.handshake().await;
        let start = Instant::now();
        let r = server.poll(&sid).await;
        assert_eq!(r.text(), "2", "the first poll waits for the ping");
        assert!(start.elapsed() >= Duration::from_millis(250));
        // No pong: the next poll is answered with a close packet.
        let r = server.poll(&sid).await;
        assert_eq!(r.text(), "1");
        assert_eq!(server.disconnected(&sid).await, CloseReason::PingTimeout);
        assert!(start.elapsed() >= Duration::from_millis(450));
        server
            .poll(&sid)
            .await
            .assert_error(StatusCode::BAD_REQUEST, 1, "Session ID unknown");

        // A client that never polls times out too.
        let (idle, _) = server.handshake().await;
        assert_eq!(server.disconnected(&idle).await, CloseReason::PingTimeout);
        assert_eq!(server.engine.session_count(), 0);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_heartbeat_keeps_the_session() {
    within(async {
        let mut server = TestServer::start(fast()).await;
        let (mut ws, open) = server.websocket().await;
        let start = Instant::now();
        let mut pings = 0;
        while pings < 3 {
            match ws.next().await {
                WsEvent::Packet(Packet::Ping(None)) => pings += 1,
                other => panic!("expected a ping, got {other:?}"),
            }
        }
        assert!(start.elapsed() >= Duration::from_millis(850));
        server.assert_alive(&open.sid);
        ws.send_text("4alive");
        assert_eq!(ws.message().await, text("alive"));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_ping_timeout() {
    within(async {
        let mut server = TestServer::start(fast()).await;
        let (mut ws, open) = server.websocket().await;
        ws.auto_pong.store(false, Ordering::SeqCst);
        let start = Instant::now();
        match ws.next().await {
            WsEvent::Packet(Packet::Ping(None)) => {}
            other => panic!("expected a ping, got {other:?}"),
        }
        ws.closed().await;
        assert!(start.elapsed() >= Duration::from_millis(450));
        assert_eq!(
            server.disconnected(&open.sid).await,
            CloseReason::PingTimeout
        );
        assert_eq!(server.engine.session_count(), 0);
    })
    .await;
}
