//! What the namespaces of one sharded-adapter server share: the two
//! connections (to a Redis Cluster or to a standalone Redis), the
//! publishing queue, the subscriptions, the requests waiting for answers,
//! and the tasks that serve them.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use redis::cluster::{ClusterClient, ClusterConfig};
use redis::{ErrorKind, PushInfo, PushKind};
use socketeer::server::{InMemoryAdapter, NamespaceHandle, Room};
use tokio::sync::mpsc;

use super::connection::{Conn, ConnectionWatch};
use super::subscriptions::{subscription_task, Subscriptions};
use super::ShardedAdapterOptions;
use crate::common::{bytes_of, random_hex, unreachable, AdapterError, CONNECT_TIMEOUT};
use crate::publish::{Outgoing, Publisher};
use crate::wire::{ClusterBody, ShardedChannels};

/// Sends `(channel, message)` to the publishing task.
type Outbox = mpsc::Sender<Outgoing>;
/// Where the answers to one of our requests go.
pub(super) type Waiter = mpsc::UnboundedSender<ClusterBody>;

/// How often the subscriber connection is checked (and so reconnected,
/// and its subscriptions restored, while the cluster is away).
const HEARTBEAT: Duration = Duration::from_secs(1);

/// What the namespaces of one server share.
pub(super) struct Shared {
    /// This server's uid.
    pub(super) uid: String,
    /// Itself, for acknowledgements that answer later.
    pub(super) weak: Weak<Shared>,
    /// The runtime the factory ([`super::sharded_adapter_factory`] or
    /// [`super::sharded_adapter_factory_standalone`]) ran in: namespaces
    /// may be made outside of it.
    pub(super) runtime: tokio::runtime::Handle,
    pub(super) options: ShardedAdapterOptions,
    /// Publishes and asks (`SPUBLISH`, `PUBSUB SHARDNUMSUB`).
    commands: Conn,
    /// Subscribes (`SSUBSCRIBE`), its messages pushed to the dispatcher.
    subscriber: Conn,
    outbox: Outbox,
    /// The subscriber's shard channels.
    pub(super) subscriptions: Arc<Subscriptions>,
    /// The namespaces, by name.
    pub(super) namespaces: Mutex<HashMap<String, Arc<NsState>>>,
    /// Our requests waiting for answers, by request id.
    pub(super) waiting: Mutex<HashMap<String, Waiter>>,
}

/// One namespace: its channels, its rooms, its way into the server.
pub(super) struct NsState {
    pub(super) channels: ShardedChannels,
    /// `{prefix}#{nsp}#`: every message of the namespace.
    pub(super) main: String,
    /// `{prefix}#{nsp}#{uid}#`: the answers to this server's requests.
    pub(super) response: String,
    pub(super) rooms: InMemoryAdapter,
    /// In the dynamic modes: the rooms' sizes, and which rooms have a
    /// channel of their own subscribed.
    pub(super) dynamic: Mutex<DynamicRooms>,
    pub(super) handle: NamespaceHandle,
}

/// The bookkeeping of the dynamic subscription modes.
#[derive(Default)]
pub(super) struct DynamicRooms {
    /// How many of this server's sockets each room has.
    pub(super) sizes: HashMap<Room, usize>,
    /// The rooms whose own channel is subscribed.
    pub(super) subscribed: HashSet<Room>,
}

impl NsState {
    /// Whether `channel` is one of this namespace's: its main channel, its
    /// response channel, or a room's.
    pub(super) fn owns(&self, channel: &str) -> bool {
        owns(&self.main, channel)
    }
}

/// Whether `channel` is the namespace channel `main` or one under it
/// (`{main}{uid or room}#`).
pub(super) fn owns(main: &str, channel: &str) -> bool {
    channel
        .strip_prefix(main)
        .is_some_and(|rest| rest.is_empty() || rest.ends_with('#'))
}

/// Whether redis-rs refused for want of RESP3: a push sender or a shard
/// subscription on a RESP2 connection (redis-rs reports the first one
/// wrapped in a connection error, so its text is checked too).
fn needs_resp3(e: &redis::RedisError) -> bool {
    e.kind() == ErrorKind::InvalidClientConfig || e.to_string().contains("RESP3")
}

/// `fut`, within [`CONNECT_TIMEOUT`], its error as an [`AdapterError`].
async fn timed<T>(
    fut: impl std::future::Future<Output = redis::RedisResult<T>>,
) -> Result<T, AdapterError> {
    match tokio::time::timeout(CONNECT_TIMEOUT, fut).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(source)) if needs_resp3(&source) => Err(AdapterError::Resp3Required { source }),
        Ok(Err(source)) => Err(AdapterError::ClusterUnreachable { source }),
        Err(_) => Err(AdapterError::ClusterTimeout {
            timeout: CONNECT_TIMEOUT,
        }),
    }
}

impl Shared {
    /// Connects twice to the cluster, checks that both connections work
    /// and that sharded subscriptions are possible (RESP3), and starts the
    /// tasks.
    pub(super) async fn connect_cluster(
        client: ClusterClient,
        options: ShardedAdapterOptions,
    ) -> Result<Arc<Shared>, AdapterError> {
        let config = || {
            ClusterConfig::new()
                .set_connection_timeout(Duration::from_secs(2))
                .set_response_timeout(Duration::from_secs(5))
        };
        let (push_tx, push_rx) = mpsc::unbounded_channel::<PushInfo>();
        let mut subscriber = Conn::Cluster(
            timed(client.get_async_connection_with_config(config().set_push_sender(push_tx)))
                .await?,
        );
        let mut commands =
            Conn::Cluster(timed(client.get_async_connection_with_config(config())).await?);
        for conn in [&mut subscriber, &mut commands] {
            timed(redis::cmd("PING").query_async::<redis::Value>(conn)).await?;
        }
        let uid = random_hex(8);
        // A sharded subscription needs RESP3: try one now, for a clear
        // error at start rather than silence later.
        let probe = format!("{}#{}#", options.channel_prefix, uid);
        timed(subscriber.ssubscribe(&probe)).await?;
        timed(subscriber.sunsubscribe(&probe)).await?;
        Ok(Shared::start(
            uid, options, commands, subscriber, push_rx, None,
        ))
    }

    /// Connects twice to one standalone Redis (the subscriber over RESP3,
    /// whatever protocol `client` names), checks that both connections
    /// work and that the server takes shard subscriptions (Redis 7), and
    /// starts the tasks.
    pub(super) async fn connect_standalone(
        client: redis::Client,
        options: ShardedAdapterOptions,
    ) -> Result<Arc<Shared>, AdapterError> {
        let addr = client.get_connection_info().addr().to_string();
        let config = crate::common::manager_config;
        // Messages come as pushes: RESP3 for the subscriber.
        let resp3 = crate::common::resp3(&client, &addr)?;
        let (push_tx, push_rx) = mpsc::unbounded_channel::<PushInfo>();
        let mut commands = Conn::Standalone(
            crate::common::timed(&addr, client.get_connection_manager_with_config(config()))
                .await?,
        );
        let mut subscriber = Conn::Standalone(
            crate::common::timed(
                &addr,
                resp3.get_connection_manager_with_config(config().set_push_sender(push_tx)),
            )
            .await?,
        );
        for conn in [&mut commands, &mut subscriber] {
            crate::common::timed(&addr, redis::cmd("PING").query_async::<redis::Value>(conn))
                .await?;
        }
        let first_id = subscriber.heartbeat().await;
        let uid = random_hex(8);
        // Shard subscriptions need Redis 7: try one now, for a clear error
        // at start rather than silence later.
        let probe = format!("{}#{}#", options.channel_prefix, uid);
        let probed = async {
            subscriber.ssubscribe(&probe).await?;
            subscriber.sunsubscribe(&probe).await
        };
        match tokio::time::timeout(CONNECT_TIMEOUT, probed).await {
            Ok(Ok(())) => {}
            Ok(Err(source)) if source.kind() == ErrorKind::Io => {
                return Err(unreachable(&addr, source))
            }
            Ok(Err(source)) => return Err(AdapterError::ShardedPubSubUnsupported { addr, source }),
            Err(_) => {
                return Err(AdapterError::Timeout {
                    addr,
                    timeout: CONNECT_TIMEOUT,
                })
            }
        }
        Ok(Shared::start(
            uid, options, commands, subscriber, push_rx, first_id,
        ))
    }

    /// Starts the publishing, subscribing, dispatching and heartbeat tasks
    /// on two working connections (`subscriber_id`: the standalone
    /// subscriber's `CLIENT ID`).
    fn start(
        uid: String,
        options: ShardedAdapterOptions,
        commands: Conn,
        subscriber: Conn,
        push_rx: mpsc::UnboundedReceiver<PushInfo>,
        subscriber_id: Option<i64>,
    ) -> Arc<Shared> {
        let (outbox, outbox_rx) = mpsc::channel(options.publish_queue.max(1));
        tokio::spawn(
            Publisher {
                command: "SPUBLISH",
                one_channel_per_batch: true,
                who: "sharded redis adapter",
            }
            .run(commands.clone(), outbox_rx),
        );
        let (subscriptions, subscriptions_rx) = Subscriptions::new();
        let subscriptions = Arc::new(subscriptions);
        tokio::spawn(subscription_task(
            Arc::downgrade(&subscriptions),
            subscriber.clone(),
            subscriptions_rx,
        ));
        let shared = Arc::new_cyclic(|weak| Shared {
            weak: weak.clone(),
            uid,
            runtime: tokio::runtime::Handle::current(),
            options,
            commands,
            subscriber,
            outbox,
            subscriptions,
            namespaces: Mutex::new(HashMap::new()),
            waiting: Mutex::new(HashMap::new()),
        });
        // The broadcasts from other servers are written to this server's
        // idle sessions by this task (see `batch_writes`).
        tokio::spawn(socketeer::server::batch_writes(dispatch_task(
            Arc::downgrade(&shared),
            push_rx,
        )));
        tokio::spawn(heartbeat_task(
            Arc::downgrade(&shared),
            ConnectionWatch::new(subscriber_id),
        ));
        shared
    }

    /// Queues a message for `SPUBLISH`; never waits.
    pub(super) fn publish(&self, channel: String, message: Vec<u8>) {
        match self.outbox.try_send((channel, message)) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full((channel, _))) => {
                tracing::warn!(%channel, "sharded redis adapter: publish queue full, message dropped");
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {}
        }
    }

    /// Subscribes a shard channel (in order with the other changes).
    pub(super) fn subscribe(&self, channel: String) {
        self.subscriptions.subscribe(channel);
    }

    /// Unsubscribes a shard channel (in order with the other changes).
    pub(super) fn unsubscribe(&self, channel: String) {
        self.subscriptions.unsubscribe(channel);
    }

    /// How many servers subscribe to a namespace's main channel (this one
    /// included): `PUBSUB SHARDNUMSUB` (on a cluster, summed over the
    /// nodes); `None` if Redis does not answer by `deadline`.
    pub(super) async fn server_count(
        &self,
        ns: &NsState,
        deadline: tokio::time::Instant,
    ) -> Option<usize> {
        let mut conn = self.commands.clone();
        let reply = tokio::time::timeout_at(
            deadline,
            redis::cmd("PUBSUB")
                .arg("SHARDNUMSUB")
                .arg(&ns.main)
                .query_async::<redis::Value>(&mut conn),
        )
        .await;
        let reply = match reply {
            Ok(Ok(v)) => v,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "sharded redis adapter: PUBSUB SHARDNUMSUB failed");
                return None;
            }
            Err(_) => {
                tracing::warn!("sharded redis adapter: PUBSUB SHARDNUMSUB timed out");
                return None;
            }
        };
        numsub(&reply, &ns.main)
    }
}

/// The count of `channel` in a `PUBSUB SHARDNUMSUB` reply: a map (as
/// redis-rs combines the nodes' replies) or a flat array of pairs (one
/// node's reply).
pub(super) fn numsub(reply: &redis::Value, channel: &str) -> Option<usize> {
    let count = |k: &redis::Value, v: &redis::Value| match v {
        redis::Value::Int(n) if bytes_of(k) == Some(channel.as_bytes()) => usize::try_from(*n).ok(),
        _ => None,
    };
    match reply {
        redis::Value::Map(pairs) => pairs.iter().find_map(|(k, v)| count(k, v)),
        redis::Value::Array(items) => items.chunks(2).find_map(|kv| match kv {
            [k, v] => count(k, v),
            _ => None,
        }),
        _ => None,
    }
}

/// Hands each shard message to the namespaces.
async fn dispatch_task(shared: Weak<Shared>, mut rx: mpsc::UnboundedReceiver<PushInfo>) {
    while let Some(push) = rx.recv().await {
        let Some(shared) = shared.upgrade() else {
            return;
        };
        let (channel, payload) = match (push.kind, push.data.as_slice()) {
            (PushKind::SMessage, [channel, payload]) => (channel, payload),
            (PushKind::Disconnection, _) => {
                tracing::warn!(
                    "sharded redis adapter: a subscriber connection was lost, reconnecting"
                );
                shared.subscriptions.connection_lost();
                continue;
            }
            (PushKind::SUnsubscribe, [channel, ..]) => {
                if let Some(channel) = bytes_of(channel).and_then(|c| std::str::from_utf8(c).ok()) {
                    shared.subscriptions.dropped_by_redis(channel);
                }
                continue;
            }
            _ => continue,
        };
        let (Some(channel), Some(payload)) = (bytes_of(channel), bytes_of(payload)) else {
            tracing::warn!("sharded redis adapter: pub/sub message of an unexpected form dropped");
            continue;
        };
        let Ok(channel) = std::str::from_utf8(channel) else {
            continue;
        };
        shared.on_message(channel, payload);
    }
}

/// Checks the subscriber connection every [`HEARTBEAT`], so that a lost
/// connection is reconnected (and its subscriptions restored) without
/// waiting for a subscription change; on a standalone Redis, also
/// restores the subscriptions when the connection was replaced without a
/// `disconnection` push (a new `CLIENT ID`).
async fn heartbeat_task(shared: Weak<Shared>, mut watch: ConnectionWatch) {
    let mut tick = tokio::time::interval(HEARTBEAT);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(mut conn) = shared.upgrade().map(|s| s.subscriber.clone()) else {
            return;
        };
        let id = tokio::time::timeout(Duration::from_secs(5), conn.heartbeat()).await;
        if let Ok(Some(id)) = id {
            if watch.saw(id) {
                let Some(shared) = shared.upgrade() else {
                    return;
                };
                tracing::info!(
                    "sharded redis adapter: the subscriber connection was replaced, subscribing again"
                );
                shared.subscriptions.connection_lost();
            }
        }
    }
}
