//! Engine.IO v4 client: HTTP long-polling and WebSocket transports, the
//! upgrade from one to the other, and the heartbeat watchdog, over tokio
//! (TLS with rustls).
//!
//! ```no_run
//! use socketeer_engineio::client::{connect, ClientOptions, Event, Transports};
//!
//! # async fn run() -> Result<(), socketeer_engineio::client::Error> {
//! let mut options = ClientOptions::new("http://127.0.0.1:3000");
//! options.transports = Transports::Both; // polling first, then upgrade (the default)
//! let (client, mut events) = connect(options).await?;
//! println!("session {} on {}", client.sid(), client.transport().as_str());
//! client.send_text("hello").ok();
//! while let Some(event) = events.next().await {
//!     match event {
//!         Event::Message(text) => println!("text: {text}"),
//!         Event::Binary(data) => println!("{} bytes", data.len()),
//!         Event::Upgraded => println!("now on websocket"),
//!         Event::Closed(reason) => println!("closed: {reason}"),
//!         _ => {}
//!     }
//! }
//! # Ok(()) }
//! ```
//!
//! [`connect`] performs the handshake and returns two halves:
//! - [`EngineClient`], a cheap cloneable sender handle: messages are queued
//!   in order without waiting ([`EngineClient::send`]), the session's
//!   handshake data is at hand ([`EngineClient::sid`],
//!   [`EngineClient::handshake`]), and [`EngineClient::close`] closes.
//! - [`EngineEvents`], the receiver of [`Event`]s in order: messages,
//!   [`Event::Upgraded`] and finally one [`Event::Closed`] with the reason
//!   engine.io-client would give; after it, [`EngineEvents::next`] returns
//!   `None`.
//!
//! The protocol logic lives in the Sans-I/O [`core::ClientSession`];
//! the task spawned by [`connect`] only moves bytes and keeps time.
//!
//! Ending: the session ends on [`EngineClient::close`], when every
//! [`EngineClient`] handle is dropped (as a close), on a `close` packet or a
//! transport failure from the server, and when no ping arrives within
//! `pingInterval + pingTimeout`. Dropping [`EngineEvents`] does not end it
//! (events are then discarded). Events not taken apply backpressure: the
//! task stops reading the network (and so answering pings) while
//! [`ClientOptions::event_buffer`] events wait.

mod cookies;
pub mod core;
#[cfg(feature = "client")]
mod driver;
#[cfg(feature = "client")]
mod handle;
#[cfg(feature = "client")]
mod polling;
mod types;

pub use crate::server::core::TransportKind;
pub use cookies::CookieJar;
#[cfg(feature = "client")]
pub use driver::connect;
#[cfg(feature = "client")]
pub use handle::{ClientOptions, EngineClient, EngineEvents, Error, DEFAULT_PATH};
pub use types::{CloseReason, Event, SendError, Transports};
