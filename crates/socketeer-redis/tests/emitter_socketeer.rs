//! Emitters into a socketeer-only cluster: two socketeer servers with the
//! classic adapter ([`adapter_factory`]) on a private `redis-server`,
//! official `socket.io-client` clients on both (in `/` and `/admin`), and
//! a job worker publishing with an emitter: [`socketeer_redis::Emitter`]
//! from this process, then the official `@socket.io/redis-emitter` from
//! Node (`tests/node/emitter.mjs`). Each operation (emit to all, to rooms,
//! except rooms, to another namespace; `socketsJoin`, `socketsLeave`,
//! `disconnectSockets`, `serverSideEmit`) must reach exactly the targeted
//! clients (or servers) on both servers, once.
//!
//! Skipped, with a message, only when `redis-server` or `node` is absent.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use redis::aio::MultiplexedConnection;
use serde_json::{json, Value as Json};
use socketeer::server::{Socket, SocketIo, SocketIoConfig};
use socketeer_redis::wire::Value;
use socketeer_redis::{adapter_factory, Emitter, EmitterOptions, RedisAdapterOptions};
use support::mixed::handlers;
use support::node::{programs, spawn_node, Lines};
use support::{node_dir, RedisServer};
use tokio::io::AsyncWriteExt;
use tokio::process::{Child, ChildStdin};

/// What the servers' `on_server_side_emit` handlers got:
/// `{"server","event","args"}`, in order.
type Received = Arc<Mutex<Vec<Json>>>;

/// A socketeer server with the Redis adapter on a free port, with the
/// handlers of `cluster_server.mjs` in `/` and `/admin`, recording the
/// server-side emits of `/` in `received`.
async fn server(url: &str, name: &'static str, received: Received) -> (SocketIo, u16) {
    let adapter = adapter_factory(
        redis::Client::open(url).unwrap(),
        RedisAdapterOptions::default(),
    )
    .await
    .expect("redis adapter");
    let io = SocketIo::new(SocketIoConfig {
        adapter,
        ..Default::default()
    });
    for nsp in ["/", "/admin"] {
        io.of(nsp)
            .on_connection(move |socket: Socket| handlers(socket, name));
    }
    io.of("/").on_server_side_emit(move |event, args| {
        let args: Vec<Json> = args.into_iter().map(|v| v.into_json()).collect();
        received
            .lock()
            .unwrap()
            .push(json!({"server": name, "event": event, "args": args}));
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(io.clone().serve(listener));
    (io, port)
}

/// The job worker: this process's emitter or Node's.
enum Worker {
    Rust(Emitter<MultiplexedConnection>),
    Node {
        _child: Child,
        stdin: ChildStdin,
        lines: Lines,
        next_id: u64,
    },
}

impl Worker {
    /// Runs `cmd` (`{"nsp"?,"to"?,"except"?,"op","args"}`, the commands of
    /// `tests/node/emitter.mjs`) and returns once it is published.
    async fn run(&mut self, mut cmd: Json) {
        match self {
            Worker::Rust(emitter) => {
                let mut e = match cmd["nsp"].as_str() {
                    Some(nsp) => emitter.of(nsp),
                    None => emitter.clone(),
                };
                for room in cmd["to"].as_array().into_iter().flatten() {
                    e = e.to(room.as_str().unwrap());
                }
                for room in cmd["except"].as_array().into_iter().flatten() {
                    e = e.except(room.as_str().unwrap());
                }
                let args = cmd["args"].as_array().cloned().unwrap_or_default();
                let rooms = || -> Vec<String> {
                    args[0]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|r| r.as_str().unwrap().to_owned())
                        .collect()
                };
                match cmd["op"].as_str().unwrap() {
                    "emit" => e
                        .emit_serialize(args[0].as_str().unwrap(), &args[1..])
                        .await
                        .unwrap(),
                    "socketsJoin" => e.sockets_join(rooms()).await.unwrap(),
                    "socketsLeave" => e.sockets_leave(rooms()).await.unwrap(),
                    "disconnectSockets" => e
                        .disconnect_sockets(args[0].as_bool().unwrap())
                        .await
                        .unwrap(),
                    "serverSideEmit" => {
                        let Value::Array(rest) = Value::from_serialize(&args[1..]).unwrap() else {
                            unreachable!("a slice serializes as an array")
                        };
                        e.server_side_emit(args[0].as_str().unwrap(), rest)
                            .await
                            .unwrap()
                    }
                    op => panic!("unknown op {op}"),
                }
            }
            Worker::Node {
                stdin,
                lines,
                next_id,
                ..
            } => {
                *next_id += 1;
                let id = *next_id;
                cmd["id"] = json!(id);
                let line = cmd.to_string() + "\n";
                stdin.write_all(line.as_bytes()).await.unwrap();
                stdin.flush().await.unwrap();
                lines
                    .wait_for(&format!("node emitter: {cmd}"), |l| l["id"] == id)
                    .await;
            }
        }
    }
}

/// Waits for `event` to reach each of `expected`, then waits again and
/// checks that exactly they got it, once each, with `args`.
async fn expect_event(clients: &Lines, event: &str, expected: &[&str], args: &Json) {
    for c in expected {
        clients
            .wait_for(&format!("{c} gets {event}"), |l| {
                l["client"] == *c && l["event"] == event
            })
            .await;
    }
    tokio::time::sleep(Duration::from_millis(600)).await;
    let got = clients.matching(|l| l["event"] == event);
    let mut who: Vec<&str> = got.iter().map(|l| l["client"].as_str().unwrap()).collect();
    who.sort_unstable();
    let mut want = expected.to_vec();
    want.sort_unstable();
    assert_eq!(who, want, "{event}: who received it (exactly once each)");
    for l in &got {
        assert_eq!(&l["args"], args, "{event}: arguments at {}", l["client"]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_emitter_into_socketeer_servers() {
    let Some(found) = programs(&["redis-server", "node"]) else {
        return;
    };
    let redis = RedisServer::start(&found[0]);
    let url = redis.url();
    let conn = redis::Client::open(url.as_str())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let worker = Worker::Rust(Emitter::new(conn, EmitterOptions::default()));
    tokio::time::timeout(Duration::from_secs(50), scenario(&found[1], &url, worker))
        .await
        .expect("the emitter test took over 50 s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_emitter_into_socketeer_servers() {
    let Some(found) = programs(&["redis-server", "node"]) else {
        return;
    };
    assert!(
        node_dir()
            .join("node_modules/@socket.io/redis-emitter")
            .is_dir(),
        "run `npm ci` in {} (scripts/setup-test-deps does)",
        node_dir().display()
    );
    let redis = RedisServer::start(&found[0]);
    let url = redis.url();
    let (mut child, lines) = spawn_node(&found[1], &["emitter.mjs", &url]);
    lines
        .wait_for("node emitter ready", |l| l["ready"] == true)
        .await;
    let worker = Worker::Node {
        stdin: child.stdin.take().unwrap(),
        _child: child,
        lines,
        next_id: 0,
    };
    tokio::time::timeout(Duration::from_secs(50), scenario(&found[1], &url, worker))
        .await
        .expect("the emitter test took over 50 s");
}

async fn scenario(node: &std::path::Path, url: &str, mut worker: Worker) {
    assert!(
        node_dir().join("node_modules/socket.io-client").is_dir(),
        "run `npm ci` in {} (scripts/setup-test-deps does)",
        node_dir().display()
    );
    let received = Received::default();
    let (_a, port_a) = server(url, "A", received.clone()).await;
    let (_b, port_b) = server(url, "B", received.clone()).await;
    let spec = json!([
        {"name": "alice", "port": port_a, "nsp": "/", "rooms": ["room1"]},
        {"name": "bob", "port": port_b, "nsp": "/", "rooms": ["room1", "room2"]},
        {"name": "carol", "port": port_b, "nsp": "/", "rooms": ["room3"]},
        {"name": "dan", "port": port_a, "nsp": "/", "rooms": ["room3"]},
        {"name": "dave", "port": port_a, "nsp": "/admin", "rooms": []},
        {"name": "erin", "port": port_b, "nsp": "/admin", "rooms": ["room1"]},
    ])
    .to_string();
    let (_clients, clients) = spawn_node(node, &["clients.mjs", &spec]);
    clients
        .wait_for("clients ready", |l| l["ready"] == true)
        .await;
    let main = ["alice", "bob", "carol", "dan"];

    // To all, to a room, to rooms except a room.
    worker
        .run(json!({"op": "emit", "args": ["all", "hello", 1, {"k": [true, null]}]}))
        .await;
    expect_event(
        &clients,
        "all",
        &main,
        &json!(["hello", 1, {"k": [true, null]}]),
    )
    .await;
    worker
        .run(json!({"to": ["room1"], "op": "emit", "args": ["one-room", "r1"]}))
        .await;
    expect_event(&clients, "one-room", &["alice", "bob"], &json!(["r1"])).await;
    worker
        .run(json!({"to": ["room1", "room3"], "except": ["room2"], "op": "emit", "args": ["rooms-except"]}))
        .await;
    expect_event(
        &clients,
        "rooms-except",
        &["alice", "carol", "dan"],
        &json!([]),
    )
    .await;
    worker
        .run(json!({"except": ["room3"], "op": "emit", "args": ["all-except"]}))
        .await;
    expect_event(&clients, "all-except", &["alice", "bob"], &json!([])).await;

    // Another namespace: all of it, and a room of it (room1 of `/` is
    // another room).
    worker
        .run(json!({"nsp": "/admin", "op": "emit", "args": ["admin", 2.5]}))
        .await;
    expect_event(&clients, "admin", &["dave", "erin"], &json!([2.5])).await;
    worker
        .run(json!({"nsp": "/admin", "to": ["room1"], "op": "emit", "args": ["admin-room1"]}))
        .await;
    expect_event(&clients, "admin-room1", &["erin"], &json!([])).await;

    // socketsJoin on both servers, then to the new room.
    worker
        .run(json!({"to": ["room3"], "op": "socketsJoin", "args": [["joined"]]}))
        .await;
    worker
        .run(json!({"to": ["room2"], "op": "socketsJoin", "args": [["joined"]]}))
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    worker
        .run(json!({"to": ["joined"], "op": "emit", "args": ["after-join"]}))
        .await;
    expect_event(&clients, "after-join", &["bob", "carol", "dan"], &json!([])).await;

    // socketsLeave (those of room3 only), then to the room left.
    worker
        .run(json!({"to": ["room3"], "op": "socketsLeave", "args": [["joined"]]}))
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    worker
        .run(json!({"to": ["joined"], "op": "emit", "args": ["after-leave"]}))
        .await;
    expect_event(&clients, "after-leave", &["bob"], &json!([])).await;

    // serverSideEmit reaches each server's handler once, and no client.
    worker
        .run(json!({"op": "serverSideEmit", "args": ["sse", "from-worker", 42]}))
        .await;
    for _ in 0..100 {
        if received.lock().unwrap().len() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(600)).await;
    let mut got = received.lock().unwrap().clone();
    got.sort_by_key(|r| r["server"].as_str().unwrap().to_owned());
    assert_eq!(
        got,
        [
            json!({"server": "A", "event": "sse", "args": ["from-worker", 42]}),
            json!({"server": "B", "event": "sse", "args": ["from-worker", 42]}),
        ],
        "serverSideEmit: once at each server"
    );
    assert_eq!(clients.count(|l| l["event"] == "sse"), 0);

    // disconnectSockets: room2 (bob, at B) without closing, room3 of
    // `/admin` (nobody), then room3 of `/` (carol at B, dan at A) closing
    // the connections.
    worker
        .run(json!({"to": ["room2"], "op": "disconnectSockets", "args": [false]}))
        .await;
    worker
        .run(json!({"nsp": "/admin", "to": ["room3"], "op": "disconnectSockets", "args": [true]}))
        .await;
    worker
        .run(json!({"to": ["room3"], "op": "disconnectSockets", "args": [true]}))
        .await;
    for who in ["bob", "carol", "dan"] {
        clients
            .wait_for(&format!("{who} disconnected"), |l| {
                l["client"] == who && l.get("disconnect").is_some()
            })
            .await;
    }
    tokio::time::sleep(Duration::from_millis(600)).await;
    let mut gone = clients.matching(|l| l.get("disconnect").is_some());
    gone.sort_by_key(|l| l["client"].as_str().unwrap().to_owned());
    assert_eq!(
        gone,
        [
            json!({"client": "bob", "disconnect": "io server disconnect"}),
            json!({"client": "carol", "disconnect": "io server disconnect"}),
            json!({"client": "dan", "disconnect": "io server disconnect"}),
        ]
    );

    // The others are still connected and reachable, in both namespaces.
    worker
        .run(json!({"op": "emit", "args": ["still-here"]}))
        .await;
    expect_event(&clients, "still-here", &["alice"], &json!([])).await;
    worker
        .run(json!({"nsp": "/admin", "op": "emit", "args": ["still-here-admin"]}))
        .await;
    expect_event(&clients, "still-here-admin", &["dave", "erin"], &json!([])).await;
}
