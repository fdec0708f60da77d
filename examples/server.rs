//! A minimal Socket.IO server: clients join a room, chat to the room, and
//! get an acknowledgement when they join.
//!
//! `cargo run --example server -- [PORT]` (default 3000; 0 picks a free
//! port), on 127.0.0.1. Try it with `examples/client.rs`, the browser's
//! `socket.io-client`, or `socketeer io http://127.0.0.1:3000`.
//!
//! Events:
//! - on connection the server emits `welcome` with the socket's id;
//! - `join` (room, ack): joins the room and acknowledges with `"joined"`;
//! - `chat` (room, text): emits `chat` (text) to the room's other members.

use socketeer::server::SocketIo;
use socketeer::server::{AckSender, Data, Socket};
use socketeer::Value;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let port: u16 = match std::env::args().nth(1) {
        Some(p) => p.parse().expect("usage: server [PORT]"),
        None => 3000,
    };

    // Engine.IO + Socket.IO at /socket.io/, default settings.
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

    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    println!("listening on http://{}", listener.local_addr()?);
    io.serve(listener).await
}
