//! Engine.IO server integration tests: Long-polling: the handshake, messages, payloads, the send queue,
//! invalid and oversized payloads, overlapping requests, an abandoned poll
//! and a raw HTTP/1.1 handshake.
//! The fixture is in `support/mod.rs`.

mod support;

use std::time::Duration;

use bytes::Bytes;
use http::StatusCode;
use serde_json::{json, Value};
use socketeer_engineio::server::{CloseReason, EngineIoConfig, SendError, TransportKind};
use socketeer_engineio::Packet;
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

// ---------------------------------------------------------------------------
// Handshake and messages on long-polling

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn polling_handshake_fields() {
    within(async {
        let mut server = TestServer::start(fast()).await;
        let r = get(server.addr, "/engine.io/?EIO=4&transport=polling").await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.header("content-type"), Some("text/plain; charset=UTF-8"));
        let body = r.text();
        assert!(body.starts_with('0'), "{body:?}");
        let open: Value = serde_json::from_str(&body[1..]).expect("JSON");
        let obj = open.as_object().expect("an object");
        let mut keys: Vec<&str> = obj.keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            [
                "maxPayload",
                "pingInterval",
                "pingTimeout",
                "sid",
                "upgrades"
            ]
        );
        let sid = open["sid"].as_str().expect("sid is a string");
        assert_eq!(sid.len(), 20, "15 random bytes in base64url: {sid:?}");
        assert!(sid
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        assert_eq!(open["upgrades"], json!(["websocket"]));
        assert_eq!(open["pingInterval"], json!(300));
        assert_eq!(open["pingTimeout"], json!(200));
        assert_eq!(open["maxPayload"], json!(1_000_000));

        let socket = server.connected(sid).await;
        assert_eq!(socket.transport(), TransportKind::Polling);
        assert!(!socket.is_closed());
        let info = socket.request();
        assert_eq!(
            info.uri.query(),
            Some("EIO=4&transport=polling"),
            "{:?}",
            info.uri
        );
        assert_eq!(
            info.remote_addr.map(|a| a.ip()),
            Some(std::net::Ipv4Addr::LOCALHOST.into())
        );
        assert_eq!(server.engine.session_count(), 1);

        let (other, _) = server.handshake().await;
        assert_ne!(other, sid, "session ids are unique");
        assert_eq!(server.engine.session_count(), 2);

        // Without upgrades (or without WebSocket) none is offered.
        for config in [
            EngineIoConfig {
                allow_upgrades: false,
                ..fast()
            },
            EngineIoConfig {
                allow_websocket: false,
                ..fast()
            },
        ] {
            let server = TestServer::start(config).await;
            let (_, open) = server.handshake().await;
            assert_eq!(open["upgrades"], json!([]));
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn polling_text_and_binary_messages() {
    within(async {
        let mut server = TestServer::start(fast()).await;
        let (sid, _) = server.handshake().await;
        let mut poller = server.poller(&sid);

        server.post_ok(&sid, "4hello").await;
        assert_eq!(server.received(&sid).await, text("hello"));
        assert_eq!(poller.message().await, text("hello"));

        server.post_ok(&sid, "4κόσμε 𝄞").await;
        assert_eq!(server.received(&sid).await, text("κόσμε 𝄞"));
        assert_eq!(poller.message().await, text("κόσμε 𝄞"));

        // Binary travels as "b" + base64, both ways.
        server.post_ok(&sid, "bAQID/w==").await;
        assert_eq!(server.received(&sid).await, binary(&[1, 2, 3, 255]));
        assert_eq!(poller.message().await, binary(&[1, 2, 3, 255]));

        // An empty text message.
        server.post_ok(&sid, "4").await;
        assert_eq!(server.received(&sid).await, text(""));
        assert_eq!(poller.message().await, text(""));

        server.assert_alive(&sid);

        // What the server sends on its own, as one raw payload.
        let (sid, _) = server.handshake().await;
        let socket = server.connected(&sid).await;
        socket.send_text("from server").expect("send");
        socket.send_binary(vec![0u8, 0xfe]).expect("send");
        let r = server.poll(&sid).await;
        let packets = without_pings(r.packets());
        assert_eq!(
            packets,
            [Packet::text("from server"), Packet::binary(vec![0, 0xfe])]
        );
        if packets.len() == r.packets().len() {
            assert_eq!(r.text(), "4from server\u{1e}bAP4=");
        }
        server.assert_alive(&sid);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn polling_several_packets_in_one_payload() {
    within(async {
        let mut server = TestServer::start(fast()).await;
        let (sid, _) = server.handshake().await;
        let mut poller = server.poller(&sid);
        server
            .post_ok(&sid, "4one\u{1e}bAAEC\u{1e}4two\u{1e}6\u{1e}4three")
            .await;
        let expected = [text("one"), binary(&[0, 1, 2]), text("two"), text("three")];
        for m in &expected {
            assert_eq!(&server.received(&sid).await, m);
        }
        for m in &expected {
            assert_eq!(&poller.message().await, m);
        }
        // A pong among messages is fine too.
        server.post_ok(&sid, "3\u{1e}4four").await;
        assert_eq!(poller.message().await, text("four"));
        server.assert_alive(&sid);
    })
    .await;
}

/// A text message holding the record separator cannot cross long-polling:
/// it must not corrupt the payload it would have been part of.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn record_separator_text_on_polling() {
    within(async {
        let mut server = TestServer::start(calm()).await;
        let (sid, _) = server.handshake().await;
        let socket = server.connected(&sid).await;
        socket.send_text("before").expect("send");
        let _ = socket.send_text("split\u{1e}me");
        socket.send_text("after").expect("send");
        assert_eq!(
            server.poll(&sid).await.packets(),
            [Packet::text("before"), Packet::text("after")]
        );
        server.assert_alive(&sid);
        // On a WebSocket it is an ordinary message.
        let (mut ws, open) = server.websocket().await;
        let socket = server.connected(&open.sid).await;
        socket.send_text("split\u{1e}me").expect("send");
        assert_eq!(ws.message().await, text("split\u{1e}me"));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_queue_limit() {
    within(async {
        let mut server = TestServer::start(EngineIoConfig {
            max_queued_messages: 3,
            ..calm()
        })
        .await;
        let (sid, _) = server.handshake().await;
        let socket = server.connected(&sid).await;
        for i in 0..3 {
            socket
                .send_text(format!("m{i}"))
                .expect("room in the queue");
        }
        // One more would cross the bound: refused, and the session is
        // closed, its queue dropped; the next poll gets the close packet.
        assert_eq!(socket.send_text("one too many"), Err(SendError::QueueFull));
        assert!(socket.overflowed());
        assert_eq!(socket.queued_bytes(), 0);
        assert_eq!(server.poll(&sid).await.packets(), [Packet::Close]);
        assert_eq!(server.disconnected(&sid).await, CloseReason::TransportError);
        let stats = server.engine.stats();
        assert_eq!(stats.queue_overflows, 1);
        assert_eq!(stats.closed(CloseReason::TransportError), 1);
        assert_eq!(stats.sessions, 0);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_payload_closes_the_session() {
    within(async {
        for bad in [
            &b"x"[..],
            b"4ok\x1e",
            b"bnot base64!",
            b"\xff\xfe",
            b"4fine\x1e9bad",
            b"",
        ] {
            let mut server = TestServer::start(fast()).await;
            let (sid, _) = server.handshake().await;
            let r = server.post(&sid, Bytes::from_static(bad)).await;
            r.assert_error(StatusCode::BAD_REQUEST, 3, "Bad request");
            assert_eq!(server.disconnected(&sid).await, CloseReason::ParseError);
            server
                .poll(&sid)
                .await
                .assert_error(StatusCode::BAD_REQUEST, 1, "Session ID unknown");
            assert_eq!(server.engine.session_count(), 0);
            // Nothing of a rejected payload reaches the application.
            assert!(
                !server
                    .backlog
                    .iter()
                    .any(|e| matches!(e, Event::Message(..))),
                "{bad:?}: {:?}",
                server.backlog
            );
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_ping_on_polling_is_a_parse_error() {
    within(async {
        let mut server = TestServer::start(calm()).await;
        let (sid, _) = server.handshake().await;
        server.post_ok(&sid, "2").await;
        assert_eq!(server.disconnected(&sid).await, CloseReason::ParseError);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overlapping_polls_fail_the_session() {
    within(async {
        // A long heartbeat: no ping may release the first poll.
        let mut server = TestServer::start(calm()).await;
        let (sid, _) = server.handshake().await;
        let addr = server.addr;
        let path = server.polling(&sid);
        let (a, b) = tokio::join!(get(addr, &path), get(addr, &path));
        // Whichever arrived first was waiting: it gets a close packet, the
        // other a 400.
        let (first, second) = if a.status == StatusCode::OK {
            (a, b)
        } else {
            (b, a)
        };
        assert_eq!(first.status, StatusCode::OK, "{first:?} / {second:?}");
        assert_eq!(first.text(), "1");
        second.assert_error(StatusCode::BAD_REQUEST, 3, "Bad request");
        assert_eq!(server.disconnected(&sid).await, CloseReason::TransportError);
        server
            .poll(&sid)
            .await
            .assert_error(StatusCode::BAD_REQUEST, 1, "Session ID unknown");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overlapping_posts_fail_the_session() {
    within(async {
        let mut server = TestServer::start(calm()).await;
        let (sid, _) = server.handshake().await;
        let path = server.polling(&sid);
        // A POST whose body is still arriving...
        let mut slow = TcpStream::connect(server.addr).await.expect("connect");
        let head = format!("POST {path} HTTP/1.1\r\nhost: x\r\ncontent-length: 10\r\n\r\n4he");
        tokio::io::AsyncWriteExt::write_all(&mut slow, head.as_bytes())
            .await
            .expect("write");
        // ...then another one: refused, and the session fails. (Should the
        // second be read first, the slow one is the one refused; the
        // session fails all the same, and the second's answer says so.)
        tokio::time::sleep(Duration::from_millis(100)).await;
        let second = server.post(&sid, "4again").await;
        assert_eq!(second.status, StatusCode::BAD_REQUEST, "{second:?}");
        assert_eq!(server.disconnected(&sid).await, CloseReason::TransportError);
        drop(slow);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_post_is_refused_and_other_sessions_go_on() {
    within(async {
        let max = 10_000;
        let mut server = TestServer::start(EngineIoConfig {
            max_payload: max,
            ..fast()
        })
        .await;
        let (victim, open) = server.handshake().await;
        assert_eq!(open["maxPayload"], json!(max));
        let mut victim_poller = server.poller(&victim);
        let (healthy, _) = server.handshake().await;
        let mut healthy_poller = server.poller(&healthy);
        let (mut ws, ws_open) = server.websocket().await;
        assert_eq!(ws_open.max_payload, max as u64);

        // Exactly max_payload bytes is fine.
        let at_limit = format!("4{}", "x".repeat(max - 1));
        server.post_ok(&healthy, at_limit.clone()).await;
        assert_eq!(healthy_poller.message().await, text(&at_limit[1..]));

        let over = format!("4{}", "y".repeat(2 * max));
        let r = server.post(&victim, over).await;
        assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{r:?}");
        assert_eq!(
            server.disconnected(&victim).await,
            CloseReason::TransportError
        );
        // Its waiting poll is told.
        assert_eq!(victim_poller.packet().await, Packet::Close);
        server
            .poll(&victim)
            .await
            .assert_error(StatusCode::BAD_REQUEST, 1, "Session ID unknown");

        // The others go on, on both transports.
        server.post_ok(&healthy, "4still here").await;
        assert_eq!(healthy_poller.message().await, text("still here"));
        ws.send_text("4me too");
        assert_eq!(ws.message().await, text("me too"));
        ws.send_binary(&[7; 100]);
        assert_eq!(ws.message().await, binary(&[7; 100]));
        server.assert_alive(&healthy);
        assert_eq!(server.engine.session_count(), 2);
    })
    .await;
}

// ---------------------------------------------------------------------------
// A poll whose connection goes away

/// A long-poll whose client disconnects must not swallow what the server
/// sends next: either the session fails (as the official server does,
/// "poll connection closed prematurely") or the message waits for the
/// next poll.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abandoned_poll_loses_no_message() {
    within(async {
        let mut server = TestServer::start(calm()).await;
        let (sid, _) = server.handshake().await;
        let socket = server.connected(&sid).await;
        let mut tcp = TcpStream::connect(server.addr).await.expect("connect");
        let req = format!(
            "GET {} HTTP/1.1\r\nhost: {}\r\n\r\n",
            server.polling(&sid),
            server.addr
        );
        tcp.write_all(req.as_bytes()).await.expect("write");
        // Nothing tells when the server has parked the poll, nor when it
        // has noticed the disconnect: give it time for each.
        tokio::time::sleep(Duration::from_millis(200)).await;
        drop(tcp);
        tokio::time::sleep(Duration::from_millis(200)).await;
        if socket.send_text("precious") == Err(SendError::Closed) {
            // The session failed when its poll went away: fine.
            server.disconnected(&sid).await;
            return;
        }
        let r = tokio::time::timeout(Duration::from_secs(2), server.poll(&sid)).await;
        match r {
            Ok(r) if r.status == StatusCode::OK => {
                assert_eq!(r.packets(), [Packet::text("precious")])
            }
            Ok(r) => r.assert_error(StatusCode::BAD_REQUEST, 1, "Session ID unknown"),
            Err(_) => panic!("the message was lost: the next poll got nothing"),
        }
    })
    .await;
}

/// A raw HTTP/1.1 exchange, for what hyper's client would not send.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_http_handshake() {
    within(async {
        let server = TestServer::start(fast()).await;
        let mut tcp = TcpStream::connect(server.addr).await.expect("connect");
        let req = "GET /engine.io/?EIO=4&transport=polling&t=abc&j=0 HTTP/1.1\r\n\
                   host: x\r\nconnection: close\r\n\r\n";
        tcp.write_all(req.as_bytes()).await.expect("write");
        let mut out = Vec::new();
        step("raw response", tcp.read_to_end(&mut out))
            .await
            .expect("read");
        let out = String::from_utf8(out).expect("UTF-8");
        assert!(out.starts_with("HTTP/1.1 200 OK\r\n"), "{out}");
        assert!(out.contains("\r\n\r\n0{\"sid\":\""), "{out}");
    })
    .await;
}
