//! `socketeer serve`'s `/metrics`: the Prometheus text of the library's
//! counters, checked after a polling handshake and a Socket.IO client on
//! a WebSocket (written by hand) that sends a few events and leaves; and
//! `--no-metrics`.

mod serve_support;

use std::time::{Duration, Instant};

use serve_support::{http, Server};
use socketeer_ws::{MaybeTlsStream, Message, WebSocketStream};

const WAIT: Duration = Duration::from_secs(10);
/// These tests need no socket.io-client bundle.
const NO_BUNDLE: [&str; 2] = ["--client-bundle", "/nonexistent/socket.io.min.js"];

/// The value of the sample `series` (a name with its labels, as the
/// exporter writes them) in the Prometheus text `body`.
fn sample(body: &str, series: &str) -> Option<f64> {
    body.lines().filter(|l| !l.starts_with('#')).find_map(|l| {
        l.strip_prefix(series)?
            .strip_prefix(' ')?
            .trim()
            .parse()
            .ok()
    })
}

fn scrape(addr: &str) -> String {
    let r = http(addr, "GET", "/metrics");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    r.text()
}

/// The next text frame.
async fn frame(ws: &mut WebSocketStream<MaybeTlsStream>) -> String {
    tokio::time::timeout(WAIT, async {
        loop {
            match ws.recv().await {
                Some(Ok(Message::Text(t))) => return t.as_str().to_owned(),
                Some(Ok(_)) => {}
                other => panic!("connection ended: {other:?}"),
            }
        }
    })
    .await
    .expect("no frame within 10 s")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_what_a_client_did() {
    let server = Server::start(0, &NO_BUNDLE);
    let addr = server.addr();
    let before = scrape(&addr);
    assert_eq!(
        sample(
            &before,
            "socketeer_engineio_connections_total{transport=\"websocket\"}"
        ),
        None,
        "{before}"
    );

    // A polling session, upgraded to WebSocket.
    let polling = http(&addr, "GET", "/socket.io/?EIO=4&transport=polling");
    assert_eq!(polling.status, 200);
    let open: serde_json::Value =
        serde_json::from_str(polling.text().strip_prefix('0').expect("OPEN")).expect("JSON");
    let sid = open["sid"].as_str().expect("sid");
    let url = format!("ws://{addr}/socket.io/?EIO=4&transport=websocket&sid={sid}");
    let (mut upgraded, _) = socketeer_ws::connect(&url).await.expect("connect");
    upgraded.send(Message::text("2probe")).await.expect("send");
    assert_eq!(frame(&mut upgraded).await, "3probe");
    upgraded.send(Message::text("5")).await.expect("send");

    let url = format!("ws://{addr}/socket.io/?EIO=4&transport=websocket");
    let (mut ws, _) = socketeer_ws::connect(&url).await.expect("connect");
    assert!(frame(&mut ws).await.starts_with("0{"));
    let mut sent = Vec::new();
    let mut send = |text: String| {
        sent.push(text.len());
        Message::text(text)
    };
    ws.send(send("40".into())).await.expect("send");
    while !frame(&mut ws).await.starts_with("40{") {}
    for id in 0..3 {
        ws.send(send(format!("42{id}[\"rooms\"]")))
            .await
            .expect("send");
        let prefix = format!("43{id}[");
        while !frame(&mut ws).await.starts_with(&prefix) {}
    }
    ws.close(None).await.expect("close");

    // The session's counts reach the recorder when it closes: the Engine.IO
    // close, then the Socket.IO socket's disconnect (a moment later).
    let deadline = Instant::now() + WAIT;
    let closed = "socketeer_engineio_disconnects_total{reason=\"transport_close\"}";
    let socket_closed = "socketeer_disconnects_total{reason=\"transport_close\"}";
    let body = loop {
        let body = scrape(&addr);
        let upgrades = "socketeer_engineio_upgrades_total";
        if sample(&body, closed).is_some()
            && sample(&body, socket_closed).is_some()
            && sample(&body, upgrades).is_some()
        {
            break body;
        }
        assert!(Instant::now() < deadline, "no disconnect counted:\n{body}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let value =
        |series: &str| sample(&body, series).unwrap_or_else(|| panic!("no {series}:\n{body}"));
    assert_eq!(value(closed), 1.0);
    assert_eq!(
        value("socketeer_engineio_connections_total{transport=\"websocket\"}"),
        1.0
    );
    assert_eq!(
        value("socketeer_engineio_connections_total{transport=\"polling\"}"),
        1.0
    );
    assert_eq!(value("socketeer_engineio_upgrades_total"), 1.0);
    // The upgraded session is still open.
    assert_eq!(value("socketeer_engineio_sessions"), 1.0);
    // CONNECT and three events; their bytes.
    assert_eq!(value("socketeer_engineio_messages_received_total"), 4.0);
    let bytes: usize = sent.iter().sum();
    assert_eq!(
        value("socketeer_engineio_received_bytes_total"),
        bytes as f64
    );
    // The CONNECT reply, the chat's two greeting events, three acks.
    assert!(value("socketeer_engineio_messages_sent_total") >= 6.0);
    assert!(value("socketeer_engineio_sent_bytes_total") > 0.0);
    assert_eq!(value("socketeer_connects_total"), 1.0);
    assert_eq!(value("socketeer_events_received_total"), 3.0);
    assert_eq!(value("socketeer_acks_sent_total"), 3.0);
    assert!(value("socketeer_events_sent_total") >= 2.0);
    assert_eq!(
        value("socketeer_disconnects_total{reason=\"transport_close\"}"),
        1.0
    );
    assert!(body.contains("# HELP socketeer_engineio_connections_total"));
}

#[test]
fn no_metrics_turns_the_route_off() {
    let server = Server::start(0, &["--no-metrics", NO_BUNDLE[0], NO_BUNDLE[1]]);
    let r = http(&server.addr(), "GET", "/metrics");
    assert_eq!(r.status, 404);
    assert_eq!(http(&server.addr(), "GET", "/healthz").status, 200);
}
