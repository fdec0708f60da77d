//! The cluster contract of the conformance server (docs/conformance.md,
//! "The cluster contract") on a mixed cluster: two conformance servers
//! (the release example, `REDIS_URL` set: A and B) and its Node
//! counterpart (`crates/socketeer-redis/tests/node/conformance_cluster.mjs`,
//! socket.io with `@socket.io/redis-adapter`: N) on a private
//! `redis-server`, with official `socket.io-client` clients spread over the
//! three (`interop/peers/node-socketio-client/cluster.mjs`, which runs the
//! scenario and prints what it saw). Every handler is used through a Rust
//! and through the Node server, so each check crosses Rust→Node,
//! Node→Rust and Rust→Rust.
//!
//! Also checked: without a reachable Redis the server exits at once with a
//! clear error.
//!
//! Needs the optimised example (`cargo build --profile interop -p interop
//! --examples` or `--release`, or `SOCKETEER_CONFORMANCE_BIN`), `node` with the npm packages of both Node
//! folders and `redis-server` (`scripts/setup-test-deps` installs them).
//! A missing one fails the test; it is never skipped.

use std::io::{BufRead, BufReader, Read};
use std::net::{Ipv4Addr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use socketeer_test_support::{free_port, RedisServer};

const HINT: &str = "scripts/setup-test-deps installs the peers; \
                    `cargo build --profile interop -p interop --examples` \
                    (or `--release`) builds the server";
/// Bound on the scenario (the script stops itself after 45 s).
const RUN_TIMEOUT: Duration = Duration::from_secs(50);

fn root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

/// `SOCKETEER_CONFORMANCE_BIN`, or the newer of
/// `target/interop/examples/conformance` (what scripts/test builds) and
/// `target/release/examples/conformance`.
fn conformance_bin() -> PathBuf {
    let p = std::env::var_os("SOCKETEER_CONFORMANCE_BIN")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            socketeer_test_support::newest_example(root(), &["interop", "release"], "conformance")
        });
    assert!(
        p.is_file(),
        "no conformance server at {}; {HINT}",
        p.display()
    );
    p
}

/// A child process, killed (and reaped) when dropped; its stderr is kept.
struct Proc {
    child: Child,
    stderr: Arc<Mutex<Vec<u8>>>,
    /// Kept open: the Node server exits when its stdin closes.
    _stdin: Option<ChildStdin>,
}

impl Proc {
    fn spawn(mut cmd: Command, what: &str) -> Proc {
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {what}: {e}; {HINT}"));
        let stderr: Arc<Mutex<Vec<u8>>> = Arc::default();
        let (mut pipe, sink) = (child.stderr.take().unwrap(), stderr.clone());
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n @ 1..) = pipe.read(&mut buf) {
                sink.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        });
        let stdin = child.stdin.take();
        Proc {
            child,
            stderr,
            _stdin: stdin,
        }
    }

    /// Its stdout's lines, as they come.
    fn lines(&mut self) -> mpsc::Receiver<String> {
        let (tx, rx) = mpsc::channel();
        let out = self.child.stdout.take().expect("stdout taken once");
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        rx
    }

    fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.stderr.lock().unwrap()).into_owned()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A conformance server in cluster mode on a free port.
fn rust_server(redis_url: &str) -> (Proc, u16) {
    for _ in 0..5 {
        let port = free_port();
        let mut cmd = Command::new(conformance_bin());
        cmd.arg(port.to_string()).env("REDIS_URL", redis_url);
        let mut proc = Proc::spawn(cmd, "the conformance server");
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_ok() {
                return (proc, port);
            }
            if let Ok(Some(_)) = proc.child.try_wait() {
                break; // the port was taken meanwhile: try another
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        eprintln!("conformance server: {}", proc.stderr());
    }
    panic!("the conformance server would not start in cluster mode");
}

fn node_dir(relative: &str) -> PathBuf {
    let dir = root().join(relative);
    assert!(
        dir.join("node_modules").is_dir(),
        "no node_modules in {}; {HINT}",
        dir.display()
    );
    dir
}

/// The Node counterpart on a free port.
fn node_server(redis_url: &str) -> (Proc, u16) {
    let mut cmd = Command::new("node");
    cmd.current_dir(node_dir("crates/socketeer-redis/tests/node"))
        .args(["conformance_cluster.mjs", redis_url]);
    let mut proc = Proc::spawn(cmd, "node conformance_cluster.mjs");
    let lines = proc.lines();
    let line = lines
        .recv_timeout(Duration::from_secs(15))
        .unwrap_or_else(|_| panic!("the Node server did not start: {}", proc.stderr()));
    let port = serde_json::from_str::<Value>(&line).unwrap()["listening"]
        .as_u64()
        .unwrap_or_else(|| panic!("the Node server printed {line:?}"));
    (proc, port as u16)
}

/// How many subscribers the request channel of `/` has.
fn request_subscribers(conn: &mut redis::Connection) -> i64 {
    let (_, n): (String, i64) = redis::cmd("PUBSUB")
        .arg("NUMSUB")
        .arg("socket.io-request#/#")
        .query(conn)
        .expect("PUBSUB NUMSUB");
    n
}

#[test]
fn unreachable_redis_is_an_error_at_start() {
    let url = format!("redis://127.0.0.1:{}", free_port());
    let out = Command::new(conformance_bin())
        .arg(free_port().to_string())
        .env("REDIS_URL", &url)
        .stdin(Stdio::null())
        .output()
        .expect("run the conformance server");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("cannot join the cluster") && stderr.contains(&url),
        "{stderr}"
    );
    assert!(!stderr.contains("listening"), "{stderr}");
}

#[test]
fn mixed_cluster_contract() {
    let redis = RedisServer::start_from_path();
    let url = redis.url();
    let (a, port_a) = rust_server(&url);
    let (b, port_b) = rust_server(&url);
    let (n, port_n) = node_server(&url);
    let mut conn = redis::Client::open(url.as_str())
        .unwrap()
        .get_connection()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while request_subscribers(&mut conn) < 3 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        request_subscribers(&mut conn),
        3,
        "three servers subscribed"
    );

    let mut cmd = Command::new("node");
    let http = |port: u16| format!("http://127.0.0.1:{port}");
    cmd.current_dir(node_dir("interop/peers/node-socketio-client"))
        .arg("cluster.mjs")
        .args([http(port_a), http(port_b), http(port_n)])
        .arg(redis.port.to_string());
    let mut script = Proc::spawn(cmd, "node cluster.mjs");
    let rx = script.lines();
    let deadline = Instant::now() + RUN_TIMEOUT;
    let mut lines: Vec<Value> = Vec::new();
    while let Ok(line) = rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
        lines.push(serde_json::from_str(&line).unwrap_or(json!({"non-json": line})));
    }
    let report = || {
        format!(
            "lines: {lines:#?}\nscript stderr: {}\nA: {}\nB: {}\nN: {}",
            script.stderr(),
            a.stderr(),
            b.stderr(),
            n.stderr()
        )
    };
    assert!(
        lines.last().is_some_and(|l| l["ev"] == "done"),
        "the scenario did not finish\n{}",
        report()
    );
    Check { lines: &lines }.all(&report);
    for (name, server) in [("A", &a), ("B", &b), ("N", &n)] {
        assert!(
            !server.stderr().contains("panicked"),
            "{name}: {}",
            server.stderr()
        );
    }
}

/// The checks on what `cluster.mjs` printed.
struct Check<'a> {
    lines: &'a [Value],
}

impl Check<'_> {
    /// The socket ids of `names`, sorted.
    fn ids(&self, names: &[&str]) -> Value {
        let all = &self
            .lines
            .iter()
            .find(|l| l["ev"] == "ids")
            .expect("ids line")["ids"];
        let mut ids: Vec<String> = names
            .iter()
            .map(|n| all[n].as_str().expect("an id").to_owned())
            .collect();
        ids.sort();
        json!(ids)
    }

    /// The acks of `step`: (client, args, what the ack got).
    fn acks(&self, step: &str) -> Vec<(String, Value, Value)> {
        self.lines
            .iter()
            .filter(|l| l["ev"] == "ack" && l["step"] == step)
            .map(|l| {
                (
                    l["client"].as_str().unwrap().to_owned(),
                    l["args"].clone(),
                    l["got"][0].clone(),
                )
            })
            .collect()
    }

    /// Each client's log of `step`.
    fn logs(&self, step: &str) -> Vec<(String, Value)> {
        self.lines
            .iter()
            .filter(|l| l["ev"] == "log" && l["step"] == step)
            .map(|l| {
                (
                    l["client"].as_str().unwrap().to_owned(),
                    l["events"].clone(),
                )
            })
            .collect()
    }

    /// Each client's log of `step` holds exactly `event` once if it is
    /// one of `expected`, and nothing otherwise.
    fn exactly(&self, step: &str, expected: &[&str], event: Value, report: &dyn Fn() -> String) {
        let logs = self.logs(step);
        assert_eq!(logs.len(), 5, "{step}: five logs\n{}", report());
        for (client, events) in logs {
            let want = if expected.contains(&client.as_str()) {
                json!([event])
            } else {
                json!([])
            };
            assert_eq!(events, want, "{step}: what {client} got\n{}", report());
        }
    }

    fn all(&self, report: &dyn Fn() -> String) {
        let everyone = ["a1", "a2", "b1", "n1", "n2"];
        let got = |step: &str| -> Vec<(String, Value, Value)> {
            let mut acks = self.acks(step);
            acks.sort_by(|x, y| (&x.0, x.1.to_string()).cmp(&(&y.0, y.1.to_string())));
            acks
        };
        let ack = |c: &str, args: Value, got: Value| (c.to_owned(), args, got);

        // cluster-count, asked of A, B and N.
        assert_eq!(
            got("count"),
            ["a1", "b1", "n1"].map(|c| ack(c, json!([]), json!(5))),
            "cluster-count\n{}",
            report()
        );
        // cluster-rooms of "red" (a1, b1, n1) and "blue" (a2, n2).
        let (red, blue) = (self.ids(&["a1", "b1", "n1"]), self.ids(&["a2", "n2"]));
        assert_eq!(
            got("rooms"),
            vec![
                ack("a1", json!(["blue"]), blue.clone()),
                ack("a2", json!(["red"]), red.clone()),
                ack("b1", json!(["red"]), red.clone()),
                ack("n1", json!(["blue"]), blue),
                ack("n2", json!(["red"]), red),
            ],
            "cluster-rooms\n{}",
            report()
        );
        // cluster-join through A ("j1") and N ("j2"): everyone is in both.
        assert_eq!(
            got("join"),
            vec![
                ack("a1", json!(["j1"]), json!("ok")),
                ack("n2", json!(["j2"]), json!("ok")),
            ],
            "cluster-join\n{}",
            report()
        );
        let all_ids = self.ids(&everyone);
        assert_eq!(
            got("joined"),
            vec![
                ack("a1", json!(["j2"]), all_ids.clone()),
                ack("a2", json!(["j1"]), all_ids.clone()),
                ack("b1", json!(["j1"]), all_ids.clone()),
                ack("b1", json!(["j2"]), all_ids.clone()),
                ack("n1", json!(["j1"]), all_ids),
            ],
            "cluster-rooms after cluster-join\n{}",
            report()
        );
        // peer-say: the other servers' clients only, once each.
        self.exactly(
            "peer-say from-a",
            &["b1", "n1", "n2"],
            json!(["peer-said", "from-a", 1]),
            report,
        );
        self.exactly(
            "peer-say from-n",
            &["a1", "a2", "b1"],
            json!(["peer-said", "from-n"]),
            report,
        );
        self.exactly(
            "peer-say from-b",
            &["a1", "a2", "n1", "n2"],
            json!(["peer-said", "from-b", {"k": [true, null]}]),
            report,
        );
        // cluster-ask: every client answers; with a silent one, "timeout".
        assert_eq!(
            got("ask"),
            ["a1", "b1", "n1"].map(|c| ack(c, json!([]), json!(5))),
            "cluster-ask\n{}",
            report()
        );
        assert_eq!(
            got("ask-timeout"),
            ["a2", "n2"].map(|c| ack(c, json!([]), json!("timeout"))),
            "cluster-ask with a client that does not answer\n{}",
            report()
        );
        // A server that never answers: every server's fetch fails.
        let failed = got("fetch-error");
        let asked: Vec<(&str, Value)> =
            failed.iter().map(|f| (f.0.as_str(), f.1.clone())).collect();
        assert_eq!(
            asked,
            vec![("a1", json!([])), ("b1", json!(["red"])), ("n1", json!([])),],
            "{}",
            report()
        );
        for (client, _, got) in &failed {
            let message = got["error"].as_str().unwrap_or_default();
            assert!(
                message.starts_with("timeout reached"),
                "{client}'s fetch with a silent server: {got}\n{}",
                report()
            );
        }
        // cluster-kick "red" through A, then "blue" through N.
        let kicked = json!(["disconnect", "io server disconnect"]);
        self.exactly("kick red", &["a1", "b1", "n1"], kicked.clone(), report);
        self.exactly("kick blue", &["a2", "n2"], kicked, report);
    }
}
