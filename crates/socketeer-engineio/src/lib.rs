//! Engine.IO v4 packet codecs, Sans-I/O: no sockets, no clock, no runtime.
//!
//! ```
//! use bytes::Bytes;
//! use socketeer_engineio::{payload, Limits, Packet, Payload, Utf8Bytes};
//!
//! let limits = Limits::default();
//!
//! // WebSocket: one packet per frame.
//! let ping = Packet::decode(Payload::Text(Utf8Bytes::from_static("2probe")), &limits)?;
//! assert_eq!(ping, Packet::Ping(Some(Utf8Bytes::from_static("probe"))));
//! assert_eq!(Packet::Pong(Some("probe".into())).encode(), Payload::Text("3probe".into()));
//!
//! // Long-polling: packets joined by 0x1E, binary as "b" + base64.
//! let body = Bytes::from_static("4hello\x1ebAQIDBA==".as_bytes());
//! let packets = payload::decode(body, &limits)?;
//! assert_eq!(packets, [Packet::text("hello"), Packet::binary(vec![1, 2, 3, 4])]);
//! # Ok::<(), socketeer_engineio::DecodeError>(())
//! ```
//!
//! - [`packet`]: [`Packet`], its WebSocket encoding ([`Payload`]), typed
//!   [`DecodeError`]s and decoding [`Limits`].
//! - [`payload`]: HTTP long-polling payloads.
//! - [`Utf8Bytes`]: text in shared [`bytes::Bytes`]; received text is sliced,
//!   never copied.
//!
//! - [`server`]: the session core [`server::core::SessionCore`] and,
//!   with the `server` feature (default), the tokio + hyper server.
//! - [`client`]: the session core [`client::core::ClientSession`] and,
//!   with the `client` feature (default), the tokio client.
//!
//! - [`id`]: unguessable session ids; [`sync`]: poison-tolerant locking;
//!   [`query`]: query strings read as Node reads them.
//!
//! Without default features the crate is Sans-I/O only: no tokio, hyper
//! or rustls.
//!
//! Encode a packet once into a [`Payload`] and the same bytes serve every
//! recipient: as a WebSocket frame, or through
//! [`payload::PayloadBuilder::push_frame`] on long-polling.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod id;
pub mod packet;
pub mod payload;
pub mod query;
pub mod sync;

pub use packet::{DecodeError, Limits, OpenPacket, Packet, PacketType};
pub use socketeer_ws::{Payload, PreparedFrame, Utf8Bytes};
pub mod client;
#[cfg(feature = "server")]
pub mod server;
/// The Engine.IO server. Without the `server` feature only its Sans-I/O
/// session core is here.
#[cfg(not(feature = "server"))]
pub mod server {
    pub mod core;
}
