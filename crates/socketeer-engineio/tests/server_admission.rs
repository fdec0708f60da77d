//! Engine.IO server integration tests: Admission: `allow_request`,
//! `max_sessions`, `max_sessions_per_ip`, `HttpOptions::max_connections_per_ip`
//! and shutdown. The fixture is in `support/mod.rs`.

mod support;

use std::sync::Arc;

use bytes::Bytes;
use http::{Method, StatusCode};
use serde_json::Value;
use socketeer_engineio::server::{
    serve_http_with, CloseReason, EngineError, EngineIoConfig, HttpOptions,
};
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
        r.assert_error(StatusCode::SERVICE_UNAVAILABLE, 4, "Too many sessions");
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

const HANDSHAKE: &str = "/engine.io/?EIO=4&transport=polling";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_sessions_per_ip_is_503_for_that_address_only() {
    within(async {
        let refusals = Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = refusals.clone();
        let mut server = TestServer::start(EngineIoConfig {
            max_sessions_per_ip: Some(2),
            connection_error: Some(Arc::new(move |e| {
                seen.lock().unwrap().push((e.code, e.context.clone()));
            })),
            ..calm()
        })
        .await;
        let (a, _) = server.handshake().await;
        let (_ws, _) = server.websocket().await;
        let r = get(server.addr, HANDSHAKE).await;
        let message = "Too many sessions from this address";
        r.assert_error(StatusCode::SERVICE_UNAVAILABLE, 4, message);
        let url = format!("ws://{}/engine.io/?EIO=4&transport=websocket", server.addr);
        assert!(socketeer_ws::connect(&url).await.is_err());
        assert_eq!(
            refusals.lock().unwrap()[0],
            (EngineError::Forbidden, Some(message.to_owned()))
        );
        // Other addresses are not affected.
        for from in ["127.0.0.2", "127.0.0.2", "127.0.0.3"] {
            let r = get_from(from, server.addr, HANDSHAKE).await;
            assert_eq!(r.status, StatusCode::OK, "{from}: {r:?}");
        }
        let r = get_from("127.0.0.2", server.addr, HANDSHAKE).await;
        assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{r:?}");
        assert_eq!(server.engine.session_count(), 5);
        // Nor are the address's open sessions; a slot frees up when one
        // ends.
        server.post_ok(&a, "4ok").await;
        assert_eq!(server.poll(&a).await.packets(), [Packet::text("ok")]);
        server.post_ok(&a, "1").await;
        server.disconnected(&a).await;
        let (c, _) = server.handshake().await;
        server.connected(&c).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_connections_per_ip_is_503_for_that_address_only() {
    within(async {
        let server = TestServer::start(calm()).await;
        let engine = server.engine.clone();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let handler = move |req, remote| {
            let engine = engine.clone();
            async move { engine.handle(req, Some(remote)).await }
        };
        let options = HttpOptions {
            max_connections_per_ip: Some(2),
            ..HttpOptions::default()
        };
        let serve = tokio::spawn(async move {
            serve_http_with(listener, handler, std::future::pending(), &options).await
        });
        // Two idle connections from 127.0.0.1 use up its share.
        let first = connect_from("127.0.0.1", addr).await;
        let _second = connect_from("127.0.0.1", addr).await;
        let message = "Too many connections from this address";
        // The server may not have counted them yet: the third is refused
        // once it has.
        let third = loop {
            let r = get_from("127.0.0.1", addr, HANDSHAKE).await;
            if r.status != StatusCode::OK {
                break r;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        };
        third.assert_error(StatusCode::SERVICE_UNAVAILABLE, 4, message);
        assert_eq!(third.header("connection"), Some("close"));
        let r = get_from("127.0.0.2", addr, HANDSHAKE).await;
        assert_eq!(r.status, StatusCode::OK, "{r:?}");
        // The open connections still work.
        let r = request_on(first, addr, Method::GET, HANDSHAKE, &[], Bytes::new()).await;
        assert_eq!(r.status, StatusCode::OK, "{r:?}");
        // request_on closed `first`: 127.0.0.1 has a slot again.
        let r = loop {
            let r = get_from("127.0.0.1", addr, HANDSHAKE).await;
            if r.status == StatusCode::OK {
                break r;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        };
        assert_eq!(r.status, StatusCode::OK);
        // A WebSocket stops counting once upgraded (the session limits
        // bound those): with one slot in use, three open one after the
        // other. (The server frees the slot just after the 101 is sent: a
        // quick next handshake may still find it taken.)
        let url = format!("ws://{addr}/engine.io/?EIO=4&transport=websocket");
        let mut sockets = Vec::new();
        while sockets.len() < 3 {
            match socketeer_ws::connect(&url).await {
                Ok(ws) => sockets.push(ws),
                Err(_) => tokio::time::sleep(std::time::Duration::from_millis(10)).await,
            }
        }
        serve.abort();
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
