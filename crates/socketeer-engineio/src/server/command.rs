//! The requests of the HTTP side (`http.rs`) to a session's task
//! (`driver.rs`), and the queue in the session ([`Socket`](super::Socket))
//! that carries them.

use http::Response;
use socketeer_ws::upgrade::HyperWebSocket;
use tokio::sync::oneshot;

use super::core::CloseReason;
use super::response::Body;
use crate::Packet;

/// Requests from the HTTP side to a session's task.
pub(crate) enum Command {
    /// A long-polling GET, answered when there is something to send.
    Poll(oneshot::Sender<Response<Body>>),
    /// The packets of a long-polling POST, answered `ok` once handled.
    Post(Vec<Packet>, oneshot::Sender<Response<Body>>),
    /// The HTTP side found the session broken.
    Fail(CloseReason),
    /// A WebSocket that wants to upgrade this session.
    Upgrade(Box<HyperWebSocket>),
}

/// Requests from the HTTP side to a session's task, in arrival order.
/// Kept in the session itself (woken through its `Notify`) rather than a
/// channel, whose first block of slots would cost every idle session
/// over a kilobyte.
#[derive(Default)]
pub(crate) struct Commands {
    queue: std::collections::VecDeque<Command>,
    closed: bool,
}

impl std::fmt::Debug for Commands {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Commands")
            .field("queued", &self.queue.len())
            .field("closed", &self.closed)
            .finish()
    }
}

impl Commands {
    /// Queues a command; gives it back once the session has ended.
    pub(crate) fn push(&mut self, cmd: Command) -> Result<(), Command> {
        if self.closed {
            return Err(cmd);
        }
        self.queue.push_back(cmd);
        Ok(())
    }

    pub(crate) fn pop(&mut self) -> Option<Command> {
        self.queue.pop_front()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Refuses further commands; returns those still queued.
    pub(crate) fn close(&mut self) -> std::collections::VecDeque<Command> {
        self.closed = true;
        std::mem::take(&mut self.queue)
    }
}
