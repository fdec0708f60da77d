//! A Socket.IO server mounted as a tower layer in an axum router, beside
//! ordinary routes, reached over WebSocket and HTTP long-polling.

mod common;

use std::time::Duration;

use common::next_text;
use socketeer::server::{Args, Socket};
use socketeer::server::{SocketIo, SocketIoLayer};
use socketeer::Value;
use socketeer_ws::{connect, Message};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test]
async fn socketio_layer_serves_beside_axum_routes() {
    let io = SocketIo::new(Default::default());
    io.of("/").on_connection(|socket: Socket| {
        let _ = socket.emit("welcome", vec![Value::from(socket.id())]);
        socket.on("echo", |s: Socket, Args(args): Args| {
            let _ = s.emit("echo", args);
        });
    });
    let app = axum::Router::new()
        .route("/hello", axum::routing::get(|| async { "hello" }))
        .layer(SocketIoLayer::new(io));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    tokio::time::timeout(Duration::from_secs(20), async {
        // An ordinary route.
        let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        tcp.write_all(b"GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await.unwrap();
        let mut out = String::new();
        tcp.read_to_string(&mut out).await.unwrap();
        assert!(out.starts_with("HTTP/1.1 200") && out.ends_with("hello"), "{out}");

        // Socket.IO over long-polling: the Engine.IO handshake.
        let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        tcp.write_all(b"GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut out = String::new();
        tcp.read_to_string(&mut out).await.unwrap();
        assert!(out.starts_with("HTTP/1.1 200"), "{out}");
        assert!(out.contains("0{\"sid\":\""), "{out}");

        // Socket.IO over WebSocket: connect to "/", get the welcome, echo.
        let url = format!("ws://{addr}/socket.io/?EIO=4&transport=websocket");
        let (mut ws, _) = connect(&url).await.unwrap();
        assert!(next_text(&mut ws).await.starts_with("0{"));
        ws.send(Message::text("40")).await.unwrap();
        let connected = next_text(&mut ws).await;
        assert!(connected.starts_with("40{\"sid\":\""), "{connected}");
        let sid = connected
            .trim_start_matches("40{\"sid\":\"")
            .trim_end_matches("\"}")
            .to_owned();
        assert_eq!(next_text(&mut ws).await, format!("42[\"welcome\",\"{sid}\"]"));
        ws.send(Message::text(r#"42["echo",{"a":[1,"two"]}]"#)).await.unwrap();
        assert_eq!(next_text(&mut ws).await, r#"42["echo",{"a":[1,"two"]}]"#);
    })
    .await
    .unwrap();
}
