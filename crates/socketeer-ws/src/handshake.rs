//! The opening handshake (RFC 6455 §4), without I/O: parse a request and
//! build the response (server), build a request and check the response
//! (client).

use base64::Engine as _;
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode};
use sha1::{Digest, Sha1};

use crate::deflate::{self, DeflateConfig, DeflateParams};

/// The GUID of RFC 6455 §1.3.
const WS_GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// Default bound on the size of a handshake request or response head.
pub const DEFAULT_MAX_HEADER_SIZE: usize = 16 * 1024;

/// Most header lines parsed in a handshake.
const MAX_HEADERS: usize = 64;

/// Why a handshake failed. On the server each maps to an HTTP status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HandshakeError {
    /// The request or response is not valid HTTP/1.1.
    #[error("malformed HTTP: {0}")]
    Malformed(String),
    /// The head is larger than the configured limit.
    #[error("handshake header over {0} bytes")]
    HeaderTooLarge(usize),
    /// Not a GET request.
    #[error("method {0} is not GET")]
    Method(String),
    /// Missing or wrong `Upgrade: websocket` / `Connection: upgrade`.
    #[error("not a WebSocket upgrade request: {0}")]
    NotUpgrade(&'static str),
    /// `Sec-WebSocket-Version` is not 13.
    #[error("unsupported WebSocket version (13 required)")]
    Version,
    /// `Sec-WebSocket-Key` missing or not 16 base64-encoded bytes.
    #[error("missing or invalid Sec-WebSocket-Key")]
    Key,
    /// The request was refused by the application (e.g. its Origin).
    #[error("rejected: {reason}")]
    Rejected {
        /// The HTTP status to answer with.
        status: u16,
        /// Why.
        reason: String,
    },
    /// The server did not answer 101 Switching Protocols.
    #[error("server answered {status}")]
    Status {
        /// The status received.
        status: u16,
    },
    /// The server's `Sec-WebSocket-Accept` does not match our key.
    #[error("Sec-WebSocket-Accept mismatch")]
    AcceptMismatch,
    /// The server chose a subprotocol we did not offer.
    #[error("server chose a subprotocol we did not offer")]
    Subprotocol,
    /// The server's extension response is unacceptable.
    #[error("extension negotiation failed: {0}")]
    Extension(String),
    /// The handshake did not finish in time.
    #[error("handshake timed out")]
    Timeout,
    /// The connection closed during the handshake.
    #[error("connection closed during handshake")]
    Eof,
    /// The URL is not a valid ws:// or wss:// URL.
    #[error("invalid URL: {0}")]
    Url(String),
    /// The server is shutting down.
    #[error("server shutting down")]
    ShuttingDown,
}

impl HandshakeError {
    /// The HTTP status a server answers this error with.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::HeaderTooLarge(_) => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            Self::Method(_) => StatusCode::METHOD_NOT_ALLOWED,
            Self::NotUpgrade(_) | Self::Version => StatusCode::UPGRADE_REQUIRED,
            Self::Rejected { status, .. } => {
                StatusCode::from_u16(*status).unwrap_or(StatusCode::FORBIDDEN)
            }
            Self::Timeout => StatusCode::REQUEST_TIMEOUT,
            Self::ShuttingDown => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::BAD_REQUEST,
        }
    }
}

/// The `Sec-WebSocket-Accept` value for a `Sec-WebSocket-Key`.
pub fn accept_key(key: &[u8]) -> String {
    let mut sha = Sha1::new();
    sha.update(key);
    sha.update(WS_GUID.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(sha.finalize())
}

/// A fresh random `Sec-WebSocket-Key`.
pub fn generate_key() -> String {
    let mut nonce = [0u8; 16];
    let _ = getrandom::fill(&mut nonce);
    base64::engine::general_purpose::STANDARD.encode(nonce)
}

/// Parses an HTTP/1.1 request head from the start of `buf`.
///
/// `Ok(None)`: incomplete (and still under `max_size`). On success returns
/// the request and the number of bytes of head consumed.
pub fn parse_request(
    buf: &[u8],
    max_size: usize,
) -> Result<Option<(Request<()>, usize)>, HandshakeError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let status = req
        .parse(buf)
        .map_err(|e| HandshakeError::Malformed(e.to_string()))?;
    let len = match status {
        httparse::Status::Partial => {
            if buf.len() > max_size {
                return Err(HandshakeError::HeaderTooLarge(max_size));
            }
            return Ok(None);
        }
        httparse::Status::Complete(len) => len,
    };
    if len > max_size {
        return Err(HandshakeError::HeaderTooLarge(max_size));
    }
    if req.version != Some(1) {
        return Err(HandshakeError::Malformed("HTTP/1.1 required".into()));
    }
    let method = req.method.unwrap_or_default();
    let mut builder = Request::builder()
        .method(
            Method::from_bytes(method.as_bytes())
                .map_err(|_| HandshakeError::Malformed("bad method".into()))?,
        )
        .uri(req.path.unwrap_or("/"));
    for h in req.headers.iter() {
        builder = builder.header(h.name, h.value);
    }
    let request = builder
        .body(())
        .map_err(|e| HandshakeError::Malformed(e.to_string()))?;
    Ok(Some((request, len)))
}

/// Whether a comma-separated header of `headers` (`Connection`,
/// `Upgrade`, ...) lists `token`, compared without case.
pub fn header_has_token(
    headers: &HeaderMap,
    name: impl http::header::AsHeaderName,
    token: &str,
) -> bool {
    headers
        .get_all(name)
        .iter()
        .any(|v| value_has_token(v, token))
}

/// Whether one comma-separated header value lists `token`, compared
/// without case (a value that is not visible ASCII lists nothing).
pub fn value_has_token(value: &HeaderValue, token: &str) -> bool {
    value_tokens(value.as_bytes()).any(|t| t.eq_ignore_ascii_case(token))
}

/// The tokens of one comma-separated header value, trimmed (none for a
/// value that is not visible ASCII, as `HeaderValue::to_str` reads it):
/// for a caller that looks for several in one pass, or that has the
/// value's bytes only.
pub fn value_tokens(value: &[u8]) -> impl Iterator<Item = &str> {
    let visible = value.iter().all(|&b| b == b'\t' || (32..127).contains(&b));
    let text = if visible {
        std::str::from_utf8(value).unwrap_or("")
    } else {
        ""
    };
    text.split(',').map(str::trim)
}

/// Checks that a request is a valid WebSocket upgrade and returns its key.
pub fn validate_request<B>(req: &Request<B>) -> Result<HeaderValue, HandshakeError> {
    if req.method() != Method::GET {
        return Err(HandshakeError::Method(req.method().to_string()));
    }
    let headers = req.headers();
    if !header_has_token(headers, "upgrade", "websocket") {
        return Err(HandshakeError::NotUpgrade("missing Upgrade: websocket"));
    }
    if !header_has_token(headers, "connection", "upgrade") {
        return Err(HandshakeError::NotUpgrade("missing Connection: upgrade"));
    }
    if headers
        .get("sec-websocket-version")
        .map(|v| v.as_bytes() != b"13")
        .unwrap_or(true)
    {
        return Err(HandshakeError::Version);
    }
    let key = headers
        .get("sec-websocket-key")
        .ok_or(HandshakeError::Key)?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(key.as_bytes())
        .map_err(|_| HandshakeError::Key)?;
    if decoded.len() != 16 {
        return Err(HandshakeError::Key);
    }
    Ok(key.clone())
}

/// What a server is willing to accept in a handshake.
#[derive(Debug, Clone, Default)]
pub struct AcceptConfig {
    /// Subprotocols the server speaks, in order of preference.
    pub subprotocols: Vec<String>,
    /// permessage-deflate settings; `None` declines compression.
    pub deflate: Option<DeflateConfig>,
}

/// The outcome of a successful server handshake.
#[derive(Debug, Clone)]
pub struct Accepted {
    /// The 101 response.
    pub response: Response<()>,
    /// The subprotocol chosen, if any.
    pub subprotocol: Option<String>,
    /// The permessage-deflate parameters agreed, if any.
    pub deflate: Option<DeflateParams>,
}

/// Comma-separated tokens of every instance of a header.
fn header_tokens(headers: &HeaderMap, name: &str) -> Vec<String> {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|s| s.split(','))
        .map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty())
        .collect()
}

/// Validates an upgrade request and builds the 101 response: accept key,
/// subprotocol (the server's most preferred one the client offered) and
/// permessage-deflate.
pub fn accept<B>(req: &Request<B>, config: &AcceptConfig) -> Result<Accepted, HandshakeError> {
    let key = validate_request(req)?;
    let headers = req.headers();
    let offered = header_tokens(headers, "sec-websocket-protocol");
    let subprotocol = config
        .subprotocols
        .iter()
        .find(|p| offered.iter().any(|o| o == *p))
        .cloned();
    let mut deflate_params = None;
    let mut builder = Response::builder()
        .status(StatusCode::SWITCHING_PROTOCOLS)
        .header("upgrade", "websocket")
        .header("connection", "Upgrade")
        .header("sec-websocket-accept", accept_key(key.as_bytes()));
    if let Some(p) = &subprotocol {
        builder = builder.header("sec-websocket-protocol", p.as_str());
    }
    if let Some(dc) = &config.deflate {
        let offers: Vec<&str> = headers
            .get_all("sec-websocket-extensions")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        if !offers.is_empty() {
            if let Some((params, value)) = deflate::server_negotiate(&offers.join(", "), dc) {
                builder = builder.header("sec-websocket-extensions", value);
                deflate_params = Some(params);
            }
        }
    }
    let response = builder
        .body(())
        .map_err(|e| HandshakeError::Malformed(e.to_string()))?;
    Ok(Accepted {
        response,
        subprotocol,
        deflate: deflate_params,
    })
}

/// Serialises a response head.
pub fn write_response(resp: &Response<()>, out: &mut Vec<u8>) {
    let status = resp.status();
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(status.canonical_reason().unwrap_or("").as_bytes());
    out.extend_from_slice(b"\r\n");
    for (name, value) in resp.headers() {
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

/// A complete error response for a refused handshake, with the reason as
/// a plain-text body (and, for 426, the version we speak).
pub fn error_response(err: &HandshakeError) -> Vec<u8> {
    let status = err.status();
    let body = format!("{err}\n");
    let mut out = Vec::with_capacity(160 + body.len());
    out.extend_from_slice(
        format!(
            "HTTP/1.1 {} {}\r\n",
            status.as_str(),
            status.canonical_reason().unwrap_or("")
        )
        .as_bytes(),
    );
    if status == StatusCode::UPGRADE_REQUIRED {
        out.extend_from_slice(b"Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n");
    }
    out.extend_from_slice(
        format!(
            "Content-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        )
        .as_bytes(),
    );
    out.extend_from_slice(body.as_bytes());
    out
}

/// A `ws://` or `wss://` URL split into its parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WsUrl {
    /// `wss://`.
    pub tls: bool,
    /// Host name or IP literal (without brackets).
    pub host: String,
    /// Port (default 80 / 443).
    pub port: u16,
    /// Path and query, starting with `/`.
    pub path: String,
}

impl WsUrl {
    /// Parses `ws://host[:port][/path][?query]` (also `http(s)://`).
    pub fn parse(url: &str) -> Result<WsUrl, HandshakeError> {
        let bad = || HandshakeError::Url(url.to_owned());
        let (tls, rest) = if let Some(r) = url.strip_prefix("ws://") {
            (false, r)
        } else if let Some(r) = url.strip_prefix("wss://") {
            (true, r)
        } else if let Some(r) = url.strip_prefix("http://") {
            (false, r)
        } else if let Some(r) = url.strip_prefix("https://") {
            (true, r)
        } else {
            return Err(bad());
        };
        let (authority, path) = match rest.find(['/', '?']) {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let path = if path.starts_with('?') {
            format!("/{path}")
        } else {
            path.to_owned()
        };
        let path = path.split('#').next().unwrap_or("/").to_owned();
        if authority.is_empty() || authority.contains('@') {
            return Err(bad());
        }
        let default_port = if tls { 443 } else { 80 };
        let (host, port) = if let Some(stripped) = authority.strip_prefix('[') {
            let end = stripped.find(']').ok_or_else(bad)?;
            let host = &stripped[..end];
            let port = match &stripped[end + 1..] {
                "" => default_port,
                p => p
                    .strip_prefix(':')
                    .and_then(|p| p.parse().ok())
                    .ok_or_else(bad)?,
            };
            (host.to_owned(), port)
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h.to_owned(), p.parse().map_err(|_| bad())?),
                None => (authority.to_owned(), default_port),
            }
        };
        if host.is_empty() {
            return Err(bad());
        }
        Ok(WsUrl {
            tls,
            host,
            port,
            path,
        })
    }

    /// The `Host` header value.
    pub fn host_header(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        let default = if self.tls { 443 } else { 80 };
        if self.port == default {
            host
        } else {
            format!("{host}:{}", self.port)
        }
    }
}

/// What a client asks for in its handshake.
#[derive(Debug, Clone, Default)]
pub struct ClientConfig {
    /// Subprotocols offered, in order of preference.
    pub subprotocols: Vec<String>,
    /// Extra request headers (e.g. `Origin`, `Authorization`).
    pub headers: Vec<(String, String)>,
    /// permessage-deflate offer; `None` offers no compression.
    pub deflate: Option<DeflateConfig>,
}

/// Builds a client upgrade request for `url` with the given key.
pub fn client_request(url: &WsUrl, key: &str, config: &ClientConfig) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(b"GET ");
    out.extend_from_slice(url.path.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\nHost: ");
    out.extend_from_slice(url.host_header().as_bytes());
    out.extend_from_slice(b"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ");
    out.extend_from_slice(key.as_bytes());
    out.extend_from_slice(b"\r\n");
    if !config.subprotocols.is_empty() {
        out.extend_from_slice(b"Sec-WebSocket-Protocol: ");
        out.extend_from_slice(config.subprotocols.join(", ").as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    if let Some(dc) = &config.deflate {
        out.extend_from_slice(b"Sec-WebSocket-Extensions: ");
        out.extend_from_slice(deflate::client_offer(dc).as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    for (k, v) in &config.headers {
        // Header injection guard: drop values with line breaks.
        if k.contains(['\r', '\n', ':']) || v.contains(['\r', '\n']) {
            continue;
        }
        out.extend_from_slice(k.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(v.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// What the server agreed to.
#[derive(Debug, Clone, Default)]
pub struct Negotiated {
    /// The subprotocol the server chose.
    pub subprotocol: Option<String>,
    /// permessage-deflate parameters, if accepted.
    pub deflate: Option<DeflateParams>,
}

/// Parses a response head from the start of `buf`; `Ok(None)` if
/// incomplete. Returns the status, headers and head length.
pub fn parse_response(
    buf: &[u8],
    max_size: usize,
) -> Result<Option<(Response<()>, usize)>, HandshakeError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut resp = httparse::Response::new(&mut headers);
    let status = resp
        .parse(buf)
        .map_err(|e| HandshakeError::Malformed(e.to_string()))?;
    let len = match status {
        httparse::Status::Partial => {
            if buf.len() > max_size {
                return Err(HandshakeError::HeaderTooLarge(max_size));
            }
            return Ok(None);
        }
        httparse::Status::Complete(len) => len,
    };
    let mut builder = Response::builder().status(resp.code.unwrap_or(0));
    for h in resp.headers.iter() {
        builder = builder.header(h.name, h.value);
    }
    let response = builder
        .body(())
        .map_err(|e| HandshakeError::Malformed(e.to_string()))?;
    Ok(Some((response, len)))
}

/// Checks the server's response to our request with `key`.
pub fn validate_response(
    resp: &Response<()>,
    key: &str,
    config: &ClientConfig,
) -> Result<Negotiated, HandshakeError> {
    if resp.status() != StatusCode::SWITCHING_PROTOCOLS {
        return Err(HandshakeError::Status {
            status: resp.status().as_u16(),
        });
    }
    let headers = resp.headers();
    if !header_has_token(headers, "upgrade", "websocket") {
        return Err(HandshakeError::NotUpgrade("missing Upgrade: websocket"));
    }
    if !header_has_token(headers, "connection", "upgrade") {
        return Err(HandshakeError::NotUpgrade("missing Connection: upgrade"));
    }
    let expected = accept_key(key.as_bytes());
    if headers
        .get("sec-websocket-accept")
        .map(|v| v.as_bytes() != expected.as_bytes())
        .unwrap_or(true)
    {
        return Err(HandshakeError::AcceptMismatch);
    }
    let subprotocol = match headers.get("sec-websocket-protocol") {
        None => None,
        Some(v) => {
            let p = v.to_str().map_err(|_| HandshakeError::Subprotocol)?;
            if !config.subprotocols.iter().any(|o| o == p) {
                return Err(HandshakeError::Subprotocol);
            }
            Some(p.to_owned())
        }
    };
    let extensions: Vec<&str> = headers
        .get_all("sec-websocket-extensions")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    let deflate = if extensions.is_empty() {
        None
    } else {
        let dc = config.deflate.as_ref().ok_or_else(|| {
            HandshakeError::Extension("server sent extensions we did not offer".into())
        })?;
        Some(
            deflate::client_negotiate(&extensions.join(", "), dc)
                .map_err(|e| HandshakeError::Extension(e.to_string()))?,
        )
    };
    Ok(Negotiated {
        subprotocol,
        deflate,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const REQ: &[u8] = b"GET /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nOrigin: http://example.com\r\nSec-WebSocket-Protocol: chat, superchat\r\nSec-WebSocket-Version: 13\r\n\r\n";

    #[test]
    fn rfc_accept_key() {
        assert_eq!(
            accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    #[test]
    fn accepts_rfc_request_and_picks_subprotocol() {
        let (req, len) = parse_request(REQ, DEFAULT_MAX_HEADER_SIZE)
            .unwrap()
            .unwrap();
        assert_eq!(len, REQ.len());
        let config = AcceptConfig {
            subprotocols: vec!["superchat".into(), "chat".into()],
            deflate: None,
        };
        let acc = accept(&req, &config).unwrap();
        assert_eq!(acc.subprotocol.as_deref(), Some("superchat"));
        let mut out = Vec::new();
        write_response(&acc.response, &mut out);
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("HTTP/1.1 101 Switching Protocols\r\n"));
        assert!(text.contains("sec-websocket-accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"));
    }

    #[test]
    fn incomplete_and_oversized_heads() {
        for n in 0..REQ.len() {
            assert!(parse_request(&REQ[..n], DEFAULT_MAX_HEADER_SIZE)
                .unwrap()
                .is_none());
        }
        let mut big = b"GET / HTTP/1.1\r\nX: ".to_vec();
        big.extend(std::iter::repeat_n(b'a', 20_000));
        assert!(matches!(
            parse_request(&big, DEFAULT_MAX_HEADER_SIZE),
            Err(HandshakeError::HeaderTooLarge(DEFAULT_MAX_HEADER_SIZE))
        ));
    }

    #[test]
    fn bad_requests_get_the_right_status() {
        let cases: &[(&[u8], u16)] = &[
            (b"POST / HTTP/1.1\r\nHost: a\r\n\r\n", 405),
            (b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", 426),
            (b"GET / HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 8\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n", 426),
            (b"GET / HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: short\r\n\r\n", 400),
            (b"GET / HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n", 400),
        ];
        for (raw, status) in cases {
            let (req, _) = parse_request(raw, DEFAULT_MAX_HEADER_SIZE)
                .unwrap()
                .unwrap();
            let err = accept(&req, &AcceptConfig::default()).unwrap_err();
            assert_eq!(err.status().as_u16(), *status, "{err}");
            let resp = String::from_utf8(error_response(&err)).unwrap();
            assert!(resp.starts_with(&format!("HTTP/1.1 {status} ")));
        }
        assert!(matches!(
            parse_request(b"\x16\x03\x01garbage\r\n\r\n", DEFAULT_MAX_HEADER_SIZE),
            Err(HandshakeError::Malformed(_))
        ));
    }

    #[test]
    fn client_round_trip() {
        let url = WsUrl::parse("ws://localhost:9001/path?x=1").unwrap();
        assert_eq!(url.path, "/path?x=1");
        let key = generate_key();
        let config = ClientConfig {
            subprotocols: vec!["chat".into()],
            ..Default::default()
        };
        let raw = client_request(&url, &key, &config);
        let (req, _) = parse_request(&raw, DEFAULT_MAX_HEADER_SIZE)
            .unwrap()
            .unwrap();
        let acc = accept(
            &req,
            &AcceptConfig {
                subprotocols: vec!["chat".into()],
                deflate: None,
            },
        )
        .unwrap();
        let mut out = Vec::new();
        write_response(&acc.response, &mut out);
        let (resp, _) = parse_response(&out, DEFAULT_MAX_HEADER_SIZE)
            .unwrap()
            .unwrap();
        let n = validate_response(&resp, &key, &config).unwrap();
        assert_eq!(n.subprotocol.as_deref(), Some("chat"));
        assert!(matches!(
            validate_response(&resp, &generate_key(), &config),
            Err(HandshakeError::AcceptMismatch)
        ));
    }

    #[test]
    fn urls() {
        assert_eq!(
            WsUrl::parse("wss://[::1]/x").unwrap(),
            WsUrl {
                tls: true,
                host: "::1".into(),
                port: 443,
                path: "/x".into()
            }
        );
        assert_eq!(WsUrl::parse("ws://h?q").unwrap().path, "/?q");
        assert!(WsUrl::parse("ftp://h").is_err());
        assert!(WsUrl::parse("ws://:80").is_err());
        assert!(WsUrl::parse("ws://h:99999").is_err());
    }
}
