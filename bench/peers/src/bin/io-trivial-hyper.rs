//! `io-trivial`'s long-polling answers served by hyper: the same least work
//! for `socketeer bench io-echo --transport polling`, with hyper's HTTP/1.1
//! in place of a hand-written one. Beside `io-trivial` it measures what
//! hyper itself costs per request, and so how much of a hyper-based
//! server's polling cost an HTTP path of its own could save.
//!
//! One session per TCP connection, as the generator uses them (a `POST`
//! then a `GET` in turn on one keep-alive connection). No WebSocket.
//!
//! Usage: `io-trivial-hyper PORT` (binds 127.0.0.1:PORT).

use std::sync::{Arc, Mutex};

use bench_peers::trivial_io::{answer, open_packet, SEPARATOR};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Method, Request, Response};
use tokio::net::TcpListener;

/// What the session has to send: acks waiting for the next `GET`.
type Outbox = Arc<Mutex<Vec<u8>>>;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    bench_peers::raise_fd_limit();
    let listener = TcpListener::bind(bench_peers::listen_addr_from_args()).await?;
    let mut next_sid = 0u64;
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                eprintln!("accept failed: {e}");
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        next_sid += 1;
        let sid: Arc<str> = format!("trivial{next_sid:012}").into();
        let outbox = Outbox::default();
        let service = hyper::service::service_fn(move |req| {
            let (sid, outbox) = (sid.clone(), outbox.clone());
            async move { Ok::<_, std::convert::Infallible>(respond(req, &sid, &outbox).await) }
        });
        tokio::spawn(async move {
            let io = hyper_util::rt::TokioIo::new(stream);
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(io, service)
                .await;
        });
    }
}

/// The answer to one request of the session.
async fn respond(req: Request<Incoming>, sid: &str, outbox: &Outbox) -> Response<Full<Bytes>> {
    let is_post = req.method() == Method::POST;
    let has_sid = req.uri().query().is_some_and(|q| q.contains("sid="));
    let body = if is_post {
        let payload = match req.into_body().collect().await {
            Ok(b) => b.to_bytes(),
            Err(_) => Bytes::new(),
        };
        let mut queued = outbox.lock().unwrap();
        for packet in payload.split(|&b| b == SEPARATOR) {
            if let Some(answer) = answer(packet, sid) {
                if !queued.is_empty() {
                    queued.push(SEPARATOR);
                }
                queued.extend_from_slice(&answer);
            }
        }
        Bytes::from_static(b"ok")
    } else if !has_sid {
        Bytes::from(open_packet(sid))
    } else {
        let queued = std::mem::take(&mut *outbox.lock().unwrap());
        if queued.is_empty() {
            Bytes::from_static(b"6") // a noop: the client asks again
        } else {
            Bytes::from(queued)
        }
    };
    let mut resp = Response::new(Full::new(body));
    resp.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=UTF-8"),
    );
    resp
}
