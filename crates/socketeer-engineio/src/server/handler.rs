//! The application's side of a server: [`EngineHandler`] (one handler
//! shared by every session), [`SessionHandler`] (one per session, made by a
//! [`SessionFactory`]) and the adapter that runs the former as the latter.

use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use super::core::CloseReason;
use super::socket::Socket;

/// The application side of an Engine.IO server, shared by every session.
/// Called from the session's task: keep these quick, hand long work to
/// other tasks. For state of its own per session, implement
/// [`SessionFactory`] instead.
pub trait EngineHandler: Send + Sync + 'static {
    /// A session opened.
    fn on_connect(&self, socket: &Socket);
    /// A message arrived.
    fn on_message(&self, socket: &Socket, message: crate::Payload);
    /// The session closed; `socket` can no longer send.
    fn on_disconnect(&self, socket: &Socket, reason: CloseReason);
}

/// The application side of one session, owned by the session's task: it
/// gets the session's messages in order, with `&mut self` (no lock), and
/// may ask for a timer of its own.
pub trait SessionHandler: Send + 'static {
    /// A message arrived.
    fn on_message(&mut self, socket: &Socket, message: crate::Payload);
    /// The session closed; `socket` can no longer send.
    fn on_close(self: Box<Self>, socket: &Socket, reason: CloseReason);
    /// When [`SessionHandler::handle_timeout`] is next due, if ever.
    fn poll_timeout(&self) -> Option<Instant> {
        None
    }
    /// Called once the time from [`SessionHandler::poll_timeout`] has come.
    fn handle_timeout(&mut self, _socket: &Socket, _now: Instant) {}
    /// Polls the handler's own pending work (futures it keeps, such as an
    /// async check before it answers a message), on the session's task.
    /// Return `Ready` when some of it finished, so the session sends what
    /// it queued, and `Pending` otherwise, with `cx`'s waker registered
    /// by what is still pending.
    fn poll_work(&mut self, _socket: &Socket, _cx: &mut Context<'_>) -> Poll<()> {
        Poll::Pending
    }
}

/// Makes the [`SessionHandler`] of each new session.
pub trait SessionFactory: Send + Sync + 'static {
    /// A session opened.
    fn open(&self, socket: &Socket) -> Box<dyn SessionHandler>;
}

/// An [`EngineHandler`] seen as a [`SessionFactory`]: each session
/// forwards to the one shared handler.
pub(crate) struct Stateless(pub(crate) Arc<dyn EngineHandler>);

struct StatelessSession(Arc<dyn EngineHandler>);

impl SessionFactory for Stateless {
    fn open(&self, socket: &Socket) -> Box<dyn SessionHandler> {
        self.0.on_connect(socket);
        Box::new(StatelessSession(self.0.clone()))
    }
}

impl SessionHandler for StatelessSession {
    fn on_message(&mut self, socket: &Socket, message: crate::Payload) {
        self.0.on_message(socket, message);
    }

    fn on_close(self: Box<Self>, socket: &Socket, reason: CloseReason) {
        self.0.on_disconnect(socket, reason);
    }
}
