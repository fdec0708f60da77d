//! The requests of the HTTP side (`http.rs`) to a session's task
//! (`driver.rs`), and the queue in the session ([`Socket`](super::Socket))
//! that carries them.

use socketeer_ws::upgrade::HyperWebSocket;
use tokio::sync::oneshot;

use super::core::CloseReason;
use super::response::Reply;
use crate::Packet;

/// Requests from the HTTP side to a session's task.
pub(crate) enum Command {
    /// A long-polling GET, answered when there is something to send.
    Poll(PollReply),
    /// The packets of a long-polling POST, answered `ok` once handled.
    Post(Vec<Packet>, oneshot::Sender<Reply>),
    /// The HTTP side found the session broken.
    Fail(CloseReason),
    /// A WebSocket that wants to upgrade this session.
    Upgrade(Box<HyperWebSocket>),
}

/// A long-poll's answer, once the session has something to send.
pub(crate) type PollReply = oneshot::Sender<Reply>;

/// Requests from the HTTP side to a session's task, in arrival order.
/// Kept in the session itself (woken through its `Notify`) rather than a
/// channel, whose first block of slots would cost every idle session
/// over a kilobyte.
///
/// A long-poll that finds the task with nothing to say about it
/// (`parkable`: no poll waiting in the task, no ping, upgrade or close
/// under way, no command queued) is queued without waking the task: the
/// task takes it when something to send wakes it. An idle long-polling
/// client then costs the task one wake-up per message instead of two.
#[derive(Default)]
pub(crate) struct Commands {
    /// A `Vec`, not a deque: a session has a handful of commands queued at
    /// most (one per HTTP request in flight), and a deque's extra word is
    /// in every session's state (`per_session_state_stays_small`).
    queue: Vec<Command>,
    closed: bool,
    /// Set by the session's task; see above.
    parkable: bool,
}

/// Where [`Commands::offer_poll`] put a long-poll.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Offered {
    /// Queued; the task need not be woken for it.
    Parked,
    /// Queued; the task must be woken.
    Queued,
}

impl std::fmt::Debug for Commands {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Commands")
            .field("queued", &self.queue.len())
            .field("closed", &self.closed)
            .field("parkable", &self.parkable)
            .finish()
    }
}

impl Commands {
    /// Queues a command; gives it back once the session has ended.
    pub(crate) fn push(&mut self, cmd: Command) -> Result<(), Command> {
        if self.closed {
            return Err(cmd);
        }
        self.queue.push(cmd);
        Ok(())
    }

    pub(crate) fn pop(&mut self) -> Option<Command> {
        (!self.queue.is_empty()).then(|| self.queue.remove(0))
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Queues a long-poll, and says whether the task must be woken for
    /// it (see above); gives it back once the session has ended.
    pub(crate) fn offer_poll(&mut self, reply: PollReply) -> Result<Offered, Command> {
        if self.closed {
            return Err(Command::Poll(reply));
        }
        let offered = if self.parkable && self.queue.is_empty() {
            Offered::Parked
        } else {
            Offered::Queued
        };
        self.queue.push(Command::Poll(reply));
        Ok(offered)
    }

    /// Takes the first command if it is a long-poll (one queued without
    /// waking the task, when the task finds it has something to send).
    pub(crate) fn pop_poll(&mut self) -> Option<PollReply> {
        self.take_poll_at(0)
    }

    /// Whether a long-poll may be queued without waking the session's
    /// task (set by the task before it sleeps).
    pub(crate) fn set_parkable(&mut self, parkable: bool) {
        self.parkable = parkable;
    }

    /// What the task last set with [`Commands::set_parkable`].
    #[cfg(test)]
    pub(crate) fn parkable(&self) -> bool {
        self.parkable
    }

    /// Takes a queued long-poll whose HTTP request went away.
    pub(crate) fn take_gone_poll(&mut self) -> Option<PollReply> {
        let at = self
            .queue
            .iter()
            .position(|c| matches!(c, Command::Poll(p) if p.is_closed()))?;
        self.take_poll_at(at)
    }

    /// Removes the long-poll at `at` (anything else stays).
    fn take_poll_at(&mut self, at: usize) -> Option<PollReply> {
        match self.queue.get(at) {
            Some(Command::Poll(_)) => match self.queue.remove(at) {
                Command::Poll(reply) => Some(reply),
                other => {
                    self.queue.insert(at, other);
                    None
                }
            },
            _ => None,
        }
    }

    /// Refuses further commands; returns those still queued.
    pub(crate) fn close(&mut self) -> Vec<Command> {
        self.closed = true;
        self.parkable = false;
        std::mem::take(&mut self.queue)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn poll() -> (PollReply, oneshot::Receiver<Reply>) {
        oneshot::channel()
    }

    #[test]
    fn a_poll_goes_unannounced_only_when_the_task_said_it_may() {
        let mut commands = Commands::default();
        let (a, _a) = poll();
        assert_eq!(commands.offer_poll(a).ok(), Some(Offered::Queued));
        assert!(commands.pop_poll().is_some());

        commands.set_parkable(true);
        let (b, _b) = poll();
        assert_eq!(commands.offer_poll(b).ok(), Some(Offered::Parked));
        // A second poll behind it: the task is woken (it fails the
        // session).
        let (c, _c) = poll();
        assert_eq!(commands.offer_poll(c).ok(), Some(Offered::Queued));
        assert!(commands.pop_poll().is_some() && commands.pop_poll().is_some());
        assert!(commands.is_empty());

        // Behind another command, a poll wakes the task too.
        commands
            .push(Command::Fail(CloseReason::TransportError))
            .ok();
        let (d, _d) = poll();
        assert_eq!(commands.offer_poll(d).ok(), Some(Offered::Queued));
        // `pop_poll` takes a poll only from the front: commands keep
        // their order.
        assert!(commands.pop_poll().is_none());
        assert!(matches!(commands.pop(), Some(Command::Fail(_))));
        assert!(commands.pop_poll().is_some());
    }

    #[test]
    fn only_a_closed_poll_is_taken_as_gone() {
        let mut commands = Commands::default();
        commands.set_parkable(true);
        commands
            .push(Command::Fail(CloseReason::TransportError))
            .ok();
        let (a, a_rx) = poll();
        commands.offer_poll(a).ok();
        assert!(commands.take_gone_poll().is_none(), "still wanted");
        drop(a_rx);
        assert!(commands.take_gone_poll().is_some());
        assert!(commands.take_gone_poll().is_none());
        assert!(matches!(commands.pop(), Some(Command::Fail(_))));
        assert!(commands.is_empty());
    }

    #[test]
    fn closing_refuses_more_and_hands_back_what_is_queued() {
        let mut commands = Commands::default();
        commands.set_parkable(true);
        let (a, _a) = poll();
        commands.offer_poll(a).ok();
        assert_eq!(commands.close().len(), 1);
        assert!(!commands.parkable());
        let (b, _b) = poll();
        assert!(matches!(commands.offer_poll(b), Err(Command::Poll(_))));
    }
}
