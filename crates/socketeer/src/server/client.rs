//! One Engine.IO session seen from Socket.IO: the packet decoder and the
//! sockets of each namespace it joined.

use std::sync::{Arc, Mutex, Weak};
use std::time::{Instant, SystemTime};

use socketeer_engineio::server::{CloseReason, EngineHandler, Socket as EngineSocket};
use socketeer_engineio::Payload;

use super::namespace::Namespace;
use super::socket::{DisconnectReason, Socket};
use super::{new_id, Handshake, IoInner};
use crate::packet::{Decoder, DecoderConfig, Packet, PacketType};
use crate::Value;

pub(crate) struct Client {
    state: Mutex<ClientState>,
}

struct ClientState {
    decoder: Decoder,
    sockets: Joined,
    closed: bool,
    /// The task that drops the connection if it joins no namespace in
    /// time; stopped as soon as one is joined or the connection ends, so
    /// it does not keep the session's memory alive for the whole timeout.
    connect_timer: Option<tokio::task::AbortHandle>,
}

/// The sockets of the namespaces a client joined, by namespace name: a
/// client joins few (most one), so a list, grown one at a time, costs less
/// than a hash table.
#[derive(Default)]
struct Joined(Vec<(Arc<str>, Socket)>);

impl Joined {
    fn get(&self, nsp: &str) -> Option<&Socket> {
        self.0.iter().find(|(n, _)| **n == *nsp).map(|(_, s)| s)
    }

    fn insert(&mut self, nsp: &str, socket: Socket) {
        match self.0.iter_mut().find(|(n, _)| **n == *nsp) {
            Some((_, s)) => *s = socket,
            None => {
                self.0.reserve_exact(1);
                self.0.push((Arc::from(nsp), socket));
            }
        }
    }

    fn remove(&mut self, nsp: &str) -> Option<Socket> {
        let i = self.0.iter().position(|(n, _)| **n == *nsp)?;
        Some(self.0.remove(i).1)
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Client {
    fn lock(&self) -> std::sync::MutexGuard<'_, ClientState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records a namespace joined; the connect timeout no longer applies.
    fn add_socket(&self, nsp: &str, socket: &Socket) {
        let mut s = self.lock();
        s.sockets.insert(nsp, socket.clone());
        if let Some(timer) = s.connect_timer.take() {
            timer.abort();
        }
    }

    /// Removes a namespace's socket after a server-side disconnect.
    pub(crate) fn forget_socket(engine: &EngineSocket, nsp: &str) {
        if let Some(client) = engine.extension::<Client>() {
            client.lock().sockets.remove(nsp);
        }
    }
}

fn map_reason(reason: CloseReason) -> DisconnectReason {
    match reason {
        CloseReason::TransportClose => DisconnectReason::TransportClose,
        CloseReason::TransportError => DisconnectReason::TransportError,
        CloseReason::PingTimeout => DisconnectReason::PingTimeout,
        CloseReason::ParseError => DisconnectReason::ParseError,
        CloseReason::ForcedClose => DisconnectReason::ForcedServerClose,
        CloseReason::ServerShuttingDown => DisconnectReason::ServerShuttingDown,
    }
}

/// Sends a packet that is not an event (CONNECT, CONNECT_ERROR, ...).
fn send_packet(engine: &EngineSocket, packet: &Packet) {
    match packet.encode_message() {
        Ok(m) => {
            for f in m.frames() {
                let _ = engine.send_frame(f);
            }
        }
        Err(e) => tracing::warn!(error = %e, "could not encode packet"),
    }
}

/// The Engine.IO handler of a Socket.IO server.
pub(crate) struct SioHandler {
    pub(crate) io: Weak<IoInner>,
}

impl EngineHandler for SioHandler {
    fn on_connect(&self, engine: &EngineSocket) {
        let Some(io) = self.io.upgrade() else { return };
        let client = Arc::new(Client {
            state: Mutex::new(ClientState {
                decoder: Decoder::with_config(DecoderConfig {
                    max_attachments: io.config.max_attachments,
                }),
                sockets: Joined::default(),
                closed: false,
                connect_timer: None,
            }),
        });
        engine.set_extension(client.clone());
        // A client that joins no namespace in time is dropped.
        let timeout = io.config.connect_timeout;
        let engine = engine.clone();
        let weak_client = Arc::downgrade(&client);
        let timer = tokio::spawn(async move {
            tokio::time::sleep(timeout).await;
            if let Some(client) = weak_client.upgrade() {
                let idle = {
                    let s = client.lock();
                    s.sockets.is_empty() && !s.closed
                };
                if idle && !engine.is_closed() {
                    tracing::debug!(sid = engine.id(), "no namespace joined in time");
                    engine.close();
                }
            }
        });
        client.lock().connect_timer = Some(timer.abort_handle());
    }

    fn on_message(&self, engine: &EngineSocket, message: Payload) {
        let (Some(io), Some(client)) = (self.io.upgrade(), engine.extension::<Client>()) else {
            return;
        };
        let decoded = client.lock().decoder.decode_message(message);
        let packet = match decoded {
            Ok(Some(p)) => p,
            Ok(None) => return,
            Err(e) => {
                tracing::debug!(sid = engine.id(), error = %e, "invalid Socket.IO packet");
                engine.close_with(CloseReason::ParseError);
                return;
            }
        };
        match packet.kind {
            PacketType::Connect => self.connect(&io, &client, engine, packet),
            PacketType::Disconnect => {
                let socket = client.lock().sockets.remove(&packet.nsp);
                match socket {
                    Some(s) => s.on_close(DisconnectReason::ClientNamespaceDisconnect),
                    None => engine.close_with(CloseReason::ParseError),
                }
            }
            PacketType::Event | PacketType::BinaryEvent => {
                let socket = client.lock().sockets.get(&packet.nsp).cloned();
                let Some(socket) = socket else {
                    tracing::debug!(nsp = &*packet.nsp, "event for a namespace not joined");
                    engine.close_with(CloseReason::ParseError);
                    return;
                };
                let id = packet.id;
                let mut args = match packet.data {
                    Some(Value::Array(a)) => a,
                    _ => return,
                };
                if args.is_empty() {
                    return;
                }
                let name = match args.remove(0) {
                    Value::String(s) => s,
                    Value::Number(n) => n.to_string(),
                    _ => return,
                };
                socket.dispatch_event(&name, args, id);
            }
            PacketType::Ack | PacketType::BinaryAck => {
                let socket = client.lock().sockets.get(&packet.nsp).cloned();
                match (socket, packet.id) {
                    (Some(socket), Some(id)) => {
                        let args = match packet.data {
                            Some(Value::Array(a)) => a,
                            _ => Vec::new(),
                        };
                        socket.dispatch_ack(id, args);
                    }
                    _ => engine.close_with(CloseReason::ParseError),
                }
            }
            PacketType::ConnectError => {
                engine.close_with(CloseReason::ParseError);
            }
        }
    }

    fn on_disconnect(&self, engine: &EngineSocket, reason: CloseReason) {
        let Some(client) = engine.extension::<Client>() else {
            return;
        };
        let sockets: Vec<Socket> = {
            let mut s = client.lock();
            s.closed = true;
            s.decoder.reset();
            if let Some(timer) = s.connect_timer.take() {
                timer.abort();
            }
            std::mem::take(&mut s.sockets.0)
                .into_iter()
                .map(|(_, v)| v)
                .collect()
        };
        let reason = map_reason(reason);
        for s in sockets {
            s.on_close(reason);
        }
    }
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

/// The CONNECT reply: `{"sid"}`, plus `"pid"` with recovery on. It leaves
/// in its own write, ahead of what the connection handler emits (as the
/// official server does).
fn send_connect_reply(engine: &EngineSocket, nsp: &str, socket: &Socket) {
    let mut data = crate::Map::new();
    data.insert("sid".into(), Value::String(socket.id().to_owned()));
    if let Some(pid) = socket.pid() {
        data.insert("pid".into(), Value::String(pid.to_string()));
    }
    match Packet::connect(nsp.to_owned(), Some(Value::Object(data))).encode_message() {
        Ok(m) => {
            let _ = engine.send_frame_flush(socketeer_engineio::Payload::Text(m.text));
        }
        Err(e) => tracing::warn!(error = %e, "could not encode CONNECT"),
    }
}

impl SioHandler {
    /// Runs the namespace middlewares; a refusal answers CONNECT_ERROR.
    fn admit(ns: &Namespace, handshake: &Handshake, engine: &EngineSocket, nsp: &str) -> bool {
        match ns.run_middlewares(handshake) {
            Ok(()) => true,
            Err(err) => {
                send_packet(
                    engine,
                    &Packet::connect_error(nsp.to_owned(), err.to_value()),
                );
                false
            }
        }
    }

    fn connect(
        &self,
        io: &Arc<IoInner>,
        client: &Arc<Client>,
        engine: &EngineSocket,
        packet: Packet,
    ) {
        let nsp = packet.nsp.clone();
        if client.lock().sockets.get(&nsp).is_some() {
            // As the official server: a packet invalid in this state ends
            // the connection.
            tracing::debug!(nsp = &*nsp, "already connected to namespace");
            engine.close_with(CloseReason::ParseError);
            return;
        }
        let Some(ns) = io.namespace_for(&nsp) else {
            let err = super::namespace::ConnectError::new("Invalid namespace");
            send_packet(
                engine,
                &Packet::connect_error(nsp.into_owned(), err.to_value()),
            );
            return;
        };
        let req = engine.request();
        let handshake = Arc::new(Handshake {
            auth: packet
                .data
                .unwrap_or_else(|| Value::Object(Default::default())),
            headers: req.headers.clone(),
            query: req.uri.query().unwrap_or("").to_owned(),
            url: req.uri.to_string(),
            address: req.remote_addr,
            issued: SystemTime::now(),
        });
        let recovery = io.config.connection_state_recovery.as_ref();
        let session = recovery.and_then(|_| pid_and_offset(&handshake.auth));
        let skip_middlewares = session.is_some() && recovery.is_some_and(|r| r.skip_middlewares);
        if !skip_middlewares && !Self::admit(&ns, &handshake, engine, &nsp) {
            return;
        }
        if let Some((pid, offset)) = session {
            if let Some(mut store) = ns.recovery() {
                if let Some(restored) = store.restore(&pid, &offset, Instant::now()) {
                    let socket = Socket::new(
                        restored.sid,
                        ns.clone(),
                        engine.clone(),
                        handshake,
                        Some(pid),
                        true,
                    );
                    ns.add_socket(&socket);
                    socket.join(restored.rooms);
                    client.add_socket(&nsp, &socket);
                    // As the official server: the missed events go first,
                    // and the client holds them until the CONNECT reply.
                    // The store stays locked until both are queued so no
                    // newer event overtakes them.
                    for m in &restored.missed {
                        if socket.send_encoded(m).is_err() {
                            tracing::debug!(sid = engine.id(), "could not replay missed events");
                            engine.close();
                            break;
                        }
                    }
                    send_connect_reply(engine, &nsp, &socket);
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
            if skip_middlewares && !Self::admit(&ns, &handshake, engine, &nsp) {
                return;
            }
        }
        let pid = recovery.map(|_| new_id());
        let socket = Socket::new(new_id(), ns.clone(), engine.clone(), handshake, pid, false);
        ns.add_socket(&socket);
        client.add_socket(&nsp, &socket);
        send_connect_reply(engine, &nsp, &socket);
        ns.connected(socket);
    }
}
