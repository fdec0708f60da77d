//! Handlers as applications write them: typed arguments, async handlers
//! and middlewares, socket data, the listener model and the server-level
//! shortcuts, checked over a raw WebSocket so every packet is visible.

mod common;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::next_text;
use serde::{Deserialize, Serialize};
use socketeer::server::{
    AckSender, Args, ConnectError, Data, DisconnectReason, Event, Socket, SocketData, SocketIo,
    SocketIoConfig, State, TryData,
};
use socketeer::Value;
use socketeer_ws::{connect, MaybeTlsStream, Message, WebSocketStream};

type Ws = WebSocketStream<MaybeTlsStream>;

async fn serve(io: SocketIo) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(io.serve(listener));
    addr
}

/// Opens an Engine.IO WebSocket session (no namespace joined yet).
async fn open(addr: SocketAddr) -> Ws {
    let url = format!("ws://{addr}/socket.io/?EIO=4&transport=websocket");
    let (mut ws, _) = connect(&url).await.unwrap();
    assert!(next_text(&mut ws).await.starts_with("0{"));
    ws
}

/// Opens a session and joins `/` with `auth`; returns the CONNECT reply.
async fn join(addr: SocketAddr, auth: &str) -> (Ws, String) {
    let mut ws = open(addr).await;
    ws.send(Message::text(format!("40{auth}"))).await.unwrap();
    let reply = next_text(&mut ws).await;
    (ws, reply)
}

async fn send(ws: &mut Ws, text: &str) {
    ws.send(Message::text(text.to_owned())).await.unwrap();
}

fn within<F: std::future::Future>(f: F) -> tokio::time::Timeout<F> {
    tokio::time::timeout(Duration::from_secs(20), f)
}

#[derive(Debug, Deserialize, Serialize, Clone, PartialEq)]
struct Point {
    x: i32,
    y: i32,
}

#[tokio::test]
async fn typed_arguments_and_the_error_path() {
    let io = SocketIo::new(Default::default());
    io.on_connection(|socket: Socket| {
        socket.on("add", |Data(p): Data<Point>, ack: AckSender| {
            let _ = ack.send(vec![Value::from(p.x + p.y)]);
        });
        socket.on(
            "pair",
            |Data((a, b)): Data<(String, u8)>, ack: AckSender| {
                let _ = ack.send(vec![Value::from(format!("{a}{b}"))]);
            },
        );
        socket.on("bytes", |Data(b): Data<bytes::Bytes>, ack: AckSender| {
            let _ = ack.send(vec![Value::from(b.len() as u64)]);
        });
        socket.on("text", |Data(t): Data<String>, ack: AckSender| {
            let _ = ack.send(vec![Value::from(t)]);
        });
        socket.on("maybe", |s: Socket, TryData(p): TryData<Point>| match p {
            Ok(_) => drop(s.emit("maybe", vec!["ok".into()])),
            Err(e) => drop(s.emit("maybe", vec![Value::from(e.to_string())])),
        });
        socket.on_error(|s, e| {
            let _ = s.emit("error-seen", vec![Value::from(e.to_string())]);
        });
    });
    let addr = serve(io).await;
    within(async {
        let (mut ws, reply) = join(addr, "").await;
        assert!(reply.starts_with("40{\"sid\""), "{reply}");
        send(&mut ws, r#"421["add",{"x":1,"y":2}]"#).await;
        assert_eq!(next_text(&mut ws).await, "431[3]");
        send(&mut ws, r#"422["pair","a",7]"#).await;
        assert_eq!(next_text(&mut ws).await, r#"432["a7"]"#);

        // Bad input: each gets its ack refused and the error listeners
        // told, and the connection goes on.
        let bad = [
            (r#"4210["add",{"x":"one","y":2}]"#, "4310", "invalid type"),
            (r#"4211["add"]"#, "4311", "invalid"),
            (r#"4212["add",{"x":1,"y":2},"extra"]"#, "4312", "invalid"),
            (r#"4213["add",{"x":1e300,"y":2}]"#, "4313", "invalid"),
            (
                r#"4214["add",{"x":99999999999999999999,"y":2}]"#,
                "4314",
                "invalid",
            ),
            (r#"4215["pair","a",300]"#, "4315", "invalid value"),
            (r#"4216["pair","a"]"#, "4316", "invalid"),
        ];
        for (sent, ack, why) in bad {
            send(&mut ws, sent).await;
            let answer = next_text(&mut ws).await;
            assert!(
                answer.starts_with(&format!("{ack}[{{\"error\":\"invalid")),
                "{sent} -> {answer}"
            );
            assert!(answer.contains(why), "{sent} -> {answer}");
            let seen = next_text(&mut ws).await;
            assert!(
                seen.starts_with(r#"42["error-seen","invalid arguments for"#),
                "{seen}"
            );
        }
        // A handler that takes an ack, sent without one: not called.
        send(&mut ws, r#"42["add",{"x":1,"y":2}]"#).await;
        assert_eq!(
            next_text(&mut ws).await,
            r#"42["error-seen","\"add\" was sent without an acknowledgement"]"#
        );
        // Binary into Bytes, and binary that is not UTF-8 into a String.
        send(&mut ws, r#"451-20["bytes",{"_placeholder":true,"num":0}]"#).await;
        ws.send(Message::binary(vec![1u8, 2, 3])).await.unwrap();
        assert_eq!(next_text(&mut ws).await, "4320[3]");
        send(&mut ws, r#"451-21["text",{"_placeholder":true,"num":0}]"#).await;
        ws.send(Message::binary(vec![0xffu8, 0xfe])).await.unwrap();
        let answer = next_text(&mut ws).await;
        assert!(answer.starts_with(r#"4321[{"error":"invalid"#), "{answer}");
        assert!(next_text(&mut ws).await.contains("error-seen"));
        // The handler that takes the error itself.
        send(&mut ws, r#"42["maybe",{"x":1}]"#).await;
        let answer = next_text(&mut ws).await;
        assert!(answer.contains("missing field"), "{answer}");
        // Still usable.
        send(&mut ws, r#"4222["add",{"x":40,"y":2}]"#).await;
        assert_eq!(next_text(&mut ws).await, "4322[42]");
    })
    .await
    .expect("timed out");
}

#[tokio::test]
async fn a_slow_handler_delays_only_its_own_socket_whose_events_stay_in_order() {
    let io = SocketIo::new(Default::default());
    io.on_connection(|socket: Socket| {
        socket.on("slow", |s: Socket, Data(n): Data<u32>| async move {
            tokio::time::sleep(Duration::from_millis(800)).await;
            let _ = s.emit("done", vec![Value::from(format!("slow {n}"))]);
        });
        socket.on("fast", |s: Socket, Data(n): Data<u32>| {
            let _ = s.emit("done", vec![Value::from(format!("fast {n}"))]);
        });
    });
    let addr = serve(io).await;
    within(async {
        let (mut a, _) = join(addr, "").await;
        let (mut b, _) = join(addr, "").await;
        let start = Instant::now();
        send(&mut a, r#"42["slow",1]"#).await;
        send(&mut a, r#"42["fast",2]"#).await;
        send(&mut a, r#"42["slow",3]"#).await;
        send(&mut a, r#"42["fast",4]"#).await;
        // B is not held up by A's slow handler.
        send(&mut b, r#"42["fast",9]"#).await;
        assert_eq!(next_text(&mut b).await, r#"42["done","fast 9"]"#);
        let b_done = start.elapsed();
        // A's events ran in the order sent, each after the one before.
        for expected in ["slow 1", "fast 2", "slow 3", "fast 4"] {
            assert_eq!(
                next_text(&mut a).await,
                format!(r#"42["done","{expected}"]"#)
            );
        }
        let a_done = start.elapsed();
        println!("B answered after {b_done:?}; A's four events took {a_done:?}");
        assert!(b_done < Duration::from_millis(800), "B waited {b_done:?}");
        assert!(a_done >= Duration::from_millis(1600), "A took {a_done:?}");
    })
    .await
    .expect("timed out");
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct User {
    name: String,
    admin: bool,
}

/// A shared async resource: a token store behind an async lock, with a
/// lookup that takes real time.
#[derive(Clone, Default)]
struct Tokens(Arc<tokio::sync::RwLock<HashMap<String, User>>>);

impl Tokens {
    async fn lookup(&self, token: &str) -> Option<User> {
        tokio::time::sleep(Duration::from_millis(50)).await;
        self.0.read().await.get(token).cloned()
    }
}

#[tokio::test]
async fn async_middleware_sets_data_that_handlers_and_fetch_sockets_see() {
    let tokens = Tokens::default();
    tokens.0.write().await.insert(
        "t1".into(),
        User {
            name: "ada".into(),
            admin: true,
        },
    );
    let config = SocketIoConfig::default().with_state(tokens.clone());
    let io = SocketIo::new(config);
    let checks = Arc::new(Mutex::new(0));
    let seen = checks.clone();
    io.main_namespace()
        .use_async_middleware(move |socket: Socket| {
            let tokens = tokens.clone();
            let seen = seen.clone();
            async move {
                *seen.lock().unwrap() += 1;
                let token = socket.handshake().auth.get("token").and_then(Value::as_str);
                match tokens.lookup(token.unwrap_or("")).await {
                    Some(user) => {
                        socket.set_data(user);
                        Ok(())
                    }
                    None => Err(ConnectError::new("bad token")),
                }
            }
        });
    io.on_connection(|socket: Socket, SocketData(user): SocketData<User>| {
        let _ = socket.emit("hello", vec![Value::from(user.name)]);
        socket.on(
            "whoami",
            |SocketData(user): SocketData<User>, ack: AckSender| {
                let _ = ack.send(vec![Value::from(user.name), Value::from(user.admin)]);
            },
        );
        socket.on(
            "known",
            |State(tokens): State<Tokens>, Data(t): Data<String>, ack: AckSender| async move {
                let known = tokens.lookup(&t).await.is_some();
                let _ = ack.send(vec![Value::from(known)]);
            },
        );
        socket.on("rename", |s: Socket, Data(name): Data<String>| {
            s.with_data(|u: &mut User| u.name = name);
        });
    });
    let addr = serve(io.clone()).await;
    within(async {
        let (_refused, reply) = join(addr, r#"{"token":"nope"}"#).await;
        assert_eq!(reply, r#"44{"message":"bad token"}"#);
        let (mut ws, reply) = join(addr, r#"{"token":"t1"}"#).await;
        assert!(reply.starts_with("40{\"sid\""), "{reply}");
        assert_eq!(next_text(&mut ws).await, r#"42["hello","ada"]"#);
        send(&mut ws, r#"421["whoami"]"#).await;
        assert_eq!(next_text(&mut ws).await, r#"431["ada",true]"#);
        send(&mut ws, r#"422["known","t1"]"#).await;
        assert_eq!(next_text(&mut ws).await, "432[true]");
        send(&mut ws, r#"42["rename","grace"]"#).await;
        send(&mut ws, r#"423["whoami"]"#).await;
        assert_eq!(next_text(&mut ws).await, r#"433["grace",true]"#);
        let sockets = io.fetch_sockets().await;
        assert_eq!(sockets.len(), 1);
        let user: User = sockets[0].data.clone().into_typed().unwrap();
        assert_eq!(user.name, "grace");
    })
    .await
    .expect("timed out");
    assert_eq!(*checks.lock().unwrap(), 2);
}

#[tokio::test]
async fn an_async_connection_handler_holds_the_sockets_events_until_it_is_done() {
    let io = SocketIo::new(Default::default());
    io.on_connection(|socket: Socket| async move {
        // Registers its handlers only after awaiting: the events the
        // client sent meanwhile wait for them.
        tokio::time::sleep(Duration::from_millis(200)).await;
        socket.on("echo", |s: Socket, Args(args): Args| {
            let _ = s.emit("echo", args);
        });
    });
    let addr = serve(io).await;
    within(async {
        let (mut ws, _) = join(addr, "").await;
        send(&mut ws, r#"42["echo",1]"#).await;
        send(&mut ws, r#"42["echo",2]"#).await;
        assert_eq!(next_text(&mut ws).await, r#"42["echo",1]"#);
        assert_eq!(next_text(&mut ws).await, r#"42["echo",2]"#);
    })
    .await
    .expect("timed out");
}

#[tokio::test]
async fn the_listener_model() {
    let io = SocketIo::new(Default::default());
    let log = Arc::new(Mutex::new(Vec::<String>::new()));
    let l = log.clone();
    io.on_connection(move |socket: Socket| {
        let push = |log: &Arc<Mutex<Vec<String>>>, s: String| log.lock().unwrap().push(s);
        let (l1, l2, l3, l4, l5, l6) = (
            l.clone(),
            l.clone(),
            l.clone(),
            l.clone(),
            l.clone(),
            l.clone(),
        );
        socket.on("e", move |Data(n): Data<u32>| {
            push(&l1, format!("first {n}"))
        });
        socket.on("e", move |Data(n): Data<u32>| {
            push(&l2, format!("second {n}"))
        });
        socket.once("e", move |Data(n): Data<u32>| {
            push(&l3, format!("once {n}"))
        });
        let l0 = l.clone();
        let gone = socket.on("e", move |_: Socket| {
            push(&l0, "removed listener called".into())
        });
        socket.off(gone);
        socket.on_any(move |Event(e): Event, Args(a): Args| {
            push(&l4, format!("any {e} {}", a.len()))
        });
        let l5b = l5.clone();
        socket.prepend_any(move |Event(e): Event| push(&l5b, format!("prepended {e}")));
        let any = socket.listeners_any();
        assert_eq!(any.len(), 2);
        let lo = l5.clone();
        socket.on_any_outgoing(move |_, event, args| {
            push(&lo, format!("out {event} {}", args.len()))
        });
        socket.on_disconnecting(move |s: Socket, reason: DisconnectReason| {
            let mut rooms: Vec<String> = s.rooms().iter().map(|r| r.to_string()).collect();
            rooms.retain(|r| r != s.id());
            push(&l5, format!("disconnecting {reason} {rooms:?}"));
        });
        socket.on_disconnect(move |s: Socket, reason: DisconnectReason| {
            push(&l6, format!("disconnect {reason} {}", s.rooms().len()));
        });
        socket.join(["lobby"]);
        socket.on("say", |s: Socket, Args(a): Args| {
            let _ = s.emit("said", a);
        });
        socket.on("stop-any", |s: Socket| s.off_any());
    });
    let addr = serve(io.clone()).await;
    within(async {
        let (mut ws, _) = join(addr, "").await;
        send(&mut ws, r#"42["e",1]"#).await;
        send(&mut ws, r#"42["e",2]"#).await;
        send(&mut ws, r#"42["say","x"]"#).await;
        assert_eq!(next_text(&mut ws).await, r#"42["said","x"]"#);
        // A broadcast reaches the outgoing listener too.
        io.to("lobby")
            .emit("news", vec![1.into(), 2.into()])
            .unwrap();
        assert_eq!(next_text(&mut ws).await, r#"42["news",1,2]"#);
        send(&mut ws, r#"42["stop-any"]"#).await;
        send(&mut ws, r#"42["e",3]"#).await;
        send(&mut ws, r#"42["say","y"]"#).await;
        assert_eq!(next_text(&mut ws).await, r#"42["said","y"]"#);
        send(&mut ws, "41").await;
        tokio::time::sleep(Duration::from_millis(200)).await;
    })
    .await
    .expect("timed out");
    let log = log.lock().unwrap().clone();
    assert_eq!(
        log,
        [
            "prepended e",
            "any e 1",
            "first 1",
            "second 1",
            "once 1",
            "prepended e",
            "any e 1",
            "first 2",
            "second 2",
            "prepended say",
            "any say 1",
            "out said 1",
            "out news 2",
            "prepended stop-any",
            "any stop-any 0",
            "first 3",
            "second 3",
            "out said 1",
            "disconnecting client namespace disconnect [\"lobby\"]",
            "disconnect client namespace disconnect 0",
        ]
    );
}

#[tokio::test]
async fn server_level_shortcuts() {
    let io = SocketIo::new(Default::default());
    io.on_connection(|socket: Socket, Data(auth): Data<Value>| {
        if let Some(room) = auth.get("room").and_then(Value::as_str) {
            socket.join([room.to_owned()]);
        }
    });
    let addr = serve(io.clone()).await;
    within(async {
        let (mut red, _) = join(addr, r#"{"room":"red"}"#).await;
        let (mut blue, _) = join(addr, r#"{"room":"blue"}"#).await;
        assert_eq!(io.emit("all", vec![]).unwrap(), 2);
        assert_eq!(next_text(&mut red).await, r#"42["all"]"#);
        assert_eq!(next_text(&mut blue).await, r#"42["all"]"#);
        assert_eq!(io.to("red").emit("r", vec![]).unwrap(), 1);
        assert_eq!(next_text(&mut red).await, r#"42["r"]"#);
        assert_eq!(io.except("red").emit("nr", vec![]).unwrap(), 1);
        assert_eq!(next_text(&mut blue).await, r#"42["nr"]"#);
        assert_eq!(io.local().emit("l", vec![]).unwrap(), 2);
        assert_eq!(next_text(&mut red).await, r#"42["l"]"#);
        assert_eq!(next_text(&mut blue).await, r#"42["l"]"#);
        let everyone = io.timeout(Duration::from_secs(5));
        let acks = everyone.emit_with_ack("q", vec![]);
        let answer = async {
            for ws in [&mut red, &mut blue] {
                let q = next_text(ws).await;
                let id = q
                    .trim_start_matches("42")
                    .split('[')
                    .next()
                    .unwrap()
                    .to_owned();
                send(ws, &format!("43{id}[\"a\"]")).await;
            }
        };
        let (acks, ()) = tokio::join!(acks, answer);
        assert_eq!(acks.unwrap().len(), 2);
    })
    .await
    .expect("timed out");
}

#[tokio::test]
async fn a_client_flooding_a_slow_handler_is_disconnected() {
    let config = SocketIoConfig {
        max_pending_events: 4,
        ..Default::default()
    };
    let io = SocketIo::new(config);
    io.on_connection(|socket: Socket| {
        socket.on("slow", |_: Socket| async {
            tokio::time::sleep(Duration::from_secs(30)).await;
        });
    });
    let addr = serve(io.clone()).await;
    within(async {
        let (mut flood, _) = join(addr, "").await;
        let (mut calm, _) = join(addr, "").await;
        for _ in 0..10 {
            send(&mut flood, r#"42["slow"]"#).await;
        }
        // The flooding connection is closed; the other is untouched.
        loop {
            match flood.recv().await {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => break,
                Some(Ok(_)) => {}
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(io.main_namespace().socket_count(), 1);
        send(&mut calm, r#"42["slow"]"#).await;
    })
    .await
    .expect("timed out");
}

#[tokio::test]
async fn dynamic_namespaces_see_auth_broadcast_from_the_parent_and_go_away_empty() {
    let io = SocketIo::new(SocketIoConfig {
        cleanup_empty_child_namespaces: true,
        ..Default::default()
    });
    let setups = Arc::new(Mutex::new(0));
    let counted = setups.clone();
    let parent = io.of_dynamic(
        |name, handshake| name.starts_with("/team-") && handshake.auth.get("member").is_some(),
        move |ns| {
            *counted.lock().unwrap() += 1;
            ns.on_connection(|socket: Socket| {
                socket.on("ask", |s: Socket| async move {
                    let answer = s
                        .emit_with_ack("q", vec![])
                        .timeout(Duration::from_secs(5))
                        .typed::<(u32, String)>()
                        .await;
                    let _ = s.emit("typed", vec![Value::from(format!("{answer:?}"))]);
                });
            });
        },
    );
    let addr = serve(io.clone()).await;
    within(async {
        let mut ws = open(addr).await;
        // Refused without the auth the matcher asks for.
        send(&mut ws, "40/team-1,{}").await;
        assert_eq!(
            next_text(&mut ws).await,
            r#"44/team-1,{"message":"Invalid namespace"}"#
        );
        send(&mut ws, r#"40/team-1,{"member":true}"#).await;
        assert!(next_text(&mut ws).await.starts_with("40/team-1,{\"sid\""));
        send(&mut ws, r#"40/team-2,{"member":true}"#).await;
        assert!(next_text(&mut ws).await.starts_with("40/team-2,{\"sid\""));
        assert_eq!(parent.children().len(), 2);
        // The parent reaches every child.
        assert_eq!(parent.emit("all-teams", vec![]).unwrap(), 2);
        let mut got = vec![next_text(&mut ws).await, next_text(&mut ws).await];
        got.sort();
        assert_eq!(
            got,
            [r#"42/team-1,["all-teams"]"#, r#"42/team-2,["all-teams"]"#]
        );
        // A typed acknowledgement, then one of another shape.
        for (answer, expected) in [
            (r#"[7,"x"]"#, r#"Ok((7, \"x\"))"#),
            (r#"["x"]"#, "Err(InvalidAnswer)"),
        ] {
            send(&mut ws, r#"42/team-1,["ask"]"#).await;
            let q = next_text(&mut ws).await;
            let id = q
                .trim_start_matches("42/team-1,")
                .split('[')
                .next()
                .unwrap()
                .to_owned();
            send(&mut ws, &format!("43/team-1,{id}{answer}")).await;
            assert_eq!(
                next_text(&mut ws).await,
                format!(r#"42/team-1,["typed","{expected}"]"#)
            );
        }
        // Leaving the last socket of /team-2 removes it; asking again
        // makes (and sets up) a new one.
        send(&mut ws, "41/team-2,").await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(parent.children().len(), 1);
        send(&mut ws, r#"40/team-2,{"member":true}"#).await;
        assert!(next_text(&mut ws).await.starts_with("40/team-2,{\"sid\""));
        assert_eq!(parent.children().len(), 2);
    })
    .await
    .expect("timed out");
    assert_eq!(*setups.lock().unwrap(), 3);
}

#[tokio::test]
async fn an_async_namespace_matcher_awaits_before_the_connect_is_answered() {
    use socketeer::server::Handshake;
    use std::collections::HashSet;
    use std::sync::atomic::{AtomicUsize, Ordering};

    let io = SocketIo::new(Default::default());
    io.on_connection(|socket: Socket| {
        socket.on("ping", |s: Socket| {
            let _ = s.emit("pong", vec![]);
        });
    });
    // What a database would hold: the rooms that exist.
    let rooms = Arc::new(tokio::sync::RwLock::new(HashSet::from([
        "/room-a".to_owned()
    ])));
    let asked = Arc::new(AtomicUsize::new(0));
    let (known, count) = (rooms.clone(), asked.clone());
    let parent = io.of_dynamic_async(
        move |name: String, handshake: Arc<Handshake>| {
            let (known, count) = (known.clone(), count.clone());
            async move {
                count.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(50)).await;
                handshake.auth.get("member").is_some() && known.read().await.contains(&name)
            }
        },
        |ns| {
            ns.on_connection(|socket: Socket| {
                let _ = socket.emit_serialized("welcome", &(socket.namespace().name(),));
            });
        },
    );
    // A sync matcher added after the async one is asked after it.
    io.of_dynamic(|name, _| name == "/sync-x", |_| {});
    let addr = serve(io.clone()).await;
    within(async {
        let mut ws = open(addr).await;
        let started = Instant::now();
        send(&mut ws, r#"40/room-a,{"member":true}"#).await;
        // The connection's other namespaces and packets go on meanwhile.
        send(&mut ws, "40").await;
        assert!(next_text(&mut ws).await.starts_with("40{\"sid\""));
        send(&mut ws, r#"42["ping"]"#).await;
        assert_eq!(next_text(&mut ws).await, r#"42["pong"]"#);
        // The CONNECT reply, then what the connection handler emits.
        assert!(next_text(&mut ws).await.starts_with("40/room-a,{\"sid\""));
        assert!(started.elapsed() >= Duration::from_millis(50));
        assert_eq!(
            next_text(&mut ws).await,
            r#"42/room-a,["welcome","/room-a"]"#
        );
        // Refused as the official server refuses: unknown room, or no auth.
        send(&mut ws, r#"40/room-b,{"member":true}"#).await;
        assert_eq!(
            next_text(&mut ws).await,
            r#"44/room-b,{"message":"Invalid namespace"}"#
        );
        rooms.write().await.insert("/room-b".to_owned());
        let mut other = open(addr).await;
        send(&mut other, "40/room-b,{}").await;
        assert_eq!(
            next_text(&mut other).await,
            r#"44/room-b,{"message":"Invalid namespace"}"#
        );
        // Once the room exists, the same CONNECT is accepted.
        send(&mut ws, r#"40/room-b,{"member":true}"#).await;
        assert!(next_text(&mut ws).await.starts_with("40/room-b,{\"sid\""));
        assert_eq!(
            next_text(&mut ws).await,
            r#"42/room-b,["welcome","/room-b"]"#
        );
        assert_eq!(asked.load(Ordering::SeqCst), 4);
        // A namespace already made is not asked for again.
        send(&mut other, r#"40/room-a,{}"#).await;
        assert!(next_text(&mut other)
            .await
            .starts_with("40/room-a,{\"sid\""));
        assert_eq!(
            next_text(&mut other).await,
            r#"42/room-a,["welcome","/room-a"]"#
        );
        assert_eq!(asked.load(Ordering::SeqCst), 4);
        // The async matcher refuses /sync-x; the sync one after it accepts.
        send(&mut other, "40/sync-x,").await;
        assert!(next_text(&mut other)
            .await
            .starts_with("40/sync-x,{\"sid\""));
        assert_eq!(asked.load(Ordering::SeqCst), 5);
        assert_eq!(parent.children().len(), 2);
    })
    .await
    .expect("timed out");
}

#[tokio::test]
async fn typed_emits_on_every_server_surface() {
    let io = SocketIo::new(Default::default());
    let parent = io.of_dynamic(|name, _| name.starts_with("/typed-"), |_| {});
    io.on_connection(|socket: Socket| {
        socket.on("go", |s: Socket| async move {
            // A tuple spreads into arguments; `()` is none.
            let _ = s.emit_serialized("one", &(Point { x: 1, y: 2 },));
            // Volatile: queued only if the client is ready for it now.
            let queued = s.emit_volatile_serialized("volatile", &("v", 1));
            assert!(!s.emit_volatile_serialized("volatile", "not a list"));
            let _ = s.emit_serialized("queued", &(queued,));
            let _ = s.compress(false).emit_serialized("none", &());
            let sum = s
                .emit_serialized_with_ack("add", &(1, 2))
                .timeout(Duration::from_secs(5))
                .typed::<i64>()
                .await;
            let refused = s.emit_serialized_with_ack("bad", "not a list").await;
            let _ = s.emit_serialized("results", &(format!("{sum:?}"), format!("{refused:?}")));
            let answers = s
                .namespace()
                .broadcast()
                .timeout(Duration::from_secs(5))
                .emit_serialized_with_ack("many", &("m",))
                .await
                .unwrap();
            let point: Vec<Point> = answers
                .into_iter()
                .map(|(_, a)| a.unwrap().remove(0).into_typed().unwrap())
                .collect();
            let _ = s.emit_serialized("answers", &(point,));
        });
    });
    let addr = serve(io.clone()).await;
    within(async {
        let (mut ws, reply) = join(addr, "").await;
        assert!(reply.starts_with("40{"));
        send(&mut ws, r#"42["go"]"#).await;
        assert_eq!(next_text(&mut ws).await, r#"42["one",{"x":1,"y":2}]"#);
        let first = next_text(&mut ws).await;
        if first == r#"42["volatile","v",1]"# {
            assert_eq!(next_text(&mut ws).await, r#"42["queued",true]"#);
        } else {
            assert_eq!(first, r#"42["queued",false]"#);
        }
        assert_eq!(next_text(&mut ws).await, r#"42["none"]"#);
        assert_eq!(next_text(&mut ws).await, r#"420["add",1,2]"#);
        send(&mut ws, "430[3]").await;
        assert_eq!(
            next_text(&mut ws).await,
            r#"42["results","Ok(3)","Err(EmitFailed)"]"#
        );
        let many = next_text(&mut ws).await;
        let id = many
            .strip_prefix("42")
            .and_then(|m| m.strip_suffix(r#"["many","m"]"#))
            .expect("an acknowledged broadcast");
        send(&mut ws, &format!(r#"43{id}[{{"x":5,"y":6}}]"#)).await;
        assert_eq!(next_text(&mut ws).await, r#"42["answers",[{"x":5,"y":6}]]"#);
        // The server-level shortcuts.
        assert_eq!(io.emit_serialized("io", &(1,)).unwrap(), 1);
        assert_eq!(next_text(&mut ws).await, r#"42["io",1]"#);
        assert_eq!(io.of("/").emit_serialized("ns", &[true]).unwrap(), 1);
        assert_eq!(next_text(&mut ws).await, r#"42["ns",true]"#);
        assert!(io.emit_serialized("io", "not a list").is_err());
        send(&mut ws, "40/typed-1,").await;
        assert!(next_text(&mut ws).await.starts_with("40/typed-1,{"));
        assert_eq!(parent.emit_serialized("parent", &("p",)).unwrap(), 1);
        assert_eq!(next_text(&mut ws).await, r#"42/typed-1,["parent","p"]"#);
    })
    .await
    .expect("timed out");
}

#[tokio::test]
async fn listeners_of_one_event_share_its_acknowledgement() {
    let io = SocketIo::new(Default::default());
    io.on_connection(|socket: Socket| {
        socket.on("twice", |ack: AckSender| {
            let _ = ack.send(vec!["first".into()]);
        });
        socket.on("twice", |ack: AckSender| {
            let _ = ack.send(vec!["second".into()]);
        });
        // A listener whose arguments do not fit, after one that answered:
        // the refusal does not answer a second time.
        socket.on("typed", |ack: AckSender| {
            let _ = ack.send(vec!["ok".into()]);
        });
        socket.on("typed", |_: Data<u8>, _: AckSender| {});
        socket.on("ping", |s: Socket| {
            let _ = s.emit("pong", vec![]);
        });
    });
    let addr = serve(io).await;
    within(async {
        let (mut ws, _) = join(addr, "").await;
        send(&mut ws, r#"421["twice"]"#).await;
        assert_eq!(next_text(&mut ws).await, r#"431["first"]"#);
        send(&mut ws, r#"422["typed","not a byte"]"#).await;
        assert_eq!(next_text(&mut ws).await, r#"432["ok"]"#);
        send(&mut ws, r#"42["ping"]"#).await;
        assert_eq!(next_text(&mut ws).await, r#"42["pong"]"#);
    })
    .await
    .expect("timed out");
}
