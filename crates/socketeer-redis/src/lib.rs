//! Redis for socketeer: the wire protocol of `@socket.io/redis-adapter`
//! 8.x and `@socket.io/redis-emitter`, so that socketeer can join a Node
//! Socket.IO cluster and publish into it from a job worker.
//!
//! ```
//! use socketeer_redis::wire::{BroadcastMessage, BroadcastOptions, Channels, Flags, Packet, Value};
//!
//! let msg = BroadcastMessage {
//!     uid: "emitter".into(),
//!     packet: Packet::event("/", "hello", vec![Value::from("world"), Value::from(vec![1u8, 2, 3])]),
//!     opts: BroadcastOptions { rooms: vec!["room1".into()], except: vec![], flags: Some(Flags::default()) },
//! };
//! let channel = Channels::new("socket.io", "/").for_rooms(&msg.opts.rooms);
//! assert_eq!(channel, "socket.io#/#room1#");
//! let bytes = msg.encode();
//! assert_eq!(BroadcastMessage::decode(&bytes).unwrap(), msg);
//! ```
//!
//! - [`wire`]: the codec, Sans-I/O (no Redis client, no runtime): every
//!   message the classic adapter (`createAdapter`), the sharded adapter
//!   (`createShardedAdapter`) and the emitter publish, typed, decoded and
//!   re-encoded byte for byte as Node writes them. Its tests decode and
//!   re-encode frames recorded from the Node packages
//!   (`tests/node/capture.mjs`, `tests/data/`).
//! - [`Emitter`]: publishes into a cluster what `@socket.io/redis-emitter`
//!   publishes, from any process.
//! - [`RedisAdapter`] ([`adapter_factory`]): the server's adapter over
//!   Redis, wire-compatible with `@socket.io/redis-adapter` 8.x
//!   `createAdapter`, so socketeer and Node servers share rooms,
//!   broadcasts, `fetch_sockets`, `sockets_join`/`sockets_leave`,
//!   `disconnect_sockets`, server-side emits (with or without
//!   acknowledgements) and broadcasts with acknowledgements
//!   (`emit_with_ack_everywhere`).
//! - [`ShardedAdapter`] ([`sharded_adapter_factory`] on a Redis Cluster,
//!   [`sharded_adapter_factory_standalone`] on one standalone Redis 7): the
//!   same over Redis 7 sharded pub/sub, wire-compatible with
//!   `createShardedAdapter` (its `subscriptionMode`s static, dynamic and
//!   dynamic-private), through redis-rs's async cluster connection or its
//!   `ConnectionManager`.
//! - [`convert`]: the server's values to the wire's and back.
//!
//! # Why redis-rs
//!
//! The Redis client is [`redis`] (redis-rs), not `fred`. Both are
//! maintained async clients with RESP3 and cluster support, and both can
//! restore subscriptions after a reconnection: redis-rs's
//! `ConnectionManager` re-issues its channel and pattern subscriptions when
//! built with `set_automatic_resubscription` (on a RESP3 connection, with
//! messages delivered to a push sender), and its async cluster connection
//! tracks `SUBSCRIBE`, `PSUBSCRIBE` and `SSUBSCRIBE` (sharded pub/sub, what
//! the sharded adapter needs) and subscribes again each time it recovers
//! its connections (also RESP3 only; in 1.1 as one `SSUBSCRIBE` for all
//! shard channels, refused when they span slots, so the sharded adapter
//! restores its own); `fred`'s `SubscriberClient`
//! (`manage_subscriptions`) does the same for channels, patterns and shard
//! channels, grouped by hash slot, on RESP2 as well. redis-rs wins on
//! what this crate weighs most: its release line is active (`cargo info`
//! lists 1.0.5 through 1.8.2 and a 2.0.0 release candidate, against
//! `fred` 10.1.0), the same crate covers a single server, the reconnecting
//! manager and Redis Cluster with sharded pub/sub, and its features can be
//! cut down to what is used (`default-features = false`, `tokio-comp`,
//! `connection-manager`, and `cluster-async` for the sharded adapter).
//! Its cost: pub/sub through the reconnecting
//! types needs RESP3 (Redis 6+; the sharded adapter already needs Redis 7),
//! and a RESP2 `PubSub` connection does not resubscribe. The classic adapter
//! therefore subscribes over RESP3 (whatever protocol the given client
//! names; so it needs Redis 6 or later) through a `ConnectionManager` with
//! automatic resubscription, and publishes through a second one. The
//! crate pins `redis ~1.1`: 1.2 and later need Rust 1.88, above the
//! workspace's `rust-version` (1.85). The emitter only publishes, so it
//! takes any cloneable redis-rs async connection (`MultiplexedConnection`,
//! `ConnectionManager`). The sharded adapter takes a RESP3
//! `redis::cluster::ClusterClient` ([`ShardedAdapter`] says why that
//! connection and not one per shard node), or a `redis::Client` for one
//! standalone Redis 7 (through two `ConnectionManager`s, the subscriber
//! over RESP3, restoring its shard subscriptions itself).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod adapter;
mod common;
pub mod convert;
mod emitter;
mod publish;
mod sharded;
pub mod wire;

pub use adapter::{adapter_factory, RedisAdapter, RedisAdapterOptions};
pub use common::AdapterError;
pub use emitter::{EmitError, Emitter, EmitterOptions, RESERVED_EVENTS};
pub use sharded::{
    sharded_adapter_factory, sharded_adapter_factory_standalone, ShardedAdapter,
    ShardedAdapterOptions, SubscriptionMode,
};
