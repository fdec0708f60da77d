//! One client floods the server with 1,000,000 tiny events while another
//! does acknowledgement round trips on the same single-threaded server:
//! every event is handled, the other client's round trips stay quick (the
//! flooding connection's task handles its input in bounded batches and
//! yields between them) and the server's memory stays bounded (a flood
//! faster than the server is held back by TCP, not buffered). The flood
//! comes over a WebSocket, then over long-polling (POSTs of 50,000
//! events); then, with the inbound rate guard on, it is paced.
//!
//! The server runs on a runtime of its own with one thread; the clients
//! on the test's runtime. The test prints its figures (`cargo test -p
//! socketeer --test inbound_flood -- --nocapture`; `--release` for
//! release figures).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use socketeer::client::{ClientBuilder, Transports};
use socketeer::server::{AckSender, Args, Socket, SocketIo, SocketIoConfig};
use socketeer::Value;
use socketeer_engineio::server::InboundRate;
use socketeer_ws::{Message, Protocol, Role};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[path = "support/figures.rs"]
mod figures;
#[path = "support/pinger.rs"]
mod pinger;
#[path = "support/raw_client.rs"]
mod raw_client;

use figures::{mb, ms, percentile, rss};
use pinger::ping_while;
use raw_client::RawClient;

/// One test at a time: they read the same process's RSS and share two
/// cores.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Events the flooding client sends.
const EVENTS: u64 = 1_000_000;
/// One tiny event: `42["t"]`, 13 bytes on the wire.
const TINY: &str = "42[\"t\"]";
/// Events per pre-built write.
const CHUNK_EVENTS: u64 = 10_000;
/// Events per POST of the long-polling flood (400 KB: under the default
/// `max_payload` and `max_packets`).
const POST_EVENTS: u64 = 50_000;
/// The healthy client's p99 round trip must stay under this.
const P99_BOUND: Duration = Duration::from_millis(100);
/// The most the RSS may grow.
const RSS_BOUND: usize = 64 << 20;
/// The whole flood must be handled within this.
const FLOOD_LIMIT: Duration = Duration::from_secs(60);

/// `count` tiny events as masked frames, in one buffer.
fn tiny_events(count: u64) -> Bytes {
    let mut proto = Protocol::new(Role::Client);
    for _ in 0..count {
        proto.send(Message::text(TINY)).unwrap();
    }
    proto.take_output()
}

/// One HTTP/1.1 request on a connection of its own: the status line and
/// the body of the answer.
async fn http(addr: SocketAddr, method: &str, path: &str, body: &[u8]) -> (String, String) {
    let mut tcp = TcpStream::connect(addr).await.expect("connect");
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\
         Content-Type: text/plain;charset=UTF-8\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    tcp.write_all(head.as_bytes()).await.expect("request head");
    tcp.write_all(body).await.expect("request body");
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), tcp.read_to_end(&mut answer))
        .await
        .expect("an answer within 30 s")
        .expect("read the answer");
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
    let status = head.lines().next().unwrap_or_default().to_owned();
    (status, body.to_owned())
}

/// A long-polling session joined to `/`: its polling path.
async fn polling_session(addr: SocketAddr) -> String {
    let (status, body) = http(addr, "GET", "/socket.io/?EIO=4&transport=polling", b"").await;
    assert!(status.starts_with("HTTP/1.1 200"), "{status}");
    let sid = body
        .split("\"sid\":\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .expect("a session id")
        .to_owned();
    let path = format!("/socket.io/?EIO=4&transport=polling&sid={sid}");
    let (status, body) = http(addr, "POST", &path, b"40").await;
    assert!(
        status.starts_with("HTTP/1.1 200") && body == "ok",
        "{status} {body}"
    );
    path
}

/// `count` tiny events as one long-polling payload.
fn tiny_payload(count: u64) -> Vec<u8> {
    let events: Vec<&str> = (0..count).map(|_| TINY).collect();
    events.join("\u{1e}").into_bytes()
}

/// A server on a runtime of its own with one thread; counts the tiny
/// events it handled. It shuts down (and its thread ends) when the
/// sender it returns is dropped.
fn server(
    config: SocketIoConfig,
    handled: Arc<AtomicU64>,
) -> (SocketAddr, tokio::sync::oneshot::Sender<()>) {
    let (tx, rx) = std::sync::mpsc::channel();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("server runtime");
        rt.block_on(async move {
            let io = SocketIo::new(config);
            io.on_connection(move |socket: Socket| {
                let handled = handled.clone();
                socket.on("t", move || {
                    handled.fetch_add(1, Ordering::Relaxed);
                });
                socket.on("echo", |Args(args): Args, ack: Option<AckSender>| {
                    if let Some(ack) = ack {
                        let _ = ack.send(args);
                    }
                });
            });
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            let stopped = async {
                let _ = stopped.await;
            };
            let _ = io.serve_with_shutdown(listener, stopped).await;
        });
    });
    (rx.recv().expect("the server starts"), stop)
}

struct Figures {
    flood_time: Duration,
    rtts: Vec<Duration>,
    baseline: usize,
    peak: usize,
}

/// How the flooding client sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Transport {
    /// Pre-built WebSocket frames, 10,000 to a write.
    WebSocket,
    /// POSTs of 50,000 events, one after the other.
    Polling,
}

/// Sends `events` tiny events from one raw client while a Socket.IO
/// client does acknowledged echoes every 2 ms; waits until the server
/// handled them all.
async fn flood(config: SocketIoConfig, events: u64, transport: Transport) -> Figures {
    let handled = Arc::new(AtomicU64::new(0));
    let (addr, _server) = server(config, handled.clone());
    let healthy = ClientBuilder::new(format!("http://{addr}"))
        .transports(Transports::WebSocket)
        .reconnection(false)
        .connect()
        .await
        .expect("the healthy client connects");
    for i in 0..20 {
        healthy
            .emit_with_ack("echo", vec![Value::from(i)])
            .timeout(Duration::from_secs(5))
            .await
            .expect("echo");
    }
    let per_write = match transport {
        Transport::WebSocket => CHUNK_EVENTS,
        Transport::Polling => POST_EVENTS,
    }
    .min(events);
    let writes = events / per_write;
    assert_eq!(writes * per_write, events);
    let flooder = match transport {
        Transport::WebSocket => Ok(RawClient::connect(addr).await),
        Transport::Polling => Err(polling_session(addr).await),
    };
    // Built before the clock starts: the generator only writes.
    let chunk = match transport {
        Transport::WebSocket => tiny_events(per_write),
        Transport::Polling => Bytes::from(tiny_payload(per_write)),
    };

    let baseline = rss();
    let peak = Arc::new(AtomicUsize::new(baseline));
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (peak, stop) = (peak.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                peak.fetch_max(rss(), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(5));
            }
        })
    };
    let flooding = Arc::new(AtomicBool::new(true));
    let pinger = ping_while(healthy, flooding.clone());
    let started = Instant::now();
    let writer = tokio::spawn(async move {
        match flooder {
            Ok(mut ws) => {
                for _ in 0..writes {
                    ws.tcp.write_all(&chunk).await.expect("the flooder writes");
                }
                // A round trip after the flood: nothing was left unread.
                ws.send("423[\"echo\",\"done\"]").await;
                assert_eq!(ws.text().await, "433[\"done\"]");
            }
            Err(path) => {
                // Each POST is answered once its events are handled.
                for _ in 0..writes {
                    let (status, body) = http(addr, "POST", &path, &chunk).await;
                    assert!(
                        status.starts_with("HTTP/1.1 200") && body == "ok",
                        "{status} {body}"
                    );
                }
            }
        }
    });
    let wait = async {
        while handled.load(Ordering::Relaxed) < events {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    let all = tokio::time::timeout(FLOOD_LIMIT, wait).await;
    let flood_time = started.elapsed();
    flooding.store(false, Ordering::Relaxed);
    let mut rtts = pinger.await.unwrap();
    stop.store(true, Ordering::Relaxed);
    let _ = sampler.join();
    assert!(
        all.is_ok(),
        "{} of {events} events handled in {FLOOD_LIMIT:?}",
        handled.load(Ordering::Relaxed)
    );
    // Nothing more than was sent.
    tokio::time::timeout(Duration::from_secs(30), writer)
        .await
        .expect("the flooder ends")
        .unwrap();
    assert_eq!(handled.load(Ordering::Relaxed), events);
    rtts.sort();
    Figures {
        flood_time,
        rtts,
        baseline,
        peak: peak.load(Ordering::Relaxed),
    }
}

fn report(what: &str, events: u64, f: &Figures) {
    println!(
        "{what}: {events} tiny events handled in {:.0} ms ({:.0} events/s); \
         healthy client: {} acks, p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms (bound p99 {:.0} ms); \
         RSS before {:.1} MiB, peak {:.1} MiB (+{:.1} MiB; bound +{:.0} MiB)",
        ms(f.flood_time),
        events as f64 / f.flood_time.as_secs_f64(),
        f.rtts.len(),
        ms(percentile(&f.rtts, 0.5)),
        ms(percentile(&f.rtts, 0.99)),
        ms(f.rtts.last().copied().unwrap_or_default()),
        ms(P99_BOUND),
        mb(f.baseline),
        mb(f.peak),
        mb(f.peak.saturating_sub(f.baseline)),
        mb(RSS_BOUND),
    );
}

fn check(f: &Figures) {
    assert!(f.rtts.len() >= 10, "too few round trips: {}", f.rtts.len());
    let p99 = percentile(&f.rtts, 0.99);
    assert!(p99 < P99_BOUND, "healthy client's p99 {p99:?}");
    let growth = f.peak.saturating_sub(f.baseline);
    assert!(growth < RSS_BOUND, "RSS grew by {:.1} MiB", mb(growth));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_million_tiny_events_while_another_client_keeps_its_ack_latency() {
    let _serial = SERIAL.lock().await;
    let f = flood(SocketIoConfig::default(), EVENTS, Transport::WebSocket).await;
    report("WebSocket flood", EVENTS, &f);
    check(&f);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_million_tiny_events_over_polling_while_another_client_keeps_its_ack_latency() {
    let _serial = SERIAL.lock().await;
    let f = flood(SocketIoConfig::default(), EVENTS, Transport::Polling).await;
    report("long-polling flood", EVENTS, &f);
    check(&f);
}

/// With an inbound rate guard the flood is paced: it takes at least as
/// long as the rate says, and still loses nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_inbound_rate_guard_paces_a_flood_and_loses_nothing() {
    let _serial = SERIAL.lock().await;
    let mut config = SocketIoConfig::default();
    let rate = InboundRate {
        per_second: 20_000,
        burst: 1_000,
    };
    config.engine.max_inbound_rate = Some(rate);
    let events = 40_000;
    let f = flood(config, events, Transport::WebSocket).await;
    report("flood at 20,000 events/s", events, &f);
    // The burst, then the rate: no faster than (events - burst) / rate
    // (the healthy client's own messages spend nothing of this client's).
    let least = Duration::from_secs_f64((events - rate.burst as u64) as f64 / 20_000.0);
    assert!(
        f.flood_time >= least,
        "{events} events in {:?}, under {least:?}",
        f.flood_time
    );
    let p99 = percentile(&f.rtts, 0.99);
    assert!(p99 < P99_BOUND, "healthy client's p99 {p99:?}");
}
