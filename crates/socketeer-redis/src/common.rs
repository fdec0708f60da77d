//! What the classic adapter ([`crate::RedisAdapter`]) and the sharded one
//! share: the start-up error, the conversions of broadcast options,
//! request bookkeeping and small helpers.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use socketeer::server::{
    BroadcastOptions as ServerOptions, FetchError, RemoteSockets, Room, SocketInfo,
    TryRemoteSockets,
};

use crate::wire::{BroadcastOptions, Flags};

/// Why the adapter could not start.
#[derive(Debug, thiserror::Error)]
pub enum AdapterError {
    /// Redis did not answer `PING` (unreachable, refused, or failed).
    #[error("redis at {addr} is unreachable: {source}")]
    Unreachable {
        /// The address tried.
        addr: String,
        /// What failed.
        source: redis::RedisError,
    },
    /// Redis did not answer in time.
    #[error("redis at {addr} did not answer within {timeout:?}")]
    Timeout {
        /// The address tried.
        addr: String,
        /// How long it waited.
        timeout: Duration,
    },
    /// The Redis Cluster could not be reached (no node answered, or the
    /// cluster's slots could not be read).
    #[error("the redis cluster is unreachable: {source}")]
    ClusterUnreachable {
        /// What failed.
        source: redis::RedisError,
    },
    /// The Redis Cluster did not answer in time.
    #[error("the redis cluster did not answer within {timeout:?}")]
    ClusterTimeout {
        /// How long it waited.
        timeout: Duration,
    },
    /// The standalone Redis refused a shard subscription (`SSUBSCRIBE`):
    /// the sharded adapter needs Redis 7 or later.
    #[error(
        "redis at {addr} refused SSUBSCRIBE (the sharded adapter needs Redis 7 or later): {source}"
    )]
    ShardedPubSubUnsupported {
        /// The address tried.
        addr: String,
        /// What Redis said.
        source: redis::RedisError,
    },
    /// The cluster client speaks RESP2: sharded pub/sub through redis-rs
    /// needs RESP3 (`ClusterClientBuilder::use_protocol(ProtocolVersion::RESP3)`).
    #[error("the sharded adapter needs a RESP3 cluster client (ClusterClientBuilder::use_protocol(ProtocolVersion::RESP3)): {source}")]
    Resp3Required {
        /// What redis-rs said.
        source: redis::RedisError,
    },
}

/// How long the start waits for Redis.
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

pub(crate) fn unreachable(addr: &str, source: redis::RedisError) -> AdapterError {
    AdapterError::Unreachable {
        addr: addr.to_owned(),
        source,
    }
}

/// How a standalone Redis connection of an adapter reconnects: a few quick
/// retries, then the adapter's own heartbeat tries again.
pub(crate) fn manager_config() -> redis::aio::ConnectionManagerConfig {
    redis::aio::ConnectionManagerConfig::new()
        .set_number_of_retries(3)
        .set_min_delay(Duration::from_millis(100))
        .set_max_delay(Duration::from_secs(1))
        .set_connection_timeout(Some(Duration::from_secs(2)))
        .set_response_timeout(Some(Duration::from_secs(5)))
}

/// `client` speaking RESP3, whatever protocol it names: a subscriber gets
/// its messages as pushes.
pub(crate) fn resp3(client: &redis::Client, addr: &str) -> Result<redis::Client, AdapterError> {
    let info = client.get_connection_info().clone();
    let settings = info
        .redis_settings()
        .clone()
        .set_protocol(redis::ProtocolVersion::RESP3);
    redis::Client::open(info.set_redis_settings(settings))
        .map_err(|source| unreachable(addr, source))
}

/// `fut`, within [`CONNECT_TIMEOUT`], its error as an [`AdapterError`].
pub(crate) async fn timed<T>(
    addr: &str,
    fut: impl std::future::Future<Output = redis::RedisResult<T>>,
) -> Result<T, AdapterError> {
    match tokio::time::timeout(CONNECT_TIMEOUT, fut).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(source)) => Err(unreachable(addr, source)),
        Err(_) => Err(AdapterError::Timeout {
            addr: addr.to_owned(),
            timeout: CONNECT_TIMEOUT,
        }),
    }
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

pub(crate) fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    if getrandom::fill(&mut buf).is_err() {
        // No OS randomness: still unique enough between processes.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
            ^ u128::from(std::process::id());
        for (i, b) in buf.iter_mut().enumerate() {
            *b = (nanos >> ((i % 16) * 8)) as u8;
        }
    }
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

/// A wire selector as the server's options, applied here only (`local`).
pub(crate) fn server_options(opts: &BroadcastOptions, volatile: bool) -> ServerOptions {
    ServerOptions {
        rooms: opts.rooms.iter().map(|r| Room::from(r.as_str())).collect(),
        except: opts.except.iter().map(|r| Room::from(r.as_str())).collect(),
        volatile,
        local: true,
    }
}

/// The server's options as the wire's, with flags for a broadcast.
pub(crate) fn wire_options(opts: &ServerOptions, flags: Option<Flags>) -> BroadcastOptions {
    BroadcastOptions {
        rooms: opts.rooms.iter().map(|r| r.to_string()).collect(),
        except: opts.except.iter().map(|r| r.to_string()).collect(),
        flags,
    }
}

pub(crate) fn bytes_of(v: &redis::Value) -> Option<&[u8]> {
    match v {
        redis::Value::BulkString(b) => Some(b),
        redis::Value::SimpleString(s) => Some(s.as_bytes()),
        _ => None,
    }
}

/// Removes a request's waiter from `waiting` when the request ends (even
/// cancelled).
pub(crate) struct WaitGuard<'a, W> {
    /// The waiters, by request id.
    pub(crate) waiting: &'a Mutex<HashMap<String, W>>,
    /// This request's id.
    pub(crate) id: String,
}

impl<W> Drop for WaitGuard<'_, W> {
    fn drop(&mut self) {
        lock(self.waiting).remove(&self.id);
    }
}

/// What a fetch of the other servers' sockets gives: the sockets they
/// reported, and the failure if not every one of them answered.
pub(crate) type Fetched = (Vec<SocketInfo>, Option<FetchError>);

/// A fetch as `fetch_remote_sockets` answers it: what was received.
pub(crate) fn partial_fetch(
    fetch: impl std::future::Future<Output = Fetched> + Send + 'static,
) -> RemoteSockets {
    Box::pin(async move { fetch.await.0 })
}

/// A fetch as `try_fetch_remote_sockets` answers it: everything, or the
/// failure.
pub(crate) fn complete_fetch(
    fetch: impl std::future::Future<Output = Fetched> + Send + 'static,
) -> TryRemoteSockets {
    Box::pin(async move {
        match fetch.await {
            (found, None) => Ok(found),
            (_, Some(e)) => Err(e),
        }
    })
}
