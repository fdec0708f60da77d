//! A WebSocket echo server with `socketeer-ws`: every text and binary
//! message is sent back as received.
//!
//! `cargo run --example ws_echo -- [PORT]` (default 9002; 0 picks a free
//! port), on 127.0.0.1. Try it with `socketeer ws ws://127.0.0.1:9002`.

use socketeer_ws::accept;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let port: u16 = match std::env::args().nth(1) {
        Some(p) => p.parse().expect("usage: ws_echo [PORT]"),
        None => 9002,
    };
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    println!("listening on ws://{}", listener.local_addr()?);
    loop {
        let (tcp, _) = listener.accept().await?;
        tokio::spawn(async move {
            let Ok(mut ws) = accept(tcp).await else {
                return;
            };
            // Pings are answered by the library; a close ends `recv`.
            while let Some(Ok(msg)) = ws.recv().await {
                if msg.is_data() && ws.send(msg).await.is_err() {
                    break;
                }
            }
        });
    }
}
