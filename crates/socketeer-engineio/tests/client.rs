//! Integration tests of the Engine.IO client against this crate's server
//! ([`EngineIo`] served in-process on 127.0.0.1) in all three transport
//! modes, and against tiny fake servers for the heartbeat watchdog.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use socketeer_engineio::client::{
    connect, ClientOptions, CloseReason, EngineClient, EngineEvents, Event, SendError,
    TransportKind, Transports,
};
use socketeer_engineio::server::{
    CloseReason as ServerReason, EngineHandler, EngineIo, EngineIoConfig, Socket,
};
use socketeer_engineio::Payload;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// Longest wait for any one thing.
const STEP: Duration = Duration::from_secs(5);
/// Bound on a whole test.
const TEST: Duration = Duration::from_secs(20);

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

const MODES: [Transports; 3] = [Transports::Polling, Transports::WebSocket, Transports::Both];

// ---------------------------------------------------------------------------
// The server

#[derive(Debug)]
enum ServerEvent {
    Connect(Socket),
    Message(String, Payload),
    Disconnect(String, ServerReason),
}

/// Echoes every message; a text message "close" makes the server close the
/// session instead.
struct Echo(mpsc::UnboundedSender<ServerEvent>);

impl EngineHandler for Echo {
    fn on_connect(&self, socket: &Socket) {
        let _ = self.0.send(ServerEvent::Connect(socket.clone()));
    }

    fn on_message(&self, socket: &Socket, message: Payload) {
        let _ = self.0.send(ServerEvent::Message(
            socket.id().to_owned(),
            message.clone(),
        ));
        if matches!(&message, Payload::Text(t) if t.as_str() == "close") {
            socket.close();
            return;
        }
        let _ = socket.send(message);
    }

    fn on_disconnect(&self, socket: &Socket, reason: ServerReason) {
        let _ = self
            .0
            .send(ServerEvent::Disconnect(socket.id().to_owned(), reason));
    }
}

struct TestServer {
    addr: SocketAddr,
    engine: EngineIo,
    events: mpsc::UnboundedReceiver<ServerEvent>,
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
        let engine = EngineIo::new(config, Arc::new(Echo(tx)));
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("local addr");
        let serve = tokio::spawn(engine.clone().serve(listener));
        TestServer {
            addr,
            engine,
            events,
            serve,
        }
    }

    fn options(&self, transports: Transports) -> ClientOptions {
        let mut options = ClientOptions::new(format!("http://{}", self.addr));
        options.transports = transports;
        options
    }

    /// The next connect (skipping other events).
    async fn connected(&mut self) -> Socket {
        loop {
            match step("server connect", self.events.recv()).await {
                Some(ServerEvent::Connect(s)) => return s,
                Some(_) => {}
                None => panic!("server gone"),
            }
        }
    }

    /// The next disconnect (skipping other events).
    async fn disconnected(&mut self) -> (String, ServerReason) {
        loop {
            match step("server disconnect", self.events.recv()).await {
                Some(ServerEvent::Disconnect(sid, reason)) => return (sid, reason),
                Some(_) => {}
                None => panic!("server gone"),
            }
        }
    }

    /// The next message the server received (skipping other events).
    async fn received(&mut self) -> (String, Payload) {
        loop {
            match step("server message", self.events.recv()).await {
                Some(ServerEvent::Message(sid, m)) => return (sid, m),
                Some(_) => {}
                None => panic!("server gone"),
            }
        }
    }

    fn assert_no_disconnect(&mut self) {
        while let Ok(e) = self.events.try_recv() {
            assert!(
                !matches!(e, ServerEvent::Disconnect(..)),
                "unexpected {e:?}"
            );
        }
    }
}

/// A ping every 300 ms, 1 s to answer it (a missing pong ends the session
/// 1.3 s in; the margin keeps a loaded machine from failing the tests),
/// and room for 1 MB messages in base64.
fn fast() -> EngineIoConfig {
    EngineIoConfig {
        ping_interval: Duration::from_millis(300),
        ping_timeout: Duration::from_millis(1000),
        max_payload: 4_000_000,
        ..Default::default()
    }
}

/// The next event that is not `Upgraded`.
async fn next_data(events: &mut EngineEvents) -> Event {
    loop {
        match step("a client event", events.next()).await {
            Some(Event::Upgraded) => {}
            Some(e) => return e,
            None => panic!("events ended"),
        }
    }
}

async fn closed(events: &mut EngineEvents) -> CloseReason {
    loop {
        match step("the client's close", events.next()).await {
            Some(Event::Closed(reason)) => {
                assert_eq!(events.next().await, None, "events end after Closed");
                return reason;
            }
            Some(_) => {}
            None => panic!("events ended without Closed"),
        }
    }
}

async fn open(
    server: &mut TestServer,
    transports: Transports,
) -> (EngineClient, EngineEvents, Socket) {
    let (client, events) = step("connect", connect(server.options(transports)))
        .await
        .unwrap_or_else(|e| panic!("connect ({transports:?}): {e}"));
    let socket = server.connected().await;
    assert_eq!(socket.id(), client.sid());
    (client, events, socket)
}

// ---------------------------------------------------------------------------
// Tests

#[tokio::test]
async fn echo_text_and_binary() {
    within(async {
        let mut server = TestServer::start(fast()).await;
        for mode in MODES {
            let (client, mut events, _socket) = open(&mut server, mode).await;
            assert_eq!(client.handshake().ping_interval, 300);
            assert_eq!(client.ping_timeout(), Duration::from_millis(1000));
            assert_eq!(client.handshake().max_payload, 4_000_000);
            let expected_start = match mode {
                Transports::WebSocket => TransportKind::WebSocket,
                _ => TransportKind::Polling,
            };
            assert_eq!(client.transport(), expected_start);
            for i in 0..50u8 {
                client.send_text(format!("hello €{i}")).unwrap();
                client.send_binary(vec![i, 0, 255]).unwrap();
            }
            for i in 0..50u8 {
                assert_eq!(
                    next_data(&mut events).await,
                    Event::Message(format!("hello €{i}").into()),
                    "{mode:?}"
                );
                assert_eq!(
                    next_data(&mut events).await,
                    Event::Binary(Bytes::from(vec![i, 0, 255])),
                    "{mode:?}"
                );
            }
            client.close();
            assert_eq!(closed(&mut events).await, CloseReason::ForcedClose);
            assert!(client.is_closed());
            assert_eq!(client.send_text("late"), Err(SendError::Closed));
            let (sid, reason) = server.disconnected().await;
            assert_eq!(sid, client.sid());
            assert_eq!(reason, ServerReason::TransportClose, "{mode:?}");
        }
    })
    .await;
}

#[tokio::test]
async fn large_messages() {
    within(async {
        let mut server = TestServer::start(fast()).await;
        for mode in MODES {
            let (client, mut events, _socket) = open(&mut server, mode).await;
            let text: String = (0..1_000_000)
                .map(|i| char::from(b'a' + (i % 26) as u8))
                .collect();
            let binary: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();
            client.send_text(text.clone()).unwrap();
            client.send_binary(binary.clone()).unwrap();
            client.send_text("after").unwrap();
            match next_data(&mut events).await {
                Event::Message(t) => assert!(t.as_str() == text, "{mode:?}: text differs"),
                other => panic!("{mode:?}: {other:?}"),
            }
            match next_data(&mut events).await {
                Event::Binary(b) => assert!(b[..] == binary[..], "{mode:?}: binary differs"),
                other => panic!("{mode:?}: {other:?}"),
            }
            assert_eq!(next_data(&mut events).await, Event::Message("after".into()));
            client.close();
            assert_eq!(closed(&mut events).await, CloseReason::ForcedClose);
        }
    })
    .await;
}

#[tokio::test]
async fn upgrade_to_websocket() {
    within(async {
        let mut server = TestServer::start(fast()).await;
        let (client, mut events, socket) = open(&mut server, Transports::Both).await;
        assert_eq!(client.transport(), TransportKind::Polling);
        assert_eq!(client.handshake().upgrades, ["websocket"]);
        // Messages sent around the upgrade arrive once each, in order.
        let mut received = Vec::new();
        let mut upgraded = false;
        for i in 0..200 {
            client.send_text(format!("m{i}")).unwrap();
            if i % 20 == 0 {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
        while received.len() < 200 {
            match step("echo", events.next()).await {
                Some(Event::Message(t)) => received.push(t.to_string()),
                Some(Event::Upgraded) => upgraded = true,
                other => panic!("{other:?}"),
            }
        }
        let expected: Vec<String> = (0..200).map(|i| format!("m{i}")).collect();
        assert_eq!(received, expected);
        if !upgraded {
            assert_eq!(step("upgrade", events.next()).await, Some(Event::Upgraded));
        }
        assert_eq!(client.transport(), TransportKind::WebSocket);
        assert_eq!(socket.transport(), TransportKind::WebSocket);
        // 0x1E is fine on WebSocket.
        client.send_text("a\x1eb").unwrap();
        assert_eq!(
            next_data(&mut events).await,
            Event::Message("a\x1eb".into())
        );
        client.close();
        assert_eq!(closed(&mut events).await, CloseReason::ForcedClose);
        assert_eq!(server.disconnected().await.1, ServerReason::TransportClose);
    })
    .await;
}

#[tokio::test]
async fn polling_only_never_upgrades() {
    within(async {
        let mut server = TestServer::start(fast()).await;
        let (client, mut events, socket) = open(&mut server, Transports::Polling).await;
        assert_eq!(client.send_text("a\x1eb"), Err(SendError::RecordSeparator));
        tokio::time::sleep(Duration::from_millis(400)).await;
        client.send_text("x").unwrap();
        assert_eq!(next_data(&mut events).await, Event::Message("x".into()));
        assert_eq!(client.transport(), TransportKind::Polling);
        assert_eq!(socket.transport(), TransportKind::Polling);
        client.close();
        assert_eq!(closed(&mut events).await, CloseReason::ForcedClose);
    })
    .await;
}

#[tokio::test]
async fn heartbeat_is_answered() {
    within(async {
        let mut server = TestServer::start(fast()).await;
        let mut clients = Vec::new();
        for mode in MODES {
            clients.push((mode, open(&mut server, mode).await));
        }
        // Six ping intervals: a missed pong would end a session 1.3 s in.
        tokio::time::sleep(Duration::from_millis(1800)).await;
        server.assert_no_disconnect();
        for (mode, (client, events, _socket)) in &mut clients {
            assert!(!client.is_closed(), "{mode:?}");
            client.send_text("still here").unwrap();
            assert_eq!(
                next_data(events).await,
                Event::Message("still here".into()),
                "{mode:?}"
            );
        }
    })
    .await;
}

#[tokio::test]
async fn server_close() {
    within(async {
        let mut server = TestServer::start(fast()).await;
        for mode in MODES {
            let (client, mut events, _socket) = open(&mut server, mode).await;
            client.send_text("one").unwrap();
            client.send_text("close").unwrap();
            assert_eq!(next_data(&mut events).await, Event::Message("one".into()));
            assert_eq!(
                closed(&mut events).await,
                CloseReason::TransportClose,
                "{mode:?}"
            );
            assert!(client.is_closed());
            assert_eq!(server.disconnected().await.1, ServerReason::ForcedClose);
        }
    })
    .await;
}

#[tokio::test]
async fn server_shutdown_is_a_transport_close() {
    within(async {
        for mode in MODES {
            let mut server = TestServer::start(fast()).await;
            let (_client, mut events, _socket) = open(&mut server, mode).await;
            server.engine.shutdown();
            assert_eq!(
                closed(&mut events).await,
                CloseReason::TransportClose,
                "{mode:?}"
            );
        }
    })
    .await;
}

#[tokio::test]
async fn dropping_every_handle_closes() {
    within(async {
        let mut server = TestServer::start(fast()).await;
        for mode in MODES {
            let (client, mut events, _socket) = open(&mut server, mode).await;
            let clone = client.clone();
            drop(client);
            clone.send_text("last").unwrap();
            drop(clone);
            // What was queued leaves before the close packet.
            let (sid, message) = server.received().await;
            assert_eq!(message, Payload::Text("last".into()));
            assert_eq!(closed(&mut events).await, CloseReason::ForcedClose);
            assert_eq!(
                server.disconnected().await,
                (sid, ServerReason::TransportClose)
            );
        }
    })
    .await;
}

#[tokio::test]
async fn polling_posts_respect_max_payload() {
    within(async {
        let mut server = TestServer::start(EngineIoConfig {
            max_payload: 1000,
            ..fast()
        })
        .await;
        let (client, mut events, _socket) = open(&mut server, Transports::Polling).await;
        // 300 x 101 bytes: the server refuses (and closes on) any POST over
        // 1000 bytes, so they must leave in batches under that.
        let message = "x".repeat(100);
        for _ in 0..300 {
            client.send_text(message.clone()).unwrap();
        }
        for _ in 0..300 {
            assert_eq!(
                next_data(&mut events).await,
                Event::Message(message.clone().into())
            );
        }
        server.assert_no_disconnect();
        client.close();
        assert_eq!(closed(&mut events).await, CloseReason::ForcedClose);
    })
    .await;
}

#[tokio::test]
async fn query_headers_and_path() {
    within(async {
        let mut server = TestServer::start(EngineIoConfig {
            path: "/custom/".into(),
            ..fast()
        })
        .await;
        for mode in MODES {
            let mut options = server.options(mode);
            options.url = format!("ws://{}/ignored?from=url", server.addr);
            options.path = "/custom/".into();
            options.query = vec![("token".into(), "a b&c".into())];
            options.headers = vec![("x-test".into(), "yes".into())];
            let (client, mut events) = step("connect", connect(options)).await.unwrap();
            let socket = server.connected().await;
            let request = socket.request();
            let query = request.uri.query().unwrap_or_default();
            assert!(query.contains("from=url"), "{mode:?}: {query}");
            assert!(query.contains("token=a%20b%26c"), "{mode:?}: {query}");
            assert!(request.uri.path().starts_with("/custom/"), "{mode:?}");
            assert_eq!(
                request.headers.get("x-test").map(|v| v.as_bytes()),
                Some(&b"yes"[..])
            );
            client.close();
            assert_eq!(closed(&mut events).await, CloseReason::ForcedClose);
        }
    })
    .await;
}

#[tokio::test]
async fn connect_errors() {
    within(async {
        // Nothing listens there.
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        for mode in MODES {
            let mut options = ClientOptions::new(format!("http://{addr}"));
            options.transports = mode;
            assert!(connect(options).await.is_err(), "{mode:?}");
        }
        assert!(connect(ClientOptions::new("ftp://x")).await.is_err());
        // A server that is not Engine.IO at that path.
        let server = TestServer::start(fast()).await;
        let mut options = server.options(Transports::Polling);
        options.path = "/nope/".into();
        assert!(connect(options).await.is_err());
        // A server that never answers.
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut options = ClientOptions::new(format!("http://{}", listener.local_addr().unwrap()));
        options.connect_timeout = Duration::from_millis(300);
        let err = connect(options).await.unwrap_err();
        assert!(
            matches!(err, socketeer_engineio::client::Error::Timeout),
            "{err}"
        );
    })
    .await;
}

// ---------------------------------------------------------------------------
// Fake servers that stop pinging

const SILENT_OPEN: &str =
    r#"0{"sid":"silent","upgrades":[],"pingInterval":200,"pingTimeout":100,"maxPayload":1000000}"#;

/// Answers the polling handshake; then, if `hold`, holds every later
/// request open without answering (no ping ever comes), else drops it
/// unanswered.
async fn fake_polling_server(hold: bool) -> (SocketAddr, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((mut tcp, _)) = listener.accept().await {
            let mut buf = vec![0u8; 4096];
            let n = tcp.read(&mut buf).await.unwrap_or(0);
            let request = String::from_utf8_lossy(&buf[..n]).into_owned();
            if request.starts_with("GET") && !request.contains("sid=") {
                let response = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=UTF-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}",
                    SILENT_OPEN.len(),
                    SILENT_OPEN
                );
                let _ = tcp.write_all(response.as_bytes()).await;
            } else if hold {
                held.push(tcp);
            }
        }
    });
    (addr, task)
}

/// Sends the open packet over WebSocket, then nothing (`hold`), or drops
/// the TCP connection without a close frame.
async fn fake_websocket_server(hold: bool) -> (SocketAddr, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((tcp, _)) = listener.accept().await {
            if let Ok(mut ws) = socketeer_ws::accept(tcp).await {
                let _ = ws.send(socketeer_ws::Message::text(SILENT_OPEN)).await;
                if hold {
                    held.push(tokio::spawn(async move {
                        // Keep reading (answers WebSocket pings) but never
                        // send an Engine.IO ping.
                        while let Some(Ok(_)) = ws.recv().await {}
                    }));
                }
            }
        }
    });
    (addr, task)
}

async fn fake_server(mode: Transports, hold: bool) -> (SocketAddr, JoinHandle<()>) {
    match mode {
        Transports::WebSocket => fake_websocket_server(hold).await,
        _ => fake_polling_server(hold).await,
    }
}

#[tokio::test]
async fn ping_timeout_detected() {
    within(async {
        for mode in [Transports::Polling, Transports::WebSocket] {
            let (addr, task) = fake_server(mode, true).await;
            let mut options = ClientOptions::new(format!("http://{addr}"));
            options.transports = mode;
            let start = tokio::time::Instant::now();
            let (client, mut events) = step("connect", connect(options)).await.unwrap();
            assert_eq!(client.sid(), "silent");
            assert_eq!(
                closed(&mut events).await,
                CloseReason::PingTimeout,
                "{mode:?}"
            );
            let took = start.elapsed();
            // pingInterval + pingTimeout = 300 ms.
            assert!(
                took >= Duration::from_millis(290) && took < Duration::from_secs(3),
                "{mode:?}: {took:?}"
            );
            assert!(client.is_closed());
            task.abort();
        }
    })
    .await;
}

#[tokio::test]
async fn abrupt_server_end() {
    within(async {
        // engine.io-client: a failed poll is a "transport error", a
        // WebSocket that closes (even without a close frame) a "transport
        // close".
        for (mode, expected) in [
            (Transports::Polling, CloseReason::TransportError),
            (Transports::WebSocket, CloseReason::TransportClose),
        ] {
            let (addr, task) = fake_server(mode, false).await;
            let mut options = ClientOptions::new(format!("http://{addr}"));
            options.transports = mode;
            let (_client, mut events) = step("connect", connect(options)).await.unwrap();
            assert_eq!(closed(&mut events).await, expected, "{mode:?}");
            task.abort();
        }
    })
    .await;
}

#[tokio::test]
async fn no_upgrade_when_not_offered() {
    within(async {
        let mut server = TestServer::start(EngineIoConfig {
            allow_upgrades: false,
            ..fast()
        })
        .await;
        let (client, mut events, socket) = open(&mut server, Transports::Both).await;
        assert!(client.handshake().upgrades.is_empty());
        // Past a heartbeat: still on polling, no Upgraded event.
        tokio::time::sleep(Duration::from_millis(600)).await;
        client.send_text("x").unwrap();
        assert_eq!(
            step("echo", events.next()).await,
            Some(Event::Message("x".into()))
        );
        assert_eq!(client.transport(), TransportKind::Polling);
        assert_eq!(socket.transport(), TransportKind::Polling);
        client.close();
        assert_eq!(closed(&mut events).await, CloseReason::ForcedClose);
    })
    .await;
}

/// A TCP proxy to `upstream` that refuses connections whose first request
/// is a WebSocket upgrade (400) and pipes every other connection through.
async fn no_websocket_proxy(upstream: SocketAddr) -> (SocketAddr, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        while let Ok((mut inbound, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut first = vec![0u8; 8192];
                let Ok(n) = inbound.read(&mut first).await else {
                    return;
                };
                let head = String::from_utf8_lossy(&first[..n]).to_ascii_lowercase();
                if head.contains("upgrade: websocket") {
                    let _ = inbound
                        .write_all(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                        .await;
                    return;
                }
                let Ok(mut outbound) = tokio::net::TcpStream::connect(upstream).await else {
                    return;
                };
                if outbound.write_all(&first[..n]).await.is_err() {
                    return;
                }
                let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
            });
        }
    });
    (addr, task)
}

#[tokio::test]
async fn failed_probe_stays_on_polling() {
    within(async {
        let mut server = TestServer::start(fast()).await;
        let (proxy, task) = no_websocket_proxy(server.addr).await;
        let mut options = server.options(Transports::Both);
        options.url = format!("http://{proxy}");
        let (client, mut events) = step("connect", connect(options)).await.unwrap();
        let socket = server.connected().await;
        assert_eq!(client.handshake().upgrades, ["websocket"]);
        // Past a few heartbeats: the failed probe left polling working.
        for i in 0..3 {
            tokio::time::sleep(Duration::from_millis(300)).await;
            client.send_text(format!("m{i}")).unwrap();
            assert_eq!(
                step("echo", events.next()).await,
                Some(Event::Message(format!("m{i}").into()))
            );
        }
        assert_eq!(client.transport(), TransportKind::Polling);
        assert_eq!(socket.transport(), TransportKind::Polling);
        server.assert_no_disconnect();
        client.close();
        assert_eq!(closed(&mut events).await, CloseReason::ForcedClose);
        task.abort();
    })
    .await;
}

#[tokio::test]
async fn backpressure_when_events_are_not_taken() {
    within(async {
        // No ping while the client is held up on purpose.
        let mut server = TestServer::start(EngineIoConfig {
            ping_interval: Duration::from_secs(30),
            ping_timeout: Duration::from_secs(30),
            ..Default::default()
        })
        .await;
        for mode in [Transports::WebSocket, Transports::Polling] {
            let mut options = server.options(mode);
            options.event_buffer = 1;
            options.max_queued_messages = 2;
            let (client, mut events) = step("connect", connect(options)).await.unwrap();
            let _socket = server.connected().await;
            // Events are not taken: the session task stops reading, stops
            // taking messages, and the send queue fills up.
            let mut sent = 0;
            let full = step("a full send queue", async {
                loop {
                    match client.send_text(format!("m{sent}")) {
                        Ok(()) => sent += 1,
                        Err(SendError::QueueFull) => break sent,
                        Err(e) => panic!("{e}"),
                    }
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
            })
            .await;
            assert!(
                full < 3000,
                "{mode:?}: {full} messages before the queue filled"
            );
            // send_wait waits for room; taking events makes room.
            let waiting = {
                let client = client.clone();
                tokio::spawn(async move { client.send_wait(Payload::Text("last".into())).await })
            };
            for i in 0..full {
                assert_eq!(
                    next_data(&mut events).await,
                    Event::Message(format!("m{i}").into()),
                    "{mode:?}"
                );
            }
            step("send_wait", waiting).await.unwrap().unwrap();
            assert_eq!(next_data(&mut events).await, Event::Message("last".into()));
            client.close();
            assert_eq!(closed(&mut events).await, CloseReason::ForcedClose);
            assert_eq!(
                client.send_wait(Payload::Text("x".into())).await,
                Err(SendError::Closed)
            );
        }
    })
    .await;
}

#[tokio::test]
async fn send_queue_bounded_by_bytes() {
    within(async {
        let mut server = TestServer::start(EngineIoConfig {
            ping_interval: Duration::from_secs(30),
            ping_timeout: Duration::from_secs(30),
            ..Default::default()
        })
        .await;
        for mode in [Transports::WebSocket, Transports::Polling] {
            let mut options = server.options(mode);
            options.event_buffer = 1;
            options.max_queued_bytes = 1000;
            let (client, mut events) = step("connect", connect(options)).await.unwrap();
            let _socket = server.connected().await;
            // Events are not taken: the task stops writing; 100-byte
            // messages fill the 1,000 bytes long before 10,000 messages.
            let big = "x".repeat(100);
            let mut sent = 0;
            let full = step("a full send queue", async {
                loop {
                    match client.send_text(big.clone()) {
                        Ok(()) => sent += 1,
                        Err(SendError::QueueFull) => break sent,
                        Err(e) => panic!("{e}"),
                    }
                    assert!(client.queued_bytes() <= 1000, "{mode:?}");
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
            })
            .await;
            assert!(
                full < 100,
                "{mode:?}: {full} messages before the queue filled"
            );
            assert!(client.queued_bytes() > 900, "{mode:?}");
            // send_wait waits for room; taking events makes room.
            let waiting = {
                let client = client.clone();
                tokio::spawn(async move { client.send_wait(Payload::Text("last".into())).await })
            };
            for _ in 0..full {
                assert_eq!(
                    next_data(&mut events).await,
                    Event::Message(big.clone().into()),
                    "{mode:?}"
                );
            }
            step("send_wait", waiting).await.unwrap().unwrap();
            assert_eq!(next_data(&mut events).await, Event::Message("last".into()));
            client.close();
            assert_eq!(closed(&mut events).await, CloseReason::ForcedClose);
        }
    })
    .await;
}
