//! One HTTP request to the server: query parsing and routing, CORS
//! headers, the handshake of a new session (polling or WebSocket) and
//! polling GET/POST. The responses it builds are in `response.rs`.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http::header::HeaderValue;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Limited};

use super::command::Command;
use super::config::AllowOrigin;
use super::core::{CloseReason, TransportKind};
use super::driver;
use super::engine::{EngineIo, SessionEntry, Shared};
use super::response::{empty, error, json, payload_response, text, Body, EngineError};
use super::socket::{QueueLimits, RequestInfo, Socket};
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

impl EngineIo {
    fn cors_headers(&self, req_origin: Option<&HeaderValue>, resp: &mut Response<Body>) {
        let Some(cors) = &self.shared.config.cors else {
            return;
        };
        let allowed = match (&cors.origin, req_origin) {
            (AllowOrigin::Any, Some(o)) if cors.credentials => Some(o.clone()),
            (AllowOrigin::Any, _) => Some(HeaderValue::from_static("*")),
            (AllowOrigin::List(list), Some(o)) => o
                .to_str()
                .ok()
                .filter(|o| list.iter().any(|l| l == o))
                .map(|_| o.clone()),
            (AllowOrigin::List(_), None) => None,
        };
        let h = resp.headers_mut();
        if let Some(origin) = allowed {
            h.insert("access-control-allow-origin", origin);
            if cors.credentials {
                h.insert(
                    "access-control-allow-credentials",
                    HeaderValue::from_static("true"),
                );
            }
            h.insert("vary", HeaderValue::from_static("Origin"));
        }
    }

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
        let origin = req.headers().get(http::header::ORIGIN).cloned();
        let mut resp = self.route(req, remote_addr).await;
        self.cors_headers(origin.as_ref(), &mut resp);
        resp
    }

    async fn route<B>(&self, mut req: Request<B>, remote_addr: Option<SocketAddr>) -> Response<Body>
    where
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let config = &self.shared.config;
        if req.method() == Method::OPTIONS {
            let mut r = empty(StatusCode::NO_CONTENT);
            let h = r.headers_mut();
            h.insert(
                "access-control-allow-methods",
                HeaderValue::from_static("GET, POST, OPTIONS"),
            );
            if let Some(v) = req.headers().get("access-control-request-headers") {
                h.insert("access-control-allow-headers", v.clone());
            }
            return r;
        }
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
            _ => return error(EngineError::UnknownTransport),
        };
        if q.eio != Some("4") {
            return error(EngineError::UnsupportedProtocolVersion);
        }
        let is_ws = socketeer_ws::upgrade::is_upgrade_request(&req);
        if transport == TransportKind::WebSocket && !is_ws {
            return error(EngineError::BadRequest);
        }
        match q.sid {
            None => {
                if req.method() != Method::GET {
                    return error(EngineError::BadHandshakeMethod);
                }
                let info = RequestInfo {
                    uri: owned_uri(uri),
                    headers: Arc::new(owned_headers(req.headers())),
                    remote_addr,
                };
                if let Some(allow) = &config.allow_request {
                    if let Err(message) = allow(&info) {
                        return json(
                            StatusCode::FORBIDDEN,
                            &format!(
                                "{{\"code\":4,\"message\":{}}}",
                                serde_json::Value::String(message)
                            ),
                        );
                    }
                }
                if self.session_count() >= config.max_sessions {
                    return text(StatusCode::SERVICE_UNAVAILABLE, "too many sessions");
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
                    return error(EngineError::UnknownSid);
                };
                match transport {
                    TransportKind::WebSocket => {
                        if !config.allow_upgrades {
                            return error(EngineError::BadRequest);
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
                            Err(e) => text(e.status(), &e.to_string()),
                        }
                    }
                    TransportKind::Polling => {
                        if socket.transport() != TransportKind::Polling {
                            return error(EngineError::BadRequest);
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
        let body = match Limited::new(body, limit).collect().await {
            Ok(b) => b.to_bytes(),
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
        match crate::payload::decode(body, &limits) {
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

    fn register(&self, transport: TransportKind, info: RequestInfo) -> Socket {
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
        self.shared.sessions.locked().insert(
            sid,
            SessionEntry {
                socket: socket.clone(),
            },
        );
        socket
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
        let socket = self.register(TransportKind::Polling, info);
        let open = self.open_packet(socket.id(), TransportKind::Polling);
        let body = match crate::payload::encode([&open]) {
            Ok(b) => b,
            Err(_) => return text(StatusCode::INTERNAL_SERVER_ERROR, "encoding failed"),
        };
        tokio::spawn(driver::run(
            self.shared.clone(),
            socket,
            None,
            Instant::now(),
        ));
        payload_response(body)
    }

    fn open_websocket<B>(&self, req: &mut Request<B>, info: RequestInfo) -> Response<Body> {
        let (resp, fut) =
            match socketeer_ws::upgrade::upgrade::<_, Body>(req, &self.shared.config.websocket) {
                Ok(r) => r,
                Err(e) => return text(e.status(), &e.to_string()),
            };
        let socket = self.register(TransportKind::WebSocket, info);
        let open = self.open_packet(socket.id(), TransportKind::WebSocket);
        // The upgrade and the OPEN packet run in a future of their own,
        // freed once done: its state (the pending upgrade, the stream before
        // it is boxed) would otherwise stay part of the session's task for
        // the session's whole life.
        let handshake = Box::pin(async move {
            let mut ws = fut.await.ok()?;
            let opened_at = Instant::now();
            ws.feed(driver::to_ws(open.encode())).await.ok()?;
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
        None => shared.remove(socket.id()),
    }
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

    struct Nothing;

    impl EngineHandler for Nothing {
        fn on_connect(&self, _: &Socket) {}
        fn on_message(&self, _: &Socket, _: crate::Payload) {}
        fn on_disconnect(&self, _: &Socket, _: CloseReason) {}
    }

    /// Every idle WebSocket session keeps its task's future: it must not
    /// carry the handshake's state (it was 2,432 bytes with it, 648 without,
    /// in a release build).
    #[test]
    fn idle_websocket_session_is_small() {
        let engine = EngineIo::new(EngineIoConfig::default(), Arc::new(Nothing));
        let info = RequestInfo {
            uri: http::Uri::from_static("/engine.io/?EIO=4&transport=websocket"),
            headers: Arc::new(http::HeaderMap::new()),
            remote_addr: None,
        };
        let socket = engine.register(TransportKind::WebSocket, info);
        let session = websocket_session(
            engine.shared.clone(),
            socket,
            Box::pin(async { None::<(Box<socketeer_ws::upgrade::HyperWebSocket>, Instant)> }),
        );
        let size = std::mem::size_of_val(&session);
        println!("websocket session future: {size} bytes");
        assert!(size <= 1024, "websocket session future is {size} bytes");
    }
}
