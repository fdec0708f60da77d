//! Poison-tolerant locking: a panic in user code while a lock is held
//! must not take the whole server down with it.

use std::sync::{Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};

/// `.locked()`, `.read_ok()`, `.write_ok()`: lock, ignoring poisoning.
pub(crate) trait LockExt<T> {
    /// The guard.
    type Guard<'a>
    where
        Self: 'a;
    /// Locks, ignoring poisoning.
    fn locked(&self) -> Self::Guard<'_>;
}

impl<T> LockExt<T> for Mutex<T> {
    type Guard<'a>
        = MutexGuard<'a, T>
    where
        T: 'a;
    fn locked(&self) -> MutexGuard<'_, T> {
        self.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Read and write locks, ignoring poisoning.
pub(crate) trait RwLockExt<T> {
    /// A read lock.
    fn read_ok(&self) -> RwLockReadGuard<'_, T>;
    /// A write lock.
    fn write_ok(&self) -> RwLockWriteGuard<'_, T>;
}

impl<T> RwLockExt<T> for RwLock<T> {
    fn read_ok(&self) -> RwLockReadGuard<'_, T> {
        self.read().unwrap_or_else(|p| p.into_inner())
    }
    fn write_ok(&self) -> RwLockWriteGuard<'_, T> {
        self.write().unwrap_or_else(|p| p.into_inner())
    }
}
