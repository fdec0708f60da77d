//! Connection state recovery over a raw WebSocket: offsets on emits, the
//! session kept after a dropped transport, missed events replayed before
//! the CONNECT reply, rooms and id restored, middlewares skipped.

mod common;

use std::time::Duration;

use common::next_text;
use socketeer::server::{Args, Socket};
use socketeer::server::{ConnectError, ConnectionStateRecovery, SocketIo, SocketIoConfig};
use socketeer::Value;
use socketeer_ws::{connect, MaybeTlsStream, Message, WebSocketStream};

type Ws = WebSocketStream<MaybeTlsStream>;

fn server() -> SocketIo {
    let io = SocketIo::new(SocketIoConfig {
        connection_state_recovery: Some(ConnectionStateRecovery::default()),
        ..Default::default()
    });
    let main = io.of("/");
    main.use_middleware(|s| match s.handshake().auth.get("deny") {
        Some(_) => Err(ConnectError::new("denied")),
        None => {
            // socket.data: comes back with a recovered session.
            s.set_data(s.handshake().auth.get("user").cloned().unwrap_or_default());
            Ok(())
        }
    });
    main.on_connection(|socket: Socket| {
        let _ = socket.emit(
            "hello",
            vec![Value::Bool(socket.recovered()), socket.data_value()],
        );
        socket.on("join", |s: Socket, Args(args): Args| {
            if let Some(room) = args.first().and_then(Value::as_str) {
                s.join([room]);
            }
        });
        socket.on("ask", |s: Socket| {
            let request = s.emit_with_ack("question", vec![Value::from(1)]);
            tokio::spawn(async move {
                let _ = request.timeout(Duration::from_secs(5)).await;
            });
        });
        socket.on("volatile", |s: Socket| {
            s.emit_volatile("fleeting", vec![Value::from(2)]);
        });
    });
    io
}

async fn open(addr: std::net::SocketAddr) -> Ws {
    let url = format!("ws://{addr}/socket.io/?EIO=4&transport=websocket");
    let (mut ws, _) = connect(&url).await.unwrap();
    assert!(next_text(&mut ws).await.starts_with("0{"));
    ws
}

fn json(text: &str, prefix: &str) -> serde_json::Value {
    let body = text
        .strip_prefix(prefix)
        .unwrap_or_else(|| panic!("{text:?} does not start with {prefix:?}"));
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{text:?}: {e}"))
}

/// An event's name and first argument.
fn head(event: &serde_json::Value) -> (serde_json::Value, serde_json::Value) {
    (event[0].clone(), event[1].clone())
}

/// The offset (last argument) of an event.
fn offset(event: &serde_json::Value) -> String {
    let args = event.as_array().expect("event array");
    args.last()
        .and_then(|o| o.as_str())
        .expect("an offset")
        .to_owned()
}

async fn wait_until(mut done: impl FnMut() -> bool) {
    for _ in 0..200 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("condition not met within 2 s");
}

#[tokio::test]
async fn missed_events_rooms_and_id_come_back() {
    let io = server();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(io.clone().serve(listener));
    let main = io.of("/");

    tokio::time::timeout(Duration::from_secs(20), async {
        let mut ws = open(addr).await;
        ws.send(Message::text(r#"40{"user":"ada"}"#)).await.unwrap();
        let reply = json(&next_text(&mut ws).await, "40");
        let sid = reply["sid"].as_str().expect("sid").to_owned();
        let pid = reply["pid"]
            .as_str()
            .expect("pid with recovery on")
            .to_owned();
        let hello = json(&next_text(&mut ws).await, "42");
        assert_eq!(
            head(&hello),
            (serde_json::json!("hello"), serde_json::json!(false))
        );
        let last_seen = offset(&hello);

        // Emits with an ack and volatile ones carry no offset.
        ws.send(Message::text(r#"42["ask"]"#)).await.unwrap();
        assert_eq!(next_text(&mut ws).await, r#"420["question",1]"#);
        ws.send(Message::text(r#"42["volatile"]"#)).await.unwrap();
        assert_eq!(next_text(&mut ws).await, r#"42["fleeting",2]"#);

        ws.send(Message::text(r#"42["join","red"]"#)).await.unwrap();
        wait_until(|| main.to("red").sockets().len() == 1).await;
        // The transport drops without a goodbye.
        drop(ws);
        wait_until(|| main.socket_count() == 0).await;

        main.emit("news", vec![Value::from("to all")]).unwrap();
        main.to("red")
            .emit("news", vec![Value::from("to red")])
            .unwrap();
        main.to("blue")
            .emit("news", vec![Value::from("to blue")])
            .unwrap();
        main.except("red")
            .emit("news", vec![Value::from("not red")])
            .unwrap();

        // The middleware would refuse this auth: recovery skips it.
        let mut ws = open(addr).await;
        ws.send(Message::text(format!(
            r#"40{{"pid":"{pid}","offset":"{last_seen}","deny":true}}"#
        )))
        .await
        .unwrap();
        let first = json(&next_text(&mut ws).await, "42");
        assert_eq!(
            head(&first),
            (serde_json::json!("news"), serde_json::json!("to all"))
        );
        let second = json(&next_text(&mut ws).await, "42");
        assert_eq!(
            head(&second),
            (serde_json::json!("news"), serde_json::json!("to red"))
        );
        let reply = json(&next_text(&mut ws).await, "40");
        assert_eq!(reply["sid"], serde_json::json!(sid), "same socket id");
        assert_eq!(reply["pid"], serde_json::json!(pid), "same private id");
        let hello = json(&next_text(&mut ws).await, "42");
        assert_eq!(hello[1], serde_json::json!(true), "socket.recovered()");
        assert_eq!(
            hello[2],
            serde_json::json!("ada"),
            "socket.data restored (the middleware, which sets it, was skipped)"
        );
        // Back in its room.
        main.to("red")
            .emit("news", vec![Value::from("red again")])
            .unwrap();
        let again = json(&next_text(&mut ws).await, "42");
        assert_eq!(again[1], serde_json::json!("red again"));

        // A second attempt with the same pid finds nothing: a session is
        // restored once, and the middleware runs again.
        let mut other = open(addr).await;
        other
            .send(Message::text(format!(
                r#"40{{"pid":"{pid}","offset":"{last_seen}","deny":true}}"#
            )))
            .await
            .unwrap();
        assert_eq!(next_text(&mut other).await, r#"44{"message":"denied"}"#);
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn unknown_session_gets_a_new_one() {
    let io = server();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(io.serve(listener));
    tokio::time::timeout(Duration::from_secs(20), async {
        let mut ws = open(addr).await;
        ws.send(Message::text(r#"40{"pid":"nope","offset":"12"}"#))
            .await
            .unwrap();
        let reply = json(&next_text(&mut ws).await, "40");
        assert!(reply["sid"].is_string());
        assert!(reply["pid"].is_string());
        assert_ne!(reply["pid"], serde_json::json!("nope"));
        let hello = json(&next_text(&mut ws).await, "42");
        assert_eq!(hello[1], serde_json::json!(false));
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn client_namespace_disconnect_leaves_no_session() {
    let io = server();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(io.clone().serve(listener));
    tokio::time::timeout(Duration::from_secs(20), async {
        let mut ws = open(addr).await;
        ws.send(Message::text("40")).await.unwrap();
        let reply = json(&next_text(&mut ws).await, "40");
        let pid = reply["pid"].as_str().unwrap().to_owned();
        let last_seen = offset(&json(&next_text(&mut ws).await, "42"));
        // Leaving on purpose ("client namespace disconnect") is final.
        ws.send(Message::text("41")).await.unwrap();
        let main = io.of("/");
        wait_until(|| main.socket_count() == 0).await;
        ws.send(Message::text(format!(
            r#"40{{"pid":"{pid}","offset":"{last_seen}"}}"#
        )))
        .await
        .unwrap();
        let reply = json(&next_text(&mut ws).await, "40");
        assert_ne!(reply["pid"], serde_json::json!(pid));
        assert_eq!(
            json(&next_text(&mut ws).await, "42")[1],
            serde_json::json!(false)
        );
    })
    .await
    .unwrap();
}
