//! The client's cookie jar (`with_credentials`) against a scripted HTTP
//! server standing for a sticky load balancer: the handshake response sets
//! a cookie, and every later request of the session, the polling ones and
//! the WebSocket handshake of the upgrade, must carry it back.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use socketeer_engineio::client::{connect, ClientOptions, Transports};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

const HANDSHAKE: &str = r#"0{"sid":"abc","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}"#;

/// One request seen: its transport and its `Cookie` header.
#[derive(Debug, Clone)]
struct Seen {
    target: String,
    cookie: Option<String>,
}

fn respond(status: &str, extra: &str, body: &str) -> String {
    format!(
        "HTTP/1.1 {status}\r\ncontent-type: text/plain\r\ncontent-length: {}\r\n{extra}\r\n{body}",
        body.len()
    )
}

/// Serves the handshake (setting `lb=node-7`), answers polls with a noop
/// after a short wait, accepts POSTs and refuses WebSocket.
async fn server() -> (String, Arc<Mutex<Vec<Seen>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let log = log.clone();
            tokio::spawn(async move {
                let mut io = BufReader::new(tcp);
                loop {
                    let mut line = String::new();
                    if io.read_line(&mut line).await.unwrap_or(0) == 0 {
                        return;
                    }
                    let target = line.split(' ').nth(1).unwrap_or_default().to_owned();
                    let (mut cookie, mut length) = (None, 0usize);
                    loop {
                        let mut h = String::new();
                        if io.read_line(&mut h).await.unwrap_or(0) == 0 {
                            return;
                        }
                        let h = h.trim_end();
                        if h.is_empty() {
                            break;
                        }
                        let (k, v) = h.split_once(':').unwrap_or((h, ""));
                        match k.to_ascii_lowercase().as_str() {
                            "cookie" => cookie = Some(v.trim().to_owned()),
                            "content-length" => length = v.trim().parse().unwrap_or(0),
                            _ => {}
                        }
                    }
                    let mut body = vec![0; length];
                    let _ = io.read_exact(&mut body).await;
                    log.lock().unwrap().push(Seen {
                        target: target.clone(),
                        cookie,
                    });
                    let reply = if target.contains("transport=websocket") {
                        respond("400 Bad Request", "", "")
                    } else if !target.contains("sid=") {
                        respond(
                            "200 OK",
                            "set-cookie: lb=node-7; Path=/; HttpOnly\r\n",
                            HANDSHAKE,
                        )
                    } else if line.starts_with("POST") {
                        respond("200 OK", "", "ok")
                    } else {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        respond("200 OK", "", "6")
                    };
                    if io.get_mut().write_all(reply.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (url, seen)
}

async fn run(with_credentials: bool) -> Vec<Seen> {
    let (url, seen) = server().await;
    let mut options = ClientOptions::new(url);
    options.transports = Transports::Both;
    options.with_credentials = with_credentials;
    let (client, _events) = connect(options).await.unwrap();
    client.send_text("hello").unwrap();
    // The handshake, a poll or two, the POST and the refused upgrade.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let s = seen.lock().unwrap().clone();
        let posted = s.iter().any(|r| r.target.contains("transport=polling&sid"))
            && s.iter().filter(|r| r.target.contains("sid=")).count() >= 3;
        if posted && s.iter().any(|r| r.target.contains("transport=websocket")) {
            client.close();
            return s;
        }
        assert!(tokio::time::Instant::now() < deadline, "{s:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cookies_go_back_on_polling_and_the_websocket_handshake() {
    let seen = run(true).await;
    assert_eq!(seen[0].cookie, None, "{seen:?}");
    for r in &seen[1..] {
        assert_eq!(r.cookie.as_deref(), Some("lb=node-7"), "{seen:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_cookies_without_credentials() {
    let seen = run(false).await;
    assert!(seen.iter().all(|r| r.cookie.is_none()), "{seen:?}");
}
