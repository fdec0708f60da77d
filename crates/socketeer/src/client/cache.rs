//! socket.io-client's `io()` cache: one manager per server (origin
//! and Engine.IO path) for the whole process, so that the sockets of
//! several namespaces share one connection, unless `force_new` or
//! `multiplex(false)` asks for a connection of their own, or the
//! namespace already has a socket on the cached manager.
//!
//! The cache holds weak references: a manager whose handles are all
//! dropped, or whose task ended with its runtime, is not handed out.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, Weak};

use socketeer_engineio::sync::LockExt;

use super::shared::Shared;

static MANAGERS: Mutex<BTreeMap<String, Weak<Shared>>> = Mutex::new(BTreeMap::new());

/// The cached manager for `key`, when it runs and has no socket for
/// `nsp`; else a new one from `make`, cached (when `cache` says so) in
/// place of the old one. Returns the manager and whether it is new.
pub(crate) fn manager(
    key: &str,
    nsp: &str,
    cache: bool,
    make: impl FnOnce() -> Arc<Shared>,
) -> (Arc<Shared>, bool) {
    if !cache {
        return (make(), true);
    }
    let mut managers = MANAGERS.locked();
    managers.retain(|_, w| w.upgrade().is_some_and(|s| running(&s)));
    let cached = managers.get(key).and_then(Weak::upgrade);
    match cached {
        Some(shared) if !shared.lock().sockets.contains_key(nsp) => (shared, false),
        // The same namespace again: a connection of its own, as
        // socket.io-client does; the cache keeps the first manager.
        Some(_) => (make(), true),
        None => {
            let m = make();
            managers.insert(key.to_owned(), Arc::downgrade(&m));
            (m, true)
        }
    }
}

fn running(shared: &Shared) -> bool {
    shared.running.load(Ordering::Acquire)
}
