//! The scope of one run of a member: spawning its children, draining them
//! before the run ends, failing the run with the first child that fails,
//! aborting them with the member (see `children` for the rules).

use std::panic::AssertUnwindSafe;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::Poll;

use futures_util::FutureExt;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::children::{Children, TaskResult, lock};
use super::seat::Seat;
use crate::error::{Error, panic_message};
use crate::options::DEFAULT_TIMEOUT;

impl Children {
    /// Spawns `task` as a child of the run numbered `attempt` of the member
    /// in `seat`, inside the current span. Its `Err` fails that run. Not
    /// run (`false`) once the member has ended for good.
    pub(crate) fn spawn<F>(&self, seat: &Arc<Seat>, attempt: u32, task: F) -> bool
    where
        F: Future + Send + 'static,
        F::Output: TaskResult,
    {
        if seat.ended.load(Ordering::Acquire) {
            tracing::warn!(
                target: "orchestra",
                player = %seat.path(),
                "a child spawned after its player ended for good is not run"
            );
            return false;
        }
        let abort = lock(&self.abort).clone();
        let seat = seat.clone();
        let child = async move {
            let run = AssertUnwindSafe(task).catch_unwind();
            // The child first: one that ends at its first poll never
            // registers with the abort token.
            let ended = tokio::select! {
                biased;
                ended = run => ended,
                () = abort.cancelled() => return,
            };
            let error = match ended.map(TaskResult::into_result) {
                Ok(Ok(())) => return,
                // A child player's error already names it.
                Ok(Err(error)) => match error.downcast::<Error>() {
                    Ok(error) => *error,
                    Err(source) => Error::Failed {
                        path: seat.path().clone(),
                        attempt,
                        source,
                    },
                },
                Err(panic) => Error::Panicked {
                    path: seat.path().clone(),
                    attempt,
                    message: panic_message(&*panic),
                },
            };
            if let Some(children) = seat.children.get() {
                children.fail(&seat, error);
            }
        };
        self.tracker
            .spawn(child.instrument(tracing::Span::current()));
        true
    }

    /// Starts a run afresh after one that was dropped before its end.
    fn begin_run(&self) {
        let mut abort = lock(&self.abort);
        if abort.is_cancelled() {
            *abort = CancellationToken::new();
            self.tracker.reopen();
            self.failed.store(false, Ordering::Release);
            lock(&self.failure).take();
        }
    }

    /// Records a child's failure and wakes the run, which fails with it.
    fn fail(&self, seat: &Seat, error: Error) {
        let mut failure = lock(&self.failure);
        if failure.is_none() {
            *failure = Some(error);
            self.failed.store(true, Ordering::Release);
            drop(failure);
            seat.child_failed.wake();
        } else {
            drop(failure);
            tracing::warn!(
                target: "orchestra",
                player = %seat.path(),
                error = %crate::error::Chain(&error),
                "a child failed after another one already failed the run"
            );
        }
    }

    /// Waits for every child of the run; `cut` when a child's failure cut
    /// `play` short. Gives the first failure of a child.
    async fn drain(&self, seat: &Seat, cut: bool) -> Option<Error> {
        if cut {
            self.abort_all();
        }
        self.tracker.close();
        {
            let mut all_ended = pin!(self.tracker.wait());
            let mut aborted = cut;
            std::future::poll_fn(|cx| {
                if all_ended.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(());
                }
                seat.child_failed.register(cx.waker());
                if !aborted && self.has_failed() {
                    aborted = true;
                    self.abort_all();
                }
                Poll::Pending
            })
            .await;
        }
        self.tracker.reopen();

        // The next run starts afresh.
        {
            let mut abort = lock(&self.abort);
            if abort.is_cancelled() {
                *abort = CancellationToken::new();
            }
        }
        self.failed.store(false, Ordering::Release);
        lock(&self.failure).take()
    }

    /// The member ended for good, or its task was dropped (aborted):
    /// aborts the children still running and refuses later spawns.
    fn end(&self, seat: &Seat) {
        let running = self.tracker.len();
        if running > 0 {
            self.abort_all();
            tracing::error!(
                target: "orchestra",
                player = %seat.path(),
                running,
                "aborted with its player: child tasks still running"
            );
        }
    }
}

/// Plays one run (`play`) of the member in `seat` with its children: until
/// `play` has returned and every child has ended, or a child has failed.
/// Gives what `play` returned (`None` if a child's failure cut it short),
/// and the first failure of a child.
pub(crate) async fn play_with_children<T>(
    seat: &Seat,
    play: impl Future<Output = T>,
) -> (Option<T>, Option<Error>) {
    // A run dropped before its end (stopped by a handle at its stop
    // timeout) aborts its children.
    let mut cut = CutsChildren(seat, true);
    if let Some(children) = seat.children.get() {
        children.begin_run();
    }
    let mut play = pin!(play);
    let played = std::future::poll_fn(|cx| {
        if let Poll::Ready(played) = play.as_mut().poll(cx) {
            return Poll::Ready(Some(played));
        }
        seat.child_failed.register(cx.waker());
        if seat
            .children
            .get()
            .is_some_and(|children| children.has_failed())
        {
            return Poll::Ready(None);
        }
        Poll::Pending
    })
    .await;
    // Under a control handle a run has a token of its own: a child's
    // failure then stops the run gracefully, within the member's stop
    // timeout (a conductor stops its members in order), rather than
    // cutting it short.
    let played = match played {
        None => match seat.control.as_ref().and_then(|c| c.run_token()) {
            Some(run) => {
                run.cancel();
                let timeout = seat.stop_timeout.unwrap_or(DEFAULT_TIMEOUT);
                Box::pin(tokio::time::timeout(timeout, play.as_mut()))
                    .await
                    .ok()
            }
            None => None,
        },
        played => played,
    };
    let ended = match seat.children.get() {
        None => (played, None),
        Some(children) => {
            // Boxed: the task of a member that never spawns need not
            // carry the room for a drain.
            let failure = Box::pin(children.drain(seat, played.is_none())).await;
            (played, failure)
        }
    };
    cut.1 = false;
    ended
}

/// Aborts the children of a run dropped before its end.
struct CutsChildren<'s>(&'s Seat, bool);

impl Drop for CutsChildren<'_> {
    fn drop(&mut self) {
        if self.1
            && let Some(children) = self.0.children.get()
        {
            children.abort_all();
        }
    }
}

/// Aborts the children of the member in its seat when dropped: when the
/// member ends for good, and when its task is aborted.
pub(crate) struct EndsChildren<'s>(pub(crate) &'s Seat);

impl Drop for EndsChildren<'_> {
    fn drop(&mut self) {
        self.0.ended.store(true, Ordering::Release);
        if let Some(children) = self.0.children.get() {
            children.end(self.0);
        }
    }
}
