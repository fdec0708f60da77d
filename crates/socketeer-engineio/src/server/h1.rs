//! The HTTP/1.1 requests the server reads and answers itself, without
//! hyper: request heads (parsed with httparse) and responses whose body
//! is sent whole with a `Content-Length`. Bytes in, a request head or a
//! response's bytes out; `connection.rs` drives it on a stream.
//!
//! Only the plain cases are served here: HTTP/1.1 `GET`, `POST` or
//! `OPTIONS` in origin form, no body or a `Content-Length` one of at most
//! [`MAX_BODY`] bytes, no `Upgrade`, no `Expect`, no `Transfer-Encoding`.
//! Anything else ([`Head::Elsewhere`], a head that does not parse or is too
//! large among them) goes to hyper with the connection, which answers it
//! as before (400, 431, 101 ...). Long-polling requests, the ones a busy
//! server answers most, are plain: answering them without hyper's
//! machinery per request is what this saves.

use std::cell::RefCell;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, CONNECTION, CONTENT_LENGTH, DATE, TRANSFER_ENCODING};
use http::{HeaderMap, Method, Request, StatusCode, Uri};
use socketeer_ws::handshake::{header_has_token, value_tokens};

/// Most header fields in a head served here (hyper's limit too).
const MAX_HEADERS: usize = 100;
/// Largest body read whole here; a larger one is streamed by hyper.
pub(crate) const MAX_BODY: usize = 64 << 10;

/// What the start of a connection's buffer holds.
// Not boxed: a head is returned once per request and taken apart at once,
// and a box would cost an allocation per request.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub(crate) enum Head {
    /// Not a whole head yet (and under the size limit).
    Partial,
    /// A request for hyper to serve, with the rest of the connection.
    Elsewhere,
    /// A request served here.
    Request(Parsed),
}

/// A request head served here.
#[derive(Debug)]
pub(crate) struct Parsed {
    /// The head (its body is read separately).
    pub(crate) request: Request<()>,
    /// Bytes of the head, blank line included.
    pub(crate) head_len: usize,
    /// Bytes of the body that follows.
    pub(crate) body_len: usize,
    /// The client asked to close the connection after this request.
    pub(crate) close: bool,
}

/// Parses the request head at the start of `buf`, of at most `max_bytes`.
pub(crate) fn parse_head(buf: &[u8], max_bytes: usize) -> Head {
    if buf.is_empty() {
        return Head::Partial;
    }
    // Not initialized: the fields array is 3 KiB, filled anew for every
    // attempt at a head, of which a request takes two (before and after
    // its bytes arrive); httparse writes the fields it parses.
    let mut fields = [const { std::mem::MaybeUninit::uninit() }; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut []);
    let head_len = match req.parse_with_uninit_headers(buf, &mut fields) {
        Ok(httparse::Status::Complete(len)) if len <= max_bytes => len,
        Ok(httparse::Status::Partial) if buf.len() <= max_bytes => return Head::Partial,
        // Too large, too many fields, malformed: hyper answers it.
        _ => return Head::Elsewhere,
    };
    if req.version != Some(1) {
        return Head::Elsewhere;
    }
    let method = match req.method {
        Some("GET") => Method::GET,
        Some("POST") => Method::POST,
        Some("OPTIONS") => Method::OPTIONS,
        _ => return Head::Elsewhere,
    };
    // The URI and the field values share one copy of the head: one
    // allocation, not one per value (and a URI cloned later costs none).
    let head = Bytes::copy_from_slice(&buf[..head_len]);
    let share = |part: &[u8]| {
        let start = part.as_ptr() as usize - buf.as_ptr() as usize;
        head.slice(start..start + part.len())
    };
    let uri = match req.path {
        Some(path) if path.starts_with('/') => match Uri::from_maybe_shared(share(path.as_bytes()))
        {
            Ok(uri) => uri,
            Err(_) => return Head::Elsewhere,
        },
        _ => return Head::Elsewhere,
    };
    let mut headers = HeaderMap::with_capacity(req.headers.len());
    let mut body_len = None;
    let (mut upgrade, mut close) = (false, false);
    for field in req.headers.iter() {
        let Ok(name) = HeaderName::from_bytes(field.name.as_bytes()) else {
            return Head::Elsewhere;
        };
        let Ok(value) = HeaderValue::from_maybe_shared(share(field.value)) else {
            return Head::Elsewhere;
        };
        if name == CONTENT_LENGTH {
            let len = std::str::from_utf8(field.value)
                .ok()
                .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|v| v.parse::<usize>().ok());
            match (len, body_len) {
                (Some(len), None) if len <= MAX_BODY => body_len = Some(len),
                // Two lengths, a bad one, or a large body.
                _ => return Head::Elsewhere,
            }
        } else if name == CONNECTION {
            // Both tokens in one pass over the value.
            for token in value_tokens(&value) {
                upgrade |= token.eq_ignore_ascii_case("upgrade");
                close |= token.eq_ignore_ascii_case("close");
            }
        } else if name == TRANSFER_ENCODING
            || name == http::header::UPGRADE
            || name == http::header::EXPECT
        {
            return Head::Elsewhere;
        }
        headers.append(name, value);
    }
    if upgrade {
        return Head::Elsewhere;
    }
    let mut request = Request::new(());
    *request.method_mut() = method;
    *request.uri_mut() = uri;
    *request.headers_mut() = headers;
    Head::Request(Parsed {
        head_len,
        body_len: body_len.unwrap_or(0),
        close,
        request,
    })
}

/// Appends the response of status `status` with `headers` and `body` to
/// `out`. The length is given by a `Content-Length` written here (one the
/// handler set is left out; none for the statuses without a body); a
/// `Date` is added unless the handler set one; `close` adds
/// `Connection: close` unless the handler said something of it.
pub(crate) fn write_response(
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
    close: bool,
    out: &mut Vec<u8>,
) {
    // One allocation for the whole response: grown by doubling from empty,
    // a connection's first response reallocated its buffer five or six
    // times (every response, with clients that open a connection per
    // request, as Node's socket.io-client does).
    let fields: usize = headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum();
    out.reserve(RESPONSE_OVERHEAD + fields + body.len());
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(status.canonical_reason().unwrap_or("").as_bytes());
    out.extend_from_slice(b"\r\n");
    for (name, value) in headers {
        if name == CONTENT_LENGTH || name == TRANSFER_ENCODING {
            continue;
        }
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    if !headers.contains_key(DATE) {
        out.extend_from_slice(b"date: ");
        with_date(|date| out.extend_from_slice(date));
        out.extend_from_slice(b"\r\n");
    }
    if close && !headers.contains_key(CONNECTION) {
        out.extend_from_slice(b"connection: close\r\n");
    }
    let bodiless = status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED;
    if !bodiless {
        out.extend_from_slice(b"content-length: ");
        out.extend_from_slice(itoa(body.len(), &mut [0u8; 20]));
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    if !bodiless {
        out.extend_from_slice(body);
    }
}

/// The most a response adds besides its fields and body: the status line
/// (with the longest reason phrase), `date`, `connection: close`,
/// `content-length` and the blank line.
const RESPONSE_OVERHEAD: usize = 64 + 37 + 19 + 38 + 2;

/// Whether the response asks for its connection to be closed.
pub(crate) fn closes(headers: &HeaderMap) -> bool {
    header_has_token(headers, CONNECTION, "close")
}

/// The decimal digits of `n`, written at the end of `buf`.
fn itoa(mut n: usize, buf: &mut [u8; 20]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return &buf[i..];
        }
    }
}

thread_local! {
    /// The `Date` of the current second: formatted once a second, as
    /// hyper does.
    static CACHED_DATE: RefCell<(u64, String)> = const { RefCell::new((u64::MAX, String::new())) };
}

fn with_date(f: impl FnOnce(&[u8])) {
    let now = SystemTime::now();
    let secs = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    CACHED_DATE.with(|date| {
        let mut date = date.borrow_mut();
        if date.0 != secs {
            *date = (secs, httpdate::fmt_http_date(now));
        }
        f(date.1.as_bytes());
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(head: &str) -> Parsed {
        match parse_head(head.as_bytes(), 16 << 10) {
            Head::Request(p) => p,
            other => panic!("{head:?}: {other:?}"),
        }
    }

    fn elsewhere(head: &str) -> bool {
        matches!(parse_head(head.as_bytes(), 16 << 10), Head::Elsewhere)
    }

    /// The response is written into one allocation: what `write_response`
    /// reserves is never less than what it writes, for the longest status
    /// line and every field it may add.
    #[test]
    fn a_response_fits_what_is_reserved_for_it() {
        let mut headers = HeaderMap::new();
        headers.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=UTF-8"),
        );
        let longest = (100..1000)
            .filter_map(|code| StatusCode::from_u16(code).ok())
            .max_by_key(|s| s.canonical_reason().map_or(0, str::len))
            .expect("a status");
        for (status, body) in [(longest, &b""[..]), (StatusCode::OK, &[b'4'; 123_456][..])] {
            let mut out = Vec::new();
            write_response(status, &headers, body, true, &mut out);
            let fields = "content-type".len() + "text/plain; charset=UTF-8".len() + 4;
            let reserved = RESPONSE_OVERHEAD + fields + body.len();
            assert!(
                out.len() <= reserved,
                "{status}: {} > {reserved}",
                out.len()
            );
            assert_eq!(out.capacity(), reserved, "one allocation, the reserved one");
        }
    }

    #[test]
    fn a_polling_post_is_served_here() {
        let head = "POST /engine.io/?EIO=4&transport=polling&sid=abc HTTP/1.1\r\n\
                    Host: x\r\nContent-Length: 6\r\nOrigin: http://a\r\n\r\n4hello";
        let p = parsed(head);
        assert_eq!(p.request.method(), Method::POST);
        assert_eq!(
            p.request.uri().query(),
            Some("EIO=4&transport=polling&sid=abc")
        );
        assert_eq!(p.request.headers()["origin"], "http://a");
        assert_eq!(p.head_len, head.len() - 6);
        assert_eq!(p.body_len, 6);
        assert!(!p.close);
    }

    /// The URI and the values share one copy of the head: each is the
    /// right slice of it, and none depends on the buffer read into.
    #[test]
    fn uri_and_values_are_their_own_bytes_of_the_head() {
        let mut buf = b"GET /socket.io/?EIO=4&transport=polling&t=x HTTP/1.1\r\n\
                        Host: 127.0.0.1:3000\r\nCookie: a=1\r\nX-Custom: one\r\n\
                        Cookie: b=2\r\nAccept: */*\r\n\r\n"
            .to_vec();
        let Head::Request(p) = parse_head(&buf, 16 << 10) else {
            panic!("not served here");
        };
        buf.fill(b'?');
        let request = p.request;
        assert_eq!(
            request.uri().to_string(),
            "/socket.io/?EIO=4&transport=polling&t=x"
        );
        let headers = request.headers();
        assert_eq!(headers["host"], "127.0.0.1:3000");
        assert_eq!(headers["x-custom"], "one");
        assert_eq!(headers["accept"], "*/*");
        let cookies: Vec<_> = headers.get_all("cookie").iter().collect();
        assert_eq!(cookies, ["a=1", "b=2"]);
        assert_eq!(headers.len(), 5);
    }

    #[test]
    fn a_head_in_pieces_is_partial_until_whole() {
        let head = b"GET /engine.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\n\r\n";
        for end in 0..head.len() {
            assert!(
                matches!(parse_head(&head[..end], 1024), Head::Partial),
                "{end}"
            );
        }
        assert!(matches!(parse_head(head, 1024), Head::Request(_)));
        // Past the limit, whole or not: hyper answers (431).
        assert!(matches!(parse_head(head, 20), Head::Elsewhere));
        assert!(matches!(parse_head(&head[..40], 20), Head::Elsewhere));
    }

    #[test]
    fn what_is_not_plain_goes_to_hyper() {
        for head in [
            "GET / HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
            "GET / HTTP/1.1\r\nConnection: keep-alive, Upgrade\r\n\r\n",
            "GET / HTTP/1.1\r\nConnection: keep-alive\r\nConnection: upgrade\r\n\r\n",
            "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
            "POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n",
            "POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n",
            "POST / HTTP/1.1\r\nContent-Length: +3\r\n\r\n",
            "POST / HTTP/1.1\r\nContent-Length: 99999999\r\n\r\n",
            "HEAD / HTTP/1.1\r\n\r\n",
            "PUT / HTTP/1.1\r\n\r\n",
            "GET / HTTP/1.0\r\n\r\n",
            "GET http://x/ HTTP/1.1\r\n\r\n",
            "GET / HTTP/1.1\r\nBad Header: x\r\n\r\n",
            "NOT HTTP\r\n\r\n",
        ] {
            assert!(elsewhere(head), "{head:?}");
        }
        let many: String = (0..=MAX_HEADERS).map(|i| format!("x-{i}: v\r\n")).collect();
        assert!(elsewhere(&format!("GET / HTTP/1.1\r\n{many}\r\n")));
    }

    #[test]
    fn connection_close_is_seen() {
        assert!(parsed("GET / HTTP/1.1\r\nConnection: close\r\n\r\n").close);
        assert!(parsed("GET / HTTP/1.1\r\nconnection: Keep-Alive, CLOSE\r\n\r\n").close);
        assert!(!parsed("GET / HTTP/1.1\r\nConnection: keep-alive\r\n\r\n").close);
    }

    #[test]
    fn a_response_has_its_length_a_date_and_its_headers() {
        let mut headers = HeaderMap::new();
        headers.insert("content-type", HeaderValue::from_static("text/plain"));
        headers.insert(CONTENT_LENGTH, HeaderValue::from_static("999"));
        let mut out = Vec::new();
        write_response(StatusCode::OK, &headers, b"ok", false, &mut out);
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
        assert!(text.contains("\r\ncontent-type: text/plain\r\n"), "{text}");
        assert!(text.contains("\r\ncontent-length: 2\r\n"), "{text}");
        assert!(!text.contains("999"), "{text}");
        assert!(text.contains("\r\ndate: "), "{text}");
        assert!(!text.contains("connection"), "{text}");
        assert!(text.ends_with("\r\n\r\nok"), "{text}");
    }

    #[test]
    fn closing_and_bodiless_responses() {
        let mut out = Vec::new();
        write_response(
            StatusCode::NO_CONTENT,
            &HeaderMap::new(),
            b"",
            true,
            &mut out,
        );
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("HTTP/1.1 204 No Content\r\n"), "{text}");
        assert!(text.contains("\r\nconnection: close\r\n"), "{text}");
        assert!(!text.contains("content-length"), "{text}");
        assert!(text.ends_with("\r\n\r\n"), "{text}");

        let mut headers = HeaderMap::new();
        headers.insert(CONNECTION, HeaderValue::from_static("close"));
        assert!(closes(&headers));
        let mut out = Vec::new();
        write_response(
            StatusCode::SERVICE_UNAVAILABLE,
            &headers,
            b"{}",
            true,
            &mut out,
        );
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text.matches("connection").count(), 1, "{text}");
        assert!(text.contains("\r\ncontent-length: 2\r\n"), "{text}");
        assert!(!closes(&HeaderMap::new()));
    }

    #[test]
    fn lengths_in_digits() {
        for n in [0usize, 7, 10, 65_536, usize::MAX] {
            assert_eq!(itoa(n, &mut [0u8; 20]), n.to_string().as_bytes());
        }
    }
}
