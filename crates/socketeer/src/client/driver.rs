//! The manager's task: carries out the core's outputs over the Engine.IO
//! client, feeds it messages, connection changes and time, and runs the
//! handlers (outside the state lock).

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::Instant;

use std::collections::VecDeque;

use socketeer_engineio::client::{
    self as engine, CloseReason, EngineClient, EngineEvents, Event as EngineEvent, SendError,
};
use socketeer_engineio::{Payload, Utf8Bytes};
use tokio::sync::Notify;

use super::core::{AsyncAuth, ConnectError, DisconnectReason, Event, Output};
use super::shared::{Shared, Socket, SocketInner};
use crate::Value;

/// An Engine.IO connection opening, then the async auth payloads of the
/// namespaces to join on it, awaited.
type Connecting = Pin<Box<dyn Future<Output = Result<Opened, engine::Error>> + Send>>;
type Opened = (EngineClient, EngineEvents, Vec<(Arc<str>, Value)>);

fn connecting_with(
    options: engine::ClientOptions,
    auths: Vec<(Arc<str>, AsyncAuth)>,
) -> Connecting {
    Box::pin(async move {
        let (client, events) = engine::connect(options).await?;
        let mut values = Vec::with_capacity(auths.len());
        for (nsp, auth) in auths {
            values.push((nsp, auth().await));
        }
        Ok((client, events, values))
    })
}

/// The open Engine.IO connection.
struct Conn {
    client: EngineClient,
    events: EngineEvents,
    /// Messages waiting for room in the Engine.IO send queue, in order:
    /// the driver waits for it rather than drop them.
    stalled: VecDeque<Payload>,
    /// Close the connection once `stalled` is sent.
    close_after: bool,
}

impl Conn {
    fn send(&mut self, message: Payload) {
        if !self.stalled.is_empty() {
            self.stalled.push_back(message);
            return;
        }
        match self.client.send(message.clone()) {
            Ok(()) => {}
            Err(SendError::QueueFull) => self.stalled.push_back(message),
            Err(e) => tracing::warn!(error = %e, "Socket.IO packet not sent"),
        }
    }

    /// Sends what waited, until the queue is full again.
    fn unstall(&mut self) {
        while let Some(m) = self.stalled.pop_front() {
            match self.client.send(m.clone()) {
                Ok(()) => {}
                Err(SendError::QueueFull) => {
                    self.stalled.push_front(m);
                    return;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "Socket.IO packets not sent");
                    self.stalled.clear();
                }
            }
        }
        if self.close_after {
            self.client.close();
        }
    }
}

/// What to run once the state lock is released.
enum Job {
    Connect(Socket),
    Disconnect(Socket, DisconnectReason),
    ConnectError(Socket, ConnectError),
    Event(Socket, String, Vec<Value>, Option<u64>),
    Open,
    Close(DisconnectReason),
    Ping,
    Error(String),
    ReconnectAttempt(u32),
    Reconnect(u32),
    ReconnectError(String),
    ReconnectFailed,
}

/// Carries out the core's outputs under the lock; returns the handler
/// calls to make after it.
fn step(
    shared: &Arc<Shared>,
    conn: &mut Option<Conn>,
    connecting: &mut Option<Connecting>,
) -> Vec<Job> {
    let mut jobs = Vec::new();
    let mut state = shared.lock();
    let state = &mut *state;
    let socket = |sockets: &std::collections::HashMap<Arc<str>, Arc<SocketInner>>, nsp: &str| {
        sockets.get(nsp).map(|inner| Socket {
            shared: shared.clone(),
            inner: inner.clone(),
        })
    };
    while let Some(output) = state.core.poll_output() {
        match output {
            Output::Open => {
                // An earlier connection still flushing is given up.
                if let Some(old) = conn.take() {
                    old.client.close();
                }
                let auths = state.core.pending_auths();
                *connecting = Some(connecting_with(shared.engine.clone(), auths));
            }
            Output::Close => {
                *connecting = None;
                if let Some(c) = conn.as_mut() {
                    if c.stalled.is_empty() {
                        c.client.close();
                        *conn = None;
                    } else {
                        // Closed once what waits is sent; the core no
                        // longer listens to it.
                        c.close_after = true;
                    }
                }
            }
            Output::Transmit(msg) => {
                let Some(c) = conn.as_mut().filter(|c| !c.close_after) else {
                    continue;
                };
                // The core writes Engine.IO packets ("4" + Socket.IO
                // packet); the Engine.IO client adds the "4" itself.
                let text = Utf8Bytes::from_trusted(msg.text.as_bytes().slice(1..));
                c.send(Payload::Text(text));
                for a in msg.attachments {
                    c.send(Payload::Binary(a));
                }
            }
            Output::Event(event) => match event {
                Event::Ack { token, result } => {
                    if let Some(tx) = state.acks.remove(&token) {
                        let _ = tx.send(result);
                    }
                }
                Event::Connect { nsp, .. } => {
                    for tx in state.connect_waiters.remove(&nsp).unwrap_or_default() {
                        let _ = tx.send(Ok(()));
                    }
                    jobs.extend(socket(&state.sockets, &nsp).map(Job::Connect));
                }
                Event::ConnectError { nsp, error } => {
                    if !state.core.active(&nsp) || !state.core.is_reconnecting() {
                        for tx in state.connect_waiters.remove(&nsp).unwrap_or_default() {
                            let _ = tx.send(Err(error.clone()));
                        }
                    }
                    state.last_error = Some(error.clone());
                    jobs.extend(socket(&state.sockets, &nsp).map(|s| Job::ConnectError(s, error)));
                }
                Event::Disconnect { nsp, reason } => {
                    jobs.extend(socket(&state.sockets, &nsp).map(|s| Job::Disconnect(s, reason)));
                }
                Event::Message {
                    nsp,
                    event,
                    args,
                    ack_id,
                } => {
                    jobs.extend(
                        socket(&state.sockets, &nsp).map(|s| Job::Event(s, event, args, ack_id)),
                    );
                }
                Event::Open => jobs.push(Job::Open),
                Event::Close(reason) => jobs.push(Job::Close(reason)),
                Event::Ping => jobs.push(Job::Ping),
                Event::Error(e) => jobs.push(Job::Error(e)),
                Event::ReconnectAttempt(n) => jobs.push(Job::ReconnectAttempt(n)),
                Event::Reconnect(n) => jobs.push(Job::Reconnect(n)),
                Event::ReconnectError(e) => jobs.push(Job::ReconnectError(e)),
                Event::ReconnectFailed => {
                    let error = state.last_error.clone().unwrap_or(ConnectError {
                        message: "reconnection failed".into(),
                        data: None,
                    });
                    for (_, waiters) in state.connect_waiters.drain() {
                        for tx in waiters {
                            let _ = tx.send(Err(error.clone()));
                        }
                    }
                    jobs.push(Job::ReconnectFailed);
                }
            },
        }
    }
    jobs
}

fn run_job(shared: &Shared, job: Job) {
    let h = &shared.handlers;
    match job {
        Job::Connect(s) => s.dispatch_connect(),
        Job::Disconnect(s, reason) => s.dispatch_disconnect(reason),
        Job::ConnectError(s, e) => s.dispatch_connect_error(&e),
        Job::Event(s, event, args, ack_id) => s.dispatch_event(&event, args, ack_id),
        Job::Open => h.open.call(|f| f()),
        Job::Close(reason) => h.close.call(|f| f(reason)),
        Job::Ping => h.ping.call(|f| f()),
        Job::Error(e) => h.error.call(|f| f(&e)),
        Job::ReconnectAttempt(n) => h.reconnect_attempt.call(|f| f(n)),
        Job::Reconnect(n) => h.reconnect.call(|f| f(n)),
        Job::ReconnectError(e) => h.reconnect_error.call(|f| f(&e)),
        Job::ReconnectFailed => h.reconnect_failed.call(|f| f()),
    }
}

/// Marks the manager as no longer running when its task ends or is
/// dropped with its runtime.
struct Running(Arc<AtomicBool>);

impl Drop for Running {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

pub(crate) async fn run(weak: Weak<Shared>, wake: Arc<Notify>, running: Arc<AtomicBool>) {
    let _running = Running(running);
    let mut conn: Option<Conn> = None;
    let mut connecting: Option<Connecting> = None;
    loop {
        let Some(shared) = weak.upgrade() else { break };
        // Carry out the outputs until there are none (handlers may add).
        loop {
            let jobs = step(&shared, &mut conn, &mut connecting);
            if jobs.is_empty() {
                break;
            }
            for job in jobs {
                // A panicking handler must not take the client down.
                let run = std::panic::AssertUnwindSafe(|| run_job(&shared, job));
                if std::panic::catch_unwind(run).is_err() {
                    tracing::error!("a Socket.IO client handler panicked");
                }
            }
        }
        let deadline = shared.lock().core.poll_timeout();
        let held = conn.as_ref().map_or(0, |c| c.stalled.len());
        shared.stalled.store(held, Ordering::Release);
        drop(shared);
        // The first message waiting for room, if any.
        let stalled = conn.as_ref().and_then(|c| {
            let m = c.stalled.front()?.clone();
            Some((c.client.clone(), m))
        });

        let sleep = async {
            match deadline {
                Some(d) => tokio::time::sleep_until(tokio::time::Instant::from_std(d)).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = wake.notified() => {}
            r = async { connecting.as_mut().expect("guarded").await }, if connecting.is_some() => {
                connecting = None;
                let Some(shared) = weak.upgrade() else { break };
                let mut state = shared.lock();
                match r {
                    Ok((client, events, auths)) => {
                        for (nsp, value) in auths {
                            state.core.set_auth(&nsp, value);
                        }
                        conn = Some(Conn {
                            client,
                            events,
                            stalled: VecDeque::new(),
                            close_after: false,
                        });
                        state.core.on_open(Instant::now());
                    }
                    Err(e) => state.core.on_open_error(&e.to_string(), Instant::now()),
                }
            }
            r = async {
                let (client, message) = stalled.clone().expect("guarded");
                client.send_wait(message).await
            }, if stalled.is_some() => {
                if let Some(c) = conn.as_mut() {
                    match r {
                        Ok(()) => {
                            c.stalled.pop_front();
                            c.unstall();
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "Socket.IO packets not sent");
                            c.stalled.clear();
                            if c.close_after {
                                c.client.close();
                            }
                        }
                    }
                    if c.close_after && c.stalled.is_empty() {
                        conn = None;
                    }
                }
            }
            ev = async { conn.as_mut().expect("guarded").events.next().await }, if conn.is_some() => {
                let Some(shared) = weak.upgrade() else { break };
                let mut state = shared.lock();
                let now = Instant::now();
                if conn.as_ref().is_some_and(|c| c.close_after) {
                    // Flushing before a close: the core is done with it.
                    if matches!(ev, None | Some(EngineEvent::Closed(_))) {
                        conn = None;
                    }
                    continue;
                }
                match ev {
                    Some(EngineEvent::Message(text)) => state.core.on_text(&text, now),
                    Some(EngineEvent::Binary(data)) => state.core.on_binary(data, now),
                    Some(EngineEvent::Ping) => state.core.on_ping(),
                    Some(EngineEvent::Closed(reason)) => {
                        conn = None;
                        state.core.on_close(close_reason(reason), now);
                    }
                    None => {
                        conn = None;
                        state.core.on_close(DisconnectReason::TransportClose, now);
                    }
                    Some(_) => {}
                }
            }
            _ = sleep => {
                let Some(shared) = weak.upgrade() else { break };
                shared.lock().core.handle_timeout(Instant::now());
            }
        }
    }
    if let Some(c) = conn {
        c.client.close();
    }
}

fn close_reason(reason: CloseReason) -> DisconnectReason {
    match reason {
        CloseReason::TransportClose | CloseReason::ForcedClose => DisconnectReason::TransportClose,
        CloseReason::PingTimeout => DisconnectReason::PingTimeout,
        _ => DisconnectReason::TransportError,
    }
}
