//! A Socket.IO client that never reads while another floods it with room
//! broadcasts (128 MB in all): the server's memory stays bounded, the slow
//! client is disconnected ("transport error", WebSocket close 1008) once
//! 8 MiB wait for it — or, for volatile broadcasts, stays connected while
//! what it cannot take is dropped —, a room member that reads keeps up and
//! stays connected, and a healthy client on the same server keeps its
//! acknowledgement round trips quick.
//!
//! The server runs in this process; the tests sample its RSS (`VmRSS`) and
//! print their figures (`cargo test -p socketeer --test slow_readers --
//! --nocapture`; `--release` for release figures). They run one at a time:
//! they measure the same process.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use socketeer::client::{ClientBuilder, Transports};
use socketeer::server::{AckSender, Args, DisconnectReason, Socket, SocketIo, SocketIoConfig};
use socketeer::Value;
use socketeer_ws::{Message, Protocol, Role};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;

#[path = "support/figures.rs"]
mod figures;
#[path = "support/pinger.rs"]
mod pinger;
#[path = "support/raw_client.rs"]
mod raw_client;

use figures::{mb, ms, percentile, rss};
use pinger::ping_while;
use raw_client::RawClient;

/// One test at a time: they read the same process's RSS.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Size of one relayed message's argument.
const MESSAGE: usize = 64 * 1024;
/// The flood: 2,048 messages of 64 KiB.
const FLOOD_BYTES: usize = 128 << 20;
/// The most the RSS may grow.
const RSS_BOUND: usize = 64 << 20;
/// The documented default queue limit.
const LIMIT: usize = 8 << 20;
/// Close timeout of the server's WebSockets in these tests.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);
/// The healthy client's p99 round trip must stay under this.
const P99_BOUND: Duration = Duration::from_millis(100);

/// Reads (and drops) what the server sent until its close frame;
/// returns its code and the data bytes read before it.
async fn close_code(client: &mut RawClient) -> (Option<u16>, usize) {
    let mut data = 0;
    let wait = CLOSE_TIMEOUT + Duration::from_secs(5);
    let read = async {
        loop {
            match client.next().await {
                Some(Message::Close(frame)) => return frame.map(|f| f.code.0),
                Some(Message::Text(t)) => data += t.len(),
                Some(Message::Binary(b)) => data += b.len(),
                Some(_) => {}
                None => return None,
            }
        }
    };
    let code = tokio::time::timeout(wait, read).await.ok().flatten();
    (code, data)
}

/// What the server saw.
#[derive(Default)]
struct Seen {
    slow_id: Mutex<Option<String>>,
    disconnects: Mutex<Vec<(String, DisconnectReason, Instant)>>,
    slow_gone: AtomicBool,
}

fn server(volatile: bool, seen: Arc<Seen>) -> SocketIo {
    let mut config = SocketIoConfig::default();
    assert_eq!(
        config.engine.max_queued_bytes, LIMIT,
        "the documented default"
    );
    config.engine.websocket.stream.close_timeout = CLOSE_TIMEOUT;
    let io = SocketIo::new(config);
    io.on_connection(move |socket: Socket| {
        let seen_join = seen.clone();
        socket.on(
            "join",
            move |socket: Socket, Args(args): Args, ack: Option<AckSender>| {
                socket.join(["flood"]);
                if args.first().and_then(Value::as_str) == Some("slow") {
                    *seen_join.slow_id.lock().unwrap() = Some(socket.id().to_owned());
                }
                if let Some(ack) = ack {
                    let _ = ack.send(vec![Value::from("joined")]);
                }
            },
        );
        socket.on("relay", move |socket: Socket, Args(args): Args| {
            let to = socket.to("flood");
            let to = if volatile { to.volatile() } else { to };
            let _ = to.emit("data", args);
        });
        socket.on("echo", |Args(args): Args, ack: Option<AckSender>| {
            if let Some(ack) = ack {
                let _ = ack.send(args);
            }
        });
        let seen = seen.clone();
        socket.on_disconnect(move |socket: Socket, reason: DisconnectReason| {
            let id = socket.id().to_owned();
            if seen.slow_id.lock().unwrap().as_deref() == Some(id.as_str()) {
                seen.slow_gone.store(true, Ordering::Relaxed);
            }
            seen.disconnects
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push((id, reason, Instant::now()));
        });
    });
    io
}

struct Figures {
    baseline: usize,
    peak: usize,
    rtts: Vec<Duration>,
    flood_time: Duration,
    /// Messages the room member that reads everything got, and whether
    /// its connection ended.
    fast: (usize, bool),
    /// The most bytes queued for one session, sampled every millisecond.
    max_queued: usize,
}

/// Runs the flood; returns the figures, what the slow client read after
/// its disconnect (its close code and data bytes; `None` if it was not
/// disconnected), the server, what it saw and when the flood started.
async fn run_flood(
    volatile: bool,
) -> (
    Figures,
    Option<(Option<u16>, usize)>,
    SocketIo,
    Arc<Seen>,
    Instant,
) {
    let seen = Arc::new(Seen::default());
    let io = server(volatile, seen.clone());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let serve = tokio::spawn(io.clone().serve(listener));
    drop(serve);

    // The slow client joins the room, then never reads again.
    let mut slow = RawClient::connect(addr).await;
    slow.send("421[\"join\",\"slow\"]").await;
    let joined = slow.text().await;
    assert_eq!(joined, "431[\"joined\"]");
    // A member of the same room that reads everything.
    let mut fast = RawClient::connect(addr).await;
    fast.send("421[\"join\",\"fast\"]").await;
    assert_eq!(fast.text().await, "431[\"joined\"]");
    let flooding = Arc::new(AtomicBool::new(true));
    let fast = {
        let flooding = flooding.clone();
        tokio::spawn(async move {
            let mut got = 0;
            let mut closed = false;
            while got < FLOOD_BYTES / MESSAGE {
                match tokio::time::timeout(Duration::from_secs(2), fast.next()).await {
                    Ok(Some(Message::Text(t))) if t.starts_with("42[\"data\"") => got += 1,
                    Ok(Some(Message::Text(_))) => {}
                    Ok(_) => {
                        closed = true;
                        break;
                    }
                    // Volatile: what was dropped never comes.
                    Err(_) if !flooding.load(Ordering::Relaxed) => break,
                    Err(_) => {}
                }
            }
            (got, closed)
        })
    };

    let healthy = ClientBuilder::new(format!("http://{addr}"))
        .transports(Transports::WebSocket)
        .reconnection(false)
        .connect()
        .await
        .expect("the healthy client connects");
    let mut flooder = RawClient::connect(addr).await;
    let packet = format!("42[\"relay\",\"{}\"]", "x".repeat(MESSAGE));
    let mut proto = Protocol::new(Role::Client);
    for _ in 0..16 {
        proto.send(Message::text(packet.clone())).unwrap();
    }
    let chunk: Bytes = proto.take_output();

    // Warm up the healthy client's path before the baseline.
    for i in 0..20 {
        healthy
            .emit_with_ack("echo", vec![Value::from(i)])
            .timeout(Duration::from_secs(5))
            .await
            .expect("echo");
    }

    let baseline = rss();
    let peak = Arc::new(AtomicUsize::new(baseline));
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (peak, stop) = (peak.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                peak.fetch_max(rss(), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(2));
            }
        })
    };
    let started = Instant::now();
    // Once disconnected, the slow client reads what the server still
    // sends it (within the server's close timeout): what was queued, then
    // the close frame.
    let slow = {
        let (seen, flooding) = (seen.clone(), flooding.clone());
        tokio::spawn(async move {
            while !seen.slow_gone.load(Ordering::Relaxed) {
                if !flooding.load(Ordering::Relaxed) {
                    return None;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            Some(close_code(&mut slow).await)
        })
    };
    let queue_sampler = {
        let (io, flooding) = (io.clone(), flooding.clone());
        tokio::spawn(async move {
            let mut max = 0;
            while flooding.load(Ordering::Relaxed) {
                max = max.max(io.engine().stats().max_session_queued_bytes);
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            max
        })
    };
    let pinger = ping_while(healthy, flooding.clone());
    let mut sent = 0;
    while sent < FLOOD_BYTES {
        flooder
            .tcp
            .write_all(&chunk)
            .await
            .expect("the flooder writes");
        sent += 16 * MESSAGE;
    }
    // The last relays are handled (a round trip through the flooder's
    // session) before the flood counts as over.
    flooder.send("423[\"echo\",\"done\"]").await;
    let done = tokio::time::timeout(Duration::from_secs(30), flooder.text())
        .await
        .expect("the flooder's echo");
    assert_eq!(done, "433[\"done\"]");
    let flood_time = started.elapsed();
    flooding.store(false, Ordering::Relaxed);
    let mut rtts = pinger.await.unwrap();
    let slow_close = slow.await.unwrap();
    let (fast_got, fast_closed) = tokio::time::timeout(Duration::from_secs(20), fast)
        .await
        .expect("the fast member gets the whole flood")
        .unwrap();
    let max_queued = queue_sampler.await.unwrap();
    stop.store(true, Ordering::Relaxed);
    let _ = sampler.join();
    rtts.sort();
    (
        Figures {
            baseline,
            peak: peak.load(Ordering::Relaxed),
            rtts,
            flood_time,
            max_queued,
            fast: (fast_got, fast_closed),
        },
        slow_close,
        io,
        seen,
        started,
    )
}

fn report(what: &str, f: &Figures) {
    println!(
        "{what}: flood of {:.0} MiB in {:.0} ms, at most {:.2} MiB queued for a session; RSS baseline {:.1} MiB, peak {:.1} MiB \
         (+{:.1} MiB; bound +{:.0} MiB); healthy client: {} acks, p50 {:.2} ms, p99 {:.2} ms, \
         max {:.2} ms (bound p99 {:.0} ms); room member that reads: {} of {} messages, \
         connection ended {}",
        mb(FLOOD_BYTES),
        ms(f.flood_time),
        mb(f.max_queued),
        mb(f.baseline),
        mb(f.peak),
        mb(f.peak.saturating_sub(f.baseline)),
        mb(RSS_BOUND),
        f.rtts.len(),
        ms(percentile(&f.rtts, 0.5)),
        ms(percentile(&f.rtts, 0.99)),
        ms(f.rtts.last().copied().unwrap_or_default()),
        ms(P99_BOUND),
        f.fast.0,
        FLOOD_BYTES / MESSAGE,
        f.fast.1,
    );
    assert!(
        f.peak.saturating_sub(f.baseline) < RSS_BOUND,
        "{what}: RSS grew by {:.1} MiB",
        mb(f.peak - f.baseline)
    );
    assert!(f.rtts.len() >= 10, "{what}: too few round trips");
    assert!(!f.fast.1, "{what}: the member that reads was disconnected");
    assert!(
        f.max_queued <= LIMIT,
        "{what}: {} bytes queued",
        f.max_queued
    );
    assert!(
        percentile(&f.rtts, 0.99) < P99_BOUND,
        "{what}: p99 round trip {:?}",
        percentile(&f.rtts, 0.99)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn room_flood_disconnects_a_client_that_never_reads() {
    let _serial = SERIAL.lock().await;
    let test = async {
        let (figures, slow_close, io, seen, started) = run_flood(false).await;
        assert!(
            seen.slow_gone.load(Ordering::Relaxed),
            "the slow client was not disconnected"
        );
        let slow_id = seen.slow_id.lock().unwrap().clone().unwrap();
        let (reason, at) = seen
            .disconnects
            .lock()
            .unwrap()
            .iter()
            .find(|(id, _, _)| *id == slow_id)
            .map(|(_, r, at)| (*r, *at))
            .unwrap();
        let (code, data) = slow_close.expect("the slow client read after its disconnect");
        let stats = io.engine().stats();
        println!(
            "room flood: slow client disconnected after {:.0} ms with \"{}\", \
             then read {:.1} MiB and close code {code:?}; {stats:?}",
            ms(at.duration_since(started)),
            reason.as_str(),
            mb(data),
        );
        assert_eq!(reason, DisconnectReason::TransportError);
        assert_eq!(reason.as_str(), "transport error");
        assert_eq!(code, Some(1008));
        // What was queued, plus what the sockets' kernel buffers held.
        assert!(data <= 2 * LIMIT, "{data} bytes were queued");
        assert_eq!(stats.queue_overflows, 1);
        let errors = seen
            .disconnects
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, r, _)| *r == DisconnectReason::TransportError)
            .count();
        assert_eq!(errors, 1, "only the slow client was cut off");
        assert_eq!(
            figures.fast.0,
            FLOOD_BYTES / MESSAGE,
            "the member that reads got it all"
        );
        report("room flood", &figures);
    };
    tokio::time::timeout(Duration::from_secs(60), test)
        .await
        .expect("within 60 s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn volatile_room_flood_drops_for_a_client_that_never_reads() {
    let _serial = SERIAL.lock().await;
    let test = async {
        let (figures, slow_close, io, seen, _) = run_flood(true).await;
        assert!(slow_close.is_none(), "disconnected by a volatile flood");
        let stats = io.engine().stats();
        println!(
            "volatile room flood: {} of {} deliveries dropped (two room members); {stats:?}",
            stats.volatile_dropped,
            2 * FLOOD_BYTES / MESSAGE,
        );
        // Connected through the flood (`slow_close` is `None`), and nobody
        // was cut off.
        let errors = seen
            .disconnects
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, r, _)| *r == DisconnectReason::TransportError)
            .count();
        assert_eq!(errors, 0, "a volatile flood disconnected someone");
        assert!(figures.fast.0 > 0);
        assert!(stats.volatile_dropped > 0);
        assert_eq!(stats.queue_overflows, 0);
        report("volatile room flood", &figures);
    };
    tokio::time::timeout(Duration::from_secs(60), test)
        .await
        .expect("within 60 s");
}
