//! Interop tests: socketeer-ws against Node's `ws` (as client and as server)
//! and Python's `websockets` (as client), over real sockets on 127.0.0.1.
//!
//! The peers live in `interop/peers/{node-ws,python}`. They are driven by a
//! JSON plan (stdin) or by commands sent over the WebSocket, print what they
//! observe as JSON lines, and these tests assert on those lines and on what
//! our side saw.
//!
//! Needs `node` on `PATH` with the npm packages in
//! `interop/peers/node-ws/node_modules`, and the Python venv under
//! `${SOCKETEER_CACHE:-$HOME/.cache/socketeer}/pyenv`:
//! `scripts/setup-test-deps` installs both. A missing peer fails the test; it
//! is never skipped.

use std::future::Future;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde_json::{json, Value};
use socketeer_ws::{
    accept_with_config, connect_with_options, CloseCode, CloseFrame, ConnectOptions, DeflateConfig,
    Fragment, MaybeTlsStream, Message, ServerConfig, WebSocketStream,
};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

const SETUP_HINT: &str = "run scripts/setup-test-deps to install the interop peers";
/// Longest wait for any one thing a peer or our side should do.
const STEP_TIMEOUT: Duration = Duration::from_secs(20);
/// Bound on a whole test.
const TEST_TIMEOUT: Duration = Duration::from_secs(28);
/// The largest message of the main matrices.
const BIG: usize = 16 << 20;
/// The largest message where compression parameters vary: the point there
/// is the negotiation and the windows, and unoptimised zlib is slow.
const MEDIUM: usize = 1 << 20;

async fn with_timeout<T>(test: impl Future<Output = T>) -> T {
    tokio::time::timeout(TEST_TIMEOUT, test)
        .await
        .unwrap_or_else(|_| panic!("test did not finish within {TEST_TIMEOUT:?}"))
}

async fn step<T>(what: &str, f: impl Future<Output = T>) -> T {
    tokio::time::timeout(STEP_TIMEOUT, f)
        .await
        .unwrap_or_else(|_| panic!("timed out after {STEP_TIMEOUT:?}: {what}"))
}

// ---------------------------------------------------------------------------
// Payloads

/// CRC-32 (IEEE), as Node's `zlib.crc32` and Python's `zlib.crc32`.
fn crc32(data: &[u8]) -> u32 {
    const TABLE: [u32; 256] = {
        let mut table = [0u32; 256];
        let mut i = 0;
        while i < 256 {
            let mut c = i as u32;
            let mut k = 0;
            while k < 8 {
                c = if c & 1 != 0 {
                    0xedb8_8320 ^ (c >> 1)
                } else {
                    c >> 1
                };
                k += 1;
            }
            table[i] = c;
            i += 1;
        }
        table
    };
    !data.iter().fold(!0u32, |crc, &b| {
        TABLE[((crc ^ u32::from(b)) & 0xff) as usize] ^ (crc >> 8)
    })
}

/// Bytes `(start + i) % 251`: what a `{"pattern": [start, len]}` part means
/// to the peers.
fn pattern(start: usize, len: usize) -> Vec<u8> {
    let cycle: Vec<u8> = (0..251u8).collect();
    let mut out = Vec::with_capacity(len + 251);
    out.extend_from_slice(&cycle[start % 251..]);
    while out.len() < len {
        out.extend_from_slice(&cycle);
    }
    out.truncate(len);
    out
}

fn hex(data: &[u8]) -> String {
    data.iter().map(|b| format!("{b:02x}")).collect()
}

/// What a peer reports of a data message: its type, length and CRC-32.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Summary {
    kind: &'static str,
    len: usize,
    crc32: u32,
}

impl Summary {
    fn of(text: bool, data: &[u8]) -> Self {
        Summary {
            kind: if text { "text" } else { "binary" },
            len: data.len(),
            crc32: crc32(data),
        }
    }

    fn of_message(m: &Message) -> Option<Self> {
        match m {
            Message::Text(t) => Some(Self::of(true, t.as_bytes())),
            Message::Binary(b) => Some(Self::of(false, b)),
            _ => None,
        }
    }

    /// From a peer's `{"ev":"message","type":..,"len":..,"crc32":..}`.
    fn of_event(v: &Value) -> Self {
        let kind = match v["type"].as_str() {
            Some("text") => "text",
            Some("binary") => "binary",
            _ => panic!("not a message event: {v}"),
        };
        Summary {
            kind,
            len: v["len"].as_u64().expect("len") as usize,
            crc32: v["crc32"].as_u64().expect("crc32") as u32,
        }
    }
}

/// A short description of a message for assertion failures (never the
/// whole payload of a 16 MiB message).
fn show(m: &Message) -> String {
    match Summary::of_message(m) {
        Some(s) if s.len <= 64 => format!("{m:?}"),
        Some(s) => format!("{s:?}"),
        None => format!("{m:?}"),
    }
}

#[derive(Debug, Clone)]
enum Part {
    Bytes(Vec<u8>),
    Pattern { start: usize, len: usize },
}

fn part_payload(part: &Part) -> Vec<u8> {
    match part {
        Part::Bytes(b) => b.clone(),
        Part::Pattern { start, len } => pattern(*start, *len),
    }
}

/// A message as the peers understand it: more than one part means it is
/// sent fragmented, one frame per part. The whole message and its summary
/// are computed once (the tests run unoptimised).
#[derive(Clone)]
struct Spec {
    text: bool,
    parts: Vec<Part>,
    message: Message,
    summary: Summary,
}

impl Spec {
    fn new(text: bool, parts: Vec<Part>) -> Self {
        let payload: Vec<u8> = parts.iter().flat_map(part_payload).collect();
        let summary = Summary::of(text, &payload);
        let message = if text {
            Message::text(String::from_utf8(payload).expect("text specs are UTF-8"))
        } else {
            Message::binary(payload)
        };
        Spec {
            text,
            parts,
            message,
            summary,
        }
    }

    fn text(s: &str) -> Self {
        Self::new(true, vec![Part::Bytes(s.as_bytes().to_vec())])
    }

    fn binary(b: &[u8]) -> Self {
        Self::new(false, vec![Part::Bytes(b.to_vec())])
    }

    fn pattern(start: usize, len: usize) -> Self {
        Self::fragmented_pattern(start, len, &[])
    }

    /// Text cut into fragments at byte offsets, which may fall inside a
    /// UTF-8 sequence.
    fn fragmented_text(s: &str, cuts: &[usize]) -> Self {
        let bytes = s.as_bytes();
        let mut bounds = vec![0];
        bounds.extend_from_slice(cuts);
        bounds.push(bytes.len());
        let parts = bounds
            .windows(2)
            .map(|w| Part::Bytes(bytes[w[0]..w[1]].to_vec()))
            .collect();
        Self::new(true, parts)
    }

    fn fragmented_pattern(start: usize, len: usize, cuts: &[usize]) -> Self {
        let mut bounds = vec![0];
        bounds.extend_from_slice(cuts);
        bounds.push(len);
        let parts = bounds
            .windows(2)
            .map(|w| Part::Pattern {
                start: start + w[0],
                len: w[1] - w[0],
            })
            .collect();
        Self::new(false, parts)
    }

    fn message(&self) -> Message {
        self.message.clone()
    }

    fn summary(&self) -> Summary {
        self.summary.clone()
    }

    fn json(&self) -> Value {
        let parts: Vec<Value> = self
            .parts
            .iter()
            .map(|p| match p {
                Part::Bytes(b) => json!({ "hex": hex(b) }),
                Part::Pattern { start, len } => json!({ "pattern": [start, len] }),
            })
            .collect();
        json!({ "text": self.text, "parts": parts })
    }

    fn describe(&self) -> String {
        format!(
            "{} message of {} bytes in {} frame(s)",
            self.summary.kind,
            self.summary.len,
            self.parts.len()
        )
    }
}

/// Fragmented messages: text cut inside a 2-byte and a 4-byte UTF-8
/// sequence, binary with an empty middle fragment, and three fragments of
/// `fragment` bytes.
fn fragmented_specs(fragment: usize) -> Vec<Spec> {
    // "frag-" is bytes 0..5, κ 5..7, 𝄞 16..20.
    vec![
        Spec::fragmented_text("frag-κόσμε-𝄞!", &[6, 11, 18]),
        Spec::fragmented_pattern(3, 1000, &[10, 10, 500]),
        Spec::fragmented_pattern(5, 3 * fragment, &[fragment, 2 * fragment]),
    ]
}

/// The size of the large fragments in a matrix whose largest message has
/// `big` bytes: 1 MiB for 16 MiB.
fn fragment_size(big: usize) -> usize {
    big / 16
}

/// The messages of an echo test, fragmented ones included, ending with one
/// of `big` bytes.
fn matrix(big: usize) -> Vec<Spec> {
    let mut specs = vec![
        Spec::text("hello"),
        Spec::text(""),
        Spec::text("κόσμε 𝄞 ✓"),
        Spec::binary(&[0, 1, 2, 255]),
        Spec::binary(&[]),
        Spec::pattern(0, 70_000),
        Spec::text(&"x".repeat(70_000)),
    ];
    specs.extend(fragmented_specs(fragment_size(big)));
    specs.push(Spec::pattern(11, big));
    specs
}

// ---------------------------------------------------------------------------
// Peer processes

/// A peer process. Dropping it kills the process (also on a failed
/// assertion), so no test leaves one behind.
struct Peer {
    name: String,
    child: Child,
    /// Held open for servers, which exit when it closes.
    stdin: Option<ChildStdin>,
    lines: mpsc::UnboundedReceiver<String>,
    seen: Vec<String>,
    stderr: Arc<Mutex<Vec<u8>>>,
}

impl Peer {
    /// Starts `cmd`; `input` (the plan) is written to its stdin, which is
    /// then closed.
    fn spawn(name: &str, mut cmd: Command, input: Option<String>) -> Peer {
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let child = cmd.spawn().unwrap_or_else(|e| {
            panic!("cannot start the {name} peer ({cmd:?}): {e}; {SETUP_HINT}")
        });
        let (tx, lines) = mpsc::unbounded_channel();
        let mut peer = Peer {
            name: name.to_owned(),
            child,
            stdin: None,
            lines,
            seen: Vec::new(),
            stderr: Arc::new(Mutex::new(Vec::new())),
        };
        let stdout = peer.child.stdout.take().expect("piped stdout");
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut stderr = peer.child.stderr.take().expect("piped stderr");
        let sink = peer.stderr.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n @ 1..) = stderr.read(&mut buf) {
                sink.lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .extend_from_slice(&buf[..n]);
            }
        });
        let mut stdin = peer.child.stdin.take().expect("piped stdin");
        match input {
            // From a thread: the plan may be larger than the pipe buffer.
            Some(input) => {
                std::thread::spawn(move || {
                    let _ = stdin.write_all(input.as_bytes());
                });
            }
            None => peer.stdin = Some(stdin),
        }
        peer
    }

    fn diagnostics(&self) -> String {
        let stderr = self.stderr.lock().unwrap_or_else(|p| p.into_inner());
        format!(
            "\n--- {name} stdout ---\n{}\n--- {name} stderr ---\n{}",
            self.seen.join("\n"),
            String::from_utf8_lossy(&stderr),
            name = self.name,
        )
    }

    /// The next JSON line; `None` once the peer closed its stdout.
    async fn next_event(&mut self) -> Option<Value> {
        let line = match tokio::time::timeout(STEP_TIMEOUT, self.lines.recv()).await {
            Ok(line) => line?,
            Err(_) => panic!(
                "{}: printed nothing for {STEP_TIMEOUT:?}{}",
                self.name,
                self.diagnostics()
            ),
        };
        let mut shown = line.clone();
        if shown.len() > 300 {
            let mut cut = 300;
            while !shown.is_char_boundary(cut) {
                cut -= 1;
            }
            shown.truncate(cut);
            shown.push('…');
        }
        self.seen.push(shown);
        match serde_json::from_str(&line) {
            Ok(v) => Some(v),
            Err(e) => panic!("{}: not a JSON line ({e}){}", self.name, self.diagnostics()),
        }
    }

    /// The next event, which must be an `ev` event.
    async fn expect(&mut self, ev: &str) -> Value {
        match self.next_event().await {
            Some(v) if v["ev"] == ev => v,
            Some(v) => panic!(
                "{}: expected a {ev:?} event, got {v}{}",
                self.name,
                self.diagnostics()
            ),
            None => panic!(
                "{}: ended while a {ev:?} event was expected{}",
                self.name,
                self.diagnostics()
            ),
        }
    }

    /// The next event must be a data message like `spec`.
    async fn expect_message(&mut self, spec: &Spec, context: &str) {
        let ev = self.expect("message").await;
        assert_eq!(
            Summary::of_event(&ev),
            spec.summary(),
            "{}: {context}: {} was received as {ev}",
            self.name,
            spec.describe()
        );
    }

    /// The peer must print nothing more and exit with status 0.
    async fn finish(&mut self) {
        if let Some(v) = self.next_event().await {
            panic!(
                "{}: unexpected event {v} where the peer should end{}",
                self.name,
                self.diagnostics()
            );
        }
        let deadline = Instant::now() + STEP_TIMEOUT;
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => {
                    assert!(
                        status.success(),
                        "{}: exited with {status}{}",
                        self.name,
                        self.diagnostics()
                    );
                    return;
                }
                Ok(None) if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                Ok(None) => panic!("{}: did not exit{}", self.name, self.diagnostics()),
                Err(e) => panic!("{}: wait failed: {e}", self.name),
            }
        }
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The repository root (this package is `interop/`).
fn root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

fn node_peer(script: &str, args: &[&str], input: Option<String>) -> Peer {
    let dir = root().join("interop/peers/node-ws");
    assert!(
        dir.join("node_modules/ws/package.json").is_file(),
        "the npm package ws is not installed in {}: {SETUP_HINT}",
        dir.display()
    );
    let mut cmd = Command::new("node");
    cmd.arg(dir.join(script)).args(args).current_dir(&dir);
    Peer::spawn(&format!("node {script}"), cmd, input)
}

/// `${SOCKETEER_CACHE:-$HOME/.cache/socketeer}/pyenv/bin/python`, as
/// `scripts/setup-test-deps` creates it.
fn python_interpreter() -> PathBuf {
    let cache = match std::env::var_os("SOCKETEER_CACHE").filter(|v| !v.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(std::env::var_os("HOME").expect("HOME is not set"))
            .join(".cache/socketeer"),
    };
    let python = cache.join("pyenv/bin/python");
    assert!(
        python.is_file(),
        "no Python venv with websockets at {}: {SETUP_HINT}",
        python.display()
    );
    python
}

fn python_peer(script: &str, input: String) -> Peer {
    let mut cmd = Command::new(python_interpreter());
    cmd.arg(root().join("interop/peers/python").join(script))
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("PYTHONUNBUFFERED", "1");
    Peer::spawn(&format!("python {script}"), cmd, Some(input))
}

#[derive(Debug, Clone, Copy)]
enum ClientKind {
    Node,
    Python,
}

/// A client peer that runs `plan` (see `interop/peers/node-ws/client.mjs`).
fn client_peer(kind: ClientKind, plan: &Value) -> Peer {
    match kind {
        ClientKind::Node => node_peer("client.mjs", &[], Some(plan.to_string())),
        ClientKind::Python => python_peer("client.py", plan.to_string()),
    }
}

/// Starts `interop/peers/node-ws/server.mjs`; returns it and its ws:// URL.
async fn node_server(deflate: &str) -> (Peer, String) {
    let mut peer = node_peer("server.mjs", &[deflate], None);
    let listening = peer.expect("listening").await;
    let port = listening["port"].as_u64().expect("port");
    (peer, format!("ws://127.0.0.1:{port}/echo"))
}

// ---------------------------------------------------------------------------
// Our side

/// What our in-process server saw on a connection.
#[derive(Debug)]
enum ServerEvent {
    Open {
        deflate: bool,
    },
    Data(Message),
    /// The close frame the peer sent (first, or in answer to ours).
    PeerClose(Option<CloseFrame>),
    End(Result<(), String>),
}

/// A socketeer-ws echo server in this process, with the default
/// [`ServerConfig`] (permessage-deflate offered). A text message
/// `close:CODE:REASON` makes it close the connection with that code.
struct EchoServer {
    url: String,
    events: mpsc::UnboundedReceiver<ServerEvent>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for EchoServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl EchoServer {
    async fn start() -> EchoServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("ws://{}/echo", listener.local_addr().expect("local addr"));
        let (tx, events) = mpsc::unbounded_channel();
        let config = Arc::new(ServerConfig::default());
        let task = tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                tokio::spawn(serve_echo(tcp, config.clone(), tx.clone()));
            }
        });
        EchoServer { url, events, task }
    }

    async fn next(&mut self) -> ServerEvent {
        step("an event from our server", self.events.recv())
            .await
            .expect("our server's event channel closed")
    }

    async fn expect_open(&mut self) -> bool {
        match self.next().await {
            ServerEvent::Open { deflate } => deflate,
            other => panic!(
                "our server: expected the connection, got {}",
                show_event(&other)
            ),
        }
    }

    async fn expect_data(&mut self, spec: &Spec) {
        match self.next().await {
            ServerEvent::Data(m) => assert!(
                m == spec.message,
                "our server received {} where the peer sent {}",
                show(&m),
                spec.describe()
            ),
            other => panic!(
                "our server: expected {}, got {}",
                spec.describe(),
                show_event(&other)
            ),
        }
    }

    async fn expect_peer_close(&mut self) -> Option<CloseFrame> {
        match self.next().await {
            ServerEvent::PeerClose(frame) => frame,
            other => panic!(
                "our server: expected a close frame, got {}",
                show_event(&other)
            ),
        }
    }

    async fn expect_clean_end(&mut self) {
        match self.next().await {
            ServerEvent::End(Ok(())) => {}
            other => panic!(
                "our server: expected a clean end of the connection, got {}",
                show_event(&other)
            ),
        }
    }
}

fn show_event(e: &ServerEvent) -> String {
    match e {
        ServerEvent::Data(m) => format!("Data({})", show(m)),
        other => format!("{other:?}"),
    }
}

async fn serve_echo(
    tcp: TcpStream,
    config: Arc<ServerConfig>,
    tx: mpsc::UnboundedSender<ServerEvent>,
) {
    let _ = tcp.set_nodelay(true);
    let mut ws = match accept_with_config(tcp, &config).await {
        Ok(conn) => conn.ws,
        Err(e) => {
            let _ = tx.send(ServerEvent::End(Err(format!("handshake: {e}"))));
            return;
        }
    };
    let _ = tx.send(ServerEvent::Open {
        deflate: ws.protocol().has_deflate(),
    });
    let end = loop {
        let msg = match ws.recv().await {
            None => break Ok(()),
            Some(Err(e)) => break Err(e.to_string()),
            Some(Ok(m)) => m,
        };
        match msg {
            Message::Text(t) if t.starts_with("close:") => {
                let rest = &t["close:".len()..];
                let (code, reason) = rest.split_once(':').unwrap_or((rest, ""));
                let code: u16 = code.parse().expect("close:CODE:REASON");
                let closed = ws.close(Some(CloseFrame::new(code, reason))).await;
                let _ = tx.send(ServerEvent::PeerClose(
                    ws.protocol().peer_close_frame().cloned(),
                ));
                break closed.map_err(|e| e.to_string());
            }
            Message::Close(frame) => {
                let _ = tx.send(ServerEvent::PeerClose(frame));
            }
            m @ (Message::Text(_) | Message::Binary(_)) => {
                let _ = tx.send(ServerEvent::Data(m.clone()));
                if let Err(e) = ws.feed(m).await {
                    break Err(e.to_string());
                }
            }
            Message::Ping(_) | Message::Pong(_) => {}
        }
    };
    let _ = tx.send(ServerEvent::End(end));
}

type Client = WebSocketStream<MaybeTlsStream>;

/// Connects our client; returns it and the `Sec-WebSocket-Extensions`
/// response header.
async fn connect_ours(url: &str, deflate: bool) -> (Client, Option<String>) {
    let mut options = ConnectOptions::default();
    if deflate {
        options.handshake.deflate = Some(DeflateConfig::default());
    }
    let (ws, response) = step("connecting", connect_with_options(url, &options))
        .await
        .unwrap_or_else(|e| panic!("our client failed to connect to {url}: {e}"));
    let extensions = response
        .headers()
        .get("sec-websocket-extensions")
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    (ws, extensions)
}

/// The next data message, with the pings received before it.
async fn recv_data(ws: &mut Client) -> (Message, Vec<Bytes>) {
    let mut pings = Vec::new();
    loop {
        match step("a message for our client", ws.recv()).await {
            Some(Ok(Message::Ping(p))) => pings.push(p),
            Some(Ok(Message::Pong(_))) => {}
            Some(Ok(m)) => return (m, pings),
            Some(Err(e)) => panic!("our client: receive failed: {e}"),
            None => panic!("our client: the connection ended"),
        }
    }
}

/// Checks a `Sec-WebSocket-Extensions` response header against whether
/// compression should have been agreed.
fn assert_extensions_header(header: Option<&str>, compressed: bool, who: &str) {
    if compressed {
        assert!(
            header.is_some_and(|h| h.trim_start().starts_with("permessage-deflate")),
            "{who}: permessage-deflate was not negotiated (Sec-WebSocket-Extensions: {header:?})"
        );
    } else {
        assert_eq!(
            header, None,
            "{who}: no extension was offered, yet the server answered one"
        );
    }
}

// ---------------------------------------------------------------------------
// Peers as clients of our server

/// The echo matrix: the peer sends every message of `matrix(big)`,
/// our server records and echoes each, the peer reports the echoes, then
/// closes with 1000.
async fn client_echo(kind: ClientKind, deflate: Value, big: usize) {
    let compressed = deflate != json!(false);
    let mut server = EchoServer::start().await;
    let specs = matrix(big);
    let plan = json!({
        "url": server.url,
        "deflate": deflate,
        "send": specs.iter().map(Spec::json).collect::<Vec<_>>(),
        "expect": specs.len(),
        "close": { "code": 1000, "reason": "" },
    });
    let mut peer = client_peer(kind, &plan);

    let open = peer.expect("open").await;
    assert_extensions_header(open["extensions"].as_str(), compressed, &peer.name);
    assert_eq!(
        server.expect_open().await,
        compressed,
        "our server's view of permessage-deflate"
    );
    for spec in &specs {
        server.expect_data(spec).await;
        peer.expect_message(spec, "the echo").await;
    }
    let close = peer.expect("close").await;
    assert_eq!(close["code"], 1000, "{}: close {close}", peer.name);
    assert_eq!(
        server.expect_peer_close().await,
        Some(CloseFrame::new(1000, ""))
    );
    server.expect_clean_end().await;
    peer.finish().await;
}

/// The peer closes with 4000 and a reason; then our server closes with
/// 1001 and with 4001 and the peer reports those codes.
async fn client_close_codes(kind: ClientKind) {
    let mut server = EchoServer::start().await;
    let plan = json!({
        "url": server.url, "deflate": false, "send": [], "expect": 0,
        "close": { "code": 4000, "reason": "client-bye" },
    });
    let mut peer = client_peer(kind, &plan);
    peer.expect("open").await;
    server.expect_open().await;
    assert_eq!(
        server.expect_peer_close().await,
        Some(CloseFrame::new(4000, "client-bye")),
        "the close frame our server received"
    );
    server.expect_clean_end().await;
    let close = peer.expect("close").await;
    assert_eq!(
        close["code"], 4000,
        "{}: our server should echo the code: {close}",
        peer.name
    );
    peer.finish().await;

    for (code, reason) in [(1001u16, "going away"), (4001, "bye")] {
        let mut server = EchoServer::start().await;
        let command = Spec::text(&format!("close:{code}:{reason}"));
        let plan = json!({
            "url": server.url, "deflate": false, "send": [command.json()], "expect": 0,
            "close": null,
        });
        let mut peer = client_peer(kind, &plan);
        peer.expect("open").await;
        server.expect_open().await;
        let close = peer.expect("close").await;
        assert_eq!(close["code"], code, "{}: {close}", peer.name);
        assert_eq!(close["reason"], reason, "{}: {close}", peer.name);
        let answer = server.expect_peer_close().await;
        assert_eq!(
            answer.map(|f| f.code),
            Some(CloseCode(code)),
            "the peer's answer to our close frame"
        );
        server.expect_clean_end().await;
        peer.finish().await;
    }
}

/// Compression options for the Node client: context takeover off both ways
/// and 10-bit windows both ways.
fn node_small_window_offer() -> Value {
    json!({
        "threshold": 0,
        "serverNoContextTakeover": true,
        "clientNoContextTakeover": true,
        "serverMaxWindowBits": 10,
        "clientMaxWindowBits": 10,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_client_echo_uncompressed() {
    with_timeout(client_echo(ClientKind::Node, json!(false), BIG)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_client_echo_compressed() {
    with_timeout(client_echo(ClientKind::Node, json!(true), BIG)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_client_echo_compressed_no_context_takeover_small_windows() {
    with_timeout(client_echo(
        ClientKind::Node,
        node_small_window_offer(),
        MEDIUM,
    ))
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_client_close_codes() {
    with_timeout(client_close_codes(ClientKind::Node)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_client_echo_uncompressed() {
    with_timeout(client_echo(ClientKind::Python, json!(false), BIG)).await;
}

/// websockets' default offer (`permessage-deflate; client_max_window_bits`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_client_echo_compressed() {
    with_timeout(client_echo(ClientKind::Python, json!(true), BIG)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_client_echo_compressed_no_context_takeover_small_windows() {
    let offer = json!({
        "server_no_context_takeover": true,
        "client_no_context_takeover": true,
        "server_max_window_bits": 10,
        "client_max_window_bits": 10,
    });
    with_timeout(client_echo(ClientKind::Python, offer, MEDIUM)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_client_close_codes() {
    with_timeout(client_close_codes(ClientKind::Python)).await;
}

// ---------------------------------------------------------------------------
// Our client against the Node server

/// Queues `spec` on our client: as one message, or one frame per part with
/// a ping after the first fragment.
async fn feed_spec(ws: &mut Client, spec: &Spec) {
    if spec.parts.len() == 1 {
        step("queueing a message", ws.feed(spec.message()))
            .await
            .expect("feed");
        return;
    }
    let last = spec.parts.len() - 1;
    for (i, part) in spec.parts.iter().map(part_payload).enumerate() {
        let kind = match (i, spec.text) {
            (0, true) => Fragment::Text,
            (0, false) => Fragment::Binary,
            _ => Fragment::Continuation,
        };
        step(
            "queueing a fragment",
            ws.feed_fragment(kind, Bytes::from(part), i == last),
        )
        .await
        .expect("feed_fragment");
        if i == 0 {
            let ping = Message::Ping(Bytes::from_static(b"between fragments"));
            step("queueing a ping", ws.feed(ping))
                .await
                .expect("ping between fragments");
        }
    }
}

/// Our client sends `matrix(big)` to the Node echo server (fragmented
/// messages with a ping between fragments), checks the echoes and what the
/// server reports, asks the server for fragmented messages with a ping
/// between fragments, then closes with 1000.
async fn node_server_echo(server_deflate: &str, offer: bool, big: usize) {
    let compressed = offer && server_deflate != "false";
    let (mut node, url) = node_server(server_deflate).await;
    let (mut ws, extensions) = connect_ours(&url, offer).await;
    let conn = node.expect("connection").await;
    assert_extensions_header(extensions.as_deref(), compressed, "our client");
    assert_eq!(
        ws.protocol().has_deflate(),
        compressed,
        "our client's view of permessage-deflate"
    );
    let expected = if compressed { "permessage-deflate" } else { "" };
    assert_eq!(
        conn["negotiated"], expected,
        "the Node server's view: {conn}"
    );

    let specs = matrix(big);
    for spec in &specs {
        feed_spec(&mut ws, spec).await;
    }
    step("sending", ws.flush()).await.expect("flush");
    for spec in &specs {
        let (got, _) = recv_data(&mut ws).await;
        assert!(
            got == spec.message,
            "our client got {} back for {}",
            show(&got),
            spec.describe()
        );
        node.expect_message(spec, "what the Node server received")
            .await;
    }

    for spec in fragmented_specs(fragment_size(big)) {
        let command = json!({ "op": "send", "message": spec.json(), "ping": true });
        step(
            "sending a command",
            ws.send(Message::text(format!("cmd:{command}"))),
        )
        .await
        .expect("send");
        node.expect("command").await;
        let (got, pings) = recv_data(&mut ws).await;
        assert!(
            got == spec.message,
            "our client received {} for the Node server's {}",
            show(&got),
            spec.describe()
        );
        assert_eq!(
            pings,
            vec![Bytes::from_static(b"between fragments")],
            "the ping sent between fragments"
        );
    }

    step("closing", ws.close(Some(CloseFrame::new(1000, "done"))))
        .await
        .expect("close");
    assert_eq!(
        ws.protocol().peer_close_frame().map(|f| f.code),
        Some(CloseCode::NORMAL)
    );
    // Dropped before Node's close event: see
    // `our_client_closes_tcp_when_the_closing_handshake_ends`.
    drop(ws);
    let close = node.expect("close").await;
    assert_eq!(close["code"], 1000, "{close}");
    assert_eq!(close["reason"], "done", "{close}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_server_echo_uncompressed() {
    with_timeout(node_server_echo("false", false, BIG)).await;
}

/// Our client offers no compression to a server that would compress.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_server_echo_compression_not_offered() {
    with_timeout(node_server_echo("true", false, BIG)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_server_echo_compressed() {
    with_timeout(node_server_echo("true", true, BIG)).await;
}

/// The server answers with parameters our offer may not have had
/// (server_no_context_takeover, client_no_context_takeover,
/// server_max_window_bits=10), which RFC 7692 allows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_server_echo_compressed_no_context_takeover_small_window() {
    let options = json!({
        "threshold": 0,
        "serverNoContextTakeover": true,
        "clientNoContextTakeover": true,
        "serverMaxWindowBits": 10,
    });
    with_timeout(node_server_echo(&options.to_string(), true, MEDIUM)).await;
}

/// Our client closes with 4000 and a reason; then the Node server closes
/// with 1001 and with 4001. (Our client is dropped before Node's close
/// event is awaited: see
/// `our_client_closes_tcp_when_the_closing_handshake_ends`.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_server_close_codes() {
    with_timeout(async {
        let (mut node, url) = node_server("false").await;

        let (mut ws, _) = connect_ours(&url, false).await;
        node.expect("connection").await;
        step(
            "closing",
            ws.close(Some(CloseFrame::new(4000, "client-bye"))),
        )
        .await
        .expect("close");
        assert_eq!(
            ws.protocol().peer_close_frame().map(|f| f.code),
            Some(CloseCode(4000)),
            "the Node server's answer"
        );
        drop(ws);
        let close = node.expect("close").await;
        assert_eq!(close["code"], 4000, "{close}");
        assert_eq!(close["reason"], "client-bye", "{close}");

        for (code, reason) in [(1001u16, "going away"), (4001, "bye")] {
            let (mut ws, _) = connect_ours(&url, false).await;
            node.expect("connection").await;
            let command = json!({ "op": "close", "code": code, "reason": reason });
            step(
                "sending a command",
                ws.send(Message::text(format!("cmd:{command}"))),
            )
            .await
            .expect("send");
            node.expect("command").await;
            match step("the close frame", ws.recv()).await {
                Some(Ok(Message::Close(frame))) => {
                    assert_eq!(frame, Some(CloseFrame::new(code, reason)));
                }
                other => panic!("our client: expected the close frame, got {other:?}"),
            }
            match step("the end of the connection", ws.recv()).await {
                None => {}
                Some(other) => panic!("our client: expected the end, got {other:?}"),
            }
            drop(ws);
            let close = node.expect("close").await;
            assert_eq!(close["code"], code, "our answer, seen by Node: {close}");
        }
    })
    .await;
}

/// Once the closing handshake is over and the server has closed TCP, our
/// client must close its side too, even while the application still holds
/// the `WebSocketStream` (e.g. to read `peer_close_frame`). Node's `ws`
/// reports `close` only when the TCP connection is fully closed, so a
/// half-open socket shows as a missing event (its own timeout is 30 s).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_client_closes_tcp_when_the_closing_handshake_ends() {
    with_timeout(async {
        let (mut node, url) = node_server("false").await;
        let wait = Duration::from_secs(5);

        // We start the closing handshake.
        let (mut ws, _) = connect_ours(&url, false).await;
        node.expect("connection").await;
        step("closing", ws.close(Some(CloseFrame::new(4000, "bye"))))
            .await
            .expect("close");
        let close = tokio::time::timeout(wait, node.expect("close"))
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "WebSocketStream::close returned, but Node saw no TCP close within \
                     {wait:?}: our client's socket is left half-open (CLOSE-WAIT) until \
                     the stream is dropped"
                )
            });
        assert_eq!(close["code"], 4000, "{close}");

        // The server starts it; our client answers and reads to the end.
        let (mut ws2, _) = connect_ours(&url, false).await;
        node.expect("connection").await;
        let command = json!({ "op": "close", "code": 4001, "reason": "bye" });
        step(
            "sending a command",
            ws2.send(Message::text(format!("cmd:{command}"))),
        )
        .await
        .expect("send");
        node.expect("command").await;
        while let Some(m) = step("the end of the connection", ws2.recv()).await {
            m.expect("clean close");
        }
        let close = tokio::time::timeout(wait, node.expect("close"))
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "our client's recv() returned None, but Node saw no TCP close within \
                     {wait:?}: the socket is left half-open (CLOSE-WAIT) until the stream \
                     is dropped"
                )
            });
        assert_eq!(close["code"], 4001, "{close}");
        drop((ws, ws2));
    })
    .await;
}
