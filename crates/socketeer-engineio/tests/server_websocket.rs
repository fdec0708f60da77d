//! Engine.IO server integration tests: Sessions on WebSocket: echo, batches, invalid packets, `max_payload`.
//! The fixture is in `support/mod.rs`.

mod support;

use http::StatusCode;
use socketeer_engineio::server::{CloseReason, EngineIoConfig, TransportKind};
use support::*;

// ---------------------------------------------------------------------------
// WebSocket

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_session_echoes() {
    within(async {
        let mut server = TestServer::start(fast()).await;
        let (mut ws, open) = server.websocket().await;
        assert_eq!(open.sid.len(), 20);
        assert!(open.upgrades.is_empty(), "{open:?}");
        assert_eq!(open.ping_interval, 300);
        assert_eq!(open.ping_timeout, 200);
        assert_eq!(open.max_payload, 1_000_000);
        let socket = server.connected(&open.sid).await;
        assert_eq!(socket.transport(), TransportKind::WebSocket);

        ws.send_text("4hello");
        assert_eq!(server.received(&open.sid).await, text("hello"));
        assert_eq!(ws.message().await, text("hello"));
        ws.send_binary(&[0, 1, 2, 255]);
        assert_eq!(server.received(&open.sid).await, binary(&[0, 1, 2, 255]));
        assert_eq!(ws.message().await, binary(&[0, 1, 2, 255]));
        let big: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        ws.send_binary(&big);
        assert_eq!(ws.message().await, binary(&big));
        let big_text = format!("4{}", "κ".repeat(100_000));
        ws.send_text(&big_text);
        assert_eq!(ws.message().await, text(&big_text[1..]));

        // The session is not reachable over polling.
        server
            .poll(&open.sid)
            .await
            .assert_error(StatusCode::BAD_REQUEST, 3, "Bad request");
        server
            .post(&open.sid, "4no")
            .await
            .assert_error(StatusCode::BAD_REQUEST, 3, "Bad request");

        // Many in a row arrive in order.
        for i in 0..50 {
            ws.send_text(&format!("4n{i}"));
        }
        for i in 0..50 {
            assert_eq!(ws.message().await, text(&format!("n{i}")));
        }
        server.assert_alive(&open.sid);
    })
    .await;
}

/// Messages that arrive together are handled in one turn of the session
/// (a batch): all of them, in order, and a bad one in the middle ends the
/// session without the ones behind it being delivered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_batch_in_one_write() {
    within(async {
        let mut server = TestServer::start(fast()).await;
        let (mut ws, open) = server.websocket().await;
        server.connected(&open.sid).await;
        // More than one turn's batch (64), in one write.
        ws.send_text_batch((0..300).map(|i| format!("4b{i}")));
        for i in 0..300 {
            assert_eq!(server.received(&open.sid).await, text(&format!("b{i}")));
        }
        for i in 0..300 {
            assert_eq!(ws.message().await, text(&format!("b{i}")));
        }
        server.assert_alive(&open.sid);

        let (mut ws, open) = server.websocket().await;
        server.connected(&open.sid).await;
        let batch = ["4before".to_owned(), "9bad".to_owned(), "4after".to_owned()];
        ws.send_text_batch(batch);
        assert_eq!(server.received(&open.sid).await, text("before"));
        assert_eq!(
            server.disconnected(&open.sid).await,
            CloseReason::ParseError
        );
        let frame = ws.closed().await;
        assert_eq!(frame.map(|f| f.code.0), Some(1002));
        while let Ok(e) = server.events.try_recv() {
            server.backlog.push(e);
        }
        let after = text("after");
        assert!(
            !server
                .backlog
                .iter()
                .any(|e| matches!(e, Event::Message(s, m) if *s == open.sid && *m == after)),
            "a message behind the bad one was delivered: {:?}",
            server.backlog
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_invalid_packet_is_a_parse_error() {
    within(async {
        let mut server = TestServer::start(fast()).await;
        let (mut ws, open) = server.websocket().await;
        ws.send_text("9nonsense");
        let frame = ws.closed().await;
        assert_eq!(frame.map(|f| f.code.0), Some(1002));
        assert_eq!(
            server.disconnected(&open.sid).await,
            CloseReason::ParseError
        );
    })
    .await;
}

/// The documented limit: a WebSocket message over `max_payload` closes
/// the connection with 1009 (message too big), as the official server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_message_over_max_payload_closes_1009() {
    within(async {
        let max = 10_000;
        let mut server = TestServer::start(EngineIoConfig {
            max_payload: max,
            ..fast()
        })
        .await;
        let (mut ws, open) = server.websocket().await;
        ws.send_binary(&vec![1; max]);
        assert_eq!(ws.message().await, binary(&vec![1; max]));
        ws.send_binary(&vec![2; max + 1]);
        let frame = ws.closed().await;
        assert_eq!(frame.map(|f| f.code.0), Some(1009));
        assert_eq!(
            server.disconnected(&open.sid).await,
            CloseReason::TransportError
        );
    })
    .await;
}

/// A broadcast's frame, built once: a WebSocket session writes it as it
/// is, a polling session sends the packet it holds; both in order with
/// what is sent the usual way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prepared_frames_reach_websocket_and_polling_sessions() {
    use socketeer_engineio::{Packet, PreparedFrame};
    within(async {
        let mut server = TestServer::start(calm()).await;
        let hello = PreparedFrame::from_payload(Packet::text("hello").encode());
        let blob = PreparedFrame::from_payload(Packet::binary(vec![7u8; 3000]).encode());

        let (mut ws, open) = server.websocket().await;
        let socket = server.connected(&open.sid).await;
        socket.send_prepared(hello.clone()).expect("queued");
        socket.send_text("between").expect("queued");
        socket.send_prepared(blob.clone()).expect("queued");
        assert_eq!(ws.message().await, text("hello"));
        assert_eq!(ws.message().await, text("between"));
        assert_eq!(ws.message().await, binary(&[7u8; 3000]));

        let (sid, _) = server.handshake().await;
        let socket = server.connected(&sid).await;
        socket.send_prepared(hello).expect("queued");
        socket.send_text("between").expect("queued");
        socket.send_prepared(blob).expect("queued");
        let packets = without_pings(server.poll(&sid).await.packets());
        assert_eq!(
            packets,
            [
                Packet::text("hello"),
                Packet::text("between"),
                Packet::binary(vec![7u8; 3000])
            ]
        );
    })
    .await;
}
