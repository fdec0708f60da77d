//! Interop tests: the official `socket.io-client` (Node) and
//! `python-socketio` against our Socket.IO server, the release build of the
//! conformance example (docs/conformance.md, "The contract"), started on a
//! free port of 127.0.0.1 for each test.
//!
//! The clients are `interop/peers/node-socketio-client/*.mjs` and
//! `interop/peers/python/socketio_client.py`. Each runs one scenario and
//! prints what it observes as JSON lines (binary values as
//! `{"$bin": "<hex>"}`); these tests assert on those lines. Most scenarios
//! run over three transport modes: WebSocket only, long-polling only, and
//! long-polling upgraded to WebSocket (the client default).
//!
//! Scenarios: namespaces, auth and middlewares (`connect.mjs`); message
//! round trips of every kind of argument, up to a 1 MB string and nested
//! binary (`messages.mjs`); acknowledgements both ways, with the server's
//! 1 s ack timeout (`acks.mjs`); rooms and broadcasts (`rooms.mjs`); a
//! server-side disconnect (`kick.mjs`); 500 clients × 20 acked round trips
//! from one Node process (`load.mjs`); python-socketio; and invalid input
//! from raw clients next to a healthy client (`badinput.mjs`,
//! `oversize.mjs`, `surrogates.mjs`).
//!
//! Needs:
//! - the server: `cargo build --profile interop -p interop --examples` or
//!   `--release` (or `SOCKETEER_CONFORMANCE_BIN=/path/to/conformance`);
//! - `node` on `PATH` with the npm packages of `interop/peers/node-socketio-client`, and
//!   the Python venv `${SOCKETEER_CACHE:-$HOME/.cache/socketeer}/pyenv` with
//!   `python-socketio[client]`: `scripts/setup-test-deps` installs both.
//!
//! A missing peer or server fails the test; it is never skipped. Every
//! child process is killed when its guard drops, also on a failed
//! assertion.

use std::io::{BufRead, BufReader, Read};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use serde_json::{json, Value};

const SETUP_HINT: &str = "run scripts/setup-test-deps to install the interop peers";
const BUILD_HINT: &str = "run `cargo build --profile interop -p interop --examples` \
                          (or `--release`) first, or set SOCKETEER_CONFORMANCE_BIN to \
                          the conformance binary";
/// Bound on one scenario run (each peer also stops itself earlier).
const RUN_TIMEOUT: Duration = Duration::from_secs(50);
/// Longest wait for the server to accept connections.
const STARTUP: Duration = Duration::from_secs(10);

/// The repository root (this package is `interop/`).
fn root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

// ---------------------------------------------------------------------------
// Child processes

/// Output collected from a child's pipe by a reader thread.
type Sink = Arc<Mutex<Vec<u8>>>;

fn drain(mut pipe: impl Read + Send + 'static) -> Sink {
    let sink: Sink = Arc::default();
    let out = sink.clone();
    std::thread::spawn(move || {
        let mut buf = [0u8; 8192];
        while let Ok(n @ 1..) = pipe.read(&mut buf) {
            out.lock()
                .unwrap_or_else(|p| p.into_inner())
                .extend_from_slice(&buf[..n]);
        }
    });
    sink
}

fn text_of(sink: &Sink) -> String {
    String::from_utf8_lossy(&sink.lock().unwrap_or_else(|p| p.into_inner())).into_owned()
}

/// A child process, killed (and reaped) when dropped.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

// ---------------------------------------------------------------------------
// The server

/// `SOCKETEER_CONFORMANCE_BIN`, or the newer of
/// `target/interop/examples/conformance` (what scripts/test builds) and
/// `target/release/examples/conformance`.
fn conformance_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("SOCKETEER_CONFORMANCE_BIN").filter(|v| !v.is_empty()) {
        let p = PathBuf::from(p);
        assert!(
            p.is_file(),
            "SOCKETEER_CONFORMANCE_BIN={} does not exist; {BUILD_HINT}",
            p.display()
        );
        return p;
    }
    let p = socketeer_test_support::newest_example(root(), &["interop", "release"], "conformance");
    assert!(
        p.is_file(),
        "the conformance server {} is missing; {BUILD_HINT}",
        p.display()
    );
    warn_if_stale(&p);
    p
}

/// Warns (without failing) when a source file is newer than the binary:
/// the tests would then exercise an old server.
fn warn_if_stale(bin: &Path) {
    fn newest(dir: &Path, best: &mut Option<(SystemTime, PathBuf)>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                newest(&p, best);
            } else if p.extension().is_some_and(|x| x == "rs") {
                if let Ok(t) = e.metadata().and_then(|m| m.modified()) {
                    if best.as_ref().is_none_or(|(b, _)| t > *b) {
                        *best = Some((t, p));
                    }
                }
            }
        }
    }
    let Ok(built) = std::fs::metadata(bin).and_then(|m| m.modified()) else {
        return;
    };
    let mut best = None;
    let example = root().join("interop/examples/conformance.rs");
    if let Ok(t) = std::fs::metadata(&example).and_then(|m| m.modified()) {
        best = Some((t, example));
    }
    for krate in ["socketeer", "socketeer-engineio", "socketeer-ws"] {
        newest(&root().join("crates").join(krate).join("src"), &mut best);
    }
    if let Some((t, p)) = best {
        if t > built {
            eprintln!(
                "warning: {} is newer than {}; {BUILD_HINT}",
                p.display(),
                bin.display()
            );
        }
    }
}

/// Waits until the server accepts TCP connections on `port`; `Err` if it
/// exited first (a port taken meanwhile, say).
fn wait_until_listening(guard: &mut Guard, port: u16, stderr: &Sink) -> Result<(), String> {
    let deadline = Instant::now() + STARTUP;
    while Instant::now() < deadline {
        if TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_ok() {
            return Ok(());
        }
        if let Ok(Some(status)) = guard.0.try_wait() {
            std::thread::sleep(Duration::from_millis(20));
            return Err(format!("exited with {status}: {}", text_of(stderr)));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!(
        "the conformance server did not accept connections on port {port} within \
         {STARTUP:?}\nserver stderr:\n{}",
        text_of(stderr)
    );
}

/// The conformance server on its own port; killed on drop.
struct Server {
    guard: Guard,
    port: u16,
    stderr: Sink,
}

impl Server {
    fn start() -> Server {
        Self::start_with(&[])
    }

    /// Starts the server with extra options after the port.
    fn start_with(options: &[&str]) -> Server {
        Self::start_with_env(options, &[])
    }

    /// Starts the server with extra options and environment variables.
    fn start_with_env(options: &[&str], env: &[(&str, &str)]) -> Server {
        let bin = conformance_bin();
        let mut last_error = String::new();
        // A port found free may be taken before the server binds it: retry.
        for _ in 0..5 {
            let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
                .and_then(|l| l.local_addr())
                .expect("find a free port")
                .port();
            let mut child = Command::new(&bin)
                .arg(port.to_string())
                .args(options)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .env("RUST_LOG", "warn")
                .envs(env.iter().copied())
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {}: {e}; {BUILD_HINT}", bin.display()));
            let stderr = drain(child.stderr.take().expect("piped stderr"));
            let mut guard = Guard(child);
            match wait_until_listening(&mut guard, port, &stderr) {
                Ok(()) => {
                    return Server {
                        guard,
                        port,
                        stderr,
                    }
                }
                Err(e) => last_error = e,
            }
        }
        panic!("the conformance server would not start: {last_error}");
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn stderr(&self) -> String {
        text_of(&self.stderr)
    }

    /// The server is still running and logged no panic.
    fn assert_healthy(&mut self) {
        let stderr = self.stderr();
        assert!(
            !stderr.contains("panicked"),
            "the server panicked:\n{stderr}"
        );
        if let Ok(Some(status)) = self.guard.0.try_wait() {
            panic!("the server exited with {status}:\n{stderr}");
        }
    }
}

// ---------------------------------------------------------------------------
// The peers

/// What one peer run printed.
struct Run {
    name: String,
    lines: Vec<Value>,
    stderr: String,
    server_stderr: String,
    status: ExitStatus,
    elapsed: Duration,
}

/// At most `max` characters of `s` (lines can hold 100 KB of hex).
fn clip(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((cut, _)) => format!("{}… ({} bytes)", &s[..cut], s.len()),
        None => s.to_owned(),
    }
}

impl std::fmt::Display for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "--- {} (exit status {}, {:?}) ---",
            self.name, self.status, self.elapsed
        )?;
        for l in &self.lines {
            writeln!(f, "{}", clip(&l.to_string(), 400))?;
        }
        writeln!(
            f,
            "--- {} stderr ---\n{}",
            self.name,
            clip(&self.stderr, 4000)
        )?;
        write!(
            f,
            "--- server stderr ---\n{}",
            clip(&self.server_stderr, 4000)
        )
    }
}

impl Run {
    fn events(&self, ev: &str) -> Vec<&Value> {
        self.lines.iter().filter(|l| l["ev"] == ev).collect()
    }

    /// The only `ev` line (whose `key` is `value`, if given).
    fn one_where(&self, ev: &str, key: &str, value: &str) -> &Value {
        let found: Vec<&Value> = self
            .events(ev)
            .into_iter()
            .filter(|l| key.is_empty() || l[key] == value)
            .collect();
        match found.as_slice() {
            [one] => one,
            other => panic!(
                "expected one {ev:?} line{}, got {}\n{self}",
                if key.is_empty() {
                    String::new()
                } else {
                    format!(" with {key} = {value:?}")
                },
                other.len()
            ),
        }
    }

    fn one(&self, ev: &str) -> &Value {
        self.one_where(ev, "", "")
    }

    /// The peer finished: exit status 0, a `done` line, no `error` line.
    fn assert_finished(&self) {
        assert!(
            self.events("error").is_empty(),
            "{} reported errors\n{self}",
            self.name
        );
        assert!(
            self.events("non-json").is_empty(),
            "{} printed lines that are not JSON\n{self}",
            self.name
        );
        assert!(self.status.success(), "{} failed\n{self}", self.name);
        self.one("done");
    }
}

/// Runs `cmd` to its end (at most `RUN_TIMEOUT`), collecting its JSON lines.
fn run_peer(name: &str, mut cmd: Command, server: &mut Server) -> Run {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {name} ({cmd:?}): {e}; {SETUP_HINT}"));
    let stdout = child.stdout.take().expect("piped stdout");
    let stderr = drain(child.stderr.take().expect("piped stderr"));
    let mut guard = Guard(child);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });

    let start = Instant::now();
    let deadline = start + RUN_TIMEOUT;
    let mut lines = Vec::new();
    let mut timed_out = false;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => match serde_json::from_str(&line) {
                Ok(v) => lines.push(v),
                Err(e) => {
                    lines.push(json!({"ev": "non-json", "line": line, "error": e.to_string()}))
                }
            },
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                timed_out = true;
                break;
            }
        }
    }
    // Stdout is closed: the peer is exiting.
    let status = loop {
        match guard.0.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if !timed_out && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(10));
            }
            Ok(None) => break None,
            Err(e) => panic!("{name}: wait failed: {e}"),
        }
    };
    let status = status.unwrap_or_else(|| {
        let _ = guard.0.kill();
        guard.0.wait().expect("reap the killed peer")
    });
    // Let the reader threads catch up with the last bytes.
    std::thread::sleep(Duration::from_millis(20));
    let run = Run {
        name: name.to_owned(),
        lines,
        stderr: text_of(&stderr),
        server_stderr: server.stderr(),
        status,
        elapsed: start.elapsed(),
    };
    assert!(
        !timed_out,
        "{name} did not finish within {RUN_TIMEOUT:?}\n{run}"
    );
    server.assert_healthy();
    run
}

fn socketio_dir() -> PathBuf {
    root().join("interop/peers/node-socketio-client")
}

/// `node SCRIPT URL ARGS...` from `interop/peers/node-socketio-client`.
fn node(script: &str, server: &mut Server, args: &[&str]) -> Run {
    let dir = socketio_dir();
    for package in ["socket.io-client", "ws"] {
        assert!(
            dir.join("node_modules")
                .join(package)
                .join("package.json")
                .is_file(),
            "the npm package {package} is not installed in {}: {SETUP_HINT}",
            dir.display()
        );
    }
    let mut cmd = Command::new("node");
    cmd.current_dir(&dir)
        .arg(script)
        .arg(server.url())
        .args(args);
    run_peer(&format!("node {script} {}", args.join(" ")), cmd, server)
}

/// The Python of `${SOCKETEER_CACHE:-$HOME/.cache/socketeer}/pyenv`, as
/// `scripts/setup-test-deps` creates it, with python-socketio installed.
fn python_interpreter() -> PathBuf {
    let cache = match std::env::var_os("SOCKETEER_CACHE").filter(|v| !v.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(std::env::var_os("HOME").expect("HOME is not set"))
            .join(".cache/socketeer"),
    };
    let venv = cache.join("pyenv");
    let python = venv.join("bin/python");
    assert!(
        python.is_file(),
        "no Python venv at {}: {SETUP_HINT}",
        venv.display()
    );
    let has_socketio = std::fs::read_dir(venv.join("lib"))
        .into_iter()
        .flatten()
        .flatten()
        .any(|e| {
            e.path()
                .join("site-packages/socketio/__init__.py")
                .is_file()
        });
    assert!(
        has_socketio,
        "python-socketio is not installed in {}: {SETUP_HINT}",
        venv.display()
    );
    python
}

fn python(server: &mut Server, mode: &str) -> Run {
    let mut cmd = Command::new(python_interpreter());
    cmd.arg(root().join("interop/peers/python/socketio_client.py"))
        .arg(server.url())
        .arg(mode)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("PYTHONUNBUFFERED", "1");
    run_peer(&format!("python socketio_client.py {mode}"), cmd, server)
}

// ---------------------------------------------------------------------------
// Shared checks

/// The transport a client ends on in `mode`.
fn final_transport(mode: &str) -> &'static str {
    match mode {
        "polling" => "polling",
        _ => "websocket",
    }
}

/// The client `client` used the transports of `mode`: in "upgrade" mode
/// it upgraded (and `socket.io.engine.transport.name` then said
/// "websocket"), otherwise it stayed on its only transport.
fn assert_transport(run: &Run, mode: &str, client: &str) {
    if mode == "upgrade" {
        let up = run.one_where("upgrade", "client", client);
        assert_eq!(up["transport"], "websocket", "{client}: upgrade\n{run}");
        assert_eq!(up["now"], "websocket", "{client}: upgrade\n{run}");
        assert!(
            run.events("transport")
                .iter()
                .all(|l| l["client"] != client),
            "{run}"
        );
    } else {
        let t = run.one_where("transport", "client", client);
        assert_eq!(t["transport"], mode, "{client}: transport\n{run}");
        assert!(
            run.events("upgrade").iter().all(|l| l["client"] != client),
            "{client} upgraded\n{run}"
        );
    }
    let last = run.one_where("final_transport", "client", client);
    assert_eq!(
        last["transport"],
        final_transport(mode),
        "{client}: final transport\n{run}"
    );
}

/// Every `ev` line has `same: true` and `got == sent`; returns their names.
fn assert_round_trips(run: &Run, ev: &str) -> Vec<String> {
    run.events(ev)
        .iter()
        .map(|l| {
            let name = l["name"].as_str().unwrap_or("?");
            assert_eq!(
                l["got"], l["sent"],
                "{ev} {name:?}: what came back differs from what was sent\n{run}"
            );
            assert_eq!(l["same"], true, "{ev} {name:?}\n{run}");
            name.to_owned()
        })
        .collect()
}

fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

// ---------------------------------------------------------------------------
// 1. Namespaces, auth, middlewares

fn connect(mode: &str) {
    let mut server = Server::start();
    let run = node("connect.mjs", &mut server, &[mode]);
    run.assert_finished();
    assert_transport(&run, mode, "m1");
    if mode != "upgrade" {
        // The second connection may or may not have upgraded yet.
        assert_eq!(
            run.one_where("final_transport", "client", "m2")["transport"],
            mode,
            "{run}"
        );
    }

    let auth = |client: &str, nsp: &str| -> Value {
        let found: Vec<&Value> = run
            .events("auth")
            .into_iter()
            .filter(|l| l["client"] == client && l["nsp"] == nsp)
            .collect();
        assert_eq!(found.len(), 1, "auth events of {client} {nsp}\n{run}");
        found[0]["auth"].clone()
    };
    assert_eq!(auth("m1", "/"), json!({"token": "abc"}), "{run}");
    assert_eq!(auth("m1", "/custom"), json!({"token": "abc"}), "{run}");
    assert_eq!(auth("m2", "/"), json!({}), "no auth gives {{}}\n{run}");

    let mut connected: Vec<String> = run
        .events("connect")
        .iter()
        .map(|l| {
            format!(
                "{} {}",
                l["client"].as_str().unwrap_or("?"),
                l["nsp"].as_str().unwrap_or("?")
            )
        })
        .collect();
    connected.sort();
    assert_eq!(
        connected,
        names(&["m1 /", "m1 /custom", "m2 /", "m2 /private"]),
        "{run}"
    );

    let errors = run.events("connect_error");
    assert_eq!(errors.len(), 2, "{run}");
    let nope = run.one_where("connect_error", "nsp", "/nope");
    assert_eq!(nope["message"], "Invalid namespace", "{run}");
    assert_eq!(nope["data"], Value::Null, "{run}");
    let private = run.one_where("connect_error", "nsp", "/private");
    assert_eq!(private["client"], "m1", "{run}");
    assert_eq!(private["message"], "unauthorized", "{run}");
    assert_eq!(private["data"], Value::Null, "{run}");

    assert_eq!(
        run.one("echo_after_errors")["args"],
        json!(["still here", 1]),
        "{run}"
    );
    assert_eq!(
        run.one("echo_custom")["args"],
        json!(["custom too"]),
        "{run}"
    );
    let rejoin = run.one("rejoin");
    assert_eq!(rejoin["auth"], json!({"token": "abc"}), "{run}");
    assert_eq!(rejoin["args"], json!(["rejoined"]), "{run}");
    assert_eq!(rejoin["same_connection"], true, "{run}");
    assert_eq!(run.one("ids")["socket_id_is_engine_id"], false, "{run}");
    assert_eq!(run.one("sids_distinct")["value"], true, "{run}");
}

#[test]
fn connect_auth_namespaces_websocket() {
    connect("websocket");
}

#[test]
fn connect_auth_namespaces_polling() {
    connect("polling");
}

#[test]
fn connect_auth_namespaces_upgrade() {
    connect("upgrade");
}

// ---------------------------------------------------------------------------
// 2. Messages: UTF-8, numbers, nested objects, 1 MB, binary

fn messages(mode: &str) {
    let mut server = Server::start();
    let run = node("messages.mjs", &mut server, &[mode]);
    run.assert_finished();
    assert_transport(&run, mode, "main");

    let big = run.one("big")["packet_bytes"]
        .as_u64()
        .expect("packet_bytes");
    assert!(
        (999_000..1_000_000).contains(&big),
        "the big EVENT packet is {big} bytes, not just under maxPayload\n{run}"
    );
    let burst = run.one("burst");
    assert_eq!(burst["count"], 200, "{run}");
    assert_eq!(burst["in_order"], true, "{run}");

    let got = assert_round_trips(&run, "roundtrip");
    assert_eq!(
        got,
        names(&[
            "no args",
            "ascii",
            "utf8",
            "escapes",
            "numbers",
            "literals",
            "empty containers",
            "nested",
            "binary small",
            "binary 100 KB",
            "binary nested",
            "binary 10 attachments",
            "placeholder-like object",
            "big string",
            "after big",
            "binary empty",
            "custom utf8",
            "custom binary nested",
        ]),
        "{run}"
    );
    for l in run.events("roundtrip") {
        assert_eq!(l["transport"], final_transport(mode), "{run}");
    }
    // Spot checks on what came back, independently of the client's own
    // comparison.
    let by_name = |name: &str| run.one_where("roundtrip", "name", name)["got"].clone();
    assert_eq!(by_name("utf8")[4], json!("emoji 😀🎉👍🏽👨‍👩‍👧"), "{run}");
    assert_eq!(
        by_name("binary small"),
        json!([{"$bin": "000102ff"}]),
        "{run}"
    );
    assert_eq!(by_name("binary empty"), json!([{"$bin": ""}]), "{run}");
    assert_eq!(
        by_name("binary nested")[0]["a"][1]["b"],
        json!({"$bin": "627974657320cebacf8ccf83cebcceb5"}),
        "{run}"
    );
    assert_eq!(
        by_name("placeholder-like object"),
        json!([{"_placeholder": true, "num": 0}]),
        "{run}"
    );
    let big_back = &by_name("big string")[0];
    assert_eq!(big_back["bytes"].as_u64(), Some(big - 16), "{run}");

    let ack = run.one("custom_ack");
    assert_eq!(ack["got"], json!([{"$bin": "0708"}, "y"]), "{run}");
    assert_eq!(ack["same"], true, "{run}");
    assert!(
        run.events("disconnect")
            .iter()
            .all(|l| l["reason"] == "io client disconnect"),
        "unexpected disconnect\n{run}"
    );
}

#[test]
fn messages_round_trip_websocket() {
    messages("websocket");
}

#[test]
fn messages_round_trip_polling() {
    messages("polling");
}

#[test]
fn messages_round_trip_upgrade() {
    messages("upgrade");
}

// ---------------------------------------------------------------------------
// 3. Acknowledgements both ways

fn acks(mode: &str) {
    let mut server = Server::start();
    let run = node("acks.mjs", &mut server, &[mode]);
    run.assert_finished();
    assert_transport(&run, mode, "main");

    assert_eq!(run.one("emitWithAck")["got"], json!(1), "{run}");
    let got = assert_round_trips(&run, "ack_callback");
    assert_eq!(got, names(&["mixed", "none", "binary", "utf8"]), "{run}");
    assert_eq!(
        run.one_where("ack_callback", "name", "mixed")["got"],
        json!([1, "2", {"x": [true]}]),
        "{run}"
    );
    assert_eq!(run.one("concurrent_acks")["ok"], true, "{run}");

    let questions = run.events("question");
    let asked: Vec<&Value> = questions.iter().map(|q| &q["args"][0]).collect();
    assert_eq!(
        asked,
        [
            &json!("plain"),
            &json!("binary"),
            &json!("none"),
            &json!("ignore me"),
            &json!("late")
        ],
        "{run}"
    );
    assert!(questions.iter().all(|q| q["has_ack"] == true), "{run}");
    assert_eq!(questions[0]["args"], json!(["plain", "extra", 7]), "{run}");
    let got = assert_round_trips(&run, "answer");
    assert_eq!(got, names(&["plain", "binary", "none"]), "{run}");
    assert_eq!(
        run.one_where("answer", "name", "binary")["got"],
        json!([{"$bin": "00ff0a0d"}, {"nested": {"$bin": "cebacf8ccf83cebcceb5"}}]),
        "{run}"
    );

    let timeout = run.one("answer-timeout");
    let ms = timeout["ms"].as_u64().expect("ms");
    assert!(
        (900..=3000).contains(&ms),
        "answer-timeout after {ms} ms, expected about 1000\n{run}"
    );
    assert_eq!(timeout["args"], json!([]), "{run}");
    let late = run.one("late_ack");
    assert_eq!(
        late["stray"],
        json!([]),
        "a late ack produced an answer\n{run}"
    );
    assert_eq!(late["connected"], true, "{run}");
    let after = run.one("after_timeout");
    assert_eq!(after["got"], "after", "{run}");
    assert_eq!(after["connected"], true, "{run}");
}

#[test]
fn acks_both_ways_websocket() {
    acks("websocket");
}

#[test]
fn acks_both_ways_polling() {
    acks("polling");
}

#[test]
fn acks_both_ways_upgrade() {
    acks("upgrade");
}

// ---------------------------------------------------------------------------
// 4. Rooms and broadcasts

fn rooms(mode: &str) {
    let mut server = Server::start();
    let run = node("rooms.mjs", &mut server, &[mode]);
    run.assert_finished();
    for client in ["A", "B", "C"] {
        assert_transport(&run, mode, client);
    }
    let acks: Vec<(String, String, Value)> = run
        .events("ack")
        .iter()
        .map(|l| {
            (
                l["client"].as_str().unwrap_or("?").to_owned(),
                l["event"].as_str().unwrap_or("?").to_owned(),
                l["got"].clone(),
            )
        })
        .collect();
    assert_eq!(
        acks,
        vec![
            ("A".into(), "join".into(), json!(["joined"])),
            ("B".into(), "join".into(), json!(["joined"])),
            ("B".into(), "leave".into(), json!(["left"])),
        ],
        "{run}"
    );

    let bcast = json!(["broadcast", "bcast", {"$bin": "010203"}]);
    let from_c = json!(["room-message", "from C", {"n": 1}]);
    let all = |m: &str| json!(["all-message", m]);
    let log = |client: &str| run.one_where("log", "client", client)["events"].clone();
    // A sent "from A" (not to itself) and "after leave" (B had left).
    assert_eq!(
        log("A"),
        json!([all("m1"), from_c, all("m2"), all("m3"), bcast]),
        "A's events\n{run}"
    );
    assert_eq!(
        log("B"),
        json!([
            ["room-message", "from A"],
            all("m1"),
            from_c,
            all("m2"),
            all("m3"),
            bcast
        ]),
        "B's events\n{run}"
    );
    assert_eq!(
        log("C"),
        json!([all("m1"), all("m2"), all("m3"), bcast]),
        "C (never in r1) got a room message\n{run}"
    );
    assert_eq!(
        log("C/custom"),
        json!([]),
        "a broadcast of / reached /custom\n{run}"
    );
}

#[test]
fn rooms_and_broadcasts_websocket() {
    rooms("websocket");
}

#[test]
fn rooms_and_broadcasts_polling() {
    rooms("polling");
}

#[test]
fn rooms_and_broadcasts_upgrade() {
    rooms("upgrade");
}

// ---------------------------------------------------------------------------
// 4b. The handler API (`/api`): async middleware error, socket data in
// handlers and in fetch_sockets, typed arguments and their refusal,
// `disconnecting` with the rooms still there.

fn api(mode: &str) {
    let mut server = Server::start();
    let run = node("api.mjs", &mut server, &[mode]);
    run.assert_finished();
    let refused = run.one("refused");
    assert_eq!(refused["message"], json!("no user"), "{run}");
    assert_eq!(refused["data"], json!({"code": 401}), "{run}");
    assert_eq!(run.one("whoami")["got"], json!(["ada"]), "{run}");
    assert_eq!(run.one("members")["got"], json!([["ada", "bob"]]), "{run}");
    assert_eq!(run.one("add")["got"], json!([5]), "{run}");
    let bad = &run.one("add_bad")["got"][0]["error"];
    assert!(
        bad.as_str()
            .is_some_and(|e| e.starts_with("invalid arguments for \"add\"")),
        "{run}"
    );
    assert_eq!(run.one("after_bad")["got"], json!(["ada"]), "{run}");
    assert_eq!(
        run.one("left")["got"],
        json!(["bob", ["members"], "client namespace disconnect"]),
        "{run}"
    );
}

#[test]
fn handler_api_websocket() {
    api("websocket");
}

#[test]
fn handler_api_polling() {
    api("polling");
}

#[test]
fn handler_api_upgrade() {
    api("upgrade");
}

// 5. Server-side disconnect

fn kick(mode: &str) {
    let mut server = Server::start();
    let run = node("kick.mjs", &mut server, &[mode]);
    run.assert_finished();
    assert_transport(&run, mode, "main");
    assert_transport_start(&run, mode, "solo");

    for client in ["main", "solo"] {
        let d = run.one_where("disconnect", "client", client);
        assert_eq!(d["reason"], "io server disconnect", "{client}\n{run}");
    }
    let custom = run.one("custom_after_kick");
    assert_eq!(custom["connected"], true, "{run}");
    assert_eq!(custom["got"], json!(["custom after kick"]), "{run}");
    for ev in ["after", "after_solo"] {
        let a = run.one(ev);
        assert_eq!(a["connected"], false, "{ev}: reconnected\n{run}");
        assert_eq!(a["active"], false, "{ev}\n{run}");
        assert_eq!(a["connects"], 1, "{ev}: reconnected\n{run}");
        assert_eq!(
            a["reconnect_attempts"], 0,
            "{ev}: tried to reconnect\n{run}"
        );
    }
    assert_eq!(run.one("after_solo")["engine_open"], false, "{run}");
    let again = run.one("reconnected");
    assert_eq!(again["same_id"], false, "{run}");
    assert_eq!(again["got"], json!(["back again"]), "{run}");
}

/// Like [`assert_transport`], for a client whose final transport is not
/// printed.
fn assert_transport_start(run: &Run, mode: &str, client: &str) {
    if mode == "upgrade" {
        assert_eq!(
            run.one_where("upgrade", "client", client)["now"],
            "websocket",
            "{run}"
        );
    } else {
        assert_eq!(
            run.one_where("transport", "client", client)["transport"],
            mode,
            "{run}"
        );
    }
}

#[test]
fn server_disconnect_websocket() {
    kick("websocket");
}

#[test]
fn server_disconnect_polling() {
    kick("polling");
}

#[test]
fn server_disconnect_upgrade() {
    kick("upgrade");
}

// ---------------------------------------------------------------------------
// 5b. Connection state recovery after a forced transport close

fn recovery(mode: &str) {
    let mut server = Server::start_with(&["--state-recovery"]);
    let run = node("recovery.mjs", &mut server, &[mode]);
    run.assert_finished();
    let r = run.one("recovered");
    // The client closed its own transport: "forced close" on its side.
    assert_eq!(r["reason"], json!("forced close"), "{run}");
    assert_eq!(r["id_kept"], json!(true), "the socket id changed\n{run}");
    assert_eq!(r["recovered"], json!(true), "not recovered\n{run}");
    assert_eq!(
        run.one("log")["events"],
        json!([
            ["room-message", "before"],
            ["room-message", "missed 1"],
            ["all-message", "missed 2"],
            ["room-message", "after"]
        ]),
        "what the recovered client got (each once, in order)\n{run}"
    );
}

#[test]
fn state_recovery_websocket() {
    recovery("websocket");
}

#[test]
fn state_recovery_polling() {
    recovery("polling");
}

#[test]
fn state_recovery_upgrade() {
    recovery("upgrade");
}

// ---------------------------------------------------------------------------
// 6. Load: 500 clients × 20 sequential acked round trips

#[test]
fn load_500_websocket_clients_20_acks_each() {
    const CLIENTS: u64 = 500;
    const ROUNDS: u64 = 20;
    // Pings still go every 300 ms, but a pong may take 10 s: 500 clients in
    // one Node process stall its event loop past the contract's 200 ms when
    // another test takes a core (a CI run lost 10 clients so, with acks at
    // p99 190 ms). A disconnection for any reason still fails the test.
    let mut server = Server::start_with_env(&[], &[("PING_TIMEOUT_MS", "10000")]);
    let run = node(
        "load.mjs",
        &mut server,
        &["websocket", &CLIENTS.to_string(), &ROUNDS.to_string()],
    );
    run.assert_finished();
    let connected = run.one("connected");
    assert_eq!(connected["clients"], CLIENTS, "{run}");
    let load = run.one("load");
    assert_eq!(load["bad"], 0, "acks with wrong arguments\n{run}");
    assert_eq!(
        load["disconnects"], 0,
        "clients were disconnected (reasons {}); with a 10 s pong timeout, \"transport close\" \
         means the server closed their connections\n{run}",
        load["reasons"]
    );
    assert_eq!(load["failed"], 0, "acks lost\n{run}");
    assert_eq!(load["ok"], CLIENTS * ROUNDS, "acks lost or wrong\n{run}");
    eprintln!(
        "load: {CLIENTS} WebSocket clients connected in {} ms; {} acked round trips in {} ms \
         (per ack p50 {} ms, p99 {} ms, max {} ms); whole run {:?}",
        connected["ms"],
        CLIENTS * ROUNDS,
        load["ms"],
        load["p50_ms"],
        load["p99_ms"],
        load["max_ms"],
        run.elapsed
    );
}

// ---------------------------------------------------------------------------
// 7. python-socketio

fn python_client(mode: &str) {
    let mut server = Server::start();
    let run = python(&mut server, mode);
    run.assert_finished();
    assert_eq!(
        run.one("connect")["transport"],
        final_transport(mode),
        "{run}"
    );
    assert_eq!(
        run.one("final_transport")["transport"],
        final_transport(mode),
        "{run}"
    );
    for nsp in ["/", "/custom"] {
        assert_eq!(
            run.one_where("auth", "nsp", nsp)["auth"],
            json!({"token": "abc"}),
            "{run}"
        );
    }
    let got = assert_round_trips(&run, "roundtrip");
    assert_eq!(
        got,
        names(&[
            "text",
            "numbers",
            "literals",
            "nested",
            "bytes",
            "bytes nested",
            "bytes 100 KB"
        ]),
        "{run}"
    );
    assert_eq!(
        run.one_where("roundtrip", "name", "bytes")["got"],
        json!([{"$bin": "000102ff"}]),
        "{run}"
    );
    let got = assert_round_trips(&run, "ack");
    assert_eq!(got, names(&["mixed", "one", "bytes"]), "{run}");
    assert_eq!(
        run.one_where("ack", "name", "mixed")["got"],
        json!([1, "2", {"x": [true]}]),
        "{run}"
    );
    assert_eq!(
        run.one("question")["args"],
        json!(["from python", 1]),
        "{run}"
    );
    let answer = run.one("answer");
    assert_eq!(answer["got"], answer["sent"], "{run}");
    assert_eq!(answer["same"], true, "{run}");
    assert_eq!(
        run.one("private_refused")["data"],
        json!({"message": "unauthorized"}),
        "{run}"
    );
    assert!(run.events("private_connected").is_empty(), "{run}");
    assert!(run.events("unexpected_disconnect").is_empty(), "{run}");
}

#[test]
fn python_socketio_websocket() {
    python_client("websocket");
}

#[test]
fn python_socketio_polling() {
    python_client("polling");
}

#[test]
fn python_socketio_upgrade() {
    python_client("upgrade");
}

// ---------------------------------------------------------------------------
// 8. Bad input next to a healthy client

/// The bad cases of `badinput.mjs`, in the order it runs them.
const GARBAGE_CASES: &[&str] = &[
    "4abc (unknown Socket.IO packet type)",
    "42{} (event payload not an array)",
    "451000-[\"x\"] (1000 attachments, over the limit of 10)",
    "11 attachments (one over the limit)",
    "invalid JSON",
    "trailing garbage after JSON",
    "42[] (no event name)",
    "42[{}] (event name not a string)",
    "42[\"connect\"] (reserved event name)",
    "4 (empty Socket.IO packet)",
    "49 (unknown packet type 9)",
    "40/custom,\"str\" (CONNECT payload not an object)",
    "41{\"a\":1} (DISCONNECT with data)",
    "binary without a BINARY_EVENT",
    "placeholder index out of range",
    "text where an attachment is due",
    "x (invalid Engine.IO packet)",
    "message over maxPayload",
    "poll: 4abc",
    "poll: 42{}",
    "poll: 451000-[\"x\"]",
    "poll: invalid JSON",
];

const STATE_CASES: &[&str] = &[
    "CONNECT to a namespace already joined",
    "EVENT for a namespace not joined",
    "ACK for a namespace not joined",
    "DISCONNECT for a namespace not joined",
    "CONNECT_ERROR from the client",
    "never joins a namespace",
];

fn bad_input(mode: &str, set: &str, expected: &[&str]) {
    let mut server = Server::start();
    let run = node("badinput.mjs", &mut server, &[mode, set]);
    run.assert_finished();
    assert_transport(&run, mode, "main");

    let bad = run.events("bad");
    let ran: Vec<&str> = bad
        .iter()
        .map(|l| l["name"].as_str().unwrap_or("?"))
        .collect();
    assert_eq!(ran, expected, "{run}");
    let open: Vec<&str> = bad
        .iter()
        .filter(|l| l["closed"] != true)
        .map(|l| l["name"].as_str().unwrap_or("?"))
        .collect();
    assert!(
        open.is_empty(),
        "the server left these connections open (2.5 s after the bad input): {open:?}\n{run}"
    );
    for l in &bad {
        assert!(l["error"].is_null(), "{}\n{run}", l["name"]);
    }

    let healthy = run.one("healthy");
    assert_eq!(
        healthy["disconnects"],
        json!([]),
        "the healthy client was disconnected\n{run}"
    );
    assert_eq!(healthy["connected"], true, "{run}");
    assert_eq!(
        healthy["mismatches"], 0,
        "the healthy client's echoes differ\n{run}"
    );
    assert!(
        healthy["echoes_during_bad"].as_u64().unwrap_or(0) >= 1
            && healthy["echoes"].as_u64().unwrap_or(0) >= 6,
        "the healthy client made no progress\n{run}"
    );
}

#[test]
fn bad_input_closes_only_the_offender_websocket() {
    bad_input("websocket", "garbage", GARBAGE_CASES);
}

#[test]
fn bad_input_closes_only_the_offender_polling() {
    bad_input("polling", "garbage", GARBAGE_CASES);
}

#[test]
fn bad_input_closes_only_the_offender_upgrade() {
    bad_input("upgrade", "garbage", GARBAGE_CASES);
}

/// Well-formed packets that the connection's state does not allow (a
/// second CONNECT to a joined namespace, EVENT / ACK / DISCONNECT for a
/// namespace not joined): the official server closes the connection
/// ("invalid state" in socket.io `lib/client.ts`), and so does ours.
/// Strings holding a lone UTF-16 surrogate (JavaScript's
/// `"😀".slice(0, 1)`), which `JSON.stringify` writes as `"\ud83d"`: the
/// official server echoes them; ours turns each into U+FFFD (a Rust string
/// cannot hold one) and keeps the connection.
#[test]
fn lone_surrogates_do_not_close_the_connection() {
    for mode in ["websocket", "polling"] {
        let mut server = Server::start();
        let run = node("surrogates.mjs", &mut server, &[mode]);
        run.assert_finished();
        assert!(
            run.events("disconnect")
                .iter()
                .all(|l| l["reason"] == "io client disconnect"),
            "{mode}: the server closed the connection\n{run}"
        );
        assert_eq!(run.one("done")["backs"], 3, "{mode}\n{run}");
        // As the official server: unchanged; at least: U+FFFD in their place.
        let cut = run
            .events("back")
            .into_iter()
            .find(|l| l["i"] == 1)
            .unwrap_or_else(|| panic!("{mode}: no echo of the lone surrogates\n{run}"));
        assert!(
            cut["exact"] == true || cut["replaced"] == true,
            "{mode}: the lone surrogates came back as {}\n{run}",
            cut["json"]
        );
    }
}

/// A message over maxPayload is refused with close code 1009, and the
/// client must see that close frame every time. The official server (ws)
/// reads and discards the rest of the refused message before closing, and
/// so does ours: closing with input unread would make the kernel reset the
/// connection, and the client could lose the close frame.
#[test]
fn oversized_message_is_refused_with_1009() {
    let mut server = Server::start();
    let run = node("oversize.mjs", &mut server, &["30"]);
    run.assert_finished();
    let summary = run.one("summary");
    assert_eq!(
        summary["socket_errors"],
        json!({}),
        "the server reset connections (EPIPE/ECONNRESET on the client's writes)\n{run}"
    );
    assert_eq!(
        summary["codes"],
        json!({"1009": 30}),
        "close codes seen by the client over 30 tries\n{run}"
    );
}

#[test]
fn bad_input_invalid_state_closes_the_connection() {
    bad_input("websocket", "state", STATE_CASES);
}
