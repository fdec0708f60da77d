//! The manager's task: carries out the core's outputs over the Engine.IO
//! client, feeds it messages, connection changes and time, and runs the
//! handlers (outside the state lock).

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Weak};
use std::time::Instant;

use socketeer_engineio::client::{
    self as engine, CloseReason, EngineClient, EngineEvents, Event as EngineEvent,
};
use socketeer_engineio::{Message, Utf8Bytes};
use tokio::sync::Notify;

use super::core::{ConnectError, DisconnectReason, Event, Output};
use super::socket::{Shared, Socket, SocketInner};
use crate::Value;

type Connecting =
    Pin<Box<dyn Future<Output = Result<(EngineClient, EngineEvents), engine::Error>> + Send>>;

/// What to run once the state lock is released.
enum Job {
    Connect(Socket),
    Disconnect(Socket, DisconnectReason),
    ConnectError(Socket, ConnectError),
    Event(Socket, String, Vec<Value>, Option<u64>),
    ReconnectAttempt(u32),
    Reconnect(u32),
    ReconnectError(String),
    ReconnectFailed,
}

/// Carries out the core's outputs under the lock; returns the handler
/// calls to make after it.
fn step(
    shared: &Arc<Shared>,
    conn: &mut Option<(EngineClient, EngineEvents)>,
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
                if let Some((client, _)) = conn.take() {
                    client.close();
                }
                *connecting = Some(Box::pin(engine::connect(shared.engine.clone())));
            }
            Output::Close => {
                if let Some((client, _)) = conn.take() {
                    client.close();
                }
                *connecting = None;
            }
            Output::Transmit(msg) => {
                let Some((client, _)) = conn.as_ref() else {
                    continue;
                };
                // The core writes Engine.IO packets ("4" + Socket.IO
                // packet); the Engine.IO client adds the "4" itself.
                let text = Utf8Bytes::from_trusted(msg.text.as_bytes().slice(1..));
                let sent = std::iter::once(Message::Text(text))
                    .chain(msg.attachments.into_iter().map(Message::Binary))
                    .try_for_each(|m| client.send(m));
                if let Err(e) = sent {
                    tracing::warn!(error = %e, "Socket.IO packet not sent");
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
        Job::ReconnectAttempt(n) => h.reconnect_attempt.call(|f| f(n)),
        Job::Reconnect(n) => h.reconnect.call(|f| f(n)),
        Job::ReconnectError(e) => h.reconnect_error.call(|f| f(&e)),
        Job::ReconnectFailed => h.reconnect_failed.call(|f| f()),
    }
}

pub(crate) async fn run(weak: Weak<Shared>, wake: Arc<Notify>) {
    let mut conn: Option<(EngineClient, EngineEvents)> = None;
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
        drop(shared);

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
                    Ok(c) => {
                        conn = Some(c);
                        state.core.on_open(Instant::now());
                    }
                    Err(e) => state.core.on_open_error(&e.to_string(), Instant::now()),
                }
            }
            ev = async { conn.as_mut().expect("guarded").1.next().await }, if conn.is_some() => {
                let Some(shared) = weak.upgrade() else { break };
                let mut state = shared.lock();
                let now = Instant::now();
                match ev {
                    Some(EngineEvent::Message(text)) => state.core.on_text(&text, now),
                    Some(EngineEvent::Binary(data)) => state.core.on_binary(data, now),
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
    if let Some((client, _)) = conn {
        client.close();
    }
}

fn close_reason(reason: CloseReason) -> DisconnectReason {
    match reason {
        CloseReason::TransportClose | CloseReason::ForcedClose => DisconnectReason::TransportClose,
        CloseReason::PingTimeout => DisconnectReason::PingTimeout,
        _ => DisconnectReason::TransportError,
    }
}
