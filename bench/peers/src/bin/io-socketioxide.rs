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
//! With `REDIS_URL` set (`redis://HOST:PORT`), the server joins a cluster
//! through `socketioxide-redis` (its default `socket.io` prefix, RESP3), so
//! that `broadcast` reaches the sockets of every server of the cluster
//! (scripts/bench, scenario `io-cluster`).
//!
//! For the reconnect avalanche (`socketeer bench avalanche`): with
//! `TICK_MS=N`, every N ms the server emits `tick` with a sequence number
//! (from 1) and its wall clock in milliseconds to every socket of `/`.
//! socketioxide 0.18 has no connection state recovery, so `RECOVERY=1` is
//! not supported here.

use std::time::Duration;

use axum::serve::ListenerExt;
use serde_json::Value;
use socketioxide::adapter::Adapter;
use socketioxide::extract::{AckSender, Data, SocketRef};
use socketioxide::{SocketIo, SocketIoBuilder};
use socketioxide_core::adapter::DefinedAdapter;
use socketioxide_redis::{RedisAdapter, RedisAdapterCtr};

/// The benchmark handlers on namespace `/`, whatever the adapter; returns
/// what the adapter's initialisation gives (a future for Redis).
fn handlers<A: Adapter + DefinedAdapter>(io: &SocketIo<A>) -> A::InitRes {
    io.ns("/", async |socket: SocketRef<A>| {
        socket.on("echo", async |s: SocketRef<A>, Data(args): Data<Value>| {
            let _ = s.emit("echo", &args);
        });
        socket.on(
            "message-with-ack",
            async |Data(args): Data<Value>, ack: AckSender<A>| {
                let _ = ack.send(&args);
            },
        );
        socket.on(
            "broadcast",
            async |io: SocketIo<A>, Data(args): Data<Value>| {
                let _ = io.emit("broadcast", &args).await;
            },
        );
    })
}

/// Emits `tick` [sequence, wall clock in ms] to every socket every `every`
/// (the reconnect avalanche).
async fn ticker(io: SocketIo, every: Duration) {
    let mut interval = tokio::time::interval(every);
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
}

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
    let builder = || {
        SocketIoBuilder::new()
            .ping_interval(Duration::from_millis(ms("PING_INTERVAL_MS", 300)))
            .ping_timeout(Duration::from_millis(ms("PING_TIMEOUT_MS", 200)))
    };
    let app = match std::env::var("REDIS_URL") {
        Ok(url) => {
            // The adapter's drivers need RESP3.
            let url = match url.contains('?') {
                true => format!("{url}&protocol=resp3"),
                false => format!("{url}?protocol=resp3"),
            };
            let client = redis::Client::open(url)?;
            let adapter = RedisAdapterCtr::new_with_redis(&client).await?;
            let (layer, io) = builder()
                .with_adapter::<RedisAdapter<_>>(adapter)
                .build_layer();
            handlers(&io).await?;
            axum::Router::new().layer(layer)
        }
        Err(_) => {
            let (layer, io) = builder().build_layer();
            handlers(&io);
            if let Some(tick) = std::env::var("TICK_MS")
                .ok()
                .and_then(|v| v.parse::<u64>().ok())
            {
                tokio::spawn(ticker(io, Duration::from_millis(tick.max(1))));
            }
            axum::Router::new().layer(layer)
        }
    };

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
