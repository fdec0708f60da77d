//! The TLS client of the `wss://` runs: rustls with the `ring` provider (as
//! socketeer's own client and server), trusting the certificates of `--ca`
//! only, TLS 1.2 and 1.3, ALPN `http/1.1`, and no session resumption: every
//! connection of the generator stands for a new client, so every handshake
//! is a full one.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

/// What connects TLS over a TCP stream to one server.
#[derive(Clone)]
pub struct Tls {
    connector: TlsConnector,
    name: ServerName<'static>,
}

impl Tls {
    /// A client for `host` (name or IP address, checked against the
    /// certificate) trusting the PEM certificates of `ca`.
    pub fn new(ca: &Path, host: &str) -> Result<Tls, String> {
        let mut roots = rustls::RootCertStore::empty();
        let certs = CertificateDer::pem_file_iter(ca).map_err(|e| format!("--ca {ca:?}: {e}"))?;
        for cert in certs {
            let cert = cert.map_err(|e| format!("--ca {ca:?}: {e}"))?;
            roots.add(cert).map_err(|e| format!("--ca {ca:?}: {e}"))?;
        }
        if roots.is_empty() {
            return Err(format!("--ca {ca:?}: no certificate in the file"));
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS configuration: {e}"))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        config.resumption = rustls::client::Resumption::disabled();
        let name = ServerName::try_from(host.to_string())
            .map_err(|e| format!("TLS server name {host:?}: {e}"))?;
        Ok(Tls {
            connector: TlsConnector::from(Arc::new(config)),
            name,
        })
    }

    /// The TLS handshake over `tcp`.
    pub async fn connect(&self, tcp: TcpStream) -> Result<TlsStream<TcpStream>, String> {
        self.connector
            .connect(self.name.clone(), tcp)
            .await
            .map_err(|e| format!("TLS handshake: {e}"))
    }
}

/// The TLS client of `target` when it is a `wss://` one (`--ca` is then
/// required), none for `ws://`.
pub fn for_target(target: &super::net::Target, ca: Option<&Path>) -> Result<Option<Tls>, String> {
    match (target.tls, ca) {
        (false, _) => Ok(None),
        (true, Some(ca)) => Tls::new(ca, &target.host).map(Some),
        (true, None) => Err("a wss:// URL needs --ca FILE (the server's certificate, PEM)".into()),
    }
}
