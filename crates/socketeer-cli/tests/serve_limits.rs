//! `socketeer serve` under load's guards: the TLS certificate read again
//! on SIGHUP (new connections get the new one, open ones stay, a bad file
//! keeps the last good one), `--tls-handshake-timeout`, and the limit
//! flags (`--max-connections-per-ip`, `--max-sessions`, ...) taking effect.

mod serve_support;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::pki_types::{CertificateDer, ServerName};
use serve_support::{http, HttpResponse, Server};
use socketeer_ws::{
    connect_with_options, ConnectOptions, MaybeTlsStream, Message, WebSocketStream,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

const WAIT: Duration = Duration::from_secs(10);

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A self-signed certificate for `localhost`: (certificate PEM, key PEM,
/// certificate DER).
fn self_signed() -> (String, String, CertificateDer<'static>) {
    let c = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    (
        c.cert.pem(),
        c.signing_key.serialize_pem(),
        c.cert.der().clone(),
    )
}

/// Writes a file whole under a temporary name, then renames it into place.
fn replace(path: &Path, content: &str) {
    let tmp = path.with_extension("new");
    std::fs::write(&tmp, content).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

/// A client trusting `roots`, without TLS session resumption (so each
/// handshake shows the certificate served at that moment).
fn client_config(roots: &[CertificateDer<'static>]) -> Arc<rustls::ClientConfig> {
    let mut store = rustls::RootCertStore::empty();
    for r in roots {
        store.add(r.clone()).unwrap();
    }
    let mut config = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(store)
        .with_no_client_auth();
    config.resumption = rustls::client::Resumption::disabled();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Arc::new(config)
}

async fn connect_tls(
    port: u16,
    config: &Arc<rustls::ClientConfig>,
) -> std::io::Result<TlsStream<TcpStream>> {
    let tcp = TcpStream::connect(("127.0.0.1", port)).await?;
    let name = ServerName::try_from("localhost").unwrap();
    tokio_rustls::TlsConnector::from(config.clone())
        .connect(name, tcp)
        .await
}

/// The certificate the server presents to a new connection.
async fn served(port: u16, config: &Arc<rustls::ClientConfig>) -> CertificateDer<'static> {
    let tls = connect_tls(port, config).await.expect("TLS handshake");
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"http/1.1"[..]));
    tls.get_ref().1.peer_certificates().unwrap()[0].clone()
}

/// GET /healthz on a keep-alive TLS connection: the status line.
async fn healthz(tls: &mut TlsStream<TcpStream>) -> String {
    tls.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .unwrap();
    let mut raw = Vec::new();
    let mut buf = [0u8; 1024];
    tokio::time::timeout(WAIT, async {
        loop {
            let n = tls.read(&mut buf).await.unwrap();
            assert!(n > 0, "connection closed");
            raw.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&raw).into_owned();
            // The body is one JSON object.
            if text.contains("\r\n\r\n") && text.ends_with('}') {
                return text.lines().next().unwrap_or_default().to_owned();
            }
        }
    })
    .await
    .expect("a response within 10 s")
}

/// The next text frame of a raw Engine.IO WebSocket, answering pings.
async fn frame(ws: &mut WebSocketStream<MaybeTlsStream>) -> String {
    tokio::time::timeout(WAIT, async {
        loop {
            match ws.recv().await {
                Some(Ok(Message::Text(t))) if t.as_str() == "2" => {
                    ws.send(Message::text("3")).await.unwrap()
                }
                Some(Ok(Message::Text(t))) => return t.as_str().to_owned(),
                Some(Ok(_)) => {}
                other => panic!("connection ended: {other:?}"),
            }
        }
    })
    .await
    .expect("no frame within 10 s")
}

/// The chat's `hello` on an open Socket.IO connection: its ack.
async fn hello(ws: &mut WebSocketStream<MaybeTlsStream>, id: u32) -> String {
    let emit = format!(r#"42{id}["hello",{{"nickname":"n{id}"}}]"#);
    ws.send(Message::text(emit)).await.unwrap();
    loop {
        let f = frame(ws).await;
        if f.starts_with(&format!("43{id}")) {
            return f;
        }
    }
}

/// Sends a signal to the server.
fn kill(server: &Server, signal: &str) {
    let pid = server.child.0.id().to_string();
    let status = std::process::Command::new("kill")
        .args([signal, &pid])
        .status()
        .unwrap();
    assert!(status.success(), "kill {signal} {pid}");
}

/// `socketeer serve` with `extra`, without the browser bundle (these
/// tests do not load the page).
fn start(extra: &[&str]) -> Server {
    let mut args = extra.to_vec();
    args.extend(["--client-bundle", "/nonexistent/socket.io.min.js"]);
    Server::start(0, &args)
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "socketeer-serve-limits-{name}-{}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_the_certificate_and_stalled_handshakes_time_out() {
    let dir = scratch("sighup");
    let (cert_path, key_path) = (dir.join("cert.pem"), dir.join("key.pem"));
    let (a_pem, a_key, a_der) = self_signed();
    let (b_pem, b_key, b_der) = self_signed();
    replace(&cert_path, &a_pem);
    replace(&key_path, &a_key);
    let server = start(&[
        "--tls-cert",
        cert_path.to_str().unwrap(),
        "--tls-key",
        key_path.to_str().unwrap(),
        "--tls-handshake-timeout",
        "1.5",
    ]);
    assert_eq!(server.scheme, "https");
    let port = server.port;
    let both = client_config(&[a_der.clone(), b_der.clone()]);
    assert_eq!(served(port, &both).await, a_der);

    // Open before the reload: a keep-alive HTTPS connection and a
    // Socket.IO connection over wss://.
    let mut https = connect_tls(port, &both).await.unwrap();
    assert_eq!(healthz(&mut https).await, "HTTP/1.1 200 OK");
    let options = ConnectOptions {
        tls: Some(both.clone()),
        ..Default::default()
    };
    let url = format!("wss://localhost:{port}/socket.io/?EIO=4&transport=websocket");
    let (mut ws, _) = connect_with_options(&url, &options).await.expect("wss");
    assert!(frame(&mut ws).await.starts_with("0{\"sid\""));
    ws.send(Message::text("40")).await.unwrap();
    assert!(frame(&mut ws).await.starts_with("40{\"sid\""));
    assert!(hello(&mut ws, 1).await.contains("\"ok\":true"));

    replace(&cert_path, &b_pem);
    replace(&key_path, &b_key);
    kill(&server, "-HUP");
    server.wait_log("TLS certificate reloaded");
    assert_eq!(served(port, &both).await, b_der);
    // A client that trusts A alone is refused now.
    assert!(
        connect_tls(port, &client_config(std::slice::from_ref(&a_der)))
            .await
            .is_err()
    );
    // The connections opened before are still served.
    assert_eq!(healthz(&mut https).await, "HTTP/1.1 200 OK");
    assert!(hello(&mut ws, 2).await.contains("\"ok\":true"));

    // A certificate file cut short: logged, and B is still served.
    replace(&cert_path, &a_pem[..a_pem.len() / 2]);
    kill(&server, "-HUP");
    server.wait_log("TLS certificate not reloaded");
    assert!(server.log().contains(cert_path.to_str().unwrap()));
    assert_eq!(served(port, &both).await, b_der);
    assert!(hello(&mut ws, 3).await.contains("\"ok\":true"));

    // A client that connects and sends nothing, or half a hello, is
    // disconnected after --tls-handshake-timeout (1.5 s).
    let started = Instant::now();
    let mut silent = std::net::TcpStream::connect(server.addr()).unwrap();
    let mut partial = std::net::TcpStream::connect(server.addr()).unwrap();
    partial
        .write_all(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01])
        .unwrap();
    for tcp in [&mut silent, &mut partial] {
        tcp.set_read_timeout(Some(WAIT)).unwrap();
        let mut buf = [0u8; 64];
        loop {
            match tcp.read(&mut buf) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
                Err(e) => panic!("not closed: {e}"),
            }
        }
    }
    let closed_in = started.elapsed();
    assert!(
        closed_in >= Duration::from_millis(1400) && closed_in < Duration::from_secs(8),
        "closed after {closed_in:?}"
    );
    // The server is still up and serving.
    assert_eq!(healthz(&mut https).await, "HTTP/1.1 200 OK");
    assert!(!server.log().contains("panicked"), "{}", server.log());
    let _ = std::fs::remove_dir_all(&dir);
}

/// Retries `request` until `done` says so (the server may not have
/// counted a connection yet, or not have let one go).
fn until(
    mut request: impl FnMut() -> HttpResponse,
    done: impl Fn(&HttpResponse) -> bool,
) -> HttpResponse {
    let deadline = Instant::now() + WAIT;
    loop {
        let r = request();
        if done(&r) {
            return r;
        }
        assert!(Instant::now() < deadline, "still {r:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn max_connections_per_ip_flag() {
    let server = start(&["--max-connections-per-ip", "1"]);
    let addr = server.addr();
    assert_eq!(http(&addr, "GET", "/healthz").status, 200);
    // One idle connection uses up 127.0.0.1's share.
    let idle = std::net::TcpStream::connect(&addr).unwrap();
    let refused = until(|| http(&addr, "GET", "/healthz"), |r| r.status != 200);
    assert_eq!(refused.status, 503);
    assert_eq!(
        refused.text(),
        r#"{"code":4,"message":"Too many connections from this address"}"#
    );
    drop(idle);
    until(|| http(&addr, "GET", "/healthz"), |r| r.status == 200);
}

#[test]
fn max_sessions_and_max_payload_flags() {
    let server = start(&["--max-sessions", "1", "--max-payload", "1000"]);
    let addr = server.addr();
    let handshake = "/socket.io/?EIO=4&transport=polling";
    let first = http(&addr, "GET", handshake);
    assert_eq!(first.status, 200, "{first:?}");
    let sid = first
        .text()
        .split("\"sid\":\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("a sid")
        .to_owned();
    let second = http(&addr, "GET", handshake);
    assert_eq!(second.status, 503, "{second:?}");
    assert_eq!(second.text(), r#"{"code":4,"message":"Too many sessions"}"#);

    // A polling body over --max-payload is refused (413) and ends the
    // session; one under it is taken.
    let post = |body: &str| {
        let mut tcp = std::net::TcpStream::connect(&addr).unwrap();
        tcp.set_read_timeout(Some(WAIT)).unwrap();
        write!(
            tcp,
            "POST {handshake}&sid={sid} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\
             Content-Type: text/plain\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut raw = String::new();
        let _ = tcp.read_to_string(&mut raw);
        raw
    };
    let small = post("40");
    assert!(small.starts_with("HTTP/1.1 200"), "{small}");
    let big = post(&format!("4{}", "x".repeat(2000)));
    assert!(big.starts_with("HTTP/1.1 413"), "{big}");
}

#[test]
fn limit_flags_are_documented_and_checked() {
    let bin = env!("CARGO_BIN_EXE_socketeer");
    let help = std::process::Command::new(bin)
        .args(["serve", "--help"])
        .output()
        .unwrap();
    assert!(help.status.success());
    let help = String::from_utf8_lossy(&help.stdout);
    for flag in [
        "--max-connections <N>",
        "--max-connections-per-ip <N>",
        "--max-sessions <N>",
        "--max-sessions-per-ip <N>",
        "--max-queued-bytes <BYTES>",
        "--max-payload <BYTES>",
        "--handshake-timeout <SECS>",
        "--tls-handshake-timeout <SECS>",
        "SIGHUP",
    ] {
        assert!(help.contains(flag), "{flag} missing from:\n{help}");
    }
    for (bad, flag) in [
        ("--max-connections=0", "--max-connections"),
        ("--max-payload=lots", "--max-payload"),
        ("--tls-handshake-timeout=-1", "--tls-handshake-timeout"),
        ("--handshake-timeout=0", "--handshake-timeout"),
    ] {
        let out = std::process::Command::new(bin)
            .args(["serve", "--port", "0", bad])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{bad}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("invalid value") && err.contains(flag),
            "{bad}: {err}"
        );
    }
}
