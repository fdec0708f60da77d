//! Engine.IO server integration tests: the session's events (engine.io's
//! `socket.on("upgrade" | "packet" | "packetCreate" | "drain" | "close")`)
//! over a polling client that upgrades, and over a WebSocket with
//! heartbeats. The fixture is in `support/mod.rs`.

mod support;

use socketeer_engineio::server::{CloseReason, Socket, TransportKind};
use socketeer_engineio::{Packet, Utf8Bytes};
use support::*;
use tokio::sync::mpsc;

#[derive(Debug, Clone, PartialEq)]
enum Seen {
    In(Packet),
    Out(Packet),
    Upgrade(TransportKind),
    Drain,
    Close(CloseReason),
}

/// Registers one listener of each kind; what they see arrives in order
/// on the receiver.
fn listen(socket: &Socket) -> mpsc::UnboundedReceiver<Seen> {
    let (tx, rx) = mpsc::unbounded_channel();
    let t = tx.clone();
    socket.on_packet(move |p| {
        let _ = t.send(Seen::In(p.clone()));
    });
    let t = tx.clone();
    socket.on_packet_create(move |p| {
        let _ = t.send(Seen::Out(p.clone()));
    });
    let t = tx.clone();
    socket.on_upgrade(move |k| {
        let _ = t.send(Seen::Upgrade(k));
    });
    let t = tx.clone();
    socket.on_drain(move || {
        let _ = t.send(Seen::Drain);
    });
    socket.on_close(move |r| {
        let _ = tx.send(Seen::Close(r));
    });
    rx
}

async fn seen(rx: &mut mpsc::UnboundedReceiver<Seen>) -> Seen {
    step("a session event", rx.recv())
        .await
        .expect("the listeners are gone")
}

fn message(s: &str) -> Packet {
    Packet::text(s)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_over_polling_then_websocket() {
    within(async {
        let mut server = TestServer::start(calm()).await;
        let (sid, _) = server.handshake().await;
        let socket = server.connected(&sid).await;
        let mut rx = listen(&socket);

        // Received over polling.
        server.post_ok(&sid, "4hello").await;
        assert_eq!(server.received(&sid).await, text("hello"));
        assert_eq!(seen(&mut rx).await, Seen::In(message("hello")));

        // Sent over polling (the fixture echoes messages): created, then
        // drained with the poll's answer.
        socket.send_text("a").expect("send");
        assert_eq!(
            server.poll(&sid).await.packets(),
            [message("hello"), message("a")]
        );
        assert_eq!(seen(&mut rx).await, Seen::Out(message("hello")));
        assert_eq!(seen(&mut rx).await, Seen::Out(message("a")));
        assert_eq!(seen(&mut rx).await, Seen::Drain);

        // The upgrade: the probe's packets are not the session's.
        let mut ws = WsClient::connect(server.addr, &format!("&sid={sid}")).await;
        ws.send_text("2probe");
        assert_eq!(
            ws.packet().await,
            Packet::Pong(Some(Utf8Bytes::from_static("probe")))
        );
        ws.send_text("5");
        assert_eq!(seen(&mut rx).await, Seen::Upgrade(TransportKind::WebSocket));
        assert_eq!(socket.transport(), TransportKind::WebSocket);

        // Over the WebSocket.
        ws.send_text("4x");
        assert_eq!(server.received(&sid).await, text("x"));
        assert_eq!(seen(&mut rx).await, Seen::In(message("x")));
        assert_eq!(ws.message().await, text("x"));
        assert_eq!(seen(&mut rx).await, Seen::Out(message("x")));
        assert_eq!(seen(&mut rx).await, Seen::Drain);
        socket.send_text("y").expect("send");
        assert_eq!(ws.message().await, text("y"));
        assert_eq!(seen(&mut rx).await, Seen::Out(message("y")));
        assert_eq!(seen(&mut rx).await, Seen::Drain);

        // The client's close packet, then the close.
        ws.send_text("1");
        assert_eq!(seen(&mut rx).await, Seen::In(Packet::Close));
        assert_eq!(
            seen(&mut rx).await,
            Seen::Close(CloseReason::TransportClose)
        );
        assert_eq!(server.disconnected(&sid).await, CloseReason::TransportClose);
        // Every listener was dropped with the session.
        assert_eq!(step("the end of the events", rx.recv()).await, None);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heartbeats_are_packets_too_and_the_close_reason_is_given() {
    within(async {
        let mut server = TestServer::start(fast()).await;
        let (mut ws, open) = server.websocket().await;
        let socket = server.connected(&open.sid).await;
        let mut rx = listen(&socket);

        // The server's ping is created, the client's pong received.
        let mut pings = 0;
        loop {
            match seen(&mut rx).await {
                Seen::Out(Packet::Ping(None)) => pings += 1,
                Seen::In(Packet::Pong(None)) if pings > 0 => break,
                Seen::Drain => {}
                other => panic!("unexpected {other:?}"),
            }
        }
        // Not answering pings closes the session: "ping timeout".
        ws.auto_pong
            .store(false, std::sync::atomic::Ordering::Relaxed);
        let reason = loop {
            match seen(&mut rx).await {
                Seen::Close(r) => break r,
                Seen::Out(Packet::Ping(None)) | Seen::In(Packet::Pong(None)) | Seen::Drain => {}
                other => panic!("unexpected {other:?}"),
            }
        };
        assert_eq!(reason, CloseReason::PingTimeout);
        assert_eq!(
            server.disconnected(&open.sid).await,
            CloseReason::PingTimeout
        );
        // A listener added after the close is never called (nor kept).
        socket.on_close(|_| panic!("called after the close"));
        assert_eq!(step("the end of the events", rx.recv()).await, None);
        ws.closed().await;
    })
    .await;
}
