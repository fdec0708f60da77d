//! The scenarios of the Socket.IO client tests, run against a server in a
//! child process that a test can kill and restart on the same port: the
//! official Node `socket.io` server (`interop/peers/node-socketio-server/server.mjs`)
//! or socketeer's conformance example.
//!
//! Needs `node` with the npm packages of `interop/peers/node-socketio-server`
//! (`scripts/setup-test-deps`) and an optimised build of the conformance
//! example (`cargo build --profile interop -p interop --examples` or
//! `--release`, or `SOCKETEER_CONFORMANCE_BIN`). A missing peer fails the test.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::net::{Ipv4Addr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde_json::{json, Value as Json};
use socketeer::client::{
    DisconnectReason, Manager, ManagerOptions, Socket, SocketOptions, Transports,
};
use socketeer::Value;
use tokio::sync::mpsc;

const SETUP_HINT: &str = "run scripts/setup-test-deps to install the Node peer";
const BUILD_HINT: &str = "run `cargo build --profile interop -p interop --examples` \
                          (or `--release`) first, or set SOCKETEER_CONFORMANCE_BIN to \
                          the conformance binary";
/// Bound on any single wait of a scenario.
pub const WAIT: Duration = Duration::from_secs(15);

/// The workspace root (this module is also used by
/// `crates/socketeer-cli/tests/cli_io.rs`).
fn workspace() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    if here.join("interop/peers").is_dir() {
        here.to_path_buf()
    } else {
        here.join("../..")
    }
}

// ---------------------------------------------------------------------
// Servers

/// Which server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Peer {
    /// socketeer's conformance example.
    Ours,
    /// The official Node server, with connection state recovery or not.
    Node { recovery: bool },
}

/// A server child process on a fixed port; killed on drop.
pub struct Server {
    peer: Peer,
    port: u16,
    /// More arguments for the Node server (e.g. `--cookie`).
    args: Vec<String>,
    child: Option<Child>,
    /// Every stdout line of every process started (Node: JSON events).
    lines: Arc<Mutex<Vec<String>>>,
    stderr: Arc<Mutex<Vec<u8>>>,
}

/// `SOCKETEER_CONFORMANCE_BIN`, or the newer of
/// `target/interop/examples/conformance` (what scripts/test builds) and
/// `target/release/examples/conformance`.
fn conformance_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("SOCKETEER_CONFORMANCE_BIN").filter(|v| !v.is_empty()) {
        return PathBuf::from(p);
    }
    let p = socketeer_test_support::newest_example(
        &workspace(),
        &["interop", "release"],
        "conformance",
    );
    assert!(p.is_file(), "{} is missing; {BUILD_HINT}", p.display());
    p
}

impl Server {
    /// Starts the server on a free port.
    pub fn start(peer: Peer) -> Server {
        Server::start_with(peer, &[])
    }

    /// Starts the server on a free port, with more arguments for the Node
    /// server (see `server.mjs`).
    pub fn start_with(peer: Peer, args: &[&str]) -> Server {
        let mut last = String::new();
        for _ in 0..5 {
            let mut s = Server {
                peer,
                port: socketeer_test_support::free_port(),
                args: args.iter().map(|a| a.to_string()).collect(),
                child: None,
                lines: Arc::default(),
                stderr: Arc::default(),
            };
            match s.spawn() {
                Ok(()) => return s,
                Err(e) => last = e,
            }
        }
        panic!("cannot start {peer:?}: {last}");
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The peer.
    pub fn peer(&self) -> Peer {
        self.peer
    }

    fn spawn(&mut self) -> Result<(), String> {
        let mut cmd = match self.peer {
            Peer::Ours => {
                let mut c = Command::new(conformance_bin());
                c.arg(self.port.to_string()).env("RUST_LOG", "warn");
                c
            }
            Peer::Node { recovery } => {
                let dir = workspace().join("interop/peers/node-socketio-server");
                assert!(
                    dir.join("node_modules/socket.io").is_dir(),
                    "{} has no node_modules; {SETUP_HINT}",
                    dir.display()
                );
                let mut c = Command::new("node");
                c.current_dir(&dir)
                    .arg("server.mjs")
                    .arg("--port")
                    .arg(self.port.to_string());
                if recovery {
                    c.arg("--recovery");
                }
                c.args(&self.args);
                c
            }
        };
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot run {cmd:?}: {e}"))?;
        let (tx, rx) = std::sync::mpsc::channel::<String>();
        let stdout = child.stdout.take().expect("piped");
        let lines = self.lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let _ = tx.send(line.clone());
                lines.lock().unwrap_or_else(|p| p.into_inner()).push(line);
            }
        });
        let mut stderr = child.stderr.take().expect("piped");
        let sink = self.stderr.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n @ 1..) = stderr.read(&mut buf) {
                sink.lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .extend_from_slice(&buf[..n]);
            }
        });
        self.child = Some(child);
        let deadline = Instant::now() + WAIT;
        while Instant::now() < deadline {
            let ready = match self.peer {
                Peer::Ours => TcpStream::connect((Ipv4Addr::LOCALHOST, self.port)).is_ok(),
                Peer::Node { .. } => rx
                    .recv_timeout(Duration::from_millis(20))
                    .is_ok_and(|l| l.contains("\"listening\"")),
            };
            if ready {
                return Ok(());
            }
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                self.child = None;
                return Err(format!("exited with {status}: {}", self.stderr_text()));
            }
            if self.peer == Peer::Ours {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        Err(format!(
            "not listening within {WAIT:?}: {}",
            self.stderr_text()
        ))
    }

    fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr.lock().unwrap_or_else(|p| p.into_inner())).into_owned()
    }

    /// Kills the process (no goodbye to the clients).
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts the server again on the same port.
    pub fn restart(&mut self) {
        self.kill();
        let mut last = String::new();
        for _ in 0..50 {
            match self.spawn() {
                Ok(()) => return,
                Err(e) => last = e,
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("cannot restart on port {}: {last}", self.port);
    }

    /// The Node server's JSON events so far (all processes).
    pub fn node_events(&self) -> Vec<Json> {
        self.lines
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

// ---------------------------------------------------------------------
// What the client sees

/// One thing a client observed.
#[derive(Debug, Clone, PartialEq)]
pub enum Seen {
    Connect {
        nsp: String,
        recovered: bool,
    },
    Disconnect {
        nsp: String,
        reason: DisconnectReason,
    },
    ConnectError {
        nsp: String,
        message: String,
    },
    Event {
        nsp: String,
        event: String,
        args: Json,
    },
    Attempt(u32),
    Reconnect(u32),
    Failed,
}

/// JSON with binary as `{"$bin": "<hex>"}`, as the Node server logs it.
pub fn show(v: &Value) -> Json {
    match v {
        Value::Binary(b) => {
            json!({ "$bin": b.iter().map(|x| format!("{x:02x}")).collect::<String>() })
        }
        Value::Array(a) => Json::Array(a.iter().map(show).collect()),
        Value::Object(o) => Json::Object(o.iter().map(|(k, v)| (k.clone(), show(v))).collect()),
        other => other.clone().into_json(),
    }
}

pub fn bin(bytes: &'static [u8]) -> Value {
    Value::Binary(Bytes::from_static(bytes))
}

/// Receives what sockets and managers report.
pub struct Watch {
    tx: mpsc::UnboundedSender<Seen>,
    rx: mpsc::UnboundedReceiver<Seen>,
    /// Everything received so far, for failure messages.
    log: Vec<Seen>,
    /// Received, not yet matched, in order.
    pending: std::collections::VecDeque<Seen>,
}

impl Default for Watch {
    fn default() -> Self {
        Self::new()
    }
}

impl Watch {
    pub fn new() -> Watch {
        let (tx, rx) = mpsc::unbounded_channel();
        Watch {
            tx,
            rx,
            log: Vec::new(),
            pending: Default::default(),
        }
    }

    pub fn socket(&self, socket: &Socket) {
        let tx = self.tx.clone();
        socket.on_connect(move |s| {
            let _ = tx.send(Seen::Connect {
                nsp: s.namespace().to_owned(),
                recovered: s.recovered(),
            });
        });
        let tx = self.tx.clone();
        socket.on_disconnect(move |s, reason| {
            let _ = tx.send(Seen::Disconnect {
                nsp: s.namespace().to_owned(),
                reason,
            });
        });
        let tx = self.tx.clone();
        socket.on_connect_error(move |s, e| {
            let _ = tx.send(Seen::ConnectError {
                nsp: s.namespace().to_owned(),
                message: e.message.clone(),
            });
        });
        let tx = self.tx.clone();
        socket.on_any(move |s, event, args, _| {
            let _ = tx.send(Seen::Event {
                nsp: s.namespace().to_owned(),
                event: event.to_owned(),
                args: show(&Value::Array(args)),
            });
        });
    }

    pub fn manager(&self, manager: &Manager) {
        let tx = self.tx.clone();
        manager.on_reconnect_attempt(move |n| {
            let _ = tx.send(Seen::Attempt(n));
        });
        let tx = self.tx.clone();
        manager.on_reconnect(move |n| {
            let _ = tx.send(Seen::Reconnect(n));
        });
        let tx = self.tx.clone();
        manager.on_reconnect_failed(move || {
            let _ = tx.send(Seen::Failed);
        });
    }

    /// Takes the first observation matching `pred`, waiting for it if
    /// needed; the others stay for later calls, in order.
    pub async fn expect(&mut self, what: &str, pred: impl Fn(&Seen) -> bool) -> Seen {
        if let Some(i) = self.pending.iter().position(&pred) {
            if let Some(seen) = self.pending.remove(i) {
                return seen;
            }
        }
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            match tokio::time::timeout_at(deadline, self.rx.recv()).await {
                Ok(Some(seen)) => {
                    self.log.push(seen.clone());
                    if pred(&seen) {
                        return seen;
                    }
                    self.pending.push_back(seen);
                }
                _ => panic!("no {what} within {WAIT:?}; seen: {:#?}", self.log),
            }
        }
    }

    /// Everything not taken yet and everything observed during `d`.
    pub async fn during(&mut self, d: Duration) -> Vec<Seen> {
        let deadline = tokio::time::Instant::now() + d;
        let mut got: Vec<Seen> = self.pending.drain(..).collect();
        while let Ok(Some(seen)) = tokio::time::timeout_at(deadline, self.rx.recv()).await {
            self.log.push(seen.clone());
            got.push(seen);
        }
        got
    }

    /// Forgets what was not taken.
    pub fn clear(&mut self) {
        self.pending.clear();
    }

    pub async fn event(&mut self, nsp: &str, event: &str) -> Json {
        let what = format!("event {event} on {nsp}");
        match self
            .expect(
                &what,
                |s| matches!(s, Seen::Event { nsp: n, event: e, .. } if n == nsp && e == event),
            )
            .await
        {
            Seen::Event { args, .. } => args,
            _ => unreachable!(),
        }
    }

    pub async fn connect(&mut self, nsp: &str) -> bool {
        match self
            .expect(
                &format!("connect to {nsp}"),
                |s| matches!(s, Seen::Connect { nsp: n, .. } if n == nsp),
            )
            .await
        {
            Seen::Connect { recovered, .. } => recovered,
            _ => unreachable!(),
        }
    }

    pub async fn disconnect(&mut self, nsp: &str) -> DisconnectReason {
        match self
            .expect(
                &format!("disconnect from {nsp}"),
                |s| matches!(s, Seen::Disconnect { nsp: n, .. } if n == nsp),
            )
            .await
        {
            Seen::Disconnect { reason, .. } => reason,
            _ => unreachable!(),
        }
    }
}

pub fn options(transports: Transports) -> ManagerOptions {
    let mut o = ManagerOptions::default();
    o.engine.transports = transports;
    // Short, exact delays: 200 ms, 400 ms, then 500 ms.
    o.config.reconnection_delay = Duration::from_millis(200);
    o.config.reconnection_delay_max = Duration::from_millis(500);
    o.config.randomization_factor = 0.0;
    o
}

// ---------------------------------------------------------------------
// Scenarios

/// Events, acks both ways, binary, two namespaces on one manager, auth.
pub async fn round_trips(url: String, transports: Transports) {
    let manager = Manager::new(url, options(transports));
    let mut w = Watch::new();
    w.manager(&manager);
    let main = manager.socket("/", SocketOptions::with_auth(json!({"token": "t1"})));
    let custom = manager.socket("/custom", SocketOptions::default());
    w.socket(&main);
    w.socket(&custom);
    main.on("question", |_, mut args, ack| {
        args.insert(0, Value::from("answer-to"));
        args.push(bin(&[7]));
        if let Some(ack) = ack {
            ack.send(args).expect("ack sent");
        }
    });
    main.connect();
    custom.connect();
    w.connect("/").await;
    w.connect("/custom").await;
    assert_eq!(w.event("/", "auth").await, json!([{"token": "t1"}]));
    assert_eq!(w.event("/custom", "auth").await, json!([{}]));
    let (a, b) = (
        main.id().expect("id of /"),
        custom.id().expect("id of /custom"),
    );
    assert_ne!(a, b);

    // Every kind of argument, binary nested too.
    let args = vec![
        Value::from(1),
        Value::from("two"),
        Value::from(json!({"three": [4.5, null, true]})),
        bin(&[1, 2, 3]),
        Value::from_iter([Value::from("nested"), bin(&[255])]),
    ];
    main.emit("message", args.clone()).unwrap();
    assert_eq!(
        w.event("/", "message-back").await,
        show(&Value::Array(args))
    );
    custom.emit("message", vec![Value::from("c")]).unwrap();
    assert_eq!(w.event("/custom", "message-back").await, json!(["c"]));

    // Client → server ack, with binary.
    let got = main
        .emit_with_ack("message-with-ack", vec![Value::from("x"), bin(&[9, 8])])
        .timeout(WAIT)
        .await
        .expect("ack");
    assert_eq!(got, [Value::from("x"), bin(&[9, 8])]);
    // Typed arguments.
    let got = custom
        .emit_serialized_with_ack("message-with-ack", &(1, "two", [3.5]))
        .await
        .expect("ack");
    assert_eq!(show(&Value::Array(got)), json!([1, "two", [3.5]]));

    // Server → client ack.
    main.emit("ask-client", vec![Value::from("q"), Value::from(1)])
        .unwrap();
    assert_eq!(
        w.event("/", "answer").await,
        json!(["answer-to", "q", 1, {"$bin": "07"}])
    );

    manager.close();
    let r1 = w.disconnect("/").await;
    let r2 = w.disconnect("/custom").await;
    assert_eq!(
        (r1, r2),
        (
            DisconnectReason::IoClientDisconnect,
            DisconnectReason::IoClientDisconnect
        )
    );
    // A closed client does not reconnect.
    let later = w.during(Duration::from_millis(700)).await;
    assert!(
        !later
            .iter()
            .any(|s| matches!(s, Seen::Attempt(_) | Seen::Connect { .. })),
        "{later:?}"
    );
}

/// The server dies and comes back on the same port: the client reconnects
/// within the backoff, joins its namespaces again (asking the auth closure
/// anew), and sends what was emitted meanwhile, in order, once; volatile
/// emits are dropped.
pub async fn restart_delivers_buffered(server: &mut Server, transports: Transports) {
    let manager = Manager::new(server.url(), options(transports));
    let mut w = Watch::new();
    w.manager(&manager);
    let calls = Arc::new(Mutex::new(0u32));
    let c = calls.clone();
    let main = manager.socket(
        "/",
        SocketOptions {
            auth: socketeer::client::Auth::Dynamic(Arc::new(move || {
                let mut n = c.lock().unwrap();
                *n += 1;
                Value::from(json!({ "n": *n }))
            })),
            ..Default::default()
        },
    );
    let custom = manager.socket("/custom", SocketOptions::default());
    w.socket(&main);
    w.socket(&custom);
    main.connect();
    custom.connect();
    w.connect("/").await;
    w.connect("/custom").await;
    assert_eq!(w.event("/", "auth").await, json!([{"n": 1}]));

    server.kill();
    let reason = w.disconnect("/").await;
    assert!(
        matches!(
            reason,
            DisconnectReason::TransportClose | DisconnectReason::TransportError
        ),
        "{reason:?}"
    );
    w.disconnect("/custom").await;
    assert!(!main.connected());
    for i in 0..5 {
        main.emit("message", vec![Value::from(i)]).unwrap();
        main.emit_volatile("message", vec![Value::from("volatile")])
            .unwrap();
    }
    for i in 0..3 {
        custom
            .emit("message", vec![Value::from("c"), Value::from(i)])
            .unwrap();
    }
    // Let a few attempts fail against the dead port.
    w.expect("a reconnection attempt", |s| matches!(s, Seen::Attempt(_)))
        .await;
    tokio::task::block_in_place(|| server.restart());
    let restarted = Instant::now();
    w.expect("reconnect", |s| matches!(s, Seen::Reconnect(_)))
        .await;
    w.connect("/").await;
    w.connect("/custom").await;
    // The longest delay is 500 ms; allow for the connection itself.
    let took = restarted.elapsed();
    assert!(took < Duration::from_secs(5), "reconnected after {took:?}");
    assert_eq!(w.event("/", "auth").await, json!([{"n": 2}]));

    let mut main_back = Vec::new();
    let mut custom_back = Vec::new();
    while main_back.len() < 5 || custom_back.len() < 3 {
        match w
            .expect(
                "message-back",
                |s| matches!(s, Seen::Event { event, .. } if event == "message-back"),
            )
            .await
        {
            Seen::Event { nsp, args, .. } if nsp == "/" => main_back.push(args),
            Seen::Event { args, .. } => custom_back.push(args),
            _ => unreachable!(),
        }
    }
    let expected: Vec<Json> = (0..5).map(|i| json!([i])).collect();
    assert_eq!(main_back, expected, "in order");
    let expected: Vec<Json> = (0..3).map(|i| json!(["c", i])).collect();
    assert_eq!(custom_back, expected, "in order");
    let later = w.during(Duration::from_millis(700)).await;
    assert!(
        !later
            .iter()
            .any(|s| matches!(s, Seen::Event { event, .. } if event == "message-back")),
        "nothing twice, no volatile: {later:?}"
    );
    manager.close();
}

/// With retries, packets emitted before, during and after a restart are
/// all acknowledged, in order.
pub async fn retries_deliver_everything(server: &mut Server, transports: Transports) {
    let manager = Manager::new(server.url(), options(transports));
    let mut w = Watch::new();
    let socket = manager.socket(
        "/",
        SocketOptions {
            retries: Some(1000),
            ack_timeout: Some(Duration::from_millis(1000)),
            ..Default::default()
        },
    );
    w.socket(&socket);
    socket.connect();
    w.connect("/").await;
    let mut pending = Vec::new();
    for i in 0..30 {
        pending.push(socket.emit_with_ack("message-with-ack", vec![Value::from(i)]));
        // Plain emits go through the queue as well.
        socket
            .emit("message-with-ack", vec![Value::from(1000 + i)])
            .unwrap();
        if i == 10 {
            tokio::task::block_in_place(|| server.kill());
        }
        if i == 20 {
            tokio::task::block_in_place(|| server.restart());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for (i, request) in pending.into_iter().enumerate() {
        let got = tokio::time::timeout(Duration::from_secs(30), request)
            .await
            .expect("in time")
            .unwrap_or_else(|e| panic!("packet {i}: {e}"));
        assert_eq!(got, [Value::from(i)], "packet {i}");
    }
    // Acknowledged after everything queued before it.
    let done = socket
        .emit_with_ack("message-with-ack", vec![Value::from("done")])
        .await
        .expect("the last packet acknowledged");
    assert_eq!(done, [Value::from("done")]);
    if let Peer::Node { .. } = server.peer() {
        // The server logs an event before acknowledging it; wait for our
        // reader of its output to catch up.
        let deadline = Instant::now() + WAIT;
        while !server
            .node_events()
            .iter()
            .any(|e| e["event"] == "message-with-ack" && e["args"][0] == "done")
        {
            assert!(Instant::now() < deadline, "the server's log lacks \"done\"");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        // The servers saw every packet, the first time in order.
        let mut firsts: Vec<i64> = Vec::new();
        for e in server.node_events() {
            if e["ev"] == "event" && e["event"] == "message-with-ack" {
                if let Some(n) = e["args"][0].as_i64() {
                    if !firsts.contains(&n) {
                        firsts.push(n);
                    }
                }
            }
        }
        let expected: Vec<i64> = (0..30).flat_map(|i| [i, 1000 + i]).collect();
        assert_eq!(firsts, expected);
    }
    manager.close();
}

/// A server-side disconnect is final: no reconnection.
pub async fn server_disconnect_is_final(url: String, transports: Transports) {
    let manager = Manager::new(url, options(transports));
    let mut w = Watch::new();
    w.manager(&manager);
    let socket = manager.socket("/", SocketOptions::default());
    w.socket(&socket);
    socket.connect();
    w.connect("/").await;
    socket.emit("kick-me", vec![]).unwrap();
    assert_eq!(
        w.disconnect("/").await,
        DisconnectReason::IoServerDisconnect
    );
    let later = w.during(Duration::from_millis(1500)).await;
    assert!(
        !later
            .iter()
            .any(|s| matches!(s, Seen::Attempt(_) | Seen::Connect { .. })),
        "{later:?}"
    );
    assert!(!socket.active() && !socket.connected() && !manager.is_open());
    // Connecting again by hand works.
    socket.connect();
    w.connect("/").await;
    manager.close();
}

/// A middleware's refusal: connect_error with the server's message, no
/// reconnection; the right auth is accepted.
pub async fn middleware_refusal(url: String, transports: Transports) {
    let refused = socketeer::client::ClientBuilder::new(url.clone())
        .options(options(transports))
        .namespace("/private")
        .auth(json!({"token": "wrong"}))
        .connect()
        .await
        .expect_err("refused");
    assert_eq!(refused.message, "unauthorized");

    let manager = Manager::new(url.clone(), options(transports));
    let mut w = Watch::new();
    w.manager(&manager);
    let socket = manager.socket(
        "/private",
        SocketOptions::with_auth(json!({"token": "nope"})),
    );
    w.socket(&socket);
    socket.connect();
    let seen = w
        .expect("connect_error", |s| matches!(s, Seen::ConnectError { .. }))
        .await;
    assert_eq!(
        seen,
        Seen::ConnectError {
            nsp: "/private".into(),
            message: "unauthorized".into()
        }
    );
    let later = w.during(Duration::from_millis(800)).await;
    assert!(
        !later.iter().any(|s| matches!(
            s,
            Seen::Attempt(_) | Seen::Connect { .. } | Seen::ConnectError { .. }
        )),
        "{later:?}"
    );
    assert!(!socket.active());

    let ok = socketeer::client::ClientBuilder::new(url.clone())
        .options(options(transports))
        .namespace("/private")
        .auth(json!({"token": "secret"}))
        .connect()
        .await
        .expect("accepted");
    assert!(ok.connected() && ok.id().is_some());
    ok.manager().close();
}

/// Connection state recovery: after a transport close, the client sends
/// its pid and offset; the server restores the session and replays what
/// was missed.
pub async fn state_recovery(url: String, transports: Transports) {
    let mut opts = options(transports);
    opts.config.reconnection_delay = Duration::from_millis(600);
    let manager = Manager::new(url, opts);
    let mut w = Watch::new();
    w.manager(&manager);
    let socket = manager.socket("/", SocketOptions::default());
    w.socket(&socket);
    socket.connect();
    assert!(!w.connect("/").await, "a first connection is not recovered");
    let first_id = socket.id();
    // Something received, so the client has an offset.
    socket.emit("echo", vec![Value::from("before")]).unwrap();
    w.event("/", "echo").await;
    // The server drops the transport, then emits while we are away.
    socket.emit("drop-me", vec![Value::from(100)]).unwrap();
    assert_eq!(w.disconnect("/").await, DisconnectReason::TransportClose);
    assert!(w.connect("/").await, "recovered");
    assert!(socket.recovered());
    assert_eq!(socket.id(), first_id, "same session");
    let missed = w.event("/", "missed").await;
    assert_eq!(missed[0], "while-away");
    assert!(missed[1].is_string(), "the offset comes last: {missed}");
    manager.close();
}
