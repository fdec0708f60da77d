//! [`Emitter`]: publish into a Socket.IO cluster from a process that is not
//! a Socket.IO server (a job worker), exactly as `@socket.io/redis-emitter`
//! does: the same channels, the same bytes, uid `emitter`.

use redis::aio::ConnectionLike;

use crate::wire::{
    BroadcastMessage, BroadcastOptions, Channels, Flags, Packet, Request, Value, EMITTER_UID,
};

/// Event names a Socket.IO client reserves; [`Emitter::emit`] refuses them,
/// as the Node emitter does.
pub const RESERVED_EVENTS: [&str; 6] = [
    "connect",
    "connect_error",
    "disconnect",
    "disconnecting",
    "newListener",
    "removeListener",
];

/// The emitter's options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmitterOptions {
    /// The channel prefix: the adapter's `key` (default `socket.io`).
    pub key: String,
}

impl Default for EmitterOptions {
    fn default() -> Self {
        EmitterOptions {
            key: "socket.io".into(),
        }
    }
}

/// Why a publication failed.
#[derive(Debug, thiserror::Error)]
pub enum EmitError {
    /// The event name is one of [`RESERVED_EVENTS`].
    #[error("\"{0}\" is a reserved event name")]
    ReservedEvent(String),
    /// The arguments could not be converted to [`Value`]s.
    #[error("arguments: {0}")]
    Serialize(#[from] serde_json::Error),
    /// [`Emitter::emit_serialized`] was given arguments that are not a
    /// sequence (a tuple, a `Vec`, a slice) nor `()`.
    #[error("event arguments must serialize to a JSON array")]
    ArgsNotSequence,
    /// Redis refused or the connection failed.
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
}

/// Publishes broadcasts and requests to the Socket.IO servers of a cluster
/// that use `@socket.io/redis-adapter` (the classic adapter, `createAdapter`).
///
/// An `Emitter` is a cheap value: [`Emitter::of`], [`Emitter::to`],
/// [`Emitter::except`], [`Emitter::volatile`] and [`Emitter::compress`]
/// each return a new one with that target or flag, like the Node
/// emitter's `BroadcastOperator`. `C` is any redis-rs async connection
/// that can be cloned: a `MultiplexedConnection` or a `ConnectionManager`
/// (which reconnects by itself).
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use socketeer_redis::{Emitter, EmitterOptions};
/// use socketeer_redis::wire::Value;
///
/// let client = redis::Client::open("redis://127.0.0.1:6379")?;
/// let conn = client.get_multiplexed_async_connection().await?;
/// let emitter = Emitter::new(conn, EmitterOptions::default());
/// emitter.to("room1").emit("news", vec![Value::from("hello")]).await?;
/// emitter.of("/admin").emit_serialized("stats", &(1, "two")).await?;
/// emitter.to("room1").sockets_join(["room2"]).await?;
/// emitter.server_side_emit("reload", vec![]).await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Emitter<C> {
    conn: C,
    key: String,
    channels: Channels,
    rooms: Vec<String>,
    except: Vec<String>,
    flags: Flags,
}

impl<C> std::fmt::Debug for Emitter<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Emitter")
            .field("key", &self.key)
            .field("nsp", &self.channels.nsp())
            .field("rooms", &self.rooms)
            .field("except", &self.except)
            .field("flags", &self.flags)
            .finish_non_exhaustive()
    }
}

fn add_unique(list: &mut Vec<String>, rooms: impl IntoIterator<Item = impl Into<String>>) {
    for r in rooms {
        let r = r.into();
        if !list.contains(&r) {
            list.push(r);
        }
    }
}

impl<C: ConnectionLike + Clone + Send> Emitter<C> {
    /// An emitter for the main namespace (`/`).
    pub fn new(conn: C, options: EmitterOptions) -> Self {
        Emitter {
            channels: Channels::new(options.key.clone(), "/"),
            conn,
            key: options.key,
            rooms: Vec::new(),
            except: Vec::new(),
            flags: Flags::default(),
        }
    }

    /// An emitter for namespace `nsp` (a leading `/` is added if missing),
    /// with no rooms, exceptions or flags.
    pub fn of(&self, nsp: &str) -> Self {
        let nsp = if nsp.starts_with('/') {
            nsp.to_owned()
        } else {
            format!("/{nsp}")
        };
        Emitter {
            conn: self.conn.clone(),
            channels: Channels::new(self.key.clone(), nsp),
            key: self.key.clone(),
            rooms: Vec::new(),
            except: Vec::new(),
            flags: Flags::default(),
        }
    }

    /// Also targets `room`.
    pub fn to(&self, room: impl Into<String>) -> Self {
        self.to_rooms([room])
    }

    /// Also targets each of `rooms`.
    pub fn to_rooms(&self, rooms: impl IntoIterator<Item = impl Into<String>>) -> Self {
        let mut e = self.clone();
        add_unique(&mut e.rooms, rooms);
        e
    }

    /// Excludes the sockets in `room`.
    pub fn except(&self, room: impl Into<String>) -> Self {
        self.except_rooms([room])
    }

    /// Excludes the sockets in each of `rooms`.
    pub fn except_rooms(&self, rooms: impl IntoIterator<Item = impl Into<String>>) -> Self {
        let mut e = self.clone();
        add_unique(&mut e.except, rooms);
        e
    }

    /// The event may be lost if a client is not ready to receive it.
    pub fn volatile(&self) -> Self {
        let mut e = self.clone();
        e.flags.volatile = Some(true);
        e
    }

    /// Sets the `compress` flag.
    pub fn compress(&self, compress: bool) -> Self {
        let mut e = self.clone();
        e.flags.compress = Some(compress);
        e
    }

    /// The broadcast message [`Emitter::emit`] publishes, and its channel.
    pub fn broadcast_message(
        &self,
        event: &str,
        args: Vec<Value>,
    ) -> Result<(String, BroadcastMessage), EmitError> {
        if RESERVED_EVENTS.contains(&event) {
            return Err(EmitError::ReservedEvent(event.to_owned()));
        }
        let msg = BroadcastMessage {
            uid: EMITTER_UID.to_owned(),
            packet: Packet::event(self.channels.nsp(), event, args),
            opts: BroadcastOptions {
                rooms: self.rooms.clone(),
                except: self.except.clone(),
                flags: Some(self.flags.clone()),
            },
        };
        Ok((self.channels.for_rooms(&self.rooms), msg))
    }

    /// Emits `event` with `args` to the targeted clients of every server.
    pub async fn emit(&self, event: &str, args: Vec<Value>) -> Result<(), EmitError> {
        let (channel, msg) = self.broadcast_message(event, args)?;
        self.publish(&channel, msg.encode()).await
    }

    /// Emits `event` with typed arguments, read as every `*_serialized`
    /// emit of socketeer reads them: `args` is the argument list, a tuple
    /// whose elements become the arguments (`&(a, b)` sends two, `&(a,)`
    /// one, `&()` none; a `Vec` or a slice spreads the same way); any
    /// other value fails with [`EmitError::ArgsNotSequence`]. Object keys
    /// come out sorted (see [`Value::from_serialize`]); for binary, build
    /// [`Value`]s and use [`Emitter::emit`].
    pub async fn emit_serialized<T: serde::Serialize + ?Sized>(
        &self,
        event: &str,
        args: &T,
    ) -> Result<(), EmitError> {
        self.emit(event, args_from_serialize(args)?).await
    }

    /// The lenient form of [`Emitter::emit_serialized`], kept for the
    /// code that uses it: a tuple or a sequence gives one argument per
    /// element, anything else (`()` included) one argument.
    pub async fn emit_serialize<T: serde::Serialize + ?Sized>(
        &self,
        event: &str,
        args: &T,
    ) -> Result<(), EmitError> {
        let args = match Value::from_serialize(args)? {
            Value::Array(a) => a,
            v => vec![v],
        };
        self.emit(event, args).await
    }

    /// Makes the targeted sockets join `rooms`.
    pub async fn sockets_join(
        &self,
        rooms: impl IntoIterator<Item = impl Into<String>>,
    ) -> Result<(), EmitError> {
        let req = Request::RemoteJoin {
            uid: None,
            opts: self.selector(),
            rooms: rooms.into_iter().map(Into::into).collect(),
        };
        self.publish(&self.channels.request(), req.encode()).await
    }

    /// Makes the targeted sockets leave `rooms`.
    pub async fn sockets_leave(
        &self,
        rooms: impl IntoIterator<Item = impl Into<String>>,
    ) -> Result<(), EmitError> {
        let req = Request::RemoteLeave {
            uid: None,
            opts: self.selector(),
            rooms: rooms.into_iter().map(Into::into).collect(),
        };
        self.publish(&self.channels.request(), req.encode()).await
    }

    /// Disconnects the targeted sockets; `close` also closes their
    /// underlying connections.
    pub async fn disconnect_sockets(&self, close: bool) -> Result<(), EmitError> {
        let req = Request::RemoteDisconnect {
            uid: None,
            opts: self.selector(),
            close,
        };
        self.publish(&self.channels.request(), req.encode()).await
    }

    /// Emits `event` with `args` to the servers of the namespace (their
    /// `io.on(event)` handlers). Rooms and flags do not apply, and there is
    /// no acknowledgement (the Node emitter has none either). Sent as JSON:
    /// a binary argument arrives as Node's `{"type":"Buffer","data":[...]}`.
    pub async fn server_side_emit(&self, event: &str, args: Vec<Value>) -> Result<(), EmitError> {
        let mut data = Vec::with_capacity(args.len() + 1);
        data.push(Value::from(event));
        data.extend(args);
        let req = Request::ServerSideEmit {
            uid: Some(EMITTER_UID.to_owned()),
            request_id: None,
            data,
        };
        self.publish(&self.channels.request(), req.encode()).await
    }

    fn selector(&self) -> BroadcastOptions {
        BroadcastOptions {
            rooms: self.rooms.clone(),
            except: self.except.clone(),
            flags: None,
        }
    }

    async fn publish(&self, channel: &str, payload: Vec<u8>) -> Result<(), EmitError> {
        let mut conn = self.conn.clone();
        let receivers: i64 = redis::cmd("PUBLISH")
            .arg(channel)
            .arg(payload)
            .query_async(&mut conn)
            .await?;
        tracing::trace!(channel, receivers, "published");
        Ok(())
    }
}

/// The arguments of [`Emitter::emit_serialized`]: the elements of a
/// sequence, none for `()`.
fn args_from_serialize<T: serde::Serialize + ?Sized>(args: &T) -> Result<Vec<Value>, EmitError> {
    match Value::from_serialize(args)? {
        Value::Array(a) => Ok(a),
        Value::Null => Ok(Vec::new()),
        _ => Err(EmitError::ArgsNotSequence),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serialized_arguments_spread_a_tuple() {
        let args = args_from_serialize(&("a", 1, [true])).unwrap();
        assert_eq!(
            args,
            [
                Value::from("a"),
                Value::from(1),
                Value::Array(vec![Value::Bool(true)])
            ]
        );
        assert!(args_from_serialize(&()).unwrap().is_empty());
        assert_eq!(
            args_from_serialize(&(serde_json::json!({"k": 1}),))
                .unwrap()
                .len(),
            1
        );
        assert!(matches!(
            args_from_serialize("not a list"),
            Err(EmitError::ArgsNotSequence)
        ));
    }
}
