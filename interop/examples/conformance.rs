//! The server of the conformance contract in docs/conformance.md, for the official
//! Engine.IO / Socket.IO protocol test suites and the interop tests:
//! `cargo run --release --example conformance -- [PORT]` (default 3000).
//! `--state-recovery` turns connection state recovery on (off in the
//! contract: the official suites expect CONNECT replies without `pid`).
//! `SOCKETEER_METRICS=1` in the environment installs a Prometheus recorder
//! (served nowhere), to measure what recording the metrics costs.
//! `DIRECT_WRITES=0` turns off the direct writes to idle sessions
//! (`EngineIoConfig::direct_writes`), for comparisons.
//!
//! - `/socket.io/`: Socket.IO with namespaces `/`, `/custom`, `/private`,
//!   and `/api` (async middleware, socket data, typed handlers; not part of
//!   the contract, for the interop tests of the handler API).
//! - `/engine.io/`: raw Engine.IO, every message echoed.
//!
//! With `REDIS_URL` in the environment the server joins a cluster through
//! the classic Redis adapter and `/` gets the cluster handlers
//! ([`cluster`]); it exits with an error if that Redis does not answer.
//!
//! With `TLS_CERT` and `TLS_KEY` (PEM files) it serves `https://` and
//! `wss://` instead, through the same accept loop with socketeer's rustls
//! settings (`ReloadableCert`: ring, TLS 1.2 and 1.3, ALPN `http/1.1`), as
//! `socketeer serve --tls-cert --tls-key` does (scripts/bench, scenario
//! `io-tls`).

#[path = "conformance/cluster.rs"]
mod cluster;

use std::sync::Arc;
use std::time::Duration;

use hyper::{Request, Response, StatusCode};
use socketeer::server::{AckSender, Args, Data, DisconnectReason, SocketData};
use socketeer::server::{
    AdapterFactory, ConnectError, ConnectionStateRecovery, Namespace, Socket, SocketIo,
    SocketIoConfig,
};
use socketeer::Value;
use socketeer_engineio::server::{
    AllowOrigin, Body, CloseReason, Cors, EngineHandler, EngineIo, EngineIoConfig, HttpOptions,
    ReloadableCert, RequestBody,
};
use socketeer_engineio::Payload;
use tokio::net::TcpListener;

struct Echo;

impl EngineHandler for Echo {
    fn on_connect(&self, _socket: &socketeer_engineio::server::Socket) {}

    fn on_message(&self, socket: &socketeer_engineio::server::Socket, message: Payload) {
        let _ = socket.send(message);
    }

    fn on_disconnect(&self, _socket: &socketeer_engineio::server::Socket, _reason: CloseReason) {}
}

/// A heartbeat period from the environment, else the contract's.
fn heartbeat_ms(name: &str, contract: u64) -> Duration {
    let ms = std::env::var(name).ok().and_then(|v| v.parse().ok());
    Duration::from_millis(ms.unwrap_or(contract))
}

fn contract_engine(path: &str) -> EngineIoConfig {
    EngineIoConfig {
        path: path.into(),
        // `PING_INTERVAL_MS` / `PING_TIMEOUT_MS` let a load test keep its
        // clients through a stall of their own event loop.
        ping_interval: heartbeat_ms("PING_INTERVAL_MS", 300),
        ping_timeout: heartbeat_ms("PING_TIMEOUT_MS", 200),
        max_payload: 1_000_000,
        cors: Some(Cors {
            origin: AllowOrigin::Any,
            credentials: false,
            ..Default::default()
        }),
        direct_writes: std::env::var_os("DIRECT_WRITES").is_none_or(|v| v != "0"),
        ..Default::default()
    }
}

/// The string argument at `i`, if any.
fn str_arg(args: &[Value], i: usize) -> Option<String> {
    args.get(i).and_then(Value::as_str).map(str::to_owned)
}

/// Handlers shared by `/` and `/custom`.
fn basic_handlers(socket: &Socket) {
    let _ = socket.emit("auth", vec![socket.handshake().auth.clone()]);
    socket.on("message", |s: Socket, Args(args): Args| {
        let _ = s.emit("message-back", args);
    });
    socket.on(
        "message-with-ack",
        |Args(args): Args, ack: Option<AckSender>| {
            if let Some(ack) = ack {
                let _ = ack.send(args);
            }
        },
    );
}

fn main_namespace(ns: &Namespace, clustered: bool) {
    if clustered {
        cluster::relay_peer_say(ns);
    }
    ns.on_connection(move |socket: Socket| {
        basic_handlers(&socket);
        if clustered {
            cluster::handlers(&socket);
        }
        socket.on(
            "join",
            |s: Socket, Args(args): Args, ack: Option<AckSender>| {
                if let Some(room) = str_arg(&args, 0) {
                    s.join([room]);
                }
                if let Some(ack) = ack {
                    let _ = ack.send(vec![Value::from("joined")]);
                }
            },
        );
        socket.on(
            "leave",
            |s: Socket, Args(args): Args, ack: Option<AckSender>| {
                if let Some(room) = str_arg(&args, 0) {
                    s.leave(&room);
                }
                if let Some(ack) = ack {
                    let _ = ack.send(vec![Value::from("left")]);
                }
            },
        );
        socket.on("to-room", |s: Socket, Args(mut args): Args| {
            if args.is_empty() {
                return;
            }
            if let Value::String(room) = args.remove(0) {
                let _ = s.to(room).emit("room-message", args);
            }
        });
        socket.on("to-all", |s: Socket, Args(args): Args| {
            let _ = s.namespace().emit("all-message", args);
        });
        socket.on("ask-client", |s: Socket, Args(args): Args| {
            let request = s
                .emit_with_ack("question", args)
                .timeout(Duration::from_secs(1));
            let s = s.clone();
            tokio::spawn(async move {
                match request.await {
                    Ok(answer) => {
                        let _ = s.emit("answer", answer);
                    }
                    Err(_) => {
                        let _ = s.emit("answer-timeout", vec![]);
                    }
                }
            });
        });
        socket.on("kick-me", |s: Socket| s.disconnect());
        socket.on("echo", |s: Socket, Args(args): Args| {
            let _ = s.emit("echo", args);
        });
        socket.on("broadcast", |s: Socket, Args(args): Args| {
            let _ = s.namespace().emit("broadcast", args);
        });
    });
}

/// Who a socket of `/api` is: set by its middleware from `auth.user`.
#[derive(Clone, serde::Serialize, serde::Deserialize)]
struct ApiUser {
    name: String,
}

/// `/api`: an async middleware that awaits (as a token check would) and
/// attaches the user, typed handlers, `fetch_sockets` carrying the data,
/// and `disconnecting` telling the others which rooms the socket was in.
fn api_namespace(ns: &Namespace) {
    ns.use_async_middleware(|socket: Socket| async move {
        tokio::time::sleep(Duration::from_millis(20)).await;
        match socket.handshake().auth.get("user").and_then(Value::as_str) {
            Some(name) => {
                socket.set_data(ApiUser { name: name.into() });
                Ok(())
            }
            None => Err(ConnectError::new("no user")
                .with_data(Value::from(serde_json::json!({"code": 401})))),
        }
    });
    ns.on_connection(|socket: Socket| {
        socket.join(["members"]);
        socket.on(
            "whoami",
            |SocketData(u): SocketData<ApiUser>, ack: AckSender| {
                let _ = ack.send(vec![Value::from(u.name)]);
            },
        );
        socket.on("add", |Data((a, b)): Data<(i64, i64)>, ack: AckSender| {
            let _ = ack.send(vec![Value::from(a + b)]);
        });
        socket.on("members", |s: Socket, ack: AckSender| async move {
            let mut names: Vec<String> = s
                .namespace()
                .fetch_sockets()
                .await
                .into_iter()
                .filter_map(|info| info.data.into_typed::<ApiUser>().ok())
                .map(|u| u.name)
                .collect();
            names.sort();
            let _ = ack.send(vec![Value::from(serde_json::json!(names))]);
        });
        socket.on_disconnecting(|s: Socket, reason: DisconnectReason| {
            let rooms: Vec<Value> = s
                .rooms()
                .iter()
                .filter(|r| &***r != s.id())
                .map(|r| Value::from(r.to_string()))
                .collect();
            let name = s.data::<ApiUser>().map(|u| u.name).unwrap_or_default();
            let _ = s.to("members").emit(
                "left",
                vec![name.into(), Value::Array(rooms), reason.as_str().into()],
            );
        });
    });
}

/// The Socket.IO server; `adapter` is the cluster's (cluster mode) or
/// `None` (one server, the in-memory adapter).
fn socket_io(state_recovery: bool, adapter: Option<AdapterFactory>) -> SocketIo {
    let clustered = adapter.is_some();
    let io = SocketIo::new(SocketIoConfig {
        engine: contract_engine("/socket.io/"),
        connect_timeout: Duration::from_millis(1000),
        connection_state_recovery: state_recovery.then(ConnectionStateRecovery::default),
        adapter: adapter.unwrap_or_default(),
        ..Default::default()
    });
    main_namespace(&io.of("/"), clustered);
    io.of("/custom")
        .on_connection(|socket: Socket| basic_handlers(&socket));
    let private = io.of("/private");
    private.use_middleware(|socket: &Socket| {
        let token = socket.handshake().auth.get("token").and_then(Value::as_str);
        if token == Some("secret") {
            Ok(())
        } else {
            Err(ConnectError::new("unauthorized"))
        }
    });
    api_namespace(&io.of("/api"));
    io
}

// One thread: requests are handled in the order they arrive, as on the
// official Node server, which the protocol test suites' timing assumes.
#[tokio::main(flavor = "current_thread")]
async fn main() -> std::io::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let (flags, positional): (Vec<String>, Vec<String>) =
        std::env::args().skip(1).partition(|a| a.starts_with("--"));
    let state_recovery = flags.iter().any(|f| f == "--state-recovery");
    if let Some(f) = flags.iter().find(|f| *f != "--state-recovery") {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("unknown option {f:?} (usage: conformance [PORT] [--state-recovery])"),
        ));
    }
    let port: u16 = match positional.first() {
        Some(p) => p.parse().map_err(|_| {
            std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("bad port {p:?}"))
        })?,
        None => 3000,
    };
    if std::env::var_os("SOCKETEER_METRICS").is_some_and(|v| v == "1") {
        // Before the server is built: its namespaces take their handles then.
        metrics_exporter_prometheus::PrometheusBuilder::new()
            .install_recorder()
            .map_err(std::io::Error::other)?;
    }
    let adapter = match std::env::var("REDIS_URL") {
        Ok(url) if !url.is_empty() => match cluster::adapter(&url).await {
            Ok(adapter) => Some(adapter),
            Err(message) => {
                eprintln!("conformance: {message}");
                std::process::exit(1);
            }
        },
        _ => None,
    };
    let tls = match (std::env::var_os("TLS_CERT"), std::env::var_os("TLS_KEY")) {
        (Some(cert), Some(key)) => Some(
            ReloadableCert::from_pem_files(cert, key)
                .and_then(|c| c.acceptor())
                .map_err(std::io::Error::other)?,
        ),
        _ => None,
    };
    let io = socket_io(state_recovery, adapter);
    let engine = EngineIo::new(contract_engine("/engine.io/"), Arc::new(Echo));
    let listener = TcpListener::bind(("127.0.0.1", port)).await?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    eprintln!(
        "conformance server listening on {scheme}://{}",
        listener.local_addr()?
    );
    // The Socket.IO server at its path (`serve_mounted`: its long-polls
    // routed from their heads), this handler for the rest.
    let handler = move |req: Request<RequestBody>, remote| {
        let engine = engine.clone();
        async move {
            if engine.matches(req.uri().path()) {
                return engine.handle(req, Some(remote)).await;
            }
            let mut not_found = Response::new(Body::from("not found"));
            *not_found.status_mut() = StatusCode::NOT_FOUND;
            not_found
        }
    };
    // Without TLS, what `serve_http` with a 1 s drain does.
    let options = HttpOptions {
        drain: Duration::from_secs(1),
        tls,
        ..HttpOptions::default()
    };
    io.serve_mounted(listener, handler, std::future::pending(), &options)
        .await
}
