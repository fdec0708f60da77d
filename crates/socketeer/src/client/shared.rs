//! What the application's handles ([`Manager`](super::Manager),
//! [`Socket`]) share with the manager's task (`driver.rs`): the state under
//! the lock, the registered handlers and how they are called, the
//! [`Socket`] handle itself (handlers get one) and the [`AckSender`] they
//! answer with. `socket.rs` builds on it the application's API, and starts
//! the task; the task only needs this module.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use serde::Serialize;
use socketeer_engineio::client::ClientOptions;
use tokio::sync::{oneshot, Notify};

use super::core::{AckError, AckToken, ConnectError, DisconnectReason, EmitError, ManagerCore};
use super::listeners::{IdSource, ListenerId, Listeners};
use crate::Value;
use socketeer_engineio::sync::{LockExt, RwLockExt};

/// An event handler: the socket, the arguments, and an
/// [`AckSender`] when the server asked for an acknowledgement.
pub type EventHandler = Arc<dyn Fn(&Socket, Vec<Value>, Option<AckSender>) + Send + Sync>;
/// A catch-all handler: also gets the event name.
pub type AnyHandler = Arc<dyn Fn(&Socket, &str, Vec<Value>, Option<AckSender>) + Send + Sync>;
/// A catch-all handler of the events the socket emits: the event name
/// and the arguments.
pub type OutgoingHandler = Arc<dyn Fn(&Socket, &str, &[Value]) + Send + Sync>;
type ConnectHandler = Arc<dyn Fn(&Socket) + Send + Sync>;
type DisconnectHandler = Arc<dyn Fn(&Socket, DisconnectReason) + Send + Sync>;
type ConnectErrorHandler = Arc<dyn Fn(&Socket, &ConnectError) + Send + Sync>;
type AttemptHandler = Arc<dyn Fn(u32) + Send + Sync>;
type ErrorHandler = Arc<dyn Fn(&str) + Send + Sync>;
type PlainHandler = Arc<dyn Fn() + Send + Sync>;
type CloseHandler = Arc<dyn Fn(DisconnectReason) + Send + Sync>;
pub(crate) type AckResult = Result<Vec<Value>, AckError>;

#[derive(Default)]
pub(crate) struct SocketHandlers {
    pub(crate) ids: IdSource,
    pub(crate) events: RwLock<HashMap<String, Listeners<EventHandler>>>,
    pub(crate) any: RwLock<Listeners<AnyHandler>>,
    pub(crate) any_outgoing: RwLock<Listeners<OutgoingHandler>>,
    pub(crate) connect: HandlerList<ConnectHandler>,
    pub(crate) disconnect: HandlerList<DisconnectHandler>,
    pub(crate) connect_error: HandlerList<ConnectErrorHandler>,
}

#[derive(Default)]
pub(crate) struct ManagerHandlers {
    pub(crate) ids: IdSource,
    pub(crate) open: HandlerList<PlainHandler>,
    pub(crate) close: HandlerList<CloseHandler>,
    pub(crate) ping: HandlerList<PlainHandler>,
    pub(crate) error: HandlerList<ErrorHandler>,
    pub(crate) reconnect_attempt: HandlerList<AttemptHandler>,
    pub(crate) reconnect: HandlerList<AttemptHandler>,
    pub(crate) reconnect_error: HandlerList<ErrorHandler>,
    pub(crate) reconnect_failed: HandlerList<PlainHandler>,
}

impl ManagerHandlers {
    /// Removes the listener `id`, of whichever event; whether it was there.
    pub(crate) fn remove(&self, id: ListenerId) -> bool {
        self.open.remove(id)
            || self.close.remove(id)
            || self.ping.remove(id)
            || self.error.remove(id)
            || self.reconnect_attempt.remove(id)
            || self.reconnect.remove(id)
            || self.reconnect_error.remove(id)
            || self.reconnect_failed.remove(id)
    }
}

/// The listeners of one socket or manager event.
pub(crate) struct HandlerList<T>(RwLock<Listeners<T>>);

impl<T> Default for HandlerList<T> {
    fn default() -> Self {
        HandlerList(RwLock::new(Listeners::default()))
    }
}

impl<T: Clone> HandlerList<T> {
    /// Adds a listener after the others; a `once` one is removed before
    /// its first call.
    pub(crate) fn add(&self, ids: &IdSource, once: bool, handler: T) -> ListenerId {
        let id = ids.next();
        self.0.write_ok().append(id, once, handler);
        id
    }

    /// Removes the listener `id`; whether it was there.
    pub(crate) fn remove(&self, id: ListenerId) -> bool {
        self.0.write_ok().remove(id)
    }

    /// Calls `f` with each listener, none locked meanwhile.
    pub(crate) fn call(&self, f: impl Fn(&T)) {
        let listeners = self.0.write_ok().take_for_call();
        for h in listeners {
            f(&h);
        }
    }
}

pub(crate) struct State {
    pub(crate) core: ManagerCore,
    pub(crate) acks: HashMap<AckToken, oneshot::Sender<AckResult>>,
    pub(crate) sockets: HashMap<Arc<str>, Arc<SocketInner>>,
    pub(crate) connect_waiters: HashMap<Arc<str>, Vec<oneshot::Sender<Result<(), ConnectError>>>>,
    pub(crate) last_error: Option<ConnectError>,
}

pub(crate) struct Shared {
    pub(crate) state: Mutex<State>,
    pub(crate) wake: Arc<Notify>,
    pub(crate) engine: ClientOptions,
    pub(crate) handlers: ManagerHandlers,
    /// Messages the driver holds for want of room in the Engine.IO send
    /// queue: emits fail past `max_buffered`, volatile ones are dropped.
    pub(crate) stalled: AtomicUsize,
    /// False once the manager's task has ended (its runtime gone): the
    /// shared-manager cache does not hand it out any more.
    pub(crate) running: Arc<AtomicBool>,
}

impl Shared {
    /// Whether an emit may proceed: `Ok(false)` drops a volatile one.
    pub(crate) fn room(&self, state: &State, volatile: bool) -> Result<bool, EmitError> {
        let stalled = self.stalled.load(Ordering::Acquire);
        if stalled == 0 {
            Ok(true)
        } else if volatile {
            Ok(false)
        } else if stalled >= state.core.config().max_buffered {
            Err(EmitError::BufferFull)
        } else {
            Ok(true)
        }
    }
}

impl Shared {
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.locked()
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        // The driver holds a weak reference: let it see the end.
        self.wake.notify_one();
    }
}

pub(crate) struct SocketInner {
    pub(crate) nsp: Arc<str>,
    pub(crate) handlers: SocketHandlers,
}

/// A connection to one namespace, as socket.io-client's `Socket`. Cheap to
/// clone.
///
/// Handlers run on the manager's task, one at a time, in the order events
/// arrive; they must be quick (spawn tasks for slow work; an
/// [`AckRequest`](super::AckRequest) can be awaited there).
///
/// ```no_run
/// use std::time::Duration;
/// use serde::Serialize;
/// use socketeer::client::{ClientBuilder, Socket};
///
/// #[derive(Serialize)]
/// struct Move { x: i32, y: i32 }
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let socket: Socket = ClientBuilder::new("http://127.0.0.1:3000").connect().await?;
/// socket.once_connect(|s| println!("joined again as {:?}", s.id()));
/// let news = socket.on("news", |_socket, args, ack| {
///     println!("news: {args:?}");
///     if let Some(ack) = ack {
///         let _ = ack.send_serialized(&"thanks"); // the server's callback gets "thanks"
///     }
/// });
/// // Typed arguments: a tuple spreads into them.
/// socket.emit_serialized("move", &(Move { x: 1, y: 2 },))?; // ["move",{"x":1,"y":2}]
/// socket.emit_serialized("score", &("ann", 42))?;           // ["score","ann",42]
/// // A typed answer.
/// let sum: i64 = socket
///     .emit_serialized_with_ack("add", &(1, 2))
///     .timeout(Duration::from_secs(5))
///     .typed()
///     .await?;
/// socket.off_listener(news);
/// socket.disconnect();
/// # let _ = sum;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Socket {
    pub(crate) shared: Arc<Shared>,
    pub(crate) inner: Arc<SocketInner>,
}

impl std::fmt::Debug for Socket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Socket")
            .field("nsp", &self.inner.nsp)
            .field("id", &self.id())
            .finish_non_exhaustive()
    }
}

impl Socket {
    pub(crate) fn dispatch_event(&self, event: &str, args: Vec<Value>, ack_id: Option<u64>) {
        let handlers = &self.inner.handlers;
        let any = handlers.any.write_ok().take_for_call();
        let own = {
            let mut events = handlers.events.write_ok();
            match events.get_mut(event) {
                Some(l) => {
                    let own = l.take_for_call();
                    if l.is_empty() {
                        events.remove(event);
                    }
                    own
                }
                None => Vec::new(),
            }
        };
        let ack = |id| AckSender {
            socket: self.clone(),
            id,
        };
        // Every handler may answer; the server takes the first answer.
        let mut args = Some(args);
        let total = any.len() + own.len();
        let mut take = |i: usize| {
            // The last handler gets the arguments without a copy.
            if i + 1 == total {
                args.take().unwrap_or_default()
            } else {
                args.clone().unwrap_or_default()
            }
        };
        for (i, h) in any.iter().enumerate() {
            h(self, event, take(i), ack_id.map(ack));
        }
        for (i, h) in own.iter().enumerate() {
            h(self, take(any.len() + i), ack_id.map(ack));
        }
    }

    /// Calls the outgoing catch-all listeners (on the emitting thread).
    pub(crate) fn dispatch_outgoing(&self, event: &str, args: &[Value]) {
        let handlers = self.inner.handlers.any_outgoing.write_ok().take_for_call();
        for h in handlers {
            h(self, event, args);
        }
    }

    /// Whether an outgoing listener is set (the arguments are then kept
    /// for it).
    pub(crate) fn has_outgoing(&self) -> bool {
        !self.inner.handlers.any_outgoing.read_ok().is_empty()
    }

    pub(crate) fn dispatch_connect(&self) {
        self.inner.handlers.connect.call(|h| h(self));
    }

    pub(crate) fn dispatch_disconnect(&self, reason: DisconnectReason) {
        self.inner.handlers.disconnect.call(|h| h(self, reason));
    }

    pub(crate) fn dispatch_connect_error(&self, error: &ConnectError) {
        self.inner.handlers.connect_error.call(|h| h(self, error));
    }
}

/// Answers the server's event that asked for an acknowledgement (once:
/// `send` takes it).
#[derive(Debug)]
pub struct AckSender {
    socket: Socket,
    id: u64,
}

impl AckSender {
    /// Sends the acknowledgement with these arguments.
    pub fn send(self, args: Vec<Value>) -> Result<(), EmitError> {
        let r = self
            .socket
            .shared
            .lock()
            .core
            .ack(&self.socket.inner.nsp, self.id, args);
        self.socket.shared.wake.notify_one();
        r
    }

    /// Sends the acknowledgement with one typed argument: `arg` is the
    /// answer itself (`ack.send_serialized(&reply)` is socket.io's
    /// `callback(reply)`), not an argument list as for emits. Several
    /// typed answers: `ack.send(args_from_serialize(&(a, b))?)`
    /// ([`args_from_serialize`](crate::packet::args_from_serialize)).
    pub fn send_serialized<T: Serialize + ?Sized>(self, arg: &T) -> Result<(), EmitError> {
        let value = Value::from_serialize(arg).map_err(|e| EmitError::Encode(e.to_string()))?;
        self.send(vec![value])
    }

    /// The ack id.
    pub fn id(&self) -> u64 {
        self.id
    }
}
