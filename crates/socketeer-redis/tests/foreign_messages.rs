//! Malformed and foreign messages on the classic adapter's channels: two
//! socketeer servers with [`adapter_factory`] on a private `redis-server`,
//! official `socket.io-client` clients, and messages PUBLISHed by hand on
//! the broadcast, request and response channels (garbage bytes, msgpack or
//! JSON of a wrong shape, an unknown request type, a uid that is not a
//! string, an answer to a request nobody made). Each malformed one is
//! logged (a warning, at each server) and dropped: no client gets
//! anything from them, and the servers go on broadcasting and answering
//! requests, exactly once.
//!
//! Skipped, with a message, only when `redis-server` or `node` is absent.

mod support;

use std::fmt::Debug;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;
use socketeer_redis::{adapter_factory, RedisAdapterOptions};
use support::mixed::{serve, Clients};
use support::node::{programs, spawn_node};
use support::{node_dir, RedisServer};
use tracing::field::{Field, Visit};
use tracing::{span, Event, Level, Metadata};

/// A `tracing` subscriber keeping the message of each warning and error.
struct Warnings(Arc<Mutex<Vec<String>>>);

struct Message(String);

impl Visit for Message {
    fn record_debug(&mut self, field: &Field, value: &dyn Debug) {
        if field.name() == "message" {
            self.0 = format!("{value:?}");
        }
    }
}

impl tracing::Subscriber for Warnings {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        *metadata.level() <= Level::WARN
    }
    fn new_span(&self, _: &span::Attributes<'_>) -> span::Id {
        span::Id::from_u64(1)
    }
    fn record(&self, _: &span::Id, _: &span::Record<'_>) {}
    fn record_follows_from(&self, _: &span::Id, _: &span::Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut m = Message(String::new());
        event.record(&mut m);
        self.0.lock().unwrap_or_else(|e| e.into_inner()).push(m.0);
    }
    fn enter(&self, _: &span::Id) {}
    fn exit(&self, _: &span::Id) {}
}

/// msgpack of `{"uid":42,"packet":{"type":2,"data":["x"],"nsp":"/"},
/// "opts":{"rooms":[],"except":[]}}`: a broadcast whose uid is a number.
fn numeric_uid_broadcast() -> Vec<u8> {
    let mut b = vec![0x83, 0xa3];
    b.extend(b"uid");
    b.push(0x2a);
    b.push(0xa6);
    b.extend(b"packet");
    b.extend([0x83, 0xa4]);
    b.extend(b"type");
    b.extend([0x02, 0xa4]);
    b.extend(b"data");
    b.extend([0x91, 0xa1, b'x', 0xa3]);
    b.extend(b"nsp");
    b.extend([0xa1, b'/', 0xa4]);
    b.extend(b"opts");
    b.extend([0x82, 0xa5]);
    b.extend(b"rooms");
    b.extend([0x90, 0xa6]);
    b.extend(b"except");
    b.push(0x90);
    b
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn foreign_messages_are_logged_and_dropped() {
    let Some(found) = programs(&["redis-server", "node"]) else {
        return;
    };
    assert!(
        node_dir().join("node_modules/socket.io-client").is_dir(),
        "run `npm ci` in {} (scripts/setup-test-deps does)",
        node_dir().display()
    );
    let warnings = Arc::new(Mutex::new(Vec::new()));
    tracing::subscriber::set_global_default(Warnings(warnings.clone()))
        .expect("the only subscriber of this test binary");
    let redis = RedisServer::start(&found[0]);
    let url = redis.url();
    let run = async {
        let mut servers = Vec::new();
        let mut ports = Vec::new();
        for name in ["A", "B"] {
            let adapter = adapter_factory(
                redis::Client::open(url.as_str()).unwrap(),
                RedisAdapterOptions::default(),
            )
            .await
            .expect("redis adapter");
            let (io, port) = serve(adapter, name).await;
            servers.push(io);
            ports.push(port);
        }
        let spec = json!([
            {"name": "a1", "port": ports[0], "transport": "websocket", "rooms": ["room"]},
            {"name": "b1", "port": ports[1], "transport": "websocket", "rooms": ["room"]},
            {"name": "b2", "port": ports[1], "transport": "polling", "rooms": []},
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
        let all = ["a1", "b1", "b2"];
        c.call("a1", json!(["to-all", "before"])).await;
        c.expect("before", &all, &json!([])).await;

        let mut conn = redis::Client::open(url.as_str())
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap();
        let broadcast = "malformed broadcast dropped";
        let request = "malformed request dropped";
        let response = "malformed response dropped";
        let cases: Vec<(&str, Vec<u8>, &str)> = vec![
            ("socket.io#/#", b"\xc1".to_vec(), broadcast),
            ("socket.io#/#", b"".to_vec(), broadcast),
            ("socket.io#/#", b"{not json".to_vec(), broadcast),
            ("socket.io#/#", b"\x93\x01\x02\x03".to_vec(), broadcast),
            ("socket.io#/#room#", b"\x93\x01\x02\x03".to_vec(), broadcast),
            ("socket.io#/#", numeric_uid_broadcast(), broadcast),
            ("socket.io-request#/#", b"\xc1".to_vec(), request),
            ("socket.io-request#/#", b"[1,2,3]".to_vec(), request),
            (
                "socket.io-request#/#",
                br#"{"type":99,"uid":"x"}"#.to_vec(),
                request,
            ),
            (
                "socket.io-request#/#",
                br#"{"uid":7,"type":6,"data":["peer-said","Z","x"]}"#.to_vec(),
                request,
            ),
            (
                "socket.io-request#/#",
                b"\x93\x01\x02\x03".to_vec(),
                request,
            ),
            ("socket.io-response#/#", b"\xc1".to_vec(), response),
            ("socket.io-response#/#", br#"{"type":5}"#.to_vec(), response),
        ];
        for (channel, payload, logged) in &cases {
            let before = warnings
                .lock()
                .unwrap()
                .iter()
                .filter(|w| w.contains(logged))
                .count();
            let receivers: i64 = redis::cmd("PUBLISH")
                .arg(*channel)
                .arg(payload.as_slice())
                .query_async(&mut conn)
                .await
                .unwrap();
            assert_eq!(receivers, 2, "both servers subscribed to {channel}");
            let started = Instant::now();
            loop {
                let now = warnings
                    .lock()
                    .unwrap()
                    .iter()
                    .filter(|w| w.contains(logged))
                    .count();
                if now == before + 2 {
                    break;
                }
                assert!(
                    now < before + 2 && started.elapsed() < Duration::from_secs(3),
                    "{payload:02x?} on {channel}: {} new \"{logged}\" warnings, not one at each server; all: {:?}",
                    now - before,
                    warnings.lock().unwrap()
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        // Well-formed but foreign: an answer to a request nobody made, a
        // broadcast for another namespace. Ignored.
        for (channel, payload) in [
            (
                "socket.io-response#/#",
                br#"{"type":5,"requestId":"nobody","sockets":[]}"#.to_vec(),
            ),
            (
                "socket.io-request#/#",
                br#"{"type":1,"requestId":"r","uid":"x"}"#.to_vec(),
            ),
        ] {
            let _: i64 = redis::cmd("PUBLISH")
                .arg(channel)
                .arg(payload)
                .query_async(&mut conn)
                .await
                .unwrap();
        }

        // Nothing reached a client; the servers work, exactly once.
        c.call("b1", json!(["to-all", "after"])).await;
        c.expect("after", &all, &json!([])).await;
        let events: Vec<String> = c
            .lines
            .matching(|l| l.get("event").is_some())
            .iter()
            .map(|l| l["event"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(
            events
                .iter()
                .filter(|e| *e != "before" && *e != "after")
                .count(),
            0,
            "events from the malformed messages: {events:?}"
        );
        c.call("a1", json!(["to-room", "room", null, "to-room"]))
            .await;
        c.expect("to-room", &["a1", "b1"], &json!([])).await;
        for asker in ["a1", "b2"] {
            let ack = c.call(asker, json!(["fetch-count", []])).await;
            assert_eq!(
                ack,
                json!([3, c.sorted_ids(&all), 3, Clients::servers_of(&all)]),
                "fetchSockets at {asker}"
            );
            let ack = c.call(asker, json!(["peer-ask", "q"])).await;
            let other = if asker == "a1" { "B:q" } else { "A:q" };
            assert_eq!(ack, json!([true, [other]]), "serverSideEmit with ack");
        }
        let peer_said = c.lines.count(|l| l["event"] == "peer-said-at");
        assert_eq!(peer_said, 0, "the request with a numeric uid was applied");
        drop(c);
        let _ = child.wait().await;
    };
    tokio::time::timeout(Duration::from_secs(50), run)
        .await
        .expect("the test took over 50 s");
}
