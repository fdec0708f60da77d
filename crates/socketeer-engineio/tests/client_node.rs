//! Interop tests: our Engine.IO client against the official Node
//! `engine.io` v6 server, `interop/peers/node-engineio-server/server.mjs` (at the
//! workspace root), started as a child process on a free port.
//!
//! The server echoes every message, closes the session on the text
//! "close", and prints what it sees as JSON lines; the tests assert on
//! those and on the client's events. Needs `node` on `PATH` and the npm
//! packages in `interop/peers/node-engineio-server/node_modules`:
//! `scripts/setup-test-deps` installs them. A missing peer fails the test;
//! it is never skipped.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use bytes::Bytes;
use serde_json::Value;
use socketeer_engineio::client::{
    connect, ClientOptions, CloseReason, EngineEvents, Event, TransportKind, Transports,
};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;

const SETUP_HINT: &str = "run scripts/setup-test-deps to install the interop peers";
/// Longest wait for any one thing.
const STEP: Duration = Duration::from_secs(10);
/// Bound on a whole test.
const TEST: Duration = Duration::from_secs(40);

async fn step<T>(what: &str, f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(STEP, f)
        .await
        .unwrap_or_else(|_| panic!("timed out after {STEP:?}: {what}"))
}

/// The Node server process; killed when dropped.
struct NodeServer {
    _child: Child,
    lines: mpsc::UnboundedReceiver<Value>,
    seen: Vec<Value>,
    port: u16,
}

fn package_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../interop/peers/node-engineio-server")
        .canonicalize()
        .unwrap_or_else(|e| panic!("interop/peers/node-engineio-server not found: {e}"))
}

fn node() -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join("node"))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("`node` is not on PATH; {SETUP_HINT}"))
}

impl NodeServer {
    async fn start() -> NodeServer {
        Self::start_with(&[]).await
    }

    async fn start_with(args: &[&str]) -> NodeServer {
        let dir = package_dir();
        assert!(
            dir.join("node_modules/engine.io/package.json").is_file(),
            "{} has no node_modules/engine.io; {SETUP_HINT}",
            dir.display()
        );
        let mut child = Command::new(node())
            .current_dir(&dir)
            .arg("server.mjs")
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start node: {e}; {SETUP_HINT}"));
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, lines) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            let mut reader = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = reader.next_line().await {
                let v: Value = serde_json::from_str(&line)
                    .unwrap_or_else(|e| panic!("server printed a non-JSON line {line:?}: {e}"));
                if tx.send(v).is_err() {
                    break;
                }
            }
        });
        let mut server = NodeServer {
            _child: child,
            lines,
            seen: Vec::new(),
            port: 0,
        };
        let listening = server.line("listening", |_| true).await;
        server.port = listening["port"].as_u64().expect("port") as u16;
        server
    }

    /// The first line (seen or yet to come) of kind `ev` that `pick` accepts.
    async fn line(&mut self, ev: &str, pick: impl Fn(&Value) -> bool) -> Value {
        if let Some(i) = self.seen.iter().position(|l| l["ev"] == ev && pick(l)) {
            return self.seen.remove(i);
        }
        loop {
            let l = step(&format!("a {ev:?} line from the server"), self.lines.recv())
                .await
                .unwrap_or_else(|| panic!("the server exited; lines: {:?}", self.seen));
            if l["ev"] == ev && pick(&l) {
                return l;
            }
            self.seen.push(l);
        }
    }

    fn options(&self, transports: Transports) -> ClientOptions {
        let mut options = ClientOptions::new(format!("http://127.0.0.1:{}", self.port));
        options.transports = transports;
        options.query = vec![("token".into(), "a b".into())];
        options.headers = vec![("x-test".into(), "yes".into())];
        options
    }
}

async fn next_data(events: &mut EngineEvents) -> Event {
    loop {
        match step("a client event", events.next()).await {
            Some(Event::Upgraded) => {}
            Some(e) => return e,
            None => panic!("events ended"),
        }
    }
}

async fn closed(events: &mut EngineEvents) -> CloseReason {
    loop {
        match step("the client's close", events.next()).await {
            Some(Event::Closed(reason)) => {
                assert_eq!(events.next().await, None);
                return reason;
            }
            Some(_) => {}
            None => panic!("events ended without Closed"),
        }
    }
}

async fn interop(mode: Transports) {
    let mut server = NodeServer::start().await;
    let (client, mut events) = step("connect", connect(server.options(mode)))
        .await
        .unwrap_or_else(|e| panic!("connect: {e}"));
    let sid = client.sid().to_owned();
    let is_sid = |l: &Value| l["sid"] == sid.as_str();
    let conn = server.line("connection", is_sid).await;
    let first = match mode {
        Transports::WebSocket => "websocket",
        _ => "polling",
    };
    assert_eq!(conn["transport"], first);
    assert_eq!(conn["query"]["token"], "a b");
    assert_eq!(conn["query"]["EIO"], "4");
    assert_eq!(conn["header"], "yes");
    assert_eq!(client.handshake().ping_interval, 300);
    assert_eq!(client.handshake().ping_timeout, 1000);
    assert_eq!(client.handshake().max_payload, 4_000_000);

    // Small and large messages, text and binary, in order.
    let big_text = "engine.io κόσμε 𝄞 ".repeat(50_000); // 1.3 MB
    let big_binary: Vec<u8> = (0..1_000_000u32).map(|i| (i * 7 + 3) as u8).collect();
    client.send_text("hello").unwrap();
    client.send_binary(vec![0u8, 1, 2, 255]).unwrap();
    client.send_text(big_text.clone()).unwrap();
    client.send_binary(big_binary.clone()).unwrap();
    for i in 0..100 {
        client.send_text(format!("m{i}")).unwrap();
    }
    assert_eq!(next_data(&mut events).await, Event::Message("hello".into()));
    assert_eq!(
        next_data(&mut events).await,
        Event::Binary(Bytes::from_static(&[0, 1, 2, 255]))
    );
    match next_data(&mut events).await {
        Event::Message(t) => assert!(t.as_str() == big_text, "large text differs"),
        other => panic!("{other:?}"),
    }
    match next_data(&mut events).await {
        Event::Binary(b) => assert!(b[..] == big_binary[..], "large binary differs"),
        other => panic!("{other:?}"),
    }
    for i in 0..100 {
        assert_eq!(
            next_data(&mut events).await,
            Event::Message(format!("m{i}").into())
        );
    }

    if mode == Transports::Both {
        server.line("upgrade", is_sid).await;
        // The upgrade event may already have been skipped by next_data.
        for _ in 0..50 {
            if client.transport() == TransportKind::WebSocket {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let expected = match mode {
        Transports::Polling => TransportKind::Polling,
        _ => TransportKind::WebSocket,
    };
    assert_eq!(client.transport(), expected);

    // Several pings (every 300 ms; a missing pong would end the session
    // 1.3 s in): the session stays up.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(
        !server.seen.iter().any(|l| l["ev"] == "close"),
        "closed early: {:?}",
        server.seen
    );
    client.send_text("still here").unwrap();
    assert_eq!(
        next_data(&mut events).await,
        Event::Message("still here".into())
    );

    // The client closes: the server sees a "transport close".
    client.close();
    assert_eq!(closed(&mut events).await, CloseReason::ForcedClose);
    let close = server.line("close", is_sid).await;
    assert_eq!(close["reason"], "transport close");

    // The server closes a second session: "transport close" here.
    let (client, mut events) = step("connect", connect(server.options(mode)))
        .await
        .unwrap_or_else(|e| panic!("connect: {e}"));
    client.send_text("close").unwrap();
    assert_eq!(closed(&mut events).await, CloseReason::TransportClose);
    let sid = client.sid().to_owned();
    let close = server.line("close", |l| l["sid"] == sid.as_str()).await;
    assert_eq!(close["reason"], "forced close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_server_polling() {
    tokio::time::timeout(TEST, interop(Transports::Polling))
        .await
        .expect("test timed out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_server_websocket() {
    tokio::time::timeout(TEST, interop(Transports::WebSocket))
        .await
        .expect("test timed out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_server_upgrade() {
    tokio::time::timeout(TEST, interop(Transports::Both))
        .await
        .expect("test timed out");
}

/// Node closes idle kept-alive connections (asked for 100 ms, Node does it
/// about a second later): the polling client reconnects for its next
/// request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_server_polling_survives_keep_alive_timeouts() {
    tokio::time::timeout(TEST, async {
        let mut server = NodeServer::start_with(&["5000", "100"]).await;
        let (client, mut events) = step("connect", connect(server.options(Transports::Polling)))
            .await
            .unwrap_or_else(|e| panic!("connect: {e}"));
        for i in 0..3 {
            // Longer than the keep-alive timeout: the POST connection is gone.
            tokio::time::sleep(Duration::from_millis(1400)).await;
            client.send_text(format!("after idle {i}")).unwrap();
            assert_eq!(
                next_data(&mut events).await,
                Event::Message(format!("after idle {i}").into())
            );
        }
        assert!(!client.is_closed());
        client.close();
        assert_eq!(closed(&mut events).await, CloseReason::ForcedClose);
        let sid = client.sid().to_owned();
        let close = server.line("close", |l| l["sid"] == sid.as_str()).await;
        assert_eq!(close["reason"], "transport close");
        // The handshake's (then the GET lane's), and a new POST connection
        // after each idle period.
        let tcp = server.seen.iter().filter(|l| l["ev"] == "tcp").count();
        assert!(tcp >= 4, "only {tcp} TCP connections: not reconnected?");
    })
    .await
    .expect("test timed out");
}

/// The official server refuses (413, and closes the session on) a POST over
/// its maxHttpBufferSize: the client's batches stay under the announced
/// maxPayload.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_server_polling_batches_under_max_payload() {
    tokio::time::timeout(TEST, async {
        let mut server = NodeServer::start_with(&["300", "default", "1000"]).await;
        let (client, mut events) = step("connect", connect(server.options(Transports::Polling)))
            .await
            .unwrap_or_else(|e| panic!("connect: {e}"));
        assert_eq!(client.handshake().max_payload, 1000);
        let message = "y".repeat(100);
        for _ in 0..300 {
            client.send_text(message.clone()).unwrap();
        }
        for _ in 0..300 {
            assert_eq!(
                next_data(&mut events).await,
                Event::Message(message.clone().into())
            );
        }
        assert!(
            !server.seen.iter().any(|l| l["ev"] == "close"),
            "closed: {:?}",
            server.seen
        );
        client.close();
        assert_eq!(closed(&mut events).await, CloseReason::ForcedClose);
        let sid = client.sid().to_owned();
        let close = server.line("close", |l| l["sid"] == sid.as_str()).await;
        assert_eq!(close["reason"], "transport close");
    })
    .await
    .expect("test timed out");
}
