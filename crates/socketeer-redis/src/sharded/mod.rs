//! The sharded adapter ([`ShardedAdapter`]): Redis 7 sharded pub/sub on a
//! Redis Cluster or a standalone Redis, as `@socket.io/redis-adapter` 8.x
//! `createShardedAdapter`.

mod connection;
mod incoming;
mod requests;
mod shared;
mod subscriptions;
#[cfg(test)]
mod tests;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use redis::cluster::ClusterClient;
use socketeer::server::{
    Adapter, AdapterFactory, BroadcastOptions as ServerOptions, ClusterOp, InMemoryAdapter,
    NamespaceHandle, Room, SocketId,
};

use crate::common::{lock, wire_options, AdapterError};
use crate::convert::to_wire;
use crate::wire::{ClusterBody, ClusterMessage, Flags, Packet, ShardedChannels, Value};
use shared::{DynamicRooms, NsState, Shared};

/// Which channels a namespace uses (`subscriptionMode`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SubscriptionMode {
    /// `"static"`: two channels per namespace, every broadcast on the
    /// namespace's channel.
    Static,
    /// `"dynamic"` (the default): also one channel per room that is not
    /// a socket's own room, subscribed by the servers that have sockets
    /// in it.
    #[default]
    Dynamic,
    /// `"dynamic-private"`: one channel per room, socket rooms included.
    DynamicPrivate,
}

/// The adapter's options, as `createShardedAdapter`'s.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardedAdapterOptions {
    /// The channel prefix (`channelPrefix`, default `socket.io`).
    pub channel_prefix: String,
    /// The subscription mode (`subscriptionMode`, default dynamic).
    pub subscription_mode: SubscriptionMode,
    /// How long a request to the other servers waits for their answers
    /// (default 5 s, Node's fixed timeout); then it ends with the answers
    /// received so far.
    pub request_timeout: Duration,
    /// How many messages may wait to be published (default 65,536); past
    /// that, new ones are dropped with a warning (the cluster is down or
    /// slow).
    pub publish_queue: usize,
}

impl Default for ShardedAdapterOptions {
    fn default() -> Self {
        ShardedAdapterOptions {
            channel_prefix: "socket.io".into(),
            subscription_mode: SubscriptionMode::Dynamic,
            request_timeout: Duration::from_secs(5),
            publish_queue: 65_536,
        }
    }
}

/// Connects to the Redis Cluster (a `PING` to every node on each
/// connection and a trial shard subscription, or a clear error) and
/// returns the factory of [`ShardedAdapter`]s for
/// [`SocketIoConfig::adapter`](socketeer::server::SocketIoConfig::adapter).
/// `client` must use RESP3. Must run inside a Tokio runtime, which the
/// adapter's tasks then use.
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use redis::cluster::ClusterClient;
/// use redis::ProtocolVersion;
/// use socketeer::server::{SocketIo, SocketIoConfig};
/// use socketeer_redis::{sharded_adapter_factory, ShardedAdapterOptions};
///
/// let client = ClusterClient::builder(["redis://127.0.0.1:7000", "redis://127.0.0.1:7001"])
///     .use_protocol(ProtocolVersion::RESP3)
///     .build()?;
/// let adapter = sharded_adapter_factory(client, ShardedAdapterOptions::default()).await?;
/// let io = SocketIo::new(SocketIoConfig { adapter, ..Default::default() });
/// # Ok(()) }
/// ```
pub async fn sharded_adapter_factory(
    client: ClusterClient,
    options: ShardedAdapterOptions,
) -> Result<AdapterFactory, AdapterError> {
    let shared = Shared::connect_cluster(client, options).await?;
    Ok(factory(shared))
}

/// Connects to one standalone Redis 7 (not in cluster mode; a `PING` on
/// each connection and a trial shard subscription, or a clear error) and
/// returns the factory of [`ShardedAdapter`]s for
/// [`SocketIoConfig::adapter`](socketeer::server::SocketIoConfig::adapter),
/// as Node's `createShardedAdapter` on a `createClient` client. The
/// subscriber speaks RESP3 whatever protocol `client` names (so Redis 7
/// is needed twice over: sharded pub/sub and RESP3). Must run inside a
/// Tokio runtime, which the adapter's tasks then use. Its errors:
/// [`AdapterError::Unreachable`] and [`AdapterError::Timeout`] when Redis
/// does not answer, [`AdapterError::ShardedPubSubUnsupported`] when it
/// refuses `SSUBSCRIBE` (before Redis 7).
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use socketeer::server::{SocketIo, SocketIoConfig};
/// use socketeer_redis::{sharded_adapter_factory_standalone, ShardedAdapterOptions};
///
/// let client = redis::Client::open("redis://127.0.0.1:6379")?;
/// let adapter =
///     sharded_adapter_factory_standalone(client, ShardedAdapterOptions::default()).await?;
/// let io = SocketIo::new(SocketIoConfig { adapter, ..Default::default() });
/// # Ok(()) }
/// ```
pub async fn sharded_adapter_factory_standalone(
    client: redis::Client,
    options: ShardedAdapterOptions,
) -> Result<AdapterFactory, AdapterError> {
    let shared = Shared::connect_standalone(client, options).await?;
    Ok(factory(shared))
}

/// The factory of one server's [`ShardedAdapter`]s, on `shared`.
fn factory(shared: Arc<Shared>) -> AdapterFactory {
    AdapterFactory::new(move |handle| Box::new(ShardedAdapter::new(&shared, handle)))
}

/// Whether Node's sharded adapter takes `room` for a socket id (20
/// UTF-16 code units), and so publishes to it on the namespace's channel
/// in the dynamic mode.
fn looks_like_a_socket_id(room: &str) -> bool {
    room.encode_utf16().count() == 20
}

/// The sharded Redis adapter of one namespace, made by
/// [`sharded_adapter_factory`] (on a Redis Cluster) or
/// [`sharded_adapter_factory_standalone`] (on one standalone Redis 7): the
/// server's [`Adapter`] over Redis 7 sharded pub/sub, speaking what
/// `@socket.io/redis-adapter` 8.x `createShardedAdapter` speaks (the
/// `ClusterAdapter` messages of `socket.io-adapter`), so socketeer and
/// Node servers form one cluster on a Redis Cluster or on one Redis. Both
/// factories make the same adapter; only the connection differs.
///
/// Each namespace subscribes (`SSUBSCRIBE`) to `{prefix}#{nsp}#`, where
/// every message goes, and `{prefix}#{nsp}#{uid}#`, where the answers to
/// this server's requests come. In the dynamic modes a broadcast to exactly
/// one room (without acknowledgements) goes to the room's own channel
/// `{prefix}#{nsp}#{room}#` instead, which only the servers that have
/// sockets in that room subscribe to: each server subscribes when a room
/// gets its first socket here and unsubscribes when it loses its last.
/// `dynamic` gives rooms named after a socket id their own channel only
/// when the room is not a socket id here (and publishes to one only when
/// the room does not look like a socket id, 20 characters, as Node does);
/// `dynamic-private` gives every room one; `static` none. The number of
/// servers (for `fetch_sockets` and server-side emits with
/// acknowledgements) is `PUBSUB SHARDNUMSUB` of the namespace's channel,
/// as Node's sharded adapter counts them; the sharded adapter sends no
/// heartbeats (it is a `ClusterAdapter`, not a
/// `ClusterAdapterWithHeartbeat`).
///
/// # The client: redis-rs's async cluster connection
///
/// The Redis client is redis-rs's `cluster-async` [`ClusterClient`], as
/// for the classic adapter's reasons (see the crate docs) and because it
/// does what sharded pub/sub on a cluster needs: it routes `SSUBSCRIBE`
/// and `SPUBLISH` to the node that owns the channel's slot, follows
/// `MOVED` redirections, sends `PUBSUB SHARDNUMSUB` to every node and sums
/// the counts, delivers messages from every node to one push sender
/// (`smessage` pushes, RESP3) and reports each lost node connection
/// there. Opening one connection per shard node by hand would redo all of
/// that (and follow slot migrations by hand). Its costs: RESP3, so the
/// client must be built with `use_protocol(ProtocolVersion::RESP3)` (the
/// start fails with [`AdapterError::Resp3Required`] otherwise); and in
/// redis-rs 1.1 (which the workspace's Rust 1.85 pins) its own restoring
/// of shard subscriptions after a reconnection sends every channel in one
/// `SSUBSCRIBE`, which Redis refuses when they span slots, so the adapter
/// keeps the list itself and subscribes again channel by channel after
/// each lost connection (and when Redis drops a channel whose slot
/// moved).
///
/// # On a standalone Redis
///
/// [`sharded_adapter_factory_standalone`] takes a plain [`redis::Client`]
/// and opens two redis-rs `ConnectionManager`s (reconnecting, as the
/// classic adapter's), the subscriber over RESP3. The manager has no
/// `SSUBSCRIBE` of its own and restores no shard subscription after a
/// reconnection, so the adapter subscribes again, channel by channel,
/// after each `disconnection` push, exactly as on a cluster, and also
/// when its once-a-second `CLIENT ID` heartbeat answers with a new id (a
/// connection the manager replaced without such a push); the server
/// count is the server's own `PUBSUB SHARDNUMSUB`.
///
/// One server has one uid, one subscriber connection and one publisher
/// connection, shared by its namespaces. Publishing never blocks a local
/// operation (a bounded queue, as in the classic adapter); a malformed or
/// foreign message is logged and dropped.
pub struct ShardedAdapter {
    shared: Arc<Shared>,
    ns: Arc<NsState>,
}

impl std::fmt::Debug for ShardedAdapter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShardedAdapter")
            .field("uid", &self.shared.uid)
            .field("nsp", &self.ns.channels.nsp())
            .field("mode", &self.shared.options.subscription_mode)
            .finish_non_exhaustive()
    }
}

impl ShardedAdapter {
    fn new(shared: &Arc<Shared>, handle: NamespaceHandle) -> Self {
        let channels = ShardedChannels::new(shared.options.channel_prefix.clone(), handle.name());
        let ns = Arc::new(NsState {
            main: channels.main(),
            response: channels.response_for(&shared.uid),
            channels,
            rooms: InMemoryAdapter::new(),
            dynamic: Default::default(),
            handle,
        });
        lock(&shared.namespaces).insert(ns.channels.nsp().to_owned(), ns.clone());
        shared.subscribe(ns.main.clone());
        shared.subscribe(ns.response.clone());
        ShardedAdapter {
            shared: shared.clone(),
            ns,
        }
    }

    /// This server's uid in the cluster (random, 16 hex digits).
    pub fn uid(&self) -> &str {
        &self.shared.uid
    }

    fn mode(&self) -> SubscriptionMode {
        self.shared.options.subscription_mode
    }

    /// Whether a room that just got its first socket here (`id`) gets a
    /// channel of its own.
    fn own_channel(&self, id: &SocketId, room: &Room) -> bool {
        match self.mode() {
            SubscriptionMode::Static => false,
            SubscriptionMode::DynamicPrivate => true,
            // Public: not the room of a socket of this namespace here.
            SubscriptionMode::Dynamic => room != id && self.ns.rooms.socket_rooms(room).is_empty(),
        }
    }

    /// A socket left `room`: the room's channel goes with its last socket.
    fn left(&self, dynamic: &mut DynamicRooms, room: &Room) {
        let Some(n) = dynamic.sizes.get_mut(room) else {
            return;
        };
        *n -= 1;
        if *n == 0 {
            dynamic.sizes.remove(room);
            if dynamic.subscribed.remove(room) {
                self.shared.unsubscribe(self.ns.channels.room(room));
            }
        }
    }

    /// Publishes a message from this server.
    fn send(&self, body: ClusterBody) {
        publish_body(&self.shared, &self.ns, body);
    }

    /// [`ShardedAdapter::send`], for a request that publishes later.
    fn sender(&self) -> impl Fn(ClusterBody) + Send + 'static {
        let (shared, ns) = (self.shared.clone(), self.ns.clone());
        move |body| publish_body(&shared, &ns, body)
    }
}

/// Publishes a message from this server on the channel Node's
/// `computeChannel` picks: a room's own channel for a broadcast to that
/// one room (without acknowledgements) in the dynamic modes, else the
/// namespace's channel.
fn publish_body(shared: &Shared, ns: &NsState, body: ClusterBody) {
    let channel = channel_for(shared.options.subscription_mode, &ns.channels, &body);
    let msg = ClusterMessage {
        uid: shared.uid.clone(),
        nsp: ns.channels.nsp().to_owned(),
        body,
    };
    shared.publish(channel, msg.encode());
}

/// The channel of a message (Node's `computeChannel`).
fn channel_for(mode: SubscriptionMode, channels: &ShardedChannels, body: &ClusterBody) -> String {
    if let ClusterBody::Broadcast {
        request_id: None,
        opts,
        ..
    } = body
    {
        if let [room] = opts.rooms.as_slice() {
            let own = match mode {
                SubscriptionMode::Static => false,
                SubscriptionMode::Dynamic => !looks_like_a_socket_id(room),
                SubscriptionMode::DynamicPrivate => true,
            };
            if own {
                return channels.room(room);
            }
        }
    }
    channels.main()
}

impl Adapter for ShardedAdapter {
    fn add_all(&self, id: &SocketId, rooms: &[Room]) {
        if self.mode() == SubscriptionMode::Static {
            return self.ns.rooms.add_all(id, rooms);
        }
        let mut dynamic = lock(&self.ns.dynamic);
        let mut already: HashSet<Room> = self.ns.rooms.socket_rooms(id).into_iter().collect();
        self.ns.rooms.add_all(id, rooms);
        for room in rooms {
            if !already.insert(room.clone()) {
                continue;
            }
            let n = dynamic.sizes.entry(room.clone()).or_insert(0);
            *n += 1;
            if *n == 1 && self.own_channel(id, room) {
                dynamic.subscribed.insert(room.clone());
                self.shared.subscribe(self.ns.channels.room(room));
            }
        }
    }

    fn del(&self, id: &SocketId, room: &str) {
        if self.mode() == SubscriptionMode::Static {
            return self.ns.rooms.del(id, room);
        }
        let mut dynamic = lock(&self.ns.dynamic);
        let was_in = self
            .ns
            .rooms
            .socket_rooms(id)
            .into_iter()
            .find(|r| **r == *room);
        self.ns.rooms.del(id, room);
        if let Some(room) = was_in {
            self.left(&mut dynamic, &room);
        }
    }

    fn del_all(&self, id: &SocketId) {
        if self.mode() == SubscriptionMode::Static {
            return self.ns.rooms.del_all(id);
        }
        let mut dynamic = lock(&self.ns.dynamic);
        let rooms = self.ns.rooms.socket_rooms(id);
        self.ns.rooms.del_all(id);
        for room in &rooms {
            self.left(&mut dynamic, room);
        }
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
        let strings = |rooms: &[Room]| rooms.iter().map(|r| r.to_string()).collect();
        let body = match op {
            ClusterOp::Emit { opts, event, args } => {
                let flags = Flags {
                    volatile: opts.volatile.then_some(true),
                    ..Flags::default()
                };
                ClusterBody::Broadcast {
                    packet: Packet::event(
                        self.ns.channels.nsp(),
                        event,
                        args.iter().map(to_wire).collect(),
                    ),
                    request_id: None,
                    opts: wire_options(&opts, Some(flags)),
                }
            }
            ClusterOp::Join { opts, rooms } => ClusterBody::SocketsJoin {
                opts: wire_options(&opts, None),
                rooms: strings(&rooms),
            },
            ClusterOp::Leave { opts, rooms } => ClusterBody::SocketsLeave {
                opts: wire_options(&opts, None),
                rooms: strings(&rooms),
            },
            ClusterOp::Disconnect { opts, close } => ClusterBody::DisconnectSockets {
                opts: wire_options(&opts, None),
                close: Some(close),
            },
            ClusterOp::ServerSideEmit { event, args } => {
                let mut packet = Vec::with_capacity(args.len() + 1);
                packet.push(Value::String(event));
                packet.extend(args.iter().map(to_wire));
                ClusterBody::ServerSideEmit {
                    request_id: None,
                    packet,
                }
            }
        };
        self.send(body);
    }

    fn server_count(&self) -> socketeer::server::ServerCount {
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
    ) -> socketeer::server::RemoteAcks {
        requests::broadcast_with_ack(self, opts, event, args, timeout)
    }

    fn server_side_emit_with_ack(
        &self,
        event: String,
        args: Vec<socketeer::Value>,
    ) -> socketeer::server::ServerSideAcksFuture {
        requests::server_side_emit_with_ack(self, event, args)
    }

    fn fetch_remote_sockets(&self, opts: &ServerOptions) -> socketeer::server::RemoteSockets {
        requests::fetch_remote_sockets(self, opts)
    }

    fn try_fetch_remote_sockets(
        &self,
        opts: &ServerOptions,
    ) -> socketeer::server::TryRemoteSockets {
        requests::try_fetch_remote_sockets(self, opts)
    }
}

impl Drop for ShardedAdapter {
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
        self.shared.unsubscribe(self.ns.main.clone());
        self.shared.unsubscribe(self.ns.response.clone());
        for room in lock(&self.ns.dynamic).subscribed.drain() {
            self.shared.unsubscribe(self.ns.channels.room(&room));
        }
    }
}
