//! The Engine.IO v4 server: HTTP long-polling, WebSocket, the upgrade
//! between them, heartbeats, CORS and the official error responses.
//!
//! [`EngineIo::handle`] answers one HTTP request (mount it in hyper, axum
//! or tower); [`EngineIo::serve`] runs the server's own accept loop
//! ([`serve_http`]: plain requests answered by socketeer, upgrades by
//! hyper). Each session
//! is driven by one task around the Sans-I/O [`core::SessionCore`].

mod accept;
mod admission;
mod body;
mod command;
mod compression;
mod config;
mod connection;
mod cookie;
pub mod core;
mod cors;
mod direct;
mod driver;
mod engine;
mod events;
mod h1;
mod handler;
mod hooks;
mod http;
pub mod metrics;
mod outbox;
mod rate;
mod response;
mod serve;
mod service;
mod socket;
mod stats;
#[cfg(feature = "tls")]
mod tls;
mod ws_io;

pub use self::core::{CloseReason, TransportKind};
pub use body::RequestBody;
pub use compression::{HttpCompression, DEFAULT_HTTP_COMPRESSION_THRESHOLD};
pub use config::{per_message_deflate, EngineIoConfig, PER_MESSAGE_DEFLATE_THRESHOLD};
pub use cookie::{CookieOptions, SameSite};
pub use cors::{AllowOrigin, Cors};
pub use direct::{batch_writes, BatchedWrites};
pub use engine::EngineIo;
pub use handler::{EngineHandler, SessionFactory, SessionHandler};
pub use hooks::{
    AllowFuture, AllowRequest, AllowRequestAsync, ConnectionError, ConnectionErrorHook, HeadersHook,
};
pub use rate::InboundRate;
pub use response::{error, Body, EngineError};
pub use serve::{serve_http, serve_http_with, HttpOptions, DEFAULT_MAX_HEADER_BYTES};
pub use socket::{RequestInfo, SendError, Socket};
pub use stats::EngineStats;
#[cfg(feature = "tls")]
pub use tls::{ReloadableCert, TlsError, ALPN_HTTP_1_1};
