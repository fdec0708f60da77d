//! `socketeer serve` over real sockets: its HTTP routes, the chat protocol
//! spoken by raw Socket.IO clients (WebSocket frames written by hand), bad
//! input refused with an error ack on a connection that stays open, TLS,
//! and the graceful shutdown on SIGTERM. The browser side is
//! tests/browser_chat.rs.

mod serve_support;

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use serve_support::{http, Server};
use socketeer_ws::{
    connect_with_options, ConnectOptions, MaybeTlsStream, Message, WebSocketStream,
};

const WAIT: Duration = Duration::from_secs(10);

/// A Socket.IO client on a raw WebSocket: Engine.IO and Socket.IO packets
/// written and parsed by hand.
struct Client {
    ws: WebSocketStream<MaybeTlsStream>,
    next_ack: u64,
    /// Frames read while looking for something else.
    backlog: VecDeque<String>,
}

impl Client {
    async fn connect(url: &str) -> Client {
        Self::connect_with(url, &ConnectOptions::default()).await
    }

    async fn connect_with(base: &str, options: &ConnectOptions) -> Client {
        let url = format!("{base}/socket.io/?EIO=4&transport=websocket");
        let (ws, _) = connect_with_options(&url, options).await.expect("connect");
        let mut c = Client {
            ws,
            next_ack: 0,
            backlog: VecDeque::new(),
        };
        assert!(c.frame().await.starts_with("0{\"sid\""));
        c.send("40").await;
        let connected = c.frame().await;
        assert!(connected.starts_with("40{\"sid\""), "{connected}");
        c
    }

    async fn send(&mut self, text: &str) {
        self.ws.send(Message::text(text)).await.expect("send");
    }

    /// The next text frame, answering pings.
    async fn frame(&mut self) -> String {
        tokio::time::timeout(WAIT, async {
            loop {
                match self.ws.recv().await {
                    Some(Ok(Message::Text(t))) if t.as_str() == "2" => self.send("3").await,
                    Some(Ok(Message::Text(t))) => return t.as_str().to_owned(),
                    Some(Ok(_)) => {}
                    other => panic!("connection ended: {other:?}"),
                }
            }
        })
        .await
        .expect("no frame within 10 s")
    }

    /// Emits `event` with `payload` and an ack id; returns the ack's
    /// first argument.
    async fn call(&mut self, event: &str, payload: Value) -> Value {
        let id = self.next_ack;
        self.next_ack += 1;
        self.send(&format!("42{id}{}", json!([event, payload])))
            .await;
        self.ack(id).await
    }

    async fn ack(&mut self, id: u64) -> Value {
        let prefix = format!("43{id}[");
        loop {
            let f = self.frame().await;
            if let Some(rest) = f.strip_prefix(&prefix) {
                let args: Value = serde_json::from_str(&format!("[{rest}")).expect("ack JSON");
                return args[0].clone();
            }
            self.backlog.push_back(f);
        }
    }

    /// The first argument of the next `event` (earlier others are kept).
    async fn event(&mut self, event: &str) -> Value {
        if let Some(i) = self
            .backlog
            .iter()
            .position(|f| event_of(f).is_some_and(|(name, _)| name == event))
        {
            let f = self.backlog.remove(i).unwrap_or_default();
            return event_of(&f).map(|(_, v)| v).unwrap_or_default();
        }
        loop {
            let f = self.frame().await;
            match event_of(&f) {
                Some((name, v)) if name == event => return v,
                _ => self.backlog.push_back(f),
            }
        }
    }

    /// Events named `event` that arrive within `d` (and those kept).
    async fn events_within(&mut self, event: &str, d: Duration) -> Vec<Value> {
        let mut out = Vec::new();
        let mut rest = VecDeque::new();
        for f in self.backlog.drain(..) {
            match event_of(&f) {
                Some((name, v)) if name == event => out.push(v),
                _ => rest.push_back(f),
            }
        }
        self.backlog = rest;
        let _ = tokio::time::timeout(d, async {
            loop {
                let f = self.frame().await;
                match event_of(&f) {
                    Some((name, v)) if name == event => out.push(v),
                    _ => self.backlog.push_back(f),
                }
            }
        })
        .await;
        out
    }
}

/// `42["name",arg,...]` → (name, arg).
fn event_of(frame: &str) -> Option<(String, Value)> {
    let v: Value = serde_json::from_str(frame.strip_prefix("42")?).ok()?;
    Some((v[0].as_str()?.to_owned(), v[1].clone()))
}

fn ok(v: &Value) -> bool {
    v["ok"] == json!(true)
}

fn error(v: &Value) -> String {
    assert_eq!(v["ok"], json!(false), "expected a refusal, got {v}");
    v["error"].as_str().unwrap_or_default().to_owned()
}

#[test]
fn http_routes() {
    let server = Server::start(0, &[]);
    let addr = server.addr();

    let page = http(&addr, "GET", "/");
    assert_eq!(page.status, 200);
    assert!(page
        .header("content-type")
        .unwrap()
        .starts_with("text/html"));
    let csp = page.header("content-security-policy").expect("a CSP");
    assert!(csp.contains("script-src 'self'"), "{csp}");
    for id in [
        "nickname",
        "room",
        "join",
        "message",
        "send",
        "messages",
        "status",
        "transport",
    ] {
        assert!(
            page.text().contains(&format!("data-testid=\"{id}\"")),
            "no {id}"
        );
    }
    assert!(page.text().contains("/socket.io/socket.io.js"));

    let js = http(&addr, "GET", "/app.js");
    assert_eq!(js.status, 200);
    assert!(js.text().contains("textContent"));
    assert!(
        !js.text().contains("innerHTML"),
        "user data must never go through innerHTML"
    );
    assert_eq!(http(&addr, "GET", "/style.css").status, 200);

    let bundle = http(&addr, "GET", "/socket.io/socket.io.js");
    assert_eq!(bundle.status, 200);
    assert!(bundle
        .header("content-type")
        .unwrap()
        .contains("javascript"));
    assert!(bundle.body.len() > 10_000, "{} bytes", bundle.body.len());
    assert!(
        bundle.text().contains("Socket.IO"),
        "not the socket.io-client bundle"
    );

    let health = http(&addr, "GET", "/healthz");
    assert_eq!(health.status, 200);
    let h: Value = serde_json::from_slice(&health.body).expect("JSON");
    assert_eq!(h["status"], "ok");

    // The Engine.IO handshake, as a browser starts it.
    let open = http(&addr, "GET", "/socket.io/?EIO=4&transport=polling");
    assert_eq!(open.status, 200);
    let body = open.text();
    let v: Value = serde_json::from_str(body.strip_prefix('0').expect("an open packet")).unwrap();
    assert!(v["sid"].is_string());
    assert_eq!(v["upgrades"], json!(["websocket"]));

    assert_eq!(http(&addr, "GET", "/nope").status, 404);
    assert_eq!(http(&addr, "GET", "/../Cargo.toml").status, 404);
    let post = http(&addr, "POST", "/");
    assert_eq!(post.status, 405);
    assert_eq!(post.header("allow"), Some("GET, HEAD"));
    let head = http(&addr, "HEAD", "/");
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());
}

#[test]
fn missing_bundle_is_a_404_that_says_how_to_install_it() {
    let server = Server::start(0, &["--client-bundle", "/nonexistent/socket.io.min.js"]);
    let r = http(&server.addr(), "GET", "/socket.io/socket.io.js");
    assert_eq!(r.status, 404);
    assert!(r.text().contains("./scripts/serve"), "{}", r.text());
    server.wait_log("npm ci");
    // The rest works.
    assert_eq!(http(&server.addr(), "GET", "/").status, 200);
}

#[test]
fn bad_log_level_is_refused() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_socketeer"))
        .args(["serve", "--port", "0", "--log-level", "info,=[bad"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--log-level"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_clients_chat() {
    let server = Server::start(0, &[]);
    let url = format!("ws://{}", server.addr());
    let mut ada = Client::connect(&url).await;
    let mut bob = Client::connect(&url).await;

    let hello = ada.call("hello", json!({ "nickname": "  ada " })).await;
    assert!(ok(&hello), "{hello}");
    assert_eq!(hello["nickname"], "ada");
    let joined = ada.call("join", json!({ "room": "lobby" })).await;
    assert!(ok(&joined), "{joined}");
    assert_eq!(joined["members"], json!(["ada"]));
    assert_eq!(joined["history"], json!([]));

    // A message before bob joins is in the history he gets.
    let early = ada
        .call(
            "message",
            json!({ "room": "lobby", "text": "first", "id": "m-1" }),
        )
        .await;
    assert!(ok(&early), "{early}");
    assert_eq!(early["id"], "m-1");
    assert!(early["ts"].as_u64().is_some());

    assert!(ok(&bob.call("hello", json!({ "nickname": "bob" })).await));
    let joined = bob.call("join", json!({ "room": "lobby" })).await;
    assert_eq!(joined["members"], json!(["ada", "bob"]));
    assert_eq!(joined["history"][0]["text"], "first");
    assert_eq!(joined["history"][0]["nickname"], "ada");
    let notice = ada.event("notice").await;
    assert_eq!(notice, json!({ "room": "lobby", "text": "bob joined" }));

    // Room list and presence reach everyone (coalesced).
    let rooms = loop {
        let r = ada.event("rooms").await;
        if r == json!([{ "name": "lobby", "count": 2 }]) {
            break r;
        }
    };
    assert_eq!(rooms[0]["count"], 2);
    let listed = bob.call("rooms", json!({})).await;
    assert_eq!(listed["rooms"], json!([{ "name": "lobby", "count": 2 }]));
    loop {
        let p = bob.event("presence").await;
        if p.as_array().is_some_and(|a| a.len() == 2) {
            assert_eq!(p[0], json!({ "nickname": "ada", "rooms": ["lobby"] }));
            break;
        }
    }

    // A message reaches the others, with the sender's nickname.
    let ack = bob
        .call(
            "message",
            json!({ "room": "lobby", "text": "hi <b>ada</b>", "id": "b-1" }),
        )
        .await;
    assert!(ok(&ack), "{ack}");
    let m = ada.event("message").await;
    assert_eq!(m["nickname"], "bob");
    assert_eq!(m["text"], "hi <b>ada</b>", "stored and sent as typed");
    assert_eq!(
        (m["room"].as_str(), m["id"].as_str()),
        (Some("lobby"), Some("b-1"))
    );

    // The same id again (a resend after a reconnection): acknowledged,
    // not broadcast twice.
    let again = bob
        .call(
            "message",
            json!({ "room": "lobby", "text": "hi <b>ada</b>", "id": "b-1" }),
        )
        .await;
    assert!(ok(&again) && again["duplicate"] == json!(true), "{again}");
    let ack = bob
        .call(
            "message",
            json!({ "room": "lobby", "text": "next", "id": "b-2" }),
        )
        .await;
    assert!(ok(&ack));
    let got = ada
        .events_within("message", Duration::from_millis(300))
        .await;
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0]["id"], "b-2");

    // Typing indicators go to the room's others (volatile).
    bob.send(r#"42["typing",{"room":"lobby","typing":true}]"#)
        .await;
    let t = ada.event("typing").await;
    assert_eq!(
        t,
        json!({ "room": "lobby", "nickname": "bob", "typing": true })
    );

    // Leaving: a notice for the others; messages to the room are refused.
    let left = bob.call("leave", json!({ "room": "lobby" })).await;
    assert!(ok(&left), "{left}");
    assert_eq!(ada.event("notice").await["text"], "bob left");
    let refused = bob
        .call("message", json!({ "room": "lobby", "text": "x" }))
        .await;
    assert_eq!(error(&refused), "join the room first");

    // Closing a connection: a notice for the rooms it was in.
    drop(ada);
    let _ = bob.call("join", json!({ "room": "lobby" })).await;
    let mut carl = Client::connect(&url).await;
    assert!(ok(&carl.call("hello", json!({ "nickname": "carl" })).await));
    assert!(ok(&carl.call("join", json!({ "room": "lobby" })).await));
    drop(carl);
    loop {
        let n = bob.event("notice").await;
        if n["text"] == "carl went offline" {
            break;
        }
    }
    server.wait_log("connection closed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_refused_and_the_connection_stays() {
    let server = Server::start(0, &[]);
    let url = format!("ws://{}", server.addr());
    let mut c = Client::connect(&url).await;
    let mut other = Client::connect(&url).await;

    // Nicknames: 1 to 32 characters, no control characters.
    let e = error(&c.call("hello", json!({ "nickname": "n".repeat(33) })).await);
    assert!(e.contains("32"), "{e}");
    assert!(!error(&c.call("hello", json!({ "nickname": "  " })).await).is_empty());
    assert!(!error(&c.call("hello", json!({ "nickname": "a\u{1b}[31m" })).await).is_empty());
    // Wrong shapes.
    assert!(error(&c.call("hello", json!("ada")).await).starts_with("bad request"));
    assert!(error(&c.call("hello", json!({ "nickname": 7 })).await).starts_with("bad request"));
    assert!(error(&c.call("hello", json!(null)).await).starts_with("bad request"));
    c.send(r#"421["hello"]"#).await;
    assert!(error(&c.ack(1).await).starts_with("bad request"));
    // Joining needs a nickname.
    assert_eq!(
        error(&c.call("join", json!({ "room": "lobby" })).await),
        "choose a nickname first"
    );
    assert!(ok(&c
        .call("hello", json!({ "nickname": "é".repeat(32) }))
        .await));

    // Rooms: 1 to 64 characters without control characters; odd ones are
    // fine, and one named like a socket id is only a chat room.
    let e = error(&c.call("join", json!({ "room": "r".repeat(65) })).await);
    assert!(e.contains("64"), "{e}");
    assert!(!error(&c.call("join", json!({ "room": "a\u{0}b" })).await).is_empty());
    let odd = "<script>alert(1)</script> ../../etc/passwd 💬 %00";
    let j = c.call("join", json!({ "room": odd })).await;
    assert!(ok(&j), "{j}");
    assert_eq!(j["room"], odd);
    assert!(ok(&c.call("join", json!({ "room": "lobby" })).await));
    assert!(ok(&other
        .call("hello", json!({ "nickname": "other" }))
        .await));
    assert!(ok(&other.call("join", json!({ "room": "lobby" })).await));

    // Messages: 1 to 2000 characters.
    let e = error(
        &c.call(
            "message",
            json!({ "room": "lobby", "text": "x".repeat(2001) }),
        )
        .await,
    );
    assert!(e.contains("2000"), "{e}");
    let e = error(
        &c.call(
            "message",
            json!({ "room": "lobby", "text": "y".repeat(50_000) }),
        )
        .await,
    );
    assert!(e.contains("2000"), "{e}");
    assert!(!error(
        &c.call("message", json!({ "room": "lobby", "text": " \n " }))
            .await
    )
    .is_empty());
    assert!(!error(
        &c.call("message", json!({ "room": "lobby", "text": 5 }))
            .await
    )
    .is_empty());
    assert!(!error(&c.call("message", json!({ "room": "lobby" })).await).is_empty());
    assert!(!error(
        &c.call(
            "message",
            json!({ "room": "lobby", "text": "x", "id": "<no>" })
        )
        .await
    )
    .is_empty());
    assert_eq!(
        error(
            &c.call("message", json!({ "room": "elsewhere", "text": "x" }))
                .await
        ),
        "join the room first"
    );
    // Unknown events and events without an ack are ignored.
    c.send(r#"42["no-such-event",{"a":1}]"#).await;
    c.send(r#"42["message",{"room":"lobby","text":"no ack wanted"}]"#)
        .await;
    c.send(r#"42["typing","not an object"]"#).await;
    c.send(r#"42["typing",{"room":"not joined","typing":true}]"#)
        .await;

    // Exactly 2000 characters pass, and the connection is still up.
    let max = "z".repeat(2000);
    let a = c
        .call("message", json!({ "room": "lobby", "text": max }))
        .await;
    assert!(ok(&a), "{a}");
    assert_eq!(other.event("message").await["text"], "no ack wanted");
    assert_eq!(
        other.event("message").await["text"].as_str().map(str::len),
        Some(2000)
    );
    assert!(other
        .events_within("typing", Duration::from_millis(200))
        .await
        .is_empty());

    // Past the transport's limit (100 kB) the connection is closed (1009);
    // only it: the server and the other client carry on.
    let huge = format!(
        r#"42["message",{{"room":"lobby","text":"{}"}}]"#,
        "h".repeat(200_000)
    );
    c.send(&huge).await;
    let closed = tokio::time::timeout(WAIT, async {
        loop {
            match c.ws.recv().await {
                Some(Ok(Message::Close(f))) => return f.map(|f| f.code.0),
                Some(Ok(_)) => {}
                _ => return None,
            }
        }
    })
    .await
    .expect("closed within 10 s");
    assert_eq!(closed, Some(1009));
    let a = other
        .call("message", json!({ "room": "lobby", "text": "still fine" }))
        .await;
    assert!(ok(&a), "{a}");
    let health = http(&server.addr(), "GET", "/healthz");
    assert_eq!(health.status, 200);
    assert!(!server.log().contains("panicked"), "{}", server.log());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_with_a_self_signed_certificate() {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let dir = std::env::temp_dir().join(format!("socketeer-serve-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (cert_path, key_path) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert_path, cert.cert.pem()).unwrap();
    std::fs::write(&key_path, cert.signing_key.serialize_pem()).unwrap();

    let server = Server::start(
        0,
        &[
            "--tls-cert",
            cert_path.to_str().unwrap(),
            "--tls-key",
            key_path.to_str().unwrap(),
        ],
    );
    assert_eq!(server.scheme, "https");

    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.cert.der().clone()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let options = ConnectOptions {
        tls: Some(Arc::new(tls)),
        ..Default::default()
    };
    let mut c = Client::connect_with(&format!("wss://localhost:{}", server.port), &options).await;
    assert!(ok(&c.call("hello", json!({ "nickname": "tls" })).await));
    assert!(ok(&c.call("join", json!({ "room": "secure" })).await));

    // A client that does not trust the certificate is refused.
    let refused = connect_with_options(
        &format!(
            "wss://localhost:{}/socket.io/?EIO=4&transport=websocket",
            server.port
        ),
        &ConnectOptions::default(),
    )
    .await;
    assert!(refused.is_err());
    let _ = std::fs::remove_dir_all(&dir);

    // Bad files: a clear error, exit code 2.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_socketeer"))
        .args([
            "serve",
            "--port",
            "0",
            "--tls-cert",
            "/nonexistent.pem",
            "--tls-key",
            "/nonexistent.pem",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent.pem"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_closes_connections_and_exits() {
    let server = Server::start(0, &[]);
    let url = format!("ws://{}", server.addr());
    let mut c = Client::connect(&url).await;
    assert!(ok(&c.call("hello", json!({ "nickname": "ada" })).await));
    // An idle keep-alive HTTP connection must not hold the shutdown up.
    let mut idle = std::net::TcpStream::connect(server.addr()).unwrap();
    std::io::Write::write_all(&mut idle, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();

    let waiter = tokio::spawn(async move {
        tokio::time::timeout(WAIT, async {
            loop {
                match c.ws.recv().await {
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                    Some(Ok(_)) => {}
                }
            }
        })
        .await
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = std::time::Instant::now();
    let (status, log) = tokio::task::spawn_blocking(move || server.terminate())
        .await
        .unwrap();
    assert!(status.success(), "{status}\n{log}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert!(
        waiter.await.unwrap().is_ok(),
        "the WebSocket was not closed"
    );
    assert!(log.contains("SIGTERM received"), "{log}");
    assert!(log.contains(r#"reason=server shutting down"#), "{log}");
    assert!(log.contains("shut down"), "{log}");
    assert!(!log.contains("still open"), "{log}");
}

#[test]
fn ctrl_c_shuts_down_too() {
    let server = Server::start(0, &[]);
    assert_eq!(http(&server.addr(), "GET", "/healthz").status, 200);
    let (status, log) = server.signal("-INT");
    assert!(status.success(), "{status}\n{log}");
    assert!(log.contains("Ctrl-C received"), "{log}");
    assert!(log.contains("shut down"), "{log}");
}
