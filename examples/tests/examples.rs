//! Runs every example of this package: each server is started on a free
//! port (argument `0`; it prints the address it listens on) and spoken to
//! with socketeer's own clients, and the client example is run against a
//! server started here. 127.0.0.1 only; generous timeouts.
//!
//! The example binaries are those of this test's profile, which `cargo
//! test` builds before running the tests.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use socketeer::client::ClientBuilder;
use socketeer::server::SocketIo;
use socketeer::server::{AckSender, Args, Socket};
use socketeer::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Bound on every wait of a test.
const WAIT: Duration = Duration::from_secs(30);

/// `target/<profile>/examples/NAME`: this test binary is
/// `target/<profile>/deps/examples-<hash>`.
fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("cannot locate the test binary");
    let p = exe
        .parent()
        .and_then(Path::parent)
        .expect("test binary is not under target/<profile>/deps")
        .join("examples")
        .join(name);
    assert!(
        p.is_file(),
        "example {} not found: `cargo test -p socketeer-examples` builds it",
        p.display()
    );
    p
}

/// An example server, killed on drop.
struct Server {
    child: Child,
    /// `host:port` it listens on.
    addr: String,
}

impl Server {
    /// Starts example `name` on port 0 and reads the address from its first
    /// line, `listening on SCHEME://ADDR`.
    fn start(name: &str) -> Server {
        let mut child = Command::new(example(name))
            .arg("0")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start example {name}: {e}"));
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = rx
            .recv_timeout(WAIT)
            .unwrap_or_else(|_| panic!("example {name} printed no address"));
        let addr = line
            .trim()
            .rsplit("://")
            .next()
            .filter(|a| a.starts_with("127.0.0.1:"))
            .unwrap_or_else(|| panic!("example {name}: unexpected first line {line:?}"))
            .to_owned();
        Server { child, addr }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Two Rust clients against a server with the events of `server.rs`: each
/// gets `welcome`, joins `lobby` with an ack, and one's `chat` reaches the
/// other (and not itself).
async fn chat_round(url: String) {
    let (tx_a, mut rx_a) = tokio::sync::mpsc::unbounded_channel();
    let (tx_b, mut rx_b) = tokio::sync::mpsc::unbounded_channel();
    let a = ClientBuilder::new(url.clone())
        .on("welcome", {
            let tx = tx_a.clone();
            move |_s, args, _| {
                let _ = tx.send(("welcome", args));
            }
        })
        .on("chat", move |_s, args, _| {
            let _ = tx_a.send(("chat", args));
        })
        .connect()
        .await
        .expect("client a connects");
    let b = ClientBuilder::new(url)
        .on("welcome", {
            let tx = tx_b.clone();
            move |_s, args, _| {
                let _ = tx.send(("welcome", args));
            }
        })
        .on("chat", move |_s, args, _| {
            let _ = tx_b.send(("chat", args));
        })
        .connect()
        .await
        .expect("client b connects");

    for (socket, rx) in [(&a, &mut rx_a), (&b, &mut rx_b)] {
        let (event, args) = rx.recv().await.expect("welcome");
        assert_eq!(event, "welcome");
        assert_eq!(args, vec![Value::from(socket.id().expect("connected"))]);
        let answer = socket
            .emit_with_ack("join", vec![Value::from("lobby")])
            .timeout(WAIT)
            .await
            .expect("join acknowledged");
        assert_eq!(answer, vec![Value::from("joined")]);
    }

    a.emit("chat", vec![Value::from("lobby"), Value::from("hi from a")])
        .expect("emit");
    let (event, args) = rx_b.recv().await.expect("chat reaches b");
    assert_eq!((event, args), ("chat", vec![Value::from("hi from a")]));
    // The sender is not among the recipients: a round trip on b's side
    // comes back before anything else reaches a.
    b.emit("chat", vec![Value::from("lobby"), Value::from("hi from b")])
        .expect("emit");
    let (event, args) = rx_a.recv().await.expect("chat reaches a");
    assert_eq!((event, args), ("chat", vec![Value::from("hi from b")]));
    a.disconnect();
    b.disconnect();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_example() {
    let server = Server::start("server");
    let url = format!("http://{}", server.addr);
    tokio::time::timeout(WAIT, chat_round(url))
        .await
        .expect("the server example answered in time");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn axum_example() {
    let server = Server::start("axum");
    let addr = server.addr.clone();
    tokio::time::timeout(WAIT, async {
        // The ordinary route beside the layer.
        let mut tcp = tokio::net::TcpStream::connect(&addr).await.unwrap();
        tcp.write_all(b"GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut out = String::new();
        tcp.read_to_string(&mut out).await.unwrap();
        assert!(
            out.starts_with("HTTP/1.1 200") && out.ends_with("hello"),
            "{out}"
        );
        chat_round(format!("http://{addr}")).await;
    })
    .await
    .expect("the axum example answered in time");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_example() {
    // A server with the events the client example uses.
    let io = SocketIo::new(Default::default());
    let (chat_tx, mut chat_rx) = tokio::sync::mpsc::unbounded_channel();
    io.of("/").on_connection(move |socket: Socket| {
        let _ = socket.emit("welcome", vec![Value::from(socket.id())]);
        socket.on(
            "join",
            |socket: Socket, Args(args): Args, ack: Option<AckSender>| {
                if let Some(room) = args.first().and_then(Value::as_str) {
                    socket.join([room]);
                }
                if let Some(ack) = ack {
                    let _ = ack.send(vec![Value::from("joined")]);
                }
            },
        );
        let chat_tx = chat_tx.clone();
        socket.on(
            "chat",
            move |_socket: Socket, Args(args): Args, _ack: Option<AckSender>| {
                let _ = chat_tx.send(args);
            },
        );
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(io.serve(listener));

    let mut child = tokio::process::Command::new(example("client"))
        .arg(format!("http://{addr}"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start the client example");
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let (status, out, err) = tokio::time::timeout(WAIT, async {
        let mut out = String::new();
        let mut err = String::new();
        let (a, b) = tokio::join!(
            stdout.read_to_string(&mut out),
            stderr.read_to_string(&mut err)
        );
        a.unwrap();
        b.unwrap();
        (child.wait().await.unwrap(), out, err)
    })
    .await
    .expect("the client example finished in time");
    assert!(
        status.success(),
        "exit {status}\nstdout:\n{out}\nstderr:\n{err}"
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    assert!(lines[0].starts_with("connected as "), "{out}");
    let sid = lines[0].trim_start_matches("connected as ");
    assert_eq!(lines[1], format!("welcome: [\"{sid}\"]"));
    assert_eq!(lines[2], "join acknowledged: [\"joined\"]");
    // Its chat message, sent before it disconnected, may or may not have
    // left; when it did, it is the expected one.
    if let Ok(Some(args)) = tokio::time::timeout(Duration::from_secs(2), chat_rx.recv()).await {
        assert_eq!(args, vec![Value::from("lobby"), Value::from("hello")]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ws_echo_example() {
    let server = Server::start("ws_echo");
    let url = format!("ws://{}/", server.addr);
    tokio::time::timeout(WAIT, async {
        let (mut ws, _) = socketeer_ws::connect(&url).await.expect("connect");
        for msg in [
            socketeer_ws::Message::text("hello"),
            socketeer_ws::Message::binary(vec![0u8, 1, 2, 255]),
        ] {
            ws.send(msg.clone()).await.unwrap();
            let echoed = ws.recv().await.expect("an echo").expect("no error");
            assert_eq!(echoed, msg);
        }
        ws.close(None).await.unwrap();
    })
    .await
    .expect("the ws_echo example answered in time");
}
