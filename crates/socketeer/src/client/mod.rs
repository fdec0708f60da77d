//! The Socket.IO v5 client.

pub mod backoff;
pub mod core;

pub use self::backoff::Backoff;
pub use self::core::{
    AckError, AckToken, Auth, ConnectError, DisconnectReason, EmitError, ManagerConfig,
    SocketOptions,
};
