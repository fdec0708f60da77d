//! Integration tests over real sockets on 127.0.0.1.

use std::time::Duration;

use bytes::Bytes;
use socketeer_ws::{
    accept_with_config, connect, connect_with_options, CloseCode, CloseFrame, ConnectOptions,
    DeflateConfig, Error, Message, ServerConfig,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Starts an echo server with `config`; returns its ws:// URL.
async fn echo_server(config: ServerConfig) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let config = std::sync::Arc::new(config);
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let config = config.clone();
            tokio::spawn(async move {
                let Ok(conn) = accept_with_config(tcp, &config).await else {
                    return;
                };
                let mut ws = conn.ws;
                while let Some(Ok(msg)) = ws.recv().await {
                    if let Message::Text(t) = &msg {
                        if t.as_str() == "close-me" {
                            let _ = ws.close(Some(CloseFrame::new(4001, "bye"))).await;
                            return;
                        }
                    }
                    if msg.is_data() && ws.feed(msg).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    format!("ws://{addr}")
}

async fn with_timeout<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(20), f)
        .await
        .expect("test timed out")
}

#[tokio::test]
async fn echoes_text_binary_and_large_messages() {
    with_timeout(async {
        let url = echo_server(ServerConfig::default()).await;
        for deflate in [false, true] {
            let mut opts = ConnectOptions::default();
            if deflate {
                opts.handshake.deflate = Some(DeflateConfig::default());
            }
            let (mut ws, resp) = connect_with_options(&url, &opts).await.unwrap();
            assert_eq!(ws.protocol().has_deflate(), deflate);
            assert_eq!(
                resp.headers().contains_key("sec-websocket-extensions"),
                deflate
            );
            let big: Vec<u8> = (0..16 << 20).map(|i: u32| (i % 251) as u8).collect();
            let msgs = vec![
                Message::text("hello"),
                Message::text(""),
                Message::text("κόσμε 𝄞"),
                Message::binary(Bytes::from_static(&[0, 1, 2, 255])),
                Message::binary(big),
                Message::text("x".repeat(70_000)),
            ];
            for m in &msgs {
                ws.feed(m.clone()).await.unwrap();
            }
            ws.flush().await.unwrap();
            for m in &msgs {
                let got = ws.recv().await.unwrap().unwrap();
                assert_eq!(&got, m, "deflate={deflate}");
            }
            ws.close(None).await.unwrap();
        }
    })
    .await;
}

#[tokio::test]
async fn ping_is_answered_and_close_codes_seen_on_both_sides() {
    with_timeout(async {
        let url = echo_server(ServerConfig::default()).await;
        let (mut ws, _) = connect(&url).await.unwrap();
        ws.send(Message::Ping(Bytes::from_static(b"p1")))
            .await
            .unwrap();
        assert_eq!(
            ws.recv().await.unwrap().unwrap(),
            Message::Pong(Bytes::from_static(b"p1"))
        );
        ws.send(Message::text("close-me")).await.unwrap();
        let close = ws.recv().await.unwrap().unwrap();
        assert_eq!(close, Message::Close(Some(CloseFrame::new(4001, "bye"))));
        assert!(ws.recv().await.is_none());
    })
    .await;
}

#[tokio::test]
async fn split_halves_work_from_two_tasks() {
    with_timeout(async {
        let url = echo_server(ServerConfig::default()).await;
        let (ws, _) = connect(&url).await.unwrap();
        let (mut reader, mut writer) = ws.split();
        let sender = tokio::spawn(async move {
            for i in 0..1000 {
                writer.send(Message::text(format!("m{i}"))).await.unwrap();
            }
            writer
        });
        for i in 0..1000 {
            let got = reader.recv().await.unwrap().unwrap();
            assert_eq!(got, Message::text(format!("m{i}")));
        }
        let mut writer = sender.await.unwrap();
        writer.close(None).await.unwrap();
        assert!(matches!(
            reader.recv().await,
            Some(Ok(Message::Close(None)))
        ));
    })
    .await;
}

/// Sends raw bytes after a valid handshake and returns what the server
/// answers until it closes TCP.
async fn raw_session(url: &str, frames: &[u8]) -> Vec<u8> {
    let addr = url.trim_start_matches("ws://");
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n").await.unwrap();
    tcp.write_all(frames).await.unwrap();
    let mut out = Vec::new();
    tcp.read_to_end(&mut out).await.unwrap();
    let head_end = out.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    assert!(out.starts_with(b"HTTP/1.1 101"));
    out.split_off(head_end)
}

fn close_code_of(frames: &[u8]) -> u16 {
    // The server's frames are unmasked; find the close frame.
    let mut pos = 0;
    while pos + 2 <= frames.len() {
        let op = frames[pos] & 0x0f;
        let len = (frames[pos + 1] & 0x7f) as usize;
        assert!(len < 126);
        if op == 8 {
            return u16::from_be_bytes([frames[pos + 2], frames[pos + 3]]);
        }
        pos += 2 + len;
    }
    panic!("no close frame in {frames:x?}");
}

#[tokio::test]
async fn bad_frames_get_the_right_close_code_and_others_are_unaffected() {
    with_timeout(async {
        let url = echo_server(ServerConfig::default()).await;
        let (mut healthy, _) = connect(&url).await.unwrap();
        let mut huge = vec![0x82, 0xff];
        huge.extend_from_slice(&(1u64 << 63).to_be_bytes());
        huge.extend_from_slice(&[1, 2, 3, 4]);
        let mut big_len = vec![0x82, 0xff];
        big_len.extend_from_slice(&((1u64 << 62) + 5).to_be_bytes());
        big_len.extend_from_slice(&[1, 2, 3, 4]);
        let mut long_ping = vec![0x89, 0xfe, 0, 126, 0, 0, 0, 0];
        long_ping.extend(std::iter::repeat_n(0u8, 126));
        let cases: Vec<(&str, Vec<u8>, u16)> = vec![
            ("2^63 length", huge, 1002),
            ("2^62 length over the limit", big_len, 1009),
            ("control frame over 125 bytes", long_ping, 1002),
            ("unmasked client frame", vec![0x81, 0x02, b'h', b'i'], 1002),
            ("reserved opcode", vec![0x83, 0x80, 0, 0, 0, 0], 1002),
            ("invalid utf-8", vec![0x81, 0x81, 0, 0, 0, 0, 0xff], 1007),
            ("rsv1 without deflate", vec![0xc1, 0x80, 0, 0, 0, 0], 1002),
        ];
        for (name, frames, code) in cases {
            let answer = raw_session(&url, &frames).await;
            assert_eq!(close_code_of(&answer), code, "{name}");
            healthy.send(Message::text(name)).await.unwrap();
            assert_eq!(healthy.recv().await.unwrap().unwrap(), Message::text(name));
        }
    })
    .await;
}

async fn raw_request(url: &str, request: &[u8]) -> String {
    let addr = url.trim_start_matches("ws://");
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    let _ = tcp.write_all(request).await;
    let mut out = Vec::new();
    let _ = tcp.read_to_end(&mut out).await;
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test]
async fn bad_handshakes_get_http_errors() {
    with_timeout(async {
        let config = ServerConfig {
            handshake_timeout: Duration::from_millis(500),
            request_hook: Some(std::sync::Arc::new(|req| {
            match req.headers().get("origin").map(|v| v.as_bytes()) {
                Some(b"http://evil.example") => Err(socketeer_ws::HandshakeError::Rejected {
                    status: 403,
                    reason: "origin not allowed".into(),
                }),
                _ => Ok(()),
            }
        })),
            ..Default::default()
        };
        let url = echo_server(config).await;
        let (mut healthy, _) = connect(&url).await.unwrap();
        let garbage = raw_request(&url, b"\x16\x03\x01\x00\xa5garbage\r\n\r\n").await;
        assert!(garbage.starts_with("HTTP/1.1 400 "), "{garbage}");
        let mut big = b"GET / HTTP/1.1\r\nX-Big: ".to_vec();
        big.extend(std::iter::repeat_n(b'a', 17 * 1024));
        let big = raw_request(&url, &big).await;
        assert!(big.starts_with("HTTP/1.1 431 "), "{big}");
        let plain = raw_request(&url, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await;
        assert!(plain.starts_with("HTTP/1.1 426 "), "{plain}");
        let evil = raw_request(&url, b"GET / HTTP/1.1\r\nHost: x\r\nOrigin: http://evil.example\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n").await;
        assert!(evil.starts_with("HTTP/1.1 403 "), "{evil}");
        // A handshake that never finishes is cut off after the timeout.
        let addr = url.trim_start_matches("ws://");
        let mut slow = TcpStream::connect(addr).await.unwrap();
        slow.write_all(b"GET / HTTP/1.1\r\n").await.unwrap();
        let mut out = Vec::new();
        let started = std::time::Instant::now();
        let _ = slow.read_to_end(&mut out).await;
        assert!(started.elapsed() < Duration::from_secs(5));
        assert!(String::from_utf8_lossy(&out).starts_with("HTTP/1.1 408 "));
        healthy.send(Message::text("still here")).await.unwrap();
        assert_eq!(healthy.recv().await.unwrap().unwrap(), Message::text("still here"));
    })
    .await;
}

#[tokio::test]
async fn message_limit_closes_with_1009() {
    with_timeout(async {
        let mut config = ServerConfig::default();
        config.limits.max_message_size = 1000;
        let url = echo_server(config).await;
        let (mut ws, _) = connect(&url).await.unwrap();
        ws.send(Message::binary(vec![0u8; 2000])).await.unwrap();
        match ws.recv().await.unwrap().unwrap() {
            Message::Close(Some(f)) => assert_eq!(f.code, CloseCode::MESSAGE_TOO_BIG),
            other => panic!("expected close, got {other:?}"),
        }
        // Sending after the close handshake fails cleanly.
        assert!(matches!(
            ws.send(Message::text("late")).await,
            Err(Error::ConnectionClosed)
        ));
    })
    .await;
}
