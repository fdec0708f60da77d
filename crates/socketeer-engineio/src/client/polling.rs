//! The HTTP side of the polling transport: HTTP/1.1 requests over hyper's
//! connection API, on kept-alive connections (plain TCP or rustls).
//!
//! The driver runs at most one GET and one POST at a time, each on its own
//! *lane*: a connection kept between the requests of that lane.

use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, CONTENT_TYPE, COOKIE, HOST, SET_COOKIE};
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use socketeer_ws::handshake::WsUrl;
use socketeer_ws::MaybeTlsStream;
use tokio::net::TcpStream;

use super::cookies::CookieJar;
use super::handle::Error;
use crate::sync::LockExt;

/// A kept-alive HTTP/1.1 connection (`None`: connect on next use).
pub(crate) type Lane = Option<SendRequest<Full<Bytes>>>;

/// Where polling requests go, and how.
pub(crate) struct HttpTarget {
    url: WsUrl,
    host_header: HeaderValue,
    headers: Vec<(HeaderName, HeaderValue)>,
    tls: Option<tokio_rustls::TlsConnector>,
    /// Largest response body accepted.
    max_body: usize,
    /// The session's cookies (`with_credentials`), shared with the
    /// WebSocket handshakes.
    jar: Option<Arc<Mutex<CookieJar>>>,
}

impl std::fmt::Debug for HttpTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpTarget")
            .field("host", &self.url.host)
            .field("port", &self.url.port)
            .field("tls", &self.url.tls)
            .finish_non_exhaustive()
    }
}

impl HttpTarget {
    pub(crate) fn new(
        url: &WsUrl,
        headers: &[(String, String)],
        tls: Option<Arc<rustls::ClientConfig>>,
        max_body: usize,
        jar: Option<Arc<Mutex<CookieJar>>>,
    ) -> Result<HttpTarget, Error> {
        let host_header =
            HeaderValue::from_str(&url.host_header()).map_err(|_| Error::Url(url.host.clone()))?;
        let headers = headers
            .iter()
            .map(|(k, v)| {
                let name = HeaderName::from_bytes(k.as_bytes())
                    .map_err(|_| Error::InvalidHeader(k.clone()))?;
                let value =
                    HeaderValue::from_str(v).map_err(|_| Error::InvalidHeader(k.clone()))?;
                Ok((name, value))
            })
            .collect::<Result<Vec<_>, Error>>()?;
        let tls = match (tls, url.tls) {
            (Some(config), true) => Some(tokio_rustls::TlsConnector::from(config)),
            (None, true) => Some(tokio_rustls::TlsConnector::from(default_tls_config()?)),
            (_, false) => None,
        };
        Ok(HttpTarget {
            url: url.clone(),
            host_header,
            headers,
            tls,
            max_body,
            jar,
        })
    }

    async fn connect(&self) -> Result<SendRequest<Full<Bytes>>, Error> {
        let tcp = TcpStream::connect((self.url.host.as_str(), self.url.port)).await?;
        tcp.set_nodelay(true)?;
        let io = match &self.tls {
            Some(connector) => {
                let name = rustls::pki_types::ServerName::try_from(self.url.host.clone())
                    .map_err(|_| Error::Url(self.url.host.clone()))?;
                let tcp = socketeer_ws::read_ahead::ReadAhead::new(tcp);
                MaybeTlsStream::Tls(Box::new(connector.connect(name, tcp).await?))
            }
            None => MaybeTlsStream::Plain(tcp),
        };
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io)).await?;
        // The connection task ends when the sender is dropped (or the peer
        // closes): it never outlives the session.
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "polling connection ended");
            }
        });
        Ok(sender)
    }

    fn request(
        &self,
        method: &Method,
        path: &str,
        body: &Option<Bytes>,
    ) -> Result<Request<Full<Bytes>>, Error> {
        let mut req = Request::new(Full::new(body.clone().unwrap_or_default()));
        *req.method_mut() = method.clone();
        *req.uri_mut() = path.parse().map_err(|_| Error::Url(path.to_owned()))?;
        let headers = req.headers_mut();
        headers.insert(HOST, self.host_header.clone());
        for (k, v) in &self.headers {
            headers.append(k.clone(), v.clone());
        }
        if let Some(cookie) = self
            .jar
            .as_ref()
            .and_then(|j| j.locked().header(SystemTime::now()))
        {
            if let Ok(v) = HeaderValue::from_str(&cookie) {
                headers.append(COOKIE, v);
            }
        }
        if body.is_some() {
            headers.insert(
                CONTENT_TYPE,
                HeaderValue::from_static("text/plain;charset=UTF-8"),
            );
        }
        Ok(req)
    }

    /// Sends one request on `lane` (reusing its connection, or a new one
    /// when it has none or it closed before the request left) and reads
    /// the whole response body. Returns the lane for the next request.
    pub(crate) async fn send(
        self: Arc<Self>,
        mut lane: Lane,
        method: Method,
        path: String,
        body: Option<Bytes>,
    ) -> (Lane, Result<Bytes, Error>) {
        let result = async {
            let response = loop {
                let reused = lane.is_some();
                let mut sender = match lane.take() {
                    Some(mut s) => match s.ready().await {
                        Ok(()) => s,
                        Err(_) => self.connect().await?,
                    },
                    None => self.connect().await?,
                };
                match sender
                    .try_send_request(self.request(&method, &path, &body)?)
                    .await
                {
                    Ok(response) => {
                        lane = Some(sender);
                        break response;
                    }
                    // A kept-alive connection closed under us before the
                    // request left: once more on a new one.
                    Err(mut e) => {
                        if reused && e.take_message().is_some() {
                            continue;
                        }
                        return Err(Error::Http(e.into_error()));
                    }
                }
            };
            let status = response.status();
            if let Some(jar) = &self.jar {
                let mut jar = jar.locked();
                let now = SystemTime::now();
                for v in response.headers().get_all(SET_COOKIE) {
                    if let Ok(v) = v.to_str() {
                        jar.store(v, now);
                    }
                }
            }
            let body = Limited::new(response.into_body(), self.max_body)
                .collect()
                .await
                .map_err(|e| match e.downcast::<hyper::Error>() {
                    Ok(e) => Error::Http(*e),
                    Err(e) => Error::BodyTooLarge(e.to_string()),
                })?
                .to_bytes();
            if status != StatusCode::OK {
                return Err(Error::Status(
                    status,
                    String::from_utf8_lossy(&body).into_owned(),
                ));
            }
            Ok(body)
        }
        .await;
        if result.is_err() {
            lane = None;
        }
        (lane, result)
    }
}

/// rustls with the webpki roots (as `socketeer_ws::connect` uses).
pub(crate) fn default_tls_config() -> Result<Arc<rustls::ClientConfig>, Error> {
    let roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| Error::Tls(e.to_string()))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(Arc::new(config))
}
