//! The chat as a cluster (`socketeer serve --redis URL`): several servers
//! sharing one Redis act as one chat.
//!
//! - **Broadcasts** (messages, notices, typing) go through the classic
//!   Redis adapter (`socketeer_redis::adapter_factory`), so a room's
//!   members on every server get them, once.
//! - **Room counts, presence, a room's members** are computed from
//!   `fetch_sockets` over every server: each socket's adapter rooms give
//!   its chat rooms, its `socket.data` ([`ChatUser`], set on `hello`) its
//!   nickname. A server whose local lists change tells the others with a
//!   server-side emit ([`LISTS_CHANGED`]); each server then sends the
//!   cluster-wide lists to its own clients, and looks again every
//!   [`CLUSTER_REFRESH`] in case a server died.
//! - **History** is a Redis list per room ([`history_key`]): each accepted
//!   message is appended (`RPUSH`), the list cut to the last
//!   [`Limits::history`] messages (`LTRIM`) and its expiry renewed to
//!   [`HISTORY_TTL`], in one `MULTI`; a `join` reads it back (`LRANGE`).
//!
//! Each server still keeps its own [`State`] (its connections, their
//! rooms, the ids of recent messages, a local history): it validates every
//! request, and serves while Redis is away (then lists, members and
//! history are this server's only, and messages stay on this server).

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use serde::{Deserialize, Serialize};
use socketeer::server::{AdapterFactory, BroadcastOperator, SocketInfo};
use socketeer_redis::{adapter_factory, RedisAdapterOptions};

use super::chat::{ChatMessage, Limits, State};

/// The prefix of the adapter rooms of chat rooms (the other adapter rooms
/// are socket ids).
pub const ROOM_PREFIX: &str = "room:";

/// The server-side event telling the other servers that this one's rooms
/// or presence changed.
pub const LISTS_CHANGED: &str = "chat:lists-changed";
/// How often each server looks at the cluster's lists without being told
/// of a change (a server that died told no one).
pub const CLUSTER_REFRESH: Duration = Duration::from_secs(10);
/// Prefix of the Redis keys of the histories (`socketeer:chat:history:ROOM`).
pub const HISTORY_PREFIX: &str = "socketeer:chat:history:";
/// A room's history expires this long after its last message.
pub const HISTORY_TTL: Duration = Duration::from_secs(7 * 24 * 3600);
/// Longest wait for a history command; past it the server goes on without
/// Redis (the message is not kept there, the join gets the local history).
const COMMAND_TIMEOUT: Duration = Duration::from_secs(1);
/// How long a `fetch_sockets` waits for the other servers' answers.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(2);

/// What a socket carries in `socket.data`, seen by every server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatUser {
    /// The nickname given with `hello`.
    pub nickname: String,
}

/// The Redis key of a room's history.
pub fn history_key(room: &str) -> String {
    format!("{HISTORY_PREFIX}{room}")
}

/// The cluster's Redis side: a connection for the histories.
#[derive(Clone)]
pub struct Cluster {
    conn: ConnectionManager,
    limits: Limits,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster").finish_non_exhaustive()
    }
}

/// Why `--redis` could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// Not a Redis URL.
    #[error("bad Redis URL {url:?}: {source}")]
    Url {
        /// The URL given.
        url: String,
        /// What redis-rs said.
        source: redis::RedisError,
    },
    /// No answer.
    #[error("cannot connect to Redis at {url}: {reason}")]
    Unreachable {
        /// The URL given.
        url: String,
        /// The error.
        reason: String,
    },
}

impl Cluster {
    /// Connects to Redis (each connection answers a `PING`, or an error)
    /// and returns the adapter for `SocketIoConfig::adapter` and the
    /// history side.
    pub async fn connect(
        url: &str,
        limits: Limits,
    ) -> Result<(AdapterFactory, Cluster), ConnectError> {
        let client = redis::Client::open(url).map_err(|source| ConnectError::Url {
            url: url.to_owned(),
            source,
        })?;
        let unreachable = |reason: String| ConnectError::Unreachable {
            url: url.to_owned(),
            reason,
        };
        let options = RedisAdapterOptions {
            request_timeout: REQUEST_TIMEOUT,
            ..Default::default()
        };
        let adapter = adapter_factory(client.clone(), options)
            .await
            .map_err(|e| unreachable(e.to_string()))?;
        let config = ConnectionManagerConfig::new()
            .set_number_of_retries(2)
            .set_min_delay(Duration::from_millis(100))
            .set_max_delay(Duration::from_secs(1))
            .set_connection_timeout(Some(COMMAND_TIMEOUT))
            .set_response_timeout(Some(COMMAND_TIMEOUT));
        let mut conn = tokio::time::timeout(
            COMMAND_TIMEOUT * 3,
            client.get_connection_manager_with_config(config),
        )
        .await
        .map_err(|_| unreachable("timed out".into()))?
        .map_err(|e| unreachable(e.to_string()))?;
        let _: String = redis::cmd("PING")
            .query_async(&mut conn)
            .await
            .map_err(|e| unreachable(e.to_string()))?;
        Ok((adapter, Cluster { conn, limits }))
    }

    /// Appends `msg` to its room's history, keeping the last
    /// `limits.history` messages.
    pub async fn push_history(&self, msg: &ChatMessage) -> Result<(), String> {
        let n = self.limits.history;
        if n == 0 {
            return Ok(());
        }
        let key = history_key(&msg.room);
        let json = serde_json::to_string(msg).map_err(|e| e.to_string())?;
        let mut pipe = redis::pipe();
        pipe.atomic()
            .rpush(&key, json)
            .ignore()
            .ltrim(&key, last(n), -1)
            .ignore()
            .expire(
                &key,
                i64::try_from(HISTORY_TTL.as_secs()).unwrap_or(i64::MAX),
            )
            .ignore();
        self.query(|mut conn| {
            let pipe = pipe.clone();
            async move { pipe.query_async::<()>(&mut conn).await }
        })
        .await
    }

    /// The room's last `limits.history` messages, oldest first.
    pub async fn history(&self, room: &str) -> Result<Vec<ChatMessage>, String> {
        let n = self.limits.history;
        if n == 0 {
            return Ok(Vec::new());
        }
        let mut cmd = redis::cmd("LRANGE");
        cmd.arg(history_key(room)).arg(last(n)).arg(-1);
        let raw = self
            .query(|mut conn| {
                let cmd = cmd.clone();
                async move { cmd.query_async::<Vec<String>>(&mut conn).await }
            })
            .await?;
        Ok(raw
            .iter()
            .filter_map(|s| serde_json::from_str(s).ok())
            .collect())
    }

    /// Runs a command within [`COMMAND_TIMEOUT`], once more if the
    /// connection had dropped (the first command after Redis restarted
    /// finds the old connection dead; the manager then reconnects).
    async fn query<T, F, Fut>(&self, run: F) -> Result<T, String>
    where
        F: Fn(ConnectionManager) -> Fut,
        Fut: std::future::Future<Output = redis::RedisResult<T>>,
    {
        let attempts = async {
            match run(self.conn.clone()).await {
                Err(e) if e.is_connection_dropped() || e.is_io_error() => {
                    run(self.conn.clone()).await
                }
                other => other,
            }
        };
        match tokio::time::timeout(COMMAND_TIMEOUT, attempts).await {
            Ok(result) => result.map_err(|e| e.to_string()),
            Err(_) => Err("timed out".into()),
        }
    }

    /// A [`State`] of the sockets `target` reaches on every server: their
    /// nicknames (from `socket.data`) and chat rooms (from their adapter
    /// rooms). Only this server's when Redis does not answer.
    pub async fn snapshot(&self, target: BroadcastOperator) -> State {
        state_of(self.limits, &target.fetch_sockets().await)
    }
}

/// `LTRIM`/`LRANGE`'s start for the last `n` elements.
fn last(n: usize) -> isize {
    -isize::try_from(n).unwrap_or(isize::MAX)
}

/// A [`State`] of these sockets.
pub fn state_of(limits: Limits, sockets: &[SocketInfo]) -> State {
    let mut state = State::new(limits);
    for s in sockets {
        let nickname = s
            .data
            .clone()
            .into_typed::<ChatUser>()
            .ok()
            .map(|u| u.nickname);
        let rooms = s.rooms.iter().filter_map(|r| r.strip_prefix(ROOM_PREFIX));
        state.add_member(&s.id, nickname, rooms);
    }
    state
}

#[cfg(test)]
mod tests {
    use super::*;
    use socketeer::server::Room;
    use socketeer::Value;

    fn info(id: &str, nickname: Option<&str>, rooms: &[&str]) -> SocketInfo {
        SocketInfo {
            id: id.into(),
            rooms: std::iter::once(id)
                .chain(rooms.iter().copied())
                .map(Room::from)
                .collect(),
            local: false,
            handshake: None,
            data: nickname.map_or(Value::Null, |n| {
                Value::from_serialize(&ChatUser { nickname: n.into() }).expect("serialize")
            }),
        }
    }

    #[test]
    fn snapshot_reads_nicknames_and_prefixed_rooms() {
        let sockets = [
            info("a", Some("alice"), &["room:lobby", "room:dev"]),
            info("b", Some("bob"), &["room:lobby"]),
            info("c", Some("alice"), &["room:lobby"]),
            info("anon", None, &[]),
            // An adapter room that is not a chat room is not listed.
            info("d", Some("dan"), &["other"]),
        ];
        let s = state_of(Limits::default(), &sockets);
        let rooms: Vec<(String, usize)> =
            s.rooms().into_iter().map(|r| (r.name, r.count)).collect();
        assert_eq!(rooms, [("dev".into(), 1), ("lobby".into(), 3)]);
        assert_eq!(s.room_members("lobby"), ["alice", "bob"]);
        let p: Vec<String> = s.presence().into_iter().map(|u| u.nickname).collect();
        assert_eq!(p, ["alice", "bob", "dan"]);
        assert_eq!(s.connections(), 5);
    }

    #[test]
    fn history_keys() {
        assert_eq!(history_key("lobby"), "socketeer:chat:history:lobby");
    }
}
