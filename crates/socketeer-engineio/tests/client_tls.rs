//! The Engine.IO client over TLS (`https://` polling, `wss://` WebSocket,
//! and the upgrade between them) with a custom root store, against this
//! crate's server behind rustls on 127.0.0.1.

use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::Request;
use socketeer_engineio::client::{
    connect, ClientOptions, CloseReason, Event, TransportKind, Transports,
};
use socketeer_engineio::server::{EngineHandler, EngineIo, EngineIoConfig, Socket};
use socketeer_engineio::Payload;
use tokio::net::TcpListener;

const STEP: Duration = Duration::from_secs(10);

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

struct Echo;

impl EngineHandler for Echo {
    fn on_connect(&self, _socket: &Socket) {}

    fn on_disconnect(&self, _socket: &Socket, _reason: socketeer_engineio::server::CloseReason) {}

    fn on_message(&self, socket: &Socket, message: Payload) {
        let _ = socket.send(message);
    }
}

/// Serves an echoing [`EngineIo`] over TLS; returns the port and the
/// certificate to trust.
async fn tls_server() -> (u16, rustls::pki_types::CertificateDer<'static>) {
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
    let engine = EngineIo::new(
        EngineIoConfig {
            ping_interval: Duration::from_millis(300),
            ping_timeout: Duration::from_millis(1000),
            ..Default::default()
        },
        Arc::new(Echo),
    );
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((tcp, remote)) = listener.accept().await {
            let acceptor = acceptor.clone();
            let engine = engine.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                    let engine = engine.clone();
                    async move {
                        Ok::<_, std::convert::Infallible>(engine.handle(req, Some(remote)).await)
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(tls), service)
                    .with_upgrades()
                    .await;
            });
        }
    });
    (port, cert_der)
}

#[tokio::test]
async fn tls_in_all_modes_with_custom_roots() {
    let (port, cert) = tls_server().await;
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert).unwrap();
    let client_tls = Arc::new(
        rustls::ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    );
    for (scheme, mode) in [
        ("https", Transports::Polling),
        ("wss", Transports::WebSocket),
        ("https", Transports::Both),
    ] {
        let mut options = ClientOptions::new(format!("{scheme}://localhost:{port}"));
        options.transports = mode;
        options.tls = Some(client_tls.clone());
        let (client, mut events) = tokio::time::timeout(STEP, connect(options))
            .await
            .expect("connect timed out")
            .unwrap_or_else(|e| panic!("{mode:?}: {e}"));
        client.send_text("over TLS").unwrap();
        client.send_binary(vec![1u8, 2, 3]).unwrap();
        let mut got = Vec::new();
        while got.len() < 2 || (mode == Transports::Both && !got.contains(&Event::Upgraded)) {
            let e = tokio::time::timeout(STEP, events.next())
                .await
                .expect("event timed out")
                .expect("events ended");
            got.push(e);
        }
        let data: Vec<&Event> = got.iter().filter(|e| **e != Event::Upgraded).collect();
        assert_eq!(
            data,
            [
                &Event::Message("over TLS".into()),
                &Event::Binary(vec![1u8, 2, 3].into())
            ],
            "{mode:?}"
        );
        if mode != Transports::Polling {
            assert_eq!(client.transport(), TransportKind::WebSocket);
        }
        // A heartbeat or two over TLS.
        tokio::time::sleep(Duration::from_millis(700)).await;
        assert!(!client.is_closed(), "{mode:?}");
        client.close();
        loop {
            match tokio::time::timeout(STEP, events.next()).await.unwrap() {
                Some(Event::Closed(reason)) => {
                    assert_eq!(reason, CloseReason::ForcedClose);
                    break;
                }
                Some(_) => {}
                None => panic!("no Closed event"),
            }
        }
    }

    // The default (webpki) roots do not trust the self-signed certificate.
    for (scheme, mode) in [
        ("https", Transports::Polling),
        ("wss", Transports::WebSocket),
    ] {
        let mut options = ClientOptions::new(format!("{scheme}://localhost:{port}"));
        options.transports = mode;
        assert!(connect(options).await.is_err(), "{mode:?}");
    }
}
