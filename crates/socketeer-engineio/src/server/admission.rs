//! Admission of a request: the copy of it the application keeps
//! ([`RequestInfo`]), the `allow_request` hooks, refusals with the official
//! errors (reported to the `connection_error` hook), and the session
//! cookie and `initial_headers` of a handshake's response.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http::header::HeaderValue;
use http::{Request, Response, StatusCode};

use super::engine::{EngineIo, Full};
use super::hooks::ConnectionError;
use super::metrics::{self, Refusal};
use super::response::{error, json, Body, EngineError};
use super::socket::RequestInfo;

/// A copy of `uri` in storage of its own. hyper parses the request line
/// in place: its URI shares the connection's read buffer (8 KiB), which a
/// session kept for its lifetime would pin.
fn owned_uri(uri: http::Uri) -> http::Uri {
    let owned = Bytes::copy_from_slice(uri.to_string().as_bytes());
    http::Uri::from_maybe_shared(owned).unwrap_or(uri)
}

/// A copy of `headers` whose values own their bytes (see [`owned_uri`]:
/// hyper's header values are slices of the connection's read buffer).
fn owned_headers(headers: &http::HeaderMap) -> http::HeaderMap {
    // A clone is sized to what it holds (a map built entry by entry
    // rounds its capacity up); only its values still need copies.
    let mut owned = headers.clone();
    for value in owned.values_mut() {
        if let Ok(mut copy) = HeaderValue::from_bytes(value.as_bytes()) {
            copy.set_sensitive(value.is_sensitive());
            *value = copy;
        }
    }
    owned
}

/// The request as the hooks see it (with storage of its own).
pub(crate) fn request_info<B>(req: &Request<B>, remote_addr: Option<SocketAddr>) -> RequestInfo {
    RequestInfo {
        uri: owned_uri(req.uri().clone()),
        headers: Arc::new(owned_headers(req.headers())),
        remote_addr,
    }
}

impl EngineIo {
    /// The official error response for a refused request, after calling
    /// the `connection_error` hook.
    pub(crate) fn refuse<B>(
        &self,
        req: &Request<B>,
        remote_addr: Option<SocketAddr>,
        code: EngineError,
        context: &str,
    ) -> Response<Body> {
        metrics::refused(Refusal::Error(code));
        if let Some(hook) = &self.shared.config.connection_error {
            hook(&ConnectionError {
                req: request_info(req, remote_addr),
                code,
                message: code.message(),
                context: Some(context.to_owned()),
            });
        }
        error(code)
    }

    /// 403 with `message`, after calling the `connection_error` hook.
    pub(crate) fn forbid(&self, info: RequestInfo, message: String) -> Response<Body> {
        metrics::refused(Refusal::Error(EngineError::Forbidden));
        let resp = json(
            StatusCode::FORBIDDEN,
            &format!(
                "{{\"code\":4,\"message\":{}}}",
                serde_json::Value::String(message.clone())
            ),
        );
        if let Some(hook) = &self.shared.config.connection_error {
            hook(&ConnectionError {
                req: info,
                code: EngineError::Forbidden,
                message: EngineError::Forbidden.message(),
                context: Some(message),
            });
        }
        resp
    }

    /// 503 for a handshake past a session limit, with a JSON body in the
    /// shape of the official errors: code 4 (the code of a refused
    /// handshake) and the limit's message. The `connection_error` hook
    /// sees it as [`EngineError::Forbidden`] with that message as context.
    pub(crate) fn full(&self, info: RequestInfo, full: Full) -> Response<Body> {
        metrics::refused(Refusal::SessionLimit);
        tracing::debug!(remote = ?info.remote_addr, reason = full.message(), "handshake refused");
        if let Some(hook) = &self.shared.config.connection_error {
            hook(&ConnectionError {
                req: info,
                code: EngineError::Forbidden,
                message: EngineError::Forbidden.message(),
                context: Some(full.message().to_owned()),
            });
        }
        let body = format!(
            "{{\"code\":{},\"message\":\"{}\"}}",
            EngineError::Forbidden.code(),
            full.message()
        );
        json(StatusCode::SERVICE_UNAVAILABLE, &body)
    }

    /// Whether the admission hooks accept the request.
    pub(crate) async fn admit(&self, info: &RequestInfo) -> Result<(), String> {
        let config = &self.shared.config;
        if let Some(allow) = &config.allow_request {
            allow(info)?;
        }
        if let Some(allow) = &config.allow_request_async {
            allow.check(info.clone()).await?;
        }
        Ok(())
    }

    /// The cookie and `initial_headers` of a session's handshake response.
    pub(crate) fn initial_headers(&self, info: &RequestInfo, sid: &str, resp: &mut Response<Body>) {
        let config = &self.shared.config;
        if let Some(cookie) = &config.cookie {
            match cookie.set_cookie(sid) {
                Some(v) => {
                    resp.headers_mut().append(http::header::SET_COOKIE, v);
                }
                None => {
                    tracing::warn!(name = %cookie.name, "invalid session cookie settings: none sent")
                }
            }
        }
        if let Some(hook) = &config.initial_headers {
            hook(info, resp.headers_mut());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inside(buf: &Bytes, s: &[u8]) -> bool {
        let range = buf.as_ptr_range();
        range.contains(&s.as_ptr())
    }
    /// As hyper parses a request: URI and header values are slices of
    /// the connection's read buffer. The session's copy must not be.
    #[test]
    fn request_info_does_not_pin_the_read_buffer() {
        let buf = Bytes::from_static(b"/socket.io/?EIO=4&transport=websocket\0websocket\0s=1\0x");
        let uri = http::Uri::from_maybe_shared(buf.slice(0..37)).unwrap();
        let mut headers = http::HeaderMap::new();
        let value =
            |r: std::ops::Range<usize>| HeaderValue::from_maybe_shared(buf.slice(r)).unwrap();
        headers.insert("upgrade", value(38..47));
        headers.append("cookie", value(48..51));
        let mut secret = value(52..53);
        secret.set_sensitive(true);
        headers.append("cookie", secret);
        headers.insert("x-custom", value(52..53));
        assert!(inside(&buf, headers["upgrade"].as_bytes()));

        let owned = owned_headers(&headers);
        assert_eq!(owned, headers);
        let cookies: Vec<_> = owned.get_all("cookie").iter().collect();
        assert_eq!(cookies.len(), 2);
        assert!(!cookies[0].is_sensitive() && cookies[1].is_sensitive());
        for v in owned.values() {
            assert!(!inside(&buf, v.as_bytes()));
        }
        let owned_uri = owned_uri(uri.clone());
        assert_eq!(owned_uri, uri);
        assert_eq!(owned_uri.query(), Some("EIO=4&transport=websocket"));
        assert!(!inside(&buf, owned_uri.path().as_bytes()));
    }
}
