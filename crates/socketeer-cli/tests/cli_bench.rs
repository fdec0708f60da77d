//! `socketeer bench` against the example servers: every scenario runs
//! briefly and must report non-zero counts in parseable `--json` (no speed
//! is asserted).
//!
//! Needs the `echo`, `conformance` and `bench_server` examples of the
//! `interop` package, of this test's profile (`cargo test --workspace` builds
//! them), or `SOCKETEER_ECHO_BIN` / `SOCKETEER_CONFORMANCE_BIN` /
//! `SOCKETEER_BENCH_SERVER_BIN` (scripts/test sets them to release builds).

use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// `target/<profile>`: this test binary is `target/<profile>/deps/cli_bench-<hash>`.
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("cannot locate the test binary");
    exe.parent()
        .and_then(Path::parent)
        .expect("test binary is not under target/<profile>/deps")
        .to_path_buf()
}

fn example_bin(name: &str, env_var: &str) -> PathBuf {
    if let Some(p) = std::env::var_os(env_var).filter(|v| !v.is_empty()) {
        let p = PathBuf::from(p);
        assert!(p.is_file(), "{env_var}={} does not exist", p.display());
        return p;
    }
    let p = profile_dir().join("examples").join(name);
    assert!(
        p.is_file(),
        "example {} not found: run `cargo build -p interop --examples` for this profile, or set {env_var}",
        p.display()
    );
    p
}

/// A server child process, killed on drop.
struct Server {
    child: Child,
    port: u16,
}

impl Server {
    fn start(name: &str, env_var: &str) -> Server {
        Server::start_with_env(name, env_var, &[])
    }

    /// [`start`](Self::start) with `env` added to the server's environment.
    fn start_with_env(name: &str, env_var: &str, env: &[(&str, &Path)]) -> Server {
        let bin = example_bin(name, env_var);
        // Ask the OS for a free port, then hand it to the server (it may be
        // taken meanwhile: then retry with another).
        for _ in 0..5 {
            let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
                .and_then(|l| l.local_addr())
                .expect("free port")
                .port();
            let mut child = Command::new(&bin)
                .arg(port.to_string())
                .envs(env.iter().copied())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_ok() {
                    return Server { child, port };
                }
                if child.try_wait().ok().flatten().is_some() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("{name} did not start listening");
    }

    fn url(&self) -> String {
        format!("ws://127.0.0.1:{}", self.port)
    }

    fn pid(&self) -> String {
        self.child.id().to_string()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `socketeer bench ARGS --json` and returns the parsed report.
fn bench(args: &[&str]) -> Value {
    let output = Command::new(env!("CARGO_BIN_EXE_socketeer"))
        .arg("bench")
        .args(args)
        .args(["--json", "--no-progress"])
        .output()
        .expect("run socketeer bench");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "socketeer bench {args:?} failed: {}\n{stdout}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("not one JSON object ({e}): {stdout}"))
}

fn num(report: &Value, key: &str) -> f64 {
    report[key]
        .as_f64()
        .unwrap_or_else(|| panic!("no number {key} in {report}"))
}

#[test]
fn ws_echo_against_the_echo_example() {
    let server = Server::start("echo", "SOCKETEER_ECHO_BIN");
    let (url, pid) = (server.url(), server.pid());
    let report = bench(&[
        "ws-echo",
        "--url",
        &url,
        "--server-pid",
        &pid,
        "-c",
        "8",
        "-s",
        "64",
        "-d",
        "4",
        "--warmup",
        "0.2",
        "--duration",
        "2",
    ]);
    assert_eq!(report["scenario"], "ws-echo");
    assert_eq!(report["conns"], 8);
    assert!(num(&report, "messages") > 0.0, "{report}");
    assert!(num(&report, "msgs_per_s") > 0.0);
    assert!(num(&report, "p50_us") > 0.0 && num(&report, "p99_us") >= num(&report, "p50_us"));
    assert!(num(&report, "server_cpu_s") >= 0.0);
    assert!(
        num(&report, "gen_cpu_s") > 0.0,
        "the generator's own CPU is reported"
    );
}

#[test]
fn ws_echo_prints_a_table_without_json() {
    let server = Server::start("echo", "SOCKETEER_ECHO_BIN");
    let output = Command::new(env!("CARGO_BIN_EXE_socketeer"))
        .args([
            "bench",
            "ws-echo",
            "--url",
            &server.url(),
            "-c",
            "2",
            "--text",
        ])
        .args(["--warmup", "0", "--duration", "0.5", "--no-progress"])
        .output()
        .expect("run socketeer bench");
    assert!(output.status.success(), "{output:?}");
    let table = String::from_utf8_lossy(&output.stdout);
    assert!(
        table.contains("msgs/s") && table.contains("generator CPU"),
        "{table}"
    );
}

#[test]
fn io_echo_acks_and_events_over_websocket_and_polling() {
    let server = Server::start("conformance", "SOCKETEER_CONFORMANCE_BIN");
    let (url, pid) = (server.url(), server.pid());
    for (transport, reply) in [
        ("websocket", "ack"),
        ("polling", "ack"),
        ("websocket", "event"),
    ] {
        let report = bench(&[
            "io-echo",
            "--url",
            &url,
            "--server-pid",
            &pid,
            "-c",
            "4",
            "-d",
            "2",
            "--transport",
            transport,
            "--reply",
            reply,
            "--warmup",
            "0.2",
            "--duration",
            "1",
        ]);
        assert_eq!(report["scenario"], "io-echo");
        assert_eq!(report["transport"], transport);
        assert!(
            num(&report, "messages") > 0.0,
            "{transport} {reply}: {report}"
        );
    }
}

/// At a fixed offered rate the polling clients send what is due and no
/// more: far fewer acks than the same clients would get at full speed.
#[test]
fn io_echo_over_polling_at_a_fixed_rate() {
    let server = Server::start("conformance", "SOCKETEER_CONFORMANCE_BIN");
    let (url, pid) = (server.url(), server.pid());
    let report = bench(&[
        "io-echo",
        "--url",
        &url,
        "--server-pid",
        &pid,
        "-c",
        "4",
        "-d",
        "1",
        "--transport",
        "polling",
        "--rate",
        "200",
        "--warmup",
        "0.2",
        "--duration",
        "1",
    ]);
    assert_eq!(report["transport"], "polling");
    assert_eq!(num(&report, "rate"), 200.0, "{report}");
    let messages = num(&report, "messages");
    // 200 due in the second measured; generous bounds, the pacing shows in
    // the upper one (unpaced, 4 clients answer thousands a second).
    assert!((50.0..=300.0).contains(&messages), "{report}");
}

#[test]
fn io_echo_over_wss_and_https() {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let dir = std::env::temp_dir().join(format!("socketeer-cli-bench-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (cert_path, key_path) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert_path, cert.cert.pem()).unwrap();
    std::fs::write(&key_path, cert.signing_key.serialize_pem()).unwrap();
    let server = Server::start_with_env(
        "conformance",
        "SOCKETEER_CONFORMANCE_BIN",
        &[("TLS_CERT", &cert_path), ("TLS_KEY", &key_path)],
    );
    let pid = server.pid();
    let ca = cert_path.to_str().unwrap();
    let run = |url: &str, transport: &str, ca: Option<&str>| {
        let mut args = vec![
            "io-echo",
            "--url",
            url,
            "--server-pid",
            &pid,
            "-c",
            "4",
            "-d",
            "2",
            "--transport",
            transport,
            "--warmup",
            "0.2",
            "--duration",
            "1",
        ];
        if let Some(ca) = ca {
            args.extend(["--ca", ca]);
        }
        Command::new(env!("CARGO_BIN_EXE_socketeer"))
            .arg("bench")
            .args(&args)
            .args(["--json", "--no-progress"])
            .output()
            .expect("run socketeer bench")
    };
    let wss = format!("wss://localhost:{}", server.port);
    let https = format!("https://localhost:{}", server.port);
    let outcomes = [
        (run(&wss, "websocket", Some(ca)), "wss"),
        (run(&https, "polling", Some(ca)), "https-polling"),
    ];
    // Without --ca, and plain ws:// against the TLS server: refused, failed.
    let without_ca = run(&wss, "websocket", None);
    let plain = run(&server.url(), "websocket", None);
    std::fs::remove_dir_all(&dir).unwrap();
    for (output, transport) in outcomes {
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "{transport}: {}\n{stdout}",
            String::from_utf8_lossy(&output.stderr)
        );
        let report: Value = serde_json::from_str(stdout.trim()).unwrap();
        assert_eq!(report["transport"], transport, "{report}");
        assert!(num(&report, "messages") > 0.0, "{transport}: {report}");
    }
    assert!(!without_ca.status.success());
    assert!(String::from_utf8_lossy(&without_ca.stderr).contains("--ca"));
    assert!(!plain.status.success());
}

#[test]
fn io_broadcast_reaches_every_receiver() {
    let server = Server::start("conformance", "SOCKETEER_CONFORMANCE_BIN");
    let report = bench(&[
        "io-broadcast",
        "--url",
        &server.url(),
        "--server-pid",
        &server.pid(),
        "-c",
        "20",
        "--warmup",
        "0.2",
        "--duration",
        "1",
    ]);
    assert_eq!(report["scenario"], "io-broadcast");
    let (messages, deliveries) = (num(&report, "messages"), num(&report, "deliveries"));
    assert!(messages > 0.0, "{report}");
    // Each completed broadcast reached all 20 receivers; deliveries of the
    // broadcasts still in flight at either end of the phase come on top.
    assert!(deliveries >= messages * 20.0 - 4.0 * 20.0, "{report}");
}

#[test]
fn connections_open_answer_heartbeats_and_churn() {
    let echo = Server::start("echo", "SOCKETEER_ECHO_BIN");
    let report = bench(&[
        "connections",
        "--url",
        &echo.url(),
        "--server-pid",
        &echo.pid(),
        "-c",
        "200",
        "--rate",
        "2000",
        "--hold",
        "0.2",
        "--source-addrs",
        "3",
        "--churn-rate",
        "100",
        "--churn-duration",
        "0.5",
    ]);
    assert_eq!(report["opened"], 200, "{report}");
    assert_eq!(report["heartbeat_answered"], 200, "{report}");
    assert!(num(&report, "rss_open") > 0.0);
    assert!(num(&report, "churned") > 0.0, "{report}");
    assert_eq!(report["alive_after_churn"], 200, "{report}");

    let io = Server::start("conformance", "SOCKETEER_CONFORMANCE_BIN");
    for transport in ["websocket", "polling"] {
        let report = bench(&[
            "connections",
            "--url",
            &io.url(),
            "--server-pid",
            &io.pid(),
            "--protocol",
            "io",
            "--transport",
            transport,
            "-c",
            "50",
            "--hold",
            "0.2",
            "--heartbeat-timeout",
            "3",
        ]);
        assert_eq!(report["opened"], 50, "{transport}: {report}");
        // The conformance server pings every 300 ms: every session answered.
        assert_eq!(report["heartbeat_answered"], 50, "{transport}: {report}");
        assert!(num(&report, "pings") >= 50.0, "{report}");
    }
}

#[test]
fn refuses_unbounded_or_empty_runs() {
    for args in [
        &["ws-echo", "--url", "ws://127.0.0.1:9", "-c", "0"][..],
        &["ws-echo", "--url", "ws://127.0.0.1:9", "--duration", "1e9"],
        &["io-broadcast", "--url", "ws://127.0.0.1:9", "-s", "5"],
        &["connections", "--url", "ftp://127.0.0.1:9"],
    ] {
        let output = Command::new(env!("CARGO_BIN_EXE_socketeer"))
            .arg("bench")
            .args(args)
            .output()
            .expect("run socketeer bench");
        assert!(!output.status.success(), "{args:?} was accepted");
        assert!(!output.stderr.is_empty());
    }
}

/// Clients of the avalanche tests.
const AVALANCHE_CLIENTS: u64 = 300;

/// Runs a 300-client `avalanche` against `server` with `storm` (the
/// storm's own options) and checks what every storm must show: all clients
/// back, and every tick emitted after a client's reconnection delivered to
/// it (≥ 99.9%). Gives the report (the avalanche's figures are at its top
/// level).
fn avalanche(server: &Server, storm: &[&str], mode: &str) -> Value {
    let (url, clients) = (server.url(), AVALANCHE_CLIENTS.to_string());
    let mut args = vec!["avalanche", "--url", &url];
    args.extend_from_slice(storm);
    args.extend_from_slice(&["-c", &clients, "--rate", "1000", "--hold", "2"]);
    args.extend_from_slice(&["--after", "3", "--storm-timeout", "30"]);
    let report = bench(&args);
    eprintln!("{mode}: {report}");
    assert_eq!(report["storm_mode"], mode, "{report}");
    assert_eq!(report["back"], AVALANCHE_CLIENTS, "{report}");
    assert!(report["all_back_s"].is_number(), "{report}");
    assert!(num(&report, "after_expected") > 0.0, "{report}");
    assert!(num(&report, "after_ratio") >= 0.999, "{report}");
    report
}

/// The reconnect avalanche, scaled down for the suite (`scripts/bench
/// --only io-avalanche` runs 10,000 clients): 300 Socket.IO clients lose
/// their connection at once and come back with socket.io-client's backoff.
/// Restart: the server is killed and started again; every tick it emits
/// after a client's reconnection must reach that client (≥ 99.9%).
#[test]
fn avalanche_after_a_restart_every_tick_after_reconnection_arrives() {
    let server = Server::start_with_env(
        "bench_server",
        "SOCKETEER_BENCH_SERVER_BIN",
        &[("TICK_MS", Path::new("100"))],
    );
    let bin = example_bin("bench_server", "SOCKETEER_BENCH_SERVER_BIN");
    let restart = format!("TICK_MS=100 exec '{}' {}", bin.display(), server.port);
    let pid = server.pid();
    let storm = ["--server-pid", &pid, "--restart-cmd", &restart];
    avalanche(&server, &storm, "restart");
}

/// The same storm with the server up and every connection reset: with
/// connection state recovery, every session comes back with its id, and
/// every tick emitted while a client was away is replayed (100%).
#[test]
fn avalanche_after_a_cut_recovery_replays_every_missed_tick() {
    let server = Server::start_with_env(
        "bench_server",
        "SOCKETEER_BENCH_SERVER_BIN",
        &[("TICK_MS", Path::new("100")), ("RECOVERY", Path::new("1"))],
    );
    let report = avalanche(&server, &["--mode", "cut"], "cut");
    assert_eq!(report["recovered"], AVALANCHE_CLIENTS, "{report}");
    assert!(num(&report, "during_expected") > 0.0, "{report}");
    assert_eq!(num(&report, "during_ratio"), 1.0, "{report}");
}
