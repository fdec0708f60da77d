//! Peers that send a lot and never read: the server's memory stays bounded
//! and the peer is disconnected once its send queue crosses its limit.
//!
//! Each test runs a server in this process, floods it from a raw client
//! that never reads (256 MB at most), samples this process's RSS
//! (`VmRSS`) and prints its figures (`cargo test -p socketeer-engineio
//! --test slow_readers -- --nocapture`; `--release` for release figures).
//! The tests run one at a time: they measure the same process.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use socketeer_engineio::server::{CloseReason, EngineHandler, EngineIo, EngineIoConfig, Socket};
use socketeer_engineio::Payload;
use socketeer_ws::{Message, Protocol, Role, ServerConfig, StreamConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// One test at a time: they read the same process's RSS.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// What a flood may send in all.
const FLOOD_BYTES: usize = 256 << 20;
/// The most the server's RSS may grow.
const RSS_BOUND: usize = 64 << 20;
/// The queue limit under test (the default of both layers).
const LIMIT: usize = 8 << 20;
/// A flood whose writes are not taken for this long is over.
const STALL: Duration = Duration::from_secs(1);
/// Close timeout of the server's WebSockets in these tests.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

fn rss() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<usize>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// Samples the RSS every 2 ms on a thread of its own until dropped.
struct RssPeak {
    baseline: usize,
    peak: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl RssPeak {
    fn start() -> RssPeak {
        let baseline = rss();
        let peak = Arc::new(AtomicUsize::new(baseline));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (peak, stop) = (peak.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    peak.fetch_max(rss(), Ordering::Relaxed);
                    std::thread::sleep(Duration::from_millis(2));
                }
            })
        };
        RssPeak {
            baseline,
            peak,
            stop,
            thread: Some(thread),
        }
    }

    /// Stops sampling; returns (baseline, peak).
    fn finish(mut self) -> (usize, usize) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        (self.baseline, self.peak.load(Ordering::Relaxed))
    }
}

fn mb(n: usize) -> f64 {
    n as f64 / (1 << 20) as f64
}

/// Opens a WebSocket on `path` with a hand-written handshake, so that the
/// caller holds the bare TCP stream and reads only when it chooses.
async fn raw_websocket(addr: std::net::SocketAddr, path: &str) -> TcpStream {
    let mut tcp = TcpStream::connect(addr).await.expect("connect");
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    tcp.write_all(request.as_bytes()).await.expect("request");
    // Up to the end of the response head, one byte at a time: nothing of
    // what follows is taken.
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let b = tcp.read_u8().await.expect("response head");
        head.push(b);
        assert!(head.len() < 4096, "response head too long");
    }
    let head = String::from_utf8_lossy(&head);
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    tcp
}

/// `count` copies of a masked client frame carrying `message`, in one
/// buffer written again and again (the server unmasks each as usual).
fn frames(message: Message, count: usize) -> Bytes {
    let mut client = Protocol::new(Role::Client);
    for _ in 0..count {
        client.send(message.clone()).expect("a valid message");
    }
    client.take_output()
}

/// Writes `chunk` until `FLOOD_BYTES` are sent, the server has given up
/// on this connection (`gave_up`), a write fails or the server has taken
/// nothing for a second (it no longer reads). Returns the bytes written
/// and when the last write went through.
async fn flood(tcp: &mut TcpStream, chunk: &Bytes, gave_up: &AtomicBool) -> (usize, Instant) {
    let mut sent = 0;
    // Bytes of the current chunk already written: a single `write` is
    // cancel-safe where `write_all` is not (a cancelled `write_all` would
    // leave half a frame behind, and the next chunk would corrupt it).
    let mut at = 0;
    let mut last = Instant::now();
    while sent < FLOOD_BYTES && !gave_up.load(Ordering::Relaxed) {
        match tokio::time::timeout(Duration::from_millis(100), tcp.write(&chunk[at..])).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => {
                at += n;
                if at == chunk.len() {
                    sent += chunk.len();
                    at = 0;
                }
                last = Instant::now();
            }
            Err(_) if last.elapsed() > STALL => break,
            // Look at the flag again.
            Err(_) => {}
        }
    }
    (sent, last)
}

/// Reads what the server still sends until its close frame; returns the
/// close code and the bytes of data read before it.
async fn close_code(tcp: &mut TcpStream) -> (Option<u16>, usize) {
    let mut proto = Protocol::new(Role::Client);
    let mut buf = BytesMut::with_capacity(1 << 16);
    let mut data = 0;
    let deadline = Instant::now() + CLOSE_TIMEOUT + Duration::from_secs(5);
    loop {
        loop {
            match proto.receive(&mut buf) {
                Ok(Some(Message::Close(frame))) => return (frame.map(|f| f.code.0), data),
                Ok(Some(Message::Text(t))) => data += t.len(),
                Ok(Some(Message::Binary(b))) => data += b.len(),
                Ok(Some(_)) => {}
                Ok(None) => break,
                Err(e) => panic!("bad frame from the server: {e}"),
            }
        }
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, tcp.read_buf(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => return (None, data),
            Ok(Ok(_)) => {}
        }
    }
}

fn check_rss(what: &str, baseline: usize, peak: usize) {
    println!(
        "{what}: RSS baseline {:.1} MiB, peak {:.1} MiB (+{:.1} MiB; bound +{:.0} MiB)",
        mb(baseline),
        mb(peak),
        mb(peak.saturating_sub(baseline)),
        mb(RSS_BOUND)
    );
    assert!(
        peak.saturating_sub(baseline) < RSS_BOUND,
        "{what}: RSS grew by {:.1} MiB",
        mb(peak - baseline)
    );
}

/// A raw WebSocket echo server, and a client that floods it with pings (the
/// protocol's own echo requests) and never reads the pongs: the pongs stop
/// at the send queue's limit and the connection fails with 1008.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_ping_flood_from_a_peer_that_never_reads() {
    let _serial = SERIAL.lock().await;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let config = ServerConfig {
        stream: StreamConfig {
            close_timeout: CLOSE_TIMEOUT,
            ..StreamConfig::default()
        },
        ..ServerConfig::default()
    };
    assert_eq!(
        config.stream.max_send_queue, LIMIT,
        "the documented default"
    );
    let failed = Arc::new(AtomicBool::new(false));
    let server = {
        let failed = failed.clone();
        tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            let mut ws = socketeer_ws::accept_with_config(tcp, &config)
                .await
                .unwrap()
                .ws;
            let mut pings = 0usize;
            let mut max_queued = 0;
            // The echo loop of interop/examples/echo.rs.
            let end = loop {
                match ws.recv().await {
                    Some(Ok(m @ (Message::Text(_) | Message::Binary(_)))) => {
                        if let Err(e) = ws.feed(m).await {
                            break Some(e);
                        }
                    }
                    Some(Ok(Message::Ping(_))) => pings += 1,
                    Some(Ok(_)) => {}
                    Some(Err(e)) => {
                        failed.store(true, Ordering::Relaxed);
                        break Some(e);
                    }
                    None => break None,
                }
                max_queued = max_queued.max(ws.protocol().output_len());
            };
            (end, pings, max_queued, Instant::now())
        })
    };
    let mut tcp = raw_websocket(addr, "/").await;
    let chunk = frames(Message::Ping(Bytes::from(vec![7; 125])), 8000);
    let rss = RssPeak::start();
    let started = Instant::now();
    let (sent, stalled) =
        tokio::time::timeout(Duration::from_secs(50), flood(&mut tcp, &chunk, &failed))
            .await
            .expect("the flood ends");
    // Now read: the pongs queued, then the close frame.
    let (code, _) = close_code(&mut tcp).await;
    let closed = Instant::now();
    let (end, pings, max_queued, at) = server.await.unwrap();
    let (baseline, peak) = rss.finish();
    println!(
        "websocket ping flood: {:.1} MiB sent, {pings} pings answered, send queue at most {:.2} MiB; \
         server stopped taking input after {:.0} ms, close frame {code:?} read at {:.0} ms, \
         connection ended at {:.0} ms with {end:?}",
        mb(sent),
        mb(max_queued),
        stalled.duration_since(started).as_secs_f64() * 1000.0,
        closed.duration_since(started).as_secs_f64() * 1000.0,
        at.duration_since(started).as_secs_f64() * 1000.0,
    );
    assert!(
        matches!(
            end,
            Some(socketeer_ws::Error::SendQueueOverflow { limit: LIMIT })
        ),
        "{end:?}"
    );
    assert_eq!(code, Some(1008));
    assert!(max_queued <= LIMIT + 131, "queue reached {max_queued}");
    assert!(sent < FLOOD_BYTES, "the server never gave up");
    check_rss("websocket ping flood", baseline, peak);
}

/// Echoes every message; records how sessions end.
struct Echo {
    closed: Mutex<Vec<(CloseReason, bool, Instant)>>,
    gave_up: AtomicBool,
}

impl EngineHandler for Echo {
    fn on_connect(&self, _socket: &Socket) {}

    fn on_message(&self, socket: &Socket, message: Payload) {
        let _ = socket.send(message);
    }

    fn on_disconnect(&self, socket: &Socket, reason: CloseReason) {
        self.closed
            .lock()
            .unwrap()
            .push((reason, socket.overflowed(), Instant::now()));
        self.gave_up.store(true, Ordering::Relaxed);
    }
}

/// An Engine.IO echo server, and a WebSocket client that sends 64 KiB
/// messages and never reads the echoes: its session is closed at 8 MiB
/// queued ("transport error", WebSocket close 1008).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn engineio_echo_flood_from_a_client_that_never_reads() {
    let _serial = SERIAL.lock().await;
    let handler = Arc::new(Echo {
        closed: Mutex::new(Vec::new()),
        gave_up: AtomicBool::new(false),
    });
    let mut config = EngineIoConfig::default();
    assert_eq!(config.max_queued_bytes, LIMIT, "the documented default");
    config.websocket.stream.close_timeout = CLOSE_TIMEOUT;
    let engine = EngineIo::new(config, handler.clone());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let serve = tokio::spawn(engine.clone().serve(listener));

    let mut tcp = raw_websocket(addr, "/engine.io/?EIO=4&transport=websocket").await;
    let message = format!("4{}", "x".repeat(64 * 1024 - 1));
    let chunk = frames(Message::text(message), 16);
    let rss = RssPeak::start();
    let started = Instant::now();
    // Sample the session's queue while it fills.
    let sampler = {
        let engine = engine.clone();
        tokio::spawn(async move {
            let mut max = 0;
            loop {
                let stats = engine.stats();
                max = max.max(stats.max_session_queued_bytes);
                if stats.closed_total() > 0 {
                    return max;
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        })
    };
    let (sent, _) = tokio::time::timeout(
        Duration::from_secs(50),
        flood(&mut tcp, &chunk, &handler.gave_up),
    )
    .await
    .expect("the flood ends");
    let (code, echoed) = close_code(&mut tcp).await;
    let max_queued = tokio::time::timeout(Duration::from_secs(5), sampler)
        .await
        .expect("the session closed")
        .unwrap();
    let (baseline, peak) = rss.finish();
    let closed = handler.closed.lock().unwrap().clone();
    let stats = engine.stats();
    let (reason, overflowed, at) = closed[0];
    println!(
        "engine.io echo flood: {:.1} MiB sent, {:.1} MiB echoed, session queue at most {:.2} MiB, \
         disconnected after {:.0} ms ({reason}, overflowed {overflowed}), close code {code:?}; {stats:?}",
        mb(sent),
        mb(echoed),
        mb(max_queued),
        at.duration_since(started).as_secs_f64() * 1000.0,
    );
    assert_eq!(closed.len(), 1);
    assert_eq!(reason, CloseReason::TransportError);
    assert!(overflowed);
    assert_eq!(code, Some(1008));
    assert!(max_queued <= LIMIT, "queue reached {max_queued}");
    assert!(sent < FLOOD_BYTES, "the server never gave up");
    assert_eq!(stats.queue_overflows, 1);
    assert_eq!(stats.closed(CloseReason::TransportError), 1);
    assert_eq!(stats.sessions, 0);
    assert_eq!(stats.queued_bytes, 0);
    check_rss("engine.io echo flood", baseline, peak);
    serve.abort();
}
