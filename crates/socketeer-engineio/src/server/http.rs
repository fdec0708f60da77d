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
use super::command::Command;
use super::core::{CloseReason, TransportKind};
use super::driver;
use super::engine::{EngineIo, Shared};
use super::metrics::{self, Refusal};
use super::response::{empty, error, payload_response, text, Body, EngineError};
use super::socket::{QueueLimits, RequestInfo, Socket};
use super::ws_io;
use crate::sync::LockExt;

struct Query<'a> {
    eio: Option<&'a str>,
    transport: Option<&'a str>,
    sid: Option<&'a str>,
}

fn parse_query(q: &str) -> Query<'_> {
    let mut out = Query {
        eio: None,
        transport: None,
        sid: None,
    };
    for pair in q.split('&') {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        match k {
            "EIO" => out.eio = Some(v),
            "transport" => out.transport = Some(v),
            "sid" => out.sid = Some(v),
            _ => {}
        }
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
    pub async fn handle<B>(
        &self,
        req: Request<B>,
        remote_addr: Option<SocketAddr>,
    ) -> Response<Body>
    where
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let config = &self.shared.config;
        let origin = req.headers().get(http::header::ORIGIN).cloned();
        if req.method() == Method::OPTIONS {
            let requested = req.headers().get("access-control-request-headers");
            return match &config.cors {
                Some(cors) => {
                    let mut r = empty(StatusCode::NO_CONTENT);
                    cors.apply_preflight(origin.as_ref(), requested, r.headers_mut());
                    r
                }
                None => bare_preflight(requested),
            };
        }
        let compress = config
            .http_compression
            .as_ref()
            .filter(|_| req.method() == Method::GET);
        let accept = compress.and(req.headers().get(http::header::ACCEPT_ENCODING).cloned());
        let hook_info = config
            .headers
            .as_ref()
            .map(|hook| (hook, request_info(&req, remote_addr)));
        let mut resp = self.route(req, remote_addr).await;
        if let Some(options) = compress {
            resp = super::compression::compress_response(resp, options, accept.as_ref()).await;
        }
        let status = resp.status();
        if let Some((hook, info)) = hook_info {
            if status.is_success() || status == StatusCode::SWITCHING_PROTOCOLS {
                hook(&info, resp.headers_mut());
            }
        }
        if let Some(cors) = &config.cors {
            cors.apply(origin.as_ref(), resp.headers_mut());
        }
        resp
    }

    async fn route<B>(&self, mut req: Request<B>, remote_addr: Option<SocketAddr>) -> Response<Body>
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
            return text(StatusCode::SERVICE_UNAVAILABLE, "server shutting down");
        }
        let transport = match q.transport {
            Some("polling") if config.allow_polling => TransportKind::Polling,
            Some("websocket") if config.allow_websocket => TransportKind::WebSocket,
            _ => {
                let context = format!("transport {:?} not accepted", q.transport.unwrap_or(""));
                return self.refuse(&req, remote_addr, EngineError::UnknownTransport, &context);
            }
        };
        if q.eio != Some("4") {
            let context = format!("EIO={}", q.eio.unwrap_or(""));
            return self.refuse(
                &req,
                remote_addr,
                EngineError::UnsupportedProtocolVersion,
                &context,
            );
        }
        let is_ws = socketeer_ws::upgrade::is_upgrade_request(&req);
        if transport == TransportKind::WebSocket && !is_ws {
            let context = "transport=websocket without a WebSocket upgrade";
            return self.refuse(&req, remote_addr, EngineError::BadRequest, context);
        }
        match q.sid {
            None => {
                if req.method() != Method::GET {
                    let context = format!("handshake with method {}", req.method());
                    return self.refuse(
                        &req,
                        remote_addr,
                        EngineError::BadHandshakeMethod,
                        &context,
                    );
                }
                let info = request_info(&req, remote_addr);
                if let Err(message) = self.admit(&info).await {
                    return self.forbid(info, message);
                }
                match transport {
                    TransportKind::Polling => self.open_polling(info),
                    TransportKind::WebSocket => self.open_websocket(&mut req, info),
                }
            }
            Some(sid) => {
                let entry = {
                    let sessions = self.shared.sessions.locked();
                    sessions.get(sid).map(|e| e.socket.clone())
                };
                let Some(socket) = entry else {
                    return self.refuse(
                        &req,
                        remote_addr,
                        EngineError::UnknownSid,
                        "no such session",
                    );
                };
                match transport {
                    TransportKind::WebSocket => {
                        if !config.allow_upgrades {
                            let context = "upgrades are not allowed";
                            return self.refuse(
                                &req,
                                remote_addr,
                                EngineError::BadRequest,
                                context,
                            );
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
                                resp
                            }
                            Err(e) => text(e.status(), e.to_string()),
                        }
                    }
                    TransportKind::Polling => {
                        if socket.transport() != TransportKind::Polling {
                            let context = "polling on a session that left polling";
                            return self.refuse(
                                &req,
                                remote_addr,
                                EngineError::BadRequest,
                                context,
                            );
                        }
                        match *req.method() {
                            Method::GET => {
                                let (tx, rx) = tokio::sync::oneshot::channel();
                                if socket.command(Command::Poll(tx)).is_err() {
                                    return error(EngineError::UnknownSid);
                                }
                                rx.await.unwrap_or_else(|_| error(EngineError::UnknownSid))
                            }
                            Method::POST => {
                                let Some(_posting) = PostGuard::enter(&socket) else {
                                    // Two POSTs at once: the official server
                                    // fails the session.
                                    let _ =
                                        socket.command(Command::Fail(CloseReason::TransportError));
                                    return error(EngineError::BadRequest);
                                };
                                self.post(req.into_body(), &socket).await
                            }
                            _ => error(EngineError::BadRequest),
                        }
                    }
                }
            }
        }
    }

    async fn post<B>(&self, body: B, socket: &Socket) -> Response<Body>
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
                return if too_large {
                    text(StatusCode::PAYLOAD_TOO_LARGE, "payload too large")
                } else {
                    error(EngineError::BadRequest)
                };
            }
        };
        let limits = crate::Limits {
            max_payload: limit,
            ..Default::default()
        };
        match decode_payload(body, &limits).await {
            Ok(packets) => {
                let (tx, rx) = tokio::sync::oneshot::channel();
                if socket.command(Command::Post(packets, tx)).is_err() {
                    return error(EngineError::UnknownSid);
                }
                rx.await.unwrap_or_else(|_| error(EngineError::UnknownSid))
            }
            Err(e) => {
                tracing::debug!(error = %e, "invalid polling payload");
                let _ = socket.command(Command::Fail(CloseReason::ParseError));
                error(EngineError::BadRequest)
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
/// hold up the other tasks of its thread.
async fn decode_payload(
    body: Bytes,
    limits: &crate::Limits,
) -> Result<Vec<crate::Packet>, crate::DecodeError> {
    let mut packets = Vec::new();
    for (i, packet) in crate::payload::decode_iter(body, limits)?.enumerate() {
        packets.push(packet?);
        if (i + 1) % DECODE_BATCH == 0 {
            tokio::task::yield_now().await;
        }
    }
    Ok(packets)
}

/// Marks a session's POST in progress until dropped (also when the
/// request is abandoned midway).
struct PostGuard<'a>(&'a Socket);

impl<'a> PostGuard<'a> {
    fn enter(socket: &'a Socket) -> Option<Self> {
        (!socket.inner.posting.swap(true, Ordering::AcqRel)).then_some(PostGuard(socket))
    }
}

impl Drop for PostGuard<'_> {
    fn drop(&mut self) {
        self.0.inner.posting.store(false, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::config::EngineIoConfig;
    use crate::server::handler::EngineHandler;

    struct Nothing;

    impl EngineHandler for Nothing {
        fn on_connect(&self, _: &Socket) {}
        fn on_message(&self, _: &Socket, _: crate::Payload) {}
        fn on_disconnect(&self, _: &Socket, _: CloseReason) {}
    }

    /// Every idle WebSocket session keeps its task's future: it must not
    /// carry the handshake's state (it was 2,432 bytes with it, 648 without,
    /// in a release build), nor the session's arguments beside the driver
    /// made of them (968 bytes with them, 856 without). Under 896 bytes,
    /// tokio's task cell (128-byte blocks) stays at 1 KiB.
    #[test]
    fn idle_websocket_session_is_small() {
        let engine = EngineIo::new(EngineIoConfig::default(), Arc::new(Nothing));
        let info = RequestInfo {
            uri: http::Uri::from_static("/engine.io/?EIO=4&transport=websocket"),
            headers: Arc::new(http::HeaderMap::new()),
            remote_addr: None,
        };
        let socket = engine
            .register(TransportKind::WebSocket, info)
            .expect("room for a session");
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
