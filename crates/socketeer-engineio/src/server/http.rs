//! One HTTP request to the server: query parsing and routing, CORS
//! headers (`cors.rs`), compression (`compression.rs`), the `headers`
//! hook, the handshake of a new session (polling or WebSocket; its
//! admission, refusals and cookie are in `admission.rs`) and polling
//! GET/POST. The responses it builds are in `response.rs`.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http::header::HeaderValue;
use http::{Method, Request, Response, StatusCode};
use http_body_util::Limited;

use super::admission::request_info;
use super::body::RequestBody;
use super::command::Command;
use super::core::{CloseReason, TransportKind};
use super::driver;
use super::engine::{EngineIo, Shared};
use super::h1::Plain;
use super::metrics::{self, Refusal};
use super::response::{empty, error, payload_response, text, Body, EngineError, Reply};
use super::socket::{QueueLimits, RequestInfo, Socket};
use super::ws_io;
use crate::sync::LockExt;

struct Query<'a> {
    eio: Option<&'a str>,
    transport: Option<&'a str>,
    sid: Option<&'a str>,
}

/// The Engine.IO parameters of a query (the last of a repeated one), as
/// `q.split('&')` and `split_once('=')` would read them. Scanned as
/// bytes: `str::split`'s character searcher cost about 1,000 instructions
/// for a polling request's few dozen bytes (callgrind).
fn parse_query(q: &str) -> Query<'_> {
    let mut out = Query {
        eio: None,
        transport: None,
        sid: None,
    };
    let bytes = q.as_bytes();
    let mut start = 0;
    while start <= bytes.len() {
        let end = bytes[start..]
            .iter()
            .position(|&b| b == b'&')
            .map_or(bytes.len(), |i| start + i);
        // `&` and `=` are ASCII: slicing at them keeps to char boundaries.
        let pair = &q[start..end];
        let (k, v) = match pair.bytes().position(|b| b == b'=') {
            Some(i) => (&pair[..i], &pair[i + 1..]),
            None => (pair, ""),
        };
        match k {
            "EIO" => out.eio = Some(v),
            "transport" => out.transport = Some(v),
            "sid" => out.sid = Some(v),
            _ => {}
        }
        start = end + 1;
    }
    out
}

/// The preflight answer without [`Cors`](super::Cors) settings.
fn bare_preflight(requested: Option<&HeaderValue>) -> Response<Body> {
    let mut r = empty(StatusCode::NO_CONTENT);
    let h = r.headers_mut();
    h.insert(
        "access-control-allow-methods",
        HeaderValue::from_static("GET, POST, OPTIONS"),
    );
    if let Some(v) = requested {
        h.insert("access-control-allow-headers", v.clone());
    }
    r
}

impl EngineIo {
    /// Answers one HTTP request addressed to this server.
    ///
    /// What can be decided at once is decided before the returned future
    /// runs: an `async fn` would keep the request in its future twice
    /// (as its argument and as a local) and every local beside what it
    /// waits for, and a request's future is moved whole several times on
    /// its way to the connection's task. The future owns what it needs
    /// (it can be spawned). The request is routed when this is called (a
    /// long-poll, for one, is handed to its session then): drop the future
    /// only to abandon the request, as a client that goes away does.
    pub fn handle<B>(
        &self,
        req: Request<B>,
        remote_addr: Option<SocketAddr>,
    ) -> impl std::future::Future<Output = Response<Body>> + Send + 'static
    where
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        self.answer(req, remote_addr, false)
    }

    /// As [`EngineIo::handle`]; with `mounted_only`, a path outside the
    /// server's gets 404 (what [`EngineIo::serve`] answers).
    pub(super) fn answer<B>(
        &self,
        req: Request<B>,
        remote_addr: Option<SocketAddr>,
        mounted_only: bool,
    ) -> impl std::future::Future<Output = Response<Body>> + Send + 'static
    where
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let (routed, finish) = self.dispatch(req, remote_addr, mounted_only);
        self.respond::<B, Response<Body>>(routed, finish)
    }

    /// A plain request read by the connections of [`EngineIo::serve`] or
    /// [`EngineIo::serve_mounted`] (`h1.rs`; for the latter, one on the
    /// server's path): the long-poll or POST of a known session is routed
    /// from its head alone; anything else gets its `http::Request` built
    /// and goes the way of [`EngineIo::answer`].
    pub(super) fn answer_plain(
        &self,
        head: Plain,
        body: Bytes,
        remote_addr: Option<SocketAddr>,
    ) -> impl std::future::Future<Output = Reply> + Send + 'static {
        let (routed, finish) = match self.known_session(&head) {
            Some(socket) => {
                let config = &self.shared.config;
                let finish = Finish {
                    // Copied only when read (`Finish::apply`, `coding`).
                    origin: config.cors.as_ref().and_then(|_| head.origin()),
                    accept: config
                        .http_compression
                        .as_ref()
                        .filter(|_| head.method() == Method::GET)
                        .and_then(|_| head.accept_encoding()),
                    hook_info: None,
                };
                let body = move || RequestBody::read(body);
                (poll_or_post(socket, &head.method(), body), Some(finish))
            }
            None => match head.into_request() {
                Some(req) => {
                    let req = req.map(|()| RequestBody::read(body));
                    self.dispatch(req, remote_addr, true)
                }
                None => (Routed::Now(error(EngineError::BadRequest)), None),
            },
        };
        self.respond(routed, finish)
    }

    /// The polling session a plain request is a `GET` or `POST` of, if
    /// that is all there is to it: on the server's path,
    /// `EIO=4`, polling allowed and no `headers` hook to tell of the
    /// request. Checks only: what [`EngineIo::route`] would do with such
    /// a request is done by [`poll_or_post`] then.
    fn known_session(&self, head: &Plain) -> Option<Socket> {
        let config = &self.shared.config;
        if config.headers.is_some() || !config.allow_polling {
            return None;
        }
        if !matches!(head.method(), Method::GET | Method::POST) || !self.matches(head.path()) {
            return None;
        }
        let q = parse_query(head.query().unwrap_or(""));
        if q.transport != Some("polling") || q.eio != Some("4") {
            return None;
        }
        let socket = {
            let sessions = self.shared.sessions.locked();
            sessions.get(q.sid?).map(|e| e.socket.clone())
        }?;
        (socket.transport() == TransportKind::Polling).then_some(socket)
    }

    /// Where `req` goes, and what its answer gets on the way out.
    fn dispatch<B>(
        &self,
        req: Request<B>,
        remote_addr: Option<SocketAddr>,
        mounted_only: bool,
    ) -> (Routed<B>, Option<Finish>)
    where
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let config = &self.shared.config;
        if mounted_only && !self.matches(req.uri().path()) {
            (Routed::Now(text(StatusCode::NOT_FOUND, "not found")), None)
        } else if req.method() == Method::OPTIONS {
            let origin = req.headers().get(http::header::ORIGIN);
            let requested = req.headers().get("access-control-request-headers");
            let preflight = match &config.cors {
                Some(cors) => {
                    let mut r = empty(StatusCode::NO_CONTENT);
                    cors.apply_preflight(origin, requested, r.headers_mut());
                    r
                }
                None => bare_preflight(requested),
            };
            (Routed::Now(preflight), None)
        } else {
            let accept = config
                .http_compression
                .as_ref()
                .filter(|_| req.method() == Method::GET)
                .and_then(|_| req.headers().get(http::header::ACCEPT_ENCODING).cloned());
            let hook_info = config
                .headers
                .as_ref()
                .map(|_| Box::new(request_info(&req, remote_addr)));
            let finish = Finish {
                origin: req.headers().get(http::header::ORIGIN).cloned(),
                accept,
                hook_info,
            };
            (self.route(req, remote_addr), Some(finish))
        }
    }

    /// The answer: at once, or once the session (or the handshake) has
    /// given it; then compressed and finished. A session's payload or
    /// `ok` stays a [`Reply::Text`] when nothing is to be added to it, for
    /// a caller that writes one (`O` is `Reply`).
    fn respond<B, O>(
        &self,
        routed: Routed<B>,
        finish: Option<Finish>,
    ) -> impl std::future::Future<Output = O> + Send + 'static
    where
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
        O: From<Reply>,
    {
        let engine = self.clone();
        async move {
            let reply = match routed {
                Routed::Now(resp) => Reply::Full(resp),
                Routed::Session(answer) => answer.await,
                Routed::Post(body, posting) => engine.post(body, &posting.0).await,
                Routed::Later(answer) => Reply::Full(answer.await),
            };
            let Some(finish) = finish else {
                return reply.into();
            };
            let config = &engine.shared.config;
            if finish.adds_nothing(&reply, config) {
                return reply.into();
            }
            let resp = Response::from(reply);
            let resp = match finish.coding(&resp, config) {
                // Boxed: the compressing future is large, and rare
                // (bodies past the threshold).
                Some((options, coding)) => {
                    Box::pin(super::compression::compress_response(resp, options, coding)).await
                }
                None => resp,
            };
            Reply::Full(finish.apply(resp, config)).into()
        }
    }

    /// Where a request goes, decided without waiting: most answers are
    /// known at once or come from the session. Not `async`: its locals
    /// (the request, its URI and query, the session) would make every
    /// request's future larger, and that future is moved as a whole.
    fn route<B>(&self, mut req: Request<B>, remote_addr: Option<SocketAddr>) -> Routed<B>
    where
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let config = &self.shared.config;
        let uri = req.uri().clone();
        let q = parse_query(uri.query().unwrap_or(""));
        // While shutting down, sessions may still collect their close
        // packet; new ones are refused.
        if q.sid.is_none() && self.shared.shutting_down.load(Ordering::Acquire) {
            return Routed::Now(text(
                StatusCode::SERVICE_UNAVAILABLE,
                "server shutting down",
            ));
        }
        let transport = match q.transport {
            Some("polling") if config.allow_polling => TransportKind::Polling,
            Some("websocket") if config.allow_websocket => TransportKind::WebSocket,
            _ => {
                let context = format!("transport {:?} not accepted", q.transport.unwrap_or(""));
                return Routed::Now(self.refuse(
                    &req,
                    remote_addr,
                    EngineError::UnknownTransport,
                    &context,
                ));
            }
        };
        if q.eio != Some("4") {
            let context = format!("EIO={}", q.eio.unwrap_or(""));
            return Routed::Now(self.refuse(
                &req,
                remote_addr,
                EngineError::UnsupportedProtocolVersion,
                &context,
            ));
        }
        let is_ws = socketeer_ws::upgrade::is_upgrade_request(&req);
        if transport == TransportKind::WebSocket && !is_ws {
            let context = "transport=websocket without a WebSocket upgrade";
            return Routed::Now(self.refuse(&req, remote_addr, EngineError::BadRequest, context));
        }
        match q.sid {
            None => {
                if req.method() != Method::GET {
                    let context = format!("handshake with method {}", req.method());
                    return Routed::Now(self.refuse(
                        &req,
                        remote_addr,
                        EngineError::BadHandshakeMethod,
                        &context,
                    ));
                }
                // Boxed: a handshake is rare beside the polls of its
                // session, and its future holds the whole request.
                let engine = self.clone();
                Routed::Later(Box::pin(async move {
                    engine.handshake(req, remote_addr, transport).await
                }))
            }
            Some(sid) => {
                let entry = {
                    let sessions = self.shared.sessions.locked();
                    sessions.get(sid).map(|e| e.socket.clone())
                };
                let Some(socket) = entry else {
                    return Routed::Now(self.refuse(
                        &req,
                        remote_addr,
                        EngineError::UnknownSid,
                        "no such session",
                    ));
                };
                match transport {
                    TransportKind::WebSocket => {
                        if !config.allow_upgrades {
                            let context = "upgrades are not allowed";
                            return Routed::Now(self.refuse(
                                &req,
                                remote_addr,
                                EngineError::BadRequest,
                                context,
                            ));
                        }
                        // As the official server: complete the WebSocket
                        // handshake, then close it if the session cannot
                        // upgrade (already upgraded or upgrading).
                        let upgradable = socket.transport() == TransportKind::Polling;
                        match socketeer_ws::upgrade::upgrade::<_, Body>(&mut req, &config.websocket)
                        {
                            Ok((resp, fut)) => {
                                tokio::spawn(async move {
                                    if let Ok(mut ws) = fut.await {
                                        if upgradable {
                                            if let Err(Command::Upgrade(mut ws)) =
                                                socket.command(Command::Upgrade(Box::new(ws)))
                                            {
                                                let _ = ws.close(None).await;
                                            }
                                        } else {
                                            let _ = ws.close(None).await;
                                        }
                                    }
                                });
                                Routed::Now(resp)
                            }
                            Err(e) => Routed::Now(text(e.status(), e.to_string())),
                        }
                    }
                    TransportKind::Polling => {
                        if socket.transport() != TransportKind::Polling {
                            let context = "polling on a session that left polling";
                            return Routed::Now(self.refuse(
                                &req,
                                remote_addr,
                                EngineError::BadRequest,
                                context,
                            ));
                        }
                        let method = req.method().clone();
                        poll_or_post(socket, &method, move || req.into_body())
                    }
                }
            }
        }
    }

    /// The handshake of a new session, once its admission hooks agree.
    async fn handshake<B>(
        &self,
        mut req: Request<B>,
        remote_addr: Option<SocketAddr>,
        transport: TransportKind,
    ) -> Response<Body> {
        let info = request_info(&req, remote_addr);
        if let Err(message) = self.admit(&info).await {
            return self.forbid(info, message);
        }
        match transport {
            TransportKind::Polling => self.open_polling(info),
            TransportKind::WebSocket => self.open_websocket(&mut req, info),
        }
    }

    async fn post<B>(&self, body: B, socket: &Socket) -> Reply
    where
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let limit = self.shared.config.max_payload;
        let body = match super::body::whole(Limited::new(body, limit)).await {
            Ok(body) => {
                metrics::received_bytes(body.len());
                body
            }
            Err(e) => {
                let too_large = e
                    .downcast_ref::<http_body_util::LengthLimitError>()
                    .is_some();
                let reason = if too_large {
                    CloseReason::TransportError
                } else {
                    CloseReason::TransportClose
                };
                let _ = socket.command(Command::Fail(reason));
                return Reply::Full(if too_large {
                    text(StatusCode::PAYLOAD_TOO_LARGE, "payload too large")
                } else {
                    error(EngineError::BadRequest)
                });
            }
        };
        let limits = crate::Limits {
            max_payload: limit,
            ..Default::default()
        };
        let decoded = match decode_payload(body, &limits) {
            Ok(Decoding::Done(packets)) => Ok(packets),
            Ok(Decoding::More(rest)) => rest.await,
            Err(e) => Err(e),
        };
        match decoded {
            Ok(packets) => {
                let (tx, rx) = tokio::sync::oneshot::channel();
                if socket.command(Command::Post(packets, tx)).is_err() {
                    return error(EngineError::UnknownSid).into();
                }
                rx.await
                    .unwrap_or_else(|_| error(EngineError::UnknownSid).into())
            }
            Err(e) => {
                tracing::debug!(error = %e, "invalid polling payload");
                let _ = socket.command(Command::Fail(CloseReason::ParseError));
                error(EngineError::BadRequest).into()
            }
        }
    }

    /// A new session, or the 503 of a session limit.
    fn register(
        &self,
        transport: TransportKind,
        info: RequestInfo,
    ) -> Result<Socket, Box<Response<Body>>> {
        let sid = crate::id::random_id();
        let socket = Socket::new(
            sid.clone(),
            info,
            transport,
            QueueLimits {
                messages: self.shared.config.max_queued_messages,
                bytes: self.shared.config.max_queued_bytes,
            },
            self.shared.counters.clone(),
        );
        match self.shared.insert(&socket) {
            Ok(()) => Ok(socket),
            Err(full) => Err(Box::new(self.full(socket.request().clone(), full))),
        }
    }

    fn open_packet(&self, sid: &str, transport: TransportKind) -> crate::Packet {
        let config = &self.shared.config;
        let upgrades = if transport == TransportKind::Polling
            && config.allow_upgrades
            && config.allow_websocket
        {
            vec!["websocket".to_owned()]
        } else {
            Vec::new()
        };
        crate::Packet::Open(crate::OpenPacket {
            sid: sid.to_owned(),
            upgrades,
            ping_interval: config.ping_interval.as_millis() as u64,
            ping_timeout: config.ping_timeout.as_millis() as u64,
            max_payload: config.max_payload as u64,
        })
    }

    fn open_polling(&self, info: RequestInfo) -> Response<Body> {
        let socket = match self.register(TransportKind::Polling, info) {
            Ok(socket) => socket,
            Err(refused) => return *refused,
        };
        let open = self.open_packet(socket.id(), TransportKind::Polling);
        let initial = self.shared.config.initial_packet.clone();
        let initial = initial.map(crate::Packet::Message);
        let body = match crate::payload::encode(std::iter::once(&open).chain(initial.as_ref())) {
            Ok(b) => b,
            Err(_) => return text(StatusCode::INTERNAL_SERVER_ERROR, "encoding failed"),
        };
        let mut resp = payload_response(body);
        self.initial_headers(socket.request(), socket.id(), &mut resp);
        tokio::spawn(driver::run(
            self.shared.clone(),
            socket,
            None,
            Instant::now(),
        ));
        resp
    }

    fn open_websocket<B>(&self, req: &mut Request<B>, info: RequestInfo) -> Response<Body> {
        let (mut resp, fut) =
            match socketeer_ws::upgrade::upgrade::<_, Body>(req, &self.shared.config.websocket) {
                Ok(r) => r,
                Err(e) => return text(e.status(), e.to_string()),
            };
        let socket = match self.register(TransportKind::WebSocket, info) {
            Ok(socket) => socket,
            Err(refused) => return *refused,
        };
        self.initial_headers(socket.request(), socket.id(), &mut resp);
        let open = self.open_packet(socket.id(), TransportKind::WebSocket);
        // The upgrade and the OPEN packet run in a future of their own,
        // freed once done: its state (the pending upgrade, the stream before
        // it is boxed) would otherwise stay part of the session's task for
        // the session's whole life.
        let initial = self.shared.config.initial_packet.clone();
        let handshake = Box::pin(async move {
            let mut ws = fut.await.ok()?;
            let opened_at = Instant::now();
            ws.feed(ws_io::to_ws(open.encode())).await.ok()?;
            if let Some(message) = initial {
                ws.feed(ws_io::to_ws(crate::Packet::Message(message).encode()))
                    .await
                    .ok()?;
            }
            Some((Box::new(ws), opened_at))
        });
        tokio::spawn(websocket_session(self.shared.clone(), socket, handshake));
        resp
    }
}

/// A long-poll (`GET`) or a POST of a polling session: the poll is handed
/// to the session, the POST's body (made by `body`) is read and decoded
/// by the answer's future.
fn poll_or_post<B>(socket: Socket, method: &Method, body: impl FnOnce() -> B) -> Routed<B> {
    match *method {
        Method::GET => {
            let (tx, rx) = tokio::sync::oneshot::channel();
            if socket.offer_poll(tx).is_err() {
                return Routed::Now(error(EngineError::UnknownSid));
            }
            Routed::Session(PollWait {
                reply: Some(rx),
                socket,
            })
        }
        Method::POST => {
            let Some(posting) = PostGuard::enter(socket.clone()) else {
                // Two POSTs at once: the official server fails the session.
                let _ = socket.command(Command::Fail(CloseReason::TransportError));
                return Routed::Now(error(EngineError::BadRequest));
            };
            Routed::Post(body(), posting)
        }
        _ => Routed::Now(error(EngineError::BadRequest)),
    }
}

/// The task of a session opened on a WebSocket: `handshake` completes the
/// upgrade and sends the OPEN packet, then the session runs. This future is
/// what every idle WebSocket session costs, so it holds no state of the
/// handshake (see `idle_websocket_session_is_small`).
async fn websocket_session<H>(shared: Arc<Shared>, socket: Socket, handshake: std::pin::Pin<Box<H>>)
where
    H: std::future::Future<Output = Option<(Box<socketeer_ws::upgrade::HyperWebSocket>, Instant)>>
        + Send
        + 'static,
{
    match handshake.await {
        Some((ws, opened_at)) => driver::run(shared, socket, Some(ws), opened_at).await,
        None => {
            metrics::refused(Refusal::WebSocketHandshake);
            shared.remove(socket.id());
        }
    }
}

/// Packets of a POST decoded between two yields to the runtime.
const DECODE_BATCH: usize = 1024;

/// Decodes a POST's payload whole (nothing of a payload that does not
/// decode reaches the session), yielding to the runtime every
/// [`DECODE_BATCH`] packets: a payload of 100,000 tiny packets must not
/// hold up the other tasks of its thread. The first batch is decoded at
/// once; a future (boxed, to keep every POST's future small) decodes the
/// rest, when there is more.
fn decode_payload(body: Bytes, limits: &crate::Limits) -> Result<Decoding, crate::DecodeError> {
    let mut packets = Vec::new();
    let mut iter = crate::payload::decode_iter(body, limits)?;
    for packet in iter.by_ref().take(DECODE_BATCH) {
        packets.push(packet?);
    }
    if packets.len() < DECODE_BATCH {
        return Ok(Decoding::Done(packets));
    }
    Ok(Decoding::More(Box::pin(async move {
        loop {
            tokio::task::yield_now().await;
            let before = packets.len();
            for packet in iter.by_ref().take(DECODE_BATCH) {
                packets.push(packet?);
            }
            if packets.len() - before < DECODE_BATCH {
                return Ok(packets);
            }
        }
    })))
}

/// A POST's packets: all of them, or a future decoding the rest.
enum Decoding {
    Done(Vec<crate::Packet>),
    More(
        std::pin::Pin<
            Box<
                dyn std::future::Future<Output = Result<Vec<crate::Packet>, crate::DecodeError>>
                    + Send,
            >,
        >,
    ),
}

/// What every answer but a preflight's gets on its way out: compression,
/// the `headers` hook, CORS headers.
struct Finish {
    origin: Option<HeaderValue>,
    /// The request's `Accept-Encoding`, when its answer may be compressed
    /// (GET only).
    accept: Option<HeaderValue>,
    /// What the `headers` hook is told of the request, when there is one
    /// (boxed: set on few servers, and carried by every request's future).
    hook_info: Option<Box<RequestInfo>>,
}

impl Finish {
    /// The compression settings and coding `resp` is to be compressed
    /// with, if any.
    fn coding<'c>(
        &self,
        resp: &Response<Body>,
        config: &'c super::EngineIoConfig,
    ) -> Option<(
        &'c super::compression::HttpCompression,
        super::compression::ContentCoding,
    )> {
        let options = config.http_compression.as_ref()?;
        let coding = super::compression::coding_for(resp, options, self.accept.as_ref())?;
        Some((options, coding))
    }

    /// Whether `reply` goes as it is: a session's payload or `ok`, with
    /// no CORS or `headers` hook configured, and not to be compressed
    /// (what [`Finish::coding`] would say of it as a `Response`).
    fn adds_nothing(&self, reply: &Reply, config: &super::EngineIoConfig) -> bool {
        let Reply::Text(body) = reply else {
            return false;
        };
        config.headers.is_none()
            && config.cors.is_none()
            && config.http_compression.as_ref().is_none_or(|options| {
                let len = body.len() as u64;
                super::compression::coding_for_body(
                    StatusCode::OK,
                    len,
                    options,
                    self.accept.as_ref(),
                )
                .is_none()
            })
    }

    /// The `headers` hook and CORS headers.
    fn apply(self, mut resp: Response<Body>, config: &super::EngineIoConfig) -> Response<Body> {
        let status = resp.status();
        if let (Some(hook), Some(info)) = (&config.headers, &self.hook_info) {
            if status.is_success() || status == StatusCode::SWITCHING_PROTOCOLS {
                hook(info, resp.headers_mut());
            }
        }
        if let Some(cors) = &config.cors {
            cors.apply(self.origin.as_ref(), resp.headers_mut());
        }
        resp
    }
}

/// Where [`EngineIo::route`] sends a request.
enum Routed<B> {
    /// Answered already.
    Now(Response<Body>),
    /// The session answers (a long-poll).
    Session(PollWait),
    /// A POST to a session: its body is read and handed over.
    Post(B, PostGuard),
    /// Anything else that waits (a handshake's admission hooks).
    Later(std::pin::Pin<Box<dyn std::future::Future<Output = Response<Body>> + Send>>),
}

/// A long-poll waiting for its session's answer. Dropped unanswered (its
/// client went away), it tells the session (`Socket::poll_gone`).
struct PollWait {
    /// `None` once answered.
    reply: Option<tokio::sync::oneshot::Receiver<Reply>>,
    socket: Socket,
}

impl std::future::Future for PollWait {
    type Output = Reply;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Reply> {
        let Some(reply) = self.reply.as_mut() else {
            return std::task::Poll::Ready(error(EngineError::UnknownSid).into());
        };
        let answer = std::task::ready!(std::pin::Pin::new(reply).poll(cx));
        self.reply = None;
        std::task::Poll::Ready(answer.unwrap_or_else(|_| error(EngineError::UnknownSid).into()))
    }
}

impl Drop for PollWait {
    fn drop(&mut self) {
        // Closed first, so that the session sees it closed from now on.
        if self.reply.take().is_some() {
            self.socket.poll_gone();
        }
    }
}

/// Marks a session's POST in progress until dropped (also when the
/// request is abandoned midway).
struct PostGuard(Socket);

impl PostGuard {
    fn enter(socket: Socket) -> Option<Self> {
        (!socket.inner.posting.swap(true, Ordering::AcqRel)).then_some(PostGuard(socket))
    }
}

impl Drop for PostGuard {
    fn drop(&mut self) {
        self.0.inner.posting.store(false, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::config::EngineIoConfig;
    use crate::server::handler::EngineHandler;
    use http_body_util::BodyExt;

    struct Nothing;

    impl EngineHandler for Nothing {
        fn on_connect(&self, _: &Socket) {}
        fn on_message(&self, _: &Socket, _: crate::Payload) {}
        fn on_disconnect(&self, _: &Socket, _: CloseReason) {}
    }

    /// `parse_query` reads a query as `split('&')` and `split_once('=')`.
    #[test]
    fn a_query_is_read_as_split_would() {
        fn by_split(q: &str) -> [Option<&str>; 3] {
            let mut out = [None; 3];
            for pair in q.split('&') {
                let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                match k {
                    "EIO" => out[0] = Some(v),
                    "transport" => out[1] = Some(v),
                    "sid" => out[2] = Some(v),
                    _ => {}
                }
            }
            out
        }
        for q in [
            "",
            "&",
            "&&",
            "EIO=4&transport=polling&t=PXy1&sid=abc",
            "sid=a&sid=b",
            "EIO",
            "EIO=",
            "EIO=4=5&",
            "=4&transport",
            "transport=websocket&EIO=3&x=é&sid=ü&",
            "é=1&EIO=4é",
        ] {
            let got = parse_query(q);
            assert_eq!([got.eio, got.transport, got.sid], by_split(q), "{q:?}");
        }
    }

    fn payload_of(n: usize) -> Bytes {
        let packets: Vec<String> = (0..n).map(|i| format!("4{i}")).collect();
        Bytes::from(packets.join("\x1e"))
    }

    fn texts(packets: &[crate::Packet]) -> Vec<String> {
        packets
            .iter()
            .map(|p| match p {
                crate::Packet::Message(crate::Payload::Text(t)) => t.to_string(),
                other => panic!("not a text message: {other:?}"),
            })
            .collect()
    }

    #[tokio::test]
    async fn a_payload_decodes_at_once_up_to_a_batch_and_later_past_it() {
        let limits = crate::Limits {
            max_payload: usize::MAX,
            max_packets: usize::MAX,
        };
        match decode_payload(payload_of(DECODE_BATCH - 1), &limits) {
            Ok(Decoding::Done(packets)) => assert_eq!(packets.len(), DECODE_BATCH - 1),
            _ => panic!("a payload under a batch is decoded at once"),
        }
        let n = 2 * DECODE_BATCH + 500;
        let packets = match decode_payload(payload_of(n), &limits) {
            Ok(Decoding::More(rest)) => rest.await.expect("decodes"),
            _ => panic!("a payload past a batch is decoded in a future"),
        };
        let expected: Vec<String> = (0..n).map(|i| i.to_string()).collect();
        assert_eq!(texts(&packets), expected);
        // A bad packet past the first batch fails the whole payload.
        let mut bad = payload_of(DECODE_BATCH + 10).to_vec();
        bad.extend_from_slice(b"\x1ez");
        match decode_payload(Bytes::from(bad), &limits) {
            Ok(Decoding::More(rest)) => assert!(rest.await.is_err()),
            _ => panic!("a payload past a batch is decoded in a future"),
        }
    }

    /// An engine with one session registered (its task not started).
    fn engine_with_session(transport: TransportKind) -> (EngineIo, Socket) {
        let engine = EngineIo::new(EngineIoConfig::default(), Arc::new(Nothing));
        let uri = match transport {
            TransportKind::Polling => "/engine.io/?EIO=4&transport=polling",
            TransportKind::WebSocket => "/engine.io/?EIO=4&transport=websocket",
        };
        let info = RequestInfo {
            uri: http::Uri::from_static(uri),
            headers: Arc::new(http::HeaderMap::new()),
            remote_addr: None,
        };
        let socket = engine
            .register(transport, info)
            .expect("room for a session");
        (engine, socket)
    }

    fn poll_of(sid: &str) -> Request<http_body_util::Empty<Bytes>> {
        Request::get(format!("/engine.io/?EIO=4&transport=polling&sid={sid}"))
            .body(http_body_util::Empty::new())
            .expect("request")
    }

    /// Lets the session's task (on this single-threaded runtime) run until
    /// `done`, within a bound.
    async fn run_until(mut done: impl FnMut() -> bool) {
        for _ in 0..1000 {
            if done() {
                return;
            }
            tokio::task::yield_now().await;
        }
        panic!("the session's task never got there");
    }

    /// An idle long-polling session's task is not woken by a poll: the poll
    /// waits in its commands until a message wakes the task; a poll that
    /// goes away unanswered there fails the session.
    #[tokio::test]
    async fn a_poll_does_not_wake_an_idle_session() {
        let (engine, socket) = engine_with_session(TransportKind::Polling);
        // Before the task has run it has not said that a poll need not
        // wake it: the first poll does, and the task takes it.
        let first = engine.handle(poll_of(socket.id()), None);
        tokio::spawn(driver::run(
            engine.shared.clone(),
            socket.clone(),
            None,
            Instant::now(),
        ));
        run_until(|| socket.commands().is_empty()).await;
        socket.send_text("one").expect("open");
        let answer = first.await.into_body().collect().await.expect("body");
        assert_eq!(answer.to_bytes(), "4one");

        // With nothing of its own to send, the task is not woken by the
        // next poll: the poll stays queued, however long the task could run.
        run_until(|| socket.commands().parkable()).await;
        let second = engine.handle(poll_of(socket.id()), None);
        for _ in 0..100 {
            tokio::task::yield_now().await;
        }
        assert!(!socket.commands().is_empty(), "the poll woke the task");
        // A message wakes it, and it answers the poll.
        socket.send_text("two").expect("open");
        let answer = second.await.into_body().collect().await.expect("body");
        assert_eq!(answer.to_bytes(), "4two");
        assert!(socket.commands().is_empty());

        // A poll dropped unanswered while queued fails the session.
        run_until(|| socket.commands().parkable()).await;
        let third = engine.handle(poll_of(socket.id()), None);
        assert!(!socket.commands().is_empty());
        drop(third);
        run_until(|| socket.is_closed()).await;
        assert_eq!(engine.session_count(), 0);
    }

    fn plain_of(text: &str) -> Plain {
        match super::super::h1::parse_head(text.as_bytes(), 16 << 10, false) {
            super::super::h1::Head::Request(parsed) => {
                let head = bytes::BytesMut::from(&text.as_bytes()[..parsed.head_len]);
                Plain::new(parsed, head)
            }
            other => panic!("{text:?}: {other:?}"),
        }
    }

    /// A `GET` or `POST` of a polling session is routed from its head;
    /// whatever else `route` would answer otherwise (another path,
    /// version, transport or method, an unknown session, a `headers`
    /// hook to call) is left to the whole request.
    #[test]
    fn only_a_plain_poll_of_a_known_session_skips_the_request() {
        let (engine, socket) = engine_with_session(TransportKind::Polling);
        let sid = socket.id();
        let head = |line: &str| plain_of(&format!("{line} HTTP/1.1\r\nHost: x\r\n\r\n"));
        let poll = format!("GET /engine.io/?EIO=4&transport=polling&sid={sid}");
        let post = format!("POST /engine.io/?sid={sid}&transport=polling&EIO=4&t=1");
        let known = |line: &str| engine.known_session(&head(line)).map(|s| s.id().to_owned());
        assert_eq!(known(&poll).as_deref(), Some(sid));
        assert_eq!(known(&post).as_deref(), Some(sid));
        assert_eq!(
            known(&poll.replace("/engine.io/", "/engine.io")).as_deref(),
            Some(sid)
        );
        for other in [
            poll.replace("GET", "OPTIONS"),
            poll.replace("/engine.io/", "/other/"),
            poll.replace("EIO=4", "EIO=3"),
            poll.replace("transport=polling", "transport=websocket"),
            poll.replace(sid, "unknown"),
            "GET /engine.io/?EIO=4&transport=polling".to_owned(),
        ] {
            assert!(known(&other).is_none(), "{other}");
        }
        // A session on a WebSocket is not polled.
        let (ws_engine, ws) = engine_with_session(TransportKind::WebSocket);
        let line = format!("GET /engine.io/?EIO=4&transport=polling&sid={}", ws.id());
        assert!(ws_engine.known_session(&head(&line)).is_none());
        // With a `headers` hook, every answer needs the whole request.
        let hooked = EngineIo::new(
            EngineIoConfig {
                headers: Some(Arc::new(|_, _| {})),
                ..EngineIoConfig::default()
            },
            Arc::new(Nothing),
        );
        let info = RequestInfo {
            uri: http::Uri::from_static("/engine.io/?EIO=4&transport=polling"),
            headers: Arc::new(http::HeaderMap::new()),
            remote_addr: None,
        };
        let socket = hooked.register(TransportKind::Polling, info).expect("room");
        let line = format!(
            "GET /engine.io/?EIO=4&transport=polling&sid={}",
            socket.id()
        );
        assert!(hooked.known_session(&head(&line)).is_none());
    }

    /// Every idle WebSocket session keeps its task's future: it must not
    /// carry the handshake's state (it was 2,432 bytes with it, 648 without,
    /// in a release build), nor the session's arguments beside the driver
    /// made of them (968 bytes with them, 856 without). Under 896 bytes,
    /// tokio's task cell (128-byte blocks) stays at 1 KiB.
    #[test]
    fn idle_websocket_session_is_small() {
        let (engine, socket) = engine_with_session(TransportKind::WebSocket);
        let session = websocket_session(
            engine.shared.clone(),
            socket,
            Box::pin(async { None::<(Box<socketeer_ws::upgrade::HyperWebSocket>, Instant)> }),
        );
        let size = std::mem::size_of_val(&session);
        println!("websocket session future: {size} bytes");
        assert!(size <= 896, "websocket session future is {size} bytes");
    }
}
