//! The responses of the server that are not a session's: the official
//! Engine.IO errors ([`EngineError`], [`error`]), plain text and JSON
//! responses, and the polling payload response; [`Body`] is the body type
//! of them all. A session answers its long-polls and POSTs with a
//! [`Reply`].

use bytes::Bytes;
use http::header::{HeaderValue, CONTENT_TYPE};
use http::{Response, StatusCode};
use http_body_util::Full;

/// The official error codes and messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EngineError {
    /// 0: `Transport unknown`.
    UnknownTransport,
    /// 1: `Session ID unknown`.
    UnknownSid,
    /// 2: `Bad handshake method`.
    BadHandshakeMethod,
    /// 3: `Bad request`.
    BadRequest,
    /// 4: `Forbidden`.
    Forbidden,
    /// 5: `Unsupported protocol version`.
    UnsupportedProtocolVersion,
}

impl EngineError {
    /// The number Node gives this error (`err.code`).
    pub fn code(self) -> u8 {
        self as u8
    }

    /// The official message (`err.message`).
    pub fn message(self) -> &'static str {
        match self {
            EngineError::UnknownTransport => "Transport unknown",
            EngineError::UnknownSid => "Session ID unknown",
            EngineError::BadHandshakeMethod => "Bad handshake method",
            EngineError::BadRequest => "Bad request",
            EngineError::Forbidden => "Forbidden",
            EngineError::UnsupportedProtocolVersion => "Unsupported protocol version",
        }
    }
}

/// The body type of every response.
pub type Body = Full<Bytes>;

pub(crate) fn empty(status: StatusCode) -> Response<Body> {
    let mut r = Response::new(Full::new(Bytes::new()));
    *r.status_mut() = status;
    r
}

/// A `text/plain` response; a `&'static str` body is not copied.
pub(crate) fn text(status: StatusCode, body: impl Into<Bytes>) -> Response<Body> {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = status;
    r.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=UTF-8"),
    );
    r
}

pub(crate) fn json(status: StatusCode, body: &str) -> Response<Body> {
    let mut r = Response::new(Full::new(Bytes::copy_from_slice(body.as_bytes())));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

/// The official error response: 400 (403 for `Forbidden`) with
/// `{"code":N,"message":"..."}`.
pub fn error(e: EngineError) -> Response<Body> {
    let status = if e == EngineError::Forbidden {
        StatusCode::FORBIDDEN
    } else {
        StatusCode::BAD_REQUEST
    };
    json(
        status,
        &format!("{{\"code\":{},\"message\":\"{}\"}}", e.code(), e.message()),
    )
}

/// What a session answers a long-poll or a POST with: most often a
/// payload or `ok`, which the server's own connections write without
/// building a `Response` (its header map costs two allocations and their
/// frees, and the `Response` is moved whole on its way out); anything
/// else whole.
#[derive(Debug)]
pub(crate) enum Reply {
    /// 200, `text/plain; charset=UTF-8`, this body.
    Text(Bytes),
    /// Any other response.
    Full(Response<Body>),
}

impl Reply {
    /// The answer to a long-polling POST: 200 `ok`.
    pub(crate) fn post_ok() -> Reply {
        Reply::Text(Bytes::from_static(b"ok"))
    }
}

impl From<Response<Body>> for Reply {
    fn from(resp: Response<Body>) -> Reply {
        Reply::Full(resp)
    }
}

impl From<Reply> for Response<Body> {
    fn from(reply: Reply) -> Response<Body> {
        match reply {
            Reply::Text(body) => payload_response(body),
            Reply::Full(resp) => resp,
        }
    }
}

pub(crate) fn payload_response(body: Bytes) -> Response<Body> {
    let mut r = Response::new(Full::new(body));
    r.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=UTF-8"),
    );
    r
}
