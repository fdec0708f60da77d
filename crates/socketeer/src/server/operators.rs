//! Broadcast operators: `to`, `except`, `volatile`, `local`, `timeout`,
//! and every entry point that targets several sockets (`Namespace::to`,
//! `Socket::broadcast`, ...), including the operations other servers send
//! through the adapter ([`AdapterHost`]).

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use super::adapter::{
    AdapterHost, BroadcastOptions, ClusterAcks, ClusterOp, RemoteAck, Room, ServerSideAck,
    SocketInfo,
};
use super::error::{AckError, EmitError, FetchError};
use super::state::{Namespace, NamespaceInner, Socket};
use crate::packet::EncodedMessage;
use crate::Value;
use socketeer_engineio::sync::RwLockExt;
use socketeer_engineio::PreparedFrame;

impl Namespace {
    /// Targets the sockets in a room.
    pub fn to(&self, room: impl Into<Room>) -> BroadcastOperator {
        self.broadcast().to(room)
    }

    /// Targets every socket except those in a room.
    pub fn except(&self, room: impl Into<Room>) -> BroadcastOperator {
        self.broadcast().except(room)
    }

    /// Targets every socket of the namespace.
    pub fn broadcast(&self) -> BroadcastOperator {
        BroadcastOperator::new(self.clone())
    }

    /// Emits to every socket of the namespace.
    pub fn emit(&self, event: &str, args: Vec<Value>) -> Result<usize, EmitError> {
        self.broadcast().emit(event, args)
    }

    /// Emits typed arguments (a tuple; see [`Socket::emit_serialized`])
    /// to every socket of the namespace.
    pub fn emit_serialized<T: Serialize + ?Sized>(
        &self,
        event: &str,
        args: &T,
    ) -> Result<usize, EmitError> {
        self.broadcast().emit_serialized(event, args)
    }

    /// Targets every socket of the namespace, with a choice of
    /// compression (`nsp.compress(false).emit(..)`; see
    /// [`BroadcastOperator::compress`]).
    pub fn compress(&self, compress: bool) -> BroadcastOperator {
        self.broadcast().compress(compress)
    }

    /// Disconnects every socket (reason "server namespace disconnect").
    pub fn disconnect_sockets(&self) {
        self.broadcast().disconnect_sockets();
    }

    /// Every socket of the namespace, on every server.
    pub async fn fetch_sockets(&self) -> Vec<SocketInfo> {
        self.broadcast().fetch_sockets().await
    }

    /// Every socket of the namespace, on every server, or why not every
    /// server answered (see [`BroadcastOperator::try_fetch_sockets`]).
    pub async fn try_fetch_sockets(&self) -> Result<Vec<SocketInfo>, FetchError> {
        self.broadcast().try_fetch_sockets().await
    }
}

impl Socket {
    /// Broadcasts to a room, except this socket.
    pub fn to(&self, room: impl Into<Room>) -> BroadcastOperator {
        self.broadcast().to(room)
    }

    /// Broadcasts to every socket of the namespace except this one.
    pub fn broadcast(&self) -> BroadcastOperator {
        BroadcastOperator::new(self.namespace().clone()).except(self.sid().clone())
    }
}

impl AdapterHost for NamespaceInner {
    fn apply(self: Arc<Self>, op: ClusterOp) {
        let ns = Namespace { inner: self };
        let local = |mut opts: BroadcastOptions| {
            opts.local = true;
            BroadcastOperator::with_options(ns.clone(), opts)
        };
        match op {
            ClusterOp::Emit { opts, event, args } => {
                let _ = local(opts).emit(&event, args);
            }
            ClusterOp::Join { opts, rooms } => local(opts).sockets_join(rooms),
            ClusterOp::Leave { opts, rooms } => {
                let target = local(opts);
                for room in rooms {
                    target.sockets_leave(&room);
                }
            }
            ClusterOp::Disconnect { opts, close } => local(opts).disconnect_sockets_with(close),
            ClusterOp::ServerSideEmit { event, args } => {
                let handler = ns.inner.on_server_side.read_ok().clone();
                if let Some(h) = handler {
                    h(&event, args, None);
                }
            }
        }
    }

    fn local_sockets(self: Arc<Self>, opts: &BroadcastOptions) -> Vec<SocketInfo> {
        Namespace { inner: self }.local_socket_infos(opts)
    }

    fn server_side_emit_with_ack(
        self: Arc<Self>,
        event: String,
        args: Vec<Value>,
        ack: ServerSideAck,
    ) {
        let handler = self.on_server_side.read_ok().clone();
        if let Some(h) = handler {
            h(&event, args, Some(ack));
        }
    }

    fn broadcast_with_ack(
        self: Arc<Self>,
        mut opts: BroadcastOptions,
        event: String,
        args: Vec<Value>,
        timeout: Duration,
        on_count: Box<dyn FnOnce(usize) + Send>,
        on_ack: Arc<dyn Fn(Value) + Send + Sync>,
    ) {
        opts.local = true;
        let target =
            BroadcastOperator::with_options(Namespace { inner: self }, opts).timeout(timeout);
        let sent = match target.send_with_ack(&event, &args) {
            Ok(sent) => sent,
            Err(e) => {
                tracing::warn!(error = %e, "another server's broadcast with acknowledgements could not be encoded");
                return on_count(0);
            }
        };
        let waiting: Vec<(Socket, AckReceiver, u64)> = sent
            .into_iter()
            .filter_map(|(s, rx)| rx.map(|(rx, id)| (s, rx, id)))
            .collect();
        on_count(waiting.len());
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let deadline = tokio::time::Instant::now() + timeout;
        for (socket, rx, id) in waiting {
            let on_ack = on_ack.clone();
            runtime.spawn(async move {
                match tokio::time::timeout_at(deadline, rx).await {
                    Ok(Ok(Ok(answer))) => on_ack(answer.into_iter().next().unwrap_or_default()),
                    Ok(_) => {}
                    Err(_) => socket.forget_ack(id),
                }
            });
        }
    }
}

/// The receiver of one socket's acknowledgement.
type AckReceiver = tokio::sync::oneshot::Receiver<Result<Vec<Value>, AckError>>;
/// A socket an event with an ack id went to, with the receiver of its
/// answer and the ack id (`None` if the send failed).
type Sent = (Socket, Option<(AckReceiver, u64)>);

/// Chooses the sockets a broadcast reaches, then emits to them. The
/// packet is encoded once; each recipient gets a reference to the same
/// bytes. Made by `to`, `except`, `broadcast`, ... on [`SocketIo`](super::SocketIo),
/// [`Namespace`] and [`Socket`] (which leaves itself out).
///
/// ```
/// use std::time::Duration;
/// use socketeer::server::{Socket, SocketIo};
///
/// async fn broadcasts(io: SocketIo, socket: Socket) {
///     // Rooms add up; exceptions win.
///     let _ = io.to("room-1").to("room-2").except("muted").emit("news", vec!["hi".into()]);
///     // Flags: dropped for clients not ready, this server only, uncompressed.
///     let _ = io.broadcast().volatile().local().compress(false).emit_serialized("tick", &(1,));
///     // Every other socket of the namespace, typed.
///     let _ = socket.broadcast().emit_serialized("joined", &(socket.id(),));
///     // One answer per socket (of this server), within the timeout.
///     let answers = io
///         .to("voters")
///         .timeout(Duration::from_secs(5))
///         .emit_serialized_with_ack("vote", &("lunch?",))
///         .await;
///     for (socket, answer) in answers.unwrap_or_default() {
///         println!("{} answered {answer:?}", socket.id());
///     }
///     // The rooms' sockets of every server, and what to do with them.
///     println!("{} in room-1", io.to("room-1").fetch_sockets().await.len());
///     io.to("room-1").sockets_join(["room-3"]);
///     io.to("banned").disconnect_sockets();
/// }
/// # let _ = broadcasts;
/// ```
#[derive(Debug, Clone)]
pub struct BroadcastOperator {
    ns: Namespace,
    opts: BroadcastOptions,
    timeout: Option<Duration>,
    /// Whether the message may be compressed (see
    /// [`BroadcastOperator::compress`]).
    compress: bool,
}

impl BroadcastOperator {
    pub(crate) fn new(ns: Namespace) -> Self {
        Self::with_options(ns, BroadcastOptions::default())
    }

    pub(crate) fn with_options(ns: Namespace, opts: BroadcastOptions) -> Self {
        BroadcastOperator {
            ns,
            opts,
            timeout: None,
            compress: true,
        }
    }

    /// Whether operations must also reach the other servers.
    fn clustered(&self) -> bool {
        !self.opts.local && self.ns.adapter().is_clustered()
    }

    fn publish(&self, op: ClusterOp) {
        self.ns.adapter().publish(op);
    }

    /// Also targets the sockets of this room.
    pub fn to(mut self, room: impl Into<Room>) -> Self {
        self.opts.rooms.push(room.into());
        self
    }

    /// Same as [`BroadcastOperator::to`].
    pub fn within(self, room: impl Into<Room>) -> Self {
        self.to(room)
    }

    /// Leaves out the sockets of this room.
    pub fn except(mut self, room: impl Into<Room>) -> Self {
        self.opts.except.push(room.into());
        self
    }

    /// Drops the message for clients not ready to receive it.
    pub fn volatile(mut self) -> Self {
        self.opts.volatile = true;
        self
    }

    /// Chooses whether the message may be compressed (socket.io's
    /// `io.compress(false).emit(..)`): with `false`, it goes uncompressed
    /// to every WebSocket recipient with permessage-deflate, whatever its
    /// size; with `true` (the default) each recipient compresses it when
    /// it reaches the threshold. This server's recipients only: an emit
    /// relayed to the other servers of a cluster goes out there with the
    /// default.
    pub fn compress(mut self, compress: bool) -> Self {
        self.compress = compress;
        self
    }

    /// Only this server's sockets (matters with a multi-server adapter).
    pub fn local(mut self) -> Self {
        self.opts.local = true;
        self
    }

    /// How long [`BroadcastOperator::emit_with_ack`] waits for every
    /// recipient.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// The targeted sockets of this server.
    pub fn sockets(&self) -> Vec<Socket> {
        let mut out = Vec::new();
        self.ns
            .target_sockets(&self.opts, &mut |s| out.push(s.clone()));
        out
    }

    /// Hands the one encoded message to every target, straight from the
    /// adapter's walk over its rooms.
    ///
    /// Recipients with outgoing listeners are told of the event first;
    /// `args` gives its arguments (made at most once, and only then).
    fn deliver(&self, msg: &EncodedMessage, event: &str, args: &dyn Fn() -> Vec<Value>) -> usize {
        let mut delivered = 0;
        let outgoing_args = std::cell::OnceCell::new();
        let volatile = self.opts.volatile;
        let compress = self.compress;
        // The WebSocket frames too are built once, for every recipient;
        // each recipient's send queue counts them in full.
        let prepared: Vec<PreparedFrame> = msg.frames().map(PreparedFrame::from_payload).collect();
        self.ns.target_sockets(&self.opts, &mut |socket| {
            if socket.has_outgoing_listeners() {
                socket.notify_outgoing(event, outgoing_args.get_or_init(args));
            }
            // A recipient over its queue limit is disconnected by the
            // engine ("transport error"); a volatile message is dropped
            // for it instead. Either way the others are not held up.
            let ok = if volatile {
                socket.send_prepared_volatile(&prepared, compress)
            } else {
                socket.send_prepared(&prepared, compress).is_ok()
            };
            delivered += usize::from(ok);
        });
        self.ns.inner.metrics.events_sent(delivered);
        delivered
    }

    /// Emits to every targeted socket; returns how many got it. With
    /// connection state recovery on (and not `volatile`), the event is
    /// also kept for clients that reconnect in time.
    pub fn emit(&self, event: &str, args: Vec<Value>) -> Result<usize, EmitError> {
        let remote = self.clustered().then(|| args.clone());
        let delivered = self.ns.emit_recorded(&self.opts, event, args, |m, a| {
            self.deliver(m, event, &|| a.to_vec())
        })?;
        if let Some(args) = remote {
            self.publish(ClusterOp::Emit {
                opts: self.opts.clone(),
                event: event.to_owned(),
                args,
            });
        }
        Ok(delivered)
    }

    /// [`BroadcastOperator::emit`] with typed arguments (a tuple; see
    /// [`Socket::emit_serialized`]), encoded once for every recipient.
    pub fn emit_serialized<T: Serialize + ?Sized>(
        &self,
        event: &str,
        args: &T,
    ) -> Result<usize, EmitError> {
        if self.clustered() || (self.ns.recovery_enabled() && !self.opts.volatile) {
            return self.emit(event, crate::packet::args_from_serialize(args)?);
        }
        let msg = EncodedMessage::event_serialize(self.ns.name(), event, None, args)?;
        let values = || crate::packet::args_from_serialize(args).unwrap_or_default();
        Ok(self.deliver(&msg, event, &values))
    }

    /// Sends the event with one ack id to every targeted socket of this
    /// server: each socket with the receiver of its answer and the ack id,
    /// or `None` if the send failed.
    fn send_with_ack(&self, event: &str, args: &[Value]) -> Result<Vec<Sent>, EmitError> {
        let id = self.ns.next_ack_id();
        let msg = EncodedMessage::event(self.ns.name(), event, Some(id), args)?;
        let mut waiting = Vec::new();
        for socket in self.sockets() {
            let rx = socket.register_ack(id);
            if socket.send_encoded_with(&msg, self.compress).is_err() {
                socket.forget_ack(id);
                waiting.push((socket, None));
            } else {
                waiting.push((socket, Some((rx, id))));
            }
        }
        let sent = waiting.iter().filter(|(_, w)| w.is_some()).count();
        self.ns.inner.metrics.events_sent(sent);
        Ok(waiting)
    }

    /// Emits with one ack id to every targeted socket (of this server) and
    /// collects each answer (or its error) within the timeout (default: the
    /// namespace's); [`BroadcastOperator::emit_with_ack_everywhere`] reaches
    /// every server's.
    pub async fn emit_with_ack(
        &self,
        event: &str,
        args: Vec<Value>,
    ) -> Result<Vec<(Socket, Result<Vec<Value>, AckError>)>, EmitError> {
        let timeout = self.timeout.unwrap_or(self.ns.ack_timeout());
        let waiting = self.send_with_ack(event, &args)?;
        let deadline = tokio::time::Instant::now() + timeout;
        let mut out = Vec::with_capacity(waiting.len());
        for (socket, rx) in waiting {
            let result = match rx {
                None => Err(AckError::EmitFailed),
                Some((rx, id)) => match tokio::time::timeout_at(deadline, rx).await {
                    Ok(Ok(r)) => r,
                    Ok(Err(_)) => Err(AckError::Disconnected),
                    Err(_) => {
                        socket.forget_ack(id);
                        Err(AckError::Timeout)
                    }
                },
            };
            out.push((socket, result));
        }
        Ok(out)
    }

    /// [`BroadcastOperator::emit_with_ack`] with typed arguments (a
    /// tuple; see [`Socket::emit_serialized`]). Read an answer typed with
    /// [`Value::into_typed`] (one argument) or
    /// [`AckRequest::typed`](super::AckRequest::typed)'s rule.
    pub async fn emit_serialized_with_ack<T: Serialize + ?Sized>(
        &self,
        event: &str,
        args: &T,
    ) -> Result<Vec<(Socket, Result<Vec<Value>, AckError>)>, EmitError> {
        let args = crate::packet::args_from_serialize(args)?;
        self.emit_with_ack(event, args).await
    }

    /// [`BroadcastOperator::emit_with_ack_everywhere`] with typed
    /// arguments (a tuple; see [`Socket::emit_serialized`]).
    pub async fn emit_serialized_with_ack_everywhere<T: Serialize + ?Sized>(
        &self,
        event: &str,
        args: &T,
    ) -> Result<ClusterAcks, EmitError> {
        let args = crate::packet::args_from_serialize(args)?;
        self.emit_with_ack_everywhere(event, args).await
    }

    /// Emits with acknowledgements to the targeted sockets of every server
    /// (socket.io's `io.timeout(ms).emit(event, ...args, callback)` with a
    /// multi-server adapter) and collects each client's answer (the first
    /// argument of its acknowledgement) within the timeout (default: the
    /// namespace's ack timeout). `complete` says whether every server
    /// reported and every targeted client answered in time.
    pub async fn emit_with_ack_everywhere(
        &self,
        event: &str,
        args: Vec<Value>,
    ) -> Result<ClusterAcks, EmitError> {
        let timeout = self.timeout.unwrap_or(self.ns.ack_timeout());
        let deadline = tokio::time::Instant::now() + timeout;
        let (servers, mut remote) = if self.clustered() {
            let adapter = self.ns.adapter();
            let count = adapter.server_count();
            let remote = adapter.broadcast_with_ack(&self.opts, event, &args, timeout);
            let servers = tokio::time::timeout_at(deadline, count).await.unwrap_or(1);
            (servers, Some(remote))
        } else {
            (1, None)
        };
        let local = self.emit_with_ack(event, args);
        let remote = async {
            let mut answers = Vec::new();
            let Some(rx) = remote.as_mut() else {
                return (answers, true);
            };
            let (mut reported, mut expected) = (0usize, 0usize);
            while reported + 1 < servers || answers.len() < expected {
                match tokio::time::timeout_at(deadline, rx.recv()).await {
                    Ok(Some(RemoteAck::ClientCount(n))) => {
                        reported += 1;
                        expected += n;
                    }
                    Ok(Some(RemoteAck::Ack(v))) => answers.push(v),
                    Ok(None) | Err(_) => return (answers, false),
                }
            }
            (answers, true)
        };
        let (local, (remote, remote_complete)) = tokio::join!(local, remote);
        let mut acks = ClusterAcks {
            responses: Vec::new(),
            complete: remote_complete,
        };
        for (_, result) in local? {
            match result {
                Ok(args) => acks
                    .responses
                    .push(args.into_iter().next().unwrap_or_default()),
                Err(_) => acks.complete = false,
            }
        }
        acks.responses.extend(remote);
        Ok(acks)
    }

    /// Makes the targeted sockets (of every server) join rooms.
    pub fn sockets_join<R: Into<Room> + Clone>(&self, rooms: impl IntoIterator<Item = R>) {
        let rooms: Vec<Room> = rooms.into_iter().map(Into::into).collect();
        for s in self.sockets() {
            s.join(rooms.iter().cloned());
        }
        if self.clustered() {
            self.publish(ClusterOp::Join {
                opts: self.opts.clone(),
                rooms,
            });
        }
    }

    /// Makes the targeted sockets (of every server) leave a room.
    pub fn sockets_leave(&self, room: &str) {
        for s in self.sockets() {
            s.leave(room);
        }
        if self.clustered() {
            self.publish(ClusterOp::Leave {
                opts: self.opts.clone(),
                rooms: vec![room.into()],
            });
        }
    }

    /// Disconnects the targeted sockets (of every server).
    pub fn disconnect_sockets(&self) {
        self.disconnect_sockets_with(false);
    }

    /// Disconnects the targeted sockets (of every server); with `close`,
    /// also closes their underlying connections, once the DISCONNECT
    /// packet is sent (socket.io's `disconnectSockets(true)`; the client's
    /// other namespaces see the transport close). Over long-polling the
    /// DISCONNECT and close packets travel in one poll response, which
    /// socket.io-client reports as "transport close" then "io server
    /// disconnect" (socket.io sends them in two).
    pub fn disconnect_sockets_with(&self, close: bool) {
        for s in self.sockets() {
            s.disconnect();
            if close {
                s.engine().close();
            }
        }
        if self.clustered() {
            self.publish(ClusterOp::Disconnect {
                opts: self.opts.clone(),
                close,
            });
        }
    }

    /// The targeted sockets of every server (this server's first).
    pub async fn fetch_sockets(&self) -> Vec<SocketInfo> {
        let mut out = self.ns.local_socket_infos(&self.opts);
        if self.clustered() {
            out.extend(self.ns.adapter().fetch_remote_sockets(&self.opts).await);
        }
        out
    }

    /// The targeted sockets of every server (this server's first), or an
    /// error when not every other server answered within the adapter's
    /// request timeout, or the adapter could not ask them, as socket.io's
    /// `fetchSockets()` rejects; [`BroadcastOperator::fetch_sockets`]
    /// returns the answers received instead.
    pub async fn try_fetch_sockets(&self) -> Result<Vec<SocketInfo>, FetchError> {
        let mut out = self.ns.local_socket_infos(&self.opts);
        if self.clustered() {
            out.extend(
                self.ns
                    .adapter()
                    .try_fetch_remote_sockets(&self.opts)
                    .await?,
            );
        }
        Ok(out)
    }
}
