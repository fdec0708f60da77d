//! The Socket.IO client against socketeer's own server: the conformance
//! example in a child process (release build; killed and restarted on the
//! same port where a scenario needs it), and an in-process server with
//! connection state recovery. The scenarios are in `client_support`.

mod client_support;

use std::time::Duration;

use client_support::{Peer, Server};
use socketeer::client::Transports;
use socketeer::server::{Args, DisconnectReason, Socket};
use socketeer::server::{ConnectionStateRecovery, SocketIo, SocketIoConfig};
use socketeer::Value;

const OURS: Peer = Peer::Ours;

/// One test per transport mode; `$arg` turns the started server into the
/// scenario's first argument.
macro_rules! per_transport {
    ($name:ident, $scenario:ident, |$s:ident| $arg:expr) => {
        mod $name {
            use super::*;

            async fn run(transports: Transports) {
                #[allow(unused_mut)]
                let mut $s = Server::start(OURS);
                client_support::$scenario($arg, transports).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn websocket() {
                run(Transports::WebSocket).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn polling() {
                run(Transports::Polling).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn upgrade() {
                run(Transports::Both).await;
            }
        }
    };
}

per_transport!(round_trips, round_trips, |s| s.url());
per_transport!(restart_delivers_buffered, restart_delivers_buffered, |s| {
    &mut s
});
per_transport!(state_recovery, state_recovery, |_s| {
    in_process_recovery_server().await
});

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_deliver_everything_websocket() {
    let mut server = Server::start(OURS);
    client_support::retries_deliver_everything(&mut server, Transports::WebSocket).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_deliver_everything_polling() {
    let mut server = Server::start(OURS);
    client_support::retries_deliver_everything(&mut server, Transports::Polling).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_disconnect_is_final() {
    let server = Server::start(OURS);
    client_support::server_disconnect_is_final(server.url(), Transports::Both).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn middleware_refusal() {
    let server = Server::start(OURS);
    client_support::middleware_refusal(server.url(), Transports::Both).await;
}

/// socketeer's server with connection state recovery and the handlers of
/// the recovery scenario (`echo`; `drop-me` closes the connection, then
/// emits `missed` to every socket of `/`); its URL.
async fn in_process_recovery_server() -> String {
    let io = SocketIo::new(SocketIoConfig {
        connection_state_recovery: Some(ConnectionStateRecovery::default()),
        ..Default::default()
    });
    io.of("/").on_connection(|socket: Socket| {
        socket.on("echo", |s: Socket, Args(args): Args| {
            let _ = s.emit("echo", args);
        });
        socket.on("drop-me", |s: Socket, Args(args): Args| {
            s.engine().close();
            let delay = args.first().and_then(Value::as_u64).unwrap_or(0);
            let ns = s.namespace().clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(delay)).await;
                let _ = ns.emit("missed", vec![Value::from("while-away")]);
            });
        });
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(io.serve(listener));
    url
}

/// Dropping every handle ends the connection; a panicking handler does not
/// take the client down.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_handles_close_the_connection_and_panics_are_contained() {
    let io = SocketIo::new(Default::default());
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    io.of("/").on_connection(move |socket: Socket| {
        let tx = tx.clone();
        socket.on_disconnect(move |reason: DisconnectReason| {
            let _ = tx.send(reason.as_str().to_owned());
        });
        socket.on("boom", |s: Socket| {
            let _ = s.emit("boom", vec![]);
        });
        socket.on("echo", |s: Socket, Args(args): Args| {
            let _ = s.emit("echo", args);
        });
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(io.serve(listener));

    let (echo_tx, mut echo_rx) = tokio::sync::mpsc::unbounded_channel();
    let socket = socketeer::client::ClientBuilder::new(url)
        .transports(Transports::WebSocket)
        .on("boom", |_, _, _| {
            panic!("handler panics (expected in this test)")
        })
        .on("echo", move |_, args, _| {
            let _ = echo_tx.send(args);
        })
        .connect()
        .await
        .unwrap();
    socket.emit("boom", vec![]).unwrap();
    socket
        .emit("echo", vec![Value::from("still alive")])
        .unwrap();
    let got = tokio::time::timeout(client_support::WAIT, echo_rx.recv())
        .await
        .unwrap();
    assert_eq!(got, Some(vec![Value::from("still alive")]));

    drop(socket);
    let reason = tokio::time::timeout(client_support::WAIT, rx.recv())
        .await
        .expect("the server sees the client go");
    // The Engine.IO connection is closed (no DISCONNECT packet first).
    assert_eq!(reason.as_deref(), Some("transport close"));
}

/// Nothing listens: with a bounded number of attempts the client gives up
/// (reconnect_failed), and `connect` fails; without reconnection, at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnection_gives_up_after_its_attempts() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let attempts = tx.clone();
    let started = std::time::Instant::now();
    let err = socketeer::client::ClientBuilder::new(&url)
        .transports(Transports::WebSocket)
        .reconnection_attempts(3)
        .reconnection_delay(Duration::from_millis(50))
        .reconnection_delay_max(Duration::from_millis(100))
        .on_reconnect_attempt(move |n| {
            let _ = attempts.send(format!("attempt {n}"));
        })
        .on_reconnect_failed(move || {
            let _ = tx.send("failed".into());
        })
        .connect()
        .await
        .expect_err("nothing listens");
    assert!(!err.message.is_empty());
    let mut seen = Vec::new();
    while let Ok(Some(s)) = tokio::time::timeout(Duration::from_millis(200), rx.recv()).await {
        seen.push(s);
    }
    assert_eq!(seen, ["attempt 1", "attempt 2", "attempt 3", "failed"]);
    assert!(started.elapsed() < Duration::from_secs(10));

    let err = socketeer::client::ClientBuilder::new(&url)
        .reconnection(false)
        .connect()
        .await
        .expect_err("nothing listens");
    assert!(!err.message.is_empty());
}

/// A full Engine.IO send queue makes the client wait for room, not drop
/// packets: 300 events through a queue of 2 all arrive, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_send_queue_delays_but_never_drops() {
    let io = SocketIo::new(Default::default());
    io.of("/").on_connection(|socket: Socket| {
        socket.on("echo", |s: Socket, Args(args): Args| {
            let _ = s.emit("echo", args);
        });
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(io.serve(listener));

    for transports in [Transports::WebSocket, Transports::Polling] {
        let mut options = socketeer::client::ManagerOptions::default();
        options.engine.transports = transports;
        options.engine.max_queued_messages = 2;
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let socket = socketeer::client::ClientBuilder::new(&url)
            .options(options)
            .on("echo", move |_, args, _| {
                let _ = tx.send(args);
            })
            .connect()
            .await
            .unwrap();
        for i in 0..300 {
            socket.emit("echo", vec![Value::from(i)]).unwrap();
        }
        for i in 0..300 {
            let got = tokio::time::timeout(client_support::WAIT, rx.recv())
                .await
                .unwrap_or_else(|_| panic!("echo {i} missing ({transports:?})"));
            assert_eq!(got, Some(vec![Value::from(i)]), "{transports:?}");
        }
        socket.manager().close();
    }
}
