//! Listener lists as Node's `EventEmitter` keeps them, for a socket's
//! events, its catch-all and outgoing catch-all listeners: several per
//! event, called in the order they were added (or prepended), `once`
//! listeners removed before their call, each removable by the
//! [`ListenerId`] it was added with.

use std::sync::atomic::{AtomicU64, Ordering};

/// Names a listener added to a [`Socket`](super::Socket) or a
/// [`Manager`](super::Manager), to remove it with
/// [`Socket::off_listener`](super::Socket::off_listener) or
/// [`Manager::off_listener`](super::Manager::off_listener) (Rust closures
/// cannot be compared as JavaScript functions are by `off`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ListenerId(u64);

/// Hands out listener ids, unique in the process: an id given to one
/// socket's or manager's `off_listener` never removes another's listener.
#[derive(Debug, Default)]
pub(crate) struct IdSource;

impl IdSource {
    pub(crate) fn next(&self) -> ListenerId {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        ListenerId(NEXT.fetch_add(1, Ordering::Relaxed))
    }
}

struct Entry<H> {
    id: ListenerId,
    once: bool,
    handler: H,
}

/// Listeners in calling order.
pub(crate) struct Listeners<H>(Vec<Entry<H>>);

impl<H> Default for Listeners<H> {
    fn default() -> Self {
        Listeners(Vec::new())
    }
}

impl<H: Clone> Listeners<H> {
    /// Adds a listener after the others.
    pub(crate) fn append(&mut self, id: ListenerId, once: bool, handler: H) {
        self.0.push(Entry { id, once, handler });
    }

    /// Adds a listener before the others.
    pub(crate) fn prepend(&mut self, id: ListenerId, once: bool, handler: H) {
        self.0.insert(0, Entry { id, once, handler });
    }

    /// The listeners to call now, in order; `once` ones are removed.
    pub(crate) fn take_for_call(&mut self) -> Vec<H> {
        let handlers = self.0.iter().map(|e| e.handler.clone()).collect();
        self.0.retain(|e| !e.once);
        handlers
    }

    /// Removes the listener `id`; whether it was there.
    pub(crate) fn remove(&mut self, id: ListenerId) -> bool {
        let before = self.0.len();
        self.0.retain(|e| e.id != id);
        self.0.len() != before
    }

    /// The ids, in calling order.
    pub(crate) fn ids(&self) -> Vec<ListenerId> {
        self.0.iter().map(|e| e.id).collect()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_prepend_once_and_removal() {
        let ids = IdSource;
        let mut l = Listeners::default();
        let a = ids.next();
        let b = ids.next();
        let c = ids.next();
        let d = ids.next();
        l.append(a, false, 'a');
        l.append(b, true, 'b');
        l.prepend(c, false, 'c');
        l.append(d, false, 'd');
        assert_eq!(l.ids(), [c, a, b, d]);
        assert_eq!(l.take_for_call(), ['c', 'a', 'b', 'd']);
        // The once listener is gone after its call.
        assert_eq!(l.take_for_call(), ['c', 'a', 'd']);
        assert!(l.remove(a));
        assert!(!l.remove(a));
        assert!(!l.remove(b));
        assert_eq!(l.take_for_call(), ['c', 'd']);
        assert!(l.remove(c) && l.remove(d));
        assert!(l.is_empty());
    }
}
