//! Poison-tolerant locking.
//!
//! A `std` lock is *poisoned* when a thread panics while holding it. The
//! state this crate (and the layers above) keeps behind locks stays
//! consistent at every point a panic could occur (a handler panicking is
//! the usual cause), so a poisoned lock is used as if it were not: these
//! helpers replace `.lock().unwrap_or_else(|p| p.into_inner())` and its
//! `RwLock` counterparts.
//!
//! ```
//! use std::sync::{Mutex, RwLock};
//! use socketeer_engineio::sync::{LockExt, RwLockExt};
//!
//! let counter = Mutex::new(0);
//! *counter.locked() += 1;
//! assert_eq!(*counter.locked(), 1);
//!
//! let names = RwLock::new(vec!["a"]);
//! names.write_ok().push("b");
//! assert_eq!(names.read_ok().len(), 2);
//! ```

use std::sync::{Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};

/// Poison-tolerant acquisition of a [`Mutex`]; see the [module docs](self).
pub trait LockExt<T: ?Sized> {
    /// Acquires the lock, blocking, whether or not it is poisoned.
    fn locked(&self) -> MutexGuard<'_, T>;
}

impl<T: ?Sized> LockExt<T> for Mutex<T> {
    fn locked(&self) -> MutexGuard<'_, T> {
        self.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Poison-tolerant acquisition of a [`RwLock`]; see the [module docs](self).
pub trait RwLockExt<T: ?Sized> {
    /// Acquires shared read access, blocking, whether or not the lock is
    /// poisoned.
    fn read_ok(&self) -> RwLockReadGuard<'_, T>;

    /// Acquires exclusive write access, blocking, whether or not the lock
    /// is poisoned.
    fn write_ok(&self) -> RwLockWriteGuard<'_, T>;
}

impl<T: ?Sized> RwLockExt<T> for RwLock<T> {
    fn read_ok(&self) -> RwLockReadGuard<'_, T> {
        self.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write_ok(&self) -> RwLockWriteGuard<'_, T> {
        self.write().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[test]
    fn poisoned_locks_are_still_usable() {
        let m = Arc::new(Mutex::new(1));
        let r = Arc::new(RwLock::new(1));
        let (m2, r2) = (m.clone(), r.clone());
        let _ = std::thread::spawn(move || {
            let _g = m2.lock().unwrap();
            let _w = r2.write().unwrap();
            panic!("poison both");
        })
        .join();
        assert!(m.is_poisoned() && r.is_poisoned());
        *m.locked() += 1;
        assert_eq!(*m.locked(), 2);
        *r.write_ok() += 1;
        assert_eq!(*r.read_ok(), 2);
    }
}
