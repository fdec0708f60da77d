//! Socket.IO benchmark peer on socketioxide, with the same `echo` and
//! `broadcast` handlers as socketeer's `conformance` example:
//! `io-socketioxide PORT` serves `/socket.io/` on `127.0.0.1:PORT`.
//!
//! - `echo`: emits `echo` back to the sender with the same arguments;
//! - `broadcast`: emits `broadcast` with the arguments to every socket of `/`;
//! - `message-with-ack`: calls the ack with the arguments.
//!
//! Engine.IO ping interval 300 ms and timeout 200 ms, like `conformance`;
//! the environment variables `PING_INTERVAL_MS` and `PING_TIMEOUT_MS`
//! override them (scripts/bench does for its idle-connection runs).
//!
//! For the reconnect avalanche (`socketeer bench avalanche`): with
//! `TICK_MS=N`, every N ms the server emits `tick` with a sequence number
//! (from 1) and its wall clock in milliseconds to every socket of `/`.
//! socketioxide 0.18 has no connection state recovery, so `RECOVERY=1` is
//! not supported here.

use std::time::Duration;

use axum::serve::ListenerExt;
use serde_json::Value;
use socketioxide::extract::{AckSender, Data, SocketRef};
use socketioxide::SocketIo;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let _ = rlimit::increase_nofile_limit(u64::MAX);
    let port: u16 = std::env::args()
        .nth(1)
        .ok_or("usage: io-socketioxide PORT")?
        .parse()?;

    let ms = |name: &str, default: u64| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let (layer, io) = SocketIo::builder()
        .ping_interval(Duration::from_millis(ms("PING_INTERVAL_MS", 300)))
        .ping_timeout(Duration::from_millis(ms("PING_TIMEOUT_MS", 200)))
        .build_layer();

    io.ns("/", async |socket: SocketRef| {
        socket.on("echo", async |s: SocketRef, Data(args): Data<Value>| {
            let _ = s.emit("echo", &args);
        });
        socket.on(
            "message-with-ack",
            async |Data(args): Data<Value>, ack: AckSender| {
                let _ = ack.send(&args);
            },
        );
        socket.on(
            "broadcast",
            async |io: SocketIo, Data(args): Data<Value>| {
                let _ = io.emit("broadcast", &args).await;
            },
        );
    });

    if let Some(tick) = std::env::var("TICK_MS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
    {
        let io = io.clone();
        tokio::spawn(async move {
            let mut interval = tokio::time::interval(Duration::from_millis(tick.max(1)));
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut seq: u64 = 0;
            loop {
                interval.tick().await;
                seq += 1;
                let now_ms = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_millis() as u64);
                let _ = io.emit("tick", &(seq, now_ms)).await;
            }
        });
    }

    let app = axum::Router::new().layer(layer);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    eprintln!(
        "socketioxide listening on http://{}",
        listener.local_addr()?
    );
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, app).await?;
    Ok(())
}
