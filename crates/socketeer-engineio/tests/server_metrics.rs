//! The server's metrics (`server::metrics`), read from a recorder local to
//! each test: requests go straight to `EngineIo::handle` on a
//! current-thread runtime run inside `metrics::with_local_recorder`, so
//! the sessions' tasks record into it too. No sockets.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use metrics_util::{CompositeKey, MetricKind};
use socketeer_engineio::server::metrics as m;
use socketeer_engineio::server::{CloseReason, EngineHandler, EngineIo, EngineIoConfig, Socket};
use socketeer_engineio::Payload;

type Snapshot = Vec<(
    CompositeKey,
    Option<metrics::Unit>,
    Option<metrics::SharedString>,
    DebugValue,
)>;

/// Runs `test` on a current-thread runtime with a recorder of its own;
/// returns what was recorded.
fn recorded<F: Future<Output = ()>>(test: impl FnOnce() -> F) -> Snapshot {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    metrics::with_local_recorder(&recorder, || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("runtime");
        rt.block_on(async {
            tokio::time::timeout(Duration::from_secs(20), test())
                .await
                .expect("the test ran over 20 s")
        });
    });
    snapshotter.snapshot().into_vec()
}

/// The value of counter `name` with `label` (summed over other labels).
fn counter(s: &Snapshot, name: &str, label: Option<(&str, &str)>) -> u64 {
    s.iter()
        .filter(|(k, ..)| k.kind() == MetricKind::Counter && k.key().name() == name)
        .filter(|(k, ..)| match label {
            Some((l, v)) => k.key().labels().any(|x| x.key() == l && x.value() == v),
            None => true,
        })
        .map(|(.., v)| match v {
            DebugValue::Counter(n) => *n,
            _ => 0,
        })
        .sum()
}

fn gauge(s: &Snapshot, name: &str) -> Option<f64> {
    s.iter()
        .find(|(k, ..)| k.kind() == MetricKind::Gauge && k.key().name() == name)
        .and_then(|(.., v)| match v {
            DebugValue::Gauge(g) => Some(g.into_inner()),
            _ => None,
        })
}

/// Echoes every message; keeps the sockets.
#[derive(Default)]
struct Echo(Mutex<Vec<Socket>>);

impl EngineHandler for Echo {
    fn on_connect(&self, socket: &Socket) {
        self.0.lock().unwrap().push(socket.clone());
    }
    fn on_message(&self, socket: &Socket, message: Payload) {
        let _ = socket.send(message);
    }
    fn on_disconnect(&self, _: &Socket, _: CloseReason) {}
}

async fn request(
    engine: &EngineIo,
    method: Method,
    uri: &str,
    body: &'static str,
) -> (StatusCode, String) {
    let req = Request::builder()
        .method(method)
        .uri(uri)
        .body(Full::new(Bytes::from_static(body.as_bytes())))
        .expect("request");
    let resp = engine
        .handle(req, Some(([127, 0, 0, 1], 40000).into()))
        .await;
    let status = resp.status();
    let body = resp.into_body().collect().await.expect("body").to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

/// Opens a polling session; returns its id.
async fn open(engine: &EngineIo) -> String {
    let (status, body) = request(
        engine,
        Method::GET,
        "/engine.io/?EIO=4&transport=polling",
        "",
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let open: serde_json::Value =
        serde_json::from_str(body.strip_prefix('0').expect("OPEN")).expect("JSON");
    open["sid"].as_str().expect("sid").to_owned()
}

/// Lets the sessions' tasks run (the runtime has this thread only).
async fn settle() {
    for _ in 0..16 {
        tokio::task::yield_now().await;
    }
}

async fn until_no_sessions(engine: &EngineIo) {
    while engine.session_count() > 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[test]
fn refused_requests_are_counted_by_cause() {
    let snapshot = recorded(|| async {
        let config = EngineIoConfig {
            max_sessions: 1,
            allow_request: Some(Arc::new(|info| match info.uri.query() {
                Some(q) if q.contains("deny") => Err("denied".into()),
                _ => Ok(()),
            })),
            ..Default::default()
        };
        let engine = EngineIo::new(config, Arc::new(Echo::default()));
        let cases = [
            (Method::GET, "/engine.io/?EIO=4&transport=carrier-pigeon"),
            (Method::GET, "/engine.io/?EIO=3&transport=polling"),
            (Method::GET, "/engine.io/?EIO=5&transport=polling"),
            (Method::POST, "/engine.io/?EIO=4&transport=polling"),
            (
                Method::GET,
                "/engine.io/?EIO=4&transport=polling&sid=AAAAAAAAAAAAAAAAAAAA",
            ),
            (Method::GET, "/engine.io/?EIO=4&transport=websocket"),
            (Method::GET, "/engine.io/?EIO=4&transport=polling&deny=1"),
        ];
        for (method, uri) in cases {
            let (status, _) = request(&engine, method, uri, "").await;
            assert!(status.is_client_error(), "{uri}: {status}");
        }
        open(&engine).await;
        let (status, _) = request(
            &engine,
            Method::GET,
            "/engine.io/?EIO=4&transport=polling",
            "",
        )
        .await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        settle().await;
    });
    let cause = |c| counter(&snapshot, m::HANDSHAKE_FAILURES, Some(("cause", c)));
    assert_eq!(cause("unknown_transport"), 1);
    assert_eq!(cause("unsupported_protocol_version"), 2);
    assert_eq!(cause("bad_handshake_method"), 1);
    assert_eq!(cause("unknown_sid"), 1);
    assert_eq!(cause("bad_request"), 1);
    assert_eq!(cause("forbidden"), 1);
    assert_eq!(cause("session_limit"), 1);
    assert_eq!(counter(&snapshot, m::HANDSHAKE_FAILURES, None), 8);
    assert_eq!(
        counter(&snapshot, m::CONNECTIONS, Some(("transport", "polling"))),
        1
    );
    assert_eq!(counter(&snapshot, m::CONNECTIONS, None), 1);
}

#[test]
fn traffic_and_disconnects_are_counted_by_reason() {
    let handler = Arc::new(Echo::default());
    let snapshot = recorded(|| {
        let handler = handler.clone();
        async move {
            let engine = EngineIo::new(EngineIoConfig::default(), handler.clone());
            // One session: two messages in (one POST of 13 bytes), both
            // echoed in one poll, then an invalid payload (parse error).
            let sid = open(&engine).await;
            let path = format!("/engine.io/?EIO=4&transport=polling&sid={sid}");
            let (status, _) = request(&engine, Method::POST, &path, "4hello\u{1e}4world").await;
            assert_eq!(status, StatusCode::OK);
            let (_, polled) = request(&engine, Method::GET, &path, "").await;
            assert_eq!(polled, "4hello\u{1e}4world");
            let (status, _) = request(&engine, Method::POST, &path, "garbage").await;
            assert_eq!(status, StatusCode::BAD_REQUEST);
            until_no_sessions(&engine).await;
            // Two more, closed by the server.
            open(&engine).await;
            open(&engine).await;
            while handler.0.lock().unwrap().len() < 3 {
                settle().await;
            }
            let sockets: Vec<Socket> = handler.0.lock().unwrap().drain(..).collect();
            assert_eq!(sockets.len(), 3);
            sockets[1].close();
            sockets[2].close();
            // A polling session closed by the server waits for its next
            // poll to be told.
            for s in &sockets[1..] {
                let path = format!("/engine.io/?EIO=4&transport=polling&sid={}", s.id());
                let (_, polled) = request(&engine, Method::GET, &path, "").await;
                assert_eq!(polled, "1");
            }
            until_no_sessions(&engine).await;
        }
    });
    let reason = |r| counter(&snapshot, m::DISCONNECTS, Some(("reason", r)));
    assert_eq!(reason("parse_error"), 1);
    assert_eq!(reason("forced_close"), 2);
    assert_eq!(reason("transport_close"), 0);
    assert_eq!(counter(&snapshot, m::DISCONNECTS, None), 3);
    assert_eq!(
        counter(&snapshot, m::CONNECTIONS, Some(("transport", "polling"))),
        3
    );
    assert_eq!(counter(&snapshot, m::MESSAGES_RECEIVED, None), 2);
    assert_eq!(counter(&snapshot, m::MESSAGES_SENT, None), 2);
    // The two POST bodies; the two polls that carried the echo and the
    // close packets.
    assert_eq!(counter(&snapshot, m::RECEIVED_BYTES, None), 13 + 7);
    assert_eq!(counter(&snapshot, m::SENT_BYTES, None), 13 + 1 + 1);
    assert_eq!(gauge(&snapshot, m::SESSIONS), Some(0.0));
    // The echo of both messages: "4hello" and "4world" as WebSocket-sized
    // frames would be 8 bytes each; polling counts the outbox's bytes.
    assert!(gauge(&snapshot, m::QUEUE_HIGH_WATER).is_some_and(|g| g > 0.0));
}
