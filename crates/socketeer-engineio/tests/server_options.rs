//! Engine.IO server integration tests: the options Node users set
//! (`httpCompression`, `perMessageDeflate`, `cookie`, the `initial_headers`,
//! `headers` and `connection_error` events, an asynchronous `allowRequest`,
//! `cors` with a predicate), over real sockets on 127.0.0.1. The fixture
//! is in `support/mod.rs`; WebSocket handshakes whose response headers or
//! raw frames matter are made by hand here ([`RawWs`]).

mod support;

use std::io::Read;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{Method, StatusCode};
use socketeer_engineio::server::{
    per_message_deflate, AllowOrigin, AllowRequestAsync, ConnectionError, CookieOptions, Cors,
    EngineIoConfig, HttpCompression, SameSite,
};
use socketeer_engineio::{Packet, Payload};
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn gunzip(body: &[u8]) -> String {
    let mut out = String::new();
    flate2::read::GzDecoder::new(body)
        .read_to_string(&mut out)
        .expect("a gzip body");
    out
}

fn inflate(body: &[u8]) -> String {
    let mut out = String::new();
    flate2::read::ZlibDecoder::new(body)
        .read_to_string(&mut out)
        .expect("a zlib (HTTP deflate) body");
    out
}

async fn poll_with(addr: SocketAddr, sid: &str, headers: &[(&str, &str)]) -> Resp {
    let path = format!("/engine.io/?EIO=4&transport=polling&sid={sid}");
    request(addr, Method::GET, &path, headers, Bytes::new()).await
}

// ---------------------------------------------------------------------------
// httpCompression

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn polling_responses_are_compressed_as_the_client_accepts() {
    within(async {
        let mut server = TestServer::start(calm()).await;
        let (sid, _) = server.handshake().await;
        server.connected(&sid).await;
        let big = "x".repeat(2000);
        let small = "y".repeat(100);
        // (request headers, expected coding, message)
        type Case<'a> = (&'a [(&'a str, &'a str)], Option<&'a str>, &'a str);
        let cases: [Case<'_>; 5] = [
            (
                &[("accept-encoding", "gzip, deflate, br")],
                Some("gzip"),
                &big,
            ),
            (&[("accept-encoding", "deflate")], Some("deflate"), &big),
            (
                &[("accept-encoding", "deflate, gzip")],
                Some("deflate"),
                &big,
            ),
            (&[], None, &big),
            (&[("accept-encoding", "gzip")], None, &small),
        ];
        for (headers, coding, message) in cases {
            server.post_ok(&sid, format!("4{message}")).await;
            assert_eq!(server.received(&sid).await, text(message));
            let r = poll_with(server.addr, &sid, headers).await;
            assert_eq!(r.status, StatusCode::OK, "{r:?}");
            assert_eq!(r.header("content-encoding"), coding, "{headers:?}");
            let body = match coding {
                Some("gzip") => gunzip(&r.body),
                Some(_) => inflate(&r.body),
                None => r.text().to_owned(),
            };
            assert_eq!(body, format!("4{message}"), "{headers:?}");
            if coding.is_some() {
                assert!(r.body.len() < 100, "{} bytes", r.body.len());
                assert_eq!(r.header("vary"), Some("Accept-Encoding"));
            }
        }
        server.assert_alive(&sid);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handshake_compressed_over_the_threshold_and_never_when_off() {
    within(async {
        let low = TestServer::start(EngineIoConfig {
            http_compression: Some(HttpCompression {
                threshold: 10,
                ..Default::default()
            }),
            ..calm()
        })
        .await;
        let headers = [("accept-encoding", "gzip")];
        let handshake = "/engine.io/?EIO=4&transport=polling";
        let r = request(low.addr, Method::GET, handshake, &headers, Bytes::new()).await;
        assert_eq!(r.header("content-encoding"), Some("gzip"), "{r:?}");
        let open = gunzip(&r.body);
        assert!(open.starts_with("0{\"sid\":"), "{open}");

        let off = TestServer::start(EngineIoConfig {
            http_compression: None,
            ..calm()
        })
        .await;
        let (sid, _) = off.handshake().await;
        off.post_ok(&sid, format!("4{}", "z".repeat(5000))).await;
        let r = poll_with(off.addr, &sid, &headers).await;
        assert_eq!(r.header("content-encoding"), None);
        assert_eq!(r.text().len(), 5001);
    })
    .await;
}

// ---------------------------------------------------------------------------
// A WebSocket by hand

/// A WebSocket client that shows the handshake response's head and the
/// raw frames (RSV1 included).
struct RawWs {
    tcp: TcpStream,
    head: String,
    buf: Vec<u8>,
}

struct Frame {
    rsv1: bool,
    opcode: u8,
    payload: Vec<u8>,
}

impl RawWs {
    async fn connect(addr: SocketAddr, query: &str, extra_headers: &str) -> RawWs {
        let mut tcp = TcpStream::connect(addr).await.expect("connect");
        let req = format!(
            "GET /engine.io/?EIO=4&transport=websocket{query} HTTP/1.1\r\nHost: {addr}\r\n\
             Upgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
             {extra_headers}\r\n"
        );
        tcp.write_all(req.as_bytes()).await.expect("write");
        let mut buf = Vec::new();
        let end = step("the upgrade response", async {
            loop {
                if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                    return i + 4;
                }
                let mut chunk = [0u8; 4096];
                let n = tcp.read(&mut chunk).await.expect("read");
                assert!(n > 0, "closed during the handshake: {buf:?}");
                buf.extend_from_slice(&chunk[..n]);
            }
        })
        .await;
        let head = String::from_utf8(buf[..end].to_vec()).expect("ASCII head");
        buf.drain(..end);
        RawWs { tcp, head, buf }
    }

    /// The value of `name` in the response head (case-insensitive name).
    fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }

    async fn fill(&mut self, n: usize) {
        while self.buf.len() < n {
            let mut chunk = [0u8; 8192];
            let got = self.tcp.read(&mut chunk).await.expect("read");
            assert!(got > 0, "connection closed");
            self.buf.extend_from_slice(&chunk[..got]);
        }
    }

    async fn frame(&mut self) -> Frame {
        step("a frame", async {
            self.fill(2).await;
            let (b0, b1) = (self.buf[0], self.buf[1]);
            assert_eq!(b1 & 0x80, 0, "server frames are not masked");
            let (len, at) = match b1 & 0x7f {
                126 => {
                    self.fill(4).await;
                    (u16::from_be_bytes([self.buf[2], self.buf[3]]) as usize, 4)
                }
                127 => {
                    self.fill(10).await;
                    let mut b = [0u8; 8];
                    b.copy_from_slice(&self.buf[2..10]);
                    (u64::from_be_bytes(b) as usize, 10)
                }
                n => (n as usize, 2),
            };
            self.fill(at + len).await;
            let payload = self.buf[at..at + len].to_vec();
            self.buf.drain(..at + len);
            Frame {
                rsv1: b0 & 0x40 != 0,
                opcode: b0 & 0x0f,
                payload,
            }
        })
        .await
    }

    /// Sends a text message (masked with a zero key: the payload as is).
    async fn send_text(&mut self, text: &str) {
        let mut frame = vec![0x81];
        let len = text.len();
        if len < 126 {
            frame.push(0x80 | len as u8);
        } else {
            frame.push(0x80 | 126);
            frame.extend_from_slice(&(len as u16).to_be_bytes());
        }
        frame.extend_from_slice(&[0, 0, 0, 0]);
        frame.extend_from_slice(text.as_bytes());
        self.tcp.write_all(&frame).await.expect("write");
    }
}

// ---------------------------------------------------------------------------
// perMessageDeflate

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_message_deflate_compresses_from_1024_bytes() {
    within(async {
        let mut config = calm();
        config.websocket.deflate = Some(per_message_deflate());
        let mut server = TestServer::start(config).await;
        let offer = "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n";
        let mut ws = RawWs::connect(server.addr, "", offer).await;
        assert!(ws.head.starts_with("HTTP/1.1 101"), "{}", ws.head);
        let ext = ws
            .header("sec-websocket-extensions")
            .expect("deflate accepted");
        assert!(ext.starts_with("permessage-deflate"), "{ext}");
        let open = ws.frame().await;
        assert!(!open.rsv1 && open.opcode == 1, "the OPEN packet is short");
        let open: serde_json::Value =
            serde_json::from_slice(&open.payload[1..]).expect("open packet");
        let sid = open["sid"].as_str().expect("sid").to_owned();
        server.connected(&sid).await;

        // The echo of 1,023 bytes goes out as it is; of 1,024, compressed.
        for (len, compressed) in [(1022, false), (1023, true), (3000, true)] {
            let message = "a".repeat(len);
            ws.send_text(&format!("4{message}")).await;
            let f = ws.frame().await;
            assert_eq!(f.rsv1, compressed, "a packet of {} bytes", len + 1);
            if compressed {
                assert!(f.payload.len() < 100, "{} bytes", f.payload.len());
            } else {
                assert_eq!(f.payload.len(), len + 1);
            }
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compress_false_sends_uncompressed_whatever_the_size() {
    within(async {
        let mut config = calm();
        config.websocket.deflate = Some(per_message_deflate());
        let mut server = TestServer::start(config).await;
        let offer = "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n";
        let mut ws = RawWs::connect(server.addr, "", offer).await;
        let open = ws.frame().await;
        let open: serde_json::Value =
            serde_json::from_slice(&open.payload[1..]).expect("open packet");
        let sid = open["sid"].as_str().expect("sid").to_owned();
        let socket = server.connected(&sid).await;

        let big = "b".repeat(4000);
        let prepared = || {
            let frame = Packet::Message(Payload::text(big.clone())).encode();
            socketeer_engineio::PreparedFrame::from_payload(frame)
        };
        // (how it was sent, whether it goes compressed)
        let sends: [(&str, bool); 6] = [
            ("send", true),
            ("send_with(false)", false),
            ("send_with(true)", true),
            ("send_prepared_with(false)", false),
            ("send_prepared_with(true)", true),
            ("send_volatile_prepared_with(false)", false),
        ];
        for (how, compressed) in sends {
            match how {
                "send" => socket.send_text(big.clone()).expect("send"),
                "send_with(false)" => socket
                    .send_with(Payload::text(big.clone()), false)
                    .expect("send"),
                "send_with(true)" => socket
                    .send_with(Payload::text(big.clone()), true)
                    .expect("send"),
                "send_prepared_with(false)" => {
                    socket.send_prepared_with(prepared(), false).expect("send")
                }
                "send_prepared_with(true)" => {
                    socket.send_prepared_with(prepared(), true).expect("send")
                }
                _ => assert!(socket.send_volatile_prepared_with(&[prepared()], false)),
            }
            let f = ws.frame().await;
            assert_eq!(f.rsv1, compressed, "{how}");
            if compressed {
                assert!(f.payload.len() < 100, "{how}: {} bytes", f.payload.len());
            } else {
                assert_eq!(f.payload, format!("4{big}").into_bytes(), "{how}");
            }
        }
    })
    .await;
}

// ---------------------------------------------------------------------------
// cookie

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cookie_is_set_on_handshakes_only() {
    within(async {
        let mut server = TestServer::start(EngineIoConfig {
            cookie: Some(CookieOptions::default()),
            ..calm()
        })
        .await;
        let r = get(server.addr, "/engine.io/?EIO=4&transport=polling").await;
        let open = &r.packets()[0];
        let Packet::Open(open) = open else {
            panic!("not an open packet: {open:?}")
        };
        assert_eq!(
            r.header("set-cookie"),
            Some(format!("io={}; Path=/; HttpOnly; SameSite=Lax", open.sid).as_str())
        );
        server.post_ok(&open.sid, "4hi").await;
        let poll = server.poll(&open.sid).await;
        assert_eq!(poll.header("set-cookie"), None, "{poll:?}");

        let ws = RawWs::connect(server.addr, "", "").await;
        let cookie = ws.header("set-cookie").expect("a cookie on the 101");
        let sid = cookie
            .strip_prefix("io=")
            .and_then(|c| c.split(';').next())
            .expect("io=<sid>");
        server.connected(sid).await;

        let custom = TestServer::start(EngineIoConfig {
            cookie: Some(CookieOptions {
                name: "lb".into(),
                same_site: Some(SameSite::Strict),
                ..Default::default()
            }),
            ..calm()
        })
        .await;
        let r = get(custom.addr, "/engine.io/?EIO=4&transport=polling").await;
        assert!(r.header("set-cookie").unwrap().ends_with("SameSite=Strict"));
        let plain = TestServer::start(calm()).await;
        let r = get(plain.addr, "/engine.io/?EIO=4&transport=polling").await;
        assert_eq!(r.header("set-cookie"), None, "no cookie by default");
    })
    .await;
}

// ---------------------------------------------------------------------------
// initial_headers, headers

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn header_hooks_add_to_handshakes_and_every_response() {
    within(async {
        let server = TestServer::start(EngineIoConfig {
            cookie: Some(CookieOptions::default()),
            initial_headers: Some(Arc::new(|req, headers| {
                let who = req.query().get("who").unwrap_or("nobody").to_owned();
                headers.insert("x-initial", who.parse().unwrap());
                // After the cookie, as Node.
                let has_cookie = headers.contains_key("set-cookie");
                headers.insert("x-saw-cookie", has_cookie.to_string().parse().unwrap());
            })),
            headers: Some(Arc::new(|_, headers| {
                // After initial_headers, as Node.
                let after = headers.contains_key("x-initial");
                headers.insert("x-every", after.to_string().parse().unwrap());
            })),
            ..calm()
        })
        .await;
        let r = get(
            server.addr,
            "/engine.io/?EIO=4&transport=polling&who=J%C3%A9r%C3%B4me",
        )
        .await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(
            r.headers.get("x-initial").map(|v| v.as_bytes()),
            Some("Jérôme".as_bytes())
        );
        assert_eq!(r.header("x-saw-cookie"), Some("true"));
        assert_eq!(r.header("x-every"), Some("true"));
        let Packet::Open(open) = &r.packets()[0] else {
            panic!("not an open packet")
        };
        let post = server.post(&open.sid, "4hi").await;
        assert_eq!(post.header("x-every"), Some("false"));
        assert_eq!(post.header("x-initial"), None);
        let poll = server.poll(&open.sid).await;
        assert_eq!(poll.header("x-every"), Some("false"));
        assert_eq!(poll.header("x-initial"), None);

        let ws = RawWs::connect(server.addr, "&who=ws", "").await;
        assert_eq!(ws.header("x-initial"), Some("ws"));
        assert_eq!(ws.header("x-every"), Some("true"));

        let refused = get(server.addr, "/engine.io/?EIO=3&transport=polling").await;
        assert_eq!(refused.header("x-every"), None, "errors get no headers");
    })
    .await;
}

// ---------------------------------------------------------------------------
// connection_error

type Seen = Arc<Mutex<Vec<ConnectionError>>>;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_error_reports_every_refusal() {
    within(async {
        let seen: Seen = Arc::default();
        let record = seen.clone();
        let server = TestServer::start(EngineIoConfig {
            allow_request: Some(Arc::new(|req| match req.query().get("deny") {
                Some(_) => Err("denied here".to_owned()),
                None => Ok(()),
            })),
            connection_error: Some(Arc::new(move |e| record.lock().unwrap().push(e.clone()))),
            ..calm()
        })
        .await;
        server.handshake().await;
        assert!(seen.lock().unwrap().is_empty(), "a handshake is no error");
        let cases = [
            (Method::GET, "/engine.io/?EIO=4&transport=carrier-pigeon", 0),
            (
                Method::GET,
                "/engine.io/?EIO=4&transport=polling&sid=nope",
                1,
            ),
            (Method::POST, "/engine.io/?EIO=4&transport=polling", 2),
            (Method::GET, "/engine.io/?EIO=4&transport=websocket", 3),
            (Method::GET, "/engine.io/?EIO=4&transport=polling&deny=1", 4),
            (Method::GET, "/engine.io/?EIO=3&transport=polling", 5),
        ];
        for (method, path, code) in cases {
            let r = request(server.addr, method.clone(), path, &[], Bytes::new()).await;
            assert!(r.status.is_client_error(), "{method} {path}: {r:?}");
            let seen = seen.lock().unwrap();
            let e = seen
                .last()
                .unwrap_or_else(|| panic!("{path}: no connection_error"));
            assert_eq!(e.code.code(), code, "{path}: {e:?}");
            assert_eq!(e.message, e.code.message());
            assert_eq!(e.req.uri.to_string(), path);
            assert!(e.context.is_some(), "{e:?}");
        }
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 6);
        assert_eq!(seen[4].message, "Forbidden");
        assert_eq!(seen[4].context.as_deref(), Some("denied here"));
    })
    .await;
}

// ---------------------------------------------------------------------------
// allow_request_async

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_allow_request_accepts_and_refuses() {
    within(async {
        let seen: Seen = Arc::default();
        let record = seen.clone();
        let mut server = TestServer::start(EngineIoConfig {
            allow_request_async: Some(AllowRequestAsync::new(|req| async move {
                tokio::time::sleep(Duration::from_millis(20)).await;
                match req.query().get("token") {
                    Some("let me in") => Ok(()),
                    _ => Err("wrong token".to_owned()),
                }
            })),
            connection_error: Some(Arc::new(move |e| record.lock().unwrap().push(e.clone()))),
            ..calm()
        })
        .await;
        let r = get(
            server.addr,
            "/engine.io/?EIO=4&transport=polling&token=let+me%20in",
        )
        .await;
        let Packet::Open(open) = &r.packets()[0] else {
            panic!("not an open packet")
        };
        server.connected(&open.sid).await;

        get(
            server.addr,
            "/engine.io/?EIO=4&transport=polling&token=guess",
        )
        .await
        .assert_error(StatusCode::FORBIDDEN, 4, "wrong token");
        let ws = RawWs::connect(server.addr, "&token=guess", "").await;
        assert!(ws.head.starts_with("HTTP/1.1 403"), "{}", ws.head);
        assert_eq!(server.engine.session_count(), 1);
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 2);
        assert!(seen
            .iter()
            .all(|e| e.code.code() == 4 && e.context.as_deref() == Some("wrong token")));
    })
    .await;
}

// ---------------------------------------------------------------------------
// cors

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cors_predicate_exposed_headers_and_max_age() {
    within(async {
        let server = TestServer::start(EngineIoConfig {
            cors: Some(Cors {
                origin: AllowOrigin::predicate(|o| o.ends_with(".good.example")),
                credentials: true,
                methods: vec!["GET".into(), "POST".into()],
                exposed_headers: vec!["x-region".into()],
                max_age: Some(Duration::from_secs(86_400)),
                ..Default::default()
            }),
            ..calm()
        })
        .await;
        let handshake = "/engine.io/?EIO=4&transport=polling";
        let good = ("origin", "https://app.good.example");
        let preflight = [
            good,
            ("access-control-request-method", "POST"),
            ("access-control-request-headers", "content-type"),
        ];
        let r = request(
            server.addr,
            Method::OPTIONS,
            handshake,
            &preflight,
            Bytes::new(),
        )
        .await;
        assert_eq!(r.status, StatusCode::NO_CONTENT);
        assert_eq!(r.header("access-control-allow-origin"), Some(good.1));
        assert_eq!(r.header("access-control-allow-credentials"), Some("true"));
        assert_eq!(r.header("access-control-allow-methods"), Some("GET,POST"));
        assert_eq!(
            r.header("access-control-allow-headers"),
            Some("content-type")
        );
        assert_eq!(r.header("access-control-max-age"), Some("86400"));
        assert_eq!(r.header("access-control-expose-headers"), Some("x-region"));

        let r = request(server.addr, Method::GET, handshake, &[good], Bytes::new()).await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.header("access-control-allow-origin"), Some(good.1));
        assert_eq!(r.header("access-control-expose-headers"), Some("x-region"));
        assert_eq!(r.header("access-control-max-age"), None);

        let bad = [("origin", "https://good.example.evil")];
        let r = request(server.addr, Method::GET, handshake, &bad, Bytes::new()).await;
        assert_eq!(r.header("access-control-allow-origin"), None);
        assert_eq!(r.header("access-control-allow-credentials"), None);
    })
    .await;
}

// ---------------------------------------------------------------------------
// initial_packet

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn initial_packet_follows_the_open_packet() {
    within(async {
        let mut server = TestServer::start(EngineIoConfig {
            initial_packet: Some(text("welcome")),
            ..calm()
        })
        .await;
        let r = get(server.addr, "/engine.io/?EIO=4&transport=polling").await;
        let packets = r.packets();
        assert_eq!(packets.len(), 2, "{packets:?}");
        let Packet::Open(open) = &packets[0] else {
            panic!("not an open packet: {packets:?}")
        };
        assert_eq!(packets[1], Packet::text("welcome"));
        server.connected(&open.sid).await;
        // Nothing else is pending: the next poll waits for the echo.
        server.post_ok(&open.sid, "4ping?").await;
        assert_eq!(
            server.poll(&open.sid).await.packets(),
            [Packet::text("ping?")]
        );

        let mut ws = RawWs::connect(server.addr, "", "").await;
        let first = ws.frame().await;
        assert_eq!(first.payload[0], b'0', "the open packet first");
        let second = ws.frame().await;
        assert_eq!((second.opcode, &second.payload[..]), (1, &b"4welcome"[..]));
    })
    .await;
}
