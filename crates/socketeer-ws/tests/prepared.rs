//! [`PreparedFrame`]: a data message encoded once for many connections.
//!
//! The Sans-I/O checks need no runtime; the [`WebSocketStream`] check
//! (feature `tokio`) runs over an in-memory duplex pair.

use bytes::{Bytes, BytesMut};
use socketeer_ws::deflate::{DeflateConfig, DeflateParams, PerMessageDeflate};
use socketeer_ws::{Message, Payload, PreparedFrame, Protocol, Role};

/// Every message `receiver` decodes from `bytes`.
fn receive_all(receiver: &mut Protocol, bytes: Bytes) -> Vec<Message> {
    let mut input = BytesMut::from(&bytes[..]);
    let mut out = Vec::new();
    while let Some(msg) = receiver.receive(&mut input).expect("a valid stream") {
        out.push(msg);
    }
    assert!(input.is_empty(), "{} bytes left over", input.len());
    out
}

/// Payloads whose frames use each header size: 7-bit, 16-bit and 64-bit
/// lengths, text and binary, below and above the zero-copy threshold.
fn payloads() -> Vec<Payload> {
    vec![
        Payload::text(""),
        Payload::text("h€llo"),
        Payload::binary(vec![1, 2, 3]),
        Payload::text("x".repeat(125)),
        Payload::binary(vec![7; 126]),
        Payload::text("é".repeat(2000)),
        Payload::binary(vec![9; 70_000]),
    ]
}

#[test]
fn prepared_bytes_equal_a_normal_server_send() {
    for payload in payloads() {
        let frame = PreparedFrame::from_payload(payload.clone());
        let mut normal = Protocol::new(Role::Server);
        normal.send(Message::from(payload.clone())).unwrap();
        let sent = normal.take_output();
        assert_eq!(frame.wire_bytes(), &sent, "{} bytes", payload.len());

        let mut prepared = Protocol::new(Role::Server);
        prepared.send_prepared(&frame).unwrap();
        assert_eq!(prepared.take_output(), sent);

        // new(&Message) builds the same frame.
        let same = PreparedFrame::new(&Message::from(payload.clone())).unwrap();
        assert_eq!(same.wire_bytes(), frame.wire_bytes());
    }
    assert!(PreparedFrame::new(&Message::Ping(Bytes::new())).is_err());
    assert!(PreparedFrame::new(&Message::Close(None)).is_err());
}

#[test]
fn payload_is_sliced_from_the_frame() {
    for payload in payloads() {
        let frame = PreparedFrame::from(payload.clone());
        let sliced = frame.payload();
        assert_eq!(sliced, payload);
        assert_eq!(sliced.is_text(), frame.is_text());
        assert_eq!(frame.payload_len(), payload.len());
        // The same memory as the encoded frame: its tail.
        let wire = frame.wire_bytes();
        let tail = &wire[wire.len() - payload.len()..];
        assert_eq!(sliced.as_bytes().as_ptr(), tail.as_ptr());
        if let Payload::Text(t) = &sliced {
            assert_eq!(Some(t.as_str()), std::str::from_utf8(tail).ok());
        }
    }
}

/// A deflate codec pair with context takeover (the default parameters).
fn with_deflate(role: Role) -> Protocol {
    let mut proto = Protocol::new(role);
    let codec = PerMessageDeflate::new(role, DeflateParams::default(), &DeflateConfig::default());
    proto.set_deflate(codec);
    proto
}

#[test]
fn send_uncompressed_clears_rsv1_and_keeps_the_compression_context() {
    for role in [Role::Server, Role::Client] {
        let peer_role = match role {
            Role::Server => Role::Client,
            Role::Client => Role::Server,
        };
        let mut sender = with_deflate(role);
        let mut receiver = with_deflate(peer_role);
        let long = "a message long enough to be compressed, ".repeat(8);
        let mut wire = BytesMut::new();
        let mut expected = Vec::new();
        for round in 0..3 {
            let own = format!("{long}{round}");
            sender.send(Message::text(own.clone())).unwrap();
            let compressed = sender.take_output();
            assert_eq!(compressed[0] & 0x40, 0x40, "RSV1: a normal send compresses");
            wire.extend_from_slice(&compressed);
            expected.push(Message::text(own.clone()));

            sender
                .send_uncompressed(Message::binary(own.clone().into_bytes()))
                .unwrap();
            let plain = sender.take_output();
            assert_eq!(plain[0] & 0x40, 0, "RSV1 clear: uncompressed");
            assert!(plain.len() > own.len(), "{role:?}: the payload as is");
            wire.extend_from_slice(&plain);
            expected.push(Message::binary(own.into_bytes()));
        }
        // Control messages go through as with send.
        sender
            .send_uncompressed(Message::Ping(Bytes::from_static(b"p")))
            .unwrap();
        wire.extend_from_slice(&sender.take_output());
        expected.push(Message::Ping(Bytes::from_static(b"p")));
        let got = receive_all(&mut receiver, wire.freeze());
        assert_eq!(got, expected, "{role:?}");
    }
}

#[test]
fn prepared_frames_are_uncompressed_under_deflate_and_decode_in_order() {
    let mut server = with_deflate(Role::Server);
    let mut client = with_deflate(Role::Client);
    let long = "a message long enough to be compressed, ".repeat(8);
    let prepared = PreparedFrame::from_payload(Payload::text(long.clone()));
    let binary = PreparedFrame::from_payload(Payload::binary(vec![5; 300]));

    let mut expected = Vec::new();
    let mut wire = BytesMut::new();
    for round in 0..3 {
        let own = format!("{long}{round}");
        server.send(Message::text(own.clone())).unwrap();
        let compressed = server.take_output();
        assert_eq!(compressed[0] & 0x40, 0x40, "RSV1: a normal send compresses");
        assert!(compressed.len() < own.len());
        wire.extend_from_slice(&compressed);
        expected.push(Message::text(own));

        server.send_prepared(&prepared).unwrap();
        let sent = server.take_output();
        assert_eq!(&sent, prepared.wire_bytes(), "sent as is");
        assert_eq!(sent[0] & 0x40, 0, "RSV1 clear: uncompressed");
        wire.extend_from_slice(&sent);
        expected.push(Message::text(long.clone()));

        server.send_prepared(&binary).unwrap();
        wire.extend_from_slice(&server.take_output());
        expected.push(Message::binary(vec![5; 300]));
    }
    assert_eq!(receive_all(&mut client, wire.freeze()), expected);
}

#[test]
fn a_client_masks_a_prepared_frame() {
    let frame = PreparedFrame::from_payload(Payload::text("to the server"));
    let mut client = with_deflate(Role::Client);
    let mut server = with_deflate(Role::Server);
    client.send_prepared(&frame).unwrap();
    let sent = client.take_output();
    assert_eq!(sent[0], 0x81, "FIN, text, RSV1 clear");
    assert_eq!(sent[1] & 0x80, 0x80, "masked");
    assert_eq!(
        receive_all(&mut server, sent),
        [Message::text("to the server")]
    );
}

#[cfg(feature = "tokio")]
mod stream {
    use bytes::BytesMut;
    use socketeer_ws::{
        Error, Message, Payload, PreparedFrame, Protocol, Role, StreamConfig, WebSocketStream,
    };

    #[tokio::test(flavor = "current_thread")]
    async fn feed_prepared_interleaves_and_respects_the_queue_limit() {
        let (server_io, client_io) = tokio::io::duplex(1 << 20);
        let config = StreamConfig {
            max_send_queue: 100,
            ..StreamConfig::default()
        };
        let mut server = WebSocketStream::from_parts(
            server_io,
            Protocol::new(Role::Server),
            BytesMut::new(),
            config,
        );
        let mut client = WebSocketStream::from_raw(client_io, Role::Client);

        // 60 bytes of payload: a 62-byte frame.
        let frame = PreparedFrame::from_payload(Payload::binary(vec![3; 60]));
        let normal = || Message::binary(vec![4; 60]);

        // In order, interleaved with normal sends.
        server.feed(Message::text("first")).await.unwrap();
        server.feed_prepared(&frame).unwrap();
        server.flush().await.unwrap();
        server.try_feed(Message::text("third")).unwrap();
        server.flush().await.unwrap();
        server.feed_prepared(&frame).unwrap();
        server.flush().await.unwrap();
        server.feed(Message::text("fifth")).await.unwrap();
        server.flush().await.unwrap();
        // Over 1 KiB: queued by reference rather than copied.
        let big = PreparedFrame::from_payload(Payload::binary(vec![6; 5000]));
        server.feed_prepared(&big).unwrap();
        server.flush().await.unwrap();
        let mut got = Vec::new();
        for _ in 0..6 {
            got.push(client.recv().await.unwrap().unwrap());
        }
        assert_eq!(
            got,
            [
                Message::text("first"),
                Message::binary(vec![3; 60]),
                Message::text("third"),
                Message::binary(vec![3; 60]),
                Message::text("fifth"),
                Message::binary(vec![6; 5000]),
            ]
        );

        // The queue limit counts bytes: a 62-byte frame fits under 100 ...
        server.feed_prepared(&frame).unwrap();
        assert_eq!(server.protocol().output_len(), 62);
        // ... a second would take the queue to 124: refused either way,
        // queueing nothing.
        assert!(matches!(
            server.feed_prepared(&frame),
            Err(Error::QueueFull)
        ));
        assert!(matches!(server.try_feed(normal()), Err(Error::QueueFull)));
        assert_eq!(server.protocol().output_len(), 62);
        // Once written, there is room again, for either.
        server.flush().await.unwrap();
        server.try_feed(normal()).unwrap();
        server.flush().await.unwrap();
        server.feed_prepared(&frame).unwrap();
        server.flush().await.unwrap();
        // Alone in an empty queue, a frame over the limit still goes (it
        // cannot be split); nothing joins it until it is written.
        server.feed_prepared(&big).unwrap();
        assert!(matches!(server.try_feed(normal()), Err(Error::QueueFull)));
        server.flush().await.unwrap();
        let mut got = Vec::new();
        for _ in 0..4 {
            got.push(client.recv().await.unwrap().unwrap());
        }
        assert_eq!(
            got,
            [
                Message::binary(vec![3; 60]),
                normal(),
                Message::binary(vec![3; 60]),
                Message::binary(vec![6; 5000]),
            ]
        );
    }
}

/// What a driver asks before writing a prepared frame as it is: whether
/// this connection would compress a message of that size.
#[test]
fn would_compress_follows_negotiation_and_threshold() {
    let server = with_deflate(Role::Server);
    assert!(server.would_compress(100_000));
    assert!(!server.would_compress(1));
    assert!(!Protocol::new(Role::Server).would_compress(100_000));
}
