//! Engine.IO server integration tests: The upgrade from long-polling to WebSocket.
//! The fixture is in `support/mod.rs`.

mod support;

use http::StatusCode;
use socketeer_engineio::server::{CloseReason, EngineIoConfig, TransportKind};
use socketeer_engineio::{Packet, Utf8Bytes};
use support::*;

// ---------------------------------------------------------------------------
// Upgrade

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upgrade_polling_to_websocket() {
    within(async {
        let mut server = TestServer::start(calm()).await;
        let (sid, _) = server.handshake().await;
        let socket = server.connected(&sid).await;
        let addr = server.addr;
        let path = server.polling(&sid);

        // Before the probe, polling carries messages as usual.
        server.post_ok(&sid, "4before").await;
        assert_eq!(server.received(&sid).await, text("before"));
        assert_eq!(server.poll(&sid).await.packets(), [Packet::text("before")]);

        // A poll waits while the WebSocket probes.
        let waiting = tokio::spawn({
            let path = path.clone();
            async move { get(addr, &path).await }
        });
        let mut ws = WsClient::connect(addr, &format!("&sid={sid}")).await;
        ws.send_text("2probe");
        assert_eq!(
            ws.packet().await,
            Packet::Pong(Some(Utf8Bytes::from_static("probe")))
        );
        // The probe releases the waiting poll with a noop...
        let r = step("the waiting poll", waiting).await.expect("poll task");
        assert_eq!(r.packets(), [Packet::Noop]);
        // ...and polls during the probe get a noop at once.
        assert_eq!(server.poll(&sid).await.packets(), [Packet::Noop]);
        assert_eq!(socket.transport(), TransportKind::Polling);

        // Messages queued while upgrading: sent by the application, and
        // echoes of a POST that is still allowed on polling.
        socket.send_text("during 1").expect("send");
        socket.send_binary(vec![9u8, 9]).expect("send");
        server.post_ok(&sid, "4during 2").await;
        assert_eq!(server.received(&sid).await, text("during 2"));
        socket.send_text("during 3").expect("send");

        ws.send_text("5");
        // Everything queued arrives once, in order, on the WebSocket.
        assert_eq!(ws.message().await, text("during 1"));
        assert_eq!(ws.message().await, binary(&[9, 9]));
        assert_eq!(ws.message().await, text("during 2"));
        assert_eq!(ws.message().await, text("during 3"));
        ws.send_text("4after");
        assert_eq!(ws.message().await, text("after"));
        assert_eq!(socket.transport(), TransportKind::WebSocket);
        ws.send_binary(&[1, 2, 3]);
        assert_eq!(ws.message().await, binary(&[1, 2, 3]));

        // Polling is over for this session.
        server
            .poll(&sid)
            .await
            .assert_error(StatusCode::BAD_REQUEST, 3, "Bad request");
        server
            .post(&sid, "4late")
            .await
            .assert_error(StatusCode::BAD_REQUEST, 3, "Bad request");
        // A second upgrade is refused: that WebSocket is closed.
        let mut second = WsClient::connect(addr, &format!("&sid={sid}")).await;
        second.closed().await;
        // The session is intact.
        ws.send_text("4still");
        assert_eq!(ws.message().await, text("still"));
        server.assert_alive(&sid);
        assert_eq!(server.engine.session_count(), 1);
        ws.send_text("1");
        ws.closed().await;
        assert_eq!(server.disconnected(&sid).await, CloseReason::TransportClose);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upgrade_with_fast_heartbeat() {
    within(async {
        // A client that keeps polling and answering pings until it switches.
        let mut server = TestServer::start(fast()).await;
        let (sid, _) = server.handshake().await;
        let socket = server.connected(&sid).await;
        let mut poller = server.poller(&sid);
        server.post_ok(&sid, "4first").await;
        assert_eq!(poller.message().await, text("first"));

        let mut ws = WsClient::connect(server.addr, &format!("&sid={sid}")).await;
        ws.send_text("2probe");
        assert_eq!(
            ws.packet().await,
            Packet::Pong(Some(Utf8Bytes::from_static("probe")))
        );
        drop(poller);
        for i in 0..20 {
            socket.send_text(format!("q{i}")).expect("send");
        }
        ws.send_text("5");
        for i in 0..20 {
            assert_eq!(ws.message().await, text(&format!("q{i}")));
        }
        // Heartbeats go on over the WebSocket (answered by the reader).
        let mut pings = 0;
        while pings < 2 {
            if let WsEvent::Packet(Packet::Ping(None)) = ws.next().await {
                pings += 1;
            }
        }
        server.assert_alive(&sid);
        assert_eq!(socket.transport(), TransportKind::WebSocket);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_probe_keeps_polling() {
    within(async {
        let mut server = TestServer::start(calm()).await;
        let (sid, _) = server.handshake().await;
        let socket = server.connected(&sid).await;
        // A probe that is not "2probe" aborts the upgrade only.
        let mut ws = WsClient::connect(server.addr, &format!("&sid={sid}")).await;
        ws.send_text("4not a probe");
        ws.closed().await;
        server.post_ok(&sid, "4still polling").await;
        assert_eq!(
            server.poll(&sid).await.packets(),
            [Packet::text("still polling")]
        );
        assert_eq!(socket.transport(), TransportKind::Polling);
        // A WebSocket that goes away mid-probe, too; then a real upgrade.
        let mut ws = WsClient::connect(server.addr, &format!("&sid={sid}")).await;
        ws.send_text("2probe");
        assert_eq!(
            ws.packet().await,
            Packet::Pong(Some(Utf8Bytes::from_static("probe")))
        );
        let _ = ws.out.send(WsCmd::Abort);
        drop(ws);
        server.post_ok(&sid, "4again").await;
        // Until the server notices the probe is gone, polls get a noop at
        // once (as during any probe); then polling resumes.
        loop {
            let packets = server.poll(&sid).await.packets();
            if packets != [Packet::Noop] {
                assert_eq!(packets, [Packet::text("again")]);
                break;
            }
        }
        let mut ws = WsClient::connect(server.addr, &format!("&sid={sid}")).await;
        ws.send_text("2probe");
        assert_eq!(
            ws.packet().await,
            Packet::Pong(Some(Utf8Bytes::from_static("probe")))
        );
        ws.send_text("5");
        ws.send_text("4upgraded");
        assert_eq!(ws.message().await, text("upgraded"));
        server.assert_alive(&sid);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upgrade_refused_when_disabled() {
    within(async {
        let mut server = TestServer::start(EngineIoConfig {
            allow_upgrades: false,
            ..calm()
        })
        .await;
        let (sid, _) = server.handshake().await;
        let url = format!(
            "ws://{}/engine.io/?EIO=4&transport=websocket&sid={sid}",
            server.addr
        );
        assert!(socketeer_ws::connect(&url).await.is_err());
        server.post_ok(&sid, "4polling").await;
        assert_eq!(server.poll(&sid).await.packets(), [Packet::text("polling")]);
        server.assert_alive(&sid);
    })
    .await;
}
