//! The driver of a [`ConnectionCore`]: it lives on the Engine.IO session's
//! task (an Engine.IO [`SessionHandler`]), so the core is owned, unlocked,
//! and what handlers send while it runs leaves with that task's next write.
//! It turns the core's [`Incoming`] into namespace and socket calls.

use std::sync::{Arc, Weak};
use std::task::{Context, Poll};
use std::time::{Instant, SystemTime};

use socketeer_engineio::id::random_id;
use socketeer_engineio::server::{
    CloseReason, SessionFactory, SessionHandler, Socket as EngineSocket,
};
use socketeer_engineio::Payload;

use super::core::{ConnectionCore, Incoming, NamespaceSocket, Transmit};
use crate::packet::DecoderConfig;
use crate::server::dispatch::poll_now;
use crate::server::error::{ConnectError, DisconnectReason};
use crate::server::metrics::{self, ConnectRefusal};
use crate::server::namespaces::{Lookup, Namespaces};
use crate::server::state::{BoxFuture, Handshake, Middleware, Namespace, Socket};
use crate::Value;
use socketeer_engineio::sync::{LockExt, RwLockExt};

impl NamespaceSocket for Socket {
    fn is_connected(&self) -> bool {
        self.connected()
    }
}

/// Makes the Socket.IO side of each Engine.IO session.
pub(crate) struct SocketIoSessions {
    pub(crate) namespaces: Weak<Namespaces>,
}

impl SessionFactory for SocketIoSessions {
    fn open(&self, _engine: &EngineSocket) -> Box<dyn SessionHandler> {
        let (timeout, max_attachments) = match self.namespaces.upgrade() {
            Some(n) => (n.config.connect_timeout, n.config.max_attachments),
            None => (std::time::Duration::ZERO, 0),
        };
        Box::new(Connection {
            namespaces: self.namespaces.clone(),
            core: ConnectionCore::new(Instant::now(), timeout, DecoderConfig { max_attachments }),
            pending: Vec::new(),
        })
    }
}

/// One Engine.IO session seen from Socket.IO.
struct Connection {
    namespaces: Weak<Namespaces>,
    core: ConnectionCore<Socket>,
    /// CONNECTs waiting for an async namespace matcher or middleware.
    pending: Vec<PendingConnect>,
}

impl SessionHandler for Connection {
    fn on_message(&mut self, engine: &EngineSocket, message: Payload) {
        let incoming = match self.core.handle_message(message) {
            Ok(Some(incoming)) => incoming,
            Ok(None) => return,
            Err(e) => {
                tracing::debug!(sid = engine.id(), error = %e, "invalid Socket.IO packet");
                engine.close_with(CloseReason::ParseError);
                return;
            }
        };
        match incoming {
            Incoming::Connect { nsp, auth } => {
                let Some(namespaces) = self.namespaces.upgrade() else {
                    return;
                };
                connect(
                    &namespaces,
                    &mut self.core,
                    engine,
                    &mut self.pending,
                    nsp,
                    auth,
                );
            }
            Incoming::Event {
                socket,
                name,
                args,
                ack,
            } => socket.dispatch_event(name, args, ack),
            Incoming::Ack { socket, id, args } => socket.dispatch_ack(id, args),
            Incoming::Leave { socket } => {
                socket.on_close(DisconnectReason::ClientNamespaceDisconnect)
            }
        }
    }

    fn on_close(mut self: Box<Self>, _engine: &EngineSocket, reason: CloseReason) {
        let reason = DisconnectReason::from(reason);
        for socket in self.core.handle_close() {
            socket.on_close(reason);
        }
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.core.poll_timeout()
    }

    fn poll_work(&mut self, engine: &EngineSocket, cx: &mut Context<'_>) -> Poll<()> {
        let mut done = false;
        let mut i = 0;
        // A CONNECT whose namespace is found may wait again, for its
        // middlewares: pushed at the end, it is polled in this same loop.
        while i < self.pending.len() {
            let Poll::Ready(answer) = self.pending[i].stage.poll(cx) else {
                i += 1;
                continue;
            };
            let p = self.pending.swap_remove(i);
            done = true;
            match (p.stage, answer) {
                (Stage::Namespace { handshake, .. }, Answer::Namespace(ns)) => {
                    let Some(namespaces) = self.namespaces.upgrade() else {
                        continue;
                    };
                    match ns {
                        Some(ns) => join(
                            &namespaces,
                            &mut self.core,
                            engine,
                            &mut self.pending,
                            p.nsp,
                            ns,
                            handshake,
                        ),
                        None => refuse_namespace(&mut self.core, engine, &p.nsp),
                    }
                }
                (
                    Stage::Middlewares {
                        ns,
                        socket,
                        session,
                        ..
                    },
                    Answer::Checked(result),
                ) => admit(&mut self.core, engine, &ns, &p.nsp, socket, session, result),
                _ => unreachable!("each stage gives its own answer"),
            }
        }
        if done {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }

    fn handle_timeout(&mut self, engine: &EngineSocket, now: Instant) {
        if self.core.handle_timeout(now) && !engine.is_closed() {
            tracing::debug!(sid = engine.id(), "no namespace joined in time");
            engine.close();
        }
    }
}

/// Sends what the core queued.
fn flush(core: &mut ConnectionCore<Socket>, engine: &EngineSocket) {
    while let Some(Transmit { frame, flush }) = core.poll_transmit() {
        let _ = if flush {
            engine.send_frame_flush(frame)
        } else {
            engine.send_frame(frame)
        };
    }
}

/// Refuses a CONNECT with `err`.
fn refuse(core: &mut ConnectionCore<Socket>, engine: &EngineSocket, nsp: &str, err: &ConnectError) {
    if let Err(e) = core.refuse(nsp, err.to_value()) {
        tracing::warn!(error = %e, "could not encode CONNECT_ERROR");
    }
    flush(core, engine);
}

/// The `pid` and `offset` a client that wants its session back puts in
/// its CONNECT payload (both strings, as the official server requires).
fn pid_and_offset(auth: &Value) -> Option<(Arc<str>, String)> {
    let Value::Object(map) = auth else {
        return None;
    };
    match (map.get("pid"), map.get("offset")) {
        (Some(Value::String(pid)), Some(Value::String(offset))) => {
            Some((Arc::from(pid.as_str()), offset.clone()))
        }
        _ => None,
    }
}

/// The CONNECT reply's payload: `{"sid"}`, plus `"pid"` with recovery on.
fn connect_reply(socket: &Socket) -> Value {
    let mut data = crate::Map::new();
    data.insert("sid".into(), Value::String(socket.id().to_owned()));
    if let Some(pid) = socket.pid() {
        data.insert("pid".into(), Value::String(pid.to_string()));
    }
    Value::Object(data)
}

/// Accepts `socket` into `nsp`: the CONNECT reply leaves in its own write,
/// ahead of what the connection handler emits (as the official server
/// does).
fn accept(core: &mut ConnectionCore<Socket>, engine: &EngineSocket, nsp: &str, socket: &Socket) {
    match core.accept(nsp, socket.clone(), connect_reply(socket)) {
        Ok(true) => {
            metrics::connected();
            flush(core, engine);
        }
        Ok(false) => flush(core, engine),
        Err(e) => tracing::warn!(error = %e, "could not encode CONNECT"),
    }
}

/// A CONNECT waiting for an async matcher to find its namespace, or for
/// its middlewares.
struct PendingConnect {
    nsp: Arc<str>,
    stage: Stage,
}

enum Stage {
    /// An async dynamic-namespace matcher is deciding.
    Namespace {
        handshake: Arc<Handshake>,
        lookup: BoxFuture<Option<Namespace>>,
    },
    /// The namespace's middlewares are running.
    Middlewares {
        ns: Namespace,
        socket: Socket,
        session: Option<(Arc<str>, String)>,
        check: BoxFuture<Result<(), ConnectError>>,
    },
}

/// What a [`Stage`] ends with.
enum Answer {
    Namespace(Option<Namespace>),
    Checked(Result<(), ConnectError>),
}

impl Stage {
    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<Answer> {
        match self {
            Stage::Namespace { lookup, .. } => lookup.as_mut().poll(cx).map(Answer::Namespace),
            Stage::Middlewares { check, .. } => check.as_mut().poll(cx).map(Answer::Checked),
        }
    }
}

/// Runs the namespace's middlewares on `socket`, in order; sync ones run
/// at once, an async one is awaited before the next.
fn run_middlewares(ns: &Namespace, socket: &Socket) -> BoxFuture<Result<(), ConnectError>> {
    let middlewares = ns.inner.middlewares.read_ok().clone();
    let socket = socket.clone();
    Box::pin(async move {
        for m in middlewares {
            match m {
                Middleware::Sync(f) => f(&socket)?,
                Middleware::Async(f) => f(socket.clone()).await?,
            }
        }
        Ok(())
    })
}

/// Answers a CONNECT: finds its namespace (waiting in `pending` if an
/// async matcher decides), then joins it.
fn connect(
    namespaces: &Arc<Namespaces>,
    core: &mut ConnectionCore<Socket>,
    engine: &EngineSocket,
    pending: &mut Vec<PendingConnect>,
    nsp: Arc<str>,
    auth: Value,
) {
    let req = engine.request();
    let handshake = Arc::new(Handshake {
        auth,
        headers: req.headers.clone(),
        query: req.uri.query().unwrap_or("").to_owned(),
        url: req.uri.to_string(),
        address: req.remote_addr,
        issued: SystemTime::now(),
    });
    let found = match namespaces.namespace_for(&nsp, &handshake) {
        Lookup::Ready(found) => found,
        Lookup::Pending(lookup) => match poll_now(lookup) {
            Ok(found) => found,
            Err(lookup) => {
                pending.push(PendingConnect {
                    nsp,
                    stage: Stage::Namespace { handshake, lookup },
                });
                return;
            }
        },
    };
    match found {
        Some(ns) => join(namespaces, core, engine, pending, nsp, ns, handshake),
        None => refuse_namespace(core, engine, &nsp),
    }
}

/// Refuses a CONNECT to a namespace that does not exist (nor matches a
/// dynamic one), as Node does: CONNECT_ERROR "Invalid namespace".
fn refuse_namespace(core: &mut ConnectionCore<Socket>, engine: &EngineSocket, nsp: &str) {
    metrics::connect_refused(ConnectRefusal::InvalidNamespace);
    refuse(core, engine, nsp, &ConnectError::new("Invalid namespace"));
}

/// Joins `ns`: restores a recovered session when the middlewares are to
/// be skipped for it, else makes the socket and runs the middlewares
/// (waiting in `pending` if one awaits).
fn join(
    namespaces: &Arc<Namespaces>,
    core: &mut ConnectionCore<Socket>,
    engine: &EngineSocket,
    pending: &mut Vec<PendingConnect>,
    nsp: Arc<str>,
    ns: Namespace,
    handshake: Arc<Handshake>,
) {
    let recovery = namespaces.config.connection_state_recovery.as_ref();
    let session = recovery.and_then(|_| pid_and_offset(&handshake.auth));
    let skip_middlewares = recovery.is_some_and(|r| r.skip_middlewares);
    if let (Some((pid, offset)), true) = (&session, skip_middlewares) {
        if restore(core, engine, &ns, &nsp, &handshake, pid, offset, None) {
            return;
        }
    }
    // The middlewares see the id the socket will have if its session is
    // restored after them.
    let sid = session
        .as_ref()
        .and_then(|(pid, _)| ns.recovery()?.session_sid(pid))
        .unwrap_or_else(random_id);
    let pid = recovery.map(|_| random_id());
    let socket = Socket::new(sid, ns.clone(), engine.clone(), handshake, pid, false);
    let session = session.filter(|_| !skip_middlewares);
    match poll_now(run_middlewares(&ns, &socket)) {
        Ok(result) => admit(core, engine, &ns, &nsp, socket, session, result),
        Err(check) => pending.push(PendingConnect {
            nsp,
            stage: Stage::Middlewares {
                ns,
                socket,
                session,
                check,
            },
        }),
    }
}

/// Ends a CONNECT once its middlewares have answered: refuses it, or
/// restores the client's session, or connects `socket`.
fn admit(
    core: &mut ConnectionCore<Socket>,
    engine: &EngineSocket,
    ns: &Namespace,
    nsp: &str,
    socket: Socket,
    session: Option<(Arc<str>, String)>,
    result: Result<(), ConnectError>,
) {
    if let Err(err) = result {
        metrics::connect_refused(ConnectRefusal::Middleware);
        refuse(core, engine, nsp, &err);
        return;
    }
    if let Some((pid, offset)) = &session {
        let handshake = socket.inner.handshake.clone();
        if restore(
            core,
            engine,
            ns,
            nsp,
            &handshake,
            pid,
            offset,
            Some(&socket),
        ) {
            return;
        }
    }
    ns.add_socket(&socket);
    accept(core, engine, nsp, &socket);
    socket.dispatch_connection();
}

/// Restores the session `pid` if it is still kept: the socket gets its
/// id, rooms and data back (the data a middleware set on `checked`
/// wins), and the events it missed. False when there is none to restore.
#[allow(clippy::too_many_arguments)]
fn restore(
    core: &mut ConnectionCore<Socket>,
    engine: &EngineSocket,
    ns: &Namespace,
    nsp: &str,
    handshake: &Arc<Handshake>,
    pid: &Arc<str>,
    offset: &str,
    checked: Option<&Socket>,
) -> bool {
    let Some(mut store) = ns.recovery() else {
        return false;
    };
    let Some(restored) = store.restore(pid, offset, Instant::now()) else {
        return false;
    };
    let socket = Socket::new(
        restored.sid,
        ns.clone(),
        engine.clone(),
        handshake.clone(),
        Some(pid.clone()),
        true,
    );
    let data = checked
        .and_then(|s| s.inner.data.locked().take())
        .or(restored.data);
    *socket.inner.data.locked() = data;
    ns.add_socket(&socket);
    socket.join(restored.rooms);
    // As the official server: the missed events go first, and the client
    // holds them until the CONNECT reply. The store stays locked until
    // both are queued so no newer event overtakes them.
    for m in &restored.missed {
        if socket.send_encoded(m).is_err() {
            tracing::debug!(sid = engine.id(), "could not replay missed events");
            engine.close();
            break;
        }
    }
    accept(core, engine, nsp, &socket);
    drop(store);
    tracing::debug!(
        sid = socket.id(),
        missed = restored.missed.len(),
        "connection state recovered"
    );
    socket.dispatch_connection();
    true
}
