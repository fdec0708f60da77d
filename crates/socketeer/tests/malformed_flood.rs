//! 1,000 Socket.IO clients on WebSockets, each connected to `/` and then
//! sending one packet that does not parse: each is disconnected with
//! "parse error" (WebSocket close 1002) and the server stays healthy. The
//! flood of malformed WebSocket frames and Engine.IO packets is in
//! socketeer-engineio's `tests/server_flood.rs`.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use socketeer::server::{DisconnectReason, Socket, SocketIo};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

/// Clients in flight at once.
const CONCURRENCY: usize = 200;
/// Longest wait for one answer under load.
const ANSWER: Duration = Duration::from_secs(10);

const UPGRADE: &[u8] = b"GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\n\
Host: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";

/// A masked text frame (payload under 126 bytes).
fn text_frame(payload: &[u8]) -> Vec<u8> {
    let mask = [0x0a, 0x0b, 0x0c, 0x0d];
    let mut frame = vec![0x81, 0x80 | payload.len() as u8];
    frame.extend_from_slice(&mask);
    frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    frame
}

/// The server's frames after the upgrade response in `bytes`, whole
/// ones only: (opcode, payload).
fn frames(bytes: &[u8]) -> Vec<(u8, &[u8])> {
    let Some(head) = bytes.windows(4).position(|w| w == b"\r\n\r\n") else {
        return Vec::new();
    };
    let mut rest = &bytes[head + 4..];
    let mut out = Vec::new();
    while rest.len() >= 2 {
        let (len, start) = match rest[1] & 0x7f {
            126 if rest.len() >= 4 => (u16::from_be_bytes([rest[2], rest[3]]) as usize, 4),
            126 | 127 => break,
            n => (n as usize, 2),
        };
        let Some(payload) = rest.get(start..start + len) else {
            break;
        };
        out.push((rest[0] & 0x0f, payload));
        rest = &rest[start + len..];
    }
    out
}

/// Reads until `done` accepts the frames read so far, or the peer
/// closes, or [`ANSWER`] passes.
async fn read_until(tcp: &mut TcpStream, buf: &mut Vec<u8>, done: impl Fn(&[(u8, &[u8])]) -> bool) {
    let read = async {
        let mut chunk = [0u8; 4096];
        while !done(&frames(buf)) {
            match tcp.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
    };
    let _ = tokio::time::timeout(ANSWER, read).await;
}

/// One client: connects to `/`, sends `bad`; the close code it got.
async fn client(addr: SocketAddr, bad: &'static [u8]) -> Option<u16> {
    let mut tcp = TcpStream::connect(addr).await.ok()?;
    tcp.write_all(UPGRADE).await.ok()?;
    let mut buf = Vec::new();
    // The Engine.IO OPEN packet, then the namespace's CONNECT reply.
    read_until(&mut tcp, &mut buf, |f| !f.is_empty()).await;
    tcp.write_all(&text_frame(b"40")).await.ok()?;
    read_until(&mut tcp, &mut buf, |f| {
        f.iter().any(|(_, p)| p.starts_with(b"40{"))
    })
    .await;
    if !frames(&buf).iter().any(|(_, p)| p.starts_with(b"40{")) {
        return None;
    }
    tcp.write_all(&text_frame(bad)).await.ok()?;
    read_until(&mut tcp, &mut buf, |f| f.iter().any(|(op, _)| *op == 0x8)).await;
    let frames = frames(&buf);
    let (_, close) = frames.iter().find(|(op, _)| *op == 0x8)?;
    (close.len() >= 2).then(|| u16::from_be_bytes([close[0], close[1]]))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_malformed_socket_io_packets_are_parse_errors() {
    tokio::time::timeout(Duration::from_secs(60), async {
        let io = SocketIo::new(Default::default());
        let reasons = Arc::new(Mutex::new(Vec::new()));
        let seen = reasons.clone();
        io.on_connection(move |socket: Socket| {
            let seen = seen.clone();
            socket.on_disconnect(move |reason: DisconnectReason| {
                seen.lock().unwrap().push(reason);
            });
        });
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(io.clone().serve(listener));

        // An unknown packet type, an event that is not JSON, an event
        // that is not an array, an attachment count that is not a number.
        let bad: [&[u8]; 4] = [b"49", b"42[\"event\"", b"42{\"a\":1}", b"45x-[\"e\"]"];
        let started = Instant::now();
        let slots = Arc::new(Semaphore::new(CONCURRENCY));
        let mut set = tokio::task::JoinSet::new();
        for i in 0..1_000 {
            let permit = slots.clone().acquire_owned().await.unwrap();
            let packet = bad[i % bad.len()];
            set.spawn(async move {
                let code = client(addr, packet).await;
                drop(permit);
                (packet, code)
            });
        }
        let mut wrong = Vec::new();
        let mut ok = 0;
        while let Some(r) = set.join_next().await {
            match r.unwrap() {
                (_, Some(1002)) => ok += 1,
                (packet, code) => wrong.push((String::from_utf8_lossy(packet), code)),
            }
        }
        println!("{ok}/1000 closed with 1002 in {:?}", started.elapsed());
        assert!(
            wrong.is_empty(),
            "{} wrong: {:?}",
            wrong.len(),
            &wrong[..wrong.len().min(5)]
        );

        // Every socket saw "parse error", and the server is healthy.
        let settle = Instant::now();
        while io.engine().session_count() > 0 && settle.elapsed() < Duration::from_secs(5) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(io.engine().session_count(), 0);
        let reasons = reasons.lock().unwrap().clone();
        let parse_errors = reasons
            .iter()
            .filter(|r| **r == DisconnectReason::ParseError)
            .count();
        println!(
            "disconnect reasons: {parse_errors} \"parse error\" of {}",
            reasons.len()
        );
        assert_eq!(parse_errors, 1_000, "{reasons:?}");
        let mut tcp = TcpStream::connect(addr).await.unwrap();
        tcp.write_all(UPGRADE).await.unwrap();
        let mut buf = Vec::new();
        read_until(&mut tcp, &mut buf, |f| !f.is_empty()).await;
        tcp.write_all(&text_frame(b"40")).await.unwrap();
        read_until(&mut tcp, &mut buf, |f| {
            f.iter().any(|(_, p)| p.starts_with(b"40{"))
        })
        .await;
        assert!(
            frames(&buf).iter().any(|(_, p)| p.starts_with(b"40{")),
            "a new client connects"
        );
    })
    .await
    .expect("within 60 s");
}
