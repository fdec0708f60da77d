//! Principle 6 of the design: no task or timer outlives its connection.
//! Connections that joined a namespace, and some that never did, end; the
//! runtime's live task count comes back to where it was (the connect
//! timeout, 45 s by default, must not keep a task and its session alive).

mod common;

use std::time::Duration;

use common::next_text;
use socketeer::server::SocketIo;
use socketeer::server::{Args, Socket};
use socketeer_ws::{connect, Message};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_task_outlives_its_connection() {
    let io = SocketIo::new(Default::default());
    io.of("/").on_connection(|socket: Socket| {
        socket.on("echo", |s: Socket, Args(args): Args| {
            let _ = s.emit("echo", args);
        });
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(io.clone().serve(listener));
    let metrics = tokio::runtime::Handle::current().metrics();
    let tasks_before = metrics.num_alive_tasks();

    tokio::time::timeout(Duration::from_secs(20), async {
        let url = format!("ws://{addr}/socket.io/?EIO=4&transport=websocket");
        for i in 0..20 {
            let (mut ws, _) = connect(&url).await.unwrap();
            assert!(next_text(&mut ws).await.starts_with("0{"));
            if i % 2 == 0 {
                // Joins "/" and talks; the others leave before joining.
                ws.send(Message::text("40")).await.unwrap();
                assert!(next_text(&mut ws).await.starts_with("40{"));
                ws.send(Message::text(r#"42["echo",1]"#)).await.unwrap();
                assert_eq!(next_text(&mut ws).await, r#"42["echo",1]"#);
            }
            ws.close(None).await.unwrap();
        }
        while io.engine().session_count() > 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        // Tasks end a moment after their session is unregistered.
        let mut left = metrics.num_alive_tasks();
        for _ in 0..200 {
            if left <= tasks_before {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
            left = metrics.num_alive_tasks();
        }
        assert!(
            left <= tasks_before,
            "{left} tasks alive after every connection ended, {tasks_before} before"
        );
    })
    .await
    .unwrap();
}
