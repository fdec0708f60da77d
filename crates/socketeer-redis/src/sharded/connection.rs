//! The one thing that differs between a sharded adapter on a Redis Cluster
//! and one on a standalone Redis 7: the connection. Everything else (the
//! subscriptions, the dispatch of `smessage` pushes, the requests, the
//! publishing task) runs on a [`Conn`] either way.

use redis::aio::{ConnectionLike, ConnectionManager};
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, Pipeline, RedisFuture, RedisResult, Value};

/// A connection of the sharded adapter: redis-rs's async cluster
/// connection, or a reconnecting `ConnectionManager` to one server.
///
/// Both deliver the subscriber's pushes (`smessage`, `sunsubscribe`,
/// `disconnection`) to the push sender they were built with, and neither
/// restores shard subscriptions usefully by itself (the cluster one in one
/// cross-slot `SSUBSCRIBE`, the manager not at all), so the adapter
/// restores them ([`super::subscriptions`]).
#[derive(Clone)]
pub(super) enum Conn {
    /// A Redis Cluster.
    Cluster(ClusterConnection),
    /// One standalone server (RESP3 for the subscriber).
    Standalone(ConnectionManager),
}

impl Conn {
    /// The heartbeat: on a cluster `PING` (to every node, reconnecting
    /// lost ones), `None`; on a standalone Redis `CLIENT ID` (which also
    /// makes the manager reconnect when the connection is gone), the id of
    /// the connection that answered, `None` if it did not.
    pub(super) async fn heartbeat(&mut self) -> Option<i64> {
        match self {
            Conn::Cluster(conn) => {
                let _ = redis::cmd("PING").query_async::<Value>(conn).await;
                None
            }
            Conn::Standalone(conn) => redis::cmd("CLIENT")
                .arg("ID")
                .query_async::<i64>(conn)
                .await
                .ok(),
        }
    }

    /// `SSUBSCRIBE channel`.
    pub(super) async fn ssubscribe(&mut self, channel: &str) -> RedisResult<()> {
        match self {
            Conn::Cluster(conn) => conn.ssubscribe(channel).await,
            Conn::Standalone(conn) => redis::cmd("SSUBSCRIBE").arg(channel).exec_async(conn).await,
        }
    }

    /// `SUNSUBSCRIBE channel`.
    pub(super) async fn sunsubscribe(&mut self, channel: &str) -> RedisResult<()> {
        match self {
            Conn::Cluster(conn) => conn.sunsubscribe(channel).await,
            Conn::Standalone(conn) => {
                redis::cmd("SUNSUBSCRIBE")
                    .arg(channel)
                    .exec_async(conn)
                    .await
            }
        }
    }
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Conn::Cluster(conn) => conn.req_packed_command(cmd),
            Conn::Standalone(conn) => conn.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Conn::Cluster(conn) => conn.req_packed_commands(pipeline, offset, count),
            Conn::Standalone(conn) => conn.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Conn::Cluster(conn) => conn.get_db(),
            Conn::Standalone(conn) => conn.get_db(),
        }
    }
}

/// Which connection a standalone subscriber is on (its `CLIENT ID`), to
/// notice that the `ConnectionManager` replaced it. The manager reports a
/// connection that Redis closed (a `disconnection` push), but not one it
/// replaces itself after an error it deems fatal, nor one it replaces
/// again on a late push of an old connection: a new id is the sure sign
/// that the subscriptions are gone. (After a restart of Redis its ids
/// start again, and may repeat the old one; the `disconnection` push of
/// the closed connection covers that case.)
#[derive(Debug, Default)]
pub(super) struct ConnectionWatch {
    id: Option<i64>,
}

impl ConnectionWatch {
    /// Starts with the connection `id`.
    pub(super) fn new(id: Option<i64>) -> ConnectionWatch {
        ConnectionWatch { id }
    }

    /// The connection answered with `id`: whether it is a new one (its
    /// subscriptions lost), not the first one seen.
    pub(super) fn saw(&mut self, id: i64) -> bool {
        let replaced = self.id.is_some_and(|old| old != id);
        self.id = Some(id);
        replaced
    }
}
