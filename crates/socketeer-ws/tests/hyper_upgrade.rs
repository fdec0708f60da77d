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
