//! Interop tests: the official `engine.io-client` (Node) against our
//! Engine.IO server, started in-process on 127.0.0.1.
//!
//! The client program is `interop/peers/node-engineio-client/client.mjs` (at the
//! workspace root). It exchanges text and binary messages (up to 520 KB)
//! with the server, which echoes them, waits for two heartbeats, asks the
//! server to close the session, and prints what it observes as JSON lines;
//! these tests assert on those lines and on what the server saw.
//!
//! Needs `node` on `PATH` and the npm packages in
//! `interop/peers/node-engineio-client/node_modules`: `scripts/setup-test-deps`
//! installs them. A missing peer fails the test; it is never skipped.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use serde_json::Value;
use socketeer_engineio::server::{
    CloseReason, EngineHandler, EngineIo, EngineIoConfig, Socket, TransportKind,
};
use socketeer_engineio::{Payload, Utf8Bytes};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

const SETUP_HINT: &str = "run scripts/setup-test-deps to install the interop peers";
/// Bound on one client run.
const RUN_TIMEOUT: Duration = Duration::from_secs(25);
/// Longest wait for a server event once the client has exited.
const STEP: Duration = Duration::from_secs(5);
/// Asks the server to close the session.
const PLEASE_CLOSE: &str = "please close";

// ---------------------------------------------------------------------------
// The server

#[derive(Debug)]
enum Event {
    Connect(String),
    Message(String, Payload),
    Disconnect {
        sid: String,
        reason: CloseReason,
        transport: TransportKind,
    },
    /// The session's `upgrade` event.
    Upgraded(String, TransportKind),
    /// The session's `close` event.
    Closed(String, CloseReason),
}

/// Echoes every message; closes the session on [`PLEASE_CLOSE`].
struct EchoUntilAsked(mpsc::UnboundedSender<Event>);

impl EngineHandler for EchoUntilAsked {
    fn on_connect(&self, socket: &Socket) {
        let _ = self.0.send(Event::Connect(socket.id().to_owned()));
        let (tx, sid) = (self.0.clone(), socket.id().to_owned());
        socket.on_upgrade(move |t| {
            let _ = tx.send(Event::Upgraded(sid.clone(), t));
        });
        let (tx, sid) = (self.0.clone(), socket.id().to_owned());
        socket.on_close(move |r| {
            let _ = tx.send(Event::Closed(sid.clone(), r));
        });
    }

    fn on_message(&self, socket: &Socket, message: Payload) {
        let _ = self
            .0
            .send(Event::Message(socket.id().to_owned(), message.clone()));
        if matches!(&message, Payload::Text(t) if t.as_str() == PLEASE_CLOSE) {
            socket.close();
        } else {
            let _ = socket.send(message);
        }
    }

    fn on_disconnect(&self, socket: &Socket, reason: CloseReason) {
        let _ = self.0.send(Event::Disconnect {
            sid: socket.id().to_owned(),
            reason,
            transport: socket.transport(),
        });
    }
}

struct Server {
    url: String,
    engine: EngineIo,
    events: mpsc::UnboundedReceiver<Event>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn start_server() -> Server {
    let config = EngineIoConfig {
        // Short heartbeats, as the conformance server: the client sees
        // several pings while it runs.
        ping_interval: Duration::from_millis(300),
        ping_timeout: Duration::from_millis(200),
        ..Default::default()
    };
    let (tx, events) = mpsc::unbounded_channel();
    let engine = EngineIo::new(config, Arc::new(EchoUntilAsked(tx)));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("local addr"));
    let task = tokio::spawn(engine.clone().serve(listener));
    Server {
        url,
        engine,
        events,
        task,
    }
}

// ---------------------------------------------------------------------------
// The client process

/// `interop/peers/node-engineio-client` at the workspace root.
fn package_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../interop/peers/node-engineio-client")
        .canonicalize()
        .unwrap_or_else(|e| panic!("interop/peers/node-engineio-client not found: {e}"))
}

/// `node` from `PATH`.
fn node() -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join("node"))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("`node` is not on PATH; {SETUP_HINT}"))
}

/// What one client run printed.
struct Run {
    lines: Vec<Value>,
    stderr: String,
    status: std::process::ExitStatus,
}

impl Run {
    fn events(&self, ev: &str) -> Vec<&Value> {
        self.lines.iter().filter(|l| l["ev"] == ev).collect()
    }

    fn one(&self, ev: &str) -> &Value {
        match self.events(ev).as_slice() {
            [one] => one,
            other => panic!("expected one {ev:?} line, got {other:?}\n{self}"),
        }
    }
}

impl std::fmt::Display for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "client exit status: {}", self.status)?;
        for l in &self.lines {
            writeln!(f, "client: {l}")?;
        }
        write!(f, "client stderr:\n{}", self.stderr)
    }
}

/// Runs `client.mjs` against `url` in `mode` until it exits. The process
/// is killed if this future is dropped (a timeout, a failed assertion).
async fn run_client(url: &str, mode: &str) -> Run {
    let dir = package_dir();
    assert!(
        dir.join("node_modules/engine.io-client/package.json")
            .is_file(),
        "{} has no node_modules/engine.io-client; {SETUP_HINT}",
        dir.display()
    );
    let mut cmd = tokio::process::Command::new(node());
    cmd.current_dir(&dir)
        .arg("client.mjs")
        .arg(url)
        .arg(mode)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}; {SETUP_HINT}"));
    let stdout = child.stdout.take().expect("piped stdout");
    let mut stderr = child.stderr.take().expect("piped stderr");
    let stderr = tokio::spawn(async move {
        let mut buf = Vec::new();
        let _ = stderr.read_to_end(&mut buf).await;
        String::from_utf8_lossy(&buf).into_owned()
    });

    let mut lines = Vec::new();
    let mut reader = BufReader::new(stdout).lines();
    let outcome = tokio::time::timeout(RUN_TIMEOUT, async {
        while let Some(line) = reader.next_line().await.expect("client stdout") {
            let v: Value = serde_json::from_str(&line)
                .unwrap_or_else(|e| panic!("client printed a non-JSON line {line:?}: {e}"));
            lines.push(v);
        }
        child.wait().await.expect("wait for the client")
    })
    .await;
    // On a timeout this kills the client, which ends its stderr.
    drop(child);
    let stderr = tokio::time::timeout(STEP, stderr)
        .await
        .ok()
        .and_then(Result::ok)
        .unwrap_or_default();
    match outcome {
        Ok(status) => Run {
            lines,
            stderr,
            status,
        },
        Err(_) => {
            let seen: Vec<String> = lines.iter().map(Value::to_string).collect();
            panic!(
                "the client did not finish within {RUN_TIMEOUT:?}\nclient: {}\nclient stderr:\n{stderr}",
                seen.join("\nclient: ")
            )
        }
    }
}

// ---------------------------------------------------------------------------
// The messages, as client.mjs builds them

fn big_text() -> String {
    "engine.io κόσμε 𝄞 ".repeat(20_000)
}

fn big_binary() -> Vec<u8> {
    (0..500_000usize)
        .map(|i| ((i * 7 + 3) % 256) as u8)
        .collect()
}

fn messages() -> Vec<Payload> {
    let text = |s: &str| Payload::Text(Utf8Bytes::from(s.to_owned()));
    vec![
        text("hello"),
        text("κόσμε 𝄞"),
        text(""),
        Payload::Binary(Bytes::from_static(&[0, 1, 2, 255])),
        Payload::Text(Utf8Bytes::from(big_text())),
        Payload::Binary(Bytes::from(big_binary())),
        text("last"),
    ]
}

fn show(m: &Payload) -> String {
    match m {
        Payload::Text(t) if t.len() <= 40 => format!("text {:?}", t.as_str()),
        Payload::Text(t) => format!("text of {} bytes", t.len()),
        Payload::Binary(b) if b.len() <= 40 => format!("binary {b:?}"),
        Payload::Binary(b) => format!("binary of {} bytes", b.len()),
    }
}

// ---------------------------------------------------------------------------
// The checks shared by every mode

/// Runs the client in `mode` and checks the exchange; returns the run for
/// mode-specific checks.
async fn exchange(mode: &str, expected_transport: &str) -> Run {
    let mut server = start_server().await;
    let run = run_client(&server.url, mode).await;
    assert!(
        run.events("error").is_empty(),
        "the client reported errors\n{run}"
    );
    assert!(run.status.success(), "the client failed\n{run}");

    // Every message came back intact and in order.
    let mut expected = messages();
    if mode == "upgrade" {
        expected.insert(0, Payload::Text(Utf8Bytes::from_static("sent on polling")));
    }
    let echoes = run.events("echo");
    assert_eq!(echoes.len(), expected.len(), "echo count\n{run}");
    for (i, (echo, sent)) in echoes.iter().zip(&expected).enumerate() {
        assert_eq!(echo["i"], i, "{run}");
        assert_eq!(echo["ok"], true, "echo {i} ({}) differs\n{run}", show(sent));
        let (kind, len) = match sent {
            Payload::Text(t) => ("text", t.len()),
            Payload::Binary(b) => ("binary", b.len()),
        };
        assert_eq!(echo["type"], kind, "echo {i}\n{run}");
        assert_eq!(echo["len"], len, "echo {i}\n{run}");
    }
    assert_eq!(run.one("echoed")["transport"], expected_transport, "{run}");
    assert!(run.events("ping").len() >= 2, "heartbeats\n{run}");

    // The server-side close, as the client saw it.
    let close = run.one("close");
    assert_eq!(close["reason"], "transport close", "{run}");
    assert_eq!(close["transport"], expected_transport, "{run}");

    // What the server saw.
    let sid = run.one("open")["sid"]
        .as_str()
        .unwrap_or_else(|| panic!("no sid\n{run}"))
        .to_owned();
    let mut got = Vec::new();
    let mut upgrades = Vec::new();
    let disconnect = loop {
        let e = tokio::time::timeout(STEP, server.events.recv())
            .await
            .unwrap_or_else(|_| panic!("no disconnect from the server\n{run}"))
            .expect("server events");
        match e {
            Event::Connect(s) => assert_eq!(s, sid),
            Event::Message(s, m) => {
                assert_eq!(s, sid);
                got.push(m);
            }
            Event::Upgraded(s, t) => {
                assert_eq!(s, sid);
                upgrades.push(t);
            }
            Event::Disconnect {
                sid: s,
                reason,
                transport,
            } => {
                assert_eq!(s, sid);
                break (reason, transport);
            }
            Event::Closed(..) => panic!("the session's close event before the handler's\n{run}"),
        }
    };
    // The session's `upgrade` event, once, for the client that upgrades.
    let upgraded: &[TransportKind] = if mode == "upgrade" {
        &[TransportKind::WebSocket]
    } else {
        &[]
    };
    assert_eq!(upgrades, upgraded, "{run}");
    // The session's `close` event, after the handler's.
    match tokio::time::timeout(STEP, server.events.recv()).await {
        Ok(Some(Event::Closed(s, reason))) => {
            assert_eq!(s, sid);
            assert_eq!(reason, disconnect.0);
        }
        other => panic!("no close event: {other:?}\n{run}"),
    }
    expected.push(Payload::Text(Utf8Bytes::from_static(PLEASE_CLOSE)));
    assert_eq!(got.len(), expected.len(), "messages the server got");
    for (i, (g, e)) in got.iter().zip(&expected).enumerate() {
        assert!(g == e, "message {i}: got {}, sent {}", show(g), show(e));
    }
    let server_transport = match expected_transport {
        "websocket" => TransportKind::WebSocket,
        _ => TransportKind::Polling,
    };
    assert_eq!(
        disconnect,
        (CloseReason::ForcedClose, server_transport),
        "{run}"
    );
    assert_eq!(server.engine.session_count(), 0);
    run
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn engineio_client_websocket_only() {
    let run = exchange("websocket", "websocket").await;
    assert_eq!(run.one("open")["transport"], "websocket", "{run}");
    assert!(run.events("upgrade").is_empty(), "{run}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn engineio_client_polling_only() {
    let run = exchange("polling", "polling").await;
    assert_eq!(run.one("open")["transport"], "polling", "{run}");
    assert!(run.events("upgrade").is_empty(), "{run}");
    assert!(
        run.events("echo")
            .iter()
            .all(|e| e["transport"] == "polling"),
        "{run}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn engineio_client_upgrades_polling_to_websocket() {
    let run = exchange("upgrade", "websocket").await;
    assert_eq!(run.one("open")["transport"], "polling", "{run}");
    assert_eq!(run.one("upgrade")["transport"], "websocket", "{run}");
    // Everything sent after the upgrade came back on the WebSocket.
    let echoes = run.events("echo");
    assert!(
        echoes[1..].iter().all(|e| e["transport"] == "websocket"),
        "{run}"
    );
}
