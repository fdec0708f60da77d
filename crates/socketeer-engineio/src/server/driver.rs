//! The task that drives one session: the Sans-I/O core plus its transport.

use std::collections::VecDeque;
use std::future::pending;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use socketeer_ws::upgrade::HyperWebSocket;
use socketeer_ws::{CloseFrame, Error as WsError};
use tokio::sync::oneshot;
use tracing::Instrument;

use super::command::{Command, PollReply};
use super::core::{Action, CloseReason, SessionCore, TimerAction, TransportKind, UpgradeState};
use super::engine::Shared;
use super::events;
use super::handler::SessionHandler;
use super::metrics::{self, Traffic};
use super::outbox::Outgoing;
use super::rate::TokenBucket;
use super::response::{error, EngineError, Reply};
use super::socket::Socket;
use super::ws_io::{close_ws, feed, from_ws, note_backlog, recv_opt, to_ws, ws_io, ws_len, WsIo};
use crate::payload::PayloadBuilder;
use crate::{Limits, Packet, Payload, Utf8Bytes};

/// Resolves when the application's own work made progress (see
/// [`SessionHandler::poll_work`]).
async fn app_work(app: &mut Option<Box<dyn SessionHandler>>, socket: &Socket) {
    match app {
        Some(app) => std::future::poll_fn(|cx| app.poll_work(socket, cx)).await,
        None => pending().await,
    }
}

/// No bound on decoding a packet this server made itself.
const UNBOUNDED: Limits = Limits {
    max_payload: usize::MAX,
    max_packets: usize::MAX,
};

/// Tells the `packetCreate` listeners of a packet handed to the transport.
fn created(socket: &Socket, frame: &Payload) {
    match Packet::decode(frame.clone(), &UNBOUNDED) {
        Ok(p) => socket.inner.events.packet_create(&p),
        Err(e) => tracing::debug!(sid = socket.id(), error = %e, "sent packet not decodable"),
    }
}

/// Resolves when the HTTP request of a pending poll has gone away.
async fn poll_gone(poll: &mut Option<PollReply>) {
    match poll {
        Some(tx) => tx.closed().await,
        None => pending().await,
    }
}

/// Waits for `deadline` on one timer reused across iterations (a fresh
/// timer per wake-up would cost a timer-wheel insertion every message).
async fn sleep_opt(timer: &mut std::pin::Pin<Box<tokio::time::Sleep>>, deadline: Option<Instant>) {
    match deadline {
        Some(d) => {
            let d = tokio::time::Instant::from_std(d);
            if timer.deadline() != d {
                timer.as_mut().reset(d);
            }
            timer.as_mut().await
        }
        None => pending().await,
    }
}

fn noop_response() -> Reply {
    Reply::Text(bytes::Bytes::from_static(b"6"))
}

struct Driver {
    shared: Arc<Shared>,
    socket: Socket,
    core: SessionCore,
    /// The application's side of this session (taken when it closes).
    app: Option<Box<dyn SessionHandler>>,
    limits: Limits,
    ws: Option<Box<HyperWebSocket>>,
    probe: Option<Box<HyperWebSocket>>,
    pending_poll: Option<PollReply>,
    /// What this task last told its commands (`Commands::set_parkable`).
    parkable: bool,
    /// Pings and pongs, sent ahead of application messages (taken whole
    /// when sent: an idle session keeps no buffer here).
    control: Vec<Payload>,
    /// A close requested on polling waits for the next poll to deliver
    /// what is queued and the close packet, until this deadline.
    drain_deadline: Option<Instant>,
    /// The inbound rate guard (`EngineIoConfig::max_inbound_rate`).
    /// Boxed: off by default, and every idle session keeps this struct in
    /// its task (`idle_websocket_session_is_small`).
    inbound: Option<Box<TokenBucket>>,
    /// Packets of a polling POST not handled yet: they are handled in
    /// batches, between which other tasks run.
    inbox: VecDeque<Packet>,
    /// The POST whose packets are in `inbox`: answered once they are all
    /// handled.
    post_reply: Option<oneshot::Sender<Reply>>,
    /// Messages and bytes since the metrics were last flushed.
    traffic: Traffic,
}

impl Driver {
    /// `None` when the rate guard lets the session handle a message now
    /// (always without a guard); else when it will.
    fn read_at(&mut self) -> Option<Instant> {
        self.inbound
            .as_mut()
            .and_then(|b| b.ready_at(Instant::now()))
    }

    /// A message was received: one token of the rate guard.
    fn spend(&mut self) {
        if let Some(bucket) = self.inbound.as_mut() {
            bucket.take();
        }
    }

    /// Handles the packets of the POST in progress, up to a batch and as
    /// the rate guard allows; answers the POST once none is left.
    fn drain_inbox(&mut self) {
        for _ in 0..INPUT_BATCH {
            if self.core.closed().is_some() || self.read_at().is_some() {
                break;
            }
            let Some(packet) = self.inbox.pop_front() else {
                break;
            };
            self.spend();
            self.handle_packet(packet);
        }
        if self.inbox.is_empty() || self.core.closed().is_some() {
            self.inbox.clear();
            if let Some(tx) = self.post_reply.take() {
                let _ = tx.send(Reply::post_ok());
            }
        }
    }

    fn handle_packet(&mut self, packet: Packet) {
        if matches!(packet, Packet::Message(_)) {
            self.traffic.message_in();
        }
        self.socket.inner.events.packet(&packet);
        match self.core.on_packet(packet, Instant::now()) {
            Action::Deliver(m) => {
                if let Some(app) = self.app.as_mut() {
                    app.on_message(&self.socket, m);
                }
            }
            Action::Close(_) | Action::None | Action::ReplyProbe | Action::CompleteUpgrade => {}
        }
    }

    fn handle_command(&mut self, cmd: Command) {
        // A timer due before this request arrived fires first, whatever
        // the scheduling delay of the timer itself.
        self.handle_timeout();
        if self.core.closed().is_some() {
            refuse(cmd);
            return;
        }
        match cmd {
            Command::Poll(tx) => self.accept_poll(tx),
            Command::Post(packets, tx) => {
                // Handled by the session loop in batches (`drain_inbox`);
                // the POST is answered when they all are, so a client
                // that posts faster than the session handles waits for
                // the answer. (A second POST comes before the first is
                // answered only if that one's request was abandoned.)
                self.inbox.extend(packets);
                self.post_reply = Some(tx);
            }
            Command::Fail(reason) => self.core.close(reason),
            Command::Upgrade(ws) => {
                if self.core.start_upgrade(Instant::now()) {
                    self.probe = Some(ws);
                } else {
                    tokio::spawn(close_ws(ws, None));
                }
            }
        }
    }

    /// A long-poll, from a command (woken for it or not: see `Commands`).
    fn accept_poll(&mut self, tx: PollReply) {
        // Upgrade packets the client sent before this request count
        // first (they may sit unread on the probing socket).
        self.drain_probe();
        if self.core.transport() != TransportKind::Polling {
            let _ = tx.send(error(EngineError::BadRequest).into());
        } else if self.pending_poll.is_some() {
            // Two polls at once: the official server fails the session.
            let _ = tx.send(error(EngineError::BadRequest).into());
            self.core.close(CloseReason::TransportError);
        } else if self.core.upgrade_state() == UpgradeState::Probed {
            let _ = tx.send(noop_response());
        } else {
            self.pending_poll = Some(tx);
        }
    }

    /// Handles what the probing WebSocket already has, without waiting.
    fn drain_probe(&mut self) {
        let waker = std::task::Waker::noop();
        let mut cx = std::task::Context::from_waker(waker);
        while let Some(probe) = self.probe.as_mut() {
            match probe.poll_recv(&mut cx) {
                std::task::Poll::Ready(msg) => self.handle_probe_now(msg),
                std::task::Poll::Pending => break,
            }
        }
    }

    async fn handle_probe(&mut self, msg: Option<Result<socketeer_ws::Message, WsError>>) {
        self.handle_probe_now(msg);
        if let Some(probe) = self.probe.as_mut() {
            let _ = probe.flush().await;
        }
    }

    fn handle_probe_now(&mut self, msg: Option<Result<socketeer_ws::Message, WsError>>) {
        let packet = match msg {
            Some(Ok(m)) => match from_ws(m) {
                Some(f) => Packet::decode(f, &self.limits).ok(),
                None => return,
            },
            _ => None,
        };
        let action = match &packet {
            Some(p) => self.core.on_probe_packet(p),
            None => {
                self.core.abort_upgrade();
                Action::Close(CloseReason::TransportError)
            }
        };
        match action {
            Action::ReplyProbe => {
                if let Some(probe) = self.probe.as_mut() {
                    let pong = Packet::Pong(Some(Utf8Bytes::from_static("probe"))).encode();
                    let _ = probe.try_feed(to_ws(pong));
                }
                if let Some(tx) = self.pending_poll.take() {
                    let _ = tx.send(noop_response());
                }
            }
            Action::CompleteUpgrade => {
                self.ws = self.probe.take();
                self.socket.set_transport(TransportKind::WebSocket);
                metrics::upgraded();
                tracing::Span::current().record("transport", "websocket");
                tracing::debug!("upgraded to websocket");
                if let Some(tx) = self.pending_poll.take() {
                    let _ = tx.send(noop_response());
                }
                self.socket.inner.events.upgrade(TransportKind::WebSocket);
            }
            Action::Close(_) => {
                if let Some(probe) = self.probe.take() {
                    tokio::spawn(close_ws(probe, None));
                }
            }
            Action::Deliver(_) | Action::None => {}
        }
    }

    fn handle_ws(&mut self, msg: Option<Result<socketeer_ws::Message, WsError>>) {
        match msg {
            Some(Ok(m)) => {
                let Some(frame) = from_ws(m) else { return };
                self.traffic.bytes_in(frame.len());
                match Packet::decode(frame, &self.limits) {
                    Ok(p) => self.handle_packet(p),
                    Err(e) => {
                        tracing::debug!(sid = self.socket.id(), error = %e, "invalid packet");
                        self.core.close(CloseReason::ParseError);
                    }
                }
            }
            Some(Err(WsError::Protocol(e))) => {
                tracing::debug!(sid = self.socket.id(), error = %e, "websocket protocol error");
                self.core.close(CloseReason::TransportError);
            }
            Some(Err(_)) | None => self.core.close(CloseReason::TransportClose),
        }
    }

    /// Handles the messages the WebSocket has already received, without
    /// waiting and up to a bound: one turn of the session loop (and one
    /// write) then serves a whole batch instead of one message. `bytes`:
    /// what the turn has handled already. Returns true when it stopped at
    /// its bound, input possibly left.
    fn drain_ws(&mut self, mut bytes: usize) -> bool {
        let waker = std::task::Waker::noop();
        let mut cx = std::task::Context::from_waker(waker);
        for _ in 0..INPUT_BATCH {
            if self.core.closed().is_some() {
                return false;
            }
            if bytes >= WS_DRAIN_BYTES {
                return true;
            }
            if self.read_at().is_some() {
                // The rate guard: the session loop waits for the next
                // token, reading nothing (the client's writes back up).
                return false;
            }
            // Polled with a no-op waker: the session loop polls the
            // WebSocket with its own waker again before it sleeps.
            let Some(ws) = self.ws.as_mut() else {
                return false;
            };
            let polled = ws.poll_recv(&mut cx);
            note_backlog(&self.socket, ws);
            match polled {
                std::task::Poll::Ready(msg) => {
                    bytes += ws_len(&msg);
                    self.spend();
                    self.handle_ws(msg);
                }
                std::task::Poll::Pending => return false,
            }
        }
        true
    }

    fn handle_timeout(&mut self) {
        let now = Instant::now();
        if self.drain_deadline.is_some_and(|d| now >= d) {
            let reason = self.socket.lock().close.unwrap_or(CloseReason::ForcedClose);
            self.core.close(reason);
            return;
        }
        if let Some(app) = self.app.as_mut() {
            if app.poll_timeout().is_some_and(|t| now >= t) {
                app.handle_timeout(&self.socket, now);
            }
        }
        while let Some(action) = self.core.handle_timeout(now) {
            match action {
                TimerAction::SendPing => {
                    self.control.push(Packet::Ping(None).encode());
                    // The heartbeat is when a session's traffic reaches
                    // the metrics recorder (and when it closes).
                    self.traffic.flush(self.shared.counters.queue_high_water());
                }
                TimerAction::AbortUpgrade => {
                    if let Some(probe) = self.probe.take() {
                        tokio::spawn(close_ws(probe, None));
                    }
                }
                TimerAction::Close(_) => break,
            }
        }
    }

    /// Moves queued packets to the transport. Returns true when what was
    /// moved must be written before anything else is queued.
    fn flush(&mut self) -> bool {
        if self.core.closed().is_some() {
            return false;
        }
        if let Some(ws) = self.ws.as_mut() {
            let (frames, close, barrier) = {
                let mut outbox = self.socket.lock();
                let before = outbox.bytes();
                let backlog = self.socket.inner.backlog.load(Ordering::Relaxed);
                self.shared.counters.queue_depth(before + backlog);
                let taken = match outbox.barrier.take().map(|n| n.get() as usize) {
                    Some(n) if n < outbox.len() => (outbox.take_first(n), None, true),
                    _ => (outbox.take(), outbox.close, false),
                };
                // The bytes move to the WebSocket's queue: counted there
                // before the lock is released, so that a sender never sees
                // them in neither place.
                let moved = before - outbox.bytes();
                self.socket
                    .inner
                    .backlog
                    .fetch_add(moved, Ordering::Relaxed);
                self.socket.sync_bytes(&outbox);
                taken
            };
            let control = std::mem::take(&mut self.control).into_iter();
            let create = self.socket.inner.events.listens(events::PACKET_CREATE);
            let (messages, mut bytes) = (frames.len(), 0);
            for item in control.map(Outgoing::Payload).chain(frames) {
                bytes += item.wire_len();
                if create {
                    created(&self.socket, &item.clone().into_payload());
                }
                if let Err(e) = feed(ws, item) {
                    // The WebSocket's own limit: the same overflow.
                    tracing::debug!(sid = self.socket.id(), error = %e, "send queue over its limit");
                    self.socket.overflow(&mut self.socket.lock());
                    self.core.close(CloseReason::TransportError);
                    return false;
                }
            }
            self.traffic.sent(messages, bytes);
            note_backlog(&self.socket, ws);
            if let Some(reason) = close {
                self.core.close(reason);
            }
            return barrier;
        }
        let (close, has_frames) = {
            let mut outbox = self.socket.lock();
            outbox.barrier = None;
            (outbox.close, !outbox.is_empty())
        };
        if close.is_some() && self.drain_deadline.is_none() {
            // A long-polling client gets the close packet with its next
            // poll; at shutdown it is not waited for long.
            let grace = match close {
                Some(CloseReason::ServerShuttingDown) => SHUTDOWN_POLL_GRACE,
                _ => self.shared.config.ping_timeout,
            };
            self.drain_deadline = Some(Instant::now() + grace.min(self.shared.config.ping_timeout));
        }
        let due = !self.control.is_empty() || has_frames || close.is_some();
        if due && self.pending_poll.is_none() {
            // A poll queued without waking this task (its own ping, say,
            // is what is due). If there is none, the next one must wake
            // the task: said under the same lock, or a poll queued between
            // the look and the word would wait with the ping.
            let parked = {
                let mut commands = self.socket.commands();
                let parked = commands.pop_poll();
                if parked.is_none() {
                    commands.set_parkable(false);
                }
                parked
            };
            match parked {
                Some(tx) => self.accept_poll(tx),
                None => self.parkable = false,
            }
        }
        if !due || self.pending_poll.is_none() || self.core.closed().is_some() {
            if !due {
                self.publish_parkable();
            }
            return false;
        }
        // Handed to the HTTP response: no longer queued here.
        let frames = {
            let mut outbox = self.socket.lock();
            self.shared.counters.queue_depth(outbox.bytes());
            let frames = outbox.take();
            self.socket.sync_bytes(&outbox);
            frames
        };
        let messages = frames.len();
        let mut payload = PayloadBuilder::new();
        let frames = frames.into_iter().map(Outgoing::into_payload);
        let events = &self.socket.inner.events;
        let create = events.listens(events::PACKET_CREATE);
        for f in std::mem::take(&mut self.control).into_iter().chain(frames) {
            match payload.push_frame(&f) {
                Ok(()) if create => created(&self.socket, &f),
                Ok(()) => {}
                Err(e) => {
                    tracing::warn!(sid = self.socket.id(), error = %e, "message dropped: cannot travel over polling")
                }
            }
        }
        if close.is_some() {
            let _ = payload.push(&Packet::Close);
            events.packet_create(&Packet::Close);
        }
        if let Some(tx) = self.pending_poll.take() {
            let body = payload.finish();
            self.traffic.sent(messages, body.len());
            let _ = tx.send(Reply::Text(body));
            events.drain();
        }
        if let Some(reason) = close {
            self.core.close(reason);
        }
        self.publish_parkable();
        false
    }

    /// Tells the session's commands whether a long-poll may be queued
    /// without waking this task: when the task has no poll and nothing of
    /// its own to send or decide for one (see `Commands`). Called before
    /// the task sleeps (at the end of `flush`); it locks only on a change.
    fn publish_parkable(&mut self) {
        let parkable = self.pending_poll.is_none()
            && self.ws.is_none()
            && self.probe.is_none()
            && self.core.transport() == TransportKind::Polling
            && self.core.upgrade_state() == UpgradeState::None
            && self.core.closed().is_none()
            && self.control.is_empty()
            && self.drain_deadline.is_none();
        if parkable != self.parkable {
            self.parkable = parkable;
            self.socket.commands().set_parkable(parkable);
        }
    }
}

/// Most messages (WebSocket messages, or packets of a polling POST)
/// handled in one turn of a session's loop, before other tasks run.
const INPUT_BATCH: usize = 64;
/// Most bytes of WebSocket messages handled in one turn of a session's
/// loop (the last message may cross it).
const WS_DRAIN_BYTES: usize = 1 << 20;

/// How long a long-polling session closed by a server shutdown waits for
/// the client's next poll to deliver the close packet.
const SHUTDOWN_POLL_GRACE: Duration = Duration::from_secs(1);

/// Answers a request addressed to a session that has closed.
fn refuse(cmd: Command) {
    match cmd {
        Command::Poll(tx) | Command::Post(_, tx) => {
            let _ = tx.send(error(EngineError::UnknownSid).into());
        }
        Command::Upgrade(ws) => {
            tokio::spawn(close_ws(ws, None));
        }
        Command::Fail(_) => {}
    }
}

/// Runs a session until it closes; then unregisters it and tells the
/// application. Its work runs in a span of its own (`engineio_session`:
/// the session id, its transport, the client's address), at debug level.
///
/// Not an `async fn`: every idle session keeps this future in its task,
/// and an async fn would keep its arguments there beside the [`Driver`]
/// made of them. The session opens (the application's side is made) when
/// this is called.
pub(crate) fn run(
    shared: Arc<Shared>,
    socket: Socket,
    ws: Option<Box<HyperWebSocket>>,
    opened_at: Instant,
) -> impl std::future::Future<Output = ()> + Send {
    let transport = if ws.is_some() {
        TransportKind::WebSocket
    } else {
        TransportKind::Polling
    };
    // Built once per session; nothing is formatted unless it is enabled.
    let span = tracing::debug_span!(
        "engineio_session",
        sid = socket.id(),
        transport = metrics::transport_label(transport),
        remote = ?socket.request().remote_addr,
    );
    let d = span.in_scope(|| Driver::open(shared, socket, ws, opened_at, transport));
    // What this session's handlers queue for parked sessions (a
    // broadcast) is written at the end of each poll (see `direct.rs`).
    super::direct::batch_writes(d.drive().instrument(span))
}

impl Drop for Driver {
    /// A session's task dropped before its end (the runtime shutting down)
    /// must not leave its connection's writer lent: it would keep the
    /// connection open as long as the session's handle lives.
    fn drop(&mut self) {
        self.socket.unpark();
    }
}

impl Driver {
    /// The session's state as it opens: the heartbeat counts from the
    /// handshake the client saw (`opened_at`), not from when its task
    /// first ran.
    fn open(
        shared: Arc<Shared>,
        socket: Socket,
        ws: Option<Box<HyperWebSocket>>,
        opened_at: Instant,
        transport: TransportKind,
    ) -> Driver {
        let config = &shared.config;
        metrics::opened(transport);
        tracing::debug!("session opened");
        let core = SessionCore::new(
            opened_at,
            transport,
            config.ping_interval,
            config.ping_timeout,
            config.upgrade_timeout,
        );
        let limits = Limits {
            max_payload: config.max_payload,
            ..Limits::default()
        };
        let app = shared.factory.open(&socket);
        let inbound = config
            .max_inbound_rate
            .map(|rate| Box::new(TokenBucket::new(rate, opened_at)));
        Driver {
            shared,
            socket,
            core,
            app: Some(app),
            limits,
            ws,
            probe: None,
            pending_poll: None,
            parkable: false,
            control: Vec::new(),
            drain_deadline: None,
            inbound,
            inbox: VecDeque::new(),
            post_reply: None,
            traffic: Traffic::default(),
        }
    }

    /// The session's loop, until it closes; then the ending.
    ///
    /// An async block, not an `async fn`: an async fn keeps its argument
    /// and the local it becomes side by side in the future (two Drivers
    /// in every idle session's task); the block keeps the one it captured.
    #[allow(clippy::manual_async_fn)] // see above: the async fn is bigger
    fn drive(mut self) -> impl std::future::Future<Output = ()> + Send {
        async move {
            let d = &mut self;
            let shared = d.shared.clone();
            let socket = d.socket.clone();
            // Fires at once: the first turn of the loop sets the deadline.
            let mut timer = Box::pin(tokio::time::sleep(std::time::Duration::ZERO));
            let reason = loop {
                // The WebSocket's writer back from the outbox (if it was
                // lent while the task slept), before anything touches it.
                socket.unpark();
                if d.flush() {
                    if let Some(ws) = d.ws.as_mut() {
                        if ws.flush().await.is_err() {
                            d.core.close(CloseReason::TransportError);
                        }
                        // Peers that read the handshake reply and only then listen
                        // for the next message (as the official Node server's
                        // timing lets them) must get it in a read of its own.
                        tokio::time::sleep(shared.config.handshake_write_gap).await;
                    }
                    continue;
                }
                if let Some(reason) = d.core.closed() {
                    break reason;
                }
                // The rate guard: while no message may be handled, the session
                // reads nothing (it still writes) until the next token is due.
                let read_at = d.read_at();
                let readable = read_at.is_none();
                let deadline = [
                    d.core.poll_timeout(),
                    d.drain_deadline,
                    d.app.as_ref().and_then(|a| a.poll_timeout()),
                    read_at,
                ]
                .into_iter()
                .flatten()
                .min();
                tokio::select! {
                    // WebSocket input first: what a client sent there before an
                    // HTTP request must be handled before the request.
                    biased;
                    msg = recv_opt(&mut d.probe) => d.handle_probe(msg).await,
                    io = ws_io(&mut d.ws, &socket, readable, shared.config.direct_writes), if !readable || d.inbox.is_empty() => {
                        let msg = match io {
                            WsIo::Received(msg) => msg,
                            WsIo::Written(true) => continue,
                            WsIo::Written(false) => {
                                d.core.close(CloseReason::TransportError);
                                continue;
                            }
                        };
                        let len = ws_len(&msg);
                        d.spend();
                        d.handle_ws(msg);
                        if d.drain_ws(len) {
                            // A client that keeps the session busy (a flood whose
                            // handlers broadcast) must let other tasks run: the
                            // sessions its broadcasts wake wait in this worker's
                            // LIFO slot, which other workers cannot steal, and
                            // tokio's budget counts reads, not the work behind
                            // them. Without this, recipients that read well could
                            // go over their queue limit for want of CPU.
                            tokio::task::yield_now().await;
                        }
                    }
                    // Woken for queued messages and for commands alike; one
                    // command per turn, so what it queues is flushed before the
                    // next one runs.
                    _ = socket.inner.notify.notified() => {
                        let (cmd, more) = {
                            let mut commands = socket.commands();
                            let cmd = commands.pop();
                            (cmd, !commands.is_empty())
                        };
                        if more {
                            socket.inner.notify.notify_one();
                        }
                        if let Some(cmd) = cmd {
                            d.handle_command(cmd);
                        }
                    }
                    // What the application awaits (async middlewares) finished:
                    // the loop turns and sends what it queued.
                    _ = app_work(&mut d.app, &socket) => {}
                    // A polling POST's packets, a batch per turn.
                    () = std::future::ready(()), if readable && !d.inbox.is_empty() => {
                        d.drain_inbox();
                        tokio::task::yield_now().await;
                    }
                    // As the official server: a poll whose connection closed early
                    // fails the session, rather than swallowing what is sent to it.
                    _ = poll_gone(&mut d.pending_poll) => {
                        d.pending_poll = None;
                        d.core.close(CloseReason::TransportError);
                    }
                    _ = sleep_opt(&mut timer, deadline) => d.handle_timeout(),
                }
            };
            if let Some(tx) = d.post_reply.take() {
                // The session closed before all of the POST's packets were
                // handled (or by one of them): as when a POST closes a session.
                let _ = tx.send(Reply::post_ok());
            }
            shared.remove(socket.id());
            socket.mark_closed();
            // The traffic first: once a scrape sees the disconnect, it sees it.
            d.traffic.flush(shared.counters.queue_high_water());
            shared.counters.closed(reason);
            tracing::debug!(sid = socket.id(), %reason, overflowed = socket.overflowed(), "session closed");
            // A poll queued without waking this task is the waiting one.
            let (parked, unanswered) = {
                let mut commands = socket.commands();
                let parked = commands.pop_poll();
                (parked, commands.close())
            };
            if let Some(tx) = d.pending_poll.take().or(parked) {
                let body: &'static [u8] = if reason == CloseReason::TransportClose {
                    b"6"
                } else {
                    b"1"
                };
                let _ = tx.send(Reply::Text(bytes::Bytes::from_static(body)));
            }
            // Answer anything still waiting so no HTTP request hangs.
            for cmd in unanswered {
                refuse(cmd);
            }
            if let Some(app) = d.app.take() {
                app.on_close(&socket, reason);
            }
            socket.inner.events.close(reason);
            if let Some(probe) = d.probe.take() {
                tokio::spawn(close_ws(probe, None));
            }
            if let Some(ws) = d.ws.take() {
                let frame = match reason {
                    CloseReason::ServerShuttingDown => {
                        Some(CloseFrame::new(1001, "server shutting down"))
                    }
                    CloseReason::ParseError => Some(CloseFrame::new(1002, "parse error")),
                    // A limit of ours the client broke by not reading: policy
                    // (1011 would say the server failed).
                    CloseReason::TransportError if socket.overflowed() => {
                        Some(CloseFrame::new(1008, "send queue overflow"))
                    }
                    _ => None,
                };
                // What is still queued goes out first, within the close timeout.
                close_ws(ws, frame).await;
            }
            let _ = socket.lock().take();
            socket.sync_bytes(&socket.lock());
            socket.inner.backlog.store(0, Ordering::Relaxed);
        }
    }
}
