//! The Socket.IO server of `server.rs`, mounted in an axum application with
//! the tower layer `SocketIoLayer`, beside an ordinary route (`GET /hello`).
//! The layer answers `/socket.io/` and passes every other request on.
//!
//! `cargo run --example axum -- [PORT]` (default 3000; 0 picks a free
//! port), on 127.0.0.1.

use socketeer::server::{AckSender, Args, Socket};
use socketeer::server::{SocketIo, SocketIoLayer};
use socketeer::Value;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let port: u16 = match std::env::args().nth(1) {
        Some(p) => p.parse().expect("usage: axum [PORT]"),
        None => 3000,
    };

    let io = SocketIo::new(Default::default());
    io.of("/").on_connection(|socket: Socket| {
        let _ = socket.emit("welcome", vec![Value::from(socket.id())]);

        socket.on(
            "join",
            |socket: Socket, Args(args): Args, ack: Option<AckSender>| {
                if let Some(room) = args.first().and_then(Value::as_str) {
                    socket.join([room]);
                }
                if let Some(ack) = ack {
                    let _ = ack.send(vec![Value::from("joined")]);
                }
            },
        );

        socket.on(
            "chat",
            |socket: Socket, Args(args): Args, _ack: Option<AckSender>| {
                if let Some(room) = args.first().and_then(Value::as_str) {
                    let _ = socket.to(room).emit("chat", args[1..].to_vec());
                }
            },
        );
    });

    let app = axum::Router::new()
        .route("/hello", axum::routing::get(|| async { "hello" }))
        .layer(SocketIoLayer::new(io));

    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    println!("listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app).await
}
