//! A Socket.IO server with the default Engine.IO settings (ping every 25 s)
//! and the benchmark handlers, for `socketeer bench` runs where the
//! conformance server's 300 ms heartbeat would dominate (tens of thousands
//! of idle connections):
//! `cargo run --release --example bench_server -- [PORT]` (default 3001).
//!
//! On namespace `/`: `echo` emits `echo` back with the same arguments,
//! `message-with-ack` calls the ack with the arguments, `broadcast` emits
//! `broadcast` with the arguments to every socket of `/` (as `conformance`).
//! `TOKIO_WORKER_THREADS` sets the number of worker threads;
//! `PING_INTERVAL_MS` and `PING_TIMEOUT_MS` override the Engine.IO heartbeat
//! (25,000 and 20,000 ms by default), as on the benchmark peers.
//! With `REDIS_URL` set (`redis://HOST:PORT`), the server joins a cluster
//! through `socketeer-redis`'s classic adapter (default `socket.io` prefix),
//! so that `broadcast` reaches the sockets of every server of the cluster
//! (`scripts/bench`, scenario `io-cluster`).
//!
//! For the reconnect avalanche (`socketeer bench avalanche`): with
//! `TICK_MS=N`, every N ms the server emits `tick` with a sequence number
//! (from 1) and its wall clock in milliseconds to every socket of `/`;
//! `RECOVERY=1` turns connection state recovery on (socket.io's defaults).
//! `DIRECT_WRITES=0` turns off the direct writes to idle sessions
//! (`EngineIoConfig::direct_writes`), for comparisons.

use std::time::Duration;

use socketeer::server::{AckSender, Args, Socket};
use socketeer::server::{ConnectionStateRecovery, SocketIo, SocketIoConfig};
use socketeer_redis::{adapter_factory, RedisAdapterOptions};
use tokio::net::TcpListener;

async fn socket_io() -> std::io::Result<SocketIo> {
    let mut config = SocketIoConfig::default();
    if let Ok(url) = std::env::var("REDIS_URL") {
        let invalid = |e: &dyn std::fmt::Display| {
            std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("REDIS_URL: {e}"))
        };
        let client = redis::Client::open(url.as_str()).map_err(|e| invalid(&e))?;
        config.adapter = adapter_factory(client, RedisAdapterOptions::default())
            .await
            .map_err(|e| std::io::Error::other(format!("redis adapter: {e}")))?;
    }
    let ms = |name: &str| std::env::var(name).ok().and_then(|v| v.parse().ok());
    if let Some(interval) = ms("PING_INTERVAL_MS") {
        config.engine.ping_interval = Duration::from_millis(interval);
    }
    if let Some(timeout) = ms("PING_TIMEOUT_MS") {
        config.engine.ping_timeout = Duration::from_millis(timeout);
    }
    if std::env::var("DIRECT_WRITES").is_ok_and(|v| v == "0") {
        config.engine.direct_writes = false;
    }
    if std::env::var("RECOVERY").is_ok_and(|v| v == "1") {
        config.connection_state_recovery = Some(ConnectionStateRecovery::default());
    }
    let io = SocketIo::new(config);
    io.of("/").on_connection(|socket: Socket| {
        socket.on("echo", |s: Socket, Args(args): Args| {
            let _ = s.emit("echo", args);
        });
        socket.on(
            "message-with-ack",
            |Args(args): Args, ack: Option<AckSender>| {
                if let Some(ack) = ack {
                    let _ = ack.send(args);
                }
            },
        );
        socket.on("broadcast", |s: Socket, Args(args): Args| {
            let _ = s.namespace().emit("broadcast", args);
        });
    });
    Ok(io)
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let port: u16 = match std::env::args().nth(1) {
        Some(p) => p.parse().map_err(|_| {
            std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("bad port {p:?}"))
        })?,
        None => 3001,
    };
    let io = socket_io().await?;
    if let Some(tick) = std::env::var("TICK_MS").ok().and_then(|v| v.parse().ok()) {
        // Its emits reach the idle sessions by direct writes.
        tokio::spawn(socketeer::server::batch_writes(ticker(
            io.clone(),
            Duration::from_millis(tick),
        )));
    }
    let listener = TcpListener::bind(("127.0.0.1", port)).await?;
    eprintln!(
        "bench server listening on http://{}",
        listener.local_addr()?
    );
    // Other paths get 404; accept errors back off and keep serving.
    io.serve(listener).await
}

/// Emits `tick` [SEQUENCE, WALL CLOCK MS] to every socket of `/` every `every`.
async fn ticker(io: SocketIo, every: Duration) {
    let mut interval = tokio::time::interval(every.max(Duration::from_millis(1)));
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut seq: u64 = 0;
    loop {
        interval.tick().await;
        seq += 1;
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let _ = io.emit("tick", vec![seq.into(), now_ms.into()]);
    }
}
