//! Listeners on one session's events, engine.io's
//! `socket.on("upgrade" | "packet" | "packetCreate" | "drain" | "close")`:
//! registered through [`Socket`](super::Socket), called on the session's
//! task.
//!
//! Each kind of listener has a bit in one atomic: the session's task
//! checks it (a relaxed load) before it does anything for that event, so
//! a session nobody listens to pays no lock and no copy per packet. A
//! list is an `Arc<[..]>` replaced on registration; calling listeners
//! clones that `Arc` under the lock and calls them outside it, so a
//! listener may register others. The lists are boxed on the first
//! registration: most sessions have none, and five empty lists inline
//! cost each session 80 bytes.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};

use super::core::{CloseReason, TransportKind};
use crate::sync::LockExt;
use crate::Packet;

pub(crate) const UPGRADE: u8 = 1;
pub(crate) const PACKET: u8 = 1 << 1;
pub(crate) const PACKET_CREATE: u8 = 1 << 2;
pub(crate) const DRAIN: u8 = 1 << 3;
pub(crate) const CLOSE: u8 = 1 << 4;
/// The session has closed: listeners are no longer kept (set and read
/// under the lock).
const CLOSED: u8 = 1 << 7;

type List<F> = Arc<[Arc<F>]>;

type UpgradeFn = dyn Fn(TransportKind) + Send + Sync;
type PacketFn = dyn Fn(&Packet) + Send + Sync;
type DrainFn = dyn Fn() + Send + Sync;
type CloseFn = dyn Fn(CloseReason) + Send + Sync;

#[derive(Default)]
struct Lists {
    upgrade: List<UpgradeFn>,
    packet: List<PacketFn>,
    packet_create: List<PacketFn>,
    drain: List<DrainFn>,
    close: List<CloseFn>,
}

/// The listeners of one session.
#[derive(Default)]
pub(crate) struct Events {
    /// Which lists are not empty, and whether the session has closed
    /// (the bits above).
    flags: AtomicU8,
    lists: Mutex<Option<Box<Lists>>>,
}

impl std::fmt::Debug for Events {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Events")
            .field("flags", &self.flags.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

fn push<F: ?Sized>(list: &mut List<F>, f: Arc<F>) {
    let mut v = list.to_vec();
    v.push(f);
    *list = v.into();
}

/// Adds a listener unless the session has closed (then it is dropped:
/// it would never be called).
macro_rules! add {
    ($self:ident, $list:ident, $kind:expr, $f:expr) => {{
        let mut lists = $self.lists.locked();
        if $self.flags.load(Ordering::Relaxed) & CLOSED == 0 {
            push(&mut lists.get_or_insert_with(Default::default).$list, $f);
            $self.flags.fetch_or($kind, Ordering::Relaxed);
        }
    }};
}

impl Events {
    /// Whether a listener of this kind (a bit above) is registered.
    #[inline]
    pub(crate) fn listens(&self, kind: u8) -> bool {
        self.flags.load(Ordering::Relaxed) & kind != 0
    }

    pub(crate) fn add_upgrade(&self, f: Arc<UpgradeFn>) {
        add!(self, upgrade, UPGRADE, f)
    }

    pub(crate) fn add_packet(&self, f: Arc<PacketFn>) {
        add!(self, packet, PACKET, f)
    }

    pub(crate) fn add_packet_create(&self, f: Arc<PacketFn>) {
        add!(self, packet_create, PACKET_CREATE, f)
    }

    pub(crate) fn add_drain(&self, f: Arc<DrainFn>) {
        add!(self, drain, DRAIN, f)
    }

    pub(crate) fn add_close(&self, f: Arc<CloseFn>) {
        add!(self, close, CLOSE, f)
    }

    pub(crate) fn upgrade(&self, transport: TransportKind) {
        if self.listens(UPGRADE) {
            let list = self.list(|l| &l.upgrade);
            list.iter()
                .flat_map(|l| l.iter())
                .for_each(|f| f(transport));
        }
    }

    pub(crate) fn packet(&self, packet: &Packet) {
        if self.listens(PACKET) {
            let list = self.list(|l| &l.packet);
            list.iter().flat_map(|l| l.iter()).for_each(|f| f(packet));
        }
    }

    pub(crate) fn packet_create(&self, packet: &Packet) {
        if self.listens(PACKET_CREATE) {
            let list = self.list(|l| &l.packet_create);
            list.iter().flat_map(|l| l.iter()).for_each(|f| f(packet));
        }
    }

    pub(crate) fn drain(&self) {
        if self.listens(DRAIN) {
            let list = self.list(|l| &l.drain);
            list.iter().flat_map(|l| l.iter()).for_each(|f| f());
        }
    }

    /// A list (none when nothing was ever registered).
    fn list<F: ?Sized>(&self, which: impl FnOnce(&Lists) -> &List<F>) -> Option<List<F>> {
        self.lists.locked().as_deref().map(|l| which(l).clone())
    }

    /// Calls the close listeners, then forgets every listener (they may
    /// hold clones of the socket: a cycle, broken here).
    pub(crate) fn close(&self, reason: CloseReason) {
        let lists = {
            let mut lists = self.lists.locked();
            self.flags.store(CLOSED, Ordering::Relaxed);
            lists.take()
        };
        if let Some(lists) = lists {
            lists.close.iter().for_each(|f| f(reason));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    #[test]
    fn flags_follow_registrations_and_close_forgets_everything() {
        let events = Events::default();
        for kind in [UPGRADE, PACKET, PACKET_CREATE, DRAIN, CLOSE] {
            assert!(!events.listens(kind));
        }
        let seen = Arc::new(Mutex::new(Vec::<String>::new()));
        let log = |s: &Arc<Mutex<Vec<String>>>| s.clone();
        let s = log(&seen);
        events.add_packet(Arc::new(move |p| s.locked().push(format!("packet {p:?}"))));
        assert!(events.listens(PACKET));
        assert!(!events.listens(PACKET_CREATE));
        let s = log(&seen);
        events.add_packet_create(Arc::new(move |p| s.locked().push(format!("create {p:?}"))));
        let s = log(&seen);
        events.add_upgrade(Arc::new(move |t| {
            s.locked().push(format!("upgrade {}", t.as_str()))
        }));
        let s = log(&seen);
        events.add_drain(Arc::new(move || s.locked().push("drain".into())));
        let s = log(&seen);
        events.add_close(Arc::new(move |r| s.locked().push(format!("close {r}"))));

        events.packet(&Packet::Ping(None));
        events.packet_create(&Packet::Pong(None));
        events.upgrade(TransportKind::WebSocket);
        events.drain();
        events.close(CloseReason::PingTimeout);
        // After close nothing is registered any more.
        events.packet(&Packet::Ping(None));
        events.close(CloseReason::ForcedClose);
        assert!(!events.listens(PACKET));
        // Nor is anything registered later.
        let s = log(&seen);
        events.add_packet(Arc::new(move |p| s.locked().push(format!("late {p:?}"))));
        assert!(!events.listens(PACKET));
        events.packet(&Packet::Noop);
        assert_eq!(
            *seen.locked(),
            [
                "packet Ping(None)",
                "create Pong(None)",
                "upgrade websocket",
                "drain",
                "close ping timeout"
            ]
        );
        // The closures (and what they held) were dropped.
        assert_eq!(Arc::strong_count(&seen), 1);
    }

    #[test]
    fn a_listener_may_register_another_while_called() {
        let events = Arc::new(Events::default());
        let calls = Arc::new(AtomicUsize::new(0));
        let (e, c) = (events.clone(), calls.clone());
        events.add_packet(Arc::new(move |_| {
            c.fetch_add(1, Ordering::Relaxed);
            let c = c.clone();
            e.add_packet(Arc::new(move |_| {
                c.fetch_add(100, Ordering::Relaxed);
            }));
        }));
        events.packet(&Packet::Noop);
        assert_eq!(calls.load(Ordering::Relaxed), 1);
        events.packet(&Packet::Noop);
        // The first listener, then the one it added the first time (it
        // adds another each time: the list grows, no deadlock).
        assert_eq!(calls.load(Ordering::Relaxed), 102);
        events.close(CloseReason::ForcedClose);
    }
}
