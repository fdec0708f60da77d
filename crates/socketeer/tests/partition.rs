//! A network partition between a client and the server: the client runs
//! in a network namespace of its own, joined to the test's by a veth pair,
//! and taking the link down cuts them apart without either side seeing a
//! reset or a close. The heartbeat must notice it on both sides within
//! pingInterval + pingTimeout, and the client must come back by itself
//! once the link is up again.
//!
//! The client is this test's own binary, run inside the namespace with
//! `ip netns exec` and `SOCKETEER_PARTITION_CLIENT` set; it prints what
//! happens to it on its standard output. Creating namespaces and links
//! needs root (CAP_NET_ADMIN): without it the test says so and checks
//! nothing.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use socketeer::client::{ClientBuilder, ManagerOptions, Transports};
use socketeer::server::{DisconnectReason, Socket, SocketIo, SocketIoConfig};
use tokio::sync::mpsc;

const CLIENT_ENV: &str = "SOCKETEER_PARTITION_CLIENT";
const TEST_NAME: &str = "partition_is_detected_on_both_sides_and_healed";
const PING_INTERVAL: Duration = Duration::from_millis(1500);
const PING_TIMEOUT: Duration = Duration::from_millis(1500);
/// Scheduling on a busy machine, on top of pingInterval + pingTimeout.
const SLACK: Duration = Duration::from_millis(2500);
/// Bound on every other wait (connecting, reconnecting).
const WAIT: Duration = Duration::from_secs(30);

fn now_ms() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis()
}

/// Runs `ip` with `args`; the error says what failed.
fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("ip {}: {e}", args.join(" ")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// A namespace for the client and the veth pair to it; removed on drop
/// (also when the test fails).
struct Link {
    ns: String,
    host_if: String,
    host_ip: String,
}

impl Link {
    fn create() -> Result<Link, String> {
        let pid = std::process::id();
        let ns = format!("sk-part-{pid}");
        // Interface names are at most 15 bytes.
        let host_if = format!("skh{}", pid % 10_000_000);
        let peer_if = format!("skc{}", pid % 10_000_000);
        let subnet = format!("10.{}.{}", 200 + (pid >> 8) % 50, pid % 256);
        let host_ip = format!("{subnet}.1");
        ip(&["netns", "add", &ns])?;
        // From here on, Drop cleans up.
        let link = Link {
            ns,
            host_if,
            host_ip,
        };
        let ns = link.ns.as_str();
        ip(&[
            "link",
            "add",
            &link.host_if,
            "type",
            "veth",
            "peer",
            "name",
            &peer_if,
        ])?;
        ip(&["link", "set", &peer_if, "netns", ns])?;
        ip(&[
            "addr",
            "add",
            &format!("{}/30", link.host_ip),
            "dev",
            &link.host_if,
        ])?;
        ip(&["link", "set", &link.host_if, "up"])?;
        let client_ip = format!("{subnet}.2/30");
        ip(&["-n", ns, "addr", "add", &client_ip, "dev", &peer_if])?;
        ip(&["-n", ns, "link", "set", &peer_if, "up"])?;
        ip(&["-n", ns, "link", "set", "lo", "up"])?;
        Ok(link)
    }

    fn set(&self, up: bool) {
        ip(&["link", "set", &self.host_if, if up { "up" } else { "down" }]).unwrap();
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        // Deleting one end of a veth pair deletes both.
        let _ = ip(&["link", "del", &self.host_if]);
        let _ = ip(&["netns", "del", &self.ns]);
    }
}

/// What the server saw.
#[derive(Debug)]
enum Seen {
    Connected,
    Disconnected(String),
}

/// The client's side, in the namespace: connects, reconnects, reports.
async fn client(url: String) {
    let report = |line: String| {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    };
    // Attempts made while the link is down fail quickly and are tried
    // again, so that one starts soon after it is back.
    let mut options = ManagerOptions::default();
    options.engine.connect_timeout = Duration::from_secs(2);
    let socket = ClientBuilder::new(url)
        .options(options)
        .transports(Transports::WebSocket)
        .reconnection_delay(Duration::from_millis(200))
        .reconnection_delay_max(Duration::from_millis(500))
        .on_connect(move |_| report(format!("connect {}", now_ms())))
        .on_disconnect(move |_, reason: socketeer::client::DisconnectReason| {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "disconnect {} {}", reason.as_str(), now_ms());
            let _ = out.flush();
        })
        .connect()
        .await
        .expect("the client connects");
    // The test kills this process when it is done.
    tokio::time::sleep(WAIT * 3).await;
    drop(socket);
}

/// Starts the client in the namespace; its lines come through the channel.
fn start_client(link: &Link, url: &str) -> (Child, mpsc::UnboundedReceiver<String>) {
    let exe = std::env::current_exe().unwrap();
    let mut child = Command::new("ip")
        .args(["netns", "exec", &link.ns])
        .arg(exe)
        .args([TEST_NAME, "--exact", "--nocapture"])
        .env(CLIENT_ENV, url)
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the client in the namespace");
    let (tx, rx) = mpsc::unbounded_channel();
    let lines = BufReader::new(child.stdout.take().unwrap()).lines();
    std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            if line.starts_with("connect ") || line.starts_with("disconnect ") {
                let _ = tx.send(line);
            }
        }
    });
    (child, rx)
}

async fn next<T>(rx: &mut mpsc::UnboundedReceiver<T>, what: &str) -> T {
    tokio::time::timeout(WAIT, rx.recv())
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
        .unwrap_or_else(|| panic!("channel closed waiting for {what}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partition_is_detected_on_both_sides_and_healed() {
    if let Ok(url) = std::env::var(CLIENT_ENV) {
        return client(url).await;
    }
    let link = match Link::create() {
        Ok(link) => link,
        Err(e) => {
            eprintln!(
                "partition test skipped: creating a network namespace and a veth pair needs \
                 root (CAP_NET_ADMIN) and iproute2: {e}"
            );
            return;
        }
    };

    let mut config = SocketIoConfig::default();
    config.engine.ping_interval = PING_INTERVAL;
    config.engine.ping_timeout = PING_TIMEOUT;
    let io = SocketIo::new(config);
    let (seen_tx, mut seen) = mpsc::unbounded_channel();
    io.of("/").on_connection(move |socket: Socket| {
        let _ = seen_tx.send(Seen::Connected);
        let tx = seen_tx.clone();
        socket.on_disconnect(move |reason: DisconnectReason| {
            let _ = tx.send(Seen::Disconnected(reason.as_str().to_owned()));
        });
    });
    let listener = tokio::net::TcpListener::bind((link.host_ip.as_str(), 0))
        .await
        .expect("bind on the veth address");
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(io.serve(listener));

    let (mut child, mut client_lines) = start_client(&link, &url);
    let first = next(&mut client_lines, "the client to connect").await;
    assert!(first.starts_with("connect "), "{first}");
    assert!(matches!(
        next(&mut seen, "the server's connection").await,
        Seen::Connected
    ));

    // The partition: no reset, no close, packets just stop.
    let cut_ms = now_ms();
    let cut = Instant::now();
    link.set(false);
    let detection_bound = PING_INTERVAL + PING_TIMEOUT + SLACK;
    match next(&mut seen, "the server to notice").await {
        Seen::Disconnected(reason) => assert_eq!(reason, "ping timeout"),
        other => panic!("the server saw {other:?}"),
    }
    let server_noticed = cut.elapsed();
    let line = next(&mut client_lines, "the client to notice").await;
    let mut words = line.split(' ');
    assert_eq!(words.next(), Some("disconnect"), "{line}");
    assert_eq!(words.next(), Some("ping"), "{line}");
    assert_eq!(words.next(), Some("timeout"), "{line}");
    let at: u128 = words.next().unwrap().parse().unwrap();
    let client_noticed = Duration::from_millis(at.saturating_sub(cut_ms) as u64);
    println!(
        "partition noticed by the server after {server_noticed:?}, by the client after \
         {client_noticed:?} (pingInterval + pingTimeout = {:?})",
        PING_INTERVAL + PING_TIMEOUT
    );
    assert!(
        server_noticed <= detection_bound,
        "server: {server_noticed:?}"
    );
    assert!(
        client_noticed <= detection_bound,
        "client: {client_noticed:?}"
    );

    // Healed: the client reconnects by itself.
    let healed = Instant::now();
    link.set(true);
    let line = next(&mut client_lines, "the client to reconnect").await;
    assert!(line.starts_with("connect "), "{line}");
    assert!(matches!(
        next(&mut seen, "the server's new connection").await,
        Seen::Connected
    ));
    println!(
        "the client was back {:?} after the link came up",
        healed.elapsed()
    );

    let _ = child.kill();
    let _ = child.wait();
}
