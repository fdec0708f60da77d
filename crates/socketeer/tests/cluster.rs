//! Two servers acting as one through a multi-server adapter: the test's
//! adapter links two in-process `SocketIo`s, as a Redis adapter links
//! processes. Broadcasts, room operations, `fetch_sockets`, remote
//! disconnects and server-side emits cross over; `local` ones do not.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::next_text;
use socketeer::server::{AckSender, Args, Socket};
use socketeer::server::{
    Adapter, AdapterFactory, BroadcastOptions, ClusterOp, InMemoryAdapter, NamespaceHandle,
    RemoteAck, RemoteAcks, RemoteSockets, Room, ServerCount, ServerSideAck, ServerSideAcks,
    ServerSideAcksFuture, SocketId, SocketInfo, SocketIo, SocketIoConfig,
};
use socketeer::Value;
use socketeer_ws::{connect, MaybeTlsStream, Message, WebSocketStream};

/// The namespaces of every server, by server index.
type Registry = Arc<Mutex<Vec<(usize, NamespaceHandle)>>>;

/// Rooms in memory; operations forwarded to the other servers' handles.
struct LoopbackAdapter {
    server: usize,
    name: String,
    local: InMemoryAdapter,
    registry: Registry,
}

impl LoopbackAdapter {
    fn others(&self) -> Vec<NamespaceHandle> {
        self.registry
            .lock()
            .unwrap()
            .iter()
            .filter(|(server, h)| *server != self.server && h.name() == self.name)
            .map(|(_, h)| h.clone())
            .collect()
    }
}

impl Adapter for LoopbackAdapter {
    fn add_all(&self, id: &SocketId, rooms: &[Room]) {
        self.local.add_all(id, rooms)
    }
    fn del(&self, id: &SocketId, room: &str) {
        self.local.del(id, room)
    }
    fn del_all(&self, id: &SocketId) {
        self.local.del_all(id)
    }
    fn for_each_target(&self, opts: &BroadcastOptions, each: &mut dyn FnMut(&SocketId)) {
        self.local.for_each_target(opts, each)
    }
    fn socket_rooms(&self, id: &SocketId) -> Vec<Room> {
        self.local.socket_rooms(id)
    }
    fn rooms(&self) -> Vec<Room> {
        self.local.rooms()
    }
    fn is_clustered(&self) -> bool {
        true
    }
    fn publish(&self, op: ClusterOp) {
        // A real adapter sends this over the network; here it is applied
        // on the other servers' tasks.
        for other in self.others() {
            let op = op.clone();
            tokio::spawn(async move { other.apply(op) });
        }
    }
    fn fetch_remote_sockets(&self, opts: &BroadcastOptions) -> RemoteSockets {
        let found: Vec<SocketInfo> = self
            .others()
            .iter()
            .flat_map(|h| h.local_sockets(opts))
            .map(|s| SocketInfo { local: false, ..s })
            .collect();
        Box::pin(std::future::ready(found))
    }
    fn server_count(&self) -> ServerCount {
        Box::pin(std::future::ready(self.others().len() + 1))
    }
    fn broadcast_with_ack(
        &self,
        opts: &BroadcastOptions,
        event: &str,
        args: &[Value],
        timeout: Duration,
    ) -> RemoteAcks {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        for other in self.others() {
            let (opts, event, args) = (opts.clone(), event.to_owned(), args.to_vec());
            let (count_tx, ack_tx) = (tx.clone(), tx.clone());
            tokio::spawn(async move {
                other.broadcast_with_ack(
                    opts,
                    event,
                    args,
                    timeout,
                    Box::new(move |n| {
                        let _ = count_tx.send(RemoteAck::ClientCount(n));
                    }),
                    Arc::new(move |v| {
                        let _ = ack_tx.send(RemoteAck::Ack(v));
                    }),
                )
            });
        }
        rx
    }
    fn server_side_emit_with_ack(&self, event: String, args: Vec<Value>) -> ServerSideAcksFuture {
        let others = self.others();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        for other in &others {
            let tx = tx.clone();
            let ack = ServerSideAck::new(move |v| {
                let _ = tx.send(v);
            });
            other.server_side_emit_with_ack(event.clone(), args.clone(), ack);
        }
        Box::pin(async move {
            let mut acks = ServerSideAcks::default();
            while acks.responses.len() < others.len() {
                match tokio::time::timeout(Duration::from_millis(500), rx.recv()).await {
                    Ok(Some(v)) => acks.responses.push(v),
                    _ => return acks,
                }
            }
            acks.complete = true;
            acks
        })
    }
}

fn server(index: usize, registry: &Registry) -> SocketIo {
    let registry = registry.clone();
    let io = SocketIo::new(SocketIoConfig {
        adapter: AdapterFactory::new(move |handle| {
            registry.lock().unwrap().push((index, handle.clone()));
            Box::new(LoopbackAdapter {
                server: index,
                name: handle.name().to_owned(),
                local: InMemoryAdapter::new(),
                registry: registry.clone(),
            })
        }),
        ..Default::default()
    });
    io.of("/").on_connection(|socket: Socket| {
        socket.on(
            "join",
            |s: Socket, Args(args): Args, ack: Option<AckSender>| {
                if let Some(room) = args.first().and_then(Value::as_str) {
                    s.join([room]);
                }
                if let Some(ack) = ack {
                    let _ = ack.send(vec![]);
                }
            },
        );
    });
    io
}

type Ws = WebSocketStream<MaybeTlsStream>;

async fn client(io: &SocketIo) -> Ws {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(io.clone().serve(listener));
    let url = format!("ws://{addr}/socket.io/?EIO=4&transport=websocket");
    let (mut ws, _) = connect(&url).await.unwrap();
    assert!(next_text(&mut ws).await.starts_with("0{"));
    ws.send(Message::text("40")).await.unwrap();
    assert!(next_text(&mut ws).await.starts_with("40{"));
    ws
}

async fn join(ws: &mut Ws, room: &str) {
    ws.send(Message::text(format!(r#"421["join","{room}"]"#)))
        .await
        .unwrap();
    assert_eq!(next_text(ws).await, "431[]");
}

/// Fails if a text frame arrives within a short while.
async fn assert_quiet(ws: &mut Ws) {
    if let Ok(t) = tokio::time::timeout(Duration::from_millis(200), next_text(ws)).await {
        panic!("unexpected {t:?}");
    }
}

fn ids(mut v: Vec<SocketInfo>) -> Vec<(bool, Vec<String>)> {
    v.sort_by_key(|s| std::cmp::Reverse(s.local));
    v.into_iter()
        .map(|s| {
            let mut rooms: Vec<String> = s
                .rooms
                .iter()
                .filter(|r| **r != s.id)
                .map(|r| r.to_string())
                .collect();
            rooms.sort();
            (s.local, rooms)
        })
        .collect()
}

#[tokio::test]
async fn two_servers_act_as_one() {
    let registry = Registry::default();
    let (a, b) = (server(0, &registry), server(1, &registry));
    tokio::time::timeout(Duration::from_secs(20), async {
        let mut on_a = client(&a).await;
        let mut on_b = client(&b).await;
        join(&mut on_a, "red").await;
        join(&mut on_b, "red").await;
        join(&mut on_b, "blue").await;

        // Broadcasts from either server reach both clients.
        a.of("/").emit("news", vec![Value::from(1)]).unwrap();
        assert_eq!(next_text(&mut on_a).await, r#"42["news",1]"#);
        assert_eq!(next_text(&mut on_b).await, r#"42["news",1]"#);
        b.of("/").to("blue").emit("blue", vec![]).unwrap();
        assert_eq!(next_text(&mut on_b).await, r#"42["blue"]"#);
        a.of("/")
            .to("red")
            .except("blue")
            .emit("red", vec![])
            .unwrap();
        assert_eq!(next_text(&mut on_a).await, r#"42["red"]"#);
        // A local broadcast stays on its server.
        a.of("/").broadcast().local().emit("local", vec![]).unwrap();
        assert_eq!(next_text(&mut on_a).await, r#"42["local"]"#);
        assert_quiet(&mut on_b).await;

        // fetch_sockets sees both servers' sockets.
        let found = a.of("/").fetch_sockets().await;
        assert_eq!(
            ids(found),
            vec![
                (true, vec!["red".into()]),
                (false, vec!["blue".into(), "red".into()])
            ]
        );
        let in_blue = a.of("/").to("blue").fetch_sockets().await;
        assert_eq!(in_blue.len(), 1);
        assert!(!in_blue[0].local);
        // An adapter without try_fetch_remote_sockets: try_fetch_sockets
        // gives fetch_sockets's answer.
        let tried = a.of("/").try_fetch_sockets().await.expect("no failure");
        assert_eq!(tried, a.of("/").fetch_sockets().await);

        // Room operations cross over: B's client joins "green" from A.
        a.of("/").to("blue").sockets_join(["green"]);
        tokio::time::sleep(Duration::from_millis(50)).await;
        let green = b.of("/").to("green").fetch_sockets().await;
        assert_eq!(green.len(), 1);
        assert!(green[0].local);

        // Server-side emits reach the other servers' handlers only.
        let got = Arc::new(Mutex::new(Vec::new()));
        for (name, io) in [("a", &a), ("b", &b)] {
            let got = got.clone();
            io.of("/").on_server_side_emit(move |event, args| {
                got.lock().unwrap().push((name, event.to_owned(), args));
            });
        }
        a.of("/")
            .server_side_emit("hello", vec![Value::from("from a")]);
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(
            *got.lock().unwrap(),
            vec![("b", "hello".to_owned(), vec![Value::from("from a")])]
        );

        // Server-side emits with an acknowledgement: one answer per other
        // server.
        b.of("/").on_server_side_emit_with_ack(|event, args, ack| {
            if let Some(ack) = ack {
                ack.send(Value::from(format!("b got {event} {}", args.len())));
            }
        });
        let answers = a.of("/").server_side_emit_with_ack("ask", vec![]).await;
        assert_eq!(
            answers,
            ServerSideAcks {
                responses: vec![Value::from("b got ask 0")],
                complete: true
            }
        );

        // A broadcast with acknowledgements reaches both servers' clients;
        // each answers with its first argument doubled.
        let asking = {
            let a = a.clone();
            tokio::spawn(async move {
                a.of("/")
                    .to("red")
                    .timeout(Duration::from_secs(5))
                    .emit_with_ack_everywhere("q", vec![Value::from(21)])
                    .await
            })
        };
        for ws in [&mut on_a, &mut on_b] {
            let frame = next_text(ws).await;
            let (id, rest) = frame
                .strip_prefix("42")
                .and_then(|f| f.split_once('['))
                .expect("an event with an ack id");
            assert_eq!(rest, r#""q",21]"#);
            ws.send(Message::text(format!("43{id}[42]"))).await.unwrap();
        }
        let acks = asking.await.unwrap().unwrap();
        assert!(acks.complete);
        assert_eq!(acks.responses, vec![Value::from(42), Value::from(42)]);

        // Disconnecting from A reaches B's client.
        a.of("/").to("blue").disconnect_sockets();
        assert_eq!(next_text(&mut on_b).await, "41");
        assert_quiet(&mut on_a).await;
    })
    .await
    .unwrap();
}
