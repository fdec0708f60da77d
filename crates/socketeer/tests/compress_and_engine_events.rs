//! `compress(false)` on a socket's emits and on broadcasts, seen in the
//! raw frames (RSV1) of a WebSocket that negotiated permessage-deflate;
//! and the Engine.IO session's events reached from a Socket.IO socket
//! (`socket.engine()`, Node's `socket.conn.on(..)`).

use std::net::SocketAddr;
use std::time::Duration;

use socketeer::server::{Socket, SocketIo, SocketIoConfig};
use socketeer::Value;
use socketeer_engineio::server::{per_message_deflate, CloseReason};
use socketeer_engineio::Packet;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

/// A WebSocket client by hand, offering permessage-deflate, that shows
/// each frame's RSV1 bit. It only sends short text frames.
struct RawWs {
    tcp: TcpStream,
    buf: Vec<u8>,
}

struct Frame {
    rsv1: bool,
    payload: Vec<u8>,
}

impl RawWs {
    async fn connect(addr: SocketAddr) -> RawWs {
        let mut tcp = TcpStream::connect(addr).await.expect("connect");
        let req = format!(
            "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: {addr}\r\n\
             Upgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
             Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n"
        );
        tcp.write_all(req.as_bytes()).await.expect("write");
        let mut ws = RawWs {
            tcp,
            buf: Vec::new(),
        };
        let end = loop {
            if let Some(i) = ws.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            ws.read_more().await;
        };
        let head = String::from_utf8(ws.buf.drain(..end).collect()).expect("ASCII head");
        assert!(head.starts_with("HTTP/1.1 101"), "{head}");
        assert!(
            head.to_ascii_lowercase()
                .contains("sec-websocket-extensions: permessage-deflate"),
            "deflate not negotiated: {head}"
        );
        ws
    }

    async fn read_more(&mut self) {
        let mut chunk = [0u8; 8192];
        let n = self.tcp.read(&mut chunk).await.expect("read");
        assert!(n > 0, "connection closed");
        self.buf.extend_from_slice(&chunk[..n]);
    }

    async fn fill(&mut self, n: usize) {
        while self.buf.len() < n {
            self.read_more().await;
        }
    }

    async fn frame(&mut self) -> Frame {
        self.fill(2).await;
        let (b0, b1) = (self.buf[0], self.buf[1]);
        let (len, at) = match b1 & 0x7f {
            126 => {
                self.fill(4).await;
                (u16::from_be_bytes([self.buf[2], self.buf[3]]) as usize, 4)
            }
            127 => {
                self.fill(10).await;
                let mut b = [0u8; 8];
                b.copy_from_slice(&self.buf[2..10]);
                (u64::from_be_bytes(b) as usize, 10)
            }
            n => (n as usize, 2),
        };
        self.fill(at + len).await;
        let payload = self.buf[at..at + len].to_vec();
        self.buf.drain(..at + len);
        Frame {
            rsv1: b0 & 0x40 != 0,
            payload,
        }
    }

    /// Sends a short text frame (masked with a zero key: the text as is).
    async fn send_text(&mut self, text: &str) {
        assert!(text.len() < 126);
        let mut frame = vec![0x81, 0x80 | text.len() as u8, 0, 0, 0, 0];
        frame.extend_from_slice(text.as_bytes());
        self.tcp.write_all(&frame).await.expect("write");
    }
}

async fn serve(io: &SocketIo) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(io.clone().serve(listener));
    addr
}

fn deflating() -> SocketIoConfig {
    let mut config = SocketIoConfig::default();
    config.engine.websocket.deflate = Some(per_message_deflate());
    config
}

/// Connects to the main namespace: the OPEN and CONNECT packets (short,
/// never compressed).
async fn connect(addr: SocketAddr) -> RawWs {
    let mut ws = RawWs::connect(addr).await;
    assert!(ws.frame().await.payload.starts_with(b"0{"));
    ws.send_text("40").await;
    assert!(ws.frame().await.payload.starts_with(b"40{\"sid\""));
    ws
}

#[tokio::test]
async fn compress_false_sends_large_messages_uncompressed() {
    let big = "b".repeat(5000);
    let io = SocketIo::new(deflating());
    let b = big.clone();
    let io2 = io.clone();
    io.on_connection(move |socket: Socket| {
        let b = b.clone();
        let io = io2.clone();
        socket.on("go", move |s: Socket| {
            let arg = || vec![Value::from(b.as_str())];
            s.emit("1", arg()).unwrap();
            s.compress(false).emit("2", arg()).unwrap();
            s.compress(false).compress(true).emit("3", arg()).unwrap();
            s.compress(false)
                .emit_serialized("4", &(b.as_str(),))
                .unwrap();
            io.emit("5", arg()).unwrap();
            io.compress(false).emit("6", arg()).unwrap();
            s.broadcast().compress(false).emit("not me", arg()).unwrap();
            io.to(s.id().to_owned())
                .compress(false)
                .emit("7", arg())
                .unwrap();
        });
    });
    let addr = serve(&io).await;
    tokio::time::timeout(Duration::from_secs(20), async {
        let mut ws = connect(addr).await;
        ws.send_text(r#"42["go"]"#).await;
        for (event, compressed) in [
            ("1", true),
            ("2", false),
            ("3", true),
            ("4", false),
            ("5", true),
            ("6", false),
            ("7", false),
        ] {
            let f = ws.frame().await;
            assert_eq!(f.rsv1, compressed, "event {event}");
            if compressed {
                assert!(f.payload.len() < 200, "event {event}: {}", f.payload.len());
            } else {
                let text = format!(r#"42["{event}","{big}"]"#);
                assert_eq!(f.payload, text.into_bytes(), "event {event}");
            }
        }
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn engine_events_from_a_socketio_socket() {
    let io = SocketIo::new(deflating());
    let (tx, mut rx) = mpsc::unbounded_channel::<String>();
    io.on_connection(move |socket: Socket| {
        let t = tx.clone();
        socket.engine().on_packet(move |p| {
            if let Packet::Message(socketeer_engineio::Payload::Text(m)) = p {
                let _ = t.send(format!("in {}", m.as_str()));
            }
        });
        let t = tx.clone();
        socket.engine().on_close(move |r: CloseReason| {
            let _ = t.send(format!("close {r}"));
        });
        let t = tx.clone();
        socket.on_disconnect(move |_: Socket| {
            let _ = t.send("disconnect".to_owned());
        });
    });
    let addr = serve(&io).await;
    tokio::time::timeout(Duration::from_secs(20), async {
        let mut ws = connect(addr).await;
        ws.send_text(r#"42["hello",1]"#).await;
        // The Engine.IO MESSAGE packet carries the Socket.IO EVENT packet.
        assert_eq!(rx.recv().await.unwrap(), r#"in 2["hello",1]"#);
        ws.send_text("1").await;
        // The Socket.IO socket's disconnect first, then the session's close.
        assert_eq!(rx.recv().await.unwrap(), "disconnect");
        assert_eq!(rx.recv().await.unwrap(), "close transport close");
    })
    .await
    .unwrap();
}
