//! The listener model, as socket.io's: several listeners per event in
//! registration order, `once`, `off`, the catch-all (`on_any`,
//! `prepend_any`, `off_any`), the outgoing catch-all, `disconnecting` and
//! `disconnect`, error listeners, and middlewares; and `socket.data`.

use std::future::Future;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use serde::Serialize;

use super::data::DataSlot;
use super::error::{ConnectError, MiddlewareError, SocketError};
use super::handler::{Erased, Handler};
use super::state::{
    is_stateless, ErasedHandler, Listener, ListenerId, Listeners, Middleware, Namespace,
    PacketMiddleware, SharedFn, Socket,
};
use crate::Value;
use socketeer_engineio::sync::{LockExt, RwLockExt};

impl Namespace {
    fn next_listener_id(&self) -> ListenerId {
        ListenerId(self.inner.listener_ids.fetch_add(1, Ordering::Relaxed))
    }

    fn listener<H: Handler<M>, M: 'static>(
        &self,
        handler: H,
        once: bool,
    ) -> Listener<dyn ErasedHandler> {
        Listener {
            id: self.next_listener_id(),
            once,
            handler: {
                let erased = Erased::new(handler);
                if is_stateless(&erased) {
                    // No allocation: `erased` has no bytes (see SharedFn).
                    SharedFn::Static(Box::leak(Box::new(erased)))
                } else {
                    SharedFn::Counted(Arc::new(erased))
                }
            },
        }
    }

    /// Adds a connection handler, called with each new socket after the
    /// middlewares accepted it, in registration order. Its arguments are
    /// extractors ([`Data<T>`](super::Data) reads the client's `auth`);
    /// it may be async, and the socket's events wait until it is done,
    /// so it can register their handlers after awaiting.
    pub fn on_connection<H: Handler<M>, M: 'static>(&self, handler: H) -> ListenerId {
        let l = self.listener(handler, false);
        let id = l.id;
        self.inner.on_connection.write_ok().push(l);
        id
    }

    /// Removes a connection handler.
    pub fn off_connection(&self, id: ListenerId) {
        self.inner.on_connection.write_ok().retain(|l| l.id != id);
    }

    /// Adds a middleware, run in order for each connection attempt before
    /// the socket joins the namespace. It sees the handshake
    /// ([`Socket::handshake`]) and may attach data ([`Socket::set_data`]);
    /// an error refuses the connection (CONNECT_ERROR with its message).
    pub fn use_middleware<F>(&self, middleware: F)
    where
        F: Fn(&Socket) -> Result<(), ConnectError> + Send + Sync + 'static,
    {
        self.inner
            .middlewares
            .write_ok()
            .push(Middleware::Sync(Arc::new(middleware)));
    }

    /// Adds an async middleware (to check a token with another service,
    /// say): as [`Namespace::use_middleware`], awaited before the next
    /// one runs. The connection's other namespaces are not held up.
    pub fn use_async_middleware<F, Fut>(&self, middleware: F)
    where
        F: Fn(Socket) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), ConnectError>> + Send + 'static,
    {
        self.inner
            .middlewares
            .write_ok()
            .push(Middleware::Async(Arc::new(move |s| {
                Box::pin(middleware(s))
            })));
    }
}

impl Socket {
    fn add_listener<H: Handler<M>, M: 'static>(
        &self,
        event: &str,
        handler: H,
        once: bool,
    ) -> ListenerId {
        let l = self.inner.ns.listener(handler, once);
        let id = l.id;
        self.inner
            .handlers
            .write_ok()
            .events
            .get_or_default(event)
            .push(l);
        id
    }

    /// Adds a listener of an event, after those already there. Its
    /// arguments are [extractors](super::extract); it may be async (see
    /// [`Handler`]).
    pub fn on<H: Handler<M>, M: 'static>(&self, event: &str, handler: H) -> ListenerId {
        self.add_listener(event, handler, false)
    }

    /// Adds a listener called for the next such event only.
    pub fn once<H: Handler<M>, M: 'static>(&self, event: &str, handler: H) -> ListenerId {
        self.add_listener(event, handler, true)
    }

    /// Removes one listener (of any event, catch-all, disconnect or
    /// outgoing).
    pub fn off(&self, id: ListenerId) {
        let mut h = self.inner.handlers.write_ok();
        h.events.retain(|listeners| {
            listeners.retain(|l| l.id != id);
            !listeners.is_empty()
        });
        h.any.retain(|l| l.id != id);
        if let Some(r) = h.rare_if_any() {
            r.disconnecting.retain(|l| l.id != id);
            r.disconnect.retain(|l| l.id != id);
            r.any_outgoing.retain(|l| l.id != id);
            r.errors.retain(|l| l.id != id);
            self.inner
                .has_outgoing
                .store(!r.any_outgoing.is_empty(), Ordering::Release);
        }
    }

    /// Removes every listener of an event.
    pub fn off_event(&self, event: &str) {
        self.inner.handlers.write_ok().events.remove(event);
    }

    /// The number of listeners of an event.
    pub fn listener_count(&self, event: &str) -> usize {
        self.inner
            .handlers
            .read_ok()
            .events
            .get(event)
            .map_or(0, Listeners::len)
    }

    /// Adds a catch-all listener, called for every event before the
    /// event's own listeners ([`Event`](super::Event) gives the name,
    /// [`Args`](super::Args) the arguments).
    pub fn on_any<H: Handler<M>, M: 'static>(&self, handler: H) -> ListenerId {
        let l = self.inner.ns.listener(handler, false);
        let id = l.id;
        self.inner.handlers.write_ok().any.push(l);
        id
    }

    /// Adds a catch-all listener before the others.
    pub fn prepend_any<H: Handler<M>, M: 'static>(&self, handler: H) -> ListenerId {
        let l = self.inner.ns.listener(handler, false);
        let id = l.id;
        self.inner.handlers.write_ok().any.push_front(l);
        id
    }

    /// Removes every catch-all listener (one: [`Socket::off`]).
    pub fn off_any(&self) {
        self.inner.handlers.write_ok().any = Listeners::default();
    }

    /// The catch-all listeners, in the order they are called.
    pub fn listeners_any(&self) -> Vec<ListenerId> {
        self.inner
            .handlers
            .read_ok()
            .any
            .as_slice()
            .iter()
            .map(|l| l.id)
            .collect()
    }

    fn add_outgoing<F>(&self, listener: F, first: bool) -> ListenerId
    where
        F: Fn(&Socket, &str, &[Value]) + Send + Sync + 'static,
    {
        let l = Listener {
            id: self.inner.ns.next_listener_id(),
            once: false,
            handler: SharedFn::Counted(Arc::new(listener) as Arc<super::state::OutgoingListener>),
        };
        let id = l.id;
        let mut h = self.inner.handlers.write_ok();
        let outgoing = &mut h.rare_mut().any_outgoing;
        if first {
            outgoing.insert(0, l);
        } else {
            outgoing.push(l);
        }
        self.inner.has_outgoing.store(true, Ordering::Release);
        id
    }

    /// Adds a listener told of every event sent to this client (its own
    /// emits and the broadcasts that reach it), with the name and the
    /// arguments, before they leave.
    pub fn on_any_outgoing<F>(&self, listener: F) -> ListenerId
    where
        F: Fn(&Socket, &str, &[Value]) + Send + Sync + 'static,
    {
        self.add_outgoing(listener, false)
    }

    /// Adds an outgoing listener before the others.
    pub fn prepend_any_outgoing<F>(&self, listener: F) -> ListenerId
    where
        F: Fn(&Socket, &str, &[Value]) + Send + Sync + 'static,
    {
        self.add_outgoing(listener, true)
    }

    /// Removes every outgoing listener.
    pub fn off_any_outgoing(&self) {
        if let Some(r) = self.inner.handlers.write_ok().rare_if_any() {
            r.any_outgoing.clear();
        }
        self.inner.has_outgoing.store(false, Ordering::Release);
    }

    /// The outgoing listeners, in the order they are called.
    pub fn listeners_any_outgoing(&self) -> Vec<ListenerId> {
        let h = self.inner.handlers.read_ok();
        let outgoing = h.rare().map_or(&[][..], |r| &r.any_outgoing);
        outgoing.iter().map(|l| l.id).collect()
    }

    /// Whether outgoing listeners are registered (no lock taken).
    pub(crate) fn has_outgoing_listeners(&self) -> bool {
        self.inner.has_outgoing.load(Ordering::Acquire)
    }

    /// Tells the outgoing listeners of an event about to leave.
    pub(crate) fn notify_outgoing(&self, event: &str, args: &[Value]) {
        if !self.has_outgoing_listeners() {
            return;
        }
        let listeners = (self.inner.handlers.read_ok().rare())
            .map(|r| r.any_outgoing.clone())
            .unwrap_or_default();
        for l in listeners {
            (l.handler)(self, event, args);
        }
    }

    /// Adds a listener called when the socket is about to disconnect,
    /// still in its rooms ([`DisconnectReason`](super::DisconnectReason)
    /// is an extractor).
    pub fn on_disconnecting<H: Handler<M>, M: 'static>(&self, handler: H) -> ListenerId {
        let l = self.inner.ns.listener(handler, false);
        let id = l.id;
        self.inner
            .handlers
            .write_ok()
            .rare_mut()
            .disconnecting
            .push(l);
        id
    }

    /// Adds a listener called once the socket has disconnected and left
    /// its rooms.
    pub fn on_disconnect<H: Handler<M>, M: 'static>(&self, handler: H) -> ListenerId {
        let l = self.inner.ns.listener(handler, false);
        let id = l.id;
        self.inner.handlers.write_ok().rare_mut().disconnect.push(l);
        id
    }

    /// Adds a per-packet middleware (`socket.use` in socket.io), run in
    /// order on every incoming event before its listeners; it may change
    /// the arguments. An error drops the event and tells the error
    /// listeners.
    pub fn use_packet_middleware<F>(&self, middleware: F)
    where
        F: Fn(&Socket, &str, &mut Vec<Value>) -> Result<(), MiddlewareError>
            + Send
            + Sync
            + 'static,
    {
        self.inner
            .handlers
            .write_ok()
            .rare_mut()
            .packet_middlewares
            .push(PacketMiddleware::Sync(Arc::new(middleware)));
    }

    /// Adds an async per-packet middleware: it gets the event's name and
    /// arguments and gives the arguments back (changed or not), or an
    /// error that drops the event. The socket's later events wait for it.
    pub fn use_async_packet_middleware<F, Fut>(&self, middleware: F)
    where
        F: Fn(Socket, String, Vec<Value>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Vec<Value>, MiddlewareError>> + Send + 'static,
    {
        self.inner
            .handlers
            .write_ok()
            .rare_mut()
            .packet_middlewares
            .push(PacketMiddleware::Async(Arc::new(move |s, e, a| {
                Box::pin(middleware(s, e, a))
            })));
    }

    /// Adds a listener of the socket's errors: a packet middleware that
    /// dropped an event, a handler that could not take its arguments.
    pub fn on_error<F>(&self, listener: F) -> ListenerId
    where
        F: Fn(&Socket, &SocketError) + Send + Sync + 'static,
    {
        let l = Listener {
            id: self.inner.ns.next_listener_id(),
            once: false,
            handler: SharedFn::Counted(Arc::new(listener) as Arc<super::state::ErrorListener>),
        };
        let id = l.id;
        self.inner.handlers.write_ok().rare_mut().errors.push(l);
        id
    }

    /// Attaches data to the socket (`socket.data`), replacing any: set it
    /// in a middleware, read it in handlers ([`SocketData`](super::SocketData)),
    /// and [`fetch_sockets`](super::BroadcastOperator::fetch_sockets)
    /// carries it, serialized, from every server. It survives connection
    /// state recovery.
    pub fn set_data<T: Serialize + Send + Sync + 'static>(&self, data: T) {
        *self.inner.data.locked() = Some(DataSlot::new(data));
    }

    /// A clone of the socket's data, if it is a `T`.
    pub fn data<T: Clone + 'static>(&self) -> Option<T> {
        self.inner.data.locked().as_ref()?.get::<T>().cloned()
    }

    /// Changes the socket's data in place, if it is a `T`; returns what
    /// `f` returns. Do not call other data methods of this socket in `f`.
    pub fn with_data<T: 'static, R>(&self, f: impl FnOnce(&mut T) -> R) -> Option<R> {
        self.inner.data.locked().as_mut()?.get_mut::<T>().map(f)
    }

    /// The socket's data serialized (`null` when none).
    pub fn data_value(&self) -> Value {
        self.inner
            .data
            .locked()
            .as_ref()
            .map_or(Value::Null, DataSlot::to_value)
    }
}
