//! Locking a mutex of the engine's bookkeeping ([`lock`]).

use std::sync::{Mutex, MutexGuard, PoisonError};

/// Locks `mutex`, poisoned or not: every mutex here guards bookkeeping that
/// stays whole if a holder panicked (a panic is caught and reported where
/// it happened), so a later lock carries on rather than panicking again.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
