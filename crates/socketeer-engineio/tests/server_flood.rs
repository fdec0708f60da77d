//! Floods on 127.0.0.1, each bounded (under 60 s) and printing its
//! figures: thousands of handshakes, slowloris request heads, malformed
//! frames and packets. The server must answer, close what it should with
//! the right code, and be back where it started afterwards. Raw clients
//! are in `support/raw.rs`.

mod support;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use socketeer_engineio::server::{serve_http_with, EngineIo, EngineIoConfig, HttpOptions};
use support::raw::{self, client_frame, close_code, contains, read_until};
use support::Recorder;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

/// Bound on each flood test.
const FLOOD: Duration = Duration::from_secs(60);
/// Clients in flight at once.
const CONCURRENCY: usize = 200;
/// Longest wait for one answer under load.
const ANSWER: Duration = Duration::from_secs(10);

/// The tests measure the same process: one at a time.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Samples the TCP sockets on a port and the process's RSS every 10 ms until stopped: the
/// peaks.
struct Peaks {
    peaks: Arc<std::sync::Mutex<(usize, u64)>>,
    task: tokio::task::JoinHandle<()>,
}

impl Peaks {
    fn start(port: u16) -> Peaks {
        let peaks = Arc::new(std::sync::Mutex::new((0, 0)));
        let p = peaks.clone();
        let task = tokio::spawn(async move {
            loop {
                let (sockets, rss) = (raw::tcp_sockets(port), raw::rss_kib());
                {
                    let mut peaks = p.lock().unwrap();
                    *peaks = (peaks.0.max(sockets), peaks.1.max(rss));
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        });
        Peaks { peaks, task }
    }

    /// The highest socket count and RSS (KiB) seen.
    fn stop(self) -> (usize, u64) {
        self.task.abort();
        *self.peaks.lock().unwrap()
    }
}

/// The server under a flood: `serve_http_with` with `options` and
/// `config` (with `fast()`, sessions end half a second after their client
/// is gone: heartbeat 300 + 200 ms).
async fn start(config: EngineIoConfig, options: HttpOptions) -> (SocketAddr, EngineIo) {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    drop(rx);
    let engine = EngineIo::new(config, Arc::new(Recorder(tx)));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let e = engine.clone();
    let handler = move |req, remote| {
        let engine = e.clone();
        async move { engine.handle(req, Some(remote)).await }
    };
    tokio::spawn(async move {
        serve_http_with(listener, handler, std::future::pending(), &options).await
    });
    (addr, engine)
}

/// Runs `count` clients, at most [`CONCURRENCY`] at once; how many
/// `client` says succeeded.
async fn flood<F, Fut>(count: usize, client: F) -> usize
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = bool> + Send + 'static,
{
    let slots = Arc::new(Semaphore::new(CONCURRENCY));
    let mut set = JoinSet::new();
    for i in 0..count {
        let permit = slots.clone().acquire_owned().await.expect("semaphore");
        let run = client(i);
        set.spawn(async move {
            let ok = run.await;
            drop(permit);
            ok
        });
    }
    let mut ok = 0;
    while let Some(r) = set.join_next().await {
        ok += usize::from(r.unwrap_or(false));
    }
    ok
}

/// Waits until the server has no session and at most `sockets` TCP
/// sockets on `port` are open: how long that took, or `None` after 5 s.
async fn settled(engine: &EngineIo, port: u16, sockets: usize) -> Option<Duration> {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(5) {
        if engine.session_count() == 0 && raw::tcp_sockets(port) <= sockets {
            return Some(start.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    None
}

/// A polling or WebSocket handshake, answered with an OPEN packet.
async fn handshake(addr: SocketAddr, i: usize) -> bool {
    let request = if i % 2 == 0 {
        raw::POLLING
    } else {
        raw::WEBSOCKET
    };
    raw::open(addr, request, ANSWER).await.is_some()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_thousand_handshakes() {
    let _serial = SERIAL.lock().await;
    tokio::time::timeout(FLOOD, async {
        let (addr, engine) = start(support::fast(), HttpOptions::default()).await;
        // Warm up (threads, buffers, the allocator's arenas) before the
        // baseline.
        assert_eq!(flood(400, move |i| handshake(addr, i)).await, 400);
        let settle = settled(&engine, addr.port(), usize::MAX).await;
        assert!(settle.is_some(), "warm-up sessions still open");
        let (sockets, rss) = (raw::tcp_sockets(addr.port()), raw::rss_kib());

        let total = 5_000;
        let started = Instant::now();
        let sampler = Peaks::start(addr.port());
        let ok = flood(total, move |i| handshake(addr, i)).await;
        let took = started.elapsed();
        let sessions = engine.session_count();
        let peak = sampler.stop();
        println!(
            "{ok}/{total} handshakes answered in {took:?} ({:.0}/s, {CONCURRENCY} at once, \
             half polling, half WebSocket)",
            total as f64 / took.as_secs_f64()
        );
        assert!(ok * 100 >= total * 99, "{ok}/{total} answered");
        let settle = settled(&engine, addr.port(), sockets).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        let after = (raw::tcp_sockets(addr.port()), raw::rss_kib());
        println!(
            "sockets {sockets} before, {} at the peak, {} after; RSS {rss} KiB before, {} KiB at the \
             peak, {} KiB after; {sessions} sessions open at the end of the flood, none \
             {settle:?} later",
            peak.0, after.0, peak.1, after.1
        );
        assert!(settle.is_some(), "sessions or sockets left: {after:?}");
        // The allocator keeps much of the peak (glibc's per-thread arenas:
        // +3 to +16 MiB seen); a second flood shows whether it is reused.
        assert!(
            after.1 <= rss + 32 * 1024,
            "RSS {rss} KiB -> {} KiB",
            after.1
        );
        // And a second flood reuses what the first left: a leak would
        // grow it again.
        let ok = flood(total, move |i| handshake(addr, i)).await;
        assert!(ok * 100 >= total * 99, "second flood: {ok}/{total} answered");
        assert!(settled(&engine, addr.port(), sockets).await.is_some());
        tokio::time::sleep(Duration::from_millis(500)).await;
        let again = raw::rss_kib();
        println!("RSS after a second flood of {total}: {again} KiB");
        assert!(again <= after.1 + 8 * 1024, "RSS {} KiB -> {again} KiB", after.1);
    })
    .await
    .expect("flood within 60 s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slowloris_heads_are_dropped_while_others_connect() {
    let _serial = SERIAL.lock().await;
    tokio::time::timeout(FLOOD, async {
        let timeout = Duration::from_secs(2);
        let options = HttpOptions {
            header_read_timeout: timeout,
            ..HttpOptions::default()
        };
        let (addr, engine) = start(support::fast(), options).await;
        let sockets = raw::tcp_sockets(addr.port());
        // 500 request heads, never finished.
        let mut slow = JoinSet::new();
        for _ in 0..500 {
            slow.spawn(async move {
                let mut tcp = TcpStream::connect(addr).await.ok()?;
                let head =
                    b"GET /engine.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: 127.0.0.1\r\n";
                tcp.write_all(head).await.ok()?;
                let sent = Instant::now();
                let mut buf = Vec::new();
                // Whatever the server sends, the connection must end.
                read_until(&mut tcp, &mut buf, Duration::from_secs(20), |_| false).await;
                Some(sent.elapsed())
            });
        }
        // Meanwhile fresh clients connect as usual.
        tokio::time::sleep(Duration::from_millis(200)).await;
        let fresh_started = Instant::now();
        let fresh = flood(100, move |i| handshake(addr, i)).await;
        let fresh_took = fresh_started.elapsed();
        println!("while 500 heads hang: {fresh}/100 fresh handshakes in {fresh_took:?}");
        assert_eq!(fresh, 100);
        assert!(
            fresh_took < timeout,
            "fresh clients waited for the slow ones"
        );

        let mut closed = Vec::new();
        while let Some(r) = slow.join_next().await {
            closed.push(r.expect("task").expect("connected and wrote"));
        }
        closed.sort();
        let (first, last) = (closed[0], closed[closed.len() - 1]);
        println!(
            "500 slowloris connections each closed {first:?} to {last:?} after their partial \
             head (header_read_timeout {timeout:?})"
        );
        // The server may start its clock a little before the head is
        // sent (the client task is scheduled among 500).
        assert!(first >= timeout / 2, "closed early: {first:?}");
        assert!(
            last <= timeout + Duration::from_secs(2),
            "closed late: {last:?}"
        );
        let settle = settled(&engine, addr.port(), sockets).await;
        println!(
            "sockets {sockets} before, {} after; settled in {settle:?}",
            raw::tcp_sockets(addr.port())
        );
        assert!(settle.is_some());
    })
    .await
    .expect("flood within 60 s");
}

/// What a malformed client does and the answer it must get.
#[derive(Clone, Copy, Debug)]
enum Bad {
    /// A WebSocket frame with reserved opcode 3: close 1002.
    Frame,
    /// An Engine.IO packet of unknown type over WebSocket: close 1002
    /// ("parse error").
    WsPacket,
    /// An Engine.IO payload that does not parse, POSTed on a polling
    /// session: 400 `{"code":3,"message":"Bad request"}`.
    PollingPayload,
}

async fn malformed(addr: SocketAddr, bad: Bad) -> bool {
    let request = match bad {
        Bad::Frame | Bad::WsPacket => raw::WEBSOCKET,
        Bad::PollingPayload => raw::POLLING,
    };
    let Some((mut tcp, mut buf)) = raw::open(addr, request, ANSWER).await else {
        return false;
    };
    match bad {
        Bad::Frame | Bad::WsPacket => {
            let frame = match bad {
                Bad::Frame => client_frame(0x3, b""),
                _ => client_frame(0x1, b"9nonsense"),
            };
            if tcp.write_all(&frame).await.is_err() {
                return false;
            }
            read_until(&mut tcp, &mut buf, ANSWER, |b| close_code(b).is_some()).await;
            close_code(&buf) == Some(1002)
        }
        Bad::PollingPayload => {
            let text = String::from_utf8_lossy(&buf);
            let Some(sid) = text
                .split("\"sid\":\"")
                .nth(1)
                .and_then(|r| r.split('"').next())
            else {
                return false;
            };
            let body = "9nonsense";
            let post = format!(
                "POST /engine.io/?EIO=4&transport=polling&sid={sid} HTTP/1.1\r\n\
                 Host: 127.0.0.1\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
            let Ok(mut tcp) = TcpStream::connect(addr).await else {
                return false;
            };
            if tcp.write_all(post.as_bytes()).await.is_err() {
                return false;
            }
            let mut answer = Vec::new();
            let expected = br#"{"code":3,"message":"Bad request"}"#;
            read_until(&mut tcp, &mut answer, ANSWER, |b| contains(b, expected)).await
                && answer.starts_with(b"HTTP/1.1 400")
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_malformed_clients_are_closed_with_the_right_code() {
    let _serial = SERIAL.lock().await;
    tokio::time::timeout(FLOOD, async {
        // No heartbeat: under load a polling session must not time out
        // between its handshake and its bad POST. Every session here ends
        // by its client's fault.
        let (addr, engine) = start(support::calm(), HttpOptions::default()).await;
        let sockets = raw::tcp_sockets(addr.port());
        let kinds = [Bad::Frame, Bad::WsPacket, Bad::PollingPayload];
        let started = Instant::now();
        let mut answered = [0usize; 3];
        for (k, bad) in kinds.into_iter().enumerate() {
            let count = if k == 0 { 334 } else { 333 };
            answered[k] = flood(count, move |_| malformed(addr, bad)).await;
            println!(
                "{bad:?}: {}/{count} closed with the right code",
                answered[k]
            );
            assert_eq!(answered[k], count, "{bad:?}");
        }
        println!("1,000 malformed clients in {:?}", started.elapsed());
        // Healthy after: nothing left open, and a new client is served.
        let settle = settled(&engine, addr.port(), sockets).await;
        println!(
            "sockets {sockets} before, {} after; settled in {settle:?}",
            raw::tcp_sockets(addr.port())
        );
        assert!(settle.is_some());
        assert!(handshake(addr, 0).await && handshake(addr, 1).await);
    })
    .await
    .expect("flood within 60 s");
}
