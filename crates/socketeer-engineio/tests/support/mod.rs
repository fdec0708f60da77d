//! The fixture of the `server_*` integration tests: the Engine.IO v4
//! server over real sockets on
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
//!
//! Each `server_*.rs` test file includes this module (`mod support;`) and
//! uses part of it.
#![allow(dead_code)]

pub mod raw;

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
    CloseReason, EngineHandler, EngineIo, EngineIoConfig, SendError, Socket,
};
use socketeer_engineio::{payload, Limits, Packet, Payload, Utf8Bytes};
use socketeer_ws::CloseFrame;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// Longest wait for any one thing the server or a client should do.
pub const STEP: Duration = Duration::from_secs(3);
/// Bound on a whole test.
pub const TEST: Duration = Duration::from_secs(9);

pub async fn within<T>(test: impl Future<Output = T>) -> T {
    tokio::time::timeout(TEST, test)
        .await
        .unwrap_or_else(|_| panic!("test did not finish within {TEST:?}"))
}

pub async fn step<T>(what: &str, f: impl Future<Output = T>) -> T {
    tokio::time::timeout(STEP, f)
        .await
        .unwrap_or_else(|_| panic!("timed out after {STEP:?}: {what}"))
}

// ---------------------------------------------------------------------------
// The server under test

/// What the handler saw.
#[derive(Debug)]
pub enum Event {
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
pub struct Recorder(pub mpsc::UnboundedSender<Event>);

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
pub fn fast() -> EngineIoConfig {
    EngineIoConfig {
        ping_interval: Duration::from_millis(300),
        ping_timeout: Duration::from_millis(200),
        ..Default::default()
    }
}

/// No ping within any test's lifetime, for tests that step a session by
/// hand.
pub fn calm() -> EngineIoConfig {
    EngineIoConfig {
        ping_interval: Duration::from_secs(30),
        ping_timeout: Duration::from_secs(30),
        ..Default::default()
    }
}

pub struct TestServer {
    pub addr: SocketAddr,
    pub engine: EngineIo,
    pub events: mpsc::UnboundedReceiver<Event>,
    /// Events received but not yet asked for.
    pub backlog: Vec<Event>,
    pub serve: JoinHandle<std::io::Result<()>>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.serve.abort();
    }
}

impl TestServer {
    pub async fn start(config: EngineIoConfig) -> TestServer {
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

    /// The server served by [`EngineIo::serve_mounted`] beside a handler
    /// that answers every other request with `page METHOD PATH BODY`,
    /// until `stop` is sent (or dropped).
    pub async fn start_mounted(
        config: EngineIoConfig,
    ) -> (TestServer, tokio::sync::oneshot::Sender<()>) {
        let (tx, events) = mpsc::unbounded_channel();
        let engine = EngineIo::new(config, Arc::new(Recorder(tx)));
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("local addr");
        let pages = |req: Request<socketeer_engineio::server::RequestBody>, _| async move {
            let (parts, body) = req.into_parts();
            let body = body
                .collect()
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            let page = format!(
                "page {} {} {}",
                parts.method,
                parts.uri,
                String::from_utf8_lossy(&body)
            );
            http::Response::new(Full::new(Bytes::from(page)))
        };
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let signal = async move {
            let _ = stopped.await;
        };
        let mounted = engine.clone();
        let serve = tokio::spawn(async move {
            let options = socketeer_engineio::server::HttpOptions::default();
            mounted
                .serve_mounted(listener, pages, signal, &options)
                .await
        });
        let server = TestServer {
            addr,
            engine,
            events,
            backlog: Vec::new(),
            serve,
        };
        (server, stop)
    }

    /// The first event (received or yet to come) that `pick` accepts.
    pub async fn event<T>(&mut self, what: &str, mut pick: impl FnMut(&Event) -> Option<T>) -> T {
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

    pub async fn connected(&mut self, sid: &str) -> Socket {
        self.event(&format!("connect of {sid}"), |e| match e {
            Event::Connect(s) if s.id() == sid => Some(s.clone()),
            _ => None,
        })
        .await
    }

    pub async fn received(&mut self, sid: &str) -> Payload {
        self.event(&format!("a message from {sid}"), |e| match e {
            Event::Message(s, m) if s == sid => Some(m.clone()),
            _ => None,
        })
        .await
    }

    /// Waits for the session's disconnect and checks the socket no longer
    /// sends.
    pub async fn disconnected(&mut self, sid: &str) -> CloseReason {
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
    pub fn assert_alive(&mut self, sid: &str) {
        while let Ok(e) = self.events.try_recv() {
            self.backlog.push(e);
        }
        let gone = self
            .backlog
            .iter()
            .any(|e| matches!(e, Event::Disconnect { sid: s, .. } if s == sid));
        assert!(!gone, "session {sid} closed: {:?}", self.backlog);
    }

    pub fn polling(&self, sid: &str) -> String {
        format!("/engine.io/?EIO=4&transport=polling&sid={sid}")
    }

    /// A polling handshake: the session id and the open packet's JSON.
    pub async fn handshake(&self) -> (String, Value) {
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

    pub async fn poll(&self, sid: &str) -> Resp {
        get(self.addr, &self.polling(sid)).await
    }

    pub async fn post(&self, sid: &str, body: impl Into<Bytes>) -> Resp {
        post(self.addr, &self.polling(sid), body).await
    }

    /// POSTs a payload and checks it was accepted.
    pub async fn post_ok(&self, sid: &str, body: impl Into<Bytes>) {
        let r = self.post(sid, body).await;
        assert_eq!(r.status, StatusCode::OK, "POST: {r:?}");
        assert_eq!(r.text(), "ok");
    }

    pub fn poller(&self, sid: &str) -> Poller {
        Poller::start(self.addr, sid)
    }

    pub async fn websocket(&self) -> (WsClient, socketeer_engineio::OpenPacket) {
        let mut ws = WsClient::connect(self.addr, "").await;
        match ws.next().await {
            WsEvent::Packet(Packet::Open(open)) => (ws, open),
            other => panic!("expected an open packet, got {other:?}"),
        }
    }
}

// ---------------------------------------------------------------------------
// HTTP

pub struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl std::fmt::Debug for Resp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let body = String::from_utf8_lossy(&self.body);
        let body: String = body.chars().take(200).collect();
        write!(f, "{} {:?} {body:?}", self.status, self.headers)
    }
}

impl Resp {
    pub fn text(&self) -> &str {
        std::str::from_utf8(&self.body).expect("a UTF-8 body")
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().expect("ASCII"))
    }

    /// The packets of a 200 polling response.
    pub fn packets(&self) -> Vec<Packet> {
        assert_eq!(self.status, StatusCode::OK, "poll: {self:?}");
        assert_eq!(
            self.header("content-type"),
            Some("text/plain; charset=UTF-8")
        );
        payload::decode(self.body.clone(), &Limits::UNLIMITED)
            .unwrap_or_else(|e| panic!("invalid payload {self:?}: {e}"))
    }

    /// One of the official error responses.
    pub fn assert_error(&self, status: StatusCode, code: u8, message: &str) {
        assert_eq!(self.status, status, "{self:?}");
        assert_eq!(self.header("content-type"), Some("application/json"));
        let v: Value = serde_json::from_slice(&self.body).expect("a JSON error body");
        assert_eq!(v, json!({ "code": code, "message": message }));
    }
}

pub async fn request(
    addr: SocketAddr,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
    body: Bytes,
) -> Resp {
    let tcp = step("connect", TcpStream::connect(addr))
        .await
        .expect("connect");
    request_on(tcp, addr, method, path, headers, body).await
}

/// A TCP connection to `addr` from the loopback address `from` (on Linux
/// all of 127.0.0.0/8 is loopback), to stand for another client.
pub async fn connect_from(from: &str, addr: SocketAddr) -> TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    let from: std::net::IpAddr = from.parse().expect("an address");
    socket.bind(SocketAddr::new(from, 0)).expect("bind");
    step("connect", socket.connect(addr))
        .await
        .expect("connect")
}

/// A GET of `path` on a new connection from the loopback address `from`.
pub async fn get_from(from: &str, addr: SocketAddr, path: &str) -> Resp {
    let tcp = connect_from(from, addr).await;
    request_on(tcp, addr, Method::GET, path, &[], Bytes::new()).await
}

/// One request on the connection `tcp` to `addr`.
pub async fn request_on(
    tcp: TcpStream,
    addr: SocketAddr,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
    body: Bytes,
) -> Resp {
    let what = format!("{method} {path}");
    step(&what, async {
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

pub async fn get(addr: SocketAddr, path: &str) -> Resp {
    request(addr, Method::GET, path, &[], Bytes::new()).await
}

pub async fn post(addr: SocketAddr, path: &str, body: impl Into<Bytes>) -> Resp {
    let headers = [("content-type", "text/plain;charset=UTF-8")];
    request(addr, Method::POST, path, &headers, body.into()).await
}

pub fn text(s: &str) -> Payload {
    Payload::Text(Utf8Bytes::from(s.to_owned()))
}

pub fn binary(b: &[u8]) -> Payload {
    Payload::Binary(Bytes::copy_from_slice(b))
}

/// The packets that are not heartbeats.
pub fn without_pings(packets: Vec<Packet>) -> Vec<Packet> {
    packets
        .into_iter()
        .filter(|p| !matches!(p, Packet::Ping(None)))
        .collect()
}

// ---------------------------------------------------------------------------
// A long-polling client that keeps a GET outstanding and answers pings

#[derive(Debug)]
pub enum Polled {
    Packet(Packet),
    /// A GET that did not answer 200; the poller stops.
    Refused(Resp),
}

pub struct Poller {
    pub rx: mpsc::UnboundedReceiver<Polled>,
    pub task: JoinHandle<()>,
}

impl Drop for Poller {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Poller {
    pub fn start(addr: SocketAddr, sid: &str) -> Poller {
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

    pub async fn next(&mut self) -> Polled {
        step("the next polled packet", self.rx.recv())
            .await
            .expect("the poller stopped")
    }

    /// The next packet that is neither a ping nor a noop.
    pub async fn packet(&mut self) -> Packet {
        loop {
            match self.next().await {
                Polled::Packet(Packet::Ping(None) | Packet::Noop) => {}
                Polled::Packet(p) => return p,
                Polled::Refused(r) => panic!("poll refused: {r:?}"),
            }
        }
    }

    pub async fn message(&mut self) -> Payload {
        match self.packet().await {
            Packet::Message(m) => m,
            other => panic!("expected a message, got {other:?}"),
        }
    }
}

// ---------------------------------------------------------------------------
// A WebSocket client that reads in the background and answers pings

#[derive(Debug)]
pub enum WsEvent {
    Packet(Packet),
    /// A close frame arrived.
    Closed(Option<CloseFrame>),
    /// The connection ended (after a close frame or not).
    Ended,
    Error(String),
}

pub enum WsCmd {
    Send(socketeer_ws::Message),
    /// Several messages in one write.
    SendBatch(Vec<socketeer_ws::Message>),
    Close,
    /// Drop the TCP connection without a close frame.
    Abort,
}

pub struct WsClient {
    pub out: mpsc::UnboundedSender<WsCmd>,
    pub rx: mpsc::UnboundedReceiver<WsEvent>,
    pub auto_pong: Arc<AtomicBool>,
    pub task: JoinHandle<()>,
}

impl Drop for WsClient {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl WsClient {
    /// Opens `/engine.io/?EIO=4&transport=websocket` plus `extra`.
    pub async fn connect(addr: SocketAddr, extra: &str) -> WsClient {
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

    pub fn send_text(&self, s: &str) {
        let _ = self
            .out
            .send(WsCmd::Send(socketeer_ws::Message::text(s.to_owned())));
    }

    /// Sends these text messages in one write.
    pub fn send_text_batch(&self, texts: impl IntoIterator<Item = String>) {
        let batch = texts.into_iter().map(socketeer_ws::Message::text).collect();
        let _ = self.out.send(WsCmd::SendBatch(batch));
    }

    pub fn send_binary(&self, b: &[u8]) {
        let _ = self.out.send(WsCmd::Send(socketeer_ws::Message::binary(
            Bytes::copy_from_slice(b),
        )));
    }

    pub async fn next(&mut self) -> WsEvent {
        step("the next websocket event", self.rx.recv())
            .await
            .expect("the websocket reader stopped")
    }

    /// The next packet that is neither a ping nor a noop.
    pub async fn packet(&mut self) -> Packet {
        loop {
            match self.next().await {
                WsEvent::Packet(Packet::Ping(None) | Packet::Noop) => {}
                WsEvent::Packet(p) => return p,
                WsEvent::Error(e) => panic!("websocket error: {e}"),
                other => panic!("expected a packet, got {other:?}"),
            }
        }
    }

    pub async fn message(&mut self) -> Payload {
        match self.packet().await {
            Packet::Message(m) => m,
            other => panic!("expected a message, got {other:?}"),
        }
    }

    /// Skips pings until the server closes; returns its close frame.
    pub async fn closed(&mut self) -> Option<CloseFrame> {
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
