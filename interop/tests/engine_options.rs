//! Interop tests of the Engine.IO options Node users set, with the official
//! `socket.io-client` (Node) against our Socket.IO server started
//! in-process on 127.0.0.1: polling responses compressed with gzip
//! (`http_compression`, on by default) and decoded by the client, and the
//! `io` session cookie (`cookie`) set on the handshake, kept by the client
//! and sent back.
//!
//! The client program is
//! `interop/peers/node-socketio-client/engine_options.mjs`, run with each
//! of engine.io-client's Node polling transports: `xhr` (the default; it
//! cannot send `Accept-Encoding`, so it must get plain bodies) and `fetch`
//! (Node's fetch, which accepts gzip). The server's `headers` hook records,
//! for every polling response, what the request accepted and sent (its
//! cookie) and how the response was encoded.
//!
//! Needs `node` on `PATH` with the npm packages of
//! `interop/peers/node-socketio-client`: `scripts/setup-test-deps` installs
//! them. A missing peer fails the test; it is never skipped.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http::header::{ACCEPT_ENCODING, CONTENT_ENCODING, COOKIE, SET_COOKIE};
use serde_json::Value;
use socketeer::server::{Data, Socket, SocketIo, SocketIoConfig};
use socketeer::Value as IoValue;
use socketeer_engineio::server::{CookieOptions, EngineIoConfig};
use tokio::net::TcpListener;

const SETUP_HINT: &str = "run scripts/setup-test-deps to install the interop peers";
/// Bound on one client run.
const RUN_TIMEOUT: Duration = Duration::from_secs(30);

/// One polling response, as the server's `headers` hook saw it.
#[derive(Debug, Clone)]
struct Seen {
    /// The request's `sid` (none on the handshake).
    sid: Option<String>,
    accept_encoding: Option<String>,
    cookie: Option<String>,
    content_encoding: Option<String>,
    /// The response's `Set-Cookie`.
    set_cookie: Option<String>,
}

fn peer_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("peers/node-socketio-client")
}

/// The text the server sends back for a `big` of `length` (as the peer's
/// `expected`).
fn big_text(length: usize) -> String {
    (0..length)
        .map(|i| char::from(b'0' + (i % 10) as u8))
        .collect()
}

/// Serves Socket.IO with the `io` cookie, recording every response; runs
/// the peer in `mode`; returns its JSON lines and what the server saw.
async fn run(mode: &str) -> (Vec<Value>, Vec<Seen>) {
    let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
    let record = seen.clone();
    let config = SocketIoConfig {
        engine: EngineIoConfig {
            path: "/socket.io/".into(),
            cookie: Some(CookieOptions::default()),
            headers: Some(Arc::new(move |req, headers| {
                let text = |v: Option<&http::HeaderValue>| {
                    v.and_then(|v| v.to_str().ok()).map(str::to_owned)
                };
                record.lock().unwrap().push(Seen {
                    sid: req.query().get("sid").map(str::to_owned),
                    accept_encoding: text(req.headers.get(ACCEPT_ENCODING)),
                    cookie: text(req.headers.get(COOKIE)),
                    content_encoding: text(headers.get(CONTENT_ENCODING)),
                    set_cookie: text(headers.get(SET_COOKIE)),
                });
            })),
            ..SocketIoConfig::default().engine
        },
        ..Default::default()
    };
    let io = SocketIo::new(config);
    io.on_connection(|socket: Socket| {
        socket.on("big", |socket: Socket, Data(length): Data<usize>| {
            let _ = socket.emit("big-back", vec![IoValue::from(big_text(length))]);
        });
    });
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("address"));
    let server = tokio::spawn(io.clone().serve(listener));

    let dir = peer_dir();
    assert!(
        dir.join("node_modules/socket.io-client/package.json")
            .is_file(),
        "socket.io-client is not installed in {}: {SETUP_HINT}",
        dir.display()
    );
    let child = tokio::process::Command::new("node")
        .current_dir(&dir)
        .args(["engine_options.mjs", &url, mode])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run node: {e}; {SETUP_HINT}"));
    let out = tokio::time::timeout(RUN_TIMEOUT, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("engine_options.mjs {mode} did not finish in {RUN_TIMEOUT:?}"))
        .expect("the peer's output");
    server.abort();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "engine_options.mjs {mode}: {}\n{stdout}\n{stderr}",
        out.status
    );
    let lines = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let seen = seen.lock().unwrap().clone();
    (lines, seen)
}

/// The client's engine id, after checking it got both large messages
/// intact and finished.
fn check_client(mode: &str, lines: &[Value]) -> String {
    fn find<'a>(lines: &'a [Value], ev: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
        lines.iter().filter(move |l| l["ev"] == ev)
    }
    let connect = find(lines, "connect")
        .next()
        .unwrap_or_else(|| panic!("{mode}: no connect: {lines:?}"));
    assert_eq!(connect["transport"], "polling", "{mode}");
    let bigs: Vec<_> = find(lines, "big").collect();
    assert_eq!(bigs.len(), 2, "{mode}: {lines:?}");
    for (b, length) in bigs.iter().zip([5000, 200_000]) {
        assert_eq!(b["length"], length, "{mode}: {b}");
        assert_eq!(b["intact"], true, "{mode}: {b}");
    }
    assert!(find(lines, "done").next().is_some(), "{mode}: {lines:?}");
    connect["engine_id"].as_str().expect("engine id").to_owned()
}

/// The handshake set `io=<sid>`, no other response set a cookie, and every
/// request of the session after the handshake carried it back.
fn check_cookie(mode: &str, sid: &str, seen: &[Seen]) {
    let handshakes: Vec<_> = seen.iter().filter(|s| s.sid.is_none()).collect();
    assert_eq!(handshakes.len(), 1, "{mode}: {seen:?}");
    assert_eq!(
        handshakes[0].set_cookie.as_deref(),
        Some(format!("io={sid}; Path=/; HttpOnly; SameSite=Lax").as_str()),
        "{mode}"
    );
    assert!(
        seen.iter().filter(|s| s.set_cookie.is_some()).count() == 1,
        "{mode}: {seen:?}"
    );
    let session: Vec<_> = seen
        .iter()
        .filter(|s| s.sid.as_deref() == Some(sid))
        .collect();
    assert!(session.len() >= 3, "{mode}: {seen:?}");
    for s in session {
        let cookie = s.cookie.as_deref().unwrap_or("");
        assert!(
            cookie.split(';').any(|c| c.trim() == format!("io={sid}")),
            "{mode}: a request without the session cookie: {s:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetch_client_decodes_gzip_polling_and_keeps_the_cookie() {
    let (lines, seen) = run("fetch").await;
    let sid = check_client("fetch", &lines);
    check_cookie("fetch", &sid, &seen);
    let gzipped: Vec<_> = seen
        .iter()
        .filter(|s| s.content_encoding.as_deref() == Some("gzip"))
        .collect();
    // At least the polls carrying the two large messages.
    assert!(gzipped.len() >= 2, "no gzip responses: {seen:?}");
    for s in gzipped {
        let accepted = s.accept_encoding.as_deref().unwrap_or("");
        assert!(accepted.contains("gzip"), "{s:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xhr_client_gets_plain_polling_and_keeps_the_cookie() {
    let (lines, seen) = run("xhr").await;
    let sid = check_client("xhr", &lines);
    check_cookie("xhr", &sid, &seen);
    for s in &seen {
        assert_eq!(s.accept_encoding, None, "{s:?}");
        assert_eq!(s.content_encoding, None, "{s:?}");
    }
}
