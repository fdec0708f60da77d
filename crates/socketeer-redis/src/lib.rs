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
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod wire;
