//! A server of the cluster killed with SIGKILL: three socketeer servers,
//! each a process of its own (this test binary run again, as
//! [`server_process`]) with the classic Redis adapter, and one Node
//! `socket.io` server with `@socket.io/redis-adapter`, on a private
//! `redis-server`, with official `socket.io-client` clients on each.
//!
//! One socketeer server is killed while broadcasts flow: the others keep
//! delivering each broadcast to their clients exactly once, Redis stops
//! counting the dead server at once (`PUBSUB NUMSUB`), so `fetch_sockets`,
//! server-side emits with acknowledgements and broadcasts with
//! acknowledgements asked at the survivors answer completely and without
//! waiting for their timeout. A server that is still subscribed but does
//! not answer (stopped with SIGSTOP) makes those requests end at their
//! timeout (5 s) with the answers received, at socketeer and Node servers
//! alike, except Node's `fetchSockets`, which fails at its timeout where
//! socketeer's `fetch_sockets` returns the sockets it got.
//! The killed server's clients, connected again by hand to survivors, are
//! reachable again. The figures (time to detect, time for each request)
//! are printed.
//!
//! Skipped, with a message, only when `redis-server` or `node` is absent.

mod support;

use std::io::Write;
use std::time::{Duration, Instant};

use serde_json::{json, Value as Json};
use socketeer_redis::{adapter_factory, RedisAdapterOptions};
use support::mixed::{serve, Clients};
use support::node::{programs, spawn_json, spawn_node, Lines};
use support::{node_dir, RedisServer};
use tokio::process::{Child, Command};

/// The variable that makes the test run as [`server_process`]: `REDIS_URL,NAME`.
const SERVER_ENV: &str = "SOCKETEER_REDIS_TEST_SERVER";

/// The socketeer server process that [`socketeer_server_killed_by_sigkill`]
/// starts: this test binary run again on that same test, with
/// `SOCKETEER_REDIS_TEST_SERVER=REDIS_URL,NAME` set, which makes the test
/// serve instead. It serves the handlers of `tests/node/cluster_server.mjs`
/// with the Redis adapter on a free port, prints `{"listening":PORT}` and
/// runs until killed or until its standard input closes.
async fn server_process(spec: &str) {
    let (url, name) = spec.split_once(',').expect("REDIS_URL,NAME");
    let name: &'static str = Box::leak(name.to_owned().into_boxed_str());
    let adapter = adapter_factory(
        redis::Client::open(url).unwrap(),
        RedisAdapterOptions::default(),
    )
    .await
    .expect("redis adapter");
    let (_io, port) = serve(adapter, name).await;
    println!("{}", json!({ "listening": port }));
    tokio::task::spawn_blocking(|| {
        let mut sink = Vec::new();
        let _ = std::io::Read::read_to_end(&mut std::io::stdin(), &mut sink);
    })
    .await
    .unwrap();
}

/// Starts [`server_process`] as server `name`; returns it and its port.
async fn start_server(url: &str, name: &str) -> (Child, u16) {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args([
        "socketeer_server_killed_by_sigkill",
        "--exact",
        "--nocapture",
    ])
    .env(SERVER_ENV, format!("{url},{name}"));
    let (child, lines) = spawn_json(cmd);
    (child, listening(&lines, name).await)
}

async fn listening(lines: &Lines, name: &str) -> u16 {
    lines
        .wait_for(&format!("server {name} listening"), |l| {
            l.get("listening").is_some()
        })
        .await["listening"]
        .as_u64()
        .unwrap() as u16
}

/// How many servers are subscribed to the main namespace's request
/// channel: what the adapters count as the cluster's servers.
async fn numsub(url: &str) -> i64 {
    let mut conn = redis::Client::open(url)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let (_, n): (String, i64) = redis::cmd("PUBSUB")
        .arg("NUMSUB")
        .arg("socket.io-request#/#")
        .query_async(&mut conn)
        .await
        .unwrap();
    n
}

/// Kills `server` with SIGKILL and watches `PUBSUB NUMSUB` (every 2 ms)
/// until it counts three servers: returns when it was killed and the
/// watcher, which ends with the time that took (`None` after 5 s).
async fn kill_and_watch(
    server: &mut Child,
    url: &str,
) -> (Instant, tokio::task::JoinHandle<Option<Duration>>) {
    let mut conn = redis::Client::open(url)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    server.start_kill().expect("SIGKILL");
    let killed_at = Instant::now();
    let watch = tokio::spawn(async move {
        while killed_at.elapsed() < Duration::from_secs(5) {
            let (_, n): (String, i64) = redis::cmd("PUBSUB")
                .arg("NUMSUB")
                .arg("socket.io-request#/#")
                .query_async(&mut conn)
                .await
                .unwrap();
            if n == 3 {
                return Some(killed_at.elapsed());
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        None
    });
    (killed_at, watch)
}

/// Sends `signal` (`STOP`, `CONT`) to process `pid`.
fn signal(pid: u32, signal: &str) {
    let status = std::process::Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -{signal} {pid}");
}

/// Prints a figure straight to stderr (past the test harness's capture).
fn figure(line: String) {
    let _ = writeln!(std::io::stderr(), "FIGURE: {line}");
}

/// The answers `NAME:q` of `names`, sorted.
fn answers(names: &[&str], q: &str) -> Json {
    let mut a: Vec<String> = names.iter().map(|n| format!("{n}:{q}")).collect();
    a.sort();
    json!(a)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn socketeer_server_killed_by_sigkill() {
    if let Ok(spec) = std::env::var(SERVER_ENV) {
        return server_process(&spec).await;
    }
    let Some(found) = programs(&["redis-server", "node"]) else {
        return;
    };
    let (redis_bin, node) = (found[0].clone(), found[1].clone());
    assert!(
        node_dir().join("node_modules/socket.io").is_dir(),
        "run `npm ci` in {} (scripts/setup-test-deps does)",
        node_dir().display()
    );
    let redis = RedisServer::start(&redis_bin);
    let url = redis.url();
    tokio::time::timeout(Duration::from_secs(55), run(&node, &url))
        .await
        .expect("the SIGKILL test took over 55 s");
}

async fn run(node: &std::path::Path, url: &str) {
    let (a, port_a) = start_server(url, "A").await;
    let (b, port_b) = start_server(url, "B").await;
    let (mut c_server, port_c) = start_server(url, "C").await;
    let (n, n_lines) = spawn_node(node, &["cluster_server.mjs", url, "N"]);
    let port_n = listening(&n_lines, "N").await;
    for _ in 0..100 {
        if numsub(url).await >= 4 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(numsub(url).await, 4, "four servers subscribed");

    let spec = json!([
        {"name": "a1", "port": port_a, "transport": "websocket", "rooms": ["red"]},
        {"name": "a2", "port": port_a, "transport": "polling", "rooms": []},
        {"name": "b1", "port": port_b, "transport": "websocket", "rooms": ["red"]},
        {"name": "c1", "port": port_c, "transport": "websocket", "rooms": ["red"]},
        {"name": "c2", "port": port_c, "transport": "polling", "rooms": []},
        {"name": "n1", "port": port_n, "transport": "websocket", "rooms": ["red"]},
    ])
    .to_string();
    let (mut child, lines) = spawn_node(node, &["cluster_clients.mjs", &spec]);
    let ready = lines
        .wait_for("clients ready", |l| l["ready"] == true)
        .await;
    let mut c = Clients {
        stdin: child.stdin.take().unwrap(),
        lines,
        next_id: 0,
        ids: ready["ids"].clone(),
    };
    let all = ["a1", "a2", "b1", "c1", "c2", "n1"];
    let survivors = ["a1", "a2", "b1", "n1"];
    c.call("c1", json!(["to-all", "before"])).await;
    c.expect("before", &all, &json!([])).await;
    let ack = c.call("a1", json!(["fetch-count", []])).await;
    assert_eq!(ack[0], 6, "all six, asked at A before the kill: {ack}");

    // C is killed while A, B and N broadcast, one every 25 ms.
    let flows = 40;
    let mut sent = Vec::new();
    let mut killed = None;
    for k in 0..flows {
        let sender = ["a1", "n1", "b1"][k % 3];
        sent.push(c.send(sender, json!(["to-all", format!("flow-{k}")])).await);
        if k == 15 {
            killed = Some(kill_and_watch(&mut c_server, url).await);
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let (killed_at, detection) = killed.unwrap();
    let _ = c_server.wait().await;
    // Redis drops the dead server's subscriptions when the kernel closes
    // its connections.
    let detected = detection
        .await
        .unwrap()
        .expect("PUBSUB NUMSUB still counts C 5 s after SIGKILL");
    figure(format!(
        "PUBSUB NUMSUB 4 -> 3 within {detected:?} of the SIGKILL"
    ));
    for id in sent {
        c.ack(id).await;
    }
    for who in ["c1", "c2"] {
        let l = c
            .lines
            .wait_for(&format!("{who} disconnected"), |l| {
                l["client"] == who && l.get("disconnect").is_some()
            })
            .await;
        figure(format!(
            "{who} (C's client) saw {} by {:?} after the SIGKILL",
            l["disconnect"],
            killed_at.elapsed()
        ));
    }
    // Every broadcast reached every survivor's client, exactly once.
    for k in 0..flows {
        let event = format!("flow-{k}");
        for who in survivors {
            c.lines
                .wait_for(&format!("{who} gets {event}"), |l| {
                    l["client"] == who && l["event"] == event.as_str()
                })
                .await;
        }
    }
    tokio::time::sleep(Duration::from_millis(800)).await;
    for k in 0..flows {
        let event = format!("flow-{k}");
        for who in survivors {
            assert_eq!(
                c.lines
                    .count(|l| l["client"] == who && l["event"] == event.as_str()),
                1,
                "{event} at {who}"
            );
        }
    }
    figure(format!(
        "{flows} broadcasts (C killed after the 16th) each reached A's, B's and N's 4 clients exactly once"
    ));

    // Requests at the survivors count three servers: complete answers,
    // without waiting for the 5 s timeout.
    let alive = c.sorted_ids(&survivors);
    for asker in ["a1", "b1", "n1"] {
        let started = Instant::now();
        let ack = c.call(asker, json!(["fetch-count", []])).await;
        let took = started.elapsed();
        assert_eq!(
            ack,
            json!([4, alive, 4, Clients::servers_of(&survivors)]),
            "fetchSockets at {asker} after the kill"
        );
        let started = Instant::now();
        let q = format!("k-{asker}");
        let ack2 = c.call(asker, json!(["ask-all", q])).await;
        let took2 = started.elapsed();
        assert_eq!(
            ack2,
            json!([true, answers(&survivors, &q)]),
            "emit with acks at {asker} after the kill"
        );
        let started = Instant::now();
        let ack3 = c.call(asker, json!(["peer-ask", "p"])).await;
        let took3 = started.elapsed();
        assert_eq!(ack3[0], true, "serverSideEmit with ack at {asker}: {ack3}");
        assert_eq!(ack3[1].as_array().unwrap().len(), 2, "{ack3}");
        figure(format!(
            "after the kill, at {asker}: fetchSockets {took:?}, emit with acks {took2:?}, serverSideEmit with ack {took3:?}"
        ));
        for t in [took, took2, took3] {
            assert!(t < Duration::from_secs(2), "{asker} waited {t:?}");
        }
    }

    // B stopped (SIGSTOP) is still subscribed but answers nothing: the
    // same requests at A and N end at their 5 s timeout with the answers
    // received.
    let b_pid = b.id().expect("B's pid");
    signal(b_pid, "STOP");
    let stopped_at = Instant::now();
    let mut pending = Vec::new();
    for asker in ["a1", "n1"] {
        pending.push((
            asker,
            "fetch",
            c.send(asker, json!(["fetch-count", []])).await,
        ));
        let q = format!("s-{asker}");
        pending.push((asker, "ask", c.send(asker, json!(["ask-all", q])).await));
        pending.push((asker, "peer", c.send(asker, json!(["peer-ask", "s"])).await));
    }
    let answering = ["a1", "a2", "n1"];
    for (asker, what, id) in pending {
        let ack = c.ack(id).await;
        let took = stopped_at.elapsed();
        match what {
            // Node's fetchSockets fails at its timeout (socketeer's
            // fetch_sockets returns the sockets it got).
            "fetch" if asker == "n1" => assert_eq!(
                ack,
                json!([
                    -1,
                    ["Error: timeout reached while waiting for fetchSockets response"]
                ]),
                "fetchSockets at {asker} with B stopped"
            ),
            "fetch" => assert_eq!(
                ack,
                json!([
                    3,
                    c.sorted_ids(&answering),
                    3,
                    Clients::servers_of(&answering)
                ]),
                "fetchSockets at {asker} with B stopped"
            ),
            "ask" => assert_eq!(
                ack,
                json!([false, answers(&answering, &format!("s-{asker}"))]),
                "emit with acks at {asker} with B stopped"
            ),
            _ => {
                let other = if asker == "a1" { "N:s" } else { "A:s" };
                assert_eq!(
                    ack,
                    json!([false, [other]]),
                    "serverSideEmit with ack at {asker} with B stopped"
                );
            }
        }
        figure(format!(
            "B stopped: {what} at {asker} answered (partly) after {took:?}"
        ));
        assert!(
            took > Duration::from_millis(4500) && took < Duration::from_secs(7),
            "{what} at {asker} with B stopped took {took:?}, not its 5 s timeout"
        );
    }
    signal(b_pid, "CONT");

    // C's clients, connected again by hand (socket.io-client does not move
    // to another server by itself), to B and to N, are reachable again.
    let started = Instant::now();
    c.connect("c1", port_b, "websocket", &["red"]).await;
    c.connect("c2", port_n, "polling", &[]).await;
    figure(format!(
        "c1 -> B and c2 -> N connected again in {:?}",
        started.elapsed()
    ));
    c.call("a1", json!(["to-all", "after"])).await;
    c.expect("after", &all, &json!([])).await;
    c.call("n1", json!(["to-room", "red", null, "red-after"]))
        .await;
    c.expect("red-after", &["a1", "b1", "c1", "n1"], &json!([]))
        .await;
    let mut servers = vec!["A", "A", "B", "B", "N", "N"];
    servers.sort();
    for asker in ["a1", "b1", "n1", "c2"] {
        let started = Instant::now();
        let ack = c.call(asker, json!(["fetch-count", []])).await;
        assert_eq!(
            ack,
            json!([6, c.sorted_ids(&all), 6, servers]),
            "fetchSockets at {asker} after the reconnection"
        );
        let q = format!("r-{asker}");
        let ack = c.call(asker, json!(["ask-all", q])).await;
        assert_eq!(
            ack,
            json!([true, answers(&all, &q)]),
            "emit with acks at {asker} after the reconnection"
        );
        figure(format!(
            "after the reconnection, at {asker}: fetchSockets and emit with acks in {:?}",
            started.elapsed()
        ));
    }
    drop(c);
    let _ = child.wait().await;
    // Killed and reaped (a panic kills them on drop).
    for mut server in [a, b, n] {
        let _ = server.kill().await;
    }
}
