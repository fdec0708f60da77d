//! Integration tests of the Engine.IO v4 server over real sockets on
//! 127.0.0.1: an [`EngineIo`] served by [`EngineIo::serve`] with an echo
//! handler that reports every connect, message and disconnect, driven by
//! raw HTTP requests (hyper's client, one connection per request) and by
//! `socketeer_ws` WebSockets.
//!
//! Most tests use short heartbeats (300 ms / 200 ms), so clients that must
//! outlive a heartbeat answer pings from a background task ([`Poller`],
//! [`WsClient`]) as a real client does. Tests that step a session by hand
//! (overlapping polls, the upgrade) use a long heartbeat so that no ping
//! slips in between their steps.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::HeaderMap;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use socketeer_engineio::server::{
    AllowOrigin, CloseReason, Cors, EngineHandler, EngineIo, EngineIoConfig, SendError, Socket,
    TransportKind,
};
use socketeer_engineio::{payload, Limits, Packet, Payload, Utf8Bytes};
use socketeer_ws::CloseFrame;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// Longest wait for any one thing the server or a client should do.
const STEP: Duration = Duration::from_secs(3);
/// Bound on a whole test.
const TEST: Duration = Duration::from_secs(9);

async fn within<T>(test: impl Future<Output = T>) -> T {
    tokio::time::timeout(TEST, test)
        .await
        .unwrap_or_else(|_| panic!("test did not finish within {TEST:?}"))
}

async fn step<T>(what: &str, f: impl Future<Output = T>) -> T {
    tokio::time::timeout(STEP, f)
        .await
        .unwrap_or_else(|_| panic!("timed out after {STEP:?}: {what}"))
}

// ---------------------------------------------------------------------------
// The server under test

/// What the handler saw.
#[derive(Debug)]
enum Event {
    Connect(Socket),
    Message(String, Payload),
    Disconnect {
        sid: String,
        reason: CloseReason,
        /// What `send` answered inside `on_disconnect`.
        late_send: Result<(), SendError>,
        closed_flag: bool,
    },
}

/// Echoes every message and reports everything through a channel.
struct Recorder(mpsc::UnboundedSender<Event>);

impl EngineHandler for Recorder {
    fn on_connect(&self, socket: &Socket) {
        let _ = self.0.send(Event::Connect(socket.clone()));
    }

    fn on_message(&self, socket: &Socket, message: Payload) {
        let _ = self
            .0
            .send(Event::Message(socket.id().to_owned(), message.clone()));
        let _ = socket.send(message);
    }

    fn on_disconnect(&self, socket: &Socket, reason: CloseReason) {
        let _ = self.0.send(Event::Disconnect {
            sid: socket.id().to_owned(),
            reason,
            late_send: socket.send_text("too late"),
            closed_flag: socket.is_closed(),
        });
    }
}

/// Short heartbeats: a ping 300 ms after the last pong, 200 ms to answer.
fn fast() -> EngineIoConfig {
    EngineIoConfig {
        ping_interval: Duration::from_millis(300),
        ping_timeout: Duration::from_millis(200),
        ..Default::default()
    }
}

/// No ping within any test's lifetime, for tests that step a session by
/// hand.
fn calm() -> EngineIoConfig {
    EngineIoConfig {
        ping_interval: Duration::from_secs(30),
        ping_timeout: Duration::from_secs(30),
        ..Default::default()
    }
}

struct TestServer {
    addr: SocketAddr,
    engine: EngineIo,
    events: mpsc::UnboundedReceiver<Event>,
    /// Events received but not yet asked for.
    backlog: Vec<Event>,
    serve: JoinHandle<std::io::Result<()>>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.serve.abort();
    }
}

impl TestServer {
    async fn start(config: EngineIoConfig) -> TestServer {
        let (tx, events) = mpsc::unbounded_channel();
        let engine = EngineIo::new(config, Arc::new(Recorder(tx)));
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("local addr");
        let serve = tokio::spawn(engine.clone().serve(listener));
        TestServer {
            addr,
            engine,
            events,
            backlog: Vec::new(),
            serve,
        }
    }

    /// The first event (received or yet to come) that `pick` accepts.
    async fn event<T>(&mut self, what: &str, mut pick: impl FnMut(&Event) -> Option<T>) -> T {
        if let Some(i) = self.backlog.iter().position(|e| pick(e).is_some()) {
            let e = self.backlog.remove(i);
            return pick(&e).expect("picked");
        }
        let deadline = Instant::now() + STEP;
        loop {
            let e = tokio::time::timeout_at(deadline.into(), self.events.recv())
                .await
                .unwrap_or_else(|_| {
                    panic!(
                        "timed out after {STEP:?} waiting for {what}; other events: {:?}",
                        self.backlog
                    )
                })
                .expect("the handler is alive while the server is");
            if let Some(t) = pick(&e) {
                return t;
            }
            self.backlog.push(e);
        }
    }

    async fn connected(&mut self, sid: &str) -> Socket {
        self.event(&format!("connect of {sid}"), |e| match e {
            Event::Connect(s) if s.id() == sid => Some(s.clone()),
            _ => None,
        })
        .await
    }

    async fn received(&mut self, sid: &str) -> Payload {
        self.event(&format!("a message from {sid}"), |e| match e {
            Event::Message(s, m) if s == sid => Some(m.clone()),
            _ => None,
        })
        .await
    }

    /// Waits for the session's disconnect and checks the socket no longer
    /// sends.
    async fn disconnected(&mut self, sid: &str) -> CloseReason {
        let (reason, late_send, closed_flag) = self
            .event(&format!("disconnect of {sid}"), |e| match e {
                Event::Disconnect {
                    sid: s,
                    reason,
                    late_send,
                    closed_flag,
                } if s == sid => Some((*reason, *late_send, *closed_flag)),
                _ => None,
            })
            .await;
        assert_eq!(
            late_send,
            Err(SendError::Closed),
            "send in on_disconnect of {sid}"
        );
        assert!(closed_flag, "is_closed() in on_disconnect of {sid}");
        reason
    }

    /// Fails if the session has disconnected (as far as events received
    /// so far tell).
    fn assert_alive(&mut self, sid: &str) {
        while let Ok(e) = self.events.try_recv() {
            self.backlog.push(e);
        }
        let gone = self
            .backlog
            .iter()
            .any(|e| matches!(e, Event::Disconnect { sid: s, .. } if s == sid));
        assert!(!gone, "session {sid} closed: {:?}", self.backlog);
    }

    fn polling(&self, sid: &str) -> String {
        format!("/engine.io/?EIO=4&transport=polling&sid={sid}")
    }

    /// A polling handshake: the session id and the open packet's JSON.
    async fn handshake(&self) -> (String, Value) {
        let r = get(self.addr, "/engine.io/?EIO=4&transport=polling").await;
        assert_eq!(r.status, StatusCode::OK, "handshake: {r:?}");
        let body = r.text();
        let json = body
            .strip_prefix('0')
            .unwrap_or_else(|| panic!("the handshake is not an open packet: {body:?}"));
        let open: Value = serde_json::from_str(json).expect("open packet JSON");
        let sid = open["sid"].as_str().expect("sid").to_owned();
        (sid, open)
    }

    async fn poll(&self, sid: &str) -> Resp {
        get(self.addr, &self.polling(sid)).await
    }

    async fn post(&self, sid: &str, body: impl Into<Bytes>) -> Resp {
        post(self.addr, &self.polling(sid), body).await
    }

    /// POSTs a payload and checks it was accepted.
    async fn post_ok(&self, sid: &str, body: impl Into<Bytes>) {
        let r = self.post(sid, body).await;
        assert_eq!(r.status, StatusCode::OK, "POST: {r:?}");
        assert_eq!(r.text(), "ok");
    }

    fn poller(&self, sid: &str) -> Poller {
        Poller::start(self.addr, sid)
    }

    async fn websocket(&self) -> (WsClient, socketeer_engineio::OpenPacket) {
        let mut ws = WsClient::connect(self.addr, "").await;
        match ws.next().await {
            WsEvent::Packet(Packet::Open(open)) => (ws, open),
            other => panic!("expected an open packet, got {other:?}"),
        }
    }
}

// ---------------------------------------------------------------------------
// HTTP

struct Resp {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl std::fmt::Debug for Resp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let body = String::from_utf8_lossy(&self.body);
        let body: String = body.chars().take(200).collect();
        write!(f, "{} {:?} {body:?}", self.status, self.headers)
    }
}

impl Resp {
    fn text(&self) -> &str {
        std::str::from_utf8(&self.body).expect("a UTF-8 body")
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().expect("ASCII"))
    }

    /// The packets of a 200 polling response.
    fn packets(&self) -> Vec<Packet> {
        assert_eq!(self.status, StatusCode::OK, "poll: {self:?}");
        assert_eq!(
            self.header("content-type"),
            Some("text/plain; charset=UTF-8")
        );
        payload::decode(self.body.clone(), &Limits::UNLIMITED)
            .unwrap_or_else(|e| panic!("invalid payload {self:?}: {e}"))
    }

    /// One of the official error responses.
    fn assert_error(&self, status: StatusCode, code: u8, message: &str) {
        assert_eq!(self.status, status, "{self:?}");
        assert_eq!(self.header("content-type"), Some("application/json"));
        let v: Value = serde_json::from_slice(&self.body).expect("a JSON error body");
        assert_eq!(v, json!({ "code": code, "message": message }));
    }
}

async fn request(
    addr: SocketAddr,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
    body: Bytes,
) -> Resp {
    let what = format!("{method} {path}");
    step(&what, async {
        let tcp = TcpStream::connect(addr).await.expect("connect");
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
            .await
            .expect("HTTP handshake");
        let mut req = Request::builder()
            .method(method.clone())
            .uri(path)
            .header("host", addr.to_string());
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let req = req.body(Full::new(body)).expect("request");
        let exchange = async {
            let resp = sender
                .send_request(req)
                .await
                .unwrap_or_else(|e| panic!("{what}: {e}"));
            let (parts, body) = resp.into_parts();
            let body = body.collect().await.expect("response body").to_bytes();
            Resp {
                status: parts.status,
                headers: parts.headers,
                body,
            }
        };
        // The connection lives inside this future: a request given up on
        // (a dropped poller) closes its connection, as a real client's
        // would.
        tokio::pin!(exchange);
        tokio::select! {
            r = &mut exchange => r,
            _ = conn => exchange.await,
        }
    })
    .await
}

async fn get(addr: SocketAddr, path: &str) -> Resp {
    request(addr, Method::GET, path, &[], Bytes::new()).await
}

async fn post(addr: SocketAddr, path: &str, body: impl Into<Bytes>) -> Resp {
    let headers = [("content-type", "text/plain;charset=UTF-8")];
    request(addr, Method::POST, path, &headers, body.into()).await
}

fn text(s: &str) -> Payload {
    Payload::Text(Utf8Bytes::from(s.to_owned()))
}

fn binary(b: &[u8]) -> Payload {
    Payload::Binary(Bytes::copy_from_slice(b))
}

/// The packets that are not heartbeats.
fn without_pings(packets: Vec<Packet>) -> Vec<Packet> {
    packets
        .into_iter()
        .filter(|p| !matches!(p, Packet::Ping(None)))
        .collect()
}

// ---------------------------------------------------------------------------
// A long-polling client that keeps a GET outstanding and answers pings

#[derive(Debug)]
enum Polled {
    Packet(Packet),
    /// A GET that did not answer 200; the poller stops.
    Refused(Resp),
}

struct Poller {
    rx: mpsc::UnboundedReceiver<Polled>,
    task: JoinHandle<()>,
}

impl Drop for Poller {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Poller {
    fn start(addr: SocketAddr, sid: &str) -> Poller {
        let path = format!("/engine.io/?EIO=4&transport=polling&sid={sid}");
        let (tx, rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
            loop {
                let r = get(addr, &path).await;
                if r.status != StatusCode::OK {
                    let _ = tx.send(Polled::Refused(r));
                    return;
                }
                let mut closed = false;
                for p in r.packets() {
                    if p == Packet::Ping(None) {
                        let _ = post(addr, &path, "3").await;
                    }
                    closed |= p == Packet::Close;
                    let _ = tx.send(Polled::Packet(p));
                }
                if closed {
                    return;
                }
            }
        });
        Poller { rx, task }
    }

    async fn next(&mut self) -> Polled {
        step("the next polled packet", self.rx.recv())
            .await
            .expect("the poller stopped")
    }

    /// The next packet that is neither a ping nor a noop.
    async fn packet(&mut self) -> Packet {
        loop {
            match self.next().await {
                Polled::Packet(Packet::Ping(None) | Packet::Noop) => {}
                Polled::Packet(p) => return p,
                Polled::Refused(r) => panic!("poll refused: {r:?}"),
            }
        }
    }

    async fn message(&mut self) -> Payload {
        match self.packet().await {
            Packet::Message(m) => m,
            other => panic!("expected a message, got {other:?}"),
        }
    }
}

// ---------------------------------------------------------------------------
// A WebSocket client that reads in the background and answers pings

#[derive(Debug)]
enum WsEvent {
    Packet(Packet),
    /// A close frame arrived.
    Closed(Option<CloseFrame>),
    /// The connection ended (after a close frame or not).
    Ended,
    Error(String),
}

enum WsCmd {
    Send(socketeer_ws::Message),
    /// Several messages in one write.
    SendBatch(Vec<socketeer_ws::Message>),
    Close,
    /// Drop the TCP connection without a close frame.
    Abort,
}

struct WsClient {
    out: mpsc::UnboundedSender<WsCmd>,
    rx: mpsc::UnboundedReceiver<WsEvent>,
    auto_pong: Arc<AtomicBool>,
    task: JoinHandle<()>,
}

impl Drop for WsClient {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl WsClient {
    /// Opens `/engine.io/?EIO=4&transport=websocket` plus `extra`.
    async fn connect(addr: SocketAddr, extra: &str) -> WsClient {
        let url = format!("ws://{addr}/engine.io/?EIO=4&transport=websocket{extra}");
        let (mut ws, _) = step("websocket handshake", socketeer_ws::connect(&url))
            .await
            .unwrap_or_else(|e| panic!("connect {url}: {e}"));
        let auto_pong = Arc::new(AtomicBool::new(true));
        let pong = auto_pong.clone();
        let (tx, rx) = mpsc::unbounded_channel();
        let (out, mut out_rx) = mpsc::unbounded_channel();
        let limits = Limits::UNLIMITED;
        let task = tokio::spawn(async move {
            loop {
                tokio::select! {
                    m = ws.recv() => match m {
                        Some(Ok(socketeer_ws::Message::Text(t))) => {
                            let p = Packet::decode(Payload::Text(t), &limits).expect("a packet");
                            if p == Packet::Ping(None) && pong.load(Ordering::SeqCst) {
                                let _ = ws.send(socketeer_ws::Message::text("3")).await;
                            }
                            let _ = tx.send(WsEvent::Packet(p));
                        }
                        Some(Ok(socketeer_ws::Message::Binary(b))) => {
                            let _ = tx.send(WsEvent::Packet(Packet::binary(b)));
                        }
                        Some(Ok(socketeer_ws::Message::Close(f))) => {
                            let _ = tx.send(WsEvent::Closed(f));
                        }
                        Some(Ok(_)) => {}
                        Some(Err(e)) => {
                            let _ = tx.send(WsEvent::Error(e.to_string()));
                            return;
                        }
                        None => {
                            let _ = tx.send(WsEvent::Ended);
                            return;
                        }
                    },
                    c = out_rx.recv() => match c {
                        Some(WsCmd::Send(m)) => {
                            if let Err(e) = ws.send(m).await {
                                let _ = tx.send(WsEvent::Error(e.to_string()));
                                return;
                            }
                        }
                        Some(WsCmd::SendBatch(batch)) => {
                            for m in batch {
                                let _ = ws.feed(m).await;
                            }
                            if let Err(e) = ws.flush().await {
                                let _ = tx.send(WsEvent::Error(e.to_string()));
                                return;
                            }
                        }
                        Some(WsCmd::Close) => {
                            let _ = ws.close(None).await;
                            let _ = tx.send(WsEvent::Ended);
                            return;
                        }
                        Some(WsCmd::Abort) | None => return,
                    },
                }
            }
        });
        WsClient {
            out,
            rx,
            auto_pong,
            task,
        }
    }

    fn send_text(&self, s: &str) {
        let _ = self
            .out
            .send(WsCmd::Send(socketeer_ws::Message::text(s.to_owned())));
    }

    /// Sends these text messages in one write.
    fn send_text_batch(&self, texts: impl IntoIterator<Item = String>) {
        let batch = texts.into_iter().map(socketeer_ws::Message::text).collect();
        let _ = self.out.send(WsCmd::SendBatch(batch));
    }

    fn send_binary(&self, b: &[u8]) {
        let _ = self.out.send(WsCmd::Send(socketeer_ws::Message::binary(
            Bytes::copy_from_slice(b),
        )));
    }

    async fn next(&mut self) -> WsEvent {
        step("the next websocket event", self.rx.recv())
            .await
            .expect("the websocket reader stopped")
    }

    /// The next packet that is neither a ping nor a noop.
    async fn packet(&mut self) -> Packet {
        loop {
            match self.next().await {
                WsEvent::Packet(Packet::Ping(None) | Packet::Noop) => {}
                WsEvent::Packet(p) => return p,
                WsEvent::Error(e) => panic!("websocket error: {e}"),
                other => panic!("expected a packet, got {other:?}"),
            }
        }
    }

    async fn message(&mut self) -> Payload {
        match self.packet().await {
            Packet::Message(m) => m,
            other => panic!("expected a message, got {other:?}"),
        }
    }

    /// Skips pings until the server closes; returns its close frame.
    async fn closed(&mut self) -> Option<CloseFrame> {
        let mut frame = None;
        loop {
            match self.next().await {
                WsEvent::Packet(Packet::Ping(None)) => {}
                WsEvent::Closed(f) => frame = f,
                WsEvent::Ended => return frame,
                other => panic!("expected the connection to close, got {other:?}"),
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Handshake and messages on long-polling

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn polling_handshake_fields() {
    within(async {
        let mut server = TestServer::start(fast()).await;
        let r = get(server.addr, "/engine.io/?EIO=4&transport=polling").await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.header("content-type"), Some("text/plain; charset=UTF-8"));
        let body = r.text();
        assert!(body.starts_with('0'), "{body:?}");
        let open: Value = serde_json::from_str(&body[1..]).expect("JSON");
        let obj = open.as_object().expect("an object");
        let mut keys: Vec<&str> = obj.keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            [
                "maxPayload",
                "pingInterval",
                "pingTimeout",
                "sid",
                "upgrades"
            ]
        );
        let sid = open["sid"].as_str().expect("sid is a string");
        assert_eq!(sid.len(), 20, "15 random bytes in base64url: {sid:?}");
        assert!(sid
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        assert_eq!(open["upgrades"], json!(["websocket"]));
        assert_eq!(open["pingInterval"], json!(300));
        assert_eq!(open["pingTimeout"], json!(200));
        assert_eq!(open["maxPayload"], json!(1_000_000));

        let socket = server.connected(sid).await;
        assert_eq!(socket.transport(), TransportKind::Polling);
        assert!(!socket.is_closed());
        let info = socket.request();
        assert_eq!(
            info.uri.query(),
            Some("EIO=4&transport=polling"),
            "{:?}",
            info.uri
        );
        assert_eq!(
            info.remote_addr.map(|a| a.ip()),
            Some(std::net::Ipv4Addr::LOCALHOST.into())
        );
        assert_eq!(server.engine.session_count(), 1);

        let (other, _) = server.handshake().await;
        assert_ne!(other, sid, "session ids are unique");
        assert_eq!(server.engine.session_count(), 2);

        // Without upgrades (or without WebSocket) none is offered.
        for config in [
            EngineIoConfig {
                allow_upgrades: false,
                ..fast()
            },
            EngineIoConfig {
                allow_websocket: false,
                ..fast()
            },
        ] {
            let server = TestServer::start(config).await;
            let (_, open) = server.handshake().await;
            assert_eq!(open["upgrades"], json!([]));
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn polling_text_and_binary_messages() {
    within(async {
        let mut server = TestServer::start(fast()).await;
        let (sid, _) = server.handshake().await;
        let mut poller = server.poller(&sid);

        server.post_ok(&sid, "4hello").await;
        assert_eq!(server.received(&sid).await, text("hello"));
        assert_eq!(poller.message().await, text("hello"));

        server.post_ok(&sid, "4κόσμε 𝄞").await;
        assert_eq!(server.received(&sid).await, text("κόσμε 𝄞"));
        assert_eq!(poller.message().await, text("κόσμε 𝄞"));

        // Binary travels as "b" + base64, both ways.
        server.post_ok(&sid, "bAQID/w==").await;
        assert_eq!(server.received(&sid).await, binary(&[1, 2, 3, 255]));
        assert_eq!(poller.message().await, binary(&[1, 2, 3, 255]));

        // An empty text message.
        server.post_ok(&sid, "4").await;
        assert_eq!(server.received(&sid).await, text(""));
        assert_eq!(poller.message().await, text(""));

        server.assert_alive(&sid);

        // What the server sends on its own, as one raw payload.
        let (sid, _) = server.handshake().await;
        let socket = server.connected(&sid).await;
        socket.send_text("from server").expect("send");
        socket.send_binary(vec![0u8, 0xfe]).expect("send");
        let r = server.poll(&sid).await;
        let packets = without_pings(r.packets());
        assert_eq!(
            packets,
            [Packet::text("from server"), Packet::binary(vec![0, 0xfe])]
        );
        if packets.len() == r.packets().len() {
            assert_eq!(r.text(), "4from server\u{1e}bAP4=");
        }
        server.assert_alive(&sid);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn polling_several_packets_in_one_payload() {
    within(async {
        let mut server = TestServer::start(fast()).await;
        let (sid, _) = server.handshake().await;
        let mut poller = server.poller(&sid);
        server
            .post_ok(&sid, "4one\u{1e}bAAEC\u{1e}4two\u{1e}6\u{1e}4three")
            .await;
        let expected = [text("one"), binary(&[0, 1, 2]), text("two"), text("three")];
        for m in &expected {
            assert_eq!(&server.received(&sid).await, m);
        }
        for m in &expected {
            assert_eq!(&poller.message().await, m);
        }
        // A pong among messages is fine too.
        server.post_ok(&sid, "3\u{1e}4four").await;
        assert_eq!(poller.message().await, text("four"));
        server.assert_alive(&sid);
    })
    .await;
}

/// A text message holding the record separator cannot cross long-polling:
/// it must not corrupt the payload it would have been part of.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn record_separator_text_on_polling() {
    within(async {
        let mut server = TestServer::start(calm()).await;
        let (sid, _) = server.handshake().await;
        let socket = server.connected(&sid).await;
        socket.send_text("before").expect("send");
        let _ = socket.send_text("split\u{1e}me");
        socket.send_text("after").expect("send");
        assert_eq!(
            server.poll(&sid).await.packets(),
            [Packet::text("before"), Packet::text("after")]
        );
        server.assert_alive(&sid);
        // On a WebSocket it is an ordinary message.
        let (mut ws, open) = server.websocket().await;
        let socket = server.connected(&open.sid).await;
        socket.send_text("split\u{1e}me").expect("send");
        assert_eq!(ws.message().await, text("split\u{1e}me"));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_queue_limit() {
    within(async {
        let mut server = TestServer::start(EngineIoConfig {
            max_queued_messages: 3,
            ..calm()
        })
        .await;
        let (sid, _) = server.handshake().await;
        let socket = server.connected(&sid).await;
        for i in 0..3 {
            socket
                .send_text(format!("m{i}"))
                .expect("room in the queue");
        }
        assert_eq!(socket.send_text("one too many"), Err(SendError::QueueFull));
        assert_eq!(
            server.poll(&sid).await.packets(),
            [Packet::text("m0"), Packet::text("m1"), Packet::text("m2")]
        );
        // Delivered messages free their places.
        socket.send_text("m3").expect("room again");
        assert_eq!(server.poll(&sid).await.packets(), [Packet::text("m3")]);
        server.assert_alive(&sid);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_payload_closes_the_session() {
    within(async {
        for bad in [
            &b"x"[..],
            b"4ok\x1e",
            b"bnot base64!",
            b"\xff\xfe",
            b"4fine\x1e9bad",
            b"",
        ] {
            let mut server = TestServer::start(fast()).await;
            let (sid, _) = server.handshake().await;
            let r = server.post(&sid, Bytes::from_static(bad)).await;
            r.assert_error(StatusCode::BAD_REQUEST, 3, "Bad request");
            assert_eq!(server.disconnected(&sid).await, CloseReason::ParseError);
            server
                .poll(&sid)
                .await
                .assert_error(StatusCode::BAD_REQUEST, 1, "Session ID unknown");
            assert_eq!(server.engine.session_count(), 0);
            // Nothing of a rejected payload reaches the application.
            assert!(
                !server
                    .backlog
                    .iter()
                    .any(|e| matches!(e, Event::Message(..))),
                "{bad:?}: {:?}",
                server.backlog
            );
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_ping_on_polling_is_a_parse_error() {
    within(async {
        let mut server = TestServer::start(calm()).await;
        let (sid, _) = server.handshake().await;
        server.post_ok(&sid, "2").await;
        assert_eq!(server.disconnected(&sid).await, CloseReason::ParseError);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overlapping_polls_fail_the_session() {
    within(async {
        // A long heartbeat: no ping may release the first poll.
        let mut server = TestServer::start(calm()).await;
        let (sid, _) = server.handshake().await;
        let addr = server.addr;
        let path = server.polling(&sid);
        let (a, b) = tokio::join!(get(addr, &path), get(addr, &path));
        // Whichever arrived first was waiting: it gets a close packet, the
        // other a 400.
        let (first, second) = if a.status == StatusCode::OK {
            (a, b)
        } else {
            (b, a)
        };
        assert_eq!(first.status, StatusCode::OK, "{first:?} / {second:?}");
        assert_eq!(first.text(), "1");
        second.assert_error(StatusCode::BAD_REQUEST, 3, "Bad request");
        assert_eq!(server.disconnected(&sid).await, CloseReason::TransportError);
        server
            .poll(&sid)
            .await
            .assert_error(StatusCode::BAD_REQUEST, 1, "Session ID unknown");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overlapping_posts_fail_the_session() {
    within(async {
        let mut server = TestServer::start(calm()).await;
        let (sid, _) = server.handshake().await;
        let path = server.polling(&sid);
        // A POST whose body is still arriving...
        let mut slow = TcpStream::connect(server.addr).await.expect("connect");
        let head = format!("POST {path} HTTP/1.1\r\nhost: x\r\ncontent-length: 10\r\n\r\n4he");
        tokio::io::AsyncWriteExt::write_all(&mut slow, head.as_bytes())
            .await
            .expect("write");
        // ...then another one: refused, and the session fails. (Should the
        // second be read first, the slow one is the one refused; the
        // session fails all the same, and the second's answer says so.)
        tokio::time::sleep(Duration::from_millis(100)).await;
        let second = server.post(&sid, "4again").await;
        assert_eq!(second.status, StatusCode::BAD_REQUEST, "{second:?}");
        assert_eq!(server.disconnected(&sid).await, CloseReason::TransportError);
        drop(slow);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_post_is_refused_and_other_sessions_go_on() {
    within(async {
        let max = 10_000;
        let mut server = TestServer::start(EngineIoConfig {
            max_payload: max,
            ..fast()
        })
        .await;
        let (victim, open) = server.handshake().await;
        assert_eq!(open["maxPayload"], json!(max));
        let mut victim_poller = server.poller(&victim);
        let (healthy, _) = server.handshake().await;
        let mut healthy_poller = server.poller(&healthy);
        let (mut ws, ws_open) = server.websocket().await;
        assert_eq!(ws_open.max_payload, max as u64);

        // Exactly max_payload bytes is fine.
        let at_limit = format!("4{}", "x".repeat(max - 1));
        server.post_ok(&healthy, at_limit.clone()).await;
        assert_eq!(healthy_poller.message().await, text(&at_limit[1..]));

        let over = format!("4{}", "y".repeat(2 * max));
        let r = server.post(&victim, over).await;
        assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{r:?}");
        assert_eq!(
            server.disconnected(&victim).await,
            CloseReason::TransportError
        );
        // Its waiting poll is told.
        assert_eq!(victim_poller.packet().await, Packet::Close);
        server
            .poll(&victim)
            .await
            .assert_error(StatusCode::BAD_REQUEST, 1, "Session ID unknown");

        // The others go on, on both transports.
        server.post_ok(&healthy, "4still here").await;
        assert_eq!(healthy_poller.message().await, text("still here"));
        ws.send_text("4me too");
        assert_eq!(ws.message().await, text("me too"));
        ws.send_binary(&[7; 100]);
        assert_eq!(ws.message().await, binary(&[7; 100]));
        server.assert_alive(&healthy);
        assert_eq!(server.engine.session_count(), 2);
    })
    .await;
}

// ---------------------------------------------------------------------------
// The official error responses

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_transport_is_code_0() {
    within(async {
        let server = TestServer::start(fast()).await;
        for path in [
            "/engine.io/?EIO=4&transport=carrier-pigeon",
            "/engine.io/?EIO=4",
            "/engine.io/?EIO=4&transport=webtransport",
        ] {
            get(server.addr, path).await.assert_error(
                StatusCode::BAD_REQUEST,
                0,
                "Transport unknown",
            );
        }
        // A transport turned off is unknown too.
        let server = TestServer::start(EngineIoConfig {
            allow_polling: false,
            ..fast()
        })
        .await;
        get(server.addr, "/engine.io/?EIO=4&transport=polling")
            .await
            .assert_error(StatusCode::BAD_REQUEST, 0, "Transport unknown");
        assert_eq!(server.engine.session_count(), 0);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_protocol_version_is_code_5() {
    within(async {
        let server = TestServer::start(fast()).await;
        for path in [
            "/engine.io/?EIO=3&transport=polling",
            "/engine.io/?transport=polling",
            "/engine.io/?EIO=5&transport=polling",
        ] {
            get(server.addr, path).await.assert_error(
                StatusCode::BAD_REQUEST,
                5,
                "Unsupported protocol version",
            );
        }
        assert_eq!(server.engine.session_count(), 0);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn post_handshake_is_code_2() {
    within(async {
        let server = TestServer::start(fast()).await;
        post(server.addr, "/engine.io/?EIO=4&transport=polling", "4hi")
            .await
            .assert_error(StatusCode::BAD_REQUEST, 2, "Bad handshake method");
        assert_eq!(server.engine.session_count(), 0);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_sid_is_code_1() {
    within(async {
        let server = TestServer::start(fast()).await;
        let path = server.polling("AAAAAAAAAAAAAAAAAAAA");
        get(server.addr, &path).await.assert_error(
            StatusCode::BAD_REQUEST,
            1,
            "Session ID unknown",
        );
        post(server.addr, &path, "4hi").await.assert_error(
            StatusCode::BAD_REQUEST,
            1,
            "Session ID unknown",
        );
        // A WebSocket upgrade of an unknown session is refused before the
        // handshake.
        let url = format!(
            "ws://{}/engine.io/?EIO=4&transport=websocket&sid=AAAAAAAAAAAAAAAAAAAA",
            server.addr
        );
        assert!(socketeer_ws::connect(&url).await.is_err());
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_bad_requests() {
    within(async {
        let mut server = TestServer::start(fast()).await;
        // A WebSocket handshake that is plain HTTP.
        get(server.addr, "/engine.io/?EIO=4&transport=websocket")
            .await
            .assert_error(StatusCode::BAD_REQUEST, 3, "Bad request");
        // Another method on a session.
        let (sid, _) = server.handshake().await;
        let _poller = server.poller(&sid);
        request(
            server.addr,
            Method::PUT,
            &server.polling(&sid),
            &[],
            Bytes::new(),
        )
        .await
        .assert_error(StatusCode::BAD_REQUEST, 3, "Bad request");
        // Another path.
        let r = get(server.addr, "/other/?EIO=4&transport=polling").await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
        // The mount point without its trailing slash is the same server.
        let r = get(server.addr, "/engine.io?EIO=4&transport=polling").await;
        assert_eq!(r.status, StatusCode::OK, "{r:?}");
        server.assert_alive(&sid);
    })
    .await;
}

// ---------------------------------------------------------------------------
// WebSocket

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_session_echoes() {
    within(async {
        let mut server = TestServer::start(fast()).await;
        let (mut ws, open) = server.websocket().await;
        assert_eq!(open.sid.len(), 20);
        assert!(open.upgrades.is_empty(), "{open:?}");
        assert_eq!(open.ping_interval, 300);
        assert_eq!(open.ping_timeout, 200);
        assert_eq!(open.max_payload, 1_000_000);
        let socket = server.connected(&open.sid).await;
        assert_eq!(socket.transport(), TransportKind::WebSocket);

        ws.send_text("4hello");
        assert_eq!(server.received(&open.sid).await, text("hello"));
        assert_eq!(ws.message().await, text("hello"));
        ws.send_binary(&[0, 1, 2, 255]);
        assert_eq!(server.received(&open.sid).await, binary(&[0, 1, 2, 255]));
        assert_eq!(ws.message().await, binary(&[0, 1, 2, 255]));
        let big: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        ws.send_binary(&big);
        assert_eq!(ws.message().await, binary(&big));
        let big_text = format!("4{}", "κ".repeat(100_000));
        ws.send_text(&big_text);
        assert_eq!(ws.message().await, text(&big_text[1..]));

        // The session is not reachable over polling.
        server
            .poll(&open.sid)
            .await
            .assert_error(StatusCode::BAD_REQUEST, 3, "Bad request");
        server
            .post(&open.sid, "4no")
            .await
            .assert_error(StatusCode::BAD_REQUEST, 3, "Bad request");

        // Many in a row arrive in order.
        for i in 0..50 {
            ws.send_text(&format!("4n{i}"));
        }
        for i in 0..50 {
            assert_eq!(ws.message().await, text(&format!("n{i}")));
        }
        server.assert_alive(&open.sid);
    })
    .await;
}

/// Messages that arrive together are handled in one turn of the session
/// (a batch): all of them, in order, and a bad one in the middle ends the
/// session without the ones behind it being delivered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_batch_in_one_write() {
    within(async {
        let mut server = TestServer::start(fast()).await;
        let (mut ws, open) = server.websocket().await;
        server.connected(&open.sid).await;
        // More than one turn's batch (64), in one write.
        ws.send_text_batch((0..300).map(|i| format!("4b{i}")));
        for i in 0..300 {
            assert_eq!(server.received(&open.sid).await, text(&format!("b{i}")));
        }
        for i in 0..300 {
            assert_eq!(ws.message().await, text(&format!("b{i}")));
        }
        server.assert_alive(&open.sid);

        let (mut ws, open) = server.websocket().await;
        server.connected(&open.sid).await;
        let batch = ["4before".to_owned(), "9bad".to_owned(), "4after".to_owned()];
        ws.send_text_batch(batch);
        assert_eq!(server.received(&open.sid).await, text("before"));
        assert_eq!(
            server.disconnected(&open.sid).await,
            CloseReason::ParseError
        );
        let frame = ws.closed().await;
        assert_eq!(frame.map(|f| f.code.0), Some(1002));
        while let Ok(e) = server.events.try_recv() {
            server.backlog.push(e);
        }
        let after = text("after");
        assert!(
            !server
                .backlog
                .iter()
                .any(|e| matches!(e, Event::Message(s, m) if *s == open.sid && *m == after)),
            "a message behind the bad one was delivered: {:?}",
            server.backlog
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_invalid_packet_is_a_parse_error() {
    within(async {
        let mut server = TestServer::start(fast()).await;
        let (mut ws, open) = server.websocket().await;
        ws.send_text("9nonsense");
        let frame = ws.closed().await;
        assert_eq!(frame.map(|f| f.code.0), Some(1002));
        assert_eq!(
            server.disconnected(&open.sid).await,
            CloseReason::ParseError
        );
    })
    .await;
}

/// The documented limit: a WebSocket message over `max_payload` closes
/// the connection with 1009 (message too big), as the official server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_message_over_max_payload_closes_1009() {
    within(async {
        let max = 10_000;
        let mut server = TestServer::start(EngineIoConfig {
            max_payload: max,
            ..fast()
        })
        .await;
        let (mut ws, open) = server.websocket().await;
        ws.send_binary(&vec![1; max]);
        assert_eq!(ws.message().await, binary(&vec![1; max]));
        ws.send_binary(&vec![2; max + 1]);
        let frame = ws.closed().await;
        assert_eq!(frame.map(|f| f.code.0), Some(1009));
        assert_eq!(
            server.disconnected(&open.sid).await,
            CloseReason::TransportError
        );
    })
    .await;
}

// ---------------------------------------------------------------------------
// Heartbeat

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn polling_heartbeat_keeps_the_session() {
    within(async {
        let mut server = TestServer::start(fast()).await;
        let (sid, _) = server.handshake().await;
        let start = Instant::now();
        let mut poller = server.poller(&sid);
        let mut pings = 0;
        while pings < 3 {
            match poller.next().await {
                Polled::Packet(Packet::Ping(None)) => pings += 1,
                other => panic!("expected a ping, got {other:?}"),
            }
        }
        // Three pings, each an interval after the previous pong.
        assert!(start.elapsed() >= Duration::from_millis(850));
        server.assert_alive(&sid);
        server.post_ok(&sid, "4alive").await;
        assert_eq!(poller.message().await, text("alive"));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn polling_ping_timeout() {
    within(async {
        let mut server = TestServer::start(fast()).await;
        let (sid, _) = server.handshake().await;
        let start = Instant::now();
        let r = server.poll(&sid).await;
        assert_eq!(r.text(), "2", "the first poll waits for the ping");
        assert!(start.elapsed() >= Duration::from_millis(250));
        // No pong: the next poll is answered with a close packet.
        let r = server.poll(&sid).await;
        assert_eq!(r.text(), "1");
        assert_eq!(server.disconnected(&sid).await, CloseReason::PingTimeout);
        assert!(start.elapsed() >= Duration::from_millis(450));
        server
            .poll(&sid)
            .await
            .assert_error(StatusCode::BAD_REQUEST, 1, "Session ID unknown");

        // A client that never polls times out too.
        let (idle, _) = server.handshake().await;
        assert_eq!(server.disconnected(&idle).await, CloseReason::PingTimeout);
        assert_eq!(server.engine.session_count(), 0);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_heartbeat_keeps_the_session() {
    within(async {
        let mut server = TestServer::start(fast()).await;
        let (mut ws, open) = server.websocket().await;
        let start = Instant::now();
        let mut pings = 0;
        while pings < 3 {
            match ws.next().await {
                WsEvent::Packet(Packet::Ping(None)) => pings += 1,
                other => panic!("expected a ping, got {other:?}"),
            }
        }
        assert!(start.elapsed() >= Duration::from_millis(850));
        server.assert_alive(&open.sid);
        ws.send_text("4alive");
        assert_eq!(ws.message().await, text("alive"));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_ping_timeout() {
    within(async {
        let mut server = TestServer::start(fast()).await;
        let (mut ws, open) = server.websocket().await;
        ws.auto_pong.store(false, Ordering::SeqCst);
        let start = Instant::now();
        match ws.next().await {
            WsEvent::Packet(Packet::Ping(None)) => {}
            other => panic!("expected a ping, got {other:?}"),
        }
        ws.closed().await;
        assert!(start.elapsed() >= Duration::from_millis(450));
        assert_eq!(
            server.disconnected(&open.sid).await,
            CloseReason::PingTimeout
        );
        assert_eq!(server.engine.session_count(), 0);
    })
    .await;
}

// ---------------------------------------------------------------------------
// Closing

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn polling_client_close() {
    within(async {
        let mut server = TestServer::start(fast()).await;
        let (sid, _) = server.handshake().await;
        let mut poller = server.poller(&sid);
        server.post_ok(&sid, "4bye").await;
        assert_eq!(poller.message().await, text("bye"));
        server.post_ok(&sid, "1").await;
        assert_eq!(server.disconnected(&sid).await, CloseReason::TransportClose);
        // The waiting poll is released, and the session is gone.
        loop {
            match poller.next().await {
                Polled::Packet(Packet::Noop | Packet::Ping(None)) => {}
                Polled::Refused(r) => {
                    r.assert_error(StatusCode::BAD_REQUEST, 1, "Session ID unknown");
                    break;
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(server.engine.session_count(), 0);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_client_close() {
    within(async {
        let mut server = TestServer::start(fast()).await;
        let (mut ws, open) = server.websocket().await;
        ws.send_text("4bye");
        assert_eq!(ws.message().await, text("bye"));
        ws.send_text("1");
        ws.closed().await;
        assert_eq!(
            server.disconnected(&open.sid).await,
            CloseReason::TransportClose
        );

        // Dropping the connection, with or without a close frame.
        let (ws, open) = server.websocket().await;
        let _ = ws.out.send(WsCmd::Close);
        assert_eq!(
            server.disconnected(&open.sid).await,
            CloseReason::TransportClose
        );
        let (ws, open) = server.websocket().await;
        let _ = ws.out.send(WsCmd::Abort);
        assert_eq!(
            server.disconnected(&open.sid).await,
            CloseReason::TransportClose
        );
        assert_eq!(server.engine.session_count(), 0);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn polling_server_close() {
    within(async {
        let mut server = TestServer::start(fast()).await;

        // No poll waiting: the next one gets what is queued, then "1".
        let (sid, _) = server.handshake().await;
        let socket = server.connected(&sid).await;
        socket.send_text("one").expect("send");
        socket.send_binary(vec![1u8, 2]).expect("send");
        socket.close();
        assert_eq!(socket.send_text("after close"), Err(SendError::Closed));
        let r = server.poll(&sid).await;
        assert_eq!(
            without_pings(r.packets()),
            [
                Packet::text("one"),
                Packet::binary(vec![1, 2]),
                Packet::Close
            ]
        );
        assert_eq!(server.disconnected(&sid).await, CloseReason::ForcedClose);
        assert!(socket.is_closed());
        server
            .poll(&sid)
            .await
            .assert_error(StatusCode::BAD_REQUEST, 1, "Session ID unknown");

        // A poll waiting: it is answered at once.
        let (sid, _) = server.handshake().await;
        let socket = server.connected(&sid).await;
        let mut poller = server.poller(&sid);
        server.post_ok(&sid, "4ping me").await;
        assert_eq!(poller.message().await, text("ping me"));
        socket.send_text("last").expect("send");
        socket.close();
        assert_eq!(poller.message().await, text("last"));
        assert_eq!(poller.packet().await, Packet::Close);
        assert_eq!(server.disconnected(&sid).await, CloseReason::ForcedClose);
        assert_eq!(server.engine.session_count(), 0);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn polling_server_close_without_a_poll_times_out() {
    within(async {
        let mut server = TestServer::start(fast()).await;
        let (sid, _) = server.handshake().await;
        let socket = server.connected(&sid).await;
        socket.close();
        // The client never comes back: the session ends after the drain
        // delay, with the reason it was closed for.
        assert_eq!(server.disconnected(&sid).await, CloseReason::ForcedClose);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_server_close() {
    within(async {
        let mut server = TestServer::start(fast()).await;
        let (mut ws, open) = server.websocket().await;
        let socket = server.connected(&open.sid).await;
        socket.send_text("one").expect("send");
        socket.send_binary(vec![1u8, 2]).expect("send");
        socket.close();
        assert_eq!(socket.send_text("after close"), Err(SendError::Closed));
        assert_eq!(ws.message().await, text("one"));
        assert_eq!(ws.message().await, binary(&[1, 2]));
        ws.closed().await;
        assert_eq!(
            server.disconnected(&open.sid).await,
            CloseReason::ForcedClose
        );
        assert_eq!(server.engine.session_count(), 0);
    })
    .await;
}

// ---------------------------------------------------------------------------
// Upgrade

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upgrade_polling_to_websocket() {
    within(async {
        let mut server = TestServer::start(calm()).await;
        let (sid, _) = server.handshake().await;
        let socket = server.connected(&sid).await;
        let addr = server.addr;
        let path = server.polling(&sid);

        // Before the probe, polling carries messages as usual.
        server.post_ok(&sid, "4before").await;
        assert_eq!(server.received(&sid).await, text("before"));
        assert_eq!(server.poll(&sid).await.packets(), [Packet::text("before")]);

        // A poll waits while the WebSocket probes.
        let waiting = tokio::spawn({
            let path = path.clone();
            async move { get(addr, &path).await }
        });
        let mut ws = WsClient::connect(addr, &format!("&sid={sid}")).await;
        ws.send_text("2probe");
        assert_eq!(
            ws.packet().await,
            Packet::Pong(Some(Utf8Bytes::from_static("probe")))
        );
        // The probe releases the waiting poll with a noop...
        let r = step("the waiting poll", waiting).await.expect("poll task");
        assert_eq!(r.packets(), [Packet::Noop]);
        // ...and polls during the probe get a noop at once.
        assert_eq!(server.poll(&sid).await.packets(), [Packet::Noop]);
        assert_eq!(socket.transport(), TransportKind::Polling);

        // Messages queued while upgrading: sent by the application, and
        // echoes of a POST that is still allowed on polling.
        socket.send_text("during 1").expect("send");
        socket.send_binary(vec![9u8, 9]).expect("send");
        server.post_ok(&sid, "4during 2").await;
        assert_eq!(server.received(&sid).await, text("during 2"));
        socket.send_text("during 3").expect("send");

        ws.send_text("5");
        // Everything queued arrives once, in order, on the WebSocket.
        assert_eq!(ws.message().await, text("during 1"));
        assert_eq!(ws.message().await, binary(&[9, 9]));
        assert_eq!(ws.message().await, text("during 2"));
        assert_eq!(ws.message().await, text("during 3"));
        ws.send_text("4after");
        assert_eq!(ws.message().await, text("after"));
        assert_eq!(socket.transport(), TransportKind::WebSocket);
        ws.send_binary(&[1, 2, 3]);
        assert_eq!(ws.message().await, binary(&[1, 2, 3]));

        // Polling is over for this session.
        server
            .poll(&sid)
            .await
            .assert_error(StatusCode::BAD_REQUEST, 3, "Bad request");
        server
            .post(&sid, "4late")
            .await
            .assert_error(StatusCode::BAD_REQUEST, 3, "Bad request");
        // A second upgrade is refused: that WebSocket is closed.
        let mut second = WsClient::connect(addr, &format!("&sid={sid}")).await;
        second.closed().await;
        // The session is intact.
        ws.send_text("4still");
        assert_eq!(ws.message().await, text("still"));
        server.assert_alive(&sid);
        assert_eq!(server.engine.session_count(), 1);
        ws.send_text("1");
        ws.closed().await;
        assert_eq!(server.disconnected(&sid).await, CloseReason::TransportClose);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upgrade_with_fast_heartbeat() {
    within(async {
        // A client that keeps polling and answering pings until it switches.
        let mut server = TestServer::start(fast()).await;
        let (sid, _) = server.handshake().await;
        let socket = server.connected(&sid).await;
        let mut poller = server.poller(&sid);
        server.post_ok(&sid, "4first").await;
        assert_eq!(poller.message().await, text("first"));

        let mut ws = WsClient::connect(server.addr, &format!("&sid={sid}")).await;
        ws.send_text("2probe");
        assert_eq!(
            ws.packet().await,
            Packet::Pong(Some(Utf8Bytes::from_static("probe")))
        );
        drop(poller);
        for i in 0..20 {
            socket.send_text(format!("q{i}")).expect("send");
        }
        ws.send_text("5");
        for i in 0..20 {
            assert_eq!(ws.message().await, text(&format!("q{i}")));
        }
        // Heartbeats go on over the WebSocket (answered by the reader).
        let mut pings = 0;
        while pings < 2 {
            if let WsEvent::Packet(Packet::Ping(None)) = ws.next().await {
                pings += 1;
            }
        }
        server.assert_alive(&sid);
        assert_eq!(socket.transport(), TransportKind::WebSocket);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_probe_keeps_polling() {
    within(async {
        let mut server = TestServer::start(calm()).await;
        let (sid, _) = server.handshake().await;
        let socket = server.connected(&sid).await;
        // A probe that is not "2probe" aborts the upgrade only.
        let mut ws = WsClient::connect(server.addr, &format!("&sid={sid}")).await;
        ws.send_text("4not a probe");
        ws.closed().await;
        server.post_ok(&sid, "4still polling").await;
        assert_eq!(
            server.poll(&sid).await.packets(),
            [Packet::text("still polling")]
        );
        assert_eq!(socket.transport(), TransportKind::Polling);
        // A WebSocket that goes away mid-probe, too; then a real upgrade.
        let mut ws = WsClient::connect(server.addr, &format!("&sid={sid}")).await;
        ws.send_text("2probe");
        assert_eq!(
            ws.packet().await,
            Packet::Pong(Some(Utf8Bytes::from_static("probe")))
        );
        let _ = ws.out.send(WsCmd::Abort);
        drop(ws);
        server.post_ok(&sid, "4again").await;
        // Until the server notices the probe is gone, polls get a noop at
        // once (as during any probe); then polling resumes.
        loop {
            let packets = server.poll(&sid).await.packets();
            if packets != [Packet::Noop] {
                assert_eq!(packets, [Packet::text("again")]);
                break;
            }
        }
        let mut ws = WsClient::connect(server.addr, &format!("&sid={sid}")).await;
        ws.send_text("2probe");
        assert_eq!(
            ws.packet().await,
            Packet::Pong(Some(Utf8Bytes::from_static("probe")))
        );
        ws.send_text("5");
        ws.send_text("4upgraded");
        assert_eq!(ws.message().await, text("upgraded"));
        server.assert_alive(&sid);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upgrade_refused_when_disabled() {
    within(async {
        let mut server = TestServer::start(EngineIoConfig {
            allow_upgrades: false,
            ..calm()
        })
        .await;
        let (sid, _) = server.handshake().await;
        let url = format!(
            "ws://{}/engine.io/?EIO=4&transport=websocket&sid={sid}",
            server.addr
        );
        assert!(socketeer_ws::connect(&url).await.is_err());
        server.post_ok(&sid, "4polling").await;
        assert_eq!(server.poll(&sid).await.packets(), [Packet::text("polling")]);
        server.assert_alive(&sid);
    })
    .await;
}

// ---------------------------------------------------------------------------
// CORS

const PREFLIGHT: [(&str, &str); 2] = [
    ("access-control-request-method", "POST"),
    ("access-control-request-headers", "content-type, x-custom"),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cors_any_origin() {
    within(async {
        let server = TestServer::start(EngineIoConfig {
            cors: Some(Cors {
                origin: AllowOrigin::Any,
                credentials: false,
            }),
            ..fast()
        })
        .await;
        let handshake = "/engine.io/?EIO=4&transport=polling";
        let origin = [("origin", "https://anywhere.example")];
        let r = request(server.addr, Method::GET, handshake, &origin, Bytes::new()).await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.header("access-control-allow-origin"), Some("*"));
        assert_eq!(r.header("access-control-allow-credentials"), None);

        let headers = [origin[0], PREFLIGHT[0], PREFLIGHT[1]];
        let r = request(
            server.addr,
            Method::OPTIONS,
            handshake,
            &headers,
            Bytes::new(),
        )
        .await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{r:?}");
        assert_eq!(r.header("access-control-allow-origin"), Some("*"));
        let methods = r.header("access-control-allow-methods").expect("methods");
        assert!(
            methods.contains("GET") && methods.contains("POST"),
            "{methods}"
        );
        assert_eq!(
            r.header("access-control-allow-headers"),
            Some("content-type, x-custom")
        );
        assert!(r.body.is_empty());

        // Error responses carry the headers too, so browsers can read them.
        let r = request(
            server.addr,
            Method::GET,
            "/engine.io/?EIO=4&transport=nope",
            &origin,
            Bytes::new(),
        )
        .await;
        r.assert_error(StatusCode::BAD_REQUEST, 0, "Transport unknown");
        assert_eq!(r.header("access-control-allow-origin"), Some("*"));
        assert_eq!(server.engine.session_count(), 1);

        // With credentials, the request's origin is reflected.
        let server = TestServer::start(EngineIoConfig {
            cors: Some(Cors {
                origin: AllowOrigin::Any,
                credentials: true,
            }),
            ..fast()
        })
        .await;
        let r = request(server.addr, Method::GET, handshake, &origin, Bytes::new()).await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(
            r.header("access-control-allow-origin"),
            Some("https://anywhere.example")
        );
        assert_eq!(r.header("access-control-allow-credentials"), Some("true"));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cors_origin_list() {
    within(async {
        let mut server = TestServer::start(EngineIoConfig {
            cors: Some(Cors {
                origin: AllowOrigin::List(vec![
                    "https://good.example".into(),
                    "http://localhost:8080".into(),
                ]),
                credentials: true,
            }),
            ..fast()
        })
        .await;
        let handshake = "/engine.io/?EIO=4&transport=polling";
        let good = [("origin", "https://good.example")];
        let r = request(server.addr, Method::GET, handshake, &good, Bytes::new()).await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(
            r.header("access-control-allow-origin"),
            Some("https://good.example")
        );
        assert_eq!(r.header("access-control-allow-credentials"), Some("true"));
        assert_eq!(r.header("vary"), Some("Origin"));

        // A session's later requests too.
        let sid = serde_json::from_str::<Value>(&r.text()[1..]).expect("JSON")["sid"]
            .as_str()
            .expect("sid")
            .to_owned();
        let r = request(
            server.addr,
            Method::POST,
            &server.polling(&sid),
            &good,
            Bytes::from_static(b"4x"),
        )
        .await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(
            r.header("access-control-allow-origin"),
            Some("https://good.example")
        );
        assert_eq!(server.received(&sid).await, text("x"));

        let evil = [("origin", "https://evil.example")];
        let r = request(server.addr, Method::GET, handshake, &evil, Bytes::new()).await;
        assert_eq!(r.header("access-control-allow-origin"), None, "{r:?}");
        assert_eq!(r.header("access-control-allow-credentials"), None);

        // A prefix or suffix of an allowed origin is another origin.
        let near = [("origin", "https://good.example.evil.example")];
        let r = request(server.addr, Method::GET, handshake, &near, Bytes::new()).await;
        assert_eq!(r.header("access-control-allow-origin"), None, "{r:?}");

        let r = request(
            server.addr,
            Method::OPTIONS,
            handshake,
            &[good[0], PREFLIGHT[0], PREFLIGHT[1]],
            Bytes::new(),
        )
        .await;
        assert_eq!(r.status, StatusCode::NO_CONTENT);
        assert_eq!(
            r.header("access-control-allow-origin"),
            Some("https://good.example")
        );
        assert_eq!(r.header("access-control-allow-credentials"), Some("true"));

        let r = request(
            server.addr,
            Method::OPTIONS,
            handshake,
            &[evil[0], PREFLIGHT[0], PREFLIGHT[1]],
            Bytes::new(),
        )
        .await;
        assert_eq!(r.status, StatusCode::NO_CONTENT);
        assert_eq!(r.header("access-control-allow-origin"), None, "{r:?}");

        // No Origin: no CORS headers.
        let r = get(server.addr, handshake).await;
        assert_eq!(r.header("access-control-allow-origin"), None);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_cors_headers_without_cors() {
    within(async {
        let server = TestServer::start(fast()).await;
        let r = request(
            server.addr,
            Method::GET,
            "/engine.io/?EIO=4&transport=polling",
            &[("origin", "https://anywhere.example")],
            Bytes::new(),
        )
        .await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.header("access-control-allow-origin"), None);
    })
    .await;
}

// ---------------------------------------------------------------------------
// Admission: allow_request, max_sessions, shutdown

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allow_request_refusal_is_403_code_4() {
    within(async {
        let mut server = TestServer::start(EngineIoConfig {
            allow_request: Some(Arc::new(|info| {
                match info.headers.get("x-token").map(|v| v.as_bytes()) {
                    Some(b"secret") => Ok(()),
                    _ => Err("no \"token\"".to_owned()),
                }
            })),
            ..fast()
        })
        .await;
        let handshake = "/engine.io/?EIO=4&transport=polling";
        get(server.addr, handshake)
            .await
            .assert_error(StatusCode::FORBIDDEN, 4, "no \"token\"");
        assert_eq!(server.engine.session_count(), 0);
        // The WebSocket handshake is refused too.
        let url = format!("ws://{}/engine.io/?EIO=4&transport=websocket", server.addr);
        assert!(socketeer_ws::connect(&url).await.is_err());
        assert_eq!(server.engine.session_count(), 0);

        let r = request(
            server.addr,
            Method::GET,
            handshake,
            &[("x-token", "secret")],
            Bytes::new(),
        )
        .await;
        assert_eq!(r.status, StatusCode::OK);
        let sid = serde_json::from_str::<Value>(&r.text()[1..]).expect("JSON")["sid"]
            .as_str()
            .expect("sid")
            .to_owned();
        let socket = server.connected(&sid).await;
        assert_eq!(
            socket
                .request()
                .headers
                .get("x-token")
                .map(|v| v.as_bytes()),
            Some(&b"secret"[..])
        );
        // The hook is for new sessions only.
        let _poller = server.poller(&sid);
        server.post_ok(&sid, "4in").await;
        assert_eq!(server.received(&sid).await, text("in"));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_sessions_is_503() {
    within(async {
        let mut server = TestServer::start(EngineIoConfig {
            max_sessions: 2,
            ..calm()
        })
        .await;
        let (a, _) = server.handshake().await;
        let (_ws, _) = server.websocket().await;
        let r = get(server.addr, "/engine.io/?EIO=4&transport=polling").await;
        assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{r:?}");
        let url = format!("ws://{}/engine.io/?EIO=4&transport=websocket", server.addr);
        assert!(socketeer_ws::connect(&url).await.is_err());
        assert_eq!(server.engine.session_count(), 2);
        // Existing sessions are not affected.
        server.post_ok(&a, "4ok").await;
        assert_eq!(server.poll(&a).await.packets(), [Packet::text("ok")]);
        // A slot frees up when a session ends.
        server.post_ok(&a, "1").await;
        server.disconnected(&a).await;
        let (c, _) = server.handshake().await;
        server.connected(&c).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_closes_sessions_and_refuses_requests() {
    within(async {
        let mut server = TestServer::start(fast()).await;
        let (polling, _) = server.handshake().await;
        let mut poller = server.poller(&polling);
        server.post_ok(&polling, "4hi").await;
        assert_eq!(poller.message().await, text("hi"));
        let (mut ws, open) = server.websocket().await;
        ws.send_text("4hi");
        assert_eq!(ws.message().await, text("hi"));

        server.engine.shutdown();

        let frame = ws.closed().await.expect("a close frame");
        assert_eq!(frame.code.0, 1001);
        assert_eq!(frame.reason, "server shutting down");
        assert_eq!(
            server.disconnected(&open.sid).await,
            CloseReason::ServerShuttingDown
        );
        // The polling client gets a close packet on its waiting poll (or,
        // between two polls, a 503 for the next one).
        loop {
            match poller.next().await {
                Polled::Packet(Packet::Close) => break,
                Polled::Packet(Packet::Ping(None) | Packet::Noop) => {}
                Polled::Refused(r) => {
                    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{r:?}");
                    break;
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(
            server.disconnected(&polling).await,
            CloseReason::ServerShuttingDown
        );
        assert_eq!(server.engine.session_count(), 0);

        let r = get(server.addr, "/engine.io/?EIO=4&transport=polling").await;
        assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
        let url = format!("ws://{}/engine.io/?EIO=4&transport=websocket", server.addr);
        assert!(socketeer_ws::connect(&url).await.is_err());
        assert_eq!(server.engine.session_count(), 0);
    })
    .await;
}

// ---------------------------------------------------------------------------
// A poll whose connection goes away

/// A long-poll whose client disconnects must not swallow what the server
/// sends next: either the session fails (as the official server does,
/// "poll connection closed prematurely") or the message waits for the
/// next poll.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abandoned_poll_loses_no_message() {
    within(async {
        let mut server = TestServer::start(calm()).await;
        let (sid, _) = server.handshake().await;
        let socket = server.connected(&sid).await;
        let mut tcp = TcpStream::connect(server.addr).await.expect("connect");
        let req = format!(
            "GET {} HTTP/1.1\r\nhost: {}\r\n\r\n",
            server.polling(&sid),
            server.addr
        );
        tcp.write_all(req.as_bytes()).await.expect("write");
        // Nothing tells when the server has parked the poll, nor when it
        // has noticed the disconnect: give it time for each.
        tokio::time::sleep(Duration::from_millis(200)).await;
        drop(tcp);
        tokio::time::sleep(Duration::from_millis(200)).await;
        if socket.send_text("precious") == Err(SendError::Closed) {
            // The session failed when its poll went away: fine.
            server.disconnected(&sid).await;
            return;
        }
        let r = tokio::time::timeout(Duration::from_secs(2), server.poll(&sid)).await;
        match r {
            Ok(r) if r.status == StatusCode::OK => {
                assert_eq!(r.packets(), [Packet::text("precious")])
            }
            Ok(r) => r.assert_error(StatusCode::BAD_REQUEST, 1, "Session ID unknown"),
            Err(_) => panic!("the message was lost: the next poll got nothing"),
        }
    })
    .await;
}

/// A raw HTTP/1.1 exchange, for what hyper's client would not send.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_http_handshake() {
    within(async {
        let server = TestServer::start(fast()).await;
        let mut tcp = TcpStream::connect(server.addr).await.expect("connect");
        let req = "GET /engine.io/?EIO=4&transport=polling&t=abc&j=0 HTTP/1.1\r\n\
                   host: x\r\nconnection: close\r\n\r\n";
        tcp.write_all(req.as_bytes()).await.expect("write");
        let mut out = Vec::new();
        step("raw response", tcp.read_to_end(&mut out))
            .await
            .expect("read");
        let out = String::from_utf8(out).expect("UTF-8");
        assert!(out.starts_with("HTTP/1.1 200 OK\r\n"), "{out}");
        assert!(out.contains("\r\n\r\n0{\"sid\":\""), "{out}");
    })
    .await;
}
