//! The HTTP/1.1 requests the server reads and answers itself, without
//! hyper: request heads (parsed with httparse) and responses whose body
//! is sent whole with a `Content-Length`. Bytes in, a request head or a
//! response's bytes out; `connection.rs` drives it on a stream.
//!
//! Only the plain cases are served here: HTTP/1.1 `GET`, `POST` or
//! `OPTIONS` in origin form (of the plainest characters), no body or a
//! `Content-Length` one of at most [`MAX_BODY`] bytes, no `Upgrade`, no
//! `Expect`, no `Transfer-Encoding`.
//! Anything else ([`Head::Elsewhere`], a head that does not parse or is too
//! large among them) goes to hyper with the connection, which answers it
//! as before (400, 431, 101 ...). Long-polling requests, the ones a busy
//! server answers most, are plain: answering them without hyper's
//! machinery per request is what this saves.

use std::cell::RefCell;
use std::ops::Range;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::{Bytes, BytesMut};
use http::header::{HeaderName, HeaderValue, CONNECTION, CONTENT_LENGTH, DATE, TRANSFER_ENCODING};
use http::{HeaderMap, Method, Request, StatusCode, Uri};
use socketeer_ws::handshake::{header_has_token, value_tokens};

/// Most header fields in a head served here (hyper's limit too).
const MAX_HEADERS: usize = 100;
/// Largest body read whole here; a larger one is streamed by hyper.
pub(crate) const MAX_BODY: usize = 64 << 10;

/// What the start of a connection's buffer holds.
#[derive(Debug)]
pub(crate) enum Head {
    /// Not a whole head yet (and under the size limit).
    Partial,
    /// A request for hyper to serve, with the rest of the connection.
    Elsewhere,
    /// A request served here.
    Request(Parsed),
}

/// A request head served here: what the connection needs of it (its
/// length, its body's, whether it closes), and where the parts the
/// Engine.IO server reads of a long-poll lie in the head's bytes. The
/// `http::Request` is built when asked for ([`Plain::into_request`]):
/// a long-poll of a known session is answered without one, which saves
/// about a fifth of the instructions of its request (the URI's parse, a
/// `HeaderName` and `HeaderValue` per field, the map, their drop).
#[derive(Debug)]
pub(crate) struct Parsed {
    /// Bytes of the head, blank line included.
    pub(crate) head_len: usize,
    /// Bytes of the body that follows.
    pub(crate) body_len: usize,
    /// The client asked to close the connection after this request.
    pub(crate) close: bool,
    method: PlainMethod,
    /// The request target (a path and maybe a query) in the head.
    target: Span,
    /// Where its path ends (at its `?`, or its end).
    path_end: u32,
    /// The first `Origin` field's value in the head.
    origin: Option<Span>,
    /// The first `Accept-Encoding` field's value in the head.
    accept_encoding: Option<Span>,
    /// The whole request, when [`parse_head`] was asked to build it.
    request: Option<Box<Request<()>>>,
}

/// Parses the request head at the start of `buf`, of at most `max_bytes`;
/// with `build`, builds its `http::Request` at once (for a server that
/// will want it for every request: the head is not parsed twice).
pub(crate) fn parse_head(buf: &[u8], max_bytes: usize, build: bool) -> Head {
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
        Some("GET") => PlainMethod::Get,
        Some("POST") => PlainMethod::Post,
        Some("OPTIONS") => PlainMethod::Options,
        _ => return Head::Elsewhere,
    };
    // A head is at most `max_bytes` long: its offsets fit a `u32` (a
    // larger limit is refused here, and hyper serves such a head).
    if u32::try_from(head_len).is_err() {
        return Head::Elsewhere;
    }
    let at = |part: &[u8]| {
        let start = part.as_ptr() as usize - buf.as_ptr() as usize;
        Span {
            start: start as u32,
            end: (start + part.len()) as u32,
        }
    };
    // Origin form, of the characters of RFC 3986 that every parser takes
    // alike (`http::Uri` among them); anything else is rare enough for
    // hyper.
    let Some(path) = req
        .path
        .filter(|p| p.starts_with('/') && p.bytes().all(plain_target_byte))
    else {
        return Head::Elsewhere;
    };
    let target = at(path.as_bytes());
    let path_end = target.start
        + path
            .bytes()
            .position(|b| b == b'?')
            .map_or(target.len(), |i| i as u32);
    // httparse took only the field names and values `http` takes (tokens;
    // visible ASCII, tabs, spaces and obs-text): they need no other check.
    let mut body_len = None;
    let (mut upgrade, mut close) = (false, false);
    let (mut origin, mut accept_encoding) = (None, None);
    for field in req.headers.iter() {
        let name = field.name.as_bytes();
        let is = |known: &str| name.eq_ignore_ascii_case(known.as_bytes());
        if is("content-length") {
            let len = std::str::from_utf8(field.value)
                .ok()
                .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|v| v.parse::<usize>().ok());
            match (len, body_len) {
                (Some(len), None) if len <= MAX_BODY => body_len = Some(len),
                // Two lengths, a bad one, or a large body.
                _ => return Head::Elsewhere,
            }
        } else if is("connection") {
            // Both tokens in one pass over the value.
            for token in value_tokens(field.value) {
                upgrade |= token.eq_ignore_ascii_case("upgrade");
                close |= token.eq_ignore_ascii_case("close");
            }
        } else if is("transfer-encoding") || is("upgrade") || is("expect") {
            return Head::Elsewhere;
        } else if is("origin") {
            origin.get_or_insert_with(|| at(field.value));
        } else if is("accept-encoding") {
            accept_encoding.get_or_insert_with(|| at(field.value));
        }
    }
    if upgrade {
        return Head::Elsewhere;
    }
    let request = if build {
        let head = Bytes::copy_from_slice(&buf[..head_len]);
        match request_of(buf, &head, method.method(), path, req.headers) {
            Some(request) => Some(Box::new(request)),
            None => return Head::Elsewhere,
        }
    } else {
        None
    };
    Head::Request(Parsed {
        head_len,
        body_len: body_len.unwrap_or(0),
        close,
        method,
        target,
        path_end,
        origin,
        accept_encoding,
        request,
    })
}

/// The methods served here (a byte, where `http::Method` takes 16).
#[derive(Debug, Clone, Copy)]
enum PlainMethod {
    Get,
    Post,
    Options,
}

impl PlainMethod {
    fn method(self) -> Method {
        match self {
            PlainMethod::Get => Method::GET,
            PlainMethod::Post => Method::POST,
            PlainMethod::Options => Method::OPTIONS,
        }
    }
}

/// Where a part lies in a head: a head's offsets fit 32 bits, and a
/// request's head is kept in its connection's future while it is read.
#[derive(Debug, Clone, Copy)]
struct Span {
    start: u32,
    end: u32,
}

impl Span {
    fn len(self) -> u32 {
        self.end - self.start
    }

    fn range(self) -> Range<usize> {
        self.start as usize..self.end as usize
    }
}

/// A byte of a request target served here: RFC 3986's unreserved and
/// sub-delimiter characters, `%`, `:`, `@`, `/` and `?`.
fn plain_target_byte(b: u8) -> bool {
    // A table: a search of the list of punctuation per byte cost about
    // 1,300 instructions per request (callgrind).
    const PLAIN: [bool; 256] = {
        let mut table = [false; 256];
        let mut b = 0;
        while b < 256 {
            let c = b as u8;
            table[b] = c.is_ascii_alphanumeric()
                || matches!(
                    c,
                    b'-' | b'.'
                        | b'_'
                        | b'~'
                        | b'!'
                        | b'$'
                        | b'&'
                        | b'\''
                        | b'('
                        | b')'
                        | b'*'
                        | b'+'
                        | b','
                        | b';'
                        | b'='
                        | b'%'
                        | b':'
                        | b'@'
                        | b'/'
                        | b'?'
                );
            b += 1;
        }
        table
    };
    PLAIN[b as usize]
}

/// The `http::Request` of a head parsed from `base`, its URI and field
/// values slices of `head` (a copy of `base`'s head: one allocation for
/// all of them, which does not keep the connection's read buffer).
fn request_of(
    base: &[u8],
    head: &Bytes,
    method: Method,
    path: &str,
    fields: &[httparse::Header<'_>],
) -> Option<Request<()>> {
    let share = |part: &[u8]| {
        let start = part.as_ptr() as usize - base.as_ptr() as usize;
        head.slice(start..start + part.len())
    };
    let uri = Uri::from_maybe_shared(share(path.as_bytes())).ok()?;
    let mut headers = HeaderMap::with_capacity(fields.len());
    for field in fields {
        let name = HeaderName::from_bytes(field.name.as_bytes()).ok()?;
        let value = HeaderValue::from_maybe_shared(share(field.value)).ok()?;
        headers.append(name, value);
    }
    let mut request = Request::new(());
    *request.method_mut() = method;
    *request.uri_mut() = uri;
    *request.headers_mut() = headers;
    Some(request)
}

/// A plain request's head, as the connection hands it to the server:
/// what [`parse_head`] found, and the head's bytes.
#[derive(Debug)]
pub(crate) struct Plain {
    parsed: Parsed,
    /// The head's bytes (the body is handed over apart).
    head: BytesMut,
}

impl Plain {
    pub(crate) fn new(parsed: Parsed, head: BytesMut) -> Self {
        debug_assert_eq!(head.len(), parsed.head_len);
        Plain { parsed, head }
    }

    /// The request's method.
    pub(crate) fn method(&self) -> Method {
        self.parsed.method.method()
    }

    fn text(&self, range: Range<usize>) -> &str {
        // ASCII: the target's characters were checked.
        std::str::from_utf8(&self.head[range]).unwrap_or("")
    }

    /// The target's path.
    pub(crate) fn path(&self) -> &str {
        let Span { start, .. } = self.parsed.target;
        self.text(start as usize..self.parsed.path_end as usize)
    }

    /// The target's query, without its `?` (`None` without one).
    pub(crate) fn query(&self) -> Option<&str> {
        let (path_end, end) = (self.parsed.path_end, self.parsed.target.end);
        (path_end < end).then(|| self.text(path_end as usize + 1..end as usize))
    }

    /// The first `Origin` field's value, copied.
    pub(crate) fn origin(&self) -> Option<HeaderValue> {
        self.value(self.parsed.origin)
    }

    /// The first `Accept-Encoding` field's value, copied.
    pub(crate) fn accept_encoding(&self) -> Option<HeaderValue> {
        self.value(self.parsed.accept_encoding)
    }

    /// A copy: a value kept while a long-poll waits must not keep the
    /// read buffer it came in.
    fn value(&self, span: Option<Span>) -> Option<HeaderValue> {
        HeaderValue::from_bytes(&self.head[span?.range()]).ok()
    }

    /// The whole `http::Request` (`None` if `http` refuses a part of it,
    /// which httparse's checks leave no room for).
    pub(crate) fn into_request(self) -> Option<Request<()>> {
        if let Some(request) = self.parsed.request {
            return Some(*request);
        }
        let head = Bytes::copy_from_slice(&self.head);
        let mut fields = [const { std::mem::MaybeUninit::uninit() }; MAX_HEADERS];
        let mut req = httparse::Request::new(&mut []);
        match req.parse_with_uninit_headers(&head, &mut fields) {
            Ok(httparse::Status::Complete(_)) => {}
            _ => return None,
        }
        request_of(
            &head,
            &head,
            self.parsed.method.method(),
            req.path?,
            req.headers,
        )
    }
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
        write_date(out);
    }
    let close = close && !headers.contains_key(CONNECTION);
    let bodiless = status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED;
    write_end((!bodiless).then_some(body), close, out);
}

/// A session's payload or `ok` (`Reply::Text`): the response
/// [`write_response`] writes for a 200 with only `Content-Type:
/// text/plain; charset=UTF-8`, written without the header map.
pub(crate) fn write_text(body: &[u8], close: bool, out: &mut Vec<u8>) {
    out.reserve(RESPONSE_OVERHEAD + TEXT_HEAD.len() + body.len());
    out.extend_from_slice(TEXT_HEAD);
    write_date(out);
    write_end(Some(body), close, out);
}

const TEXT_HEAD: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-type: text/plain; charset=UTF-8\r\n";

fn write_date(out: &mut Vec<u8>) {
    out.extend_from_slice(b"date: ");
    with_date(|date| out.extend_from_slice(date));
    out.extend_from_slice(b"\r\n");
}

/// `connection: close` if `close`, the length of `body` unless the
/// status has none, the blank line and the body.
fn write_end(body: Option<&[u8]>, close: bool, out: &mut Vec<u8>) {
    if close {
        out.extend_from_slice(b"connection: close\r\n");
    }
    if let Some(body) = body {
        out.extend_from_slice(b"content-length: ");
        out.extend_from_slice(itoa(body.len(), &mut [0u8; 20]));
        out.extend_from_slice(b"\r\n\r\n");
        out.extend_from_slice(body);
    } else {
        out.extend_from_slice(b"\r\n");
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
        match parse_head(head.as_bytes(), 16 << 10, false) {
            Head::Request(p) => p,
            other => panic!("{head:?}: {other:?}"),
        }
    }

    fn elsewhere(head: &str) -> bool {
        matches!(
            parse_head(head.as_bytes(), 16 << 10, false),
            Head::Elsewhere
        )
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

    /// The head of a request served here, as the connection hands it on.
    fn plain(head: &str, build: bool) -> Plain {
        match parse_head(head.as_bytes(), 16 << 10, build) {
            Head::Request(p) => {
                let bytes = BytesMut::from(&head.as_bytes()[..p.head_len]);
                Plain::new(p, bytes)
            }
            other => panic!("{head:?}: {other:?}"),
        }
    }

    #[test]
    fn a_polling_post_is_served_here() {
        let head = "POST /engine.io/?EIO=4&transport=polling&sid=abc HTTP/1.1\r\n\
                    Host: x\r\nContent-Length: 6\r\nOrigin: http://a\r\n\r\n4hello";
        let p = parsed(head);
        assert_eq!(p.head_len, head.len() - 6);
        assert_eq!(p.body_len, 6);
        assert!(!p.close);
        for build in [false, true] {
            let plain = plain(head, build);
            assert_eq!(plain.method(), Method::POST);
            assert_eq!(plain.path(), "/engine.io/");
            assert_eq!(plain.query(), Some("EIO=4&transport=polling&sid=abc"));
            assert_eq!(plain.origin().expect("an origin"), "http://a");
            assert_eq!(plain.accept_encoding(), None);
            let request = plain.into_request().expect("a request");
            assert_eq!(request.method(), Method::POST);
            assert_eq!(
                request.uri().query(),
                Some("EIO=4&transport=polling&sid=abc")
            );
            assert_eq!(request.headers()["origin"], "http://a");
        }
    }

    /// What the server reads of a head without building its request is
    /// what the request says: the path and query as `http::Uri` splits
    /// them, the first `Origin` and `Accept-Encoding`, whatever their case.
    #[test]
    fn a_head_read_in_place_says_what_its_request_says() {
        for head in [
            "GET / HTTP/1.1\r\n\r\n",
            "GET /x? HTTP/1.1\r\n\r\n",
            "GET /x?a=1?b&c=%20 HTTP/1.1\r\norigin: o1\r\nORIGIN: o2\r\n\r\n",
            "OPTIONS /socket.io/?EIO=4 HTTP/1.1\r\nAccept-Encoding: gzip, br\r\n\r\n",
            "GET /a/b;c@d:e!$'()*+,~ HTTP/1.1\r\naccept-encoding: \r\n\r\n",
        ] {
            let plain = plain(head, false);
            let (path, query) = (plain.path().to_owned(), plain.query().map(str::to_owned));
            let (origin, accept) = (plain.origin(), plain.accept_encoding());
            let request = plain.into_request().expect("a request");
            assert_eq!(path, request.uri().path(), "{head:?}");
            assert_eq!(query.as_deref(), request.uri().query(), "{head:?}");
            let headers = request.headers();
            assert_eq!(origin.as_ref(), headers.get("origin"), "{head:?}");
            assert_eq!(accept.as_ref(), headers.get("accept-encoding"), "{head:?}");
        }
    }

    /// The URI and the values share one copy of the head: each is the
    /// right slice of it, and none depends on the buffer read into.
    #[test]
    fn uri_and_values_are_their_own_bytes_of_the_head() {
        let text = b"GET /socket.io/?EIO=4&transport=polling&t=x HTTP/1.1\r\n\
                     Host: 127.0.0.1:3000\r\nCookie: a=1\r\nX-Custom: one\r\n\
                     Cookie: b=2\r\nAccept: */*\r\n\r\n";
        for build in [false, true] {
            let mut buf = text.to_vec();
            let Head::Request(p) = parse_head(&buf, 16 << 10, build) else {
                panic!("not served here");
            };
            let mut head = BytesMut::from(&buf[..p.head_len]);
            let plain = Plain::new(p, head.split());
            buf.fill(b'?');
            // What the connection does with its buffer once handed over.
            head.extend_from_slice(&buf);
            let request = plain.into_request().expect("a request");
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
    }

    #[test]
    fn a_head_in_pieces_is_partial_until_whole() {
        let head = b"GET /engine.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\n\r\n";
        for end in 0..head.len() {
            assert!(
                matches!(parse_head(&head[..end], 1024, false), Head::Partial),
                "{end}"
            );
        }
        assert!(matches!(parse_head(head, 1024, false), Head::Request(_)));
        // Past the limit, whole or not: hyper answers (431).
        assert!(matches!(parse_head(head, 20, false), Head::Elsewhere));
        assert!(matches!(
            parse_head(&head[..40], 20, false),
            Head::Elsewhere
        ));
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
            // Characters `http::Uri` may read otherwise, or not take.
            "GET /x#y HTTP/1.1\r\n\r\n",
            "GET /x?a=\"b\" HTTP/1.1\r\n\r\n",
            "GET /x?{} HTTP/1.1\r\n\r\n",
            "GET /x\u{e9} HTTP/1.1\r\n\r\n",
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

    /// A session's payload written without its `Response` is the response
    /// it stood for, byte for byte, closing or not, and fits what is
    /// reserved for it.
    #[test]
    fn a_text_reply_is_written_as_its_response() {
        for close in [false, true] {
            for body in [&b"ok"[..], b"", &[b'4'; 70_000][..]] {
                let resp: http::Response<super::super::response::Body> =
                    super::super::response::Reply::Text(Bytes::copy_from_slice(body)).into();
                let mut whole = Vec::new();
                write_response(resp.status(), resp.headers(), body, close, &mut whole);
                let mut text = Vec::new();
                write_text(body, close, &mut text);
                // The same second's date, unless the clock ticked between.
                if whole != text {
                    whole.clear();
                    write_response(resp.status(), resp.headers(), body, close, &mut whole);
                }
                assert_eq!(
                    String::from_utf8_lossy(&text),
                    String::from_utf8_lossy(&whole)
                );
                assert_eq!(
                    text.capacity(),
                    RESPONSE_OVERHEAD + TEXT_HEAD.len() + body.len()
                );
            }
        }
    }

    #[test]
    fn lengths_in_digits() {
        for n in [0usize, 7, 10, 65_536, usize::MAX] {
            assert_eq!(itoa(n, &mut [0u8; 20]), n.to_string().as_bytes());
        }
    }
}
