//! One client connection (an Engine.IO session) seen from Socket.IO: the
//! Sans-I/O [`ConnectionCore`] and the driver that runs it on the
//! session's task.

mod core;
pub(crate) mod driver;
#[cfg(test)]
mod tests;

pub use self::core::{ConnectionCore, ConnectionError, Incoming, NamespaceSocket, Transmit};
