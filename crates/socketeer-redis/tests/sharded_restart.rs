//! The Redis Cluster changing under two socketeer servers with the
//! sharded adapter. A node crashing and coming back: malformed messages
//! are dropped, local deliveries never stop, and cross-server delivery
//! resumes by itself, exactly once, with the subscriptions on the
//! restarted node restored (the namespace's channel and a room's). The
//! namespace's channel's slot moving to another node: the servers
//! subscribe on the new node, and delivery goes on. And a standalone
//! Redis 7 restarting under two servers with the standalone sharded
//! adapter: delivery resumes within 5 s of Redis coming back, exactly
//! once, with every subscription restored.
//!
//! Skipped, with a message, only when `redis-server`, `redis-cli` or
//! `node` is absent.

mod support;

use std::time::{Duration, Instant};

use redis::cluster::ClusterClient;
use redis::ProtocolVersion;
use serde_json::json;
use socketeer::server::SocketIo;
use socketeer_redis::{
    sharded_adapter_factory, sharded_adapter_factory_standalone, ShardedAdapterOptions,
};
use support::cluster::{wait_subscribers, RedisCluster};
use support::mixed::{serve, Clients};
use support::node::{programs, spawn_node};
use support::{node_dir, RedisServer};

/// Waits until events from a1 reach b1 and back (sent every 300 ms),
/// for `limit` after `since` at most.
async fn resumes(c: &mut Clients, what: &str, since: Instant, limit: Duration) {
    for (sender, receiver) in [("a1", "b1"), ("b1", "a1")] {
        let prefix = format!("{what}-{sender}-");
        for k in 0.. {
            c.call(sender, json!(["to-all", format!("{prefix}{k}")]))
                .await;
            tokio::time::sleep(Duration::from_millis(300)).await;
            let arrived = c.lines.count(|l| {
                l["client"] == receiver
                    && l["event"].as_str().is_some_and(|e| e.starts_with(&prefix))
            }) > 0;
            if arrived {
                break;
            }
            assert!(
                since.elapsed() < limit,
                "{what}: nothing crossed from {sender} to {receiver} within {limit:?}"
            );
        }
    }
}

/// After a restart, once both channels have their two subscribers again:
/// a broadcast to all, one to a room and a fetch reach exactly whom they
/// should, once.
async fn exactly_once_again(c: &mut Clients, nodes: &[String], main: &str, red: &str) {
    wait_subscribers(nodes, main, 2).await;
    wait_subscribers(nodes, red, 2).await;
    c.call("b1", json!(["to-all", "final"])).await;
    c.expect("final", &["a1", "a2", "b1"], &json!([])).await;
    c.call("a2", json!(["to-room", "red", null, "final-red"]))
        .await;
    c.expect("final-red", &["a1", "b1"], &json!([])).await;
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
}

async fn rust_server(nodes: &[String], name: &'static str) -> (SocketIo, u16) {
    let client = ClusterClient::builder(nodes.to_vec())
        .use_protocol(ProtocolVersion::RESP3)
        .build()
        .unwrap();
    let adapter = sharded_adapter_factory(client, ShardedAdapterOptions::default())
        .await
        .expect("sharded adapter");
    serve(adapter, name).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_node_restart_under_the_sharded_adapter() {
    let Some(found) = programs(&["redis-server", "redis-cli", "node"]) else {
        return;
    };
    assert!(
        node_dir().join("node_modules/socket.io-client").is_dir(),
        "run `npm ci` in {} (scripts/setup-test-deps does)",
        node_dir().display()
    );
    let mut cluster = tokio::task::block_in_place(|| RedisCluster::start(&found[0], &found[1]));
    let nodes = cluster.urls();
    let main = "socket.io#/#";
    let red = "socket.io#/#red#";
    // The node to crash: the one with the namespace's channel.
    let victim = cluster.node_of(main);
    let run = async {
        let (_a, port_a) = rust_server(&nodes, "A").await;
        let (_b, port_b) = rust_server(&nodes, "B").await;
        wait_subscribers(&nodes, main, 2).await;
        let spec = json!([
            {"name": "a1", "port": port_a, "transport": "websocket", "rooms": ["red"]},
            {"name": "a2", "port": port_a, "transport": "polling", "rooms": []},
            {"name": "b1", "port": port_b, "transport": "websocket", "rooms": ["red"]},
        ])
        .to_string();
        let (mut child, lines) = spawn_node(&found[2], &["cluster_clients.mjs", &spec]);
        let ready = lines
            .wait_for("clients ready", |l| l["ready"] == true)
            .await;
        let mut c = Clients {
            stdin: child.stdin.take().unwrap(),
            lines,
            next_id: 0,
            ids: ready["ids"].clone(),
        };
        wait_subscribers(&nodes, red, 2).await;
        c.call("a1", json!(["to-all", "before"])).await;
        c.expect("before", &["a1", "a2", "b1"], &json!([])).await;

        // Malformed and foreign messages are dropped.
        let mut conn = ClusterClient::new(nodes.clone())
            .unwrap()
            .get_async_connection()
            .await
            .unwrap();
        for channel in [main, red] {
            for payload in [
                &b"\xc1"[..],
                b"{not json",
                b"\x93\x01\x02\x03",
                br#"{"type":99,"uid":"x","nsp":"/"}"#,
                br#"{"type":3,"uid":"x","nsp":"/"}"#,
                br#"{"type":3,"uid":"x","nsp":"/other","data":{}}"#,
                b"",
            ] {
                let _: i64 = redis::cmd("SPUBLISH")
                    .arg(channel)
                    .arg(payload)
                    .query_async(&mut conn)
                    .await
                    .unwrap();
            }
        }
        drop(conn);
        c.call("b1", json!(["to-room", "red", null, "after-garbage"]))
            .await;
        c.expect("after-garbage", &["a1", "b1"], &json!([])).await;

        tokio::task::block_in_place(|| cluster.stop(victim));

        // Local deliveries go on, at once.
        let started = Instant::now();
        c.call("a2", json!(["to-all", "during"])).await;
        for who in ["a1", "a2"] {
            c.lines
                .wait_for(&format!("{who} gets during"), |l| {
                    l["client"] == who && l["event"] == "during"
                })
                .await;
        }
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "local delivery took {:?}",
            started.elapsed()
        );

        tokio::time::sleep(Duration::from_secs(1)).await;
        tokio::task::block_in_place(|| cluster.restart(victim));
        let back = Instant::now();

        // Cross-server delivery resumes by itself, both ways.
        resumes(&mut c, "restart", back, Duration::from_secs(20)).await;
        eprintln!(
            "cross-server delivery resumed {:?} after the restart",
            back.elapsed()
        );

        // And exactly once again, rooms and requests included.
        exactly_once_again(&mut c, &nodes, main, red).await;
        drop(c);
        let _ = child.wait().await;
    };
    tokio::time::timeout(Duration::from_secs(120), run)
        .await
        .expect("the restart test took over 120 s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shard_channel_slot_moves_under_the_sharded_adapter() {
    let Some(found) = programs(&["redis-server", "redis-cli", "node"]) else {
        return;
    };
    assert!(
        node_dir().join("node_modules/socket.io-client").is_dir(),
        "run `npm ci` in {} (scripts/setup-test-deps does)",
        node_dir().display()
    );
    let cluster = tokio::task::block_in_place(|| RedisCluster::start(&found[0], &found[1]));
    let nodes = cluster.urls();
    let main = "socket.io#/#";
    let run = async {
        let (_a, port_a) = rust_server(&nodes, "A").await;
        let (_b, port_b) = rust_server(&nodes, "B").await;
        wait_subscribers(&nodes, main, 2).await;
        let spec = json!([
            {"name": "a1", "port": port_a, "transport": "websocket", "rooms": ["red"]},
            {"name": "b1", "port": port_b, "transport": "websocket", "rooms": ["red"]},
        ])
        .to_string();
        let (mut child, lines) = spawn_node(&found[2], &["cluster_clients.mjs", &spec]);
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
        c.expect("before", &["a1", "b1"], &json!([])).await;

        let from = cluster.node_of(main);
        let to = (from + 1) % 3;
        tokio::task::block_in_place(|| cluster.move_slot_of(main, to));
        assert_eq!(cluster.node_of(main), to, "the slot moved");
        let moved = Instant::now();
        resumes(&mut c, "moved", moved, Duration::from_secs(10)).await;
        eprintln!(
            "cross-server delivery resumed {:?} after the move",
            moved.elapsed()
        );
        // Both servers subscribe on the new node, and only there.
        wait_subscribers(&nodes, main, 2).await;
        c.call("b1", json!(["to-all", "final"])).await;
        c.expect("final", &["a1", "b1"], &json!([])).await;
        let ack = c.call("a1", json!(["fetch-count", []])).await;
        assert_eq!(
            ack,
            json!([
                2,
                c.sorted_ids(&["a1", "b1"]),
                2,
                Clients::servers_of(&["a1", "b1"])
            ])
        );
        drop(c);
        let _ = child.wait().await;
    };
    tokio::time::timeout(Duration::from_secs(120), run)
        .await
        .expect("the slot-move test took over 120 s");
}

async fn standalone_server(url: &str, name: &'static str) -> (SocketIo, u16) {
    let client = redis::Client::open(url).unwrap();
    let adapter = sharded_adapter_factory_standalone(client, ShardedAdapterOptions::default())
        .await
        .expect("standalone sharded adapter");
    serve(adapter, name).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standalone_redis_restart_under_the_sharded_adapter() {
    let Some(found) = programs(&["redis-server", "node"]) else {
        return;
    };
    assert!(
        node_dir().join("node_modules/socket.io-client").is_dir(),
        "run `npm ci` in {} (scripts/setup-test-deps does)",
        node_dir().display()
    );
    let mut redis = tokio::task::block_in_place(|| RedisServer::start(&found[0]));
    let url = redis.url();
    let nodes = [url.clone()];
    let main = "socket.io#/#";
    let red = "socket.io#/#red#";
    let run = async {
        let (_a, port_a) = standalone_server(&url, "A").await;
        let (_b, port_b) = standalone_server(&url, "B").await;
        wait_subscribers(&nodes, main, 2).await;
        let spec = json!([
            {"name": "a1", "port": port_a, "transport": "websocket", "rooms": ["red"]},
            {"name": "a2", "port": port_a, "transport": "polling", "rooms": []},
            {"name": "b1", "port": port_b, "transport": "websocket", "rooms": ["red"]},
        ])
        .to_string();
        let (mut child, lines) = spawn_node(&found[1], &["cluster_clients.mjs", &spec]);
        let ready = lines
            .wait_for("clients ready", |l| l["ready"] == true)
            .await;
        let mut c = Clients {
            stdin: child.stdin.take().unwrap(),
            lines,
            next_id: 0,
            ids: ready["ids"].clone(),
        };
        wait_subscribers(&nodes, red, 2).await;
        c.call("a1", json!(["to-all", "before"])).await;
        c.expect("before", &["a1", "a2", "b1"], &json!([])).await;

        // Malformed and foreign messages are dropped.
        let mut conn = redis::Client::open(url.as_str())
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap();
        for channel in [main, red] {
            for payload in [
                &b"\xc1"[..],
                b"{not json",
                b"\x93\x01\x02\x03",
                br#"{"type":99,"uid":"x","nsp":"/"}"#,
                br#"{"type":3,"uid":"x","nsp":"/"}"#,
                br#"{"type":3,"uid":"x","nsp":"/other","data":{}}"#,
                b"",
            ] {
                let _: i64 = redis::cmd("SPUBLISH")
                    .arg(channel)
                    .arg(payload)
                    .query_async(&mut conn)
                    .await
                    .unwrap();
            }
        }
        drop(conn);
        c.call("b1", json!(["to-room", "red", null, "after-garbage"]))
            .await;
        c.expect("after-garbage", &["a1", "b1"], &json!([])).await;

        tokio::task::block_in_place(|| redis.stop());

        // Local deliveries go on, at once.
        let started = Instant::now();
        c.call("a2", json!(["to-all", "during"])).await;
        for who in ["a1", "a2"] {
            c.lines
                .wait_for(&format!("{who} gets during"), |l| {
                    l["client"] == who && l["event"] == "during"
                })
                .await;
        }
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "local delivery took {:?}",
            started.elapsed()
        );

        tokio::time::sleep(Duration::from_secs(2)).await;
        tokio::task::block_in_place(|| redis.restart());
        let back = Instant::now();

        // Cross-server delivery resumes by itself, both ways, within 5 s.
        resumes(&mut c, "restart", back, Duration::from_secs(5)).await;
        eprintln!(
            "cross-server delivery resumed {:?} after the restart",
            back.elapsed()
        );

        // And exactly once again, rooms and requests included.
        exactly_once_again(&mut c, &nodes, main, red).await;
        drop(c);
        let _ = child.wait().await;
    };
    tokio::time::timeout(Duration::from_secs(60), run)
        .await
        .expect("the standalone restart test took over 60 s");
}
