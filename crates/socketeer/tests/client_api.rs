//! The Socket.IO client's socket.io-client API against socketeer's server,
//! in process over 127.0.0.1: listeners (several per event, `once`, `off`,
//! catch-alls incoming and outgoing), the Manager's events, the namespace
//! from the URL and the shared manager, async auth, `remember_upgrade` and
//! WebSocket first.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;
use socketeer::client::{io, DisconnectReason, Transports};
use socketeer::server::{SocketIo, SocketIoConfig};
use socketeer::Value;
use tokio::sync::mpsc;

const WAIT: Duration = Duration::from_secs(10);

/// What the server saw of each connection.
#[derive(Debug, Clone, PartialEq)]
struct Seen {
    nsp: String,
    engine: String,
    transport: String,
    /// The transport the session opened with (its first request's query):
    /// `transport` may already be `websocket` when an upgrade finishes
    /// before the socket connects.
    opened_on: String,
    auth: Value,
}

/// A server with `/` and `/admin`, each echoing `echo` and `echo2` and
/// closing the connection on `drop-me`; the connections it saw.
async fn server(ping_interval: Option<Duration>) -> (String, Arc<Mutex<Vec<Seen>>>) {
    let mut config = SocketIoConfig::default();
    if let Some(p) = ping_interval {
        config.engine.ping_interval = p;
    }
    let io = SocketIo::new(config);
    let seen = Arc::new(Mutex::new(Vec::new()));
    for nsp in ["/", "/admin"] {
        let seen = seen.clone();
        io.of(nsp).on_connection(move |socket: socketeer::server::Socket| {
            seen.lock().unwrap().push(Seen {
                nsp: socket.namespace().name().to_owned(),
                engine: socket.engine().id().to_owned(),
                transport: socket.engine().transport().as_str().to_owned(),
                opened_on: opened_on(&socket.handshake().query),
                auth: socket.handshake().auth.clone(),
            });
            for event in ["echo", "echo2"] {
                socket.on(event, move |s: socketeer::server::Socket, socketeer::server::Args(args): socketeer::server::Args| {
                    let _ = s.emit(event, args);
                });
            }
            socket.on("drop-me", |s: socketeer::server::Socket| s.engine().close());
        });
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(io.serve(listener));
    (url, seen)
}

/// The `transport` parameter of a query string.
fn opened_on(query: &str) -> String {
    query
        .split('&')
        .find_map(|pair| pair.strip_prefix("transport="))
        .unwrap_or_default()
        .to_owned()
}

async fn next<T>(rx: &mut mpsc::UnboundedReceiver<T>) -> T {
    tokio::time::timeout(WAIT, rx.recv())
        .await
        .expect("in time")
        .expect("open channel")
}

/// Waits until `f` holds (polling the server's records).
async fn until(what: &str, f: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !f() {
        assert!(tokio::time::Instant::now() < deadline, "no {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listeners_in_order_once_off_and_outgoing() {
    let (url, _) = server(None).await;
    let (tx, mut rx) = mpsc::unbounded_channel::<String>();
    let socket = io(&url)
        .transports(Transports::WebSocket)
        .connect()
        .await
        .unwrap();
    let t = tx.clone();
    let first = socket.on("echo", move |_, args, _| {
        let _ = t.send(format!("first {}", args[0].as_i64().unwrap()));
    });
    let t = tx.clone();
    socket.on("echo", move |_, args, _| {
        let _ = t.send(format!("second {}", args[0].as_i64().unwrap()));
    });
    let t = tx.clone();
    socket.once("echo", move |_, args, _| {
        let _ = t.send(format!("once {}", args[0].as_i64().unwrap()));
    });
    let t = tx.clone();
    socket.on_any(move |_, event, _, _| {
        let _ = t.send(format!("any {event}"));
    });
    let t = tx.clone();
    socket.prepend_any(move |_, event, _, _| {
        let _ = t.send(format!("prepended {event}"));
    });
    let t = tx.clone();
    socket.on("echo2", move |_, _, _| {
        let _ = t.send("echo2".into());
    });
    let t = tx.clone();
    let out = socket.on_any_outgoing(move |_, event, args| {
        let _ = t.send(format!("out {event} {}", args[0].as_i64().unwrap()));
    });
    assert_eq!(socket.listeners("echo").len(), 3);
    assert_eq!(socket.listeners_any().len(), 2);
    assert_eq!(socket.listeners_any_outgoing(), [out]);

    socket.emit("echo", vec![Value::from(1)]).unwrap();
    let mut got = Vec::new();
    for _ in 0..6 {
        got.push(next(&mut rx).await);
    }
    assert_eq!(
        got,
        [
            "out echo 1",
            "prepended echo",
            "any echo",
            "first 1",
            "second 1",
            "once 1"
        ]
    );
    // The once handler is gone.
    assert_eq!(socket.listeners("echo").len(), 2);
    socket.emit("echo", vec![Value::from(2)]).unwrap();
    for want in [
        "out echo 2",
        "prepended echo",
        "any echo",
        "first 2",
        "second 2",
    ] {
        assert_eq!(next(&mut rx).await, want);
    }

    // One handler off, then the catch-alls, then the outgoing ones.
    assert!(socket.off_listener(first));
    assert!(!socket.off_listener(first));
    socket.off_any();
    socket.off_any_outgoing();
    socket.emit("echo", vec![Value::from(3)]).unwrap();
    assert_eq!(next(&mut rx).await, "second 3");

    // Every handler of the event off: nothing before echo2's answer.
    socket.off("echo");
    assert!(socket.listeners("echo").is_empty());
    socket.emit("echo", vec![Value::from(4)]).unwrap();
    socket.emit("echo2", vec![Value::from(5)]).unwrap();
    assert_eq!(next(&mut rx).await, "echo2");
    socket.manager().close();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manager_events_open_ping_close_and_reconnect() {
    let (url, _) = server(Some(Duration::from_millis(100))).await;
    let (tx, mut rx) = mpsc::unbounded_channel::<String>();
    let t = tx.clone();
    let t2 = tx.clone();
    let t3 = tx.clone();
    let t4 = tx.clone();
    let t5 = tx.clone();
    let socket = io(&url)
        .transports(Transports::WebSocket)
        .reconnection_delay(Duration::from_millis(50))
        .randomization_factor(0.0)
        .on_open(move || {
            let _ = t.send("open".into());
        })
        .on_close(move |reason| {
            let _ = t2.send(format!("close {reason}"));
        })
        .on_reconnect_attempt(move |n| {
            let _ = t3.send(format!("attempt {n}"));
        })
        .on_reconnect(move |n| {
            let _ = t4.send(format!("reconnect {n}"));
        })
        .on_error(move |e| {
            let _ = t5.send(format!("error {e}"));
        })
        .connect()
        .await
        .unwrap();
    let t = tx.clone();
    socket.manager().on_ping(move || {
        let _ = t.send("ping".into());
    });
    assert_eq!(next(&mut rx).await, "open");
    assert_eq!(next(&mut rx).await, "ping");
    socket.emit("drop-me", vec![]).unwrap();
    let mut got = Vec::new();
    while got.last().map(String::as_str) != Some("reconnect 1") {
        let e = next(&mut rx).await;
        if e != "ping" {
            got.push(e);
        }
    }
    assert_eq!(
        got,
        ["close transport close", "attempt 1", "open", "reconnect 1"]
    );
    socket.manager().close();
    let mut last = next(&mut rx).await;
    while last == "ping" {
        last = next(&mut rx).await;
    }
    assert_eq!(
        last,
        format!("close {}", DisconnectReason::IoClientDisconnect)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manager_and_connection_listeners_once_and_off() {
    let (url, _) = server(Some(Duration::from_millis(100))).await;
    let (tx, mut rx) = mpsc::unbounded_channel::<String>();
    let socket = io(&url)
        .transports(Transports::WebSocket)
        .reconnection_delay(Duration::from_millis(50))
        .randomization_factor(0.0)
        .connect()
        .await
        .unwrap();
    let manager = socket.manager();
    let t = tx.clone();
    manager.once_ping(move || {
        let _ = t.send("once ping".into());
    });
    let t = tx.clone();
    let pings = manager.on_ping(move || {
        let _ = t.send("ping".into());
    });
    assert_eq!(next(&mut rx).await, "once ping");
    assert_eq!(next(&mut rx).await, "ping");
    // The once listener is gone after its call.
    assert_eq!(next(&mut rx).await, "ping");
    assert!(manager.off_listener(pings));
    assert!(!manager.off_listener(pings));
    // A ping being reported as it was removed may still arrive; none after
    // the next one.
    let t = tx.clone();
    manager.once_ping(move || {
        let _ = t.send("marker".into());
    });
    let mut e = next(&mut rx).await;
    while e == "ping" {
        e = next(&mut rx).await;
    }
    assert_eq!(e, "marker");
    let t = tx.clone();
    let attempts = manager.on_reconnect_attempt(move |n| {
        let _ = t.send(format!("attempt {n}"));
    });
    assert!(manager.off_listener(attempts));
    let t = tx.clone();
    manager.once_open(move || {
        let _ = t.send("open once".into());
    });
    let t = tx.clone();
    manager.once_reconnect(move |n| {
        let _ = t.send(format!("reconnect once {n}"));
    });
    let t = tx.clone();
    manager.once_close(move |reason| {
        let _ = t.send(format!("close once {reason}"));
    });
    let t = tx.clone();
    socket.once_disconnect(move |_, reason| {
        let _ = t.send(format!("disconnect once {reason}"));
    });
    let t = tx.clone();
    socket.once_connect(move |_| {
        let _ = t.send("connect once".into());
    });
    let t = tx.clone();
    let removed = socket.on_connect(move |_| {
        let _ = t.send("removed".into());
    });
    // Ids are unique: the manager has no listener of that id.
    assert!(!manager.off_listener(removed));
    assert!(socket.off_listener(removed));
    let t = tx.clone();
    socket.on_connect(move |_| {
        let _ = t.send("connect".into());
    });
    // Two reconnections: the once listeners hear the first only.
    let mut rounds = Vec::new();
    for _ in 0..2 {
        socket.emit("drop-me", vec![]).unwrap();
        let mut got = Vec::new();
        while got.last().map(String::as_str) != Some("connect") {
            got.push(next(&mut rx).await);
        }
        got.sort();
        rounds.push(got);
    }
    assert_eq!(
        rounds,
        [
            vec![
                "close once transport close",
                "connect",
                "connect once",
                "disconnect once transport close",
                "open once",
                "reconnect once 1",
            ],
            vec!["connect"],
        ]
    );
    manager.close();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typed_emits_and_acknowledgements_both_ways() {
    use socketeer::client::AckError;
    use socketeer::server::{AckSender, Args, Data, Socket};

    let server = SocketIo::new(SocketIoConfig::default());
    server.on_connection(|socket: Socket| {
        socket.on("add", |Data((a, b)): Data<(i64, i64)>, ack: AckSender| {
            let _ = ack.send_serialized(&(a + b));
        });
        socket.on("echo", |s: Socket, Args(args): Args| {
            let _ = s.emit("echo", args);
        });
        socket.on("ask", |s: Socket| async move {
            let answer = s
                .emit_serialized_with_ack("question", &("q", 1))
                .timeout(WAIT)
                .typed::<(String, u32)>()
                .await;
            let _ = s.emit_serialized("answer", &(format!("{answer:?}"),));
        });
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(server.serve(listener));
    let (tx, mut rx) = mpsc::unbounded_channel::<Vec<Value>>();
    let t = tx.clone();
    let socket = io(&url)
        .force_new(true)
        .on("echo", move |_, args, _| {
            let _ = t.send(args);
        })
        .on("answer", move |_, args, _| {
            let _ = tx.send(args);
        })
        .on("question", |_, args, ack| {
            assert_eq!(args, [Value::from("q"), Value::from(1)]);
            // Two typed answers: the argument list made from a tuple.
            let answer = socketeer::packet::args_from_serialize(&("a", 7)).unwrap();
            let _ = ack.unwrap().send(answer);
        })
        .connect()
        .await
        .unwrap();
    // Typed out, typed back.
    let sum = socket
        .emit_serialized_with_ack("add", &(2, 3))
        .timeout(WAIT);
    assert_eq!(sum.typed::<i64>().await, Ok(5));
    let other = socket
        .emit_serialized_with_ack("add", &(2, 3))
        .timeout(WAIT);
    assert_eq!(other.typed::<String>().await, Err(AckError::InvalidAnswer));
    assert!(matches!(
        socket.emit_serialized_with_ack("add", "not a list").await,
        Err(AckError::Emit(_))
    ));
    assert!(socket.emit_serialized("echo", "not a list").is_err());
    socket
        .emit_volatile_serialized("echo", &("v", [1, 2]))
        .unwrap();
    assert_eq!(
        next(&mut rx).await,
        [
            Value::from("v"),
            Value::Array(vec![Value::from(1), Value::from(2)])
        ]
    );
    socket.emit_serialized("ask", &()).unwrap();
    assert_eq!(next(&mut rx).await, [Value::from(r#"Ok(("a", 7))"#)]);
    socket.manager().close();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namespace_from_the_url_and_one_manager_per_server() {
    let (url, seen) = server(None).await;
    let admin = io(format!("{url}/admin"))
        .transports(Transports::WebSocket)
        .connect()
        .await
        .unwrap();
    assert_eq!(admin.namespace(), "/admin");
    let main = io(&url).connect().await.unwrap();
    assert_eq!(main.namespace(), "/");
    assert!(main.manager().same_as(&admin.manager()));
    // The same namespace again: a connection of its own.
    let again = io(format!("{url}/admin?x=1")).connect().await.unwrap();
    assert!(!again.manager().same_as(&admin.manager()));
    // force_new, and its alias multiplex(false).
    let forced = io(&url).force_new(true).connect().await.unwrap();
    let unplexed = io(format!("{url}/admin"))
        .multiplex(false)
        .connect()
        .await
        .unwrap();
    assert!(!forced.manager().same_as(&main.manager()));
    assert!(!unplexed.manager().same_as(&admin.manager()));
    until("five connections", || seen.lock().unwrap().len() == 5).await;
    let seen = seen.lock().unwrap().clone();
    let nsps: Vec<&str> = seen.iter().map(|s| s.nsp.as_str()).collect();
    assert_eq!(nsps, ["/admin", "/", "/admin", "/", "/admin"]);
    assert_eq!(seen[0].engine, seen[1].engine, "{seen:?}");
    let engines: std::collections::HashSet<&str> = seen.iter().map(|s| s.engine.as_str()).collect();
    assert_eq!(engines.len(), 4, "{seen:?}");
    for s in [admin, main, again, forced, unplexed] {
        s.manager().close();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_auth_is_awaited_on_every_connection() {
    let (url, seen) = server(None).await;
    let calls = Arc::new(AtomicU32::new(0));
    let c = calls.clone();
    let socket = io(&url)
        .transports(Transports::Polling)
        .reconnection_delay(Duration::from_millis(50))
        .auth_async(move || {
            let c = c.clone();
            async move {
                tokio::time::sleep(Duration::from_millis(20)).await;
                json!({ "token": c.fetch_add(1, Ordering::SeqCst) + 1 })
            }
        })
        .connect()
        .await
        .unwrap();
    socket.emit("drop-me", vec![]).unwrap();
    until("a second connection", || seen.lock().unwrap().len() == 2).await;
    let tokens: Vec<Value> = seen
        .lock()
        .unwrap()
        .iter()
        .map(|s| s.auth.clone())
        .collect();
    assert_eq!(
        tokens,
        [
            Value::from(json!({"token": 1})),
            Value::from(json!({"token": 2}))
        ]
    );
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    socket.manager().close();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remember_upgrade_and_websocket_first() {
    let (url, seen) = server(None).await;
    let first = io(&url).remember_upgrade(true).connect().await.unwrap();
    // Wait for the upgrade: a namespace joined later on the same session
    // sees the session's transport.
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let admin = first.manager().socket("/admin", Default::default());
        admin.connect();
        until("/admin joined", || admin.connected()).await;
        let last = seen.lock().unwrap().last().unwrap().clone();
        if last.transport == "websocket" {
            break;
        }
        admin.disconnect();
        assert!(tokio::time::Instant::now() < deadline, "no upgrade");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(seen.lock().unwrap()[0].opened_on, "polling");
    first.manager().close();

    let n = seen.lock().unwrap().len();
    // Remembered: starts on WebSocket.
    let second = io(&url)
        .remember_upgrade(true)
        .force_new(true)
        .connect()
        .await
        .unwrap();
    // Not asked for: polling first, as ever.
    let third = io(&url).force_new(true).connect().await.unwrap();
    // WebSocket first.
    let fourth = io(&url)
        .transports(Transports::WebSocketFirst)
        .force_new(true)
        .connect()
        .await
        .unwrap();
    until("three more", || seen.lock().unwrap().len() == n + 3).await;
    let transports: Vec<String> = seen.lock().unwrap()[n..]
        .iter()
        .map(|s| s.opened_on.clone())
        .collect();
    assert_eq!(transports, ["websocket", "polling", "websocket"]);
    for s in [second, third, fourth] {
        s.manager().close();
    }
}
