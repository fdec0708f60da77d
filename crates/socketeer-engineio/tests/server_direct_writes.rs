//! Direct writes (`EngineIoConfig::direct_writes`): frames a session's
//! handler queues for idle WebSocket sessions are written by the sending
//! task, not by each recipient's task. Over real sockets: every recipient
//! gets every frame, whole and in order, mixed with frames that go the
//! usual way (plain sends, compressed frames), when the socket cannot
//! take a write whole, and with the option off.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use socketeer_engineio::server::{
    batch_writes, per_message_deflate, CloseReason, EngineHandler, EngineIo, EngineIoConfig, Socket,
};
use socketeer_engineio::{Limits, Packet, Payload, PreparedFrame};
use socketeer_ws::{ClientConfig, ConnectOptions, DeflateConfig, Message, WebSocketStream};
use tokio::net::TcpListener;

type Client = WebSocketStream<socketeer_ws::MaybeTlsStream>;

/// On `"<count>:<size>:<every>"` from any session, broadcasts `count`
/// messages (`"<i>:"` padded with `x` to `size` bytes) to every session,
/// each frame prepared once; with `every` > 0, every `every`th one is also
/// sent to each session as a plain (unprepared) message `"plain <i>"`,
/// right behind it.
#[derive(Default)]
struct Broadcaster {
    sessions: Mutex<Vec<Socket>>,
}

fn plain_after(i: usize, every: usize) -> bool {
    every > 0 && i % every == every - 1
}

fn body(i: usize, size: usize) -> String {
    let mut s = format!("{i}:");
    while s.len() < size {
        s.push('x');
    }
    s
}

impl EngineHandler for Broadcaster {
    fn on_connect(&self, socket: &Socket) {
        self.sessions.lock().unwrap().push(socket.clone());
    }

    fn on_message(&self, _: &Socket, message: Payload) {
        let Payload::Text(t) = message else { return };
        let [count, size, every]: [usize; 3] = t
            .as_str()
            .split(':')
            .map(|n| n.parse().unwrap())
            .collect::<Vec<_>>()
            .try_into()
            .unwrap();
        let sessions = self.sessions.lock().unwrap().clone();
        for i in 0..count {
            let packet = Packet::Message(Payload::Text(body(i, size).into())).encode();
            let frame = PreparedFrame::from_payload(packet);
            for s in &sessions {
                let _ = s.send_prepared(frame.clone());
                if plain_after(i, every) {
                    let _ = s.send_text(format!("plain {i}"));
                }
            }
        }
    }

    fn on_disconnect(&self, socket: &Socket, _: CloseReason) {
        self.sessions
            .lock()
            .unwrap()
            .retain(|s| s.id() != socket.id());
    }
}

async fn server(config: EngineIoConfig) -> (EngineIo, std::net::SocketAddr) {
    let (engine, addr, _) = server_with(config).await;
    (engine, addr)
}

async fn server_with(config: EngineIoConfig) -> (EngineIo, std::net::SocketAddr, Arc<Broadcaster>) {
    let handler = Arc::new(Broadcaster::default());
    let engine = EngineIo::new(config, handler.clone());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(engine.clone().serve(listener));
    (engine, addr, handler)
}

/// A calm heartbeat: no ping during a test.
fn config() -> EngineIoConfig {
    EngineIoConfig {
        ping_interval: Duration::from_secs(30),
        ping_timeout: Duration::from_secs(30),
        ..Default::default()
    }
}

async fn connect(addr: std::net::SocketAddr, deflate: Option<DeflateConfig>) -> Client {
    let url = format!("ws://{addr}/engine.io/?EIO=4&transport=websocket");
    let options = ConnectOptions {
        handshake: ClientConfig {
            deflate,
            ..Default::default()
        },
        ..Default::default()
    };
    let (mut ws, _) = socketeer_ws::connect_with_options(&url, &options)
        .await
        .unwrap();
    // The OPEN packet.
    assert!(matches!(next(&mut ws).await, Packet::Open(_)));
    ws
}

async fn next(ws: &mut Client) -> Packet {
    let limits = Limits {
        max_payload: usize::MAX,
        max_packets: usize::MAX,
    };
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(20), ws.recv())
            .await
            .expect("a message within 20 s")
            .expect("the connection open")
            .expect("a valid frame");
        let payload = match msg {
            Message::Text(t) => Payload::Text(t),
            Message::Binary(b) => Payload::Binary(b),
            _ => continue,
        };
        return Packet::decode(payload, &limits).expect("an Engine.IO packet");
    }
}

/// What a recipient must read after `"<count>:<size>:<every>"`.
async fn expect_all(ws: &mut Client, count: usize, size: usize, every: usize) {
    for i in 0..count {
        let want = Packet::Message(Payload::Text(body(i, size).into()));
        assert_eq!(next(ws).await, want, "broadcast {i}");
        if plain_after(i, every) {
            let plain = Packet::Message(Payload::Text(format!("plain {i}").into()));
            assert_eq!(next(ws).await, plain, "plain {i}");
        }
    }
}

async fn sessions(engine: &EngineIo, n: usize) {
    tokio::time::timeout(Duration::from_secs(10), async {
        while engine.stats().sessions < n {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("every session open");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broadcasts_reach_idle_sessions_whole_and_in_order() {
    let (engine, addr) = server(config()).await;
    let mut clients = Vec::new();
    for _ in 0..20 {
        clients.push(connect(addr, None).await);
    }
    sessions(&engine, 20).await;
    // Let every session's task go to sleep (park) before the broadcasts.
    tokio::time::sleep(Duration::from_millis(50)).await;
    // Several rounds, each from another sender, of small frames.
    for round in 0..3 {
        clients[round]
            .send(Message::text("440:64:5"))
            .await
            .unwrap();
        for ws in &mut clients {
            expect_all(ws, 40, 64, 5).await;
        }
    }
    let direct = engine.stats().direct_writes;
    assert!(
        direct >= 19,
        "the idle sessions were written to directly: {direct} direct writes"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_the_socket_does_not_take_leaves_through_the_session() {
    // Room for the 12 MiB below in the queue.
    let mut config = config();
    config.max_queued_bytes = 64 << 20;
    let (engine, addr) = server(config).await;
    let mut sender = connect(addr, None).await;
    let mut slow = connect(addr, None).await;
    sessions(&engine, 2).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    // 48 frames of 256 KiB (in one writev) for a reader that waits: more
    // than the socket buffers take, so the direct write is cut short,
    // inside a frame; the rest of it, then the frames behind it, go
    // through the session's task.
    sender.send(Message::text("448:262144:0")).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    expect_all(&mut slow, 48, 262_144, 0).await;
    expect_all(&mut sender, 48, 262_144, 0).await;
    // The session is still in step: the next broadcast arrives too.
    tokio::time::sleep(Duration::from_millis(50)).await;
    sender.send(Message::text("43:64:5")).await.unwrap();
    expect_all(&mut slow, 3, 64, 5).await;
    expect_all(&mut sender, 3, 64, 5).await;
    assert!(engine.stats().direct_writes >= 1);
    assert_eq!(engine.stats().queue_overflows, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compressed_and_uncompressed_frames_keep_their_order() {
    let mut config = config();
    config.websocket.deflate = Some(per_message_deflate());
    let (engine, addr) = server(config).await;
    let mut clients = Vec::new();
    for _ in 0..4 {
        clients.push(connect(addr, Some(DeflateConfig::default())).await);
    }
    sessions(&engine, 4).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    // Below the 1,024-byte threshold: written directly, uncompressed.
    clients[0].send(Message::text("410:100:5")).await.unwrap();
    for ws in &mut clients {
        expect_all(ws, 10, 100, 5).await;
    }
    assert!(engine.stats().direct_writes >= 3);
    // Above it: compressed by each session's WebSocket, in order with the
    // small ones.
    tokio::time::sleep(Duration::from_millis(50)).await;
    clients[1].send(Message::text("410:5000:5")).await.unwrap();
    clients[1].send(Message::text("410:10:5")).await.unwrap();
    for ws in &mut clients {
        expect_all(ws, 10, 5000, 5).await;
        expect_all(ws, 10, 10, 5).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_direct_writes_off_every_session_writes_its_own() {
    let mut config = config();
    config.direct_writes = false;
    let (engine, addr) = server(config).await;
    let mut clients = Vec::new();
    for _ in 0..5 {
        clients.push(connect(addr, None).await);
    }
    sessions(&engine, 5).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    clients[0].send(Message::text("420:64:5")).await.unwrap();
    for ws in &mut clients {
        expect_all(ws, 20, 64, 5).await;
    }
    assert_eq!(engine.stats().direct_writes, 0);
}

/// A task of the application that broadcasts: its sends wake the
/// sessions, unless it runs under `batch_writes`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_application_task_writes_directly_under_batch_writes() {
    let (engine, addr, handler) = server_with(config()).await;
    let mut clients = Vec::new();
    for _ in 0..5 {
        clients.push(connect(addr, None).await);
    }
    sessions(&engine, 5).await;
    let broadcast = |handler: Arc<Broadcaster>| async move {
        let sessions = handler.sessions.lock().unwrap().clone();
        for i in 0..10 {
            let packet = Packet::Message(Payload::Text(body(i, 64).into())).encode();
            let frame = PreparedFrame::from_payload(packet);
            for s in &sessions {
                s.send_prepared(frame.clone()).unwrap();
            }
        }
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    tokio::spawn(broadcast(handler.clone())).await.unwrap();
    for ws in &mut clients {
        expect_all(ws, 10, 64, 0).await;
    }
    assert_eq!(engine.stats().direct_writes, 0);
    tokio::time::sleep(Duration::from_millis(50)).await;
    tokio::spawn(batch_writes(broadcast(handler)))
        .await
        .unwrap();
    for ws in &mut clients {
        expect_all(ws, 10, 64, 0).await;
    }
    // One write per session for the 10 frames.
    assert_eq!(engine.stats().direct_writes, 5);
}

/// A fan-out past one chunk of sessions (1,024): the first chunk is
/// written at the end of the sender's poll, the rest by a task that lets
/// other tasks run between chunks; a second broadcast, queued once the
/// first is (while its chunks may still wait), reaches every session after
/// the first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fan_out_past_one_chunk_arrives_whole_and_in_order() {
    const N: usize = 1_500;
    let (engine, addr) = server(config()).await;
    let mut clients = Vec::new();
    for _ in 0..N {
        clients.push(connect(addr, None).await);
    }
    sessions(&engine, N).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    clients[0].send(Message::text("43:64:0")).await.unwrap();
    // The sender's own frames leave once its handler has queued the whole
    // broadcast: only then does the second one start. (Two senders'
    // handlers run side by side on two workers, and their frames would
    // interleave: the order kept is each sender's.) The chunks past the
    // first may still be waiting to be written.
    expect_all(&mut clients[0], 3, 64, 0).await;
    clients[1].send(Message::text("42:64:0")).await.unwrap();
    expect_all(&mut clients[0], 2, 64, 0).await;
    for ws in &mut clients[1..] {
        expect_all(ws, 3, 64, 0).await;
        expect_all(ws, 2, 64, 0).await;
    }
    let direct = engine.stats().direct_writes;
    assert!(
        direct > 1_024,
        "more than one chunk of sessions written directly: {direct}"
    );
}
