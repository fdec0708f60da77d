//! A Socket.IO client on a WebSocket opened by hand over a raw TCP stream,
//! joined to `/`, with the client protocol state beside it: the test reads
//! only when it chooses and can write pre-built frames itself (`tcp`).
//! Included with `#[path]` by the tests that flood or starve a server.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::BytesMut;
use socketeer_ws::{Message, Protocol, Role};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How long [`RawClient::text`] waits for a message.
const TEXT_TIMEOUT: Duration = Duration::from_secs(30);

pub struct RawClient {
    pub tcp: TcpStream,
    proto: Protocol,
    buf: BytesMut,
}

impl RawClient {
    /// Opens the WebSocket, reads the Engine.IO open packet and joins `/`.
    pub async fn connect(addr: SocketAddr) -> RawClient {
        let mut tcp = TcpStream::connect(addr).await.expect("connect");
        let request = format!(
            "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: {addr}\r\n\
             Upgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        );
        tcp.write_all(request.as_bytes()).await.expect("request");
        let mut head = Vec::new();
        while !head.ends_with(b"\r\n\r\n") {
            head.push(tcp.read_u8().await.expect("response head"));
            assert!(head.len() < 4096, "response head too long");
        }
        assert!(head.starts_with(b"HTTP/1.1 101"));
        let mut client = RawClient {
            tcp,
            proto: Protocol::new(Role::Client),
            buf: BytesMut::with_capacity(1 << 16),
        };
        let open = client.text().await;
        assert!(open.starts_with('0'), "{open}");
        client.send("40").await;
        let connected = client.text().await;
        assert!(connected.starts_with("40"), "{connected}");
        client
    }

    /// Sends one text message.
    pub async fn send(&mut self, text: &str) {
        self.proto.send(Message::text(text.to_owned())).unwrap();
        let out = self.proto.take_output();
        self.tcp.write_all(&out).await.expect("write");
    }

    /// The next message or close frame (`None` when the connection ends).
    pub async fn next(&mut self) -> Option<Message> {
        loop {
            match self.proto.receive(&mut self.buf) {
                Ok(Some(m @ (Message::Text(_) | Message::Binary(_) | Message::Close(_)))) => {
                    return Some(m)
                }
                Ok(Some(_)) => continue,
                Ok(None) => {}
                Err(e) => panic!("bad frame from the server: {e}"),
            }
            match self.tcp.read_buf(&mut self.buf).await {
                Ok(0) | Err(_) => return None,
                Ok(_) => {}
            }
        }
    }

    /// The next text message other than an Engine.IO ping.
    pub async fn text(&mut self) -> String {
        loop {
            match tokio::time::timeout(TEXT_TIMEOUT, self.next()).await {
                Ok(Some(Message::Text(t))) if t.as_str() == "2" => {}
                Ok(Some(Message::Text(t))) => return t.to_string(),
                other => panic!("expected a text message, got {other:?}"),
            }
        }
    }
}
