//! WebSocket (RFC 6455) with permessage-deflate (RFC 7692) for tokio.
//!
//! - [`Protocol`]: the Sans-I/O core. Bytes in, [`Message`]s out; no
//!   sockets, no clock. Frame parsing, masking, UTF-8 validation that
//!   fails fast, fragmentation, ping/pong, the closing handshake, limits.
//! - [`handshake`]: the opening handshake without I/O.
//! - [`payload`]: [`Payload`], a message's text or binary data, the unit
//!   the layers above carry.
//!
//! With the `tokio` feature (on by default; `hyper` and `tls` imply it):
//!
//! - `WebSocketStream`: the tokio driver (a `Stream` + `Sink`, split
//!   into halves, bounded send queue, keepalive, batched vectored writes).
//! - `accept` / `accept_with_config` on any `AsyncRead + AsyncWrite`,
//!   `upgrade::upgrade` on a hyper server (feature `hyper`), `connect` for
//!   clients (`wss://` with feature `tls`).
//!
//! Without default features the crate is the Sans-I/O core alone and
//! depends on no runtime, no hyper and no TLS.
//!
//! ```no_run
//! # #[cfg(feature = "tokio")]
//! # mod example {
//! use socketeer_ws::{accept, Message};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:9001").await?;
//! loop {
//!     let (tcp, _) = listener.accept().await?;
//!     tokio::spawn(async move {
//!         let Ok(mut ws) = accept(tcp).await else { return };
//!         while let Some(Ok(msg)) = ws.recv().await {
//!             if msg.is_data() && ws.feed(msg).await.is_err() {
//!                 break;
//!             }
//!         }
//!     });
//! }
//! # }
//! # }
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

#[cfg(feature = "tokio")]
pub mod client;
pub mod close;
mod close_code;
pub mod core;
pub mod deflate;
#[cfg(feature = "tokio")]
pub mod direct;
#[cfg(feature = "tokio")]
pub mod driver;
pub mod error;
pub mod frame;
pub mod handshake;
#[cfg(feature = "tokio")]
mod io_enum;
#[cfg(feature = "tokio")]
#[macro_use]
mod write_through;
pub mod mask;
pub mod message;
pub mod payload;
#[cfg(feature = "tokio")]
pub mod prefixed;
#[cfg(feature = "tokio")]
pub mod read_ahead;
pub mod role;
#[cfg(feature = "tokio")]
pub mod server;
#[cfg(feature = "hyper")]
pub mod upgrade;
pub mod utf8;

pub use self::core::{CloseState, Fragment, Limits, PreparedFrame, Protocol};
#[cfg(feature = "tokio")]
pub use client::{connect, connect_with_options, ConnectOptions, MaybeTlsStream};
pub use close::{CloseCode, CloseFrame};
pub use deflate::DeflateConfig;
#[cfg(feature = "tokio")]
pub use driver::{Keepalive, StreamConfig, WebSocketStream, WsReader, WsWriter};
pub use error::{Error, ProtocolError, Result};
pub use handshake::{ClientConfig, HandshakeError};
pub use message::{Message, Utf8Bytes};
pub use payload::Payload;
pub use role::Role;
#[cfg(feature = "tokio")]
pub use server::{accept, accept_with_config, ServerConfig, ServerConnection};
