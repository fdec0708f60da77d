//! The socket.io-client API of socketeer's client against the official
//! Node `socket.io` server (`interop/peers/node-socketio-server/server.mjs`):
//! the namespace from the URL, the Manager's reconnection events, the
//! cookie jar on polling (the server's `cookie` option), WebSocket first
//! falling back to polling when the server refuses WebSocket.

mod client_support;

use std::time::Duration;

use client_support::{Peer, Server, WAIT};
use serde_json::Value as Json;
use socketeer::client::{io, Transports};
use tokio::sync::mpsc;

const NODE: Peer = Peer::Node { recovery: false };

async fn next(rx: &mut mpsc::UnboundedReceiver<String>) -> String {
    tokio::time::timeout(WAIT, rx.recv())
        .await
        .expect("in time")
        .expect("open channel")
}

/// The Node server's events of kind `ev`, once `want` of them arrived.
async fn node_events(server: &Server, ev: &str, want: usize) -> Vec<Json> {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let got: Vec<Json> = server
            .node_events()
            .into_iter()
            .filter(|e| e["ev"] == ev)
            .collect();
        if got.len() >= want {
            return got;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{want} {ev} events: {got:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namespace_from_the_url() {
    let server = Server::start(NODE);
    let custom = io(format!("{}/custom", server.url()))
        .connect()
        .await
        .unwrap();
    assert_eq!(custom.namespace(), "/custom");
    let main = io(server.url()).connect().await.unwrap();
    assert!(main.manager().same_as(&custom.manager()));
    let connections = node_events(&server, "connection", 2).await;
    assert_eq!(connections[0]["nsp"], "/custom");
    assert_eq!(connections[1]["nsp"], "/");
    // One Engine.IO session for both.
    assert_eq!(connections[0]["engine"], connections[1]["engine"]);
    main.manager().close();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manager_reconnection_events() {
    let mut server = Server::start(NODE);
    let (tx, mut rx) = mpsc::unbounded_channel::<String>();
    let (t1, t2, t3, t4, t5, t6) = (
        tx.clone(),
        tx.clone(),
        tx.clone(),
        tx.clone(),
        tx.clone(),
        tx.clone(),
    );
    let socket = io(server.url())
        .transports(Transports::WebSocket)
        .force_new(true)
        .reconnection_delay(Duration::from_millis(100))
        .reconnection_delay_max(Duration::from_millis(200))
        .on_open(move || {
            let _ = t1.send("open".into());
        })
        .on_close(move |reason| {
            let _ = t2.send(format!("close {reason}"));
        })
        .on_error(move |_| {
            let _ = t3.send("error".into());
        })
        .on_reconnect_attempt(move |n| {
            let _ = t4.send(format!("attempt {n}"));
        })
        .on_reconnect_error(move |_| {
            let _ = t5.send("reconnect_error".into());
        })
        .on_reconnect(move |n| {
            let _ = t6.send(format!("reconnect {n}"));
        })
        .connect()
        .await
        .unwrap();
    let t = tx.clone();
    socket.manager().on_ping(move || {
        let _ = t.send("ping".into());
    });
    assert_eq!(next(&mut rx).await, "open");
    // The Node server pings every 300 ms.
    assert_eq!(next(&mut rx).await, "ping");

    server.kill();
    let mut got = Vec::new();
    // Two failed attempts against the dead port.
    while got.iter().filter(|e| *e == "reconnect_error").count() < 2 {
        let e = next(&mut rx).await;
        if e != "ping" {
            got.push(e);
        }
    }
    let close = got.remove(0);
    assert!(
        close == "close transport close" || close == "close transport error",
        "{close}"
    );
    assert_eq!(
        got,
        [
            "attempt 1",
            "error",
            "reconnect_error",
            "attempt 2",
            "error",
            "reconnect_error"
        ]
    );
    tokio::task::block_in_place(|| server.restart());
    let mut got = Vec::new();
    while !got
        .last()
        .is_some_and(|e: &String| e.starts_with("reconnect "))
    {
        let e = next(&mut rx).await;
        if !matches!(e.as_str(), "ping" | "error" | "reconnect_error") {
            got.push(e);
        }
    }
    let n = got.len();
    assert!(n >= 3, "{got:?}");
    assert_eq!(got[n - 2], "open");
    let attempt: u32 = got[n - 3]["attempt ".len()..].parse().unwrap();
    assert_eq!(got[n - 1], format!("reconnect {attempt}"));
    assert!(attempt >= 3);
    socket.manager().close();
}

/// The Node server's `cookie` option sets `io=<engine id>`; with
/// `with_credentials` every later request of the session carries it back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cookie_sent_back_on_polling() {
    let server = Server::start_with(NODE, &["--cookie"]);
    let socket = io(server.url())
        .transports(Transports::Polling)
        .with_credentials(true)
        .connect()
        .await
        .unwrap();
    socket.emit("message", vec!["hi".into()]).unwrap();
    let connection = node_events(&server, "connection", 1).await.remove(0);
    let engine = connection["engine"].as_str().unwrap().to_owned();
    node_events(&server, "event", 1).await;
    let requests = node_events(&server, "request", 3).await;
    socket.manager().close();
    // The handshake carried no cookie; every request after it, GET and
    // POST, carried the one set.
    assert_eq!(requests[0]["cookie"], Json::Null, "{requests:?}");
    let later = &requests[1..];
    assert!(later.iter().any(|r| r["method"] == "POST"), "{requests:?}");
    for r in later {
        assert_eq!(r["cookie"], format!("io={engine}"), "{requests:?}");
    }

    // Without with_credentials nothing is sent back.
    let server = Server::start_with(NODE, &["--cookie"]);
    let socket = io(server.url())
        .transports(Transports::Polling)
        .connect()
        .await
        .unwrap();
    socket.emit("message", vec!["hi".into()]).unwrap();
    node_events(&server, "event", 1).await;
    let requests = node_events(&server, "request", 3).await;
    socket.manager().close();
    assert!(
        requests.iter().all(|r| r["cookie"].is_null()),
        "{requests:?}"
    );
}

/// `["websocket", "polling"]` with `try_all_transports`: a refused
/// WebSocket falls back to polling; without it the connection fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_first_falls_back_to_polling() {
    let server = Server::start_with(NODE, &["--polling-only"]);
    let refused = io(server.url())
        .transports(Transports::WebSocketFirst)
        .force_new(true)
        .reconnection(false)
        .connect()
        .await;
    assert!(refused.is_err(), "{refused:?}");

    let socket = io(server.url())
        .transports(Transports::WebSocketFirst)
        .try_all_transports(true)
        .force_new(true)
        .connect()
        .await
        .unwrap();
    let connection = node_events(&server, "connection", 1).await.remove(0);
    assert_eq!(connection["transport"], "polling");
    let (tx, mut rx) = mpsc::unbounded_channel();
    socket.on("message-back", move |_, args, _| {
        let _ = tx.send(format!("{args:?}"));
    });
    socket.emit("message", vec!["over polling".into()]).unwrap();
    assert!(next(&mut rx).await.contains("over polling"));
    socket.manager().close();
}
