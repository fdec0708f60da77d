//! The listener API of socket.io-client's `Socket` (Node's
//! `EventEmitter`: `on`, `once`, `off`, `listeners`; the catch-alls
//! `onAny`, `prependAny`, `offAny`, `listenersAny` and their outgoing
//! twins) and the events of its `Manager` (`open`, `close`, `ping`,
//! `error`, `reconnect*`).
//!
//! Handlers are plain closures (`Fn`), called on the manager's task in
//! the order events arrive; for async work, spawn a task from the
//! handler. Outgoing listeners run on the task that emits.

use std::sync::Arc;

use super::core::DisconnectReason;
use super::listeners::{ListenerId, Listeners};
use super::manager::Manager;
use super::shared::{AckSender, Socket};
use crate::Value;
use socketeer_engineio::sync::RwLockExt;

impl Socket {
    /// Adds a handler of `event`, after the others of that event; each
    /// event is given to every handler, in the order they were added
    /// (catch-all handlers first). Every handler gets an [`AckSender`]
    /// when the server asked for an acknowledgement (the first answer
    /// counts).
    ///
    /// ```no_run
    /// # fn demo(socket: socketeer::client::Socket) {
    /// let first = socket.on("news", |_, args, _| println!("first: {args:?}"));
    /// socket.on("news", |_, _, ack| {
    ///     if let Some(ack) = ack { let _ = ack.send(vec!["thanks".into()]); }
    /// });
    /// socket.off_listener(first); // the second one stays
    /// # }
    /// ```
    pub fn on<F>(&self, event: &str, handler: F) -> ListenerId
    where
        F: Fn(&Socket, Vec<Value>, Option<AckSender>) + Send + Sync + 'static,
    {
        self.add_event(event, false, Arc::new(handler))
    }

    /// Adds a handler of `event` called for its next occurrence only.
    pub fn once<F>(&self, event: &str, handler: F) -> ListenerId
    where
        F: Fn(&Socket, Vec<Value>, Option<AckSender>) + Send + Sync + 'static,
    {
        self.add_event(event, true, Arc::new(handler))
    }

    fn add_event(&self, event: &str, once: bool, handler: super::EventHandler) -> ListenerId {
        let id = self.inner.handlers.ids.next();
        self.inner
            .handlers
            .events
            .write_ok()
            .entry(event.to_owned())
            .or_insert_with(Listeners::default)
            .append(id, once, handler);
        id
    }

    /// Removes every handler of `event` (`socket.off(event)`).
    pub fn off(&self, event: &str) {
        self.inner.handlers.events.write_ok().remove(event);
    }

    /// Removes one listener: an event handler ([`on`](Self::on),
    /// [`once`](Self::once)), a catch-all one, incoming or outgoing
    /// (`socket.off(event, fn)`, `offAny(fn)`, `offAnyOutgoing(fn)`), or a
    /// `connect`, `disconnect` or `connect_error` one.
    /// Returns whether it was there.
    pub fn off_listener(&self, id: ListenerId) -> bool {
        let handlers = &self.inner.handlers;
        {
            let mut events = handlers.events.write_ok();
            let found = events
                .iter_mut()
                .find_map(|(name, l)| l.remove(id).then(|| (name.clone(), l.is_empty())));
            if let Some((name, emptied)) = found {
                if emptied {
                    events.remove(&name);
                }
                return true;
            }
        }
        handlers.any.write_ok().remove(id)
            || handlers.any_outgoing.write_ok().remove(id)
            || handlers.connect.remove(id)
            || handlers.disconnect.remove(id)
            || handlers.connect_error.remove(id)
    }

    /// The handlers of `event`, in calling order.
    pub fn listeners(&self, event: &str) -> Vec<ListenerId> {
        self.inner
            .handlers
            .events
            .read_ok()
            .get(event)
            .map(Listeners::ids)
            .unwrap_or_default()
    }

    /// Adds a catch-all handler, called for every event (after the
    /// catch-all handlers added before, before the event's own handlers).
    ///
    /// ```no_run
    /// # fn demo(socket: socketeer::client::Socket) {
    /// socket.on_any(|_, event, args, _| println!("{event}: {args:?}"));
    /// # }
    /// ```
    pub fn on_any<F>(&self, handler: F) -> ListenerId
    where
        F: Fn(&Socket, &str, Vec<Value>, Option<AckSender>) + Send + Sync + 'static,
    {
        let id = self.inner.handlers.ids.next();
        self.inner
            .handlers
            .any
            .write_ok()
            .append(id, false, Arc::new(handler));
        id
    }

    /// Adds a catch-all handler called before the other catch-all ones.
    pub fn prepend_any<F>(&self, handler: F) -> ListenerId
    where
        F: Fn(&Socket, &str, Vec<Value>, Option<AckSender>) + Send + Sync + 'static,
    {
        let id = self.inner.handlers.ids.next();
        self.inner
            .handlers
            .any
            .write_ok()
            .prepend(id, false, Arc::new(handler));
        id
    }

    /// Removes every catch-all handler (`offAny()`; one of them:
    /// [`off_listener`](Self::off_listener)).
    pub fn off_any(&self) {
        *self.inner.handlers.any.write_ok() = Listeners::default();
    }

    /// The catch-all handlers, in calling order.
    pub fn listeners_any(&self) -> Vec<ListenerId> {
        self.inner.handlers.any.read_ok().ids()
    }

    /// Adds a handler called with every event this socket emits (name and
    /// arguments; acknowledgements excepted), on the emitting task, before
    /// the packet is handed over (`onAnyOutgoing`). Volatile events dropped
    /// for want of a connection or of room are not reported.
    ///
    /// ```no_run
    /// # fn demo(socket: socketeer::client::Socket) {
    /// socket.on_any_outgoing(|_, event, args| println!("sent {event}: {args:?}"));
    /// # }
    /// ```
    pub fn on_any_outgoing<F>(&self, handler: F) -> ListenerId
    where
        F: Fn(&Socket, &str, &[Value]) + Send + Sync + 'static,
    {
        let id = self.inner.handlers.ids.next();
        self.inner
            .handlers
            .any_outgoing
            .write_ok()
            .append(id, false, Arc::new(handler));
        id
    }

    /// Adds an outgoing handler called before the others.
    pub fn prepend_any_outgoing<F>(&self, handler: F) -> ListenerId
    where
        F: Fn(&Socket, &str, &[Value]) + Send + Sync + 'static,
    {
        let id = self.inner.handlers.ids.next();
        self.inner
            .handlers
            .any_outgoing
            .write_ok()
            .prepend(id, false, Arc::new(handler));
        id
    }

    /// Removes every outgoing handler (`offAnyOutgoing()`).
    pub fn off_any_outgoing(&self) {
        *self.inner.handlers.any_outgoing.write_ok() = Listeners::default();
    }

    /// The outgoing handlers, in calling order.
    pub fn listeners_any_outgoing(&self) -> Vec<ListenerId> {
        self.inner.handlers.any_outgoing.read_ok().ids()
    }
}

impl Manager {
    /// Calls `handler` each time the Engine.IO connection opens, the first
    /// time and after each reconnection (the Manager's `open`).
    ///
    /// Every Manager event has its `on_*` and `once_*` method; each
    /// returns a [`ListenerId`] to remove the listener with
    /// [`Manager::off_listener`] (`manager.off(event, fn)`). See the
    /// [`Manager`] example.
    pub fn on_open<F: Fn() + Send + Sync + 'static>(&self, handler: F) -> ListenerId {
        let h = &self.shared.handlers;
        h.open.add(&h.ids, false, Arc::new(handler))
    }

    /// As [`Manager::on_open`], for the next opening only.
    pub fn once_open<F: Fn() + Send + Sync + 'static>(&self, handler: F) -> ListenerId {
        let h = &self.shared.handlers;
        h.open.add(&h.ids, true, Arc::new(handler))
    }

    /// Calls `handler` with the reason when the open Engine.IO connection
    /// ends (the Manager's `close`): "transport close", "ping timeout",
    /// "transport error", "parse error", or "io client disconnect" when
    /// the application closed it.
    pub fn on_close<F: Fn(DisconnectReason) + Send + Sync + 'static>(
        &self,
        handler: F,
    ) -> ListenerId {
        let h = &self.shared.handlers;
        h.close.add(&h.ids, false, Arc::new(handler))
    }

    /// As [`Manager::on_close`], for the next closing only.
    pub fn once_close<F: Fn(DisconnectReason) + Send + Sync + 'static>(
        &self,
        handler: F,
    ) -> ListenerId {
        let h = &self.shared.handlers;
        h.close.add(&h.ids, true, Arc::new(handler))
    }

    /// Calls `handler` on each ping from the server (the Manager's `ping`).
    pub fn on_ping<F: Fn() + Send + Sync + 'static>(&self, handler: F) -> ListenerId {
        let h = &self.shared.handlers;
        h.ping.add(&h.ids, false, Arc::new(handler))
    }

    /// As [`Manager::on_ping`], for the next ping only.
    pub fn once_ping<F: Fn() + Send + Sync + 'static>(&self, handler: F) -> ListenerId {
        let h = &self.shared.handlers;
        h.ping.add(&h.ids, true, Arc::new(handler))
    }

    /// Calls `handler` with the error when the Engine.IO connection fails
    /// to open, the first time or on a reconnection attempt (the Manager's
    /// `error`; `"timeout"` after
    /// [`ManagerConfig::timeout`](super::ManagerConfig::timeout)).
    pub fn on_error<F: Fn(&str) + Send + Sync + 'static>(&self, handler: F) -> ListenerId {
        let h = &self.shared.handlers;
        h.error.add(&h.ids, false, Arc::new(handler))
    }

    /// As [`Manager::on_error`], for the next error only.
    pub fn once_error<F: Fn(&str) + Send + Sync + 'static>(&self, handler: F) -> ListenerId {
        let h = &self.shared.handlers;
        h.error.add(&h.ids, true, Arc::new(handler))
    }

    /// As [`Manager::on_reconnect_attempt`], for the next attempt only.
    pub fn once_reconnect_attempt<F: Fn(u32) + Send + Sync + 'static>(
        &self,
        handler: F,
    ) -> ListenerId {
        let h = &self.shared.handlers;
        h.reconnect_attempt.add(&h.ids, true, Arc::new(handler))
    }

    /// As [`Manager::on_reconnect`], for the next reconnection only.
    pub fn once_reconnect<F: Fn(u32) + Send + Sync + 'static>(&self, handler: F) -> ListenerId {
        let h = &self.shared.handlers;
        h.reconnect.add(&h.ids, true, Arc::new(handler))
    }

    /// As [`Manager::on_reconnect_error`], for the next failed attempt
    /// only.
    pub fn once_reconnect_error<F: Fn(&str) + Send + Sync + 'static>(
        &self,
        handler: F,
    ) -> ListenerId {
        let h = &self.shared.handlers;
        h.reconnect_error.add(&h.ids, true, Arc::new(handler))
    }

    /// As [`Manager::on_reconnect_failed`], for the next time reconnection
    /// gives up only.
    pub fn once_reconnect_failed<F: Fn() + Send + Sync + 'static>(&self, handler: F) -> ListenerId {
        let h = &self.shared.handlers;
        h.reconnect_failed.add(&h.ids, true, Arc::new(handler))
    }

    /// Removes one Manager listener, of any event (`manager.off(event,
    /// fn)`); returns whether it was there.
    pub fn off_listener(&self, id: ListenerId) -> bool {
        self.shared.handlers.remove(id)
    }
}
