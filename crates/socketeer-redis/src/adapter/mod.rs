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

mod incoming;
mod requests;
mod shared;

use std::sync::Arc;
use std::time::Duration;

use socketeer::server::{
    Adapter, AdapterFactory, BroadcastOptions as ServerOptions, ClusterOp, InMemoryAdapter,
    NamespaceHandle, RemoteAcks, RemoteSockets, Room, ServerCount, ServerSideAcksFuture, SocketId,
    TryRemoteSockets,
};

use crate::common::{lock, wire_options, AdapterError};
use crate::convert::to_wire;
use crate::wire::{BroadcastMessage, Channels, Flags, Packet, Request, Value};
use shared::{subscribe_task, NsState, Shared};

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
        requests::broadcast_with_ack(self, opts, event, args, timeout)
    }

    fn server_side_emit_with_ack(
        &self,
        event: String,
        args: Vec<socketeer::Value>,
    ) -> ServerSideAcksFuture {
        requests::server_side_emit_with_ack(self, event, args)
    }

    fn fetch_remote_sockets(&self, opts: &ServerOptions) -> RemoteSockets {
        requests::fetch_remote_sockets(self, opts)
    }

    fn try_fetch_remote_sockets(&self, opts: &ServerOptions) -> TryRemoteSockets {
        requests::try_fetch_remote_sockets(self, opts)
    }
}
