//! The connection core alone: no sockets, no clock, no tasks. Time is
//! passed in; the client's bytes come through the WebSocket and Engine.IO
//! cores, cut at random places.

use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use socketeer_engineio::{Limits, Packet as EioPacket, Payload};
use socketeer_ws::{Protocol, Role};

use super::core::{ConnectionCore, ConnectionError, Incoming, NamespaceSocket};
use crate::packet::DecoderConfig;
use crate::Value;

/// A joined namespace's socket, as the driver's handle stands for it.
#[derive(Debug, Clone)]
struct FakeSocket {
    nsp: &'static str,
    connected: Rc<Cell<bool>>,
}

impl FakeSocket {
    fn new(nsp: &'static str) -> Self {
        FakeSocket {
            nsp,
            connected: Rc::new(Cell::new(true)),
        }
    }
}

impl NamespaceSocket for FakeSocket {
    fn is_connected(&self) -> bool {
        self.connected.get()
    }
}

const TIMEOUT: Duration = Duration::from_secs(45);

fn core(now: Instant) -> ConnectionCore<FakeSocket> {
    ConnectionCore::new(
        now,
        TIMEOUT,
        DecoderConfig {
            max_attachments: 10,
        },
    )
}

fn text(s: &str) -> Payload {
    Payload::Text(s.to_owned().into())
}

/// What the core queued for the client, as text.
fn sent(core: &mut ConnectionCore<FakeSocket>) -> Vec<(String, bool)> {
    std::iter::from_fn(|| core.poll_transmit())
        .map(|t| match t.frame {
            Payload::Text(s) => (s.to_string(), t.flush),
            Payload::Binary(b) => (format!("<{} bytes>", b.len()), t.flush),
        })
        .collect()
}

/// Connects to `nsp` and accepts it as `socket`.
fn join(core: &mut ConnectionCore<FakeSocket>, nsp: &'static str) -> FakeSocket {
    let packet = if nsp == "/" {
        "0".to_owned()
    } else {
        format!("0{nsp},")
    };
    match core.handle_message(text(&packet)) {
        Ok(Some(Incoming::Connect { nsp: n, .. })) => assert_eq!(&*n, nsp),
        other => panic!("expected a CONNECT, got {other:?}"),
    }
    let socket = FakeSocket::new(nsp);
    let reply = Value::from_serialize(&serde_json::json!({"sid": "abc"})).expect("json");
    assert!(core.accept(nsp, socket.clone(), reply).expect("encodes"));
    socket
}

#[test]
fn connect_then_event_then_ack() {
    let t0 = Instant::now();
    let mut c = core(t0);
    match c.handle_message(text(r#"0{"token":"x"}"#)) {
        Ok(Some(Incoming::Connect { nsp, auth })) => {
            assert_eq!(&*nsp, "/");
            assert_eq!(auth.get("token").and_then(Value::as_str), Some("x"));
        }
        other => panic!("{other:?}"),
    }
    let reply = Value::from_serialize(&serde_json::json!({"sid": "s1"})).expect("json");
    assert!(c.accept("/", FakeSocket::new("/"), reply).expect("encodes"));
    assert_eq!(sent(&mut c), [(r#"40{"sid":"s1"}"#.to_owned(), true)]);
    assert_eq!(c.poll_timeout(), None, "joined: no connect deadline");

    match c.handle_message(text(r#"212["hello",1,{"a":true}]"#)) {
        Ok(Some(Incoming::Event {
            socket,
            name,
            args,
            ack,
        })) => {
            assert_eq!(socket.nsp, "/");
            assert_eq!(name, "hello");
            assert_eq!(args.len(), 2);
            assert_eq!(ack, Some(12));
        }
        other => panic!("{other:?}"),
    }
    match c.handle_message(text(r#"37["ok"]"#)) {
        Ok(Some(Incoming::Ack { id, args, .. })) => {
            assert_eq!(id, 7);
            assert_eq!(args, [Value::from("ok")]);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn refused_namespace_gets_connect_error_and_the_connection_stays() {
    let t0 = Instant::now();
    let mut c = core(t0);
    assert!(matches!(
        c.handle_message(text("0/private,")),
        Ok(Some(Incoming::Connect { .. }))
    ));
    let err = Value::from_serialize(&serde_json::json!({"message": "unauthorized"})).expect("json");
    c.refuse("/private", err).expect("encodes");
    assert_eq!(
        sent(&mut c),
        [(r#"44/private,{"message":"unauthorized"}"#.to_owned(), false)]
    );
    // Refused: an event there is a protocol error, a new CONNECT is fine.
    assert!(matches!(
        c.handle_message(text(r#"2/private,["x"]"#)),
        Err(ConnectionError::NotConnected(_))
    ));
    let mut c = core(t0);
    c.handle_message(text("0/private,")).expect("connect");
    c.refuse("/private", Value::from("no")).expect("encodes");
    assert!(matches!(
        c.handle_message(text("0/private,")),
        Ok(Some(Incoming::Connect { .. }))
    ));
    // The refusal does not count as joining: the deadline stays.
    assert_eq!(c.poll_timeout(), Some(t0 + TIMEOUT));
}

#[test]
fn connect_timeout_with_time_passed_in() {
    let t0 = Instant::now();
    let mut c = core(t0);
    assert_eq!(c.poll_timeout(), Some(t0 + TIMEOUT));
    assert!(!c.handle_timeout(t0 + TIMEOUT - Duration::from_millis(1)));
    assert!(
        c.handle_timeout(t0 + TIMEOUT),
        "no namespace joined in time"
    );
    assert_eq!(c.poll_timeout(), None, "fires once");

    // Joining in time removes the deadline, even if the namespace is left.
    let mut c = core(t0);
    let _s = join(&mut c, "/");
    assert!(matches!(
        c.handle_message(text("1")),
        Ok(Some(Incoming::Leave { .. }))
    ));
    assert_eq!(c.poll_timeout(), None);
    assert!(!c.handle_timeout(t0 + TIMEOUT * 2));
}

#[test]
fn malformed_and_out_of_state_packets_are_errors() {
    let t0 = Instant::now();
    type Check = fn(&ConnectionError) -> bool;
    let cases: &[(&str, Check)] = &[
        ("9", |e| matches!(e, ConnectionError::Decode(_))),
        ("2[", |e| matches!(e, ConnectionError::Decode(_))),
        (r#"2["a"]"#, |e| {
            matches!(e, ConnectionError::NotConnected(_))
        }),
        (r#"3["a"]"#, |e| {
            matches!(e, ConnectionError::NotConnected(_))
        }),
        ("1", |e| matches!(e, ConnectionError::NotConnected(_))),
        (r#"4{"message":"x"}"#, |e| {
            matches!(e, ConnectionError::UnexpectedConnectError)
        }),
    ];
    for (input, expected) in cases {
        let mut c = core(t0);
        match c.handle_message(text(input)) {
            Err(e) => assert!(expected(&e), "{input}: {e}"),
            Ok(other) => panic!("{input}: accepted as {other:?}"),
        }
    }
    // Joined: a second CONNECT, and an ACK without id.
    let mut c = core(t0);
    join(&mut c, "/");
    assert!(matches!(
        c.handle_message(text("0")),
        Err(ConnectionError::AlreadyConnected(_))
    ));
    assert!(matches!(
        c.handle_message(text(r#"3["a"]"#)),
        Err(ConnectionError::AckWithoutId)
    ));
    // A CONNECT still pending counts as joined for a second CONNECT.
    let mut c = core(t0);
    c.handle_message(text("0/a,")).expect("connect");
    assert!(matches!(
        c.handle_message(text("0/a,")),
        Err(ConnectionError::AlreadyConnected(_))
    ));
    // Attachments over the limit.
    let mut c = core(t0);
    join(&mut c, "/");
    let mut c2 =
        ConnectionCore::<FakeSocket>::new(t0, TIMEOUT, DecoderConfig { max_attachments: 1 });
    join(&mut c2, "/");
    let two = r#"52-["a",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#;
    assert!(matches!(
        c2.handle_message(text(two)),
        Err(ConnectionError::Decode(_))
    ));
    assert!(c.handle_message(text(two)).expect("fine").is_none());
}

#[test]
fn binary_event_waits_for_its_attachments() {
    let t0 = Instant::now();
    let mut c = core(t0);
    join(&mut c, "/");
    let head = r#"51-7["file",{"_placeholder":true,"num":0}]"#;
    assert!(c.handle_message(text(head)).expect("ok").is_none());
    match c.handle_message(Payload::Binary(Bytes::from_static(&[1, 2, 3]))) {
        Ok(Some(Incoming::Event {
            name, args, ack, ..
        })) => {
            assert_eq!(name, "file");
            assert_eq!(args, [Value::Binary(Bytes::from_static(&[1, 2, 3]))]);
            assert_eq!(ack, Some(7));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_socket_disconnected_by_the_server_is_forgotten() {
    let t0 = Instant::now();
    let mut c = core(t0);
    let main = join(&mut c, "/");
    let chat = join(&mut c, "/chat");
    assert_eq!(c.joined_count(), 2);
    // The server disconnects /chat from some other task.
    chat.connected.set(false);
    assert!(matches!(
        c.handle_message(text(r#"2/chat,["x"]"#)),
        Err(ConnectionError::NotConnected(_))
    ));
    assert_eq!(c.joined_count(), 1);
    // ... and the client may join it again.
    let _again = join(&mut c, "/chat");
    let closed = c.handle_close();
    assert_eq!(closed.len(), 2);
    assert!(closed
        .iter()
        .any(|s| Rc::ptr_eq(&s.connected, &main.connected)));
    // Closed: nothing more comes out.
    assert!(c
        .handle_message(text(r#"2["x"]"#))
        .expect("ignored")
        .is_none());
    assert_eq!(c.poll_timeout(), None);
}

/// A tiny deterministic generator (xorshift), so a failure can be re-run.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

/// A client's WebSocket frames, masked as a client sends them.
fn client_wire(messages: &[socketeer_ws::Message]) -> Vec<u8> {
    let mut client = Protocol::new(Role::Client);
    for m in messages {
        client.send(m.clone()).expect("sendable");
    }
    client.take_output().to_vec()
}

#[test]
fn the_whole_stack_fed_bytes_in_random_splits() {
    // connect; an event with an ack id; a binary event (text + attachment);
    // an ack; leaving.
    let ws = |s: &str| socketeer_ws::Message::Text(format!("4{s}").into());
    let bin = |b: &'static [u8]| socketeer_ws::Message::Binary(Bytes::from_static(b));
    let wire = client_wire(&[
        ws("0/chat,"),
        ws(r#"2/chat,5["msg","hi"]"#),
        ws(r#"51-/chat,["file",{"_placeholder":true,"num":0}]"#),
        bin(&[9, 8, 7]),
        ws(r#"3/chat,2["back"]"#),
        ws("1/chat,"),
    ]);
    let limits = Limits::default();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for round in 0..200 {
        let t0 = Instant::now();
        let mut server = Protocol::new(Role::Server);
        let mut c = core(t0);
        let mut seen = Vec::new();
        let mut input = bytes::BytesMut::new();
        let mut rest = &wire[..];
        while !rest.is_empty() {
            let n = 1 + rng.below(rest.len().min(16));
            let (piece, tail) = rest.split_at(n);
            rest = tail;
            input.extend_from_slice(piece);
            while let Some(msg) = server.receive(&mut input).expect("valid frames") {
                let frame = match msg {
                    socketeer_ws::Message::Text(t) => Payload::Text(t),
                    socketeer_ws::Message::Binary(b) => Payload::Binary(b),
                    _ => continue,
                };
                let EioPacket::Message(m) = EioPacket::decode(frame, &limits).expect("eio") else {
                    panic!("round {round}: not a message packet");
                };
                match c.handle_message(m).expect("valid packets") {
                    None => {}
                    Some(Incoming::Connect { nsp, .. }) => {
                        seen.push(format!("connect {nsp}"));
                        let reply =
                            Value::from_serialize(&serde_json::json!({"sid": "x"})).expect("json");
                        c.accept(&nsp, FakeSocket::new("/chat"), reply)
                            .expect("encodes");
                    }
                    Some(Incoming::Event {
                        name, args, ack, ..
                    }) => seen.push(format!("event {name} {} {ack:?}", args.len())),
                    Some(Incoming::Ack { id, .. }) => seen.push(format!("ack {id}")),
                    Some(Incoming::Leave { socket }) => seen.push(format!("leave {}", socket.nsp)),
                }
            }
        }
        assert_eq!(
            seen,
            [
                "connect /chat",
                "event msg 1 Some(5)",
                "event file 1 None",
                "ack 2",
                "leave /chat"
            ],
            "round {round}"
        );
    }
}
