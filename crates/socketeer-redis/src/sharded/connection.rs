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
