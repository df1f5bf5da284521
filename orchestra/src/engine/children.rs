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
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::task::JoinHandle;

use crate::error::{BoxError, Error};
use crate::lock::lock;

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
    /// The children of the run still running.
    pub(super) running: Running,
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
        lock(&self.abort).abort_all();
    }
}

/// Counts the children of a run until each one's future is dropped, and
/// wakes the run's drain when the last one goes (what a `TaskTracker` does,
/// without its shared counter: each child holds its seat already, and a
/// tracker's token is a reference count more per child).
///
/// The count is kept doubled, its low bit set while the run drains.
#[derive(Default)]
pub(crate) struct Running(AtomicUsize);

impl Running {
    /// A child starts.
    pub(super) fn add(&self) {
        self.0.fetch_add(2, Ordering::Relaxed);
    }

    /// A child's future was dropped: `true` if it was the last one and the
    /// run drains, which is then to be woken.
    pub(super) fn remove(&self) -> bool {
        self.0.fetch_sub(2, Ordering::AcqRel) == 3
    }

    /// The children running.
    pub(super) fn len(&self) -> usize {
        self.0.load(Ordering::Acquire) >> 1
    }

    /// The run drains (`true`), or has drained or was dropped (`false`).
    pub(super) fn set_draining(&self, draining: bool) {
        if draining {
            self.0.fetch_or(1, Ordering::AcqRel);
        } else {
            self.0.fetch_and(!1, Ordering::AcqRel);
        }
    }
}

/// The handles of a run's children, and whether the run aborted them.
///
/// A handle per child (the one its spawn gave: an `AbortHandle` besides it
/// would cost a reference count more per child), rather than a token every
/// child waits on: waiting on a token registers each pending child in the
/// token's list (a lock at its first pending poll and another at its end),
/// which cost a third of a child's spawn and drain. Handles of children that
/// have ended are pruned when the list has doubled since the last pruning,
/// so the list stays within twice the children running, at one push per
/// spawn.
///
/// The handles are kept in chunks of [`CHUNK`] rather than one vector: a
/// vector of a hundred thousand handles is moved at each doubling, and the
/// blocks it leaves behind made the allocator try to give memory back to the
/// system at each later free (under glibc, some 90 instructions per child).
#[derive(Default)]
pub(crate) struct Aborts {
    /// Set by `abort_all`: a child spawned later in the run is aborted at
    /// once. Cleared when the next run begins.
    pub(super) aborted: bool,
    /// Handles go to the last chunk; the first grows as a vector does.
    chunks: Vec<Vec<JoinHandle<()>>>,
    /// The handles kept, over every chunk.
    len: usize,
    /// `len` after the last pruning.
    pruned: usize,
}

/// The handles a chunk holds (4 KiB of them).
const CHUNK: usize = 512;

impl Aborts {
    /// Keeps `child` to abort it with the run, or aborts it at once if the
    /// run's children were aborted already.
    pub(super) fn keep(&mut self, child: JoinHandle<()>) {
        if self.aborted {
            child.abort();
            return;
        }
        if self.len >= 2 * self.pruned.max(32) {
            self.prune();
        }
        match self.chunks.last_mut() {
            Some(chunk) if chunk.len() < CHUNK => chunk.push(child),
            _ => {
                let mut chunk = Vec::with_capacity(if self.chunks.is_empty() { 0 } else { CHUNK });
                chunk.push(child);
                self.chunks.push(chunk);
            }
        }
        self.len += 1;
    }

    /// Drops the handles of the children that have ended.
    fn prune(&mut self) {
        for chunk in &mut self.chunks {
            chunk.retain(|child| !child.is_finished());
        }
        self.chunks.retain(|chunk| !chunk.is_empty());
        self.len = self.chunks.iter().map(Vec::len).sum();
        self.pruned = self.len;
    }

    /// Aborts every child kept; later ones are aborted as they come, until
    /// the next run.
    pub(super) fn abort_all(&mut self) {
        self.aborted = true;
        for child in self.chunks.drain(..).flatten() {
            child.abort();
        }
        self.len = 0;
    }

    /// After the run's every child has ended: the next run starts afresh.
    pub(super) fn reset(&mut self) {
        *self = Aborts::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::task::AbortHandle;

    #[tokio::test]
    async fn handles_of_ended_children_are_pruned() {
        let mut aborts = Aborts::default();
        for _ in 0..5 * CHUNK {
            aborts.keep(tokio::spawn(async {}));
            tokio::task::yield_now().await;
        }
        // Pruned when the list doubles: never more than twice the floor.
        assert!(aborts.len <= 64, "{} handles kept", aborts.len);
        assert!(aborts.chunks.len() <= 1);
    }

    #[tokio::test]
    async fn every_chunk_is_aborted_and_later_children_too() {
        let mut aborts = Aborts::default();
        let mut watched = Vec::new();
        for _ in 0..3 * CHUNK + 1 {
            let child = tokio::spawn(std::future::pending::<()>());
            watched.push(child.abort_handle());
            aborts.keep(child);
        }
        assert_eq!(aborts.chunks.len(), 4);
        assert_eq!(aborts.len, 3 * CHUNK + 1);
        aborts.abort_all();
        let late = tokio::spawn(std::future::pending::<()>());
        watched.push(late.abort_handle());
        aborts.keep(late);
        // Aborted, each ends when the scheduler next runs it.
        for _ in 0..100 {
            if watched.iter().all(AbortHandle::is_finished) {
                break;
            }
            tokio::task::yield_now().await;
        }
        assert!(watched.iter().all(AbortHandle::is_finished));
        assert_eq!(aborts.len, 0);
    }
}
