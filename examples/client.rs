//! A Rust Socket.IO client: connects, waits for the server's `welcome`
//! event, emits `join` with an acknowledgement, prints the answer, then
//! says hello to the room.
//!
//! `cargo run --example client -- [URL]` (default `http://127.0.0.1:3000`),
//! against `examples/server.rs` or any server with the same events.

use std::time::Duration;

use socketeer::client::ClientBuilder;
use socketeer::Value;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "http://127.0.0.1:3000".into());

    // Handlers are synchronous closures: hand the event to the async code.
    let (welcome_tx, mut welcome_rx) = tokio::sync::mpsc::unbounded_channel();
    let socket = ClientBuilder::new(url)
        .on("welcome", move |_socket, args, _ack| {
            let _ = welcome_tx.send(args);
        })
        .connect() // resolves once the namespace is joined
        .await?;
    println!("connected as {}", socket.id().unwrap_or_default());

    let welcome = tokio::time::timeout(Duration::from_secs(5), welcome_rx.recv())
        .await?
        .ok_or("no welcome event")?;
    println!("welcome: {}", serde_json::to_string(&welcome)?);

    let answer = socket
        .emit_with_ack("join", vec![Value::from("lobby")])
        .timeout(Duration::from_secs(5))
        .await?;
    println!("join acknowledged: {}", serde_json::to_string(&answer)?);

    socket.emit("chat", vec![Value::from("lobby"), Value::from("hello")])?;
    socket.disconnect();
    Ok(())
}
