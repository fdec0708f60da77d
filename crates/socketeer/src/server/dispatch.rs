//! Running a socket's handlers.
//!
//! Each socket has a lane ([`Lane`]): its connection handlers and events
//! run in the order they came. A handler that does not await runs on the
//! connection's task, at once, as a plain call. One that awaits moves to a
//! task of its own, and the socket's next events queue behind it (up to
//! `max_pending_events`; past that the client is flooding a slow handler
//! and its connection is closed). Other sockets never wait for it.
//!
//! Disconnect handlers do not queue: `disconnecting` must see the rooms
//! before the socket leaves them.

use std::future::Future;
use std::task::{Context, Poll};

use socketeer_engineio::server::CloseReason;

use super::error::{ArgumentError, DisconnectReason, MiddlewareError, SocketError};
use super::state::{
    AckSender, BoxFuture, ErasedHandler, EventParts, Listener, Listeners, PacketMiddleware, Socket,
};
use crate::Value;
use socketeer_engineio::sync::{LockExt, RwLockExt};

/// Polls a future once, with a waker that does nothing: `Ok` with its
/// output when it is done at once (a handler that did not await), else
/// the future, to be polled again by a task (which registers its own
/// waker then).
pub(crate) fn poll_now<T>(mut fut: BoxFuture<T>) -> Result<T, BoxFuture<T>> {
    let mut cx = Context::from_waker(std::task::Waker::noop());
    match fut.as_mut().poll(&mut cx) {
        Poll::Ready(out) => Ok(out),
        Poll::Pending => Err(fut),
    }
}

/// Runs `fut` to its end on a task of its own.
fn spawn(fut: impl Future<Output = ()> + Send + 'static) {
    match tokio::runtime::Handle::try_current() {
        Ok(handle) => {
            handle.spawn(fut);
        }
        Err(_) => tracing::error!("an async handler awaited outside a tokio runtime; dropped"),
    }
}

/// What an [`EventJob`] waits for.
enum Wait {
    Middleware(BoxFuture<Result<Vec<Value>, MiddlewareError>>),
    Handler(BoxFuture),
}

/// One event (or connection, or disconnect) through the packet
/// middlewares and then each listener, in order.
struct EventJob {
    socket: Socket,
    event: String,
    args: Vec<Value>,
    ack: Option<AckSender>,
    /// The ack id the client sent, if any.
    ack_id: Option<u64>,
    reason: Option<DisconnectReason>,
    middlewares: Vec<PacketMiddleware>,
    next_middleware: usize,
    /// The catch-all listeners and the event's own, in that order;
    /// collected after the middlewares ran (they may register listeners).
    listeners: Option<(Listeners, Listeners)>,
    next_listener: usize,
}

impl EventJob {
    fn new(socket: Socket, event: String, args: Vec<Value>) -> Self {
        EventJob {
            socket,
            event,
            args,
            ack: None,
            ack_id: None,
            reason: None,
            middlewares: Vec::new(),
            next_middleware: 0,
            listeners: None,
            next_listener: 0,
        }
    }

    /// Runs what can run now; returns the rest when something awaits.
    fn run(mut self) -> Option<BoxFuture> {
        let wait = self.advance()?;
        Some(Box::pin(async move {
            let mut wait = wait;
            loop {
                match wait {
                    Wait::Middleware(f) => {
                        let result = f.await;
                        if !self.middleware_done(result) {
                            return;
                        }
                    }
                    Wait::Handler(f) => f.await,
                }
                match self.advance() {
                    Some(w) => wait = w,
                    None => return,
                }
            }
        }))
    }

    /// Takes the output of an async packet middleware; false when it
    /// dropped the event.
    fn middleware_done(&mut self, result: Result<Vec<Value>, MiddlewareError>) -> bool {
        match result {
            Ok(args) => {
                self.args = args;
                true
            }
            Err(e) => {
                self.socket.middleware_refused(&self.event, e);
                false
            }
        }
    }

    /// Runs steps until all are done (`None`) or one waits.
    fn advance(&mut self) -> Option<Wait> {
        while let Some(m) = self.middlewares.get(self.next_middleware).cloned() {
            self.next_middleware += 1;
            match m {
                PacketMiddleware::Sync(f) => {
                    if let Err(e) = f(&self.socket, &self.event, &mut self.args) {
                        self.socket.middleware_refused(&self.event, e);
                        return None;
                    }
                }
                PacketMiddleware::Async(f) => {
                    let args = std::mem::take(&mut self.args);
                    match poll_now(f(self.socket.clone(), self.event.clone(), args)) {
                        Ok(result) => {
                            if !self.middleware_done(result) {
                                return None;
                            }
                        }
                        Err(fut) => return Some(Wait::Middleware(fut)),
                    }
                }
            }
        }
        if self.listeners.is_none() {
            self.listeners = Some(self.socket.event_listeners(&self.event));
        }
        let (any, own) = self.listeners.as_ref()?;
        let (any, own) = (any.clone(), own.clone());
        let total = any.len() + own.len();
        while self.next_listener < total {
            let i = self.next_listener;
            self.next_listener += 1;
            let l = match any.as_slice().get(i) {
                Some(l) => l,
                None => &own.as_slice()[i - any.len()],
            };
            let last = self.next_listener == total;
            let args = if last {
                std::mem::take(&mut self.args)
            } else {
                self.args.clone()
            };
            // One listener takes the acknowledgement itself; several share
            // it, so that only the first answer leaves.
            let ack = if total == 1 {
                self.ack.take()
            } else {
                self.ack.as_mut().map(AckSender::share)
            };
            let ack_id = self.ack_id;
            let parts = EventParts {
                socket: &self.socket,
                event: &self.event,
                args: Some(args),
                ack,
                reason: self.reason,
            };
            match l.handler.call(parts) {
                Ok(None) => {}
                Ok(Some(fut)) => {
                    if let Err(fut) = poll_now(fut) {
                        return Some(Wait::Handler(fut));
                    }
                }
                Err(e) => match (&self.ack, ack_id) {
                    // Several listeners share the acknowledgement: answer
                    // through it (only the first answer leaves).
                    (Some(shared), _) => self.socket.arguments_refused(e, Some(shared)),
                    // The one listener had it and did not run: nobody
                    // answered.
                    (None, Some(id)) => {
                        let ack = AckSender::new(self.socket.clone(), id);
                        self.socket.arguments_refused(e, Some(&ack))
                    }
                    (None, None) => self.socket.arguments_refused(e, None),
                },
            }
        }
        None
    }
}

impl Socket {
    /// Runs `job` after the socket's earlier work: at once when nothing
    /// waits, else queued behind it.
    fn run_in_order<J>(&self, job: J)
    where
        J: FnOnce() -> Option<BoxFuture> + Send + 'static,
    {
        {
            let mut lane = self.inner.lane.locked();
            if lane.busy {
                if lane.queue.len() >= self.inner.ns.inner.max_pending_events {
                    drop(lane);
                    self.overloaded();
                    return;
                }
                lane.queue.push_back(Box::new(job));
                return;
            }
            lane.busy = true;
        }
        let mut rest = job();
        // What the job queued for this socket (it may emit to itself, or
        // disconnect) runs next, unless the job went on waiting.
        loop {
            if let Some(fut) = rest {
                let socket = self.clone();
                spawn(async move {
                    fut.await;
                    socket.drain_lane().await;
                });
                return;
            }
            let next = {
                let mut lane = self.inner.lane.locked();
                match lane.queue.pop_front() {
                    Some(job) => job,
                    None => {
                        lane.busy = false;
                        return;
                    }
                }
            };
            rest = next();
        }
    }

    /// Runs the queued work, on the lane's task, until none is left.
    async fn drain_lane(&self) {
        loop {
            let next = {
                let mut lane = self.inner.lane.locked();
                match lane.queue.pop_front() {
                    Some(job) => job,
                    None => {
                        lane.busy = false;
                        return;
                    }
                }
            };
            if let Some(fut) = next() {
                fut.await;
            }
        }
    }

    /// The client queued more events behind a slow handler than allowed.
    fn overloaded(&self) {
        tracing::warn!(
            socket = self.id(),
            "too many events waiting for a handler; closing the connection"
        );
        self.emit_error(&SocketError::Overloaded);
        self.engine().close_with(CloseReason::TransportError);
    }

    /// The catch-all listeners and those of `event`, in registration
    /// order (two reference counts, no copy); `once` listeners are removed.
    fn event_listeners(&self, event: &str) -> (Listeners, Listeners) {
        let (any, own) = {
            let h = self.inner.handlers.read_ok();
            (
                h.any.clone(),
                h.events.get(event).cloned().unwrap_or_default(),
            )
        };
        let once = |l: &Listener<dyn ErasedHandler>| l.once;
        if any.as_slice().iter().any(once) || own.as_slice().iter().any(once) {
            let mut h = self.inner.handlers.write_ok();
            h.any.retain(|l| !l.once);
            if let Some(listeners) = h.events.get_mut(event) {
                listeners.retain(|l| !l.once);
            }
        }
        (any, own)
    }

    /// Handles an event the client sent.
    pub(crate) fn dispatch_event(&self, event: String, args: Vec<Value>, ack_id: Option<u64>) {
        self.inner.ns.inner.metrics.event_received();
        let _span = self.inner.span.enter();
        tracing::trace!(event = %event, ack = ?ack_id, "event received");
        let socket = self.clone();
        self.run_in_order(move || {
            let middlewares = (socket.inner.handlers.read_ok().rare())
                .map(|r| r.packet_middlewares.clone())
                .unwrap_or_default();
            let ack = ack_id.map(|id| AckSender::new(socket.clone(), id));
            let mut job = EventJob::new(socket, event, args);
            job.ack = ack;
            job.ack_id = ack_id;
            job.middlewares = middlewares;
            job.run()
        });
    }

    /// Runs the namespace's connection handlers for this new socket
    /// (before any of its events).
    pub(crate) fn dispatch_connection(&self) {
        let _span = self.inner.span.enter();
        tracing::debug!("socket connected");
        let socket = self.clone();
        self.run_in_order(move || {
            let listeners = socket.inner.ns.inner.on_connection.read_ok().clone();
            let auth = socket.handshake().auth.clone();
            let mut job = EventJob::new(socket, "connection".into(), vec![auth]);
            job.listeners = Some((Listeners::default(), listeners.into()));
            job.run()
        });
    }

    /// Runs disconnect listeners at once (not behind the lane); what
    /// awaits goes on on a task of its own.
    pub(crate) fn dispatch_disconnect(
        &self,
        event: &'static str,
        listeners: Vec<Listener<dyn ErasedHandler>>,
        reason: DisconnectReason,
    ) {
        if listeners.is_empty() {
            return;
        }
        let mut job = EventJob::new(self.clone(), event.into(), Vec::new());
        job.reason = Some(reason);
        job.listeners = Some((Listeners::default(), listeners.into()));
        if let Some(rest) = job.run() {
            spawn(rest);
        }
    }

    fn middleware_refused(&self, event: &str, e: MiddlewareError) {
        tracing::debug!(socket = self.id(), event, error = %e, "event dropped by middleware");
        self.emit_error(&SocketError::Middleware(e));
    }

    fn arguments_refused(&self, e: ArgumentError, ack: Option<&AckSender>) {
        tracing::debug!(socket = self.id(), error = %e, "handler refused its arguments");
        if let Some(ack) = ack {
            let mut answer = crate::Map::new();
            answer.insert("error".into(), Value::String(e.to_string()));
            let _ = ack.send(vec![Value::Object(answer)]);
        }
        self.emit_error(&SocketError::Arguments(e));
    }

    /// Tells the socket's error listeners.
    pub(crate) fn emit_error(&self, error: &SocketError) {
        let listeners = (self.inner.handlers.read_ok().rare())
            .map(|r| r.errors.clone())
            .unwrap_or_default();
        for l in listeners {
            (l.handler)(self, error);
        }
    }
}
