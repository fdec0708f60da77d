//! The Socket.IO v5 client, modelled on `socket.io-client`: a [`Manager`]
//! holds one Engine.IO connection (reconnecting with exponential backoff)
//! and multiplexes the [`Socket`]s of several namespaces over it.
//!
//! ```
//! use std::time::Duration;
//! use serde_json::json;
//! use socketeer::client::{ClientBuilder, Manager, ManagerOptions, SocketOptions};
//! use socketeer::server::SocketIo;
//! use socketeer::Value;
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! # let io = SocketIo::new(Default::default());
//! # use socketeer::server::{AckSender, Args, Socket};
//! # io.on_connection(|s: Socket| {
//! #     s.on("hello", |s: Socket, Args(args): Args, ack: Option<AckSender>| {
//! #         if let Some(ack) = ack { let _ = ack.send(args); }
//! #         else { let _ = s.emit("hello", args); }
//! #     });
//! # });
//! # io.of("/admin");
//! # let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
//! # let url = format!("http://{}", listener.local_addr().unwrap());
//! # tokio::spawn(io.serve(listener));
//! // One namespace, in one expression: resolves once joined.
//! let socket = ClientBuilder::new(&url)
//!     .auth(json!({ "token": "abc" }))
//!     .reconnection_delay(Duration::from_millis(500))
//!     .on("hello", |_socket, args, _ack| println!("server says {args:?}"))
//!     .connect()
//!     .await?;
//! socket.emit("hello", vec![Value::from("world")])?;
//!
//! // Acknowledgements are futures.
//! let answer = socket
//!     .emit_with_ack("hello", vec![Value::from(1)])
//!     .timeout(Duration::from_secs(5))
//!     .await?;
//! assert_eq!(answer, [Value::from(1)]);
//!
//! // Several namespaces over one connection.
//! let manager = Manager::new(&url, ManagerOptions::default());
//! let admin = manager.socket("/admin", SocketOptions::with_auth(json!({ "role": "admin" })));
//! admin.on_connect(|s| println!("joined /admin as {:?}", s.id()));
//! admin.on_disconnect(|_, reason| println!("left /admin: {reason}"));
//! admin.connect();
//! let main = manager.socket("/", SocketOptions::default());
//! main.on_any(|_, event, args, _| println!("{event}: {args:?}"));
//! main.connect();
//! # let t = tokio::time::Instant::now();
//! # while !(admin.connected() && main.connected()) && t.elapsed() < Duration::from_secs(10) {
//! #     tokio::time::sleep(Duration::from_millis(10)).await;
//! # }
//! # assert!(admin.connected() && main.connected());
//! manager.close();
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```
//!
//! - Handlers ([`ListenerId`] names each to remove it): [`Socket::on`]
//!   (several per event, in order), [`Socket::once`], [`Socket::off`],
//!   [`Socket::off_listener`], [`Socket::on_any`], [`Socket::prepend_any`],
//!   [`Socket::off_any`], [`Socket::on_any_outgoing`],
//!   [`Socket::prepend_any_outgoing`], [`Socket::off_any_outgoing`],
//!   [`Socket::on_connect`], [`Socket::on_disconnect`] (with a
//!   [`DisconnectReason`]), [`Socket::on_connect_error`] (and their
//!   `once_*`); on the manager (socket.io-client's Manager events)
//!   [`Manager::on_open`], [`Manager::on_close`], [`Manager::on_ping`],
//!   [`Manager::on_error`], [`Manager::on_reconnect_attempt`],
//!   [`Manager::on_reconnect`], [`Manager::on_reconnect_error`],
//!   [`Manager::on_reconnect_failed`], each with its `once_*`, removed
//!   with [`Manager::off_listener`].
//! - [`io`] / [`ClientBuilder::new`]: the namespace is the URL's path, and
//!   the sockets of one server share one [`Manager`] unless
//!   [`ClientBuilder::force_new`].
//! - Emitting: [`Socket::emit`], [`Socket::emit_volatile`],
//!   [`Socket::emit_with_ack`] (an [`AckRequest`] future), serde-typed
//!   variants. While disconnected, packets are buffered (bounded) and sent
//!   in order on reconnection; volatile ones are dropped. With
//!   [`SocketOptions::retries`] every packet is sent until acknowledged.
//! - Reconnection as socket.io-client: delays from [`Backoff`], namespaces
//!   joined again, the auth payload ([`Auth::Dynamic`]: a closure,
//!   [`Auth::Async`]: a future) asked anew, connection state recovery (`pid` and offset) when the server
//!   offers it ([`Socket::recovered`]). A server-side disconnect ("io
//!   server disconnect") is not followed by a reconnection.
//! - [`core`]: the Sans-I/O state machine underneath, usable without tokio.

mod ack_request;
pub mod backoff;
mod builder;
mod cache;
pub mod core;
mod driver;
mod listen;
mod listeners;
mod manager;
mod shared;
mod socket;
mod url;

pub use self::ack_request::AckRequest;
pub use self::backoff::Backoff;
pub use self::builder::{io, ClientBuilder};
pub use self::core::{
    AckError, AckToken, AsyncAuth, Auth, AuthFuture, ConnectError, DisconnectReason, EmitError,
    ManagerConfig, SocketOptions,
};
pub use self::listeners::ListenerId;
pub use self::manager::{Manager, ManagerOptions};
pub use self::shared::{AckSender, AnyHandler, EventHandler, OutgoingHandler, Socket};
pub use socketeer_engineio::client::Transports;
