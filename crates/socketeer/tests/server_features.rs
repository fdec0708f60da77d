//! Per-packet middleware and dynamic namespaces, over a raw WebSocket.

mod common;

use std::time::Duration;

use common::next_text;
use socketeer::server::{Args, Socket};
use socketeer::server::{MiddlewareError, SocketIo};
use socketeer::Value;
use socketeer_ws::{connect, Message};

#[tokio::test]
async fn packet_middleware_and_dynamic_namespaces() {
    let io = SocketIo::new(Default::default());
    io.of("/").on_connection(|socket: Socket| {
        socket.use_packet_middleware(|_, event, args| {
            if event == "forbidden" {
                return Err(MiddlewareError("not allowed".into()));
            }
            for a in args.iter_mut() {
                if let Value::String(s) = a {
                    *s = s.to_uppercase();
                }
            }
            Ok(())
        });
        socket.on_error(|s, e| {
            let _ = s.emit("error-seen", vec![Value::from(e.to_string())]);
        });
        socket.on("shout", |s: Socket, Args(args): Args| {
            let _ = s.emit("shout", args);
        });
        socket.on("forbidden", |s: Socket| {
            let _ = s.emit("should-not-happen", vec![]);
        });
    });
    io.of_dynamic(
        |name, _| name.starts_with("/room-"),
        |ns| {
            let name = ns.name().to_owned();
            ns.on_connection(move |socket: Socket| {
                let _ = socket.emit("welcome", vec![Value::from(name.as_str())]);
            });
        },
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(io.serve(listener));

    tokio::time::timeout(Duration::from_secs(20), async {
        let url = format!("ws://{addr}/socket.io/?EIO=4&transport=websocket");
        let (mut ws, _) = connect(&url).await.unwrap();
        assert!(next_text(&mut ws).await.starts_with("0{"));
        ws.send(Message::text("40")).await.unwrap();
        assert!(next_text(&mut ws).await.starts_with("40{\"sid\""));
        ws.send(Message::text(r#"42["forbidden"]"#)).await.unwrap();
        assert_eq!(
            next_text(&mut ws).await,
            r#"42["error-seen","not allowed"]"#
        );
        ws.send(Message::text(r#"42["shout","hi",1]"#))
            .await
            .unwrap();
        assert_eq!(next_text(&mut ws).await, r#"42["shout","HI",1]"#);
        // A namespace made on demand by the dynamic matcher.
        ws.send(Message::text("40/room-7,")).await.unwrap();
        assert!(next_text(&mut ws).await.starts_with("40/room-7,{\"sid\""));
        assert_eq!(
            next_text(&mut ws).await,
            r#"42/room-7,["welcome","/room-7"]"#
        );
        // One it does not match is refused.
        ws.send(Message::text("40/other,")).await.unwrap();
        assert_eq!(
            next_text(&mut ws).await,
            r#"44/other,{"message":"Invalid namespace"}"#
        );
    })
    .await
    .unwrap();
}
