//! The driver of a [`ConnectionCore`]: it lives on the Engine.IO session's
//! task (an Engine.IO [`SessionHandler`]), so the core is owned, unlocked,
//! and what handlers send while it runs leaves with that task's next write.
//! It turns the core's [`Incoming`] into namespace and socket calls.

use std::sync::{Arc, Weak};
use std::time::{Instant, SystemTime};

use socketeer_engineio::id::random_id;
use socketeer_engineio::server::{
    CloseReason, SessionFactory, SessionHandler, Socket as EngineSocket,
};
use socketeer_engineio::Payload;

use super::core::{ConnectionCore, Incoming, NamespaceSocket, Transmit};
use crate::packet::DecoderConfig;
use crate::server::error::{ConnectError, DisconnectReason};
use crate::server::namespaces::Namespaces;
use crate::server::state::{Handshake, Namespace, Socket};
use crate::Value;

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
        })
    }
}

/// One Engine.IO session seen from Socket.IO.
struct Connection {
    namespaces: Weak<Namespaces>,
    core: ConnectionCore<Socket>,
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
                connect(&namespaces, &mut self.core, engine, &nsp, auth);
            }
            Incoming::Event {
                socket,
                name,
                args,
                ack,
            } => socket.dispatch_event(&name, args, ack),
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
        Ok(_) => flush(core, engine),
        Err(e) => tracing::warn!(error = %e, "could not encode CONNECT"),
    }
}

/// Answers a CONNECT: runs the middlewares, restores a recovered session
/// or makes a new socket, and calls the connection handler.
fn connect(
    namespaces: &Namespaces,
    core: &mut ConnectionCore<Socket>,
    engine: &EngineSocket,
    nsp: &str,
    auth: Value,
) {
    let Some(ns) = namespaces.namespace_for(nsp) else {
        refuse(core, engine, nsp, &ConnectError::new("Invalid namespace"));
        return;
    };
    let req = engine.request();
    let handshake = Arc::new(Handshake {
        auth,
        headers: req.headers.clone(),
        query: req.uri.query().unwrap_or("").to_owned(),
        url: req.uri.to_string(),
        address: req.remote_addr,
        issued: SystemTime::now(),
    });
    let recovery = namespaces.config.connection_state_recovery.as_ref();
    let session = recovery.and_then(|_| pid_and_offset(&handshake.auth));
    let skip_middlewares = session.is_some() && recovery.is_some_and(|r| r.skip_middlewares);
    let admit =
        |core: &mut ConnectionCore<Socket>, ns: &Namespace| match ns.run_middlewares(&handshake) {
            Ok(()) => true,
            Err(err) => {
                refuse(core, engine, nsp, &err);
                false
            }
        };
    if !skip_middlewares && !admit(core, &ns) {
        return;
    }
    if let Some((pid, offset)) = session {
        if let Some(mut store) = ns.recovery() {
            if let Some(restored) = store.restore(&pid, &offset, Instant::now()) {
                let socket = Socket::new(
                    restored.sid,
                    ns.clone(),
                    engine.clone(),
                    handshake.clone(),
                    Some(pid),
                    true,
                );
                ns.add_socket(&socket);
                socket.join(restored.rooms);
                // As the official server: the missed events go first, and
                // the client holds them until the CONNECT reply. The store
                // stays locked until both are queued so no newer event
                // overtakes them.
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
                ns.connected(socket);
                return;
            }
        }
        if skip_middlewares && !admit(core, &ns) {
            return;
        }
    }
    let pid = recovery.map(|_| random_id());
    let socket = Socket::new(
        random_id(),
        ns.clone(),
        engine.clone(),
        handshake,
        pid,
        false,
    );
    ns.add_socket(&socket);
    accept(core, engine, nsp, &socket);
    ns.connected(socket);
}
