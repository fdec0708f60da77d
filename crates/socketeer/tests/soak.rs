//! Soak: a server under mixed load for a while — clients connecting and
//! leaving all the time over WebSocket, long-polling and upgrading
//! connections, acknowledgements with binary arguments, room broadcasts
//! with binary arguments — after which its resident memory, open file
//! descriptors and live tokio tasks are back within 5% of what they were
//! before the load.
//!
//! The server runs in a process of its own (this test binary run again on
//! this same test, with `SOCKETEER_SOAK_SERVER` set, which makes it serve
//! instead), so that its figures are its own and not the load generator's.
//! A monitoring client stays connected throughout and asks the server for
//! its figures (`stats`). The baseline is taken after a warm-up round of
//! the same load (allocator arenas and buffer pools filled once), with only
//! the monitor connected; the end figures the same way after the soak.
//!
//! The suite runs it for 2 minutes; the documented long run is
//! `SOCKETEER_SOAK_SECS=1800 cargo test --release -p socketeer --test soak
//! -- --nocapture` (30 minutes). The figures are printed.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use socketeer::client::{ClientBuilder, Socket as ClientSocket, Transports};
use socketeer::server::{AckSender, Args, Data, Socket, SocketIo, SocketIoConfig};
use socketeer::Value;
use tokio::net::TcpListener;

/// Set in the server child: makes the test serve.
const SERVER_ENV: &str = "SOCKETEER_SOAK_SERVER";
/// How long the soak runs, in seconds (default 120).
const SECS_ENV: &str = "SOCKETEER_SOAK_SECS";
/// How far the end figures may be from the baseline.
const TOLERANCE: f64 = 0.05;
/// Clients connected for a whole round.
const STEADY_CLIENTS: usize = 30;
/// Clients that connect, work a little and leave, per second.
const CHURN_PER_SEC: u64 = 10;

/// The server's own figures.
#[derive(Debug, Clone, Copy)]
struct Stats {
    rss: u64,
    fds: u64,
    tasks: u64,
    sockets: u64,
}

fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

fn open_fds() -> u64 {
    std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count() as u64)
}

/// The server of the soak: echo with acknowledgement, rooms, room
/// broadcasts, and its own figures on `stats`.
fn server() -> SocketIo {
    let io = SocketIo::new(SocketIoConfig::default());
    let sockets = Arc::new(AtomicU64::new(0));
    io.on_connection(move |socket: Socket| {
        sockets.fetch_add(1, Ordering::Relaxed);
        socket.on("echo", |Args(args): Args, ack: AckSender| {
            let _ = ack.send(args);
        });
        socket.on("join", |socket: Socket, Data(room): Data<String>| {
            socket.join([room]);
        });
        socket.on(
            "to-room",
            |socket: Socket, Data((room, payload)): Data<(String, Bytes)>| {
                let _ = socket
                    .to(room.as_str())
                    .emit("room", vec![Value::Binary(payload)]);
            },
        );
        let count = sockets.clone();
        socket.on("stats", move |ack: AckSender| {
            let tasks = tokio::runtime::Handle::current()
                .metrics()
                .num_alive_tasks();
            let _ = ack.send(vec![
                Value::from(rss_bytes()),
                Value::from(open_fds()),
                Value::from(tasks as u64),
                Value::from(count.load(Ordering::Relaxed)),
            ]);
        });
        let count = sockets.clone();
        socket.on_disconnect(move || {
            count.fetch_sub(1, Ordering::Relaxed);
        });
    });
    io
}

/// The child process: serves on a free port, prints it, runs until its
/// standard input closes.
fn serve() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(server().serve(listener));
        println!("listening {port}");
        std::io::stdout().flush().unwrap();
        tokio::task::spawn_blocking(|| {
            let _ = std::io::copy(&mut std::io::stdin(), &mut std::io::sink());
        })
        .await
        .unwrap();
    });
}

/// Starts the server child; returns it and its port.
fn start_server() -> (Child, u16) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["soak", "--exact", "--nocapture"])
        .env(SERVER_ENV, "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the server child");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let port = loop {
        let line = lines
            .next()
            .expect("the server child ended before listening")
            .unwrap();
        if let Some(port) = line.strip_prefix("listening ") {
            break port.parse().unwrap();
        }
    };
    // Keep reading (and dropping) what it prints.
    std::thread::spawn(move || lines.for_each(drop));
    (child, port)
}

async fn connect(url: &str, transports: Transports) -> ClientSocket {
    ClientBuilder::new(url)
        .transports(transports)
        .force_new(true)
        .reconnection(false)
        .ack_timeout(Duration::from_secs(20))
        .connect()
        .await
        .expect("a soak client connects")
}

async fn stats(monitor: &ClientSocket) -> Stats {
    let answer = monitor
        .emit_with_ack("stats", vec![])
        .await
        .expect("the server answers stats");
    let n = |i: usize| answer.get(i).and_then(Value::as_u64).unwrap();
    Stats {
        rss: n(0),
        fds: n(1),
        tasks: n(2),
        sockets: n(3),
    }
}

/// What a round of load did.
#[derive(Default)]
struct Counts {
    acks: AtomicU64,
    churned: AtomicU64,
    broadcasts: AtomicU64,
    received: AtomicU64,
}

const TRANSPORTS: [Transports; 3] = [Transports::WebSocket, Transports::Polling, Transports::Both];

/// One client's work: acknowledged echoes of text and binary, checked.
async fn echo(client: &ClientSocket, i: u64, counts: &Counts) {
    let payload = Bytes::from(vec![(i % 251) as u8; 1024]);
    let answer = client
        .emit_with_ack("echo", vec![Value::from(i), Value::Binary(payload.clone())])
        .await
        .expect("an echo is acknowledged");
    assert_eq!(answer.first().and_then(Value::as_u64), Some(i));
    assert!(matches!(answer.get(1), Some(Value::Binary(b)) if *b == payload));
    counts.acks.fetch_add(1, Ordering::Relaxed);
}

/// Runs the mixed load for `length`, then disconnects every client it
/// made.
async fn load_round(url: &str, length: Duration, counts: Arc<Counts>) {
    let running = Arc::new(AtomicBool::new(true));
    let mut tasks = Vec::new();
    for n in 0..STEADY_CLIENTS {
        let (url, counts, running) = (url.to_owned(), counts.clone(), running.clone());
        tasks.push(tokio::spawn(async move {
            let received = counts.clone();
            let client = ClientBuilder::new(&url)
                .transports(TRANSPORTS[n % 3])
                .force_new(true)
                .reconnection(false)
                .ack_timeout(Duration::from_secs(20))
                .on("room", move |_, _, _| {
                    received.received.fetch_add(1, Ordering::Relaxed);
                })
                .connect()
                .await
                .expect("a steady client connects");
            client.emit("join", vec![Value::from("all")]).unwrap();
            let mut i = 0;
            while running.load(Ordering::Relaxed) {
                echo(&client, i, &counts).await;
                i += 1;
                // One steady client also broadcasts to the room.
                if n == 0 && i % 2 == 0 {
                    let blob = Value::Binary(Bytes::from(vec![7u8; 4096]));
                    client
                        .emit("to-room", vec![Value::from("all"), blob])
                        .unwrap();
                    counts.broadcasts.fetch_add(1, Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            assert!(client.connected(), "a steady client stayed connected");
            client.disconnect();
        }));
    }
    // Churn: clients that connect, echo three times and leave.
    let churn = {
        let (url, counts, running) = (url.to_owned(), counts.clone(), running.clone());
        tokio::spawn(async move {
            let mut every = tokio::time::interval(Duration::from_millis(1000 / CHURN_PER_SEC));
            let mut visitors = Vec::new();
            let mut n = 0u64;
            while running.load(Ordering::Relaxed) {
                every.tick().await;
                let (url, counts) = (url.clone(), counts.clone());
                visitors.push(tokio::spawn(async move {
                    let client = connect(&url, TRANSPORTS[(n % 3) as usize]).await;
                    client.emit("join", vec![Value::from("visitors")]).unwrap();
                    for i in 0..3 {
                        echo(&client, i, &counts).await;
                    }
                    client.disconnect();
                    counts.churned.fetch_add(1, Ordering::Relaxed);
                }));
                n += 1;
                visitors.retain(|v| !v.is_finished());
            }
            for v in visitors {
                v.await.expect("a churning client");
            }
        })
    };
    tokio::time::sleep(length).await;
    running.store(false, Ordering::Relaxed);
    churn.await.expect("the churn");
    for t in tasks {
        t.await.expect("a steady client");
    }
}

/// Waits until the server has only the monitor and its figures stop
/// moving towards the baseline (or 20 s); returns the last figures.
async fn settle(monitor: &ClientSocket, baseline: Option<Stats>) -> Stats {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut last = stats(monitor).await;
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let now = stats(monitor).await;
        let quiet = now.sockets == 1
            && now.fds == last.fds
            && now.tasks == last.tasks
            && baseline.is_none_or(|b| within(now, b));
        if quiet || Instant::now() > deadline {
            return now;
        }
        last = now;
    }
}

fn within(now: Stats, base: Stats) -> bool {
    let close = |a: u64, b: u64| (a as f64) <= (b as f64) * (1.0 + TOLERANCE);
    close(now.rss, base.rss) && close(now.fds, base.fds) && close(now.tasks, base.tasks)
}

#[test]
fn soak() {
    if std::env::var_os(SERVER_ENV).is_some() {
        return serve();
    }
    let secs: u64 = std::env::var(SECS_ENV)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(120);
    let (mut child, port) = start_server();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let url = format!("http://127.0.0.1:{port}");
        let monitor = connect(&url, Transports::WebSocket).await;
        let fresh = stats(&monitor).await;

        let warm = Arc::new(Counts::default());
        let warm_up = Duration::from_secs((secs / 8).clamp(5, 60));
        load_round(&url, warm_up, warm.clone()).await;
        let baseline = settle(&monitor, None).await;

        let counts = Arc::new(Counts::default());
        let started = Instant::now();
        let length = Duration::from_secs(secs);
        let during = {
            let monitor = monitor.clone();
            tokio::spawn(async move {
                let mut peak = (0, 0, 0, 0);
                while started.elapsed() < length {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    let s = stats(&monitor).await;
                    peak = (
                        peak.0.max(s.rss),
                        peak.1.max(s.fds),
                        peak.2.max(s.tasks),
                        peak.3.max(s.sockets),
                    );
                }
                peak
            })
        };
        load_round(&url, length, counts.clone()).await;
        let peak = during.await.unwrap();
        let end = settle(&monitor, Some(baseline)).await;

        let mib = |b: u64| b as f64 / (1 << 20) as f64;
        println!(
            "soak {secs} s: {} acknowledged echoes, {} churned clients, {} room broadcasts \
             ({} deliveries); fresh server RSS {:.1} MiB, {} fds, {} tasks",
            counts.acks.load(Ordering::Relaxed),
            counts.churned.load(Ordering::Relaxed),
            counts.broadcasts.load(Ordering::Relaxed),
            counts.received.load(Ordering::Relaxed),
            mib(fresh.rss),
            fresh.fds,
            fresh.tasks,
        );
        println!(
            "baseline (after {} s warm-up): RSS {:.1} MiB, {} fds, {} tasks; \
             peak during: RSS {:.1} MiB, {} fds, {} tasks, {} sockets; \
             after: RSS {:.1} MiB ({:+.1}%), {} fds, {} tasks, {} sockets",
            warm_up.as_secs(),
            mib(baseline.rss),
            baseline.fds,
            baseline.tasks,
            mib(peak.0),
            peak.1,
            peak.2,
            peak.3,
            mib(end.rss),
            (end.rss as f64 / baseline.rss as f64 - 1.0) * 100.0,
            end.fds,
            end.tasks,
            end.sockets,
        );
        assert!(counts.churned.load(Ordering::Relaxed) >= secs * CHURN_PER_SEC / 2);
        assert!(counts.received.load(Ordering::Relaxed) > 0);
        assert_eq!(end.sockets, 1, "only the monitor is left");
        assert!(
            within(end, baseline),
            "the server's figures did not come back within {}%: {end:?} against {baseline:?}",
            TOLERANCE * 100.0
        );
        monitor.disconnect();
    });
    drop(child.stdin.take());
    let _ = child.wait();
}
