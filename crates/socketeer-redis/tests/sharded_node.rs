//! A mixed cluster on a real three-node Redis Cluster: two socketeer
//! servers with [`sharded_adapter_factory`] and one Node `socket.io`
//! server with `@socket.io/redis-adapter`'s `createShardedAdapter`, in the
//! same subscription mode; and the same on one standalone Redis 7, the
//! socketeer servers with [`sharded_adapter_factory_standalone`] and Node's
//! `createShardedAdapter` on `createClient` clients. Official
//! `socket.io-client` clients are spread
//! over the three (WebSocket and long-polling). Each check crosses
//! Rust→Node, Node→Rust and Rust→Rust, and asserts that exactly the
//! targeted clients got each event, once (it waits, then waits again for
//! duplicates). Run in the dynamic, static and dynamic-private modes; the
//! dynamic ones also check the rooms' own channels (subscribed where the
//! room has sockets, unsubscribed with its last socket) and that a
//! broadcast is one `SPUBLISH`. On a standalone Redis: the dynamic and
//! static modes.
//!
//! Skipped, with a message, only when `redis-server`, `redis-cli` or
//! `node` is absent.

mod support;

use std::path::Path;
use std::time::Duration;

use redis::cluster::ClusterClient;
use redis::ProtocolVersion;
use serde_json::{json, Value as Json};
use socketeer::server::SocketIo;
use socketeer_redis::{
    sharded_adapter_factory, sharded_adapter_factory_standalone, AdapterError,
    ShardedAdapterOptions, SubscriptionMode,
};
use support::cluster::{on_each_node, wait_subscribers, RedisCluster};
use support::mixed::{serve, Clients};
use support::node::{programs, spawn_node};
use support::{node_dir, RedisServer};

/// Where the servers meet.
enum Backend {
    /// A Redis Cluster: its nodes' URLs.
    Cluster(Vec<String>),
    /// One standalone Redis: its URL.
    Standalone(String),
}

impl Backend {
    /// The URLs of every node (one for a standalone Redis), for the
    /// per-node checks.
    fn nodes(&self) -> Vec<String> {
        match self {
            Backend::Cluster(nodes) => nodes.clone(),
            Backend::Standalone(url) => vec![url.clone()],
        }
    }

    /// `cluster_server.mjs`'s first and third arguments for `node_mode`.
    fn node_args(&self, node_mode: &str) -> (String, String) {
        match self {
            Backend::Cluster(nodes) => (nodes.join(","), format!("sharded:{node_mode}")),
            Backend::Standalone(url) => (url.clone(), format!("sharded-standalone:{node_mode}")),
        }
    }

    /// The sharded adapter's start on this backend, with `options`.
    async fn adapter(
        &self,
        options: ShardedAdapterOptions,
    ) -> Result<socketeer::server::AdapterFactory, AdapterError> {
        match self {
            Backend::Cluster(nodes) => {
                let client = ClusterClient::builder(nodes.clone())
                    .use_protocol(ProtocolVersion::RESP3)
                    .build()
                    .unwrap();
                sharded_adapter_factory(client, options).await
            }
            Backend::Standalone(url) => {
                let client = redis::Client::open(url.as_str()).unwrap();
                sharded_adapter_factory_standalone(client, options).await
            }
        }
    }

    /// The start must fail clearly without Redis there (and, on a
    /// cluster, with a RESP2 client).
    async fn check_start_errors(&self) {
        let dead = format!("redis://127.0.0.1:{}", support::free_port());
        match self {
            Backend::Cluster(nodes) => {
                let resp2 = ClusterClient::new(nodes.clone()).unwrap();
                let err = sharded_adapter_factory(resp2, ShardedAdapterOptions::default())
                    .await
                    .expect_err("RESP2");
                assert!(matches!(err, AdapterError::Resp3Required { .. }), "{err}");
                let err = Backend::Cluster(vec![dead])
                    .adapter(ShardedAdapterOptions::default())
                    .await
                    .expect_err("no cluster there");
                assert!(
                    matches!(
                        err,
                        AdapterError::ClusterUnreachable { .. }
                            | AdapterError::ClusterTimeout { .. }
                    ),
                    "{err}"
                );
            }
            Backend::Standalone(_) => {
                let err = Backend::Standalone(dead.clone())
                    .adapter(ShardedAdapterOptions::default())
                    .await
                    .expect_err("no redis there");
                assert!(
                    matches!(
                        &err,
                        AdapterError::Unreachable { addr, .. } | AdapterError::Timeout { addr, .. }
                            if dead.ends_with(addr.as_str())
                    ),
                    "{err}"
                );
            }
        }
    }

    /// A listener on some shard channels.
    async fn spy(&self, channels: &[String]) -> Spy {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let conn: Box<dyn Send> = match self {
            Backend::Cluster(nodes) => {
                let client = ClusterClient::builder(nodes.clone())
                    .use_protocol(ProtocolVersion::RESP3)
                    .push_sender(tx)
                    .build()
                    .unwrap();
                let mut conn = client.get_async_connection().await.unwrap();
                for channel in channels {
                    conn.ssubscribe(channel).await.unwrap();
                }
                Box::new(conn)
            }
            Backend::Standalone(url) => {
                let client = redis::Client::open(format!("{url}?protocol=resp3")).unwrap();
                let config = redis::AsyncConnectionConfig::new().set_push_sender(tx);
                let mut conn = client
                    .get_multiplexed_async_connection_with_config(&config)
                    .await
                    .unwrap();
                for channel in channels {
                    redis::cmd("SSUBSCRIBE")
                        .arg(channel)
                        .exec_async(&mut conn)
                        .await
                        .unwrap();
                }
                Box::new(conn)
            }
        };
        Spy { _conn: conn, rx }
    }
}

/// A socketeer server with the sharded adapter on a free port.
async fn rust_server(
    backend: &Backend,
    mode: SubscriptionMode,
    name: &'static str,
) -> (SocketIo, u16) {
    let options = ShardedAdapterOptions {
        subscription_mode: mode,
        ..Default::default()
    };
    let adapter = backend.adapter(options).await.expect("sharded adapter");
    serve(adapter, name).await
}

/// How many SPUBLISH commands the cluster has run.
async fn spublish_calls(nodes: &[String]) -> u64 {
    let mut cmd = redis::cmd("INFO");
    cmd.arg("commandstats");
    on_each_node(nodes, &cmd)
        .await
        .iter()
        .map(|reply| {
            let info: String = redis::from_redis_value_ref(reply).unwrap();
            info.lines()
                .find_map(|l| l.strip_prefix("cmdstat_spublish:calls="))
                .and_then(|rest| rest.split(',').next())
                .and_then(|n| n.trim().parse().ok())
                .unwrap_or(0)
        })
        .sum()
}

/// A listener on some shard channels: which channel each message came on.
struct Spy {
    _conn: Box<dyn Send>,
    rx: tokio::sync::mpsc::UnboundedReceiver<redis::PushInfo>,
}

impl Spy {
    /// The channels of the messages received since the last call.
    fn channels(&mut self) -> Vec<String> {
        let mut out = Vec::new();
        while let Ok(push) = self.rx.try_recv() {
            if push.kind == redis::PushKind::SMessage {
                out.push(redis::from_redis_value_ref(&push.data[0]).unwrap());
            }
        }
        out
    }
}

/// The programs, and the Node packages, or `None` (skipped, with a
/// message) when a program is absent.
fn prerequisites() -> Option<Vec<std::path::PathBuf>> {
    let found = programs(&["redis-server", "redis-cli", "node"])?;
    assert!(
        node_dir()
            .join("node_modules/@socket.io/redis-adapter")
            .is_dir(),
        "run `npm ci` in {} (scripts/setup-test-deps does)",
        node_dir().display()
    );
    Some(found)
}

async fn mixed_cluster(mode: SubscriptionMode, node_mode: &str) {
    let Some(found) = prerequisites() else {
        return;
    };
    let cluster = tokio::task::block_in_place(|| RedisCluster::start(&found[0], &found[1]));
    let backend = Backend::Cluster(cluster.urls());
    tokio::time::timeout(
        Duration::from_secs(240),
        run(&found[2], &backend, mode, node_mode),
    )
    .await
    .expect("the sharded mixed-cluster test took over 240 s");
    drop(cluster);
}

/// The same mixed cluster on one standalone Redis 7.
async fn mixed_standalone(mode: SubscriptionMode, node_mode: &str) {
    let Some(found) = prerequisites() else {
        return;
    };
    let redis = tokio::task::block_in_place(|| RedisServer::start(&found[0]));
    let backend = Backend::Standalone(redis.url());
    tokio::time::timeout(
        Duration::from_secs(60),
        run(&found[2], &backend, mode, node_mode),
    )
    .await
    .expect("the standalone sharded mixed-cluster test took over 60 s");
    drop(redis);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sharded_dynamic() {
    mixed_cluster(SubscriptionMode::Dynamic, "dynamic").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sharded_static() {
    mixed_cluster(SubscriptionMode::Static, "static").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sharded_dynamic_private() {
    mixed_cluster(SubscriptionMode::DynamicPrivate, "dynamic-private").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sharded_standalone_dynamic() {
    mixed_standalone(SubscriptionMode::Dynamic, "dynamic").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sharded_standalone_static() {
    mixed_standalone(SubscriptionMode::Static, "static").await;
}

async fn run(node: &Path, backend: &Backend, mode: SubscriptionMode, node_mode: &str) {
    // A clear error at start without Redis (or, on a cluster, over RESP2).
    backend.check_start_errors().await;
    let nodes = &backend.nodes()[..];

    let (_a, port_a) = rust_server(backend, mode, "A").await;
    let (_b, port_b) = rust_server(backend, mode, "B").await;
    let (url_arg, node_arg) = backend.node_args(node_mode);
    let (_n, n_lines) = spawn_node(node, &["cluster_server.mjs", &url_arg, "N", &node_arg]);
    let port_n = n_lines
        .wait_for("node server listening", |l| l.get("listening").is_some())
        .await["listening"]
        .as_u64()
        .unwrap();
    wait_subscribers(nodes, "socket.io#/#", 3).await;

    let spec = json!([
        {"name": "a1", "port": port_a, "transport": "websocket", "rooms": ["red"]},
        {"name": "a2", "port": port_a, "transport": "polling", "rooms": ["blue"]},
        {"name": "b1", "port": port_b, "transport": "websocket", "rooms": ["red", "blue"]},
        {"name": "n1", "port": port_n, "transport": "websocket", "rooms": ["red"]},
        {"name": "n2", "port": port_n, "transport": "polling", "rooms": ["green"]},
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
    let all = ["a1", "a2", "b1", "n1", "n2"];
    let id = |c: &Clients, name: &str| c.ids[name].as_str().unwrap().to_owned();

    // The rooms' own channels: subscribed by the servers with sockets in
    // the room, in the dynamic modes only.
    let dynamic = mode != SubscriptionMode::Static;
    let per_room = |n: i64| if dynamic { n } else { 0 };
    wait_subscribers(nodes, "socket.io#/#red#", per_room(3)).await;
    wait_subscribers(nodes, "socket.io#/#blue#", per_room(2)).await;
    wait_subscribers(nodes, "socket.io#/#green#", per_room(1)).await;
    let private = if mode == SubscriptionMode::DynamicPrivate {
        1
    } else {
        0
    };
    for who in ["a1", "n1"] {
        let channel = format!("socket.io#/#{}#", id(&c, who));
        wait_subscribers(nodes, &channel, private).await;
    }

    // To all, from each kind of server.
    c.call("a1", json!(["to-all", "all-from-a", 1, "x"])).await;
    c.expect("all-from-a", &all, &json!([1, "x"])).await;
    c.call("n2", json!(["to-all", "all-from-n", {"k": [true, null]}]))
        .await;
    c.expect("all-from-n", &all, &json!([{"k": [true, null]}]))
        .await;
    c.call("b1", json!(["to-all", "all-from-b", 2.5])).await;
    c.expect("all-from-b", &all, &json!([2.5])).await;

    // One SPUBLISH per broadcast, on the channel Node picks: a room's
    // own channel for a broadcast to one room in the dynamic modes (to a
    // socket's room only in dynamic-private), else the namespace's.
    let (n1, a2) = (id(&c, "n1"), id(&c, "a2"));
    let main = "socket.io#/#".to_owned();
    let room = |r: &str| format!("socket.io#/#{r}#");
    let mut spy = backend
        .spy(&[main.clone(), room("red"), room(&n1), room(&a2)])
        .await;
    for sender in ["a1", "n2"] {
        for (target, expected) in [
            (None, &all[..]),
            (Some("red"), &["a1", "b1", "n1"][..]),
            (Some(n1.as_str()), &["n1"][..]),
            (Some(a2.as_str()), &["a2"][..]),
        ] {
            let event = format!("counted-{sender}-{}", target.unwrap_or("all"));
            let channel = match (target, mode) {
                (None, _) | (Some(_), SubscriptionMode::Static) => main.clone(),
                (Some("red"), _) | (Some(_), SubscriptionMode::DynamicPrivate) => {
                    room(target.unwrap())
                }
                (Some(_), SubscriptionMode::Dynamic) => main.clone(),
            };
            spy.channels();
            let before = spublish_calls(nodes).await;
            match target {
                None => c.call(sender, json!(["to-all", event])).await,
                Some(r) => c.call(sender, json!(["to-room", r, null, event])).await,
            };
            c.expect(&event, expected, &json!([])).await;
            assert_eq!(
                spublish_calls(nodes).await - before,
                1,
                "SPUBLISHes for {event}"
            );
            assert_eq!(spy.channels(), [channel], "the channel of {event}");
        }
    }
    drop(spy);
    wait_subscribers(nodes, &main, 3).await;

    // Rooms, and except.
    c.call("b1", json!(["to-room", "red", null, "red-from-b", "r"]))
        .await;
    c.expect("red-from-b", &["a1", "b1", "n1"], &json!(["r"]))
        .await;
    c.call(
        "n2",
        json!(["to-room", "red", "blue", "red-not-blue-from-n"]),
    )
    .await;
    c.expect("red-not-blue-from-n", &["a1", "n1"], &json!([]))
        .await;
    c.call("a1", json!(["to-room", "green", null, "green-from-a"]))
        .await;
    c.expect("green-from-a", &["n2"], &json!([])).await;
    c.call("n1", json!(["to-room", "blue", null, "blue-from-n"]))
        .await;
    c.expect("blue-from-n", &["a2", "b1"], &json!([])).await;

    // To one socket's room, across.
    c.call("a1", json!(["to-room", n1, null, "to-n1"])).await;
    c.expect("to-n1", &["n1"], &json!([])).await;
    c.call("n2", json!(["to-room", a2, null, "to-a2"])).await;
    c.expect("to-a2", &["a2"], &json!([])).await;
    c.call("b1", json!(["to-room", a2, null, "to-a2-from-b"]))
        .await;
    c.expect("to-a2-from-b", &["a2"], &json!([])).await;

    // Binary, both ways.
    let bin = json!([{"$bin": "010203"}, {"deep": [{"$bin": "0405"}, "y"], "empty": {"$bin": ""}}]);
    for (sender, event, room) in [("n1", "bin-from-n", "red"), ("a2", "bin-from-a", "red")] {
        let mut emit = json!(["to-room", room, null, event]);
        emit.as_array_mut()
            .unwrap()
            .extend(bin.as_array().unwrap().clone());
        c.call(sender, emit).await;
        c.expect(event, &["a1", "b1", "n1"], &bin).await;
    }

    // fetchSockets, asked of each kind of server.
    for asker in ["a1", "b1", "n1"] {
        let ack = c.call(asker, json!(["fetch-count", ["red"]])).await;
        assert_eq!(
            ack,
            json!([
                3,
                c.sorted_ids(&["a1", "b1", "n1"]),
                3,
                Clients::servers_of(&["a1", "b1", "n1"])
            ]),
            "red, asked at {asker} (count, ids, handshakes with a url)"
        );
        let ack = c.call(asker, json!(["fetch-count", []])).await;
        assert_eq!(
            ack,
            json!([5, c.sorted_ids(&all), 5, Clients::servers_of(&all)]),
            "all, asked at {asker}"
        );
    }

    // socketsJoin across, then broadcasts to the new rooms (in the dynamic
    // modes, on channels the joins made the servers subscribe to).
    c.call("a1", json!(["cluster-join", "green", "joined-1"]))
        .await;
    c.call("n1", json!(["cluster-join", "blue", "joined-2"]))
        .await;
    c.call("b1", json!(["cluster-join", "red", "joined-3"]))
        .await;
    wait_subscribers(nodes, "socket.io#/#joined-1#", per_room(1)).await;
    wait_subscribers(nodes, "socket.io#/#joined-2#", per_room(2)).await;
    wait_subscribers(nodes, "socket.io#/#joined-3#", per_room(3)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    c.call("b1", json!(["to-room", "joined-1", null, "to-joined-1"]))
        .await;
    c.expect("to-joined-1", &["n2"], &json!([])).await;
    c.call("n2", json!(["to-room", "joined-2", null, "to-joined-2"]))
        .await;
    c.expect("to-joined-2", &["a2", "b1"], &json!([])).await;
    c.call("a2", json!(["to-room", "joined-3", null, "to-joined-3"]))
        .await;
    c.expect("to-joined-3", &["a1", "b1", "n1"], &json!([]))
        .await;

    // socketsLeave across: Node makes Rust clients leave, Rust makes Node's
    // and its own leave; their rooms' channels go with them.
    c.call("n2", json!(["cluster-leave", "joined-2", "joined-2"]))
        .await;
    c.call("a1", json!(["cluster-leave", "joined-3", "joined-3"]))
        .await;
    wait_subscribers(nodes, "socket.io#/#joined-2#", 0).await;
    wait_subscribers(nodes, "socket.io#/#joined-3#", 0).await;
    for room in ["joined-2", "joined-3"] {
        let event = format!("to-left-{room}");
        c.call("b1", json!(["to-room", room, null, event])).await;
        c.expect(&event, &[], &json!([])).await;
    }
    let ack = c
        .call("a1", json!(["fetch-count", ["joined-3", "joined-2"]]))
        .await;
    assert_eq!(ack, json!([0, [], 0, []]), "nobody left in the rooms");
    let ack = c
        .call("n1", json!(["fetch-count", ["joined-3", "joined-2"]]))
        .await;
    assert_eq!(
        ack,
        json!([0, [], 0, []]),
        "nobody left in the rooms, asked at n1"
    );

    // serverSideEmit: each other server's handler relays it, once.
    for (sayer, from, at) in [
        ("a1", "A", &[("b1", "B"), ("n1", "N"), ("n2", "N")][..]),
        ("n2", "N", &[("a1", "A"), ("a2", "A"), ("b1", "B")][..]),
    ] {
        let msg = format!("hi-from-{from}");
        c.call(sayer, json!(["peer-say", msg])).await;
        let each: Vec<(&str, Json)> = at
            .iter()
            .map(|(client, server)| (*client, json!([server, from, msg])))
            .collect();
        c.expect_each(
            &format!("peer-said-at {msg}"),
            |l| l["event"] == "peer-said-at" && l["args"][2] == msg.as_str(),
            &each,
        )
        .await;
    }

    // serverSideEmit with an acknowledgement: one answer from each other
    // server.
    for (asker, answers) in [
        ("a1", json!(["B:q-a1", "N:q-a1"])),
        ("n1", json!(["A:q-n1", "B:q-n1"])),
        ("b1", json!(["A:q-b1", "N:q-b1"])),
    ] {
        let ack = c
            .call(asker, json!(["peer-ask", format!("q-{asker}")]))
            .await;
        assert_eq!(
            ack,
            json!([true, answers]),
            "serverSideEmit with ack from {asker}"
        );
    }

    // Broadcasts with acknowledgements: every server's clients answer.
    for asker in ["a1", "n1"] {
        let q = format!("q-{asker}");
        let mut answers: Vec<String> = all.iter().map(|c| format!("{c}:{q}")).collect();
        answers.sort();
        let ack = c.call(asker, json!(["ask-all", q])).await;
        assert_eq!(ack, json!([true, answers]), "emit with acks from {asker}");
    }

    // disconnectSockets across: Node disconnects the Rust servers' "blue"
    // clients, Rust disconnects Node's "green" one and closes its
    // connection; their rooms' channels go with them.
    c.call("n1", json!(["cluster-kick", "blue"])).await;
    c.call("a1", json!(["cluster-kick", "green", true])).await;
    for who in ["a2", "b1", "n2"] {
        c.lines
            .wait_for(&format!("{who} disconnected"), |l| {
                l["client"] == who && l.get("disconnect").is_some()
            })
            .await;
    }
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let mut gone = c.lines.matching(|l| l.get("disconnect").is_some());
    gone.sort_by_key(|l| l["client"].as_str().unwrap().to_owned());
    assert_eq!(
        gone,
        ["a2", "b1", "n2"].map(|who| json!({"client": who, "disconnect": "io server disconnect"}))
    );
    for room in ["blue", "green", "joined-1"] {
        wait_subscribers(nodes, &format!("socket.io#/#{room}#"), 0).await;
    }
    wait_subscribers(nodes, "socket.io#/#red#", per_room(2)).await;
    for asker in ["a1", "n1"] {
        let ack = c.call(asker, json!(["fetch-count", []])).await;
        assert_eq!(
            ack,
            json!([
                2,
                c.sorted_ids(&["a1", "n1"]),
                2,
                Clients::servers_of(&["a1", "n1"])
            ]),
            "after the kicks, at {asker}"
        );
    }
    c.call("n1", json!(["to-room", "red", null, "still-here"]))
        .await;
    c.expect("still-here", &["a1", "n1"], &json!([])).await;

    // disconnectSockets(true) from Node closes a Rust server's client.
    let a1 = id(&c, "a1");
    c.call("n1", json!(["cluster-kick", a1, true])).await;
    c.lines
        .wait_for("a1 closed", |l| {
            l["client"] == "a1" && l.get("disconnect").is_some()
        })
        .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let closed = c
        .lines
        .matching(|l| l["client"] == "a1" && l.get("disconnect").is_some());
    assert_eq!(
        closed,
        [json!({"client": "a1", "disconnect": "io server disconnect"})]
    );
    wait_subscribers(nodes, "socket.io#/#red#", per_room(1)).await;
    drop(c);
    let _ = child.wait().await;
}
