//! `socketeer io` driven through stdin/stdout against socketeer's
//! conformance example and the official Node `socket.io` server (the
//! servers of the client tests, `crates/socketeer/tests/client_support`).

#[path = "../../socketeer/tests/client_support/mod.rs"]
mod client_support;

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use client_support::{Peer, Server};
use serde_json::{json, Value};

const WAIT: Duration = Duration::from_secs(15);

/// A running `socketeer io`; killed on drop.
struct Cli {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Cli {
    fn start(url: &str, extra: &[&str]) -> Cli {
        let mut child = Command::new(env!("CARGO_BIN_EXE_socketeer"))
            .arg("io")
            .arg(url)
            .args(extra)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("run socketeer io");
        let stdout = child.stdout.take().expect("piped");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stdin = child.stdin.take();
        Cli {
            child,
            stdin,
            lines,
            seen: Vec::new(),
        }
    }

    fn send(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        writeln!(stdin, "{line}").expect("write to socketeer io");
        stdin.flush().expect("flush");
    }

    /// The next printed object for which `pred` holds (others skipped).
    fn expect(&mut self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    let v: Value = serde_json::from_str(&line)
                        .unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"));
                    if pred(&v) {
                        return v;
                    }
                }
                Err(_) => panic!("no {what} within {WAIT:?}; printed: {:#?}", self.seen),
            }
        }
    }

    fn expect_key(&mut self, key: &str) -> Value {
        let v = self.expect(key, |v| v.get(key).is_some());
        v[key].clone()
    }

    fn event(&mut self, name: &str) -> Value {
        let v = self.expect(name, |v| v["event"] == name);
        v["args"].clone()
    }

    /// Closes stdin and waits for the exit status.
    fn finish(mut self) -> (bool, Vec<String>) {
        self.stdin = None;
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                let rest: Vec<String> = self.lines.try_iter().collect();
                self.seen.extend(rest);
                return (status.success(), std::mem::take(&mut self.seen));
            }
            assert!(Instant::now() < deadline, "socketeer io did not exit");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Cli {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn round_trip(peer: Peer, transport: &str) {
    let server = Server::start(peer);
    let mut cli = Cli::start(
        &server.url(),
        &["--transport", transport, "--auth", r#"{"token":"t"}"#],
    );
    let sid = cli.expect_key("connect");
    assert!(sid.as_str().is_some_and(|s| !s.is_empty()), "{sid}");
    assert_eq!(cli.event("auth"), json!([{"token": "t"}]));
    cli.send(r#"message [1, "two", {"three": [4]}]"#);
    assert_eq!(cli.event("message-back"), json!([1, "two", {"three": [4]}]));
    // The server asks; the CLI acknowledges (with no arguments).
    cli.send(r#"ask-client ["q"]"#);
    assert_eq!(cli.event("question"), json!(["q"]));
    assert_eq!(cli.event("answer"), json!([]));
    cli.send("not json [");
    cli.expect_key("error");
    // A server-side disconnect ends the session.
    cli.send("kick-me");
    assert_eq!(cli.expect_key("disconnect"), "io server disconnect");
    let (ok, printed) = cli.finish();
    assert!(ok, "{printed:?}");
}

fn acks(peer: Peer) {
    let server = Server::start(peer);
    let mut cli = Cli::start(&server.url(), &["--ack", "--namespace", "/custom"]);
    cli.expect_key("connect");
    cli.send(r#"message-with-ack [1, "a", null]"#);
    assert_eq!(cli.expect_key("ack"), json!([1, "a", null]));
    cli.send(r#"message-with-ack []"#);
    assert_eq!(cli.expect_key("ack"), json!([]));
    let (ok, printed) = cli.finish();
    assert!(ok, "{printed:?}");
    assert!(
        printed
            .iter()
            .any(|l| l == r#"{"disconnect":"io client disconnect"}"#),
        "{printed:?}"
    );
}

fn refused(peer: Peer) {
    let server = Server::start(peer);
    let mut cli = Cli::start(
        &server.url(),
        &["--namespace", "/private", "--auth", r#"{"token":"nope"}"#],
    );
    assert_eq!(cli.expect_key("connect_error"), "unauthorized");
    let (ok, printed) = cli.finish();
    assert!(!ok, "a refusal exits with a failure: {printed:?}");
}

fn reconnects(peer: Peer) {
    let mut server = Server::start(peer);
    let mut cli = Cli::start(&server.url(), &["--transport", "websocket"]);
    cli.expect_key("connect");
    server.kill();
    let reason = cli.expect_key("disconnect");
    assert!(
        reason == "transport close" || reason == "transport error",
        "{reason}"
    );
    // Emitted while offline: sent after the reconnection.
    cli.send(r#"message ["while-down"]"#);
    assert_eq!(cli.expect_key("reconnect_attempt"), 1);
    server.restart();
    cli.expect_key("connect");
    assert_eq!(cli.event("message-back"), json!(["while-down"]));
    let (ok, printed) = cli.finish();
    assert!(ok, "{printed:?}");
}

const NODE: Peer = Peer::Node { recovery: false };

#[test]
fn ours_websocket() {
    round_trip(Peer::Ours, "websocket");
}

#[test]
fn ours_polling() {
    round_trip(Peer::Ours, "polling");
}

#[test]
fn ours_acks() {
    acks(Peer::Ours);
}

#[test]
fn ours_refused() {
    refused(Peer::Ours);
}

#[test]
fn ours_reconnects() {
    reconnects(Peer::Ours);
}

#[test]
fn node_upgrade() {
    round_trip(NODE, "both");
}

#[test]
fn node_polling() {
    round_trip(NODE, "polling");
}

#[test]
fn node_acks() {
    acks(NODE);
}

#[test]
fn node_refused() {
    refused(NODE);
}

#[test]
fn node_reconnects() {
    reconnects(NODE);
}
