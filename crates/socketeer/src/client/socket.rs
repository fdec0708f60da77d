//! The methods of the application's [`Socket`] handle: state, joining and leaving, emitting.

use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;
use tokio::sync::oneshot;

use super::ack_request::AckRequest;
use super::core::{AckError, AckToken, ConnectError, DisconnectReason, EmitError, EmitFlags};
use super::listeners::ListenerId;
use super::manager::Manager;
use super::shared::Socket;
use crate::Value;

// Named in doc links only.
#[cfg(doc)]
use super::core::{Auth, ManagerConfig, SocketOptions};

impl Socket {
    /// The namespace.
    pub fn namespace(&self) -> &str {
        &self.inner.nsp
    }

    /// The manager this socket belongs to.
    pub fn manager(&self) -> Manager {
        Manager {
            shared: self.shared.clone(),
        }
    }

    /// The socket id the server gave, while connected.
    pub fn id(&self) -> Option<String> {
        self.shared
            .lock()
            .core
            .sid(&self.inner.nsp)
            .map(str::to_owned)
    }

    /// Whether the namespace is joined.
    pub fn connected(&self) -> bool {
        self.shared.lock().core.connected(&self.inner.nsp)
    }

    /// Whether the socket reconnects by itself: false after a server-side
    /// or client-side disconnect, or a refusal.
    pub fn active(&self) -> bool {
        self.shared.lock().core.active(&self.inner.nsp)
    }

    /// Whether the last connection recovered the previous session
    /// (connection state recovery): missed events were replayed.
    pub fn recovered(&self) -> bool {
        self.shared.lock().core.recovered(&self.inner.nsp)
    }

    /// Packets emitted and not yet sent: held while offline, or waiting
    /// in the retry queue.
    pub fn buffered(&self) -> usize {
        let state = self.shared.lock();
        state.core.buffered(&self.inner.nsp) + state.core.queued(&self.inner.nsp)
    }

    /// Joins the namespace (opening the connection if needed); again
    /// after a disconnect. Events come to the handlers set. With an
    /// [`Auth::Async`] payload, it is awaited first (on a spawned task).
    pub fn connect(&self) {
        let auth = {
            let state = self.shared.lock();
            let joining = !state.core.active(&self.inner.nsp);
            state.core.async_auth(&self.inner.nsp).filter(|_| joining)
        };
        let Some(auth) = auth else {
            self.join();
            return;
        };
        let socket = self.clone();
        tokio::spawn(async move {
            let value = auth().await;
            socket.shared.lock().core.set_auth(&socket.inner.nsp, value);
            socket.join();
        });
    }

    fn join(&self) {
        self.shared
            .lock()
            .core
            .join(&self.inner.nsp, Instant::now());
        self.shared.wake.notify_one();
    }

    /// Leaves the namespace ("io client disconnect"); no reconnection
    /// follows. The connection closes when no socket is left.
    pub fn disconnect(&self) {
        self.shared
            .lock()
            .core
            .disconnect(&self.inner.nsp, Instant::now());
        self.shared.wake.notify_one();
    }

    /// Adds a handler called on every (re)connection to the namespace
    /// (`socket.on("connect")`); remove it with
    /// [`off_listener`](Self::off_listener).
    pub fn on_connect<F: Fn(&Socket) + Send + Sync + 'static>(&self, handler: F) -> ListenerId {
        let h = &self.inner.handlers;
        h.connect.add(&h.ids, false, Arc::new(handler))
    }

    /// Adds a handler called on the next connection to the namespace only
    /// (`socket.once("connect")`).
    pub fn once_connect<F: Fn(&Socket) + Send + Sync + 'static>(&self, handler: F) -> ListenerId {
        let h = &self.inner.handlers;
        h.connect.add(&h.ids, true, Arc::new(handler))
    }

    /// Adds a handler called when the namespace is left, with the reason.
    pub fn on_disconnect<F>(&self, handler: F) -> ListenerId
    where
        F: Fn(&Socket, DisconnectReason) + Send + Sync + 'static,
    {
        let h = &self.inner.handlers;
        h.disconnect.add(&h.ids, false, Arc::new(handler))
    }

    /// Adds a handler called the next time the namespace is left only.
    pub fn once_disconnect<F>(&self, handler: F) -> ListenerId
    where
        F: Fn(&Socket, DisconnectReason) + Send + Sync + 'static,
    {
        let h = &self.inner.handlers;
        h.disconnect.add(&h.ids, true, Arc::new(handler))
    }

    /// Adds a handler called when joining fails: the server's refusal
    /// (e.g. a middleware's error; the socket then stays disconnected) or
    /// a connection attempt that failed (reconnection goes on).
    pub fn on_connect_error<F>(&self, handler: F) -> ListenerId
    where
        F: Fn(&Socket, &ConnectError) + Send + Sync + 'static,
    {
        let h = &self.inner.handlers;
        h.connect_error.add(&h.ids, false, Arc::new(handler))
    }

    /// Adds a handler called the next time joining fails only.
    pub fn once_connect_error<F>(&self, handler: F) -> ListenerId
    where
        F: Fn(&Socket, &ConnectError) + Send + Sync + 'static,
    {
        let h = &self.inner.handlers;
        h.connect_error.add(&h.ids, true, Arc::new(handler))
    }

    fn emit_flags(
        &self,
        event: &str,
        args: Vec<Value>,
        flags: EmitFlags,
    ) -> Result<Option<AckToken>, EmitError> {
        self.notify_outgoing(event, &args, flags.volatile);
        let r = {
            let mut state = self.shared.lock();
            if !self.shared.room(&state, flags.volatile)? {
                return Ok(None);
            }
            state
                .core
                .emit(&self.inner.nsp, event, args, flags, Instant::now())
        };
        self.shared.wake.notify_one();
        r
    }

    /// Calls the outgoing listeners, before the packet leaves (as
    /// socket.io-client does), when it is to leave: not for a reserved
    /// name, nor a volatile event with no connection or no room.
    fn notify_outgoing(&self, event: &str, args: &[Value], volatile: bool) {
        if !self.has_outgoing() || crate::packet::is_reserved_event(event) {
            return;
        }
        let sent = {
            let state = self.shared.lock();
            matches!(self.shared.room(&state, volatile), Ok(true))
                && (!volatile || state.core.connected(&self.inner.nsp))
        };
        if sent {
            self.dispatch_outgoing(event, args);
        }
    }

    /// Emits an event (binary values, nested anywhere, become
    /// attachments). While disconnected it is buffered and sent, in
    /// order, once connected again; with [`SocketOptions::retries`] it is
    /// sent until acknowledged. Fails with [`EmitError::BufferFull`] past
    /// [`ManagerConfig::max_buffered`] packets held (offline, or waiting
    /// for room in a full send queue).
    pub fn emit(&self, event: &str, args: Vec<Value>) -> Result<(), EmitError> {
        self.emit_flags(event, args, EmitFlags::default())
            .map(|_| ())
    }

    /// Emits an event with typed arguments: `args` is the argument list,
    /// a tuple whose elements become the arguments (`&(a, b)` sends two,
    /// `&(a,)` one, `&()` none; a `Vec` or a slice spreads the same way),
    /// as the server's
    /// [`emit_serialized`](crate::server::Socket::emit_serialized) reads
    /// it. Any other value fails with [`EmitError::Encode`]. See the
    /// [`Socket`] example.
    pub fn emit_serialized<T: Serialize + ?Sized>(
        &self,
        event: &str,
        args: &T,
    ) -> Result<(), EmitError> {
        self.emit(event, serialize_args(args)?)
    }

    /// Emits an event only if the connection is open and its send queue
    /// has room; otherwise drops it (`volatile`). Never buffered while
    /// offline, never retried.
    pub fn emit_volatile(&self, event: &str, args: Vec<Value>) -> Result<(), EmitError> {
        let flags = EmitFlags {
            volatile: true,
            ..Default::default()
        };
        self.emit_flags(event, args, flags).map(|_| ())
    }

    /// [`emit_volatile`](Self::emit_volatile) with typed arguments (a
    /// tuple; see [`emit_serialized`](Self::emit_serialized)).
    pub fn emit_volatile_serialized<T: Serialize + ?Sized>(
        &self,
        event: &str,
        args: &T,
    ) -> Result<(), EmitError> {
        self.emit_volatile(event, serialize_args(args)?)
    }

    /// Emits an event (now, as [`emit`](Self::emit)) and returns the
    /// request to await for the server's acknowledgement; `.timeout(..)`
    /// bounds the wait (the default is [`SocketOptions::ack_timeout`],
    /// else until answered or disconnected).
    pub fn emit_with_ack(&self, event: &str, args: Vec<Value>) -> AckRequest {
        let flags = EmitFlags {
            ack: true,
            ..Default::default()
        };
        let now = Instant::now();
        self.notify_outgoing(event, &args, false);
        let r = {
            let mut state = self.shared.lock();
            let room = self.shared.room(&state, false);
            match room.and_then(|_| state.core.emit(&self.inner.nsp, event, args, flags, now)) {
                Ok(Some(token)) => {
                    let (tx, rx) = oneshot::channel();
                    state.acks.insert(token, tx);
                    Ok((token, rx))
                }
                Ok(None) => Err(AckError::Closed),
                Err(e) => Err(AckError::Emit(e)),
            }
        };
        self.shared.wake.notify_one();
        AckRequest {
            shared: self.shared.clone(),
            emitted: now,
            state: r,
        }
    }

    /// [`emit_with_ack`](Self::emit_with_ack) with typed arguments (a
    /// tuple; see [`emit_serialized`](Self::emit_serialized));
    /// [`AckRequest::typed`] reads the answer typed.
    pub fn emit_serialized_with_ack<T: Serialize + ?Sized>(
        &self,
        event: &str,
        args: &T,
    ) -> AckRequest {
        match serialize_args(args) {
            Ok(args) => self.emit_with_ack(event, args),
            Err(e) => AckRequest {
                shared: self.shared.clone(),
                emitted: Instant::now(),
                state: Err(AckError::Emit(e)),
            },
        }
    }
}

fn serialize_args<T: Serialize + ?Sized>(args: &T) -> Result<Vec<Value>, EmitError> {
    match Value::from_serialize(args) {
        Ok(Value::Array(a)) => Ok(a),
        Ok(Value::Null) => Ok(Vec::new()),
        Ok(_) => Err(EmitError::Encode(
            "event arguments must serialize to a JSON array".into(),
        )),
        Err(e) => Err(EmitError::Encode(e.to_string())),
    }
}
