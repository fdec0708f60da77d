//! Socket.IO v5 packets, Sans-I/O: a codec wire-compatible with the
//! official `socket.io-parser` v4, including binary attachments.
//!
//! ```
//! use bytes::Bytes;
//! use socketeer::packet::{Decoder, Packet, PacketType};
//! use socketeer::Value;
//!
//! // Decode what a client sends, one Engine.IO message at a time.
//! let mut decoder = Decoder::new();
//! let p = decoder.decode_str(r#"0/custom,{"token":"123"}"#)?.unwrap();
//! assert_eq!((p.kind, &*p.nsp), (PacketType::Connect, "/custom"));
//! assert_eq!(p.data.as_ref().and_then(|d| d.get("token")).and_then(Value::as_str), Some("123"));
//!
//! // Encode an event with a binary argument: placeholders + attachments.
//! let event = Packet::event("/", "hello", vec![Value::Binary(Bytes::from_static(&[1, 2, 3]))]);
//! let encoded = event.encode_message()?;
//! assert_eq!(encoded.text, r#"451-["hello",{"_placeholder":true,"num":0}]"#);
//! assert_eq!(encoded.attachments, [Bytes::from_static(&[1, 2, 3])]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! - [`packet`]: [`Packet`](packet::Packet), the [`Decoder`](packet::Decoder)
//!   (binary reconstruction, attachment bound, validation), encoding to
//!   text or to Engine.IO messages ready to broadcast
//!   ([`EncodedMessage`](packet::EncodedMessage)).
//! - [`Value`]: JSON in which any value may be binary ([`Value::Binary`]).
//! - [`client`]: the Socket.IO client ([`ClientBuilder`], [`Manager`]),
//!   with reconnection, on a Sans-I/O core.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod packet;
mod value;

pub use value::{Map, Value};
pub mod client;
pub use client::{ClientBuilder, Manager};
pub mod server;
