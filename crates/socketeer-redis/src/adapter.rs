//! [`RedisAdapter`]: the server's [`Adapter`] over Redis pub/sub, speaking
//! what `@socket.io/redis-adapter` 8.x (`createAdapter`, the classic
//! adapter) speaks, so socketeer and Node servers form one cluster.
//!
//! One server (one [`adapter_factory`]) has one uid, one subscriber
//! connection and one publisher connection, shared by its namespaces. Each
//! namespace pattern-subscribes to `{key}#{nsp}#*` (broadcasts) and
//! subscribes to `{key}-request#{nsp}#`, `{key}-response#{nsp}#` and
//! `{key}-response#{nsp}#{uid}#`. Room membership stays in memory.
//!
//! Publishing never blocks or fails a local operation: messages go through
//! a bounded queue to a task that publishes them in order (a full queue
//! drops the message, with a warning). Both connections are redis-rs
//! `ConnectionManager`s: they reconnect with backoff, and the subscriber
//! (RESP3) subscribes again by itself; a heartbeat `PING` on the
//! subscriber makes it retry while Redis stays away. A malformed or
//! foreign message is logged and dropped.
//!
//! Broadcasts with acknowledgements go as Node sends them: a `BROADCAST`
//! request (msgpack), answered by each server's client count (type 8) and
//! each client's acknowledgement (type 9).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{AsyncCommands, ProtocolVersion, PushInfo, PushKind};
use socketeer::server::{
    Adapter, AdapterFactory, BroadcastOptions as ServerOptions, ClusterOp, InMemoryAdapter,
    NamespaceHandle, RemoteAck, RemoteAcks, RemoteSockets, Room, ServerCount, ServerSideAck,
    ServerSideAcks, ServerSideAcksFuture, SocketId, SocketInfo,
};
use tokio::sync::mpsc;

use crate::common::{
    bytes_of, lock, random_hex, server_options, timed, unreachable, wire_options, AdapterError,
    WaitGuard,
};
use crate::convert::{from_wire, to_wire};
use crate::wire::{
    BroadcastMessage, Channels, FetchedSocket, Flags, Packet, PacketType, Request, Response, Value,
};

/// The adapter's options, as `createAdapter`'s.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisAdapterOptions {
    /// The channel prefix (`key`, default `socket.io`).
    pub key: String,
    /// How long a request to the other servers waits for their answers
    /// (`requestsTimeout`, default 5 s); then it ends with the answers
    /// received so far.
    pub request_timeout: Duration,
    /// Answer other servers' requests on `{key}-response#{nsp}#{uid}#`
    /// instead of `{key}-response#{nsp}#`
    /// (`publishOnSpecificResponseChannel`, default `false`).
    pub publish_on_specific_response_channel: bool,
    /// How many messages may wait to be published (default 65,536); past
    /// that, new ones are dropped with a warning (Redis is down or slow).
    pub publish_queue: usize,
}

impl Default for RedisAdapterOptions {
    fn default() -> Self {
        RedisAdapterOptions {
            key: "socket.io".into(),
            request_timeout: Duration::from_secs(5),
            publish_on_specific_response_channel: false,
            publish_queue: 65_536,
        }
    }
}

/// Redis is away).
const HEARTBEAT: Duration = Duration::from_secs(1);

/// Connects to Redis (a `PING` on each connection, or a clear error) and
/// returns the factory of [`RedisAdapter`]s for
/// [`SocketIoConfig::adapter`](socketeer::server::SocketIoConfig::adapter).
/// Must run inside a Tokio runtime, which the adapter's tasks then use.
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use socketeer::server::{SocketIo, SocketIoConfig};
/// use socketeer_redis::{adapter_factory, RedisAdapterOptions};
///
/// let client = redis::Client::open("redis://127.0.0.1:6379")?;
/// let adapter = adapter_factory(client, RedisAdapterOptions::default()).await?;
/// let io = SocketIo::new(SocketIoConfig { adapter, ..Default::default() });
/// # Ok(()) }
/// ```
pub async fn adapter_factory(
    client: redis::Client,
    options: RedisAdapterOptions,
) -> Result<AdapterFactory, AdapterError> {
    let shared = Shared::connect(client, options).await?;
    Ok(AdapterFactory::new(move |handle| {
        Box::new(RedisAdapter::new(&shared, handle))
    }))
}

/// Sends `(channel, message)` to the publishing task.
type Outbox = mpsc::Sender<(String, Vec<u8>)>;
/// Where the answers to one of our requests go.
type Waiter = mpsc::UnboundedSender<Response>;

/// What the namespaces of one server share.
struct Shared {
    uid: String,
    /// Itself, for acknowledgements that answer later.
    weak: Weak<Shared>,
    /// The runtime [`adapter_factory`] ran in: namespaces may be made
    /// outside of it.
    runtime: tokio::runtime::Handle,
    options: RedisAdapterOptions,
    /// For commands that answer (`PUBSUB NUMSUB`).
    commands: ConnectionManager,
    subscriber: ConnectionManager,
    outbox: Outbox,
    namespaces: Mutex<HashMap<String, Arc<NsState>>>,
    waiting: Mutex<HashMap<String, Waiter>>,
}

/// One namespace: its channels, its rooms, its way into the server.
struct NsState {
    channels: Channels,
    /// `{key}-request#{nsp}#`.
    request_channel: String,
    /// `{key}-response#{nsp}#` and `{key}-response#{nsp}#{uid}#`.
    response_channels: [String; 2],
    rooms: InMemoryAdapter,
    handle: NamespaceHandle,
}

impl Shared {
    async fn connect(
        client: redis::Client,
        options: RedisAdapterOptions,
    ) -> Result<Arc<Shared>, AdapterError> {
        let addr = client.get_connection_info().addr().to_string();
        let config = || {
            ConnectionManagerConfig::new()
                .set_number_of_retries(3)
                .set_min_delay(Duration::from_millis(100))
                .set_max_delay(Duration::from_secs(1))
                .set_connection_timeout(Some(Duration::from_secs(2)))
                .set_response_timeout(Some(Duration::from_secs(5)))
        };
        // The subscriber needs RESP3: messages come as pushes, and the
        // manager subscribes again after reconnecting.
        let info = client.get_connection_info().clone();
        let settings = info
            .redis_settings()
            .clone()
            .set_protocol(ProtocolVersion::RESP3);
        let resp3 = redis::Client::open(info.set_redis_settings(settings))
            .map_err(|source| unreachable(&addr, source))?;
        let (push_tx, push_rx) = mpsc::unbounded_channel::<PushInfo>();
        let commands = timed(&addr, client.get_connection_manager_with_config(config())).await?;
        let subscriber = timed(
            &addr,
            resp3.get_connection_manager_with_config(
                config()
                    .set_push_sender(push_tx)
                    .set_automatic_resubscription(),
            ),
        )
        .await?;
        for conn in [&commands, &subscriber] {
            let mut conn = conn.clone();
            timed(
                &addr,
                redis::cmd("PING").query_async::<redis::Value>(&mut conn),
            )
            .await?;
        }

        let (outbox, outbox_rx) = mpsc::channel(options.publish_queue.max(1));
        tokio::spawn(publish_task(commands.clone(), outbox_rx));
        let shared = Arc::new_cyclic(|weak| Shared {
            weak: weak.clone(),
            uid: random_hex(8),
            runtime: tokio::runtime::Handle::current(),
            options,
            commands,
            subscriber,
            outbox,
            namespaces: Mutex::new(HashMap::new()),
            waiting: Mutex::new(HashMap::new()),
        });
        tokio::spawn(dispatch_task(Arc::downgrade(&shared), push_rx));
        tokio::spawn(heartbeat_task(Arc::downgrade(&shared)));
        Ok(shared)
    }

    /// Queues a message for publication; never waits.
    fn publish(&self, channel: String, message: Vec<u8>) {
        match self.outbox.try_send((channel, message)) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full((channel, _))) => {
                tracing::warn!(%channel, "redis adapter: publish queue full, message dropped");
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {}
        }
    }

    /// How many servers subscribe to a namespace's request channel (this
    /// one included); `None` if Redis does not answer by `deadline`.
    async fn server_count(&self, ns: &NsState, deadline: tokio::time::Instant) -> Option<usize> {
        let mut conn = self.commands.clone();
        let reply = tokio::time::timeout_at(
            deadline,
            redis::cmd("PUBSUB")
                .arg("NUMSUB")
                .arg(ns.channels.request())
                .query_async::<redis::Value>(&mut conn),
        )
        .await;
        let reply = match reply {
            Ok(Ok(v)) => v,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "redis adapter: PUBSUB NUMSUB failed");
                return None;
            }
            Err(_) => {
                tracing::warn!("redis adapter: PUBSUB NUMSUB timed out");
                return None;
            }
        };
        // RESP2: [channel, count]; RESP3: {channel: count}.
        let count = match reply {
            redis::Value::Array(a) => a.get(1).cloned(),
            redis::Value::Map(m) => m.into_iter().next().map(|(_, v)| v),
            _ => None,
        };
        match count {
            Some(redis::Value::Int(n)) => usize::try_from(n).ok(),
            _ => None,
        }
    }

    /// Routes one message to the namespace whose channel it came on.
    fn on_message(&self, channel: &str, payload: &[u8]) {
        let namespaces: Vec<Arc<NsState>> = lock(&self.namespaces).values().cloned().collect();
        for ns in namespaces {
            if let Some(room) = ns.channels.broadcast_room(channel) {
                return self.on_broadcast(&ns, room, payload);
            }
            if channel == ns.request_channel {
                return self.on_request(&ns, payload);
            }
            if ns.response_channels.iter().any(|c| c == channel) {
                return self.on_response(payload);
            }
        }
        tracing::debug!(%channel, "redis adapter: message on no namespace's channel");
    }

    fn on_broadcast(&self, ns: &NsState, room: Option<&str>, payload: &[u8]) {
        let msg = match BroadcastMessage::decode(payload) {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(error = %e, nsp = ns.channels.nsp(), "redis adapter: malformed broadcast dropped");
                return;
            }
        };
        if msg.uid == self.uid {
            return;
        }
        if msg.packet.nsp() != ns.channels.nsp() {
            tracing::debug!(
                nsp = msg.packet.nsp(),
                "redis adapter: broadcast for another namespace ignored"
            );
            return;
        }
        if let Some(room) = room {
            // Nobody here is in the room: nothing to do (as Node checks).
            let only: ServerOptions = ServerOptions {
                rooms: vec![room.into()],
                ..Default::default()
            };
            if ns.rooms.targets(&only).is_empty() {
                return;
            }
        }
        if !matches!(
            msg.packet.packet_type,
            PacketType::Event | PacketType::BinaryEvent
        ) {
            tracing::warn!(packet_type = ?msg.packet.packet_type, "redis adapter: broadcast of a non-event packet dropped");
            return;
        }
        let Some(event) = msg.packet.event_name() else {
            tracing::warn!("redis adapter: broadcast without an event name dropped");
            return;
        };
        let volatile = msg
            .opts
            .flags
            .as_ref()
            .and_then(|f| f.volatile)
            .unwrap_or(false);
        ns.handle.apply(ClusterOp::Emit {
            opts: server_options(&msg.opts, volatile),
            event: event.to_owned(),
            args: msg.packet.args().iter().map(from_wire).collect(),
        });
    }

    fn on_request(&self, ns: &NsState, payload: &[u8]) {
        let request = match Request::decode(payload) {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = %e, nsp = ns.channels.nsp(), "redis adapter: malformed request dropped");
                return;
            }
        };
        if request.uid() == Some(self.uid.as_str()) {
            return;
        }
        let requester = request.uid().map(str::to_owned);
        match request {
            Request::Sockets {
                request_id, rooms, ..
            } => {
                let opts = ServerOptions {
                    rooms: rooms.iter().map(|r| Room::from(r.as_str())).collect(),
                    ..Default::default()
                };
                let sockets = ns
                    .rooms
                    .targets(&opts)
                    .iter()
                    .map(|s| s.to_string())
                    .collect();
                self.respond(
                    ns,
                    requester,
                    Response::Sockets {
                        request_id,
                        sockets,
                    },
                );
            }
            Request::AllRooms { request_id, .. } => {
                let rooms = ns.rooms.rooms().iter().map(|r| r.to_string()).collect();
                self.respond(ns, requester, Response::AllRooms { request_id, rooms });
            }
            Request::RemoteJoin { opts, rooms, .. } => ns.handle.apply(ClusterOp::Join {
                opts: server_options(&opts, false),
                rooms: rooms.iter().map(|r| Room::from(r.as_str())).collect(),
            }),
            Request::RemoteLeave { opts, rooms, .. } => ns.handle.apply(ClusterOp::Leave {
                opts: server_options(&opts, false),
                rooms: rooms.iter().map(|r| Room::from(r.as_str())).collect(),
            }),
            Request::RemoteDisconnect { opts, close, .. } => {
                ns.handle.apply(ClusterOp::Disconnect {
                    opts: server_options(&opts, false),
                    close,
                })
            }
            Request::RemoteSocket {
                request_id,
                request_type,
                sid,
                room,
                close,
                ..
            } => {
                let sid: SocketId = sid.as_str().into();
                if ns.rooms.socket_rooms(&sid).is_empty() {
                    return; // not one of ours
                }
                let opts = ServerOptions {
                    rooms: vec![sid],
                    local: true,
                    ..Default::default()
                };
                let rooms: Vec<Room> = room.iter().map(|r| Room::from(r.as_str())).collect();
                use crate::wire::RequestType as T;
                let op = match request_type {
                    T::RemoteJoin => ClusterOp::Join { opts, rooms },
                    T::RemoteLeave => ClusterOp::Leave { opts, rooms },
                    _ => ClusterOp::Disconnect {
                        opts,
                        close: close.unwrap_or(false),
                    },
                };
                ns.handle.apply(op);
                if let Some(request_id) = request_id {
                    self.respond(ns, requester, Response::Done { request_id });
                }
            }
            Request::RemoteFetch {
                request_id, opts, ..
            } => {
                let sockets = ns
                    .handle
                    .local_sockets(&server_options(&opts, false))
                    .into_iter()
                    .map(|s| FetchedSocket {
                        id: s.id.to_string(),
                        handshake: s.handshake.as_ref().map(to_wire).unwrap_or(Value::Null),
                        rooms: s.rooms.iter().map(|r| r.to_string()).collect(),
                        data: None,
                    })
                    .collect();
                self.respond(
                    ns,
                    requester,
                    Response::FetchSockets {
                        request_id,
                        sockets,
                    },
                );
            }
            Request::ServerSideEmit {
                request_id, data, ..
            } => {
                let mut data = data.iter();
                let Some(event) = data.next().and_then(Value::as_str) else {
                    tracing::warn!("redis adapter: server-side emit without an event name dropped");
                    return;
                };
                let event = event.to_owned();
                let args = data.map(from_wire).collect();
                let Some(request_id) = request_id else {
                    ns.handle.apply(ClusterOp::ServerSideEmit { event, args });
                    return;
                };
                // The answer goes back as `{type: 6, requestId, data}`.
                let shared = self.weak.clone();
                let channels = ns.channels.clone();
                let ack = ServerSideAck::new(move |answer| {
                    if let Some(shared) = shared.upgrade() {
                        let response = Response::ServerSideEmit {
                            request_id,
                            data: Some(to_wire(&answer)),
                        };
                        let channel = match requester {
                            Some(uid) if shared.options.publish_on_specific_response_channel => {
                                channels.response_for(&uid)
                            }
                            _ => channels.response(),
                        };
                        shared.publish(channel, response.encode());
                    }
                });
                ns.handle.server_side_emit_with_ack(event, args, ack);
            }
            Request::Broadcast {
                request_id,
                packet,
                opts,
                ..
            } => {
                let Some(event) = packet.event_name() else {
                    tracing::warn!("redis adapter: broadcast with acknowledgements without an event name dropped");
                    return;
                };
                let timeout = opts
                    .flags
                    .as_ref()
                    .and_then(|f| f.timeout)
                    .map(Duration::from_millis)
                    .unwrap_or(self.options.request_timeout);
                let channel = self.response_channel(ns, requester.as_deref());
                let (weak, id, to) = (self.weak.clone(), request_id.clone(), channel.clone());
                let on_count = Box::new(move |n: usize| {
                    if let Some(shared) = weak.upgrade() {
                        let response = Response::BroadcastClientCount {
                            request_id: id,
                            client_count: n as u64,
                        };
                        shared.publish(to, response.encode());
                    }
                });
                let weak = self.weak.clone();
                let on_ack = Arc::new(move |answer: socketeer::Value| {
                    if let Some(shared) = weak.upgrade() {
                        let response = Response::BroadcastAck {
                            request_id: request_id.clone(),
                            packet: Some(to_wire(&answer)),
                        };
                        shared.publish(channel.clone(), response.encode());
                    }
                });
                ns.handle.broadcast_with_ack(
                    server_options(&opts, false),
                    event.to_owned(),
                    packet.args().iter().map(from_wire).collect(),
                    timeout,
                    on_count,
                    on_ack,
                );
            }
        }
    }

    /// Where the answers to `requester`'s request go.
    fn response_channel(&self, ns: &NsState, requester: Option<&str>) -> String {
        match requester {
            Some(uid) if self.options.publish_on_specific_response_channel => {
                ns.channels.response_for(uid)
            }
            _ => ns.channels.response(),
        }
    }

    fn respond(&self, ns: &NsState, requester: Option<String>, response: Response) {
        let channel = self.response_channel(ns, requester.as_deref());
        self.publish(channel, response.encode());
    }

    fn on_response(&self, payload: &[u8]) {
        let response = match Response::decode(payload) {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = %e, "redis adapter: malformed response dropped");
                return;
            }
        };
        // Answers to other servers' requests are not ours: ignored.
        if let Some(waiter) = lock(&self.waiting).get(response.request_id()) {
            let _ = waiter.send(response);
        }
    }
}

/// Publishes queued messages in order; a failure is logged and the
/// message dropped (the connection manager reconnects meanwhile).
async fn publish_task(mut conn: ConnectionManager, mut rx: mpsc::Receiver<(String, Vec<u8>)>) {
    let mut failing = false;
    while let Some((channel, message)) = rx.recv().await {
        let sent = tokio::time::timeout(
            Duration::from_secs(5),
            conn.publish::<_, _, i64>(&channel, message),
        )
        .await;
        match sent {
            Ok(Ok(_)) if failing => {
                tracing::info!("redis adapter: publishing again");
                failing = false;
            }
            Ok(Err(e)) if !failing => {
                tracing::warn!(error = %e, %channel, "redis adapter: publish failed, message dropped");
                failing = true;
            }
            Err(_) if !failing => {
                tracing::warn!(%channel, "redis adapter: publish timed out, message dropped");
                failing = true;
            }
            _ => {}
        }
    }
}

/// Hands each pub/sub message to the namespaces.
async fn dispatch_task(shared: Weak<Shared>, mut rx: mpsc::UnboundedReceiver<PushInfo>) {
    while let Some(push) = rx.recv().await {
        let Some(shared) = shared.upgrade() else {
            return;
        };
        let (channel, payload) = match (push.kind, push.data.as_slice()) {
            (PushKind::Message, [channel, payload])
            | (PushKind::PMessage, [_, channel, payload]) => (channel, payload),
            (PushKind::Disconnection, _) => {
                tracing::warn!("redis adapter: subscriber connection lost, reconnecting");
                continue;
            }
            _ => continue,
        };
        let (Some(channel), Some(payload)) = (bytes_of(channel), bytes_of(payload)) else {
            tracing::warn!("redis adapter: pub/sub message of an unexpected form dropped");
            continue;
        };
        let Ok(channel) = std::str::from_utf8(channel) else {
            continue;
        };
        shared.on_message(channel, payload);
    }
}

/// Pings on the subscriber connection, so that a connection lost for longer
/// than the manager's retries is tried again.
async fn heartbeat_task(shared: Weak<Shared>) {
    let mut tick = tokio::time::interval(HEARTBEAT);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(mut conn) = shared.upgrade().map(|s| s.subscriber.clone()) else {
            return;
        };
        let _ = tokio::time::timeout(
            Duration::from_secs(5),
            redis::cmd("PING").query_async::<redis::Value>(&mut conn),
        )
        .await;
    }
}

/// Subscribes a namespace's channels, retrying until it works.
async fn subscribe_task(shared: Weak<Shared>, channels: Channels, uid: String) {
    let mut delay = Duration::from_millis(100);
    loop {
        let Some(mut conn) = shared.upgrade().map(|s| s.subscriber.clone()) else {
            return;
        };
        let done = async {
            conn.psubscribe(channels.pattern()).await?;
            conn.subscribe(&[
                channels.request(),
                channels.response(),
                channels.response_for(&uid),
            ])
            .await
        };
        match done.await {
            Ok(()) => return,
            Err(e) => {
                tracing::warn!(error = %e, nsp = channels.nsp(), "redis adapter: subscribe failed, retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(2));
            }
        }
    }
}

impl Drop for RedisAdapter {
    /// Forgets the namespace and unsubscribes its channels.
    fn drop(&mut self) {
        let mut namespaces = lock(&self.shared.namespaces);
        let nsp = self.ns.channels.nsp();
        if !namespaces
            .get(nsp)
            .is_some_and(|ns| Arc::ptr_eq(ns, &self.ns))
        {
            return; // replaced by a newer namespace of the same name
        }
        namespaces.remove(nsp);
        drop(namespaces);
        let mut conn = self.shared.subscriber.clone();
        let channels = self.ns.channels.clone();
        let uid = self.shared.uid.clone();
        self.shared.runtime.spawn(async move {
            let _ = conn.punsubscribe(channels.pattern()).await;
            let _ = conn
                .unsubscribe(&[
                    channels.request(),
                    channels.response(),
                    channels.response_for(&uid),
                ])
                .await;
        });
    }
}

/// The classic Redis adapter of one namespace; made by [`adapter_factory`].
pub struct RedisAdapter {
    shared: Arc<Shared>,
    ns: Arc<NsState>,
}

impl std::fmt::Debug for RedisAdapter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisAdapter")
            .field("uid", &self.shared.uid)
            .field("nsp", &self.ns.channels.nsp())
            .finish_non_exhaustive()
    }
}

impl RedisAdapter {
    fn new(shared: &Arc<Shared>, handle: NamespaceHandle) -> Self {
        let channels = Channels::new(shared.options.key.clone(), handle.name());
        let ns = Arc::new(NsState {
            request_channel: channels.request(),
            response_channels: [channels.response(), channels.response_for(&shared.uid)],
            channels: channels.clone(),
            rooms: InMemoryAdapter::new(),
            handle,
        });
        lock(&shared.namespaces).insert(channels.nsp().to_owned(), ns.clone());
        shared.runtime.spawn(subscribe_task(
            Arc::downgrade(shared),
            channels,
            shared.uid.clone(),
        ));
        RedisAdapter {
            shared: shared.clone(),
            ns,
        }
    }

    /// This server's uid in the cluster (random, 16 hex digits).
    pub fn uid(&self) -> &str {
        &self.shared.uid
    }

    fn request(&self, request: Request) {
        self.shared
            .publish(self.ns.channels.request(), request.encode());
    }
}

impl Adapter for RedisAdapter {
    fn add_all(&self, id: &SocketId, rooms: &[Room]) {
        self.ns.rooms.add_all(id, rooms)
    }

    fn del(&self, id: &SocketId, room: &str) {
        self.ns.rooms.del(id, room)
    }

    fn del_all(&self, id: &SocketId) {
        self.ns.rooms.del_all(id)
    }

    fn for_each_target(&self, opts: &ServerOptions, each: &mut dyn FnMut(&SocketId)) {
        self.ns.rooms.for_each_target(opts, each)
    }

    fn socket_rooms(&self, id: &SocketId) -> Vec<Room> {
        self.ns.rooms.socket_rooms(id)
    }

    fn rooms(&self) -> Vec<Room> {
        self.ns.rooms.rooms()
    }

    fn is_clustered(&self) -> bool {
        true
    }

    fn publish(&self, op: ClusterOp) {
        let uid = Some(self.shared.uid.clone());
        match op {
            ClusterOp::Emit { opts, event, args } => {
                let flags = Flags {
                    volatile: opts.volatile.then_some(true),
                    ..Flags::default()
                };
                let msg = BroadcastMessage {
                    uid: self.shared.uid.clone(),
                    packet: Packet::event(
                        self.ns.channels.nsp(),
                        event,
                        args.iter().map(to_wire).collect(),
                    ),
                    opts: wire_options(&opts, Some(flags)),
                };
                let channel = self.ns.channels.for_rooms(&msg.opts.rooms);
                self.shared.publish(channel, msg.encode());
            }
            ClusterOp::Join { opts, rooms } => self.request(Request::RemoteJoin {
                uid,
                opts: wire_options(&opts, None),
                rooms: rooms.iter().map(|r| r.to_string()).collect(),
            }),
            ClusterOp::Leave { opts, rooms } => self.request(Request::RemoteLeave {
                uid,
                opts: wire_options(&opts, None),
                rooms: rooms.iter().map(|r| r.to_string()).collect(),
            }),
            ClusterOp::Disconnect { opts, close } => self.request(Request::RemoteDisconnect {
                uid,
                opts: wire_options(&opts, None),
                close,
            }),
            ClusterOp::ServerSideEmit { event, args } => {
                let mut data = Vec::with_capacity(args.len() + 1);
                data.push(Value::String(event));
                data.extend(args.iter().map(to_wire));
                self.request(Request::ServerSideEmit {
                    uid,
                    request_id: None,
                    data,
                });
            }
        }
    }

    fn server_count(&self) -> ServerCount {
        let shared = self.shared.clone();
        let ns = self.ns.clone();
        Box::pin(async move {
            let deadline = tokio::time::Instant::now() + shared.options.request_timeout;
            shared.server_count(&ns, deadline).await.unwrap_or(1)
        })
    }

    fn broadcast_with_ack(
        &self,
        opts: &ServerOptions,
        event: &str,
        args: &[socketeer::Value],
        timeout: Duration,
    ) -> RemoteAcks {
        let (out, answers) = mpsc::unbounded_channel();
        let request_id = random_hex(6);
        let (tx, mut rx) = mpsc::unbounded_channel();
        lock(&self.shared.waiting).insert(request_id.clone(), tx);
        let flags = Flags {
            timeout: Some(timeout.as_millis().try_into().unwrap_or(u64::MAX)),
            ..Flags::default()
        };
        let request = Request::Broadcast {
            uid: self.shared.uid.clone(),
            request_id: request_id.clone(),
            packet: Packet::event(
                self.ns.channels.nsp(),
                event,
                args.iter().map(to_wire).collect(),
            ),
            opts: wire_options(opts, Some(flags)),
        };
        self.shared
            .publish(self.ns.channels.request(), request.encode());
        let shared = self.shared.clone();
        self.shared.runtime.spawn(async move {
            let _guard = WaitGuard {
                waiting: &shared.waiting,
                id: request_id,
            };
            let deadline = tokio::time::Instant::now() + timeout;
            while let Ok(Some(response)) = tokio::time::timeout_at(deadline, rx.recv()).await {
                let answer = match response {
                    Response::BroadcastClientCount { client_count, .. } => {
                        RemoteAck::ClientCount(usize::try_from(client_count).unwrap_or(usize::MAX))
                    }
                    Response::BroadcastAck { packet, .. } => {
                        RemoteAck::Ack(packet.as_ref().map(from_wire).unwrap_or_default())
                    }
                    _ => continue,
                };
                if out.send(answer).is_err() {
                    return;
                }
            }
        });
        answers
    }

    fn server_side_emit_with_ack(
        &self,
        event: String,
        args: Vec<socketeer::Value>,
    ) -> ServerSideAcksFuture {
        let shared = self.shared.clone();
        let ns = self.ns.clone();
        let mut data = Vec::with_capacity(args.len() + 1);
        data.push(Value::String(event));
        data.extend(args.iter().map(to_wire));
        Box::pin(async move {
            let deadline = tokio::time::Instant::now() + shared.options.request_timeout;
            let Some(count) = shared.server_count(&ns, deadline).await else {
                return ServerSideAcks::default();
            };
            let mut answers = ServerSideAcks {
                responses: Vec::new(),
                complete: true,
            };
            if count <= 1 {
                return answers;
            }
            let request_id = random_hex(6);
            let (tx, mut rx) = mpsc::unbounded_channel();
            lock(&shared.waiting).insert(request_id.clone(), tx);
            let _guard = WaitGuard {
                waiting: &shared.waiting,
                id: request_id.clone(),
            };
            let request = Request::ServerSideEmit {
                uid: Some(shared.uid.clone()),
                request_id: Some(request_id),
                data,
            };
            shared.publish(ns.channels.request(), request.encode());
            while answers.responses.len() < count - 1 {
                match tokio::time::timeout_at(deadline, rx.recv()).await {
                    Ok(Some(Response::ServerSideEmit { data, .. })) => answers
                        .responses
                        .push(data.as_ref().map(from_wire).unwrap_or_default()),
                    Ok(Some(other)) => {
                        tracing::debug!(
                            ?other,
                            "redis adapter: unexpected answer to serverSideEmit ignored"
                        );
                    }
                    Ok(None) | Err(_) => {
                        tracing::warn!(
                            answered = answers.responses.len(),
                            expected = count - 1,
                            "redis adapter: serverSideEmit timed out; returning the answers received"
                        );
                        answers.complete = false;
                        break;
                    }
                }
            }
            answers
        })
    }

    fn fetch_remote_sockets(&self, opts: &ServerOptions) -> RemoteSockets {
        let shared = self.shared.clone();
        let ns = self.ns.clone();
        let opts = wire_options(opts, None);
        Box::pin(async move {
            let deadline = tokio::time::Instant::now() + shared.options.request_timeout;
            let Some(count) = shared.server_count(&ns, deadline).await else {
                return Vec::new();
            };
            if count <= 1 {
                return Vec::new();
            }
            let request_id = random_hex(6);
            let (tx, mut rx) = mpsc::unbounded_channel();
            lock(&shared.waiting).insert(request_id.clone(), tx);
            let _guard = WaitGuard {
                waiting: &shared.waiting,
                id: request_id.clone(),
            };
            let request = Request::RemoteFetch {
                uid: Some(shared.uid.clone()),
                request_id,
                opts,
            };
            shared.publish(ns.channels.request(), request.encode());
            let mut found = Vec::new();
            let mut answered = 1; // this server
            while answered < count {
                match tokio::time::timeout_at(deadline, rx.recv()).await {
                    Ok(Some(Response::FetchSockets { sockets, .. })) => {
                        answered += 1;
                        found.extend(sockets.into_iter().map(|s| SocketInfo {
                            id: s.id.as_str().into(),
                            rooms: s.rooms.iter().map(|r| Room::from(r.as_str())).collect(),
                            local: false,
                            handshake: (!s.handshake.is_null()).then(|| from_wire(&s.handshake)),
                        }));
                    }
                    Ok(Some(other)) => {
                        tracing::debug!(
                            ?other,
                            "redis adapter: unexpected answer to fetchSockets ignored"
                        );
                    }
                    Ok(None) | Err(_) => {
                        tracing::warn!(
                            answered,
                            expected = count,
                            "redis adapter: fetchSockets timed out; returning the answers received"
                        );
                        break;
                    }
                }
            }
            found
        })
    }
}
