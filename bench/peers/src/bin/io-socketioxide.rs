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
//!
//! With `TLS_CERT` and `TLS_KEY` (PEM files) it serves `https://` and
//! `wss://` instead (scripts/bench, scenario `io-tls`): axum's `serve` has
//! no TLS, so each accepted connection goes through tokio-rustls's
//! `TlsAcceptor` (socketeer's rustls version, `ring` provider and settings,
//! see `bench_peers::tls_acceptor_from_env`) in a task of its own, then to
//! hyper's HTTP/1.1 server with upgrades serving the same axum `Router`,
//! the way a user without axum-server would put them together.

use std::time::Duration;

use axum::serve::ListenerExt;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
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

    let tls = (std::env::var_os("TLS_CERT").is_some() && std::env::var_os("TLS_KEY").is_some())
        .then(bench_peers::tls_acceptor_from_env);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    eprintln!(
        "socketioxide listening on {}://{}",
        if tls.is_some() { "https" } else { "http" },
        listener.local_addr()?
    );
    if let Some(acceptor) = tls {
        return serve_tls(listener, acceptor, app).await;
    }
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, app).await?;
    Ok(())
}

/// The `https://` server: every accepted connection gets its TLS handshake,
/// then hyper's HTTP/1.1 server (with upgrades, for the WebSocket
/// transport) over `app`, in a task of its own.
async fn serve_tls(
    listener: tokio::net::TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
    app: axum::Router,
) -> Result<(), Box<dyn std::error::Error>> {
    loop {
        let (tcp, _) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of file descriptors or similar: back off, keep serving.
                eprintln!("accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let (acceptor, app) = (acceptor.clone(), app.clone());
        tokio::spawn(async move {
            let _ = tcp.set_nodelay(true);
            let Ok(tls) = acceptor.accept(tcp).await else {
                return;
            };
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(tls), TowerToHyperService::new(app))
                .with_upgrades()
                .await;
        });
    }
}
