//! A mixed cluster: two socketeer servers with [`adapter_factory`] and one
//! Node `socket.io` server with `@socket.io/redis-adapter` (classic), on a
//! private `redis-server`, with official `socket.io-client` clients spread
//! over the three (WebSocket and long-polling). The clients ask their
//! server to broadcast, fetch sockets, make sockets join rooms, disconnect
//! them and emit to the other servers; each check crosses Rust→Node,
//! Node→Rust and Rust→Rust, and asserts that exactly the targeted clients
//! got each event, once (it waits, then waits again for duplicates).
//!
//! Skipped, with a message, only when `redis-server` or `node` is absent.

mod support;

use std::time::Duration;

use serde_json::{json, Value as Json};
use socketeer::server::SocketIo;
use socketeer_redis::{adapter_factory, RedisAdapterOptions};
use support::mixed::{serve, Clients};
use support::node::{programs, spawn_node};
use support::{node_dir, RedisServer};

/// A socketeer server with the Redis adapter on a free port.
async fn rust_server(url: &str, name: &'static str) -> (SocketIo, u16) {
    let client = redis::Client::open(url).unwrap();
    let adapter = adapter_factory(client, RedisAdapterOptions::default())
        .await
        .expect("redis adapter");
    serve(adapter, name).await
}

/// How many PUBLISH commands Redis has run.
async fn publish_calls(url: &str) -> u64 {
    let mut conn = redis::Client::open(url)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query_async(&mut conn)
        .await
        .unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix("cmdstat_publish:calls="))
        .and_then(|rest| rest.split(',').next())
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0)
}

async fn request_subscribers(url: &str) -> i64 {
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mixed_cluster_of_socketeer_and_node() {
    let Some(found) = programs(&["redis-server", "node"]) else {
        return;
    };
    let (redis_bin, node) = (&found[0], &found[1]);
    assert!(
        node_dir().join("node_modules/socket.io").is_dir(),
        "run `npm ci` in {} (scripts/setup-test-deps does)",
        node_dir().display()
    );
    let redis = RedisServer::start(redis_bin);
    let url = redis.url();
    tokio::time::timeout(Duration::from_secs(240), run(node, &url))
        .await
        .expect("the mixed-cluster test took over 240 s");
}

async fn run(node: &std::path::Path, url: &str) {
    // An unreachable Redis is a clear error at start.
    let dead = format!("redis://127.0.0.1:{}", support::free_port());
    let err = adapter_factory(
        redis::Client::open(dead.as_str()).unwrap(),
        RedisAdapterOptions::default(),
    )
    .await
    .expect_err("no redis there");
    assert!(err.to_string().contains("127.0.0.1"), "{err}");

    let (_a, port_a) = rust_server(url, "A").await;
    let (_b, port_b) = rust_server(url, "B").await;
    let (_n, n_lines) = spawn_node(node, &["cluster_server.mjs", url, "N"]);
    let port_n = n_lines
        .wait_for("node server listening", |l| l.get("listening").is_some())
        .await["listening"]
        .as_u64()
        .unwrap();
    for _ in 0..100 {
        if request_subscribers(url).await >= 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        request_subscribers(url).await,
        3,
        "three servers subscribed"
    );

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

    // To all: from a Rust server (to Rust and Node), from Node (to Rust),
    // from the other Rust server.
    c.call("a1", json!(["to-all", "all-from-a", 1, "x"])).await;
    c.expect("all-from-a", &all, &json!([1, "x"])).await;
    c.call("n2", json!(["to-all", "all-from-n", {"k": [true, null]}]))
        .await;
    c.expect("all-from-n", &all, &json!([{"k": [true, null]}]))
        .await;
    c.call("b1", json!(["to-all", "all-from-b", 2.5])).await;
    c.expect("all-from-b", &all, &json!([2.5])).await;

    // One PUBLISH per broadcast, whatever the number of recipients.
    let before = publish_calls(url).await;
    c.call("a1", json!(["to-all", "counted"])).await;
    c.expect("counted", &all, &json!([])).await;
    assert_eq!(
        publish_calls(url).await - before,
        1,
        "PUBLISHes for one broadcast"
    );

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
    c.call("a2", json!(["to-room", "blue", null, "blue-from-a"]))
        .await;
    c.expect("blue-from-a", &["a2", "b1"], &json!([])).await;

    // Binary, top-level and nested, both ways.
    let bin = json!([{"$bin": "010203"}, {"deep": [{"$bin": "0405"}, "y"], "empty": {"$bin": ""}}]);
    let mut emit = json!(["to-all", "bin-from-n"]);
    emit.as_array_mut()
        .unwrap()
        .extend(bin.as_array().unwrap().clone());
    c.call("n1", emit).await;
    c.expect("bin-from-n", &all, &bin).await;
    let mut emit = json!(["to-room", "red", null, "bin-from-a"]);
    emit.as_array_mut()
        .unwrap()
        .extend(bin.as_array().unwrap().clone());
    c.call("a2", emit).await;
    c.expect("bin-from-a", &["a1", "b1", "n1"], &bin).await;

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

    // allRooms, asked by Node: every server's rooms, socket ids included.
    let ack = c.call("n1", json!(["all-rooms"])).await;
    let mut want: Vec<String> = ["blue", "green", "red"].map(String::from).to_vec();
    want.extend(all.iter().map(|n| c.ids[n].as_str().unwrap().to_owned()));
    want.sort();
    assert_eq!(ack, json!([want]), "allRooms at n1");

    // socketsJoin: Rust makes a Node client join, Node makes Rust clients
    // join, then broadcasts to the new rooms.
    c.call("a1", json!(["cluster-join", "green", "joined-1"]))
        .await;
    c.call("n1", json!(["cluster-join", "blue", "joined-2"]))
        .await;
    c.call("b1", json!(["cluster-join", "red", "joined-3"]))
        .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    c.call("b1", json!(["to-room", "joined-1", null, "to-joined-1"]))
        .await;
    c.expect("to-joined-1", &["n2"], &json!([])).await;
    c.call("a1", json!(["to-room", "joined-2", null, "to-joined-2"]))
        .await;
    c.expect("to-joined-2", &["a2", "b1"], &json!([])).await;
    c.call("n2", json!(["to-room", "joined-3", null, "to-joined-3"]))
        .await;
    c.expect("to-joined-3", &["a1", "b1", "n1"], &json!([]))
        .await;

    // serverSideEmit: each other server's handler relays it to its own
    // clients, once.
    for (sayer, from, at) in [
        ("a1", "A", &[("b1", "B"), ("n1", "N"), ("n2", "N")][..]),
        ("n2", "N", &[("a1", "A"), ("a2", "A"), ("b1", "B")][..]),
        (
            "b1",
            "B",
            &[("a1", "A"), ("a2", "A"), ("n1", "N"), ("n2", "N")][..],
        ),
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
    for asker in ["a1", "n1", "b1"] {
        let q = format!("q-{asker}");
        let mut answers: Vec<String> = all.iter().map(|c| format!("{c}:{q}")).collect();
        answers.sort();
        let ack = c.call(asker, json!(["ask-all", q])).await;
        assert_eq!(ack, json!([true, answers]), "emit with acks from {asker}");
    }

    // disconnectSockets: Node disconnects Rust clients (one on each Rust
    // server, one over polling), then Rust disconnects a Node client.
    c.call("n1", json!(["cluster-kick", "blue"])).await;
    c.call("a1", json!(["cluster-kick", "green"])).await;
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
        [
            json!({"client": "a2", "disconnect": "io server disconnect"}),
            json!({"client": "b1", "disconnect": "io server disconnect"}),
            json!({"client": "n2", "disconnect": "io server disconnect"}),
        ]
    );
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

    // The others are still connected and reachable.
    c.call("n1", json!(["to-all", "still-here"])).await;
    c.expect("still-here", &["a1", "n1"], &json!([])).await;

    // disconnectSockets(true) closes the connections too: Node closes a
    // Rust server's client, Rust closes a Node server's client (socket.io
    // sends the DISCONNECT packet first, so the clients see "io server
    // disconnect"). Both over WebSocket: over long-polling socketeer's
    // Engine.IO sends the DISCONNECT packet and the close packet in one
    // poll response, which socket.io-client reports as "transport close"
    // and then "io server disconnect" (Node sends them in two responses).
    let spec = json!([
        {"name": "a3", "port": port_a, "transport": "websocket", "rooms": []},
        {"name": "n3", "port": port_n, "transport": "websocket", "rooms": []},
    ])
    .to_string();
    let (mut child2, lines2) = spawn_node(node, &["cluster_clients.mjs", &spec]);
    let ready = lines2
        .wait_for("second clients ready", |l| l["ready"] == true)
        .await;
    let mut c2 = Clients {
        stdin: child2.stdin.take().unwrap(),
        lines: lines2,
        next_id: 0,
        ids: ready["ids"].clone(),
    };
    let a3 = c2.ids["a3"].as_str().unwrap().to_owned();
    let n3 = c2.ids["n3"].as_str().unwrap().to_owned();
    c2.call("n3", json!(["cluster-kick", a3, true])).await;
    c2.lines
        .wait_for("a3 closed", |l| {
            l["client"] == "a3" && l.get("disconnect").is_some()
        })
        .await;
    c.call("a1", json!(["cluster-kick", n3, true])).await;
    c2.lines
        .wait_for("n3 closed", |l| {
            l["client"] == "n3" && l.get("disconnect").is_some()
        })
        .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut gone = c2.lines.matching(|l| l.get("disconnect").is_some());
    gone.sort_by_key(|l| l["client"].as_str().unwrap().to_owned());
    assert_eq!(
        gone,
        [
            json!({"client": "a3", "disconnect": "io server disconnect"}),
            json!({"client": "n3", "disconnect": "io server disconnect"}),
        ]
    );
    assert_eq!(
        c.lines.matching(|l| l.get("disconnect").is_some()).len(),
        3,
        "a1 and n1 still connected"
    );
    drop(c2);
    let _ = child2.wait().await;
    drop(c);
    let _ = child.wait().await;
}

/// Redis killed and restarted under two socketeer servers: local
/// deliveries never stop, a request in flight fails within its timeout
/// (with this server's answer), malformed messages are dropped, and
/// cross-server delivery resumes by itself within 5 s of Redis coming
/// back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_restart_under_the_cluster() {
    let Some(found) = programs(&["redis-server", "node"]) else {
        return;
    };
    let (redis_bin, node) = (found[0].clone(), found[1].clone());
    assert!(
        node_dir().join("node_modules/socket.io").is_dir(),
        "run `npm ci` in {} (scripts/setup-test-deps does)",
        node_dir().display()
    );
    let mut redis = RedisServer::start(&redis_bin);
    let url = redis.url();
    let run = async {
        let (_a, port_a) = rust_server(&url, "A").await;
        let (_b, port_b) = rust_server(&url, "B").await;
        for _ in 0..100 {
            if request_subscribers(&url).await >= 2 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let spec = json!([
            {"name": "a1", "port": port_a, "transport": "websocket", "rooms": []},
            {"name": "a2", "port": port_a, "transport": "polling", "rooms": []},
            {"name": "b1", "port": port_b, "transport": "websocket", "rooms": []},
        ])
        .to_string();
        let (mut child, lines) = spawn_node(&node, &["cluster_clients.mjs", &spec]);
        let ready = lines
            .wait_for("clients ready", |l| l["ready"] == true)
            .await;
        let mut c = Clients {
            stdin: child.stdin.take().unwrap(),
            lines,
            next_id: 0,
            ids: ready["ids"].clone(),
        };
        c.call("a1", json!(["to-all", "before"])).await;
        c.expect("before", &["a1", "a2", "b1"], &json!([])).await;

        // Malformed and foreign messages are dropped.
        let mut conn = redis::Client::open(url.as_str())
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap();
        for channel in [
            "socket.io#/#",
            "socket.io#/#room#",
            "socket.io-request#/#",
            "socket.io-response#/#",
        ] {
            for payload in [
                &b"\xc1"[..],
                b"{not json",
                b"\x93\x01\x02\x03",
                br#"{"type":99}"#,
                br#"{"uid":"x","type":5}"#,
                b"",
            ] {
                let _: i64 = redis::cmd("PUBLISH")
                    .arg(channel)
                    .arg(payload)
                    .query_async(&mut conn)
                    .await
                    .unwrap();
            }
        }
        c.call("b1", json!(["to-all", "after-garbage"])).await;
        c.expect("after-garbage", &["a1", "a2", "b1"], &json!([]))
            .await;

        tokio::task::block_in_place(|| redis.stop());

        // Local deliveries go on, at once.
        for (i, sender) in ["a1", "b1", "a2"].iter().enumerate() {
            let event = format!("during-{i}");
            let started = std::time::Instant::now();
            c.call(sender, json!(["to-all", event])).await;
            let local: &[&str] = if *sender == "b1" {
                &["b1"]
            } else {
                &["a1", "a2"]
            };
            for who in local {
                c.lines
                    .wait_for(&format!("{who} gets {event}"), |l| {
                        l["client"] == *who && l["event"] == event.as_str()
                    })
                    .await;
            }
            assert!(
                started.elapsed() < Duration::from_secs(2),
                "{event}: local delivery took {:?}",
                started.elapsed()
            );
        }

        // A request in flight fails within its timeout (5 s), with this
        // server's own sockets.
        let started = std::time::Instant::now();
        let ack = c.call("a1", json!(["fetch-count", []])).await;
        assert_eq!(ack[0], 2, "a1 and a2 only: {ack}");
        assert!(
            started.elapsed() < Duration::from_secs(7),
            "fetch took {:?}",
            started.elapsed()
        );

        tokio::time::sleep(Duration::from_secs(2)).await;
        tokio::task::block_in_place(|| redis.restart());
        let back = std::time::Instant::now();

        // Cross-server delivery resumes by itself, both ways.
        for (sender, receiver) in [("a1", "b1"), ("b1", "a1")] {
            let mut k = 0;
            loop {
                let event = format!("resume-{sender}-{k}");
                c.call(sender, json!(["to-all", event])).await;
                tokio::time::sleep(Duration::from_millis(200)).await;
                let prefix = format!("resume-{sender}-");
                let arrived = !c
                    .lines
                    .matching(|l| {
                        l["client"] == receiver
                            && l["event"].as_str().is_some_and(|e| e.starts_with(&prefix))
                    })
                    .is_empty();
                if arrived {
                    break;
                }
                assert!(
                    back.elapsed() < Duration::from_secs(5),
                    "{sender} → {receiver}: nothing crossed within 5 s of Redis coming back"
                );
                k += 1;
            }
        }
        let resumed = back.elapsed();
        assert!(
            resumed < Duration::from_secs(5),
            "resumed after {resumed:?}"
        );

        // And exactly once again, remote operations included.
        c.call("b1", json!(["to-all", "final"])).await;
        c.expect("final", &["a1", "a2", "b1"], &json!([])).await;
        let ack = c.call("b1", json!(["fetch-count", []])).await;
        assert_eq!(
            ack,
            json!([
                3,
                c.sorted_ids(&["a1", "a2", "b1"]),
                3,
                Clients::servers_of(&["a1", "a2", "b1"])
            ])
        );
        drop(c);
        let _ = child.wait().await;
    };
    tokio::time::timeout(Duration::from_secs(120), run)
        .await
        .expect("the restart test took over 120 s");
}
