//! The Rust [`Emitter`] against Node: a private `redis-server`, two Node
//! Socket.IO servers with `@socket.io/redis-adapter`, official
//! `socket.io-client` clients, and checks that each client gets exactly
//! what the emitter targeted, exactly once. A second test checks that the
//! Rust emitter publishes the very bytes `@socket.io/redis-emitter` does
//! (recorded in `tests/data/classic.json`).
//!
//! Skipped, with a message, only when `redis-server` or `node` is absent.

mod support;

use std::time::Duration;

use serde_json::{json, Value as Json};
use socketeer_redis::wire::{Object, Value};
use socketeer_redis::{Emitter, EmitterOptions};
use support::node::{programs, spawn_node, Lines};
use support::{node_dir, RedisServer};

fn event_is<'a>(client: &'a str, event: &'a str) -> impl Fn(&Json) -> bool + 'a {
    move |l| l["client"] == client && l["event"] == event
}

fn any_event(event: &str) -> impl Fn(&Json) -> bool + '_ {
    move |l| l["event"] == event
}

/// Waits for `event` to reach each of `expected`, then waits again and
/// checks that exactly they got it, once each, with `args`.
async fn expect_event(clients: &Lines, event: &str, expected: &[&str], args: &Json) {
    for c in expected {
        clients
            .wait_for(&format!("{c} gets {event}"), event_is(c, event))
            .await;
    }
    tokio::time::sleep(Duration::from_millis(800)).await;
    let got = clients.matching(any_event(event));
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
async fn emitter_reaches_node_clients() {
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

    let (_s1, s1_lines) = spawn_node(node, &["server.mjs", &url, "s1"]);
    let (_s2, s2_lines) = spawn_node(node, &["server.mjs", &url, "s2"]);
    let mut ports = vec![];
    for l in [&s1_lines, &s2_lines] {
        l.wait_for("server listening", |l| l.get("listening").is_some())
            .await;
        ports.push(
            l.matching(|l| l.get("listening").is_some())[0]["listening"]
                .as_u64()
                .unwrap(),
        );
    }
    let spec = json!([
        {"name": "alice", "port": ports[0], "nsp": "/", "rooms": ["room1"]},
        {"name": "bob", "port": ports[1], "nsp": "/", "rooms": ["room1", "room2"]},
        {"name": "carol", "port": ports[1], "nsp": "/", "rooms": ["room3"]},
        {"name": "dave", "port": ports[0], "nsp": "/admin", "rooms": []},
    ])
    .to_string();
    let (_clients, clients) = spawn_node(node, &["clients.mjs", &spec]);
    clients
        .wait_for("clients ready", |l| l["ready"] == true)
        .await;

    let conn = redis::Client::open(url.as_str())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let emitter = Emitter::new(conn, EmitterOptions::default());

    // To all.
    emitter
        .emit("all", vec![Value::from("hello"), Value::from(1i64)])
        .await
        .unwrap();
    expect_event(
        &clients,
        "all",
        &["alice", "bob", "carol"],
        &json!(["hello", 1]),
    )
    .await;

    // To one room.
    emitter
        .to("room1")
        .emit("one-room", vec![Value::from("r1")])
        .await
        .unwrap();
    expect_event(&clients, "one-room", &["alice", "bob"], &json!(["r1"])).await;

    // To several rooms, except one.
    emitter
        .to_rooms(["room1", "room3"])
        .except("room2")
        .emit("rooms-except", vec![Value::from(true)])
        .await
        .unwrap();
    expect_event(
        &clients,
        "rooms-except",
        &["alice", "carol"],
        &json!([true]),
    )
    .await;

    // Volatile.
    emitter.volatile().emit("volatile", vec![]).await.unwrap();
    expect_event(&clients, "volatile", &["alice", "bob", "carol"], &json!([])).await;

    // Binary, top-level and nested.
    let mut nested = Object::new();
    nested.insert(
        "deep",
        Value::Array(vec![Value::from(vec![4u8, 5]), Value::from("x")]),
    );
    nested.insert("empty", Value::from(Vec::<u8>::new()));
    emitter
        .to("room3")
        .emit(
            "binary",
            vec![Value::from(vec![1u8, 2, 3]), Value::Object(nested)],
        )
        .await
        .unwrap();
    expect_event(
        &clients,
        "binary",
        &["carol"],
        &json!([{"$bin": "010203"}, {"deep": [{"$bin": "0405"}, "x"], "empty": {"$bin": ""}}]),
    )
    .await;

    // Arguments from a Serialize value: a sequence is the argument list,
    // anything else one argument.
    emitter
        .to("room1")
        .emit_serialize("serde", &json!(["a", 1, {"k": [1, 2]}]))
        .await
        .unwrap();
    expect_event(
        &clients,
        "serde",
        &["alice", "bob"],
        &json!(["a", 1, {"k": [1, 2]}]),
    )
    .await;
    emitter
        .to("room3")
        .emit_serialize("serde-one", &json!({"x": null}))
        .await
        .unwrap();
    expect_event(&clients, "serde-one", &["carol"], &json!([{"x": null}])).await;

    // Another namespace.
    emitter
        .of("admin")
        .emit("admin", vec![Value::from(2.5)])
        .await
        .unwrap();
    expect_event(&clients, "admin", &["dave"], &json!([2.5])).await;

    // socketsJoin, then to the new room.
    emitter.to("room3").sockets_join(["joined"]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    emitter
        .to("joined")
        .emit("after-join", vec![])
        .await
        .unwrap();
    expect_event(&clients, "after-join", &["carol"], &json!([])).await;

    // socketsLeave, then to the room left.
    emitter.sockets_leave(["joined"]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    emitter
        .to_rooms(["joined", "room2"])
        .emit("after-leave", vec![])
        .await
        .unwrap();
    expect_event(&clients, "after-leave", &["bob"], &json!([])).await;

    // serverSideEmit reaches each Node server's handler once.
    emitter
        .server_side_emit("sse", vec![Value::from("from-rust"), Value::from(42i64)])
        .await
        .unwrap();
    for (name, lines) in [("s1", &s1_lines), ("s2", &s2_lines)] {
        lines
            .wait_for("serverSideEmit", |l| l.get("sse").is_some())
            .await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        let got = lines.matching(|l| l.get("sse").is_some());
        assert_eq!(
            got,
            [json!({"server": name, "sse": ["from-rust", 42]})],
            "exactly once at {name}"
        );
    }
    assert_eq!(
        clients.count(any_event("sse")),
        0,
        "no client gets a server-side event"
    );

    // emit refuses reserved names.
    assert!(emitter.emit("disconnect", vec![]).await.is_err());

    // disconnectSockets: only bob (room2).
    emitter.to("room2").disconnect_sockets(false).await.unwrap();
    clients
        .wait_for("bob disconnected", |l| {
            l["client"] == "bob" && l.get("disconnect").is_some()
        })
        .await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    let gone = clients.matching(|l| l.get("disconnect").is_some());
    assert_eq!(
        gone,
        [json!({"client": "bob", "disconnect": "io server disconnect"})]
    );

    // The others are still connected and reachable.
    emitter.emit("still-here", vec![]).await.unwrap();
    expect_event(&clients, "still-here", &["alice", "carol"], &json!([])).await;
}

/// The Rust emitter publishes, on the same channels, byte for byte what
/// `@socket.io/redis-emitter` published for the same calls (the emitter's
/// messages hold no random ids, so they can be compared).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn emitter_publishes_what_the_node_emitter_publishes() {
    let Some(found) = programs(&["redis-server"]) else {
        return;
    };
    let redis_bin = &found[0];
    let redis = RedisServer::start(redis_bin);
    let client = redis::Client::open(redis.url().as_str()).unwrap();

    // A raw PSUBSCRIBE * recorder on a thread.
    let (tx, rx) = std::sync::mpsc::channel::<(String, Vec<u8>)>();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let sub_client = client.clone();
    std::thread::spawn(move || {
        let mut con = sub_client.get_connection().unwrap();
        let mut ps = con.as_pubsub();
        ps.psubscribe("*").unwrap();
        ps.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        ready_tx.send(()).unwrap();
        while let Ok(msg) = ps.get_message() {
            if tx
                .send((
                    msg.get_channel_name().to_owned(),
                    msg.get_payload_bytes().to_vec(),
                ))
                .is_err()
            {
                break;
            }
        }
    });
    ready_rx.recv().unwrap();

    let conn = client.get_multiplexed_async_connection().await.unwrap();
    let e = Emitter::new(conn, EmitterOptions::default());
    let mut three = Object::new();
    three.insert("three", Value::Array(vec![Value::from(3i64)]));
    let mut n = Object::new();
    n.insert("n", Value::Array(vec![Value::from(vec![3u8])]));
    e.emit(
        "em",
        vec![Value::from(1i64), Value::from("two"), Value::Object(three)],
    )
    .await
    .unwrap();
    e.to("room1")
        .emit("em", vec![Value::from("r1")])
        .await
        .unwrap();
    e.to_rooms(["room1", "room2"])
        .except("room3")
        .emit("em", vec![Value::from("r12")])
        .await
        .unwrap();
    e.volatile()
        .emit("em", vec![Value::from("v")])
        .await
        .unwrap();
    e.compress(true)
        .emit("em", vec![Value::from("c")])
        .await
        .unwrap();
    e.emit("em", vec![Value::from(vec![1u8, 2]), Value::Object(n)])
        .await
        .unwrap();
    e.of("/admin")
        .to("r")
        .emit("em", vec![Value::from("admin")])
        .await
        .unwrap();
    e.sockets_join(["room7"]).await.unwrap();
    e.to("room1").sockets_leave(["room7"]).await.unwrap();
    e.server_side_emit("sse", vec![Value::from("from-emitter"), Value::from(1i64)])
        .await
        .unwrap();
    e.to("room2")
        .except("room3")
        .disconnect_sockets(false)
        .await
        .unwrap();

    let text = std::fs::read_to_string(format!(
        "{}/tests/data/classic.json",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let node: Vec<Json> = serde_json::from_str(&text).unwrap();
    let node: Vec<&Json> = node
        .iter()
        .filter(|r| r["what"].as_str().unwrap().starts_with("emitter "))
        .collect();
    assert_eq!(node.len(), 11);
    for r in node {
        let (channel, bytes) = rx
            .recv_timeout(Duration::from_secs(10))
            .expect("a published message");
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(channel, r["channel"], "{}", r["what"]);
        assert_eq!(
            hex, r["hex"],
            "{}: bytes differ from @socket.io/redis-emitter's",
            r["what"]
        );
    }
}
