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

use tokio::task::JoinHandle;
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
    /// How the children of the current run are aborted.
    pub(super) abort: Mutex<Aborts>,
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
        let mut aborts = lock(&self.abort);
        aborts.aborted = true;
        for child in aborts.handles.drain(..) {
            child.abort();
        }
    }
}

/// The handles of a run's children, and whether the run aborted them.
///
/// A handle per child (the one its spawn gave: an `AbortHandle` besides it
/// would cost a reference count more per child), rather than a token every child waits on: waiting on
/// a token registers each pending child in the token's list (a lock at its
/// first pending poll and another at its end), which cost a third of a
/// child's spawn and drain. Handles of children that have ended are pruned
/// when the list has doubled since the last pruning, so the list stays
/// within twice the children running, at one push per spawn.
#[derive(Default)]
pub(crate) struct Aborts {
    /// Set by `abort_all`: a child spawned later in the run is aborted at
    /// once. Cleared when the next run begins.
    pub(super) aborted: bool,
    handles: Vec<JoinHandle<()>>,
    /// The length of `handles` after the last pruning.
    pruned: usize,
}

impl Aborts {
    /// Keeps `child` to abort it with the run, or aborts it at once if the
    /// run's children were aborted already.
    pub(super) fn keep(&mut self, child: JoinHandle<()>) {
        if self.aborted {
            child.abort();
            return;
        }
        if self.handles.len() >= 2 * self.pruned.max(32) {
            self.handles.retain(|child| !child.is_finished());
            self.pruned = self.handles.len();
        }
        self.handles.push(child);
    }

    /// After the run's every child has ended: the next run starts afresh.
    pub(super) fn reset(&mut self) {
        *self = Aborts::default();
    }
}

pub(super) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
