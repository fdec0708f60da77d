//! Mounting WebSocket upgrades on a hyper 1.x server next to plain routes.

use std::convert::Infallible;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use socketeer_ws::upgrade::{is_upgrade_request, rejection, upgrade};
use socketeer_ws::{connect, Message, ServerConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

async fn handle(mut req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    if req.uri().path() == "/ws" {
        if !is_upgrade_request(&req) {
            let e = socketeer_ws::HandshakeError::NotUpgrade("plain request");
            return Ok(rejection(&e).map(|b| Full::new(Bytes::from(b))));
        }
        return Ok(
            match upgrade::<_, Full<Bytes>>(&mut req, &ServerConfig::default()) {
                Ok((resp, fut)) => {
                    tokio::spawn(async move {
                        let Ok(mut ws) = fut.await else { return };
                        while let Some(Ok(m)) = ws.recv().await {
                            if m.is_data() && ws.send(m).await.is_err() {
                                break;
                            }
                        }
                    });
                    resp
                }
                Err(e) => rejection(&e).map(|b| Full::new(Bytes::from(b))),
            },
        );
    }
    Ok(Response::new(Full::new(Bytes::from_static(b"plain route"))))
}

#[tokio::test]
async fn websocket_and_plain_routes_on_one_hyper_server() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tcp), service_fn(handle))
                    .with_upgrades()
                    .await;
            });
        }
    });
    tokio::time::timeout(Duration::from_secs(20), async {
        let (mut ws, resp) = connect(&format!("ws://{addr}/ws")).await.unwrap();
        assert_eq!(resp.status(), 101);
        ws.send(Message::text("through hyper")).await.unwrap();
        assert_eq!(
            ws.recv().await.unwrap().unwrap(),
            Message::text("through hyper")
        );
        ws.close(None).await.unwrap();

        let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        tcp.write_all(b"GET /ws HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut out = String::new();
        tcp.read_to_string(&mut out).await.unwrap();
        assert!(out.starts_with("HTTP/1.1 426"), "{out}");

        let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        tcp.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut out = String::new();
        tcp.read_to_string(&mut out).await.unwrap();
        assert!(out.ends_with("plain route"), "{out}");
    })
    .await
    .unwrap();
}

/// A server that read the start of a connection itself before handing it
/// to hyper (as socketeer-engineio's does) passes the bytes in a
/// `Prefixed` stream: the upgraded WebSocket is still the plain TCP
/// stream (so it lends direct writers), and a frame the client sent with
/// its request head, read by the server or by hyper, comes first.
#[tokio::test]
async fn an_upgrade_through_a_prefixed_stream_is_plain_tcp() {
    use socketeer_ws::prefixed::Prefixed;

    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (direct_tx, mut direct_rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        let Ok((mut tcp, _)) = listener.accept().await else {
            return;
        };
        // What the server read before deciding hyper should serve it.
        let mut first = vec![0u8; 4096];
        let n = tcp.read(&mut first).await.unwrap();
        first.truncate(n);
        let io = Prefixed::new(Bytes::from(first), tcp);
        let service = service_fn(move |mut req: Request<Incoming>| {
            let direct_tx = direct_tx.clone();
            async move {
                let (resp, fut) =
                    upgrade::<_, Full<Bytes>>(&mut req, &ServerConfig::default()).unwrap();
                tokio::spawn(async move {
                    let mut ws = fut.await.unwrap();
                    let _ = direct_tx.send(ws.has_direct_writer());
                    while let Some(Ok(m)) = ws.recv().await {
                        if m.is_data() && ws.send(m).await.is_err() {
                            break;
                        }
                    }
                });
                Ok::<_, Infallible>(resp)
            }
        });
        let _ = hyper::server::conn::http1::Builder::new()
            .serve_connection(TokioIo::new(io), service)
            .with_upgrades()
            .await;
    });
    tokio::time::timeout(Duration::from_secs(20), async {
        let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        let mut request = b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\
            Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
            Sec-WebSocket-Version: 13\r\n\r\n"
            .to_vec();
        // A masked text frame "hi" (mask 1, 2, 3, 4), in the same write.
        request.extend_from_slice(&[0x81, 0x82, 1, 2, 3, 4, b'h' ^ 1, b'i' ^ 2]);
        tcp.write_all(&request).await.unwrap();
        let mut got = Vec::new();
        let mut chunk = [0u8; 1024];
        let echo = [0x81, 0x02, b'h', b'i'];
        while !got.ends_with(&echo) {
            let n = tcp.read(&mut chunk).await.unwrap();
            assert!(n > 0, "closed: {:?}", String::from_utf8_lossy(&got));
            got.extend_from_slice(&chunk[..n]);
        }
        assert!(got.starts_with(b"HTTP/1.1 101"), "{got:?}");
        assert_eq!(direct_rx.recv().await, Some(true));
    })
    .await
    .unwrap();
}
