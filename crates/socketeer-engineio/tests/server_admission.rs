//! Engine.IO server integration tests: Admission: `allow_request`, `max_sessions`, and shutdown.
//! The fixture is in `support/mod.rs`.

mod support;

use std::sync::Arc;

use bytes::Bytes;
use http::{Method, StatusCode};
use serde_json::Value;
use socketeer_engineio::server::{CloseReason, EngineIoConfig};
use socketeer_engineio::Packet;
use support::*;

// ---------------------------------------------------------------------------
// Admission: allow_request, max_sessions, shutdown

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allow_request_refusal_is_403_code_4() {
    within(async {
        let mut server = TestServer::start(EngineIoConfig {
            allow_request: Some(Arc::new(|info| {
                match info.headers.get("x-token").map(|v| v.as_bytes()) {
                    Some(b"secret") => Ok(()),
                    _ => Err("no \"token\"".to_owned()),
                }
            })),
            ..fast()
        })
        .await;
        let handshake = "/engine.io/?EIO=4&transport=polling";
        get(server.addr, handshake)
            .await
            .assert_error(StatusCode::FORBIDDEN, 4, "no \"token\"");
        assert_eq!(server.engine.session_count(), 0);
        // The WebSocket handshake is refused too.
        let url = format!("ws://{}/engine.io/?EIO=4&transport=websocket", server.addr);
        assert!(socketeer_ws::connect(&url).await.is_err());
        assert_eq!(server.engine.session_count(), 0);

        let r = request(
            server.addr,
            Method::GET,
            handshake,
            &[("x-token", "secret")],
            Bytes::new(),
        )
        .await;
        assert_eq!(r.status, StatusCode::OK);
        let sid = serde_json::from_str::<Value>(&r.text()[1..]).expect("JSON")["sid"]
            .as_str()
            .expect("sid")
            .to_owned();
        let socket = server.connected(&sid).await;
        assert_eq!(
            socket
                .request()
                .headers
                .get("x-token")
                .map(|v| v.as_bytes()),
            Some(&b"secret"[..])
        );
        // The hook is for new sessions only.
        let _poller = server.poller(&sid);
        server.post_ok(&sid, "4in").await;
        assert_eq!(server.received(&sid).await, text("in"));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_sessions_is_503() {
    within(async {
        let mut server = TestServer::start(EngineIoConfig {
            max_sessions: 2,
            ..calm()
        })
        .await;
        let (a, _) = server.handshake().await;
        let (_ws, _) = server.websocket().await;
        let r = get(server.addr, "/engine.io/?EIO=4&transport=polling").await;
        assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{r:?}");
        let url = format!("ws://{}/engine.io/?EIO=4&transport=websocket", server.addr);
        assert!(socketeer_ws::connect(&url).await.is_err());
        assert_eq!(server.engine.session_count(), 2);
        // Existing sessions are not affected.
        server.post_ok(&a, "4ok").await;
        assert_eq!(server.poll(&a).await.packets(), [Packet::text("ok")]);
        // A slot frees up when a session ends.
        server.post_ok(&a, "1").await;
        server.disconnected(&a).await;
        let (c, _) = server.handshake().await;
        server.connected(&c).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_closes_sessions_and_refuses_requests() {
    within(async {
        let mut server = TestServer::start(fast()).await;
        let (polling, _) = server.handshake().await;
        let mut poller = server.poller(&polling);
        server.post_ok(&polling, "4hi").await;
        assert_eq!(poller.message().await, text("hi"));
        let (mut ws, open) = server.websocket().await;
        ws.send_text("4hi");
        assert_eq!(ws.message().await, text("hi"));

        server.engine.shutdown();

        let frame = ws.closed().await.expect("a close frame");
        assert_eq!(frame.code.0, 1001);
        assert_eq!(frame.reason, "server shutting down");
        assert_eq!(
            server.disconnected(&open.sid).await,
            CloseReason::ServerShuttingDown
        );
        // The polling client gets a close packet on its waiting poll (or,
        // between two polls, a 503 for the next one).
        loop {
            match poller.next().await {
                Polled::Packet(Packet::Close) => break,
                Polled::Packet(Packet::Ping(None) | Packet::Noop) => {}
                Polled::Refused(r) => {
                    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{r:?}");
                    break;
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(
            server.disconnected(&polling).await,
            CloseReason::ServerShuttingDown
        );
        assert_eq!(server.engine.session_count(), 0);

        let r = get(server.addr, "/engine.io/?EIO=4&transport=polling").await;
        assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
        let url = format!("ws://{}/engine.io/?EIO=4&transport=websocket", server.addr);
        assert!(socketeer_ws::connect(&url).await.is_err());
        assert_eq!(server.engine.session_count(), 0);
    })
    .await;
}
