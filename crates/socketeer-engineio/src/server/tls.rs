//! TLS for the accept loop (feature `tls`): [`ReloadableCert`], a
//! certificate chain and private key read from PEM files that can be read
//! again while the server runs (new connections get the new certificate,
//! open ones keep theirs), and the rustls server settings socketeer serves
//! with: ALPN `http/1.1` only ([`ALPN_HTTP_1_1`]).

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

use crate::sync::RwLockExt;

/// The one ALPN protocol the server offers: HTTP/1.1 (WebSockets and
/// long-polling both run over it; there is no HTTP/2). A client that
/// offers ALPN without `http/1.1` (only `h2`, say) fails its handshake
/// with the TLS alert `no_application_protocol` (RFC 7301); a client that
/// offers no ALPN at all is served HTTP/1.1.
pub const ALPN_HTTP_1_1: &[u8] = b"http/1.1";

/// Why a certificate or key could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// The certificate file could not be read or is not PEM.
    #[error("cannot read the certificates in {path}: {source}")]
    Certificates {
        /// The certificate file.
        path: PathBuf,
        /// What went wrong.
        source: pem::Error,
    },
    /// The certificate file holds no certificate.
    #[error("no certificate in {path}")]
    NoCertificate {
        /// The certificate file.
        path: PathBuf,
    },
    /// The key file could not be read, is not PEM or holds no private key.
    #[error("cannot read the private key in {path}: {source}")]
    Key {
        /// The key file.
        path: PathBuf,
        /// What went wrong.
        source: pem::Error,
    },
    /// The key is not one rustls can sign with, or it is not the key of
    /// the first certificate of the chain.
    #[error("bad certificate or key ({cert}, {key}): {source}")]
    Invalid {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
        /// What rustls said.
        source: rustls::Error,
    },
    /// The crypto provider cannot make a server configuration.
    #[error("cannot make the TLS configuration: {0}")]
    Config(#[source] rustls::Error),
}

/// A server certificate chain and key read from PEM files, which
/// [`reload`](Self::reload) reads again: a certificate renewed on disk is
/// served without a restart. It is a rustls [`ResolvesServerCert`]: each
/// TLS handshake takes the certificate loaded at that moment, so
/// connections opened before a reload keep the old one and later ones get
/// the new one. A reload that fails (a file missing, half written, a key
/// that does not match) changes nothing: the previous certificate stays.
///
/// `socketeer serve --tls-cert --tls-key` reloads on `SIGHUP`; a server of
/// one's own calls `reload` when it likes:
///
/// ```no_run
/// use socketeer_engineio::server::{HttpOptions, ReloadableCert};
///
/// # fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let cert = ReloadableCert::from_pem_files("cert.pem", "key.pem")?;
/// let options = HttpOptions {
///     tls: Some(cert.acceptor()?),
///     ..HttpOptions::default()
/// };
/// // ... serve_http_with(listener, handler, shutdown, &options) ...
/// // Later, after the files have been replaced:
/// if let Err(e) = cert.reload() {
///     eprintln!("still serving the previous certificate: {e}");
/// }
/// # let _ = options; Ok(()) }
/// ```
pub struct ReloadableCert {
    cert_path: PathBuf,
    key_path: PathBuf,
    provider: Arc<CryptoProvider>,
    current: RwLock<Arc<CertifiedKey>>,
}

impl ReloadableCert {
    /// Reads the certificate chain (PEM, end-entity certificate first)
    /// from `cert` and its private key (PEM: PKCS#8, PKCS#1 or SEC1) from
    /// `key`, with rustls's `ring` crypto provider.
    pub fn from_pem_files(
        cert: impl Into<PathBuf>,
        key: impl Into<PathBuf>,
    ) -> Result<Arc<Self>, TlsError> {
        let cert_path = cert.into();
        let key_path = key.into();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let loaded = load(&cert_path, &key_path, &provider)?;
        Ok(Arc::new(ReloadableCert {
            cert_path,
            key_path,
            provider,
            current: RwLock::new(Arc::new(loaded)),
        }))
    }

    /// Reads the two files again and serves what they hold from the next
    /// TLS handshake on. On an error the certificate served so far stays.
    /// The files are read with blocking I/O: from async code, call it
    /// through `tokio::task::spawn_blocking` (they are small; a direct call
    /// blocks only briefly).
    pub fn reload(&self) -> Result<(), TlsError> {
        let loaded = load(&self.cert_path, &self.key_path, &self.provider)?;
        *self.current.write_ok() = Arc::new(loaded);
        Ok(())
    }

    /// The certificate chain and key served now.
    pub fn current(&self) -> Arc<CertifiedKey> {
        self.current.read_ok().clone()
    }

    /// The certificate chain file.
    pub fn cert_path(&self) -> &Path {
        &self.cert_path
    }

    /// The private key file.
    pub fn key_path(&self) -> &Path {
        &self.key_path
    }

    /// A rustls server configuration that serves this certificate (as it
    /// is at each handshake), TLS 1.2 and 1.3, no client certificates,
    /// ALPN [`ALPN_HTTP_1_1`] only.
    pub fn server_config(self: &Arc<Self>) -> Result<rustls::ServerConfig, TlsError> {
        let mut config = rustls::ServerConfig::builder_with_provider(self.provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(TlsError::Config)?
            .with_no_client_auth()
            .with_cert_resolver(self.clone());
        config.alpn_protocols = vec![ALPN_HTTP_1_1.to_vec()];
        Ok(config)
    }

    /// [`server_config`](Self::server_config) as the acceptor of
    /// [`HttpOptions::tls`](super::HttpOptions::tls).
    pub fn acceptor(self: &Arc<Self>) -> Result<tokio_rustls::TlsAcceptor, TlsError> {
        Ok(tokio_rustls::TlsAcceptor::from(Arc::new(
            self.server_config()?,
        )))
    }
}

impl std::fmt::Debug for ReloadableCert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReloadableCert")
            .field("cert_path", &self.cert_path)
            .field("key_path", &self.key_path)
            .finish_non_exhaustive()
    }
}

impl ResolvesServerCert for ReloadableCert {
    fn resolve(&self, _: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current())
    }
}

/// Reads and checks a chain and its key.
fn load(cert: &Path, key: &Path, provider: &CryptoProvider) -> Result<CertifiedKey, TlsError> {
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|source| TlsError::Certificates {
            path: cert.to_owned(),
            source,
        })?;
    if chain.is_empty() {
        return Err(TlsError::NoCertificate {
            path: cert.to_owned(),
        });
    }
    let private = PrivateKeyDer::from_pem_file(key).map_err(|source| TlsError::Key {
        path: key.to_owned(),
        source,
    })?;
    CertifiedKey::from_der(chain, private, provider).map_err(|source| TlsError::Invalid {
        cert: cert.to_owned(),
        key: key.to_owned(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A directory of its own under the system's temporary directory.
    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("socketeer-tls-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// A self-signed certificate for `host`: (certificate PEM, key PEM, DER).
    fn self_signed(host: &str) -> (String, String, Vec<u8>) {
        let c = rcgen::generate_simple_self_signed(vec![host.to_owned()]).unwrap();
        (
            c.cert.pem(),
            c.signing_key.serialize_pem(),
            c.cert.der().to_vec(),
        )
    }

    fn served(cert: &ReloadableCert) -> Vec<u8> {
        cert.current().end_entity_cert().unwrap().to_vec()
    }

    #[test]
    fn reload_swaps_the_certificate_and_a_bad_one_keeps_the_last() {
        let dir = scratch("reload");
        let (cert_path, key_path) = (dir.join("cert.pem"), dir.join("key.pem"));
        let (a_cert, a_key, a_der) = self_signed("a.test");
        let (b_cert, b_key, b_der) = self_signed("b.test");
        std::fs::write(&cert_path, &a_cert).unwrap();
        std::fs::write(&key_path, &a_key).unwrap();
        let cert = ReloadableCert::from_pem_files(&cert_path, &key_path).unwrap();
        assert_eq!(served(&cert), a_der);

        std::fs::write(&cert_path, &b_cert).unwrap();
        std::fs::write(&key_path, &b_key).unwrap();
        cert.reload().unwrap();
        assert_eq!(served(&cert), b_der);

        // B's certificate with A's key: refused, B stays.
        std::fs::write(&key_path, &a_key).unwrap();
        let err = cert.reload().unwrap_err();
        assert!(matches!(err, TlsError::Invalid { .. }), "{err}");
        assert_eq!(served(&cert), b_der);
        // A truncated certificate file, then an empty one, then none.
        std::fs::write(&key_path, &b_key).unwrap();
        std::fs::write(&cert_path, &b_cert[..b_cert.len() / 2]).unwrap();
        let err = cert.reload().unwrap_err();
        assert!(matches!(err, TlsError::Certificates { .. }), "{err}");
        std::fs::write(&cert_path, "").unwrap();
        let err = cert.reload().unwrap_err();
        assert!(matches!(err, TlsError::NoCertificate { .. }), "{err}");
        std::fs::remove_file(&key_path).unwrap();
        std::fs::write(&cert_path, &b_cert).unwrap();
        let err = cert.reload().unwrap_err();
        assert!(matches!(err, TlsError::Key { .. }), "{err}");
        assert!(err.to_string().contains("key.pem"), "{err}");
        assert_eq!(served(&cert), b_der);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_first_load_reports_bad_files() {
        let err =
            ReloadableCert::from_pem_files("/nonexistent/c.pem", "/nonexistent/k.pem").unwrap_err();
        assert!(err.to_string().contains("/nonexistent/c.pem"), "{err}");
    }

    #[test]
    fn the_config_offers_http_1_1_only() {
        let dir = scratch("alpn");
        let (cert_pem, key_pem, _) = self_signed("localhost");
        std::fs::write(dir.join("c.pem"), cert_pem).unwrap();
        std::fs::write(dir.join("k.pem"), key_pem).unwrap();
        let cert = ReloadableCert::from_pem_files(dir.join("c.pem"), dir.join("k.pem")).unwrap();
        let config = cert.server_config().unwrap();
        assert_eq!(config.alpn_protocols, vec![b"http/1.1".to_vec()]);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
