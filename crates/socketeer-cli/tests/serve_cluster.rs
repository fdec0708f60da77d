//! `socketeer serve --redis URL`: two servers on one private
//! `redis-server` act as one chat, driven by the Rust Socket.IO client.
//! Needs `redis-server` on PATH.

mod serve_support;

use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use serve_support::Server;
use socketeer::client::{ClientBuilder, Socket};
use socketeer_test_support::{free_port, RedisServer};

const WAIT: Duration = Duration::from_secs(10);

/// `socketeer serve --redis URL` on a free port (no client bundle needed).
fn server(redis: &RedisServer) -> Server {
    let s = Server::start(
        0,
        &["--redis", &redis.url(), "--client-bundle", "/nonexistent"],
    );
    s.wait_log("cluster mode");
    s
}

type Events = Arc<Mutex<Vec<(String, Value)>>>;

/// A chat client: every event it receives is recorded.
struct Client {
    socket: Socket,
    events: Events,
}

impl Client {
    async fn connect(server: &Server, nickname: &str) -> Client {
        let events: Events = Arc::default();
        let sink = events.clone();
        let socket = ClientBuilder::new(format!("http://{}", server.addr()))
            .force_new(true)
            .on_any(move |_, event, args, _| {
                let first = args.into_iter().next().map(|v| v.into_json());
                sink.lock()
                    .unwrap()
                    .push((event.to_owned(), first.unwrap_or(Value::Null)));
            })
            .connect()
            .await
            .expect("connect");
        let c = Client { socket, events };
        let ok = c.call("hello", json!({ "nickname": nickname })).await;
        assert_eq!(ok["ok"], true, "{ok}");
        c
    }

    /// Emits with an ack and returns the ack's first argument.
    async fn call(&self, event: &str, payload: Value) -> Value {
        let args = self
            .socket
            .emit_with_ack(event, vec![payload.into()])
            .timeout(WAIT)
            .await
            .unwrap_or_else(|e| panic!("no ack to {event}: {e:?}"));
        args.into_iter()
            .next()
            .map(|v| v.into_json())
            .unwrap_or(Value::Null)
    }

    /// Forgets the events received so far (so that a later wait sees
    /// only newer ones).
    fn forget(&self) {
        self.events.lock().unwrap().clear();
    }

    /// The `event`s received so far.
    fn received(&self, event: &str) -> Vec<Value> {
        self.events
            .lock()
            .unwrap()
            .iter()
            .filter(|(e, _)| e == event)
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// Waits (10 s at most) for an `event` that `pred` accepts.
    async fn wait_for(&self, event: &str, pred: impl Fn(&Value) -> bool) -> Value {
        self.wait_within(WAIT, event, pred).await
    }

    /// Waits (`wait` at most) for an `event` that `pred` accepts.
    async fn wait_within(
        &self,
        wait: Duration,
        event: &str,
        pred: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = Instant::now() + wait;
        loop {
            if let Some(v) = self.received(event).into_iter().rev().find(|v| pred(v)) {
                return v;
            }
            assert!(
                Instant::now() < deadline,
                "no matching {event:?} within {wait:?}; got {:?}",
                self.received(event)
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

fn names(users: &Value) -> Vec<String> {
    users
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|u| u["nickname"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn count_of(rooms: &Value, name: &str) -> Option<u64> {
    rooms
        .as_array()?
        .iter()
        .find(|r| r["name"] == name)?
        .get("count")?
        .as_u64()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_counts_and_presence_span_the_servers() {
    let redis = RedisServer::start_from_path();
    let (a, b) = (server(&redis), server(&redis));

    let alice = Client::connect(&a, "alice").await;
    let carol = Client::connect(&a, "carol").await;
    let bob = Client::connect(&b, "bob").await;
    assert_eq!(
        alice.call("join", json!({ "room": "lobby" })).await["ok"],
        true
    );
    assert_eq!(
        carol.call("join", json!({ "room": "dev" })).await["ok"],
        true
    );
    let joined = bob.call("join", json!({ "room": "lobby" })).await;
    assert_eq!(
        joined["members"],
        json!(["alice", "bob"]),
        "members from both servers: {joined}"
    );
    alice
        .wait_for("notice", |n| n["text"] == "bob joined")
        .await;

    // Counts and presence, pushed to the clients of each server.
    for c in [&alice, &bob] {
        c.wait_for("rooms", |r| {
            count_of(r, "lobby") == Some(2) && count_of(r, "dev") == Some(1)
        })
        .await;
        c.wait_for("presence", |p| names(p) == ["alice", "bob", "carol"])
            .await;
    }
    // And asked for.
    let rooms = bob.call("rooms", json!({})).await;
    assert_eq!(count_of(&rooms["rooms"], "lobby"), Some(2), "{rooms}");
    assert_eq!(count_of(&rooms["rooms"], "dev"), Some(1), "{rooms}");

    // A message crosses to the other server, once; not to other rooms,
    // not back to the sender.
    let sent = alice
        .call(
            "message",
            json!({ "room": "lobby", "text": "hi bob", "id": "m1" }),
        )
        .await;
    assert_eq!(sent["ok"], true, "{sent}");
    let got = bob.wait_for("message", |m| m["id"] == "m1").await;
    assert_eq!(
        (got["nickname"].as_str(), got["text"].as_str()),
        (Some("alice"), Some("hi bob"))
    );
    let back = bob
        .call(
            "message",
            json!({ "room": "lobby", "text": "hi alice", "id": "m2" }),
        )
        .await;
    assert_eq!(back["ok"], true, "{back}");
    alice.wait_for("message", |m| m["id"] == "m2").await;
    // Typing indicators cross too.
    bob.socket
        .emit(
            "typing",
            vec![json!({ "room": "lobby", "typing": true }).into()],
        )
        .expect("emit typing");
    alice.wait_for("typing", |t| t["nickname"] == "bob").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let ids = |c: &Client| -> Vec<Value> {
        c.received("message")
            .iter()
            .map(|m| m["id"].clone())
            .collect()
    };
    assert_eq!(ids(&bob), [json!("m1")], "bob: exactly once, not his own");
    assert_eq!(
        ids(&alice),
        [json!("m2")],
        "alice: exactly once, not her own"
    );
    assert!(
        carol.received("message").is_empty(),
        "carol is not in lobby"
    );

    // Bob leaves: both servers' lists drop him.
    alice.forget();
    bob.socket.disconnect();
    alice
        .wait_for("presence", |p| names(p) == ["alice", "carol"])
        .await;
    alice
        .wait_for("rooms", |r| count_of(r, "lobby") == Some(1))
        .await;
    alice
        .wait_for("notice", |n| n["text"] == "bob went offline")
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_dies_leaves_the_lists() {
    let redis = RedisServer::start_from_path();
    let (a, b) = (server(&redis), server(&redis));
    let alice = Client::connect(&a, "alice").await;
    let bob = Client::connect(&b, "bob").await;
    assert_eq!(
        alice.call("join", json!({ "room": "lobby" })).await["ok"],
        true
    );
    assert_eq!(
        bob.call("join", json!({ "room": "lobby" })).await["ok"],
        true
    );
    alice
        .wait_for("presence", |p| names(p) == ["alice", "bob"])
        .await;
    alice
        .wait_for("rooms", |r| count_of(r, "lobby") == Some(2))
        .await;
    // Let the lists sent after these changes go out first.
    tokio::time::sleep(Duration::from_millis(500)).await;
    // Killed: it tells no one; the others' periodic look (10 s) finds out.
    let started = Instant::now();
    alice.forget();
    drop(b);
    alice
        .wait_within(Duration::from_secs(15), "presence", |p| {
            names(p) == ["alice"]
        })
        .await;
    alice
        .wait_within(Duration::from_secs(1), "rooms", |r| {
            count_of(r, "lobby") == Some(1)
        })
        .await;
    assert!(
        started.elapsed() < Duration::from_secs(13),
        "{:?}",
        started.elapsed()
    );
    drop(bob);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_is_shared_through_redis_and_bounded() {
    let redis = RedisServer::start_from_path();
    let (a, b) = (server(&redis), server(&redis));

    let alice = Client::connect(&a, "alice").await;
    assert_eq!(
        alice.call("join", json!({ "room": "lobby" })).await["ok"],
        true
    );
    // The history keeps the last 50 (chat::Limits::default().history).
    for i in 0..55 {
        let sent = alice
            .call(
                "message",
                json!({ "room": "lobby", "text": format!("m{i}") }),
            )
            .await;
        assert_eq!(sent["ok"], true, "{sent}");
    }
    // Someone who joins later, on the other server.
    let dave = Client::connect(&b, "dave").await;
    let joined = dave.call("join", json!({ "room": "lobby" })).await;
    let texts: Vec<&str> = joined["history"]
        .as_array()
        .expect("history")
        .iter()
        .filter_map(|m| m["text"].as_str())
        .collect();
    let expected: Vec<String> = (5..55).map(|i| format!("m{i}")).collect();
    assert_eq!(texts, expected, "the last 50, oldest first");
    assert_eq!(joined["history"][49]["nickname"], "alice");

    // In Redis: one bounded list, with an expiry.
    let client = redis::Client::open(redis.url()).expect("url");
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("redis");
    let key = "socketeer:chat:history:lobby";
    let len: usize = redis::cmd("LLEN")
        .arg(key)
        .query_async(&mut conn)
        .await
        .expect("LLEN");
    assert_eq!(len, 50);
    let ttl: i64 = redis::cmd("TTL")
        .arg(key)
        .query_async(&mut conn)
        .await
        .expect("TTL");
    assert!(ttl > 0, "the history expires: TTL {ttl}");

    // A room nobody wrote in has no history.
    let empty = dave.call("join", json!({ "room": "quiet" })).await;
    assert_eq!(empty["history"], json!([]), "{empty}");
}

/// Runs `socketeer serve` with `args` and `env`, expecting it to exit by
/// itself within 15 s; returns (exit code, stderr).
fn run_to_exit(args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_socketeer"));
    cmd.args(["serve", "--host", "127.0.0.1", "--port", "0"])
        .args(["--client-bundle", "/nonexistent"])
        .args(args)
        .env_remove("REDIS_URL")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = serve_support::Guard(cmd.spawn().expect("spawn"));
    let log = serve_support::drain(child.0.stderr.take().expect("stderr"), None);
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(status) = child.0.try_wait().expect("wait") {
            std::thread::sleep(Duration::from_millis(50));
            return (status.code(), serve_support::text(&log));
        }
        assert!(
            Instant::now() < deadline,
            "still running after 15 s:\n{}",
            serve_support::text(&log)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn redis_unreachable_at_start_is_an_error() {
    // Nothing listens there.
    let url = format!("redis://127.0.0.1:{}", free_port());
    let (code, log) = run_to_exit(&["--redis", &url], &[]);
    assert_eq!(code, Some(1), "{log}");
    assert!(log.contains("cannot connect to Redis at"), "{log}");
    assert!(!log.contains("listening on"), "{log}");

    // The same through REDIS_URL.
    let (code, log) = run_to_exit(&[], &[("REDIS_URL", &url)]);
    assert_eq!(code, Some(1), "{log}");
    assert!(log.contains("cannot connect to Redis at"), "{log}");

    // Not a Redis URL: a usage error; a password is not logged.
    let (code, log) = run_to_exit(&["--redis", "http://:s3cret@127.0.0.1:1"], &[]);
    assert_eq!(code, Some(2), "{log}");
    assert!(log.contains("bad Redis URL"), "{log}");
    assert!(!log.contains("s3cret"), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_lost_later_the_local_chat_goes_on_then_the_cluster_is_back() {
    let mut redis = RedisServer::start_from_path();
    let (a, b) = (server(&redis), server(&redis));
    let alice = Client::connect(&a, "alice").await;
    let carol = Client::connect(&b, "carol").await;
    for c in [&alice, &carol] {
        assert_eq!(c.call("join", json!({ "room": "lobby" })).await["ok"], true);
    }
    let kept = alice
        .call("message", json!({ "room": "lobby", "text": "before" }))
        .await;
    assert_eq!(kept["ok"], true, "{kept}");

    redis.stop();
    let started = Instant::now();
    let bob = Client::connect(&a, "bob").await;
    let joined = bob.call("join", json!({ "room": "lobby" })).await;
    assert_eq!(joined["members"], json!(["alice", "bob"]), "{joined}");
    // The history of this server (kept in memory too).
    assert_eq!(joined["history"][0]["text"], "before", "{joined}");
    let sent = bob
        .call(
            "message",
            json!({ "room": "lobby", "text": "during", "id": "d1" }),
        )
        .await;
    assert_eq!(sent["ok"], true, "{sent}");
    alice.wait_for("message", |m| m["id"] == "d1").await;
    alice
        .wait_for("presence", |p| names(p) == ["alice", "bob"])
        .await;
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "slow without Redis: {:?}",
        started.elapsed()
    );
    a.wait_log("cannot keep the message in the Redis history");
    let texts = |c: &Client| -> Vec<Value> {
        c.received("message")
            .iter()
            .map(|m| m["text"].clone())
            .collect()
    };
    assert_eq!(
        texts(&carol),
        [json!("before")],
        "nothing crossed meanwhile"
    );

    // Redis is back: messages cross again and go into the history.
    redis.restart();
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut n = 0;
    loop {
        n += 1;
        let id = format!("after{n}");
        let sent = alice
            .call(
                "message",
                json!({ "room": "lobby", "text": "after", "id": id }),
            )
            .await;
        assert_eq!(sent["ok"], true, "{sent}");
        tokio::time::sleep(Duration::from_millis(300)).await;
        if carol.received("message").iter().any(|m| m["id"] == id) {
            break;
        }
        assert!(Instant::now() < deadline, "messages never crossed again");
    }
    let dave = Client::connect(&b, "dave").await;
    let joined = dave.call("join", json!({ "room": "lobby" })).await;
    let history = joined["history"].as_array().expect("history").clone();
    assert_eq!(
        history.last().map(|m| m["id"].clone()),
        Some(json!(format!("after{n}"))),
        "{joined}"
    );
    assert!(
        !history.iter().any(|m| m["id"] == "d1"),
        "sent while Redis was away: not in its history"
    );
}
