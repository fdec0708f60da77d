//! The tokio side of the client: connects, then runs one task per session
//! that moves bytes between the sockets and the [`ClientSession`], and
//! keeps its time.

use std::collections::BTreeSet;
use std::future::{pending, Future};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::Method;
use socketeer_ws::handshake::WsUrl;
use socketeer_ws::{CloseFrame, MaybeTlsStream, WebSocketStream};
use tokio::sync::{mpsc, Notify};

use super::cookies::CookieJar;
use super::core::ClientSession;
use super::handle::{encode_component, ClientOptions, EngineClient, EngineEvents, Error, Shared};
use super::polling::{HttpTarget, Lane};
use super::types::{CloseReason, Event};
use crate::packet::{Limits, Packet};
use crate::payload;
use crate::server::core::TransportKind;
use crate::sync::LockExt;
use crate::Payload;

/// The servers (WebSocket origin and path) a session of this process was
/// upgraded to WebSocket with: `remember_upgrade` starts there next time
/// (engine.io-client keeps one flag for the page; one per server here).
static PRIOR_WEBSOCKET: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());

/// Boxed: the stream is large and moves between the probe and the session.
type WsStream = Box<WebSocketStream<MaybeTlsStream>>;
type BoxFut<T> = Pin<Box<dyn Future<Output = T> + Send>>;
type HttpResult = (Lane, Result<Bytes, Error>);

/// Packets pulled from the send channel into the session at most; beyond
/// it senders see the channel fill up.
const OUTBOX_LIMIT: usize = 1024;
/// Bound on closing a WebSocket after an abnormal end.
const ABORT_CLOSE: Duration = Duration::from_secs(1);

/// Where and how to connect, built once per client.
struct Target {
    http: Arc<HttpTarget>,
    /// `ws://host:port` or `wss://host:port`.
    ws_origin: String,
    path: String,
    /// `&`-prefixed extra query (the URL's, then the options').
    query: String,
    ws_options: socketeer_ws::ConnectOptions,
    limits: Limits,
    jar: Option<Arc<Mutex<CookieJar>>>,
    remember_upgrade: bool,
}

impl Target {
    fn new(options: &ClientOptions) -> Result<Target, Error> {
        let url = WsUrl::parse(&options.url).map_err(|_| Error::Url(options.url.clone()))?;
        let mut query = String::new();
        if let Some((_, q)) = url.path.split_once('?') {
            for part in q.split('&').filter(|p| !p.is_empty()) {
                query.push('&');
                query.push_str(part);
            }
        }
        for (k, v) in &options.query {
            query.push('&');
            encode_component(k, &mut query);
            query.push('=');
            encode_component(v, &mut query);
        }
        if query.contains(['\r', '\n', ' ', '#']) {
            return Err(Error::Url(options.url.clone()));
        }
        let mut path = options.path.clone();
        if !path.starts_with('/') {
            path.insert(0, '/');
        }
        if path.contains(['?', '#', '\r', '\n', ' ']) {
            return Err(Error::Url(options.path.clone()));
        }
        let scheme = if url.tls { "wss" } else { "ws" };
        let host = if url.host.contains(':') {
            format!("[{}]", url.host)
        } else {
            url.host.clone()
        };
        let ws_origin = format!("{scheme}://{host}:{}", url.port);
        // One TLS configuration for both transports.
        let tls = match (&options.tls, url.tls) {
            (Some(config), true) => Some(config.clone()),
            (None, true) => Some(super::polling::default_tls_config()?),
            (_, false) => None,
        };
        let jar = options
            .with_credentials
            .then(|| Arc::new(Mutex::new(CookieJar::default())));
        let http = Arc::new(HttpTarget::new(
            &url,
            &options.headers,
            tls.clone(),
            options.limits.max_payload,
            jar.clone(),
        )?);
        let ws_options = socketeer_ws::ConnectOptions {
            handshake: socketeer_ws::ClientConfig {
                subprotocols: Vec::new(),
                headers: options.headers.clone(),
                deflate: None,
            },
            limits: socketeer_ws::Limits {
                max_frame_size: options.limits.max_payload,
                max_message_size: options.limits.max_payload,
                ..Default::default()
            },
            stream: Default::default(),
            timeout: Some(options.connect_timeout),
            tls,
        };
        Ok(Target {
            http,
            ws_origin,
            path,
            query,
            ws_options,
            limits: options.limits,
            jar,
            remember_upgrade: options.remember_upgrade,
        })
    }

    /// The key of [`PRIOR_WEBSOCKET`].
    fn server_key(&self) -> String {
        format!("{}{}", self.ws_origin, self.path)
    }

    fn prior_websocket(&self) -> bool {
        self.remember_upgrade && PRIOR_WEBSOCKET.locked().contains(&self.server_key())
    }

    /// Remembers (`remember_upgrade`) whether WebSocket works with this
    /// server.
    fn set_prior_websocket(&self, works: bool) {
        if !self.remember_upgrade {
            return;
        }
        let mut prior = PRIOR_WEBSOCKET.locked();
        if works {
            prior.insert(self.server_key());
        } else {
            prior.remove(&self.server_key());
        }
    }

    /// The WebSocket options, with the cookies of the jar.
    fn ws_options(&self) -> socketeer_ws::ConnectOptions {
        let mut options = self.ws_options.clone();
        let cookie = self
            .jar
            .as_ref()
            .and_then(|j| j.locked().header(std::time::SystemTime::now()));
        if let Some(cookie) = cookie {
            options.handshake.headers.push(("Cookie".into(), cookie));
        }
        options
    }

    fn path_and_query(&self, transport: TransportKind, sid: Option<&str>) -> String {
        let mut out = String::with_capacity(self.path.len() + self.query.len() + 64);
        out.push_str(&self.path);
        out.push_str("?EIO=4&transport=");
        out.push_str(transport.as_str());
        if let Some(sid) = sid {
            out.push_str("&sid=");
            encode_component(sid, &mut out);
        }
        out.push_str(&self.query);
        out
    }

    fn polling_path(&self, sid: Option<&str>) -> String {
        self.path_and_query(TransportKind::Polling, sid)
    }

    fn ws_url(&self, sid: Option<&str>) -> String {
        format!(
            "{}{}",
            self.ws_origin,
            self.path_and_query(TransportKind::WebSocket, sid)
        )
    }

    async fn ws_connect(self: Arc<Self>, sid: Option<String>) -> Result<WsStream, Error> {
        let options = self.ws_options();
        let (ws, _response) =
            socketeer_ws::connect_with_options(&self.ws_url(sid.as_deref()), &options).await?;
        Ok(Box::new(ws))
    }
}

/// Decodes a WebSocket message into a packet; `None` for control frames.
fn ws_packet(
    message: socketeer_ws::Message,
    limits: &Limits,
) -> Option<Result<Packet, crate::DecodeError>> {
    match message {
        socketeer_ws::Message::Text(text) => Some(Packet::decode_text(text, limits)),
        socketeer_ws::Message::Binary(data) => Some(Packet::decode_binary(data, limits)),
        _ => None,
    }
}

fn ws_message(frame: Payload) -> socketeer_ws::Message {
    match frame {
        Payload::Text(text) => socketeer_ws::Message::Text(text),
        Payload::Binary(data) => socketeer_ws::Message::Binary(data),
    }
}

/// The transport the handshake arrived on.
enum Opened {
    Polling(Lane),
    WebSocket(WsStream),
}

async fn open(target: &Target, session: &mut ClientSession) -> Result<Opened, Error> {
    let not_open = |session: &ClientSession| {
        if session.is_open() {
            Ok(())
        } else {
            Err(Error::Handshake(
                "the first packet was not an open packet".into(),
            ))
        }
    };
    match session.transport() {
        TransportKind::Polling => {
            let (lane, body) = target
                .http
                .clone()
                .send(None, Method::GET, target.polling_path(None), None)
                .await;
            let body = body?;
            for packet in payload::decode_iter(body, &target.limits)? {
                session.handle_packet(packet?, Instant::now());
                if session.is_closed() {
                    break;
                }
            }
            not_open(session)?;
            Ok(Opened::Polling(lane))
        }
        TransportKind::WebSocket => {
            let options = target.ws_options();
            let (mut ws, _response) =
                socketeer_ws::connect_with_options(&target.ws_url(None), &options).await?;
            loop {
                match ws.recv().await {
                    Some(Ok(message)) => {
                        if let Some(packet) = ws_packet(message, &target.limits) {
                            session.handle_packet(packet?, Instant::now());
                            not_open(session)?;
                            return Ok(Opened::WebSocket(Box::new(ws)));
                        }
                    }
                    Some(Err(e)) => return Err(e.into()),
                    None => {
                        return Err(Error::Handshake(
                            "the connection closed before the handshake".into(),
                        ))
                    }
                }
            }
        }
    }
}

/// Connects and performs the Engine.IO handshake; the returned halves run
/// the session (see the [module docs](super)). Must be called within a
/// tokio runtime (a task is spawned).
///
/// With [`ClientOptions::try_all_transports`], a transport that fails to
/// open (or to hand over the handshake within
/// [`ClientOptions::connect_timeout`]) is followed by the next one, each
/// with the whole timeout; the error is the last one's.
pub async fn connect(options: ClientOptions) -> Result<(EngineClient, EngineEvents), Error> {
    let target = Arc::new(Target::new(&options)?);
    let modes = options
        .transports
        .attempts(options.try_all_transports, target.prior_websocket());
    let mut last = None;
    let mut found = None;
    for mode in modes {
        let mut session = ClientSession::new(mode);
        session.report_pings(options.ping_events);
        let r = tokio::time::timeout(options.connect_timeout, open(&target, &mut session))
            .await
            .map_err(|_| Error::Timeout)
            .and_then(|r| r);
        match r {
            Ok(opened) => {
                found = Some((session, opened));
                break;
            }
            Err(e) => {
                tracing::debug!(error = %e, transport = session.transport().as_str(), "transport did not open");
                if session.transport() == TransportKind::WebSocket {
                    target.set_prior_websocket(false);
                }
                last = Some(e);
            }
        }
    }
    let Some((session, opened)) = found else {
        return Err(last.unwrap_or_else(|| Error::Handshake("no transport to try".into())));
    };
    // As engine.io-client on open: WebSocket works if the session opened
    // on it; a polling one forgets until its upgrade succeeds.
    target.set_prior_websocket(session.transport() == TransportKind::WebSocket);
    let Some(handshake) = session.handshake().cloned() else {
        return Err(Error::Handshake("no handshake".into()));
    };
    let shared = Arc::new(Shared {
        handshake,
        transport: AtomicU8::new(0),
        closed: AtomicBool::new(false),
        close_requested: AtomicBool::new(false),
        close: Notify::new(),
        queued_bytes: AtomicUsize::new(0),
        max_queued_bytes: options.max_queued_bytes,
        room: Notify::new(),
    });
    shared.set_transport(session.transport());
    let (tx, rx) = mpsc::channel(options.max_queued_messages.max(1));
    let (events_tx, events_rx) = mpsc::channel(options.event_buffer.max(1));
    let max_payload = usize::try_from(shared.handshake.max_payload).unwrap_or(usize::MAX);
    let (ws, get_lane) = match opened {
        Opened::Polling(lane) => (None, lane),
        Opened::WebSocket(ws) => (Some(ws), None),
    };
    let poll_path = target.polling_path(Some(&shared.handshake.sid));
    let driver = Driver {
        session,
        target,
        shared: shared.clone(),
        rx,
        rx_open: true,
        events: events_tx,
        events_open: true,
        ws,
        probe: None,
        get: None,
        post: None,
        get_lane,
        post_lane: None,
        close_timeout: options.close_timeout,
        close_deadline: None,
        heartbeat: Box::pin(tokio::time::sleep(Duration::ZERO)),
        heartbeat_at: None,
        max_payload,
        poll_path,
    };
    tokio::spawn(driver.run());
    Ok((EngineClient { tx, shared }, EngineEvents { rx: events_rx }))
}

enum Probe {
    Connecting(BoxFut<Result<WsStream, Error>>),
    Open(WsStream),
}

enum ProbeOut {
    Connected(Result<WsStream, Error>),
    Received(Option<socketeer_ws::Result<socketeer_ws::Message>>),
}

/// What woke the session task.
enum Wake {
    Command(Option<Payload>),
    CloseRequested,
    Get(HttpResult),
    Post(HttpResult),
    Ws(Option<socketeer_ws::Result<socketeer_ws::Message>>),
    Probe(ProbeOut),
    Heartbeat,
    CloseTimeout,
}

struct Driver {
    session: ClientSession,
    target: Arc<Target>,
    shared: Arc<Shared>,
    rx: mpsc::Receiver<Payload>,
    rx_open: bool,
    events: mpsc::Sender<Event>,
    events_open: bool,
    /// The active WebSocket (WebSocket sessions, and after the upgrade).
    ws: Option<WsStream>,
    probe: Option<Probe>,
    get: Option<BoxFut<HttpResult>>,
    post: Option<BoxFut<HttpResult>>,
    get_lane: Lane,
    post_lane: Lane,
    close_timeout: Duration,
    close_deadline: Option<tokio::time::Instant>,
    /// The heartbeat watchdog: one timer, reset when the deadline moves.
    heartbeat: Pin<Box<tokio::time::Sleep>>,
    heartbeat_at: Option<Instant>,
    /// The server's `maxPayload`.
    max_payload: usize,
    /// The polling URL's path and query, with the session id.
    poll_path: String,
}

async fn next_of<T>(fut: &mut Option<BoxFut<T>>) -> T {
    match fut {
        Some(f) => f.await,
        None => pending().await,
    }
}

async fn ws_recv(ws: &mut Option<WsStream>) -> Option<socketeer_ws::Result<socketeer_ws::Message>> {
    match ws {
        Some(ws) => ws.recv().await,
        None => pending().await,
    }
}

async fn probe_next(probe: &mut Option<Probe>) -> ProbeOut {
    match probe {
        Some(Probe::Connecting(f)) => ProbeOut::Connected(f.await),
        Some(Probe::Open(ws)) => ProbeOut::Received(ws.recv().await),
        None => pending().await,
    }
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => pending().await,
    }
}

impl Driver {
    async fn run(mut self) {
        loop {
            // The flag, not only the notification, decides: a close is
            // never missed whichever branch woke the task.
            if self.session.is_open() && self.shared.close_requested.load(Ordering::Acquire) {
                self.take_commands(usize::MAX);
                self.session.close();
            }
            self.start_io().await;
            self.shared.release(self.session.take_released());
            self.shared.set_transport(self.session.transport());
            while let Some(event) = self.session.poll_event() {
                let last = matches!(event, Event::Closed(_));
                if last {
                    self.shared.closed.store(true, Ordering::Release);
                    // Senders waiting for room learn that none will come.
                    self.shared.room.notify_waiters();
                }
                if self.events_open && self.events.send(event).await.is_err() {
                    self.events_open = false;
                }
                if last {
                    self.shutdown().await;
                    return;
                }
            }
            let wake = self.wait().await;
            self.handle(wake).await;
        }
    }

    async fn wait(&mut self) -> Wake {
        let deadline = self.session.poll_timeout();
        if deadline != self.heartbeat_at {
            self.heartbeat_at = deadline;
            if let Some(d) = deadline {
                self.heartbeat
                    .as_mut()
                    .reset(tokio::time::Instant::from_std(d));
            }
        }
        let heartbeat_armed = self.heartbeat_at.is_some();
        let closing = self.session.is_closing();
        let take_commands = self.rx_open && !closing && self.session.outbox_len() < OUTBOX_LIMIT;
        tokio::select! {
            m = self.rx.recv(), if take_commands => Wake::Command(m),
            _ = self.shared.close.notified(), if !closing => Wake::CloseRequested,
            r = next_of(&mut self.get) => Wake::Get(r),
            r = next_of(&mut self.post) => Wake::Post(r),
            m = ws_recv(&mut self.ws) => Wake::Ws(m),
            p = probe_next(&mut self.probe) => Wake::Probe(p),
            _ = &mut self.heartbeat, if heartbeat_armed => Wake::Heartbeat,
            _ = sleep_until(self.close_deadline) => Wake::CloseTimeout,
        }
    }

    /// Starts whatever I/O the session asks for.
    async fn start_io(&mut self) {
        // Polling has paused for the upgrade: switch to the probed socket.
        if self.session.is_pausing() && self.get.is_none() && self.post.is_none() {
            match self.probe.take() {
                Some(Probe::Open(ws)) => {
                    self.session.paused();
                    self.target.set_prior_websocket(true);
                    self.ws = Some(ws);
                    self.get_lane = None;
                    self.post_lane = None;
                }
                other => {
                    self.probe = other;
                    self.session.probe_failed();
                }
            }
        }
        if self.session.transport() == TransportKind::Polling && !self.session.is_pausing() {
            if self.get.is_none() && self.session.is_open() {
                let fut = self.target.http.clone().send(
                    self.get_lane.take(),
                    Method::GET,
                    self.poll_path.clone(),
                    None,
                );
                self.get = Some(Box::pin(fut));
            }
            if self.post.is_none() {
                if let Some(body) = self.session.poll_payload(self.max_payload) {
                    let fut = self.target.http.clone().send(
                        self.post_lane.take(),
                        Method::POST,
                        self.poll_path.clone(),
                        Some(body),
                    );
                    self.post = Some(Box::pin(fut));
                }
            }
        }
        if let Some(ws) = &mut self.ws {
            while let Some(frame) = self.session.poll_ws_frame() {
                if let Err(e) = ws.feed(ws_message(frame)).await {
                    tracing::debug!(error = %e, "websocket send failed");
                    self.session.transport_closed(CloseReason::TransportError);
                    break;
                }
            }
        }
        if self.session.should_probe() {
            self.session.start_probe();
            let fut = self
                .target
                .clone()
                .ws_connect(Some(self.shared.handshake.sid.clone()));
            self.probe = Some(Probe::Connecting(Box::pin(fut)));
        }
        if self.session.is_closing() {
            if self.close_deadline.is_none() {
                self.close_deadline = Some(tokio::time::Instant::now() + self.close_timeout);
                // An upgrade under way is abandoned.
                self.probe = None;
            }
            if self.session.outbox_len() == 0 && self.post.is_none() {
                self.session.transport_closed(CloseReason::ForcedClose);
            }
        }
    }

    fn close_or(&mut self, reason: CloseReason) {
        let reason = if self.session.is_closing() {
            CloseReason::ForcedClose
        } else {
            reason
        };
        self.session.transport_closed(reason);
    }

    fn take_commands(&mut self, limit: usize) {
        while self.session.outbox_len() < limit {
            match self.rx.try_recv() {
                Ok(m) => {
                    let len = m.len();
                    if let Err(e) = self.session.send(m) {
                        tracing::debug!(error = %e, "message dropped");
                        self.shared.release(len);
                    }
                }
                Err(_) => break,
            }
        }
    }

    async fn handle(&mut self, wake: Wake) {
        match wake {
            Wake::Command(Some(m)) => {
                let len = m.len();
                if let Err(e) = self.session.send(m) {
                    tracing::debug!(error = %e, "message dropped");
                    self.shared.release(len);
                }
                self.take_commands(OUTBOX_LIMIT);
            }
            Wake::Command(None) => {
                // Every handle was dropped.
                self.rx_open = false;
                self.session.close();
            }
            Wake::CloseRequested => {
                // What was queued before the close leaves before it.
                self.take_commands(usize::MAX);
                self.session.close();
            }
            Wake::Get((lane, result)) => {
                self.get = None;
                match result {
                    Ok(body) => {
                        self.get_lane = lane;
                        self.receive_payload(body);
                    }
                    Err(e) if !self.session.is_closing() => {
                        tracing::debug!(error = %e, "poll failed");
                        self.session.transport_closed(CloseReason::TransportError);
                    }
                    Err(_) => {}
                }
            }
            Wake::Post((lane, result)) => {
                self.post = None;
                match result {
                    Ok(_) => self.post_lane = lane,
                    Err(e) => {
                        tracing::debug!(error = %e, "post failed");
                        self.close_or(CloseReason::TransportError);
                    }
                }
            }
            Wake::Ws(Some(Ok(message))) => {
                let limits = self.target.limits;
                match ws_packet(message, &limits) {
                    Some(Ok(packet)) => self.session.handle_packet(packet, Instant::now()),
                    Some(Err(e)) => {
                        tracing::debug!(error = %e, "invalid packet");
                        self.close_or(CloseReason::TransportError);
                    }
                    None => {}
                }
            }
            Wake::Ws(Some(Err(e))) => {
                tracing::debug!(error = %e, "websocket failed");
                // As engine.io-client: the socket closing, even without a
                // close frame, is a "transport close"; errors are not.
                let closed = matches!(&e, socketeer_ws::Error::Io(io) if matches!(
                    io.kind(),
                    std::io::ErrorKind::UnexpectedEof
                        | std::io::ErrorKind::ConnectionReset
                        | std::io::ErrorKind::BrokenPipe
                ));
                self.close_or(if closed {
                    CloseReason::TransportClose
                } else {
                    CloseReason::TransportError
                });
            }
            Wake::Ws(None) => self.close_or(CloseReason::TransportClose),
            Wake::Probe(ProbeOut::Connected(Ok(mut ws))) => {
                match ws.feed(ws_message(ClientSession::probe_frame())).await {
                    Ok(()) => self.probe = Some(Probe::Open(ws)),
                    Err(e) => {
                        tracing::debug!(error = %e, "probe failed");
                        self.probe = None;
                        self.session.probe_failed();
                    }
                }
            }
            Wake::Probe(ProbeOut::Connected(Err(e))) => {
                tracing::debug!(error = %e, "probe connection failed");
                self.probe = None;
                self.session.probe_failed();
            }
            Wake::Probe(ProbeOut::Received(Some(Ok(message)))) => {
                let limits = self.target.limits;
                let good = match ws_packet(message, &limits) {
                    Some(Ok(packet)) => self.session.handle_probe_packet(packet),
                    Some(Err(_)) => false,
                    None => true,
                };
                if !good {
                    self.probe = None;
                    self.session.probe_failed();
                }
            }
            Wake::Probe(ProbeOut::Received(_)) => {
                self.probe = None;
                self.session.probe_failed();
            }
            Wake::Heartbeat => {
                // Take what has already arrived first: a ping may be
                // waiting behind a slow event consumer.
                self.drain_ready().await;
                self.session.handle_timeout(Instant::now());
            }
            Wake::CloseTimeout => self.session.transport_closed(CloseReason::ForcedClose),
        }
    }

    /// Handles input that is ready now, without waiting.
    async fn drain_ready(&mut self) {
        while !self.session.is_closed() {
            if let Some(ws) = &mut self.ws {
                match tokio::time::timeout(Duration::ZERO, ws.recv()).await {
                    Ok(received) => {
                        Box::pin(self.handle(Wake::Ws(received))).await;
                        continue;
                    }
                    Err(_) => break,
                }
            }
            if let Some(get) = &mut self.get {
                match tokio::time::timeout(Duration::ZERO, get).await {
                    Ok(result) => {
                        Box::pin(self.handle(Wake::Get(result))).await;
                        continue;
                    }
                    Err(_) => break,
                }
            }
            break;
        }
    }

    fn receive_payload(&mut self, body: Bytes) {
        match payload::decode_iter(body, &self.target.limits) {
            Ok(packets) => {
                for packet in packets {
                    match packet {
                        Ok(p) => self.session.handle_packet(p, Instant::now()),
                        Err(e) => {
                            tracing::debug!(error = %e, "invalid payload");
                            self.close_or(CloseReason::TransportError);
                            return;
                        }
                    }
                    if self.session.is_closed() {
                        return;
                    }
                }
            }
            Err(e) => {
                tracing::debug!(error = %e, "invalid payload");
                self.close_or(CloseReason::TransportError);
            }
        }
    }

    /// Releases everything; a WebSocket gets a bounded closing handshake.
    async fn shutdown(&mut self) {
        self.get = None;
        self.post = None;
        self.get_lane = None;
        self.post_lane = None;
        self.probe = None;
        self.rx.close();
        if let Some(mut ws) = self.ws.take() {
            let bound = match self.close_deadline {
                Some(d) => d.saturating_duration_since(tokio::time::Instant::now()),
                None => ABORT_CLOSE,
            };
            let close = ws.close(Some(CloseFrame::new(1000u16, "")));
            let _ = tokio::time::timeout(bound.max(Duration::from_millis(100)), close).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_is_send() {
        fn send<T: Send>(_: &T) {}
        send(&connect(ClientOptions::new("http://127.0.0.1:1")));
    }
}
