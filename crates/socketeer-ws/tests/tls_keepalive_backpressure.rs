//! wss:// with a custom root store, keepalive pings, and the bounded send
//! queue.

use std::sync::Arc;
use std::time::{Duration, Instant};

use socketeer_ws::driver::Keepalive;
use socketeer_ws::read_ahead::ReadAhead;
use socketeer_ws::{
    accept_with_config, connect_with_options, CloseCode, ConnectOptions, Error, Message,
    ServerConfig, StreamConfig, WebSocketStream,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A wss:// echo server on 127.0.0.1 with a self-signed certificate for
/// `localhost`, reading ahead under rustls as socketeer's own server does:
/// (port, certificate).
async fn wss_echo_server() -> (u16, rustls::pki_types::CertificateDer<'static>) {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let cert_der = cert.cert.der().clone();
    let key_der =
        rustls::pki_types::PrivateKeyDer::try_from(cert.signing_key.serialize_der()).unwrap();
    let server_tls = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert_der.clone()], key_der)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server_tls));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(ReadAhead::new(tcp)).await else {
                    return;
                };
                let Ok(conn) = accept_with_config(tls, &ServerConfig::default()).await else {
                    return;
                };
                let mut ws = conn.ws;
                while let Some(Ok(m)) = ws.recv().await {
                    if m.is_data() && ws.send(m).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    (port, cert_der)
}

fn trusting(cert: rustls::pki_types::CertificateDer<'static>) -> ConnectOptions {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert).unwrap();
    let client_tls = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    ConnectOptions {
        tls: Some(Arc::new(client_tls)),
        ..Default::default()
    }
}

#[tokio::test]
async fn wss_with_custom_root_store() {
    let (port, cert) = wss_echo_server().await;
    let url = format!("wss://localhost:{port}/");
    let (mut ws, _) = connect_with_options(&url, &trusting(cert)).await.unwrap();
    ws.send(Message::text("over TLS")).await.unwrap();
    assert_eq!(ws.recv().await.unwrap().unwrap(), Message::text("over TLS"));
    ws.close(None).await.unwrap();
    // The default (webpki) roots do not trust our self-signed certificate.
    assert!(connect_with_options(&url, &ConnectOptions::default())
        .await
        .is_err());
}

/// Both ends read ahead under rustls (the client of `connect` and the
/// server above): messages from one byte to beyond a TLS record and
/// beyond a read-ahead buffer, sent back to back while echoes come back,
/// arrive whole and in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_of_every_size_cross_tls_whole_and_in_order() {
    let (port, cert) = wss_echo_server().await;
    let url = format!("wss://localhost:{port}/");
    let (ws, _) = connect_with_options(&url, &trusting(cert)).await.unwrap();
    let (mut reader, mut writer) = ws.split();
    let sizes = [
        1usize,
        3,
        100,
        4_096,
        16_383,
        16_384,
        16_389,
        32_768,
        70_000,
        1 << 20,
        5,
    ];
    let message = |round: usize, size: usize| {
        let payload: Vec<u8> = (0..size)
            .map(|i| ((i + round * 7 + size) % 251) as u8)
            .collect();
        Message::binary(payload)
    };
    const ROUNDS: usize = 20;
    let sender = tokio::spawn(async move {
        for round in 0..ROUNDS {
            for &size in &sizes {
                writer.feed(message(round, size)).await.unwrap();
            }
            writer.flush().await.unwrap();
        }
        writer
    });
    let received = tokio::time::timeout(Duration::from_secs(60), async {
        for round in 0..ROUNDS {
            for &size in &sizes {
                let got = reader.recv().await.unwrap().unwrap();
                assert!(
                    got == message(round, size),
                    "round {round}, {size} bytes: wrong echo"
                );
            }
        }
    })
    .await;
    assert!(received.is_ok(), "the echoes did not all come back");
    sender.await.unwrap();
}

async fn keepalive_server(ka: Keepalive) -> (u16, tokio::sync::mpsc::Receiver<Result<(), String>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let tx = tx.clone();
            tokio::spawn(async move {
                let config = ServerConfig {
                    stream: StreamConfig {
                        keepalive: Some(ka),
                        ..Default::default()
                    },
                    ..Default::default()
                };
                let mut ws = accept_with_config(tcp, &config).await.unwrap().ws;
                let mut result = Ok(());
                while let Some(m) = ws.recv().await {
                    if let Err(e) = m {
                        result = Err(e.to_string());
                    }
                }
                let _ = tx.send(result).await;
            });
        }
    });
    (port, rx)
}

#[tokio::test]
async fn keepalive_drops_a_silent_peer_and_keeps_a_live_one() {
    let ka = Keepalive {
        interval: Duration::from_millis(100),
        timeout: Duration::from_millis(200),
    };
    let (port, mut results) = keepalive_server(ka).await;
    // A live client answers pings (automatically, while it reads).
    let (mut live, _) = connect_with_options(
        &format!("ws://127.0.0.1:{port}"),
        &ConnectOptions::default(),
    )
    .await
    .unwrap();
    let reader = tokio::spawn(async move {
        let mut pings = 0;
        let deadline = Instant::now() + Duration::from_millis(800);
        while Instant::now() < deadline {
            if let Ok(Some(Ok(Message::Ping(_)))) =
                tokio::time::timeout(Duration::from_millis(50), live.recv()).await
            {
                pings += 1;
            }
        }
        (pings, live)
    });
    // A silent peer: handshake by hand, then never read or answer.
    let started = Instant::now();
    let mut silent = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    silent.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n").await.unwrap();
    let silent_result = tokio::time::timeout(Duration::from_secs(10), results.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(silent_result, Err(Error::KeepaliveTimeout.to_string()));
    assert!(started.elapsed() < Duration::from_secs(5));
    let mut seen = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), silent.read_to_end(&mut seen)).await;
    // ... which got a close frame with 1011 before TCP closed.
    let close_at = seen
        .windows(2)
        .position(|w| w[0] == 0x88)
        .expect("close frame");
    assert_eq!(
        &seen[close_at + 2..close_at + 4],
        &CloseCode::INTERNAL_ERROR.0.to_be_bytes()
    );
    let (pings, mut live) = reader.await.unwrap();
    assert!(pings >= 2, "live client saw {pings} pings");
    live.send(Message::text("still alive")).await.unwrap();
    live.close(None).await.unwrap();
}

#[tokio::test]
async fn send_queue_is_bounded_when_the_peer_does_not_read() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let config = ServerConfig {
            stream: StreamConfig {
                max_send_queue: 64 * 1024,
                ..Default::default()
            },
            ..Default::default()
        };
        let mut ws: WebSocketStream<TcpStream> = accept_with_config(tcp, &config).await.unwrap().ws;
        let chunk = Message::binary(vec![0u8; 16 * 1024]);
        let mut queued = 0usize;
        // Without flushing, the queue fills and try_feed refuses.
        loop {
            match ws.try_feed(chunk.clone()) {
                Ok(()) => queued += 1,
                Err(Error::QueueFull) => break,
                Err(e) => panic!("{e}"),
            }
        }
        assert!(queued <= 5, "queued {queued}");
        // A waiting send blocks once the socket buffers are full.
        let blocked = tokio::time::timeout(Duration::from_millis(500), async {
            loop {
                ws.send(chunk.clone()).await.unwrap();
            }
        })
        .await;
        assert!(blocked.is_err(), "send never blocked");
        assert!(ws.protocol().output_len() <= 64 * 1024 + 16 * 1024 + 14);
    });
    let (_client, _) = connect_with_options(
        &format!("ws://127.0.0.1:{port}"),
        &ConnectOptions::default(),
    )
    .await
    .unwrap();
    tokio::time::timeout(Duration::from_secs(20), server)
        .await
        .unwrap()
        .unwrap();
}
