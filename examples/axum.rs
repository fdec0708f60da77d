//! The Socket.IO server of `server.rs`, mounted in an axum application with
//! the tower layer `SocketIoLayer`, beside an ordinary route (`GET /hello`).
//! The layer answers `/socket.io/` and passes every other request on.
//!
//! `cargo run --example axum -- [PORT]` (default 3000; 0 picks a free
//! port), on 127.0.0.1.

use socketeer::server::{AckSender, Data, Socket};
use socketeer::server::{SocketIo, SocketIoLayer};
use socketeer::Value;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let port: u16 = match std::env::args().nth(1) {
        Some(p) => p.parse().expect("usage: axum [PORT]"),
        None => 3000,
    };

    let io = SocketIo::new(Default::default());
    io.on_connection(|socket: Socket| {
        let _ = socket.emit("welcome", vec![Value::from(socket.id())]);

        // ["join", room] with an ack. Typed arguments (a client sending
        // anything but one string gets {"error": ...} as its ack), and async:
        // it could look the room up first, and this socket's later events
        // would wait for it.
        socket.on(
            "join",
            |socket: Socket, Data(room): Data<String>, ack: AckSender| async move {
                socket.join([room]);
                let _ = ack.send(vec![Value::from("joined")]);
            },
        );

        // ["chat", room, text]: encoded once, written to every other member
        // of the room.
        socket.on(
            "chat",
            |socket: Socket, Data((room, text)): Data<(String, String)>| {
                let _ = socket.to(room).emit("chat", vec![Value::from(text)]);
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
