//! The wire codec, Sans-I/O: bytes in, typed values out, and back. No Redis
//! client and no runtime here.
//!
//! - [`Value`]: JSON plus binary, object keys in insertion order;
//!   [`msgpack`] and [`json`] read and write it as notepack.io 3.x and
//!   `JSON.stringify`/`JSON.parse` do.
//! - [`Channels`] and [`ShardedChannels`]: channel names.
//! - [`BroadcastMessage`], [`Request`], [`Response`]: the classic adapter
//!   and the emitter.
//! - [`ClusterMessage`]: the sharded adapter.

mod channel;
mod classic;
mod cluster;
mod common;
mod error;
pub mod json;
pub mod msgpack;
mod value;

pub use channel::{Channels, ShardedChannels};
pub use classic::{
    decode_json_or_msgpack, BroadcastMessage, Request, RequestType, Response, EMITTER_UID,
};
pub use cluster::{ClusterBody, ClusterMessage, MessageType};
pub use common::{BroadcastOptions, FetchedSocket, Flags, OptionsLayout, Packet, PacketType};
pub use error::DecodeError;
pub use value::{Number, Object, Value};
