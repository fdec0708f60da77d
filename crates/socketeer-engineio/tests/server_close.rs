//! Engine.IO server integration tests: Closing a session, by the client and by the server, on both transports.
//! The fixture is in `support/mod.rs`.

mod support;

use http::StatusCode;
use socketeer_engineio::server::{CloseReason, SendError};
use socketeer_engineio::Packet;
use support::*;

// ---------------------------------------------------------------------------
// Closing

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn polling_client_close() {
    within(async {
        let mut server = TestServer::start(fast()).await;
        let (sid, _) = server.handshake().await;
        let mut poller = server.poller(&sid);
        server.post_ok(&sid, "4bye").await;
        assert_eq!(poller.message().await, text("bye"));
        server.post_ok(&sid, "1").await;
        assert_eq!(server.disconnected(&sid).await, CloseReason::TransportClose);
        // The waiting poll is released, and the session is gone.
        loop {
            match poller.next().await {
                Polled::Packet(Packet::Noop | Packet::Ping(None)) => {}
                Polled::Refused(r) => {
                    r.assert_error(StatusCode::BAD_REQUEST, 1, "Session ID unknown");
                    break;
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(server.engine.session_count(), 0);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_client_close() {
    within(async {
        let mut server = TestServer::start(fast()).await;
        let (mut ws, open) = server.websocket().await;
        ws.send_text("4bye");
        assert_eq!(ws.message().await, text("bye"));
        ws.send_text("1");
        ws.closed().await;
        assert_eq!(
            server.disconnected(&open.sid).await,
            CloseReason::TransportClose
        );

        // Dropping the connection, with or without a close frame.
        let (ws, open) = server.websocket().await;
        let _ = ws.out.send(WsCmd::Close);
        assert_eq!(
            server.disconnected(&open.sid).await,
            CloseReason::TransportClose
        );
        let (ws, open) = server.websocket().await;
        let _ = ws.out.send(WsCmd::Abort);
        assert_eq!(
            server.disconnected(&open.sid).await,
            CloseReason::TransportClose
        );
        assert_eq!(server.engine.session_count(), 0);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn polling_server_close() {
    within(async {
        let mut server = TestServer::start(fast()).await;

        // No poll waiting: the next one gets what is queued, then "1".
        let (sid, _) = server.handshake().await;
        let socket = server.connected(&sid).await;
        socket.send_text("one").expect("send");
        socket.send_binary(vec![1u8, 2]).expect("send");
        socket.close();
        assert_eq!(socket.send_text("after close"), Err(SendError::Closed));
        let r = server.poll(&sid).await;
        assert_eq!(
            without_pings(r.packets()),
            [
                Packet::text("one"),
                Packet::binary(vec![1, 2]),
                Packet::Close
            ]
        );
        assert_eq!(server.disconnected(&sid).await, CloseReason::ForcedClose);
        assert!(socket.is_closed());
        server
            .poll(&sid)
            .await
            .assert_error(StatusCode::BAD_REQUEST, 1, "Session ID unknown");

        // A poll waiting: it is answered at once.
        let (sid, _) = server.handshake().await;
        let socket = server.connected(&sid).await;
        let mut poller = server.poller(&sid);
        server.post_ok(&sid, "4ping me").await;
        assert_eq!(poller.message().await, text("ping me"));
        socket.send_text("last").expect("send");
        socket.close();
        assert_eq!(poller.message().await, text("last"));
        assert_eq!(poller.packet().await, Packet::Close);
        assert_eq!(server.disconnected(&sid).await, CloseReason::ForcedClose);
        assert_eq!(server.engine.session_count(), 0);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn polling_server_close_without_a_poll_times_out() {
    within(async {
        let mut server = TestServer::start(fast()).await;
        let (sid, _) = server.handshake().await;
        let socket = server.connected(&sid).await;
        socket.close();
        // The client never comes back: the session ends after the drain
        // delay, with the reason it was closed for.
        assert_eq!(server.disconnected(&sid).await, CloseReason::ForcedClose);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_server_close() {
    within(async {
        let mut server = TestServer::start(fast()).await;
        let (mut ws, open) = server.websocket().await;
        let socket = server.connected(&open.sid).await;
        socket.send_text("one").expect("send");
        socket.send_binary(vec![1u8, 2]).expect("send");
        socket.close();
        assert_eq!(socket.send_text("after close"), Err(SendError::Closed));
        assert_eq!(ws.message().await, text("one"));
        assert_eq!(ws.message().await, binary(&[1, 2]));
        ws.closed().await;
        assert_eq!(
            server.disconnected(&open.sid).await,
            CloseReason::ForcedClose
        );
        assert_eq!(server.engine.session_count(), 0);
    })
    .await;
}
