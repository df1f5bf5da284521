//! The work one run of a member starts and owns: its child tasks
//! ([`Context::spawn`](crate::Context::spawn)) and child players
//! (`Context::spawn_player`).
//!
//! A member's children live in its seat, made at the first spawn: a member
//! that never spawns allocates nothing for them. Its runs follow one
//! another, so the seat's children are the children of its current run:
//!
//! - a run counts as ended once `play` has returned **and** every child has
//!   ended ([`Children::drain`]);
//! - the first child to fail (an error or a panic) fails the run, as if
//!   `play` had returned that error: `play` is dropped where it waits, and
//!   the other children are aborted;
//! - when the member's task is aborted (its stop timeout passed, or the stop
//!   was forced) or it ends for good, its children are aborted with it
//!   ([`Children::end`]), and later spawns are refused.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::error::{BoxError, Error};

/// What a child task returns: `()`, or a `Result` whose error fails the
/// player's run.
///
/// ```
/// use orchestra::{player_fn, BoxError, Context};
///
/// let player = player_fn(|ctx: Context| async move {
///     ctx.spawn(async { tracing::info!("no result") });
///     ctx.spawn(async { Ok::<(), BoxError>(()) });
///     ctx.spawn(async { "42".parse::<u32>().map(drop) });
///     Ok(())
/// });
/// # drop(player);
/// ```
pub trait TaskResult: Send + 'static {
    /// The result as the engine sees it.
    fn into_result(self) -> Result<(), BoxError>;
}

impl TaskResult for () {
    fn into_result(self) -> Result<(), BoxError> {
        Ok(())
    }
}

impl<E: Into<BoxError> + Send + 'static> TaskResult for Result<(), E> {
    fn into_result(self) -> Result<(), BoxError> {
        self.map_err(Into::into)
    }
}

/// The children of a member's current run.
#[derive(Default)]
pub(crate) struct Children {
    pub(super) tracker: TaskTracker,
    /// Cancelled to abort every child of the current run; replaced after
    /// use. In an `Arc`: a child shares it without cloning the token (which
    /// locks the token's node).
    pub(super) abort: Mutex<Arc<CancellationToken>>,
    /// The first failure of a child in the current run.
    pub(super) failure: Mutex<Option<Error>>,
    pub(super) failed: AtomicBool,
    /// The names of the child players running.
    pub(super) names: Mutex<HashSet<Arc<str>>>,
}

impl Children {
    /// Reserves the name of a child player; `false` if one of that name runs.
    pub(crate) fn claim(&self, name: &Arc<str>) -> bool {
        lock(&self.names).insert(name.clone())
    }

    /// Frees the name of a child player that ended.
    pub(crate) fn release(&self, name: &str) {
        lock(&self.names).remove(name);
    }

    pub(super) fn has_failed(&self) -> bool {
        self.failed.load(Ordering::Acquire)
    }

    pub(super) fn abort_all(&self) {
        lock(&self.abort).cancel();
    }
}

pub(super) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
