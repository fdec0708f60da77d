//! The accept loop over TLS (`HttpOptions::tls`) on 127.0.0.1: a
//! [`ReloadableCert`] renewed while serving (new connections get the new
//! certificate, open ones stay up, a bad file keeps the last good one),
//! ALPN `http/1.1` only, and the TLS handshake timeout, whose stalled
//! handshakes do not hold up other clients.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Request, Response};
use rustls::pki_types::{CertificateDer, ServerName};
use socketeer_engineio::server::{serve_http_with, HttpOptions, ReloadableCert};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

/// Bound on each test.
const WITHIN: Duration = Duration::from_secs(30);

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A self-signed certificate for `localhost`: (certificate PEM, key PEM,
/// certificate DER).
fn self_signed() -> (String, String, CertificateDer<'static>) {
    let c = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    (
        c.cert.pem(),
        c.signing_key.serialize_pem(),
        c.cert.der().clone(),
    )
}

/// A directory of this test's own.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "socketeer-server-tls-{name}-{}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Writes a file whole under a temporary name, then renames it into
/// place (as certificate renewal tools do).
fn replace(path: &Path, content: &str) {
    let tmp = path.with_extension("new");
    std::fs::write(&tmp, content).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

/// Serves "hello" on every request, over TLS as `options` says.
async fn start(options: HttpOptions) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let handler = |_req: Request<socketeer_engineio::server::RequestBody>, _remote| async {
        Response::new(Full::new(Bytes::from_static(b"hello")))
    };
    tokio::spawn(async move {
        serve_http_with(listener, handler, std::future::pending(), &options).await
    });
    addr
}

/// A client trusting `roots`, offering `alpn`, without session
/// resumption: each handshake is a full one, with the certificate served
/// at that moment (a resumed session keeps the one it was made with).
fn client(roots: &[CertificateDer<'static>], alpn: &[&[u8]]) -> tokio_rustls::TlsConnector {
    let mut store = rustls::RootCertStore::empty();
    for r in roots {
        store.add(r.clone()).unwrap();
    }
    let mut config = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(store)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    config.resumption = rustls::client::Resumption::disabled();
    tokio_rustls::TlsConnector::from(Arc::new(config))
}

async fn connect(
    addr: std::net::SocketAddr,
    connector: &tokio_rustls::TlsConnector,
) -> std::io::Result<TlsStream<TcpStream>> {
    let tcp = TcpStream::connect(addr).await?;
    let name = ServerName::try_from("localhost").unwrap();
    connector.connect(name, tcp).await
}

/// The certificate the server presented.
fn served(tls: &TlsStream<TcpStream>) -> CertificateDer<'static> {
    tls.get_ref().1.peer_certificates().unwrap()[0].clone()
}

/// One keep-alive request on `tls`: the response's body.
async fn get(tls: &mut TlsStream<TcpStream>) -> String {
    tls.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .unwrap();
    let mut raw = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        let n = tls.read(&mut buf).await.unwrap();
        assert!(
            n > 0,
            "connection closed: {:?}",
            String::from_utf8_lossy(&raw)
        );
        raw.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&raw);
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            assert!(head.starts_with("HTTP/1.1 200"), "{head}");
            if body.len() >= "hello".len() {
                return body.to_owned();
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reloaded_certificate_is_served_to_new_connections() {
    tokio::time::timeout(WITHIN, async {
        let dir = scratch("reload");
        let (cert_path, key_path) = (dir.join("cert.pem"), dir.join("key.pem"));
        let (a_pem, a_key, a_der) = self_signed();
        let (b_pem, b_key, b_der) = self_signed();
        replace(&cert_path, &a_pem);
        replace(&key_path, &a_key);
        let cert = ReloadableCert::from_pem_files(&cert_path, &key_path).unwrap();
        let addr = start(HttpOptions {
            tls: Some(cert.acceptor().unwrap()),
            ..HttpOptions::default()
        })
        .await;
        let trusting = client(&[a_der.clone(), b_der.clone()], &[b"http/1.1"]);

        let mut first = connect(addr, &trusting).await.unwrap();
        assert_eq!(served(&first), a_der);
        assert_eq!(first.get_ref().1.alpn_protocol(), Some(&b"http/1.1"[..]));
        assert_eq!(get(&mut first).await, "hello");

        replace(&cert_path, &b_pem);
        replace(&key_path, &b_key);
        cert.reload().unwrap();
        let mut second = connect(addr, &trusting).await.unwrap();
        assert_eq!(served(&second), b_der);
        assert_eq!(get(&mut second).await, "hello");
        // The connection opened before the reload is still served.
        assert_eq!(get(&mut first).await, "hello");
        // A client that trusts A only is refused now.
        assert!(connect(addr, &client(std::slice::from_ref(&a_der), &[]))
            .await
            .is_err());

        // A certificate file cut short: the reload fails, B stays.
        replace(&cert_path, &a_pem[..a_pem.len() / 2]);
        assert!(cert.reload().is_err());
        let mut third = connect(addr, &trusting).await.unwrap();
        assert_eq!(served(&third), b_der);
        assert_eq!(get(&mut third).await, "hello");
        // A's certificate beside B's key: refused too.
        replace(&cert_path, &a_pem);
        assert!(cert.reload().is_err());
        assert_eq!(served(&connect(addr, &trusting).await.unwrap()), b_der);
        assert_eq!(get(&mut first).await, "hello");
        let _ = std::fs::remove_dir_all(&dir);
    })
    .await
    .expect("within 30 s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alpn_is_http_1_1_only() {
    tokio::time::timeout(WITHIN, async {
        let dir = scratch("alpn");
        let (pem, key, der) = self_signed();
        replace(&dir.join("cert.pem"), &pem);
        replace(&dir.join("key.pem"), &key);
        let cert =
            ReloadableCert::from_pem_files(dir.join("cert.pem"), dir.join("key.pem")).unwrap();
        let addr = start(HttpOptions {
            tls: Some(cert.acceptor().unwrap()),
            ..HttpOptions::default()
        })
        .await;
        let roots = [der];

        // h2 preferred, http/1.1 accepted: http/1.1.
        let mut both = connect(addr, &client(&roots, &[b"h2", b"http/1.1"]))
            .await
            .unwrap();
        assert_eq!(both.get_ref().1.alpn_protocol(), Some(&b"http/1.1"[..]));
        assert_eq!(get(&mut both).await, "hello");

        // h2 only: the handshake fails with no_application_protocol.
        let err = connect(addr, &client(&roots, &[b"h2"]))
            .await
            .expect_err("h2 alone is refused");
        let inner = err
            .get_ref()
            .and_then(|e| e.downcast_ref::<rustls::Error>())
            .unwrap_or_else(|| panic!("a rustls error: {err:?}"));
        assert_eq!(
            *inner,
            rustls::Error::AlertReceived(rustls::AlertDescription::NoApplicationProtocol),
        );

        // No ALPN at all: served, nothing negotiated.
        let mut none = connect(addr, &client(&roots, &[])).await.unwrap();
        assert_eq!(none.get_ref().1.alpn_protocol(), None);
        assert_eq!(get(&mut none).await, "hello");
        let _ = std::fs::remove_dir_all(&dir);
    })
    .await
    .expect("within 30 s");
}

/// Reads until the server closes `tcp` (or resets it).
async fn until_closed(tcp: &mut TcpStream) {
    let mut buf = [0u8; 1024];
    loop {
        match tcp.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
    }
}

/// The first bytes of a real ClientHello: half of it.
fn half_a_client_hello() -> Vec<u8> {
    let config = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_no_client_auth();
    let name = ServerName::try_from("localhost").unwrap();
    let mut conn = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
    let mut hello = Vec::new();
    conn.write_tls(&mut hello).unwrap();
    assert!(hello.len() > 100, "a ClientHello of {} bytes", hello.len());
    hello.truncate(hello.len() / 2);
    hello
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_tls_handshakes_time_out_without_holding_up_others() {
    tokio::time::timeout(WITHIN, async {
        let dir = scratch("timeout");
        let (pem, key, der) = self_signed();
        replace(&dir.join("cert.pem"), &pem);
        replace(&dir.join("key.pem"), &key);
        let cert =
            ReloadableCert::from_pem_files(dir.join("cert.pem"), dir.join("key.pem")).unwrap();
        let timeout = Duration::from_secs(2);
        let addr = start(HttpOptions {
            tls: Some(cert.acceptor().unwrap()),
            tls_handshake_timeout: timeout,
            // Far longer: the TLS timeout is the one that acts.
            header_read_timeout: Duration::from_secs(60),
            ..HttpOptions::default()
        })
        .await;

        let opened = Instant::now();
        let half = half_a_client_hello();
        let mut stalled = Vec::new();
        for i in 0..20 {
            let mut tcp = TcpStream::connect(addr).await.unwrap();
            if i % 2 == 1 {
                tcp.write_all(&half).await.unwrap();
            }
            stalled.push(tcp);
        }
        // Meanwhile another client is served at once.
        let mut good = connect(addr, &client(&[der], &[b"http/1.1"]))
            .await
            .unwrap();
        assert_eq!(get(&mut good).await, "hello");
        let served_in = opened.elapsed();
        assert!(
            served_in < timeout,
            "a good client took {served_in:?}, behind the stalled handshakes"
        );

        for mut tcp in stalled {
            until_closed(&mut tcp).await;
        }
        let closed_in = opened.elapsed();
        assert!(
            closed_in >= timeout - Duration::from_millis(100),
            "closed after {closed_in:?}, before the timeout"
        );
        assert!(
            closed_in < timeout + Duration::from_secs(8),
            "closed after {closed_in:?}"
        );
        // The good connection outlives the timeout.
        assert_eq!(get(&mut good).await, "hello");
        let _ = std::fs::remove_dir_all(&dir);
    })
    .await
    .expect("within 30 s");
}
