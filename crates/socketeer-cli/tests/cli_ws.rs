//! `socketeer ws`: the binary driven through stdin/stdout against an
//! in-process socketeer-ws echo server and against the Node `ws` echo
//! server (`interop/peers/node-ws/server.mjs`).
//!
//! The Node peer needs `node` on `PATH` and the npm packages in
//! `interop/peers/node-ws/node_modules` (`scripts/setup-test-deps`); a missing
//! peer fails the test, it is never skipped.

use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use socketeer_ws::{accept_with_config, CloseFrame, Message, ServerConfig};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::net::TcpListener;
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

const SETUP_HINT: &str = "run scripts/setup-test-deps to install the interop peers";
/// Longest wait for any one thing.
const STEP: Duration = Duration::from_secs(10);

async fn step<T>(what: &str, f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(STEP, f)
        .await
        .unwrap_or_else(|_| panic!("timed out after {STEP:?}: {what}"))
}

// ---------------------------------------------------------------------------
// The in-process server

/// What the server saw of the upgrade request.
#[derive(Debug, Default, Clone)]
struct Seen {
    header: Option<String>,
    subprotocol: Option<String>,
}

/// An echo server; a text message `close:CODE:REASON` closes the
/// connection with that code instead, `binary:DATA` is answered with DATA
/// as a binary message, and `drop` drops the TCP connection without a
/// close frame.
async fn echo_server() -> (String, Arc<Mutex<Seen>>, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/echo", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Seen::default()));
    let seen2 = seen.clone();
    let config = ServerConfig {
        subprotocols: vec!["chat".into()],
        ..ServerConfig::default()
    };
    let task = tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let config = config.clone();
            let seen = seen2.clone();
            tokio::spawn(async move {
                let Ok(conn) = accept_with_config(tcp, &config).await else {
                    return;
                };
                *seen.lock().unwrap() = Seen {
                    header: conn
                        .request
                        .headers()
                        .get("x-test")
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned),
                    subprotocol: conn.subprotocol.clone(),
                };
                let mut ws = conn.ws;
                while let Some(Ok(message)) = ws.recv().await {
                    let reply = match message {
                        Message::Text(t) if t.starts_with("close:") => {
                            let mut parts = t.splitn(3, ':').skip(1);
                            let code: u16 = parts.next().unwrap().parse().unwrap();
                            let reason = parts.next().unwrap_or("").to_owned();
                            let _ = ws.close(Some(CloseFrame::new(code, reason))).await;
                            return;
                        }
                        Message::Text(t) if t.as_str() == "drop" => return,
                        Message::Text(t) if t.starts_with("binary:") => Message::Binary(
                            bytes::Bytes::copy_from_slice(&t.as_bytes()["binary:".len()..]),
                        ),
                        m @ (Message::Text(_) | Message::Binary(_)) => m,
                        _ => continue,
                    };
                    if ws.send(reply).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (url, seen, task)
}

// ---------------------------------------------------------------------------
// The CLI process

struct Cli {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: Lines<BufReader<ChildStdout>>,
}

impl Cli {
    fn start(args: &[&str]) -> Cli {
        let mut child = Command::new(env!("CARGO_BIN_EXE_socketeer"))
            .arg("ws")
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("start socketeer");
        let stdin = child.stdin.take();
        let stdout = BufReader::new(child.stdout.take().unwrap()).lines();
        Cli {
            child,
            stdin,
            stdout,
        }
    }

    async fn send(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        stdin.write_all(line.as_bytes()).await.unwrap();
        stdin.write_all(b"\n").await.unwrap();
        stdin.flush().await.unwrap();
    }

    async fn line(&mut self) -> String {
        step("a stdout line", self.stdout.next_line())
            .await
            .unwrap()
            .expect("stdout ended")
    }

    fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// Waits for the exit; returns the status, the rest of stdout and stderr.
    async fn finish(mut self) -> (ExitStatus, Vec<String>, String) {
        let status = step("the CLI's exit", self.child.wait()).await.unwrap();
        let mut rest = Vec::new();
        while let Some(l) = self.stdout.next_line().await.unwrap() {
            rest.push(l);
        }
        let mut stderr = String::new();
        self.child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr)
            .await
            .unwrap();
        (status, rest, stderr)
    }
}

// ---------------------------------------------------------------------------
// Tests against the in-process server

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_echo_then_eof_closes_normally() {
    let (url, seen, _server) = echo_server().await;
    let mut cli = Cli::start(&[&url, "--subprotocol", "chat", "--header", "X-Test: yes"]);
    cli.send("hello").await;
    assert_eq!(cli.line().await, "hello");
    cli.send("wörld 𝄞").await;
    assert_eq!(cli.line().await, "wörld 𝄞");
    // Lines sent right before EOF are still echoed and printed.
    for i in 0..100 {
        cli.send(&format!("line {i}")).await;
    }
    cli.close_stdin();
    let (status, rest, stderr) = cli.finish().await;
    let expected: Vec<String> = (0..100).map(|i| format!("line {i}")).collect();
    assert_eq!(rest, expected);
    assert!(status.success(), "{status}: {stderr}");
    assert!(stderr.contains("subprotocol chat"), "{stderr}");
    assert!(stderr.contains("closed: 1000"), "{stderr}");
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.header.as_deref(), Some("yes"));
    assert_eq!(seen.subprotocol.as_deref(), Some("chat"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_hex_and_base64() {
    let (url, _seen, _server) = echo_server().await;
    let mut cli = Cli::start(&[&url, "--binary", "hex"]);
    cli.send("0001abFF").await;
    assert_eq!(cli.line().await, "0001abff");
    cli.send("not hex").await;
    cli.send("").await;
    assert_eq!(cli.line().await, "", "an empty binary message");
    cli.close_stdin();
    let (status, rest, stderr) = cli.finish().await;
    assert!(status.success(), "{status}: {stderr}");
    assert!(rest.is_empty(), "{rest:?}");
    assert!(stderr.contains("not sent: \"not hex\""), "{stderr}");

    let mut cli = Cli::start(&[&url, "--binary", "base64"]);
    cli.send("AQIDBA==").await;
    assert_eq!(cli.line().await, "AQIDBA==");
    cli.send("AQIDBA").await;
    assert_eq!(cli.line().await, "AQIDBA==");
    cli.close_stdin();
    let (status, _, stderr) = cli.finish().await;
    assert!(status.success(), "{status}: {stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn received_binary_defaults_to_hex() {
    let (url, _seen, _server) = echo_server().await;
    let mut cli = Cli::start(&[&url, "--no-deflate"]);
    cli.send("plain").await;
    assert_eq!(cli.line().await, "plain");
    cli.send("binary:abc").await;
    assert_eq!(cli.line().await, "616263");
    cli.close_stdin();
    let (status, _, stderr) = cli.finish().await;
    assert!(status.success(), "{status}: {stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_closes() {
    let (url, _seen, _server) = echo_server().await;
    // Normal close by the server while stdin is still open: exit 0.
    let mut cli = Cli::start(&[&url]);
    cli.send("close:1000:done").await;
    let (status, _, stderr) = cli.finish().await;
    assert!(status.success(), "{status}: {stderr}");
    assert!(stderr.contains("closed: 1000 \"done\""), "{stderr}");

    // Abnormal code: non-zero.
    let mut cli = Cli::start(&[&url]);
    cli.send("close:4001:bye").await;
    let (status, _, stderr) = cli.finish().await;
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("closed: 4001 \"bye\""), "{stderr}");

    // No close frame at all: non-zero.
    let mut cli = Cli::start(&[&url]);
    cli.send("drop").await;
    let (status, _, stderr) = cli.finish().await;
    assert_eq!(status.code(), Some(1), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_errors() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let cli = Cli::start(&[&format!("ws://{addr}/")]);
    let (status, _, stderr) = cli.finish().await;
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("cannot connect"), "{stderr}");

    let cli = Cli::start(&["http//nope"]);
    let (status, _, stderr) = cli.finish().await;
    assert_eq!(status.code(), Some(2), "{stderr}");

    let cli = Cli::start(&["ws://127.0.0.1:1/", "--header", "novalue"]);
    let (status, _, stderr) = cli.finish().await;
    assert_eq!(status.code(), Some(2), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peer_that_never_closes_is_bounded() {
    // A server that completes the handshake, then never reads again: the
    // close after EOF times out and the CLI exits non-zero.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/", listener.local_addr().unwrap());
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let ws = socketeer_ws::accept(tcp).await.unwrap();
        tokio::time::sleep(Duration::from_secs(30)).await;
        drop(ws);
    });
    let mut cli = Cli::start(&[&url, "--close-timeout", "0.5"]);
    cli.close_stdin();
    let start = std::time::Instant::now();
    let (status, _, stderr) = cli.finish().await;
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(start.elapsed() < Duration::from_secs(5));
    server.abort();
}

// ---------------------------------------------------------------------------
// Against the Node `ws` server

fn node_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../interop/peers/node-ws")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_ws_server() {
    let dir = node_dir();
    assert!(
        dir.join("node_modules/ws/package.json").is_file(),
        "the npm package ws is not installed in {}: {SETUP_HINT}",
        dir.display()
    );
    let mut node = Command::new("node")
        .arg("server.mjs")
        .arg("true")
        .current_dir(&dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start node: {e}; {SETUP_HINT}"));
    let mut node_out = BufReader::new(node.stdout.take().unwrap()).lines();
    let mut node_line = async || -> Value {
        let l = step("a node line", node_out.next_line())
            .await
            .unwrap()
            .expect("node exited");
        serde_json::from_str(&l).unwrap()
    };
    let listening = node_line().await;
    assert_eq!(listening["ev"], "listening");
    let url = format!("ws://127.0.0.1:{}/echo", listening["port"]);

    // Text, with permessage-deflate negotiated.
    let mut cli = Cli::start(&[&url]);
    let conn = node_line().await;
    assert_eq!(conn["ev"], "connection");
    assert_eq!(conn["negotiated"], "permessage-deflate", "{conn}");
    cli.send("hello node").await;
    assert_eq!(cli.line().await, "hello node");
    let big = "x".repeat(200_000);
    cli.send(&big).await;
    assert!(cli.line().await == big, "200 kB line differs");
    cli.close_stdin();
    let (status, _, stderr) = cli.finish().await;
    assert!(status.success(), "{status}: {stderr}");
    assert!(stderr.contains("closed: 1000"), "{stderr}");

    // Binary both ways.
    let mut cli = Cli::start(&[&url, "--binary", "base64"]);
    cli.send("3q2+7w==").await;
    assert_eq!(cli.line().await, "3q2+7w==");
    cli.close_stdin();
    let (status, _, stderr) = cli.finish().await;
    assert!(status.success(), "{status}: {stderr}");

    // The server closes: an application code is not a normal close.
    let mut cli = Cli::start(&[&url]);
    cli.send(r#"cmd:{"op":"close","code":4000,"reason":"node says bye"}"#)
        .await;
    let (status, _, stderr) = cli.finish().await;
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("closed: 4000 \"node says bye\""),
        "{stderr}"
    );
    let mut cli = Cli::start(&[&url]);
    cli.send(r#"cmd:{"op":"close","code":1000,"reason":""}"#)
        .await;
    let (status, _, stderr) = cli.finish().await;
    assert!(status.success(), "{status}: {stderr}");
}

// ---------------------------------------------------------------------------
// wss://

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wss_with_a_custom_ca() {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let dir = std::env::temp_dir().join(format!("socketeer-cli-ws-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ca = dir.join("ca.pem");
    std::fs::write(&ca, cert.cert.pem()).unwrap();
    let key = rustls::pki_types::PrivateKeyDer::try_from(cert.signing_key.serialize_der()).unwrap();
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let server_tls = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.cert.der().clone()], key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server_tls));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("wss://localhost:{}/", listener.local_addr().unwrap().port());
    let server = tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let Ok(conn) = accept_with_config(tls, &ServerConfig::default()).await else {
                    return;
                };
                let mut ws = conn.ws;
                while let Some(Ok(m)) = ws.recv().await {
                    if m.is_data() && ws.send(m).await.is_err() {
                        break;
                    }
                }
            });
        }
    });

    let mut cli = Cli::start(&[&url, "--ca", ca.to_str().unwrap()]);
    cli.send("over TLS").await;
    assert_eq!(cli.line().await, "over TLS");
    cli.close_stdin();
    let (status, _, stderr) = cli.finish().await;
    assert!(status.success(), "{status}: {stderr}");

    // Without the CA the certificate is not trusted.
    let cli = Cli::start(&[&url]);
    let (status, _, stderr) = cli.finish().await;
    assert_eq!(status.code(), Some(2), "{stderr}");
    // A file without certificates is refused before connecting.
    std::fs::write(&ca, "nothing here").unwrap();
    let cli = Cli::start(&[&url, "--ca", ca.to_str().unwrap()]);
    let (status, _, stderr) = cli.finish().await;
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("no certificate"), "{stderr}");
    server.abort();
    let _ = std::fs::remove_dir_all(&dir);
}
