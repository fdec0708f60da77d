//! What the namespaces of one classic-adapter server share: the two
//! connections, the publishing queue, the requests waiting for answers,
//! and the tasks that serve them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use redis::aio::ConnectionManager;
use redis::{PushInfo, PushKind};
use socketeer::server::{InMemoryAdapter, NamespaceHandle};
use tokio::sync::mpsc;

use super::RedisAdapterOptions;
use crate::common::{bytes_of, random_hex, timed, AdapterError};
use crate::publish::{Outgoing, Publisher};
use crate::wire::{Channels, Response};

/// How often the subscriber connection is checked (and so retried while
/// Redis is away).
const HEARTBEAT: Duration = Duration::from_secs(1);

/// Sends `(channel, message)` to the publishing task.
type Outbox = mpsc::Sender<Outgoing>;
/// Where the answers to one of our requests go.
pub(super) type Waiter = mpsc::UnboundedSender<Response>;

/// What the namespaces of one server share.
pub(super) struct Shared {
    pub(super) uid: String,
    /// Itself, for acknowledgements that answer later.
    pub(super) weak: Weak<Shared>,
    /// The runtime [`super::adapter_factory`] ran in: namespaces may be made
    /// outside of it.
    pub(super) runtime: tokio::runtime::Handle,
    pub(super) options: RedisAdapterOptions,
    /// For commands that answer (`PUBSUB NUMSUB`).
    pub(super) commands: ConnectionManager,
    pub(super) subscriber: ConnectionManager,
    pub(super) outbox: Outbox,
    pub(super) namespaces: Mutex<HashMap<String, Arc<NsState>>>,
    pub(super) waiting: Mutex<HashMap<String, Waiter>>,
}

/// One namespace: its channels, its rooms, its way into the server.
pub(super) struct NsState {
    pub(super) channels: Channels,
    /// `{key}-request#{nsp}#`.
    pub(super) request_channel: String,
    /// `{key}-response#{nsp}#` and `{key}-response#{nsp}#{uid}#`.
    pub(super) response_channels: [String; 2],
    pub(super) rooms: InMemoryAdapter,
    pub(super) handle: NamespaceHandle,
}

impl Shared {
    pub(super) async fn connect(
        client: redis::Client,
        options: RedisAdapterOptions,
    ) -> Result<Arc<Shared>, AdapterError> {
        let addr = client.get_connection_info().addr().to_string();
        let config = crate::common::manager_config;
        // The subscriber needs RESP3: messages come as pushes, and the
        // manager subscribes again after reconnecting.
        let resp3 = crate::common::resp3(&client, &addr)?;
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
        tokio::spawn(
            Publisher {
                command: "PUBLISH",
                one_channel_per_batch: false,
                who: "redis adapter",
            }
            .run(commands.clone(), outbox_rx),
        );
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
        // The broadcasts from other servers are written to this server's
        // idle sessions by this task (see `batch_writes`).
        tokio::spawn(socketeer::server::batch_writes(dispatch_task(
            Arc::downgrade(&shared),
            push_rx,
        )));
        tokio::spawn(heartbeat_task(Arc::downgrade(&shared)));
        Ok(shared)
    }

    /// Queues a message for publication; never waits.
    pub(super) fn publish(&self, channel: String, message: Vec<u8>) {
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
    pub(super) async fn server_count(
        &self,
        ns: &NsState,
        deadline: tokio::time::Instant,
    ) -> Option<usize> {
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
pub(super) async fn subscribe_task(shared: Weak<Shared>, channels: Channels, uid: String) {
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
