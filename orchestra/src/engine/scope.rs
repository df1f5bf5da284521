//! The scope of one run of a member: spawning its children, draining them
//! before the run ends, failing the run with the first child that fails,
//! aborting them with the member (see `children` for the rules).

use std::any::Any;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::Poll;

use futures_util::FutureExt;
use tracing::Instrument;
use tracing::level_filters::LevelFilter;

use super::children::{Children, TaskResult, lock};
use super::seat::Seat;
use crate::error::{BoxError, Error, panic_message};
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
        self.running.add();
        let counted = Counted(seat.clone());
        // `Map` drops the task before it calls the closure, and before the
        // closure when dropped unpolled: a child counts until its future has
        // been dropped.
        let child = AssertUnwindSafe(task)
            .catch_unwind()
            .map(move |ended| counted.ended(attempt, ended.map(TaskResult::into_result)));
        // Inside the current span, when there is one to be inside of: none
        // while every subscriber is off (or none is set), which spares a
        // look-up per child.
        let span = if LevelFilter::current() == LevelFilter::OFF {
            tracing::Span::none()
        } else {
            tracing::Span::current()
        };
        let child = if span.is_disabled() {
            tokio::spawn(child)
        } else {
            tokio::spawn(child.instrument(span))
        };
        lock(&self.abort).keep(child);
        true
    }

    /// Starts a run afresh after one that was dropped before its end.
    fn begin_run(&self) {
        let mut aborts = lock(&self.abort);
        if aborts.aborted {
            aborts.aborted = false;
            self.running.set_draining(false);
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
        self.running.set_draining(true);
        let mut aborted = cut;
        std::future::poll_fn(|cx| {
            // Woken by the last child to go, and by a child's failure.
            seat.child_failed.register(cx.waker());
            if self.running.len() == 0 {
                return Poll::Ready(());
            }
            if !aborted && self.has_failed() {
                aborted = true;
                self.abort_all();
            }
            Poll::Pending
        })
        .await;
        self.running.set_draining(false);

        // The next run starts afresh. Every child has ended: their handles
        // go, and so do the tasks' cells that they keep.
        lock(&self.abort).reset();
        self.failed.store(false, Ordering::Release);
        lock(&self.failure).take()
    }

    /// The member ended for good, or its task was dropped (aborted):
    /// aborts the children still running and refuses later spawns.
    fn end(&self, seat: &Seat) {
        let running = self.running.len();
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

/// A child of the run of the member in its seat, counted among the run's
/// running children until dropped.
struct Counted(Arc<Seat>);

impl Counted {
    /// The child's task ended (`Err`: it panicked); its error fails the run.
    fn ended(self, attempt: u32, ended: Result<Result<(), BoxError>, Box<dyn Any + Send>>) {
        if !matches!(ended, Ok(Ok(()))) {
            self.failed(attempt, ended);
        }
    }

    #[cold]
    fn failed(&self, attempt: u32, ended: Result<Result<(), BoxError>, Box<dyn Any + Send>>) {
        let seat = &self.0;
        let error = match ended {
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
            children.fail(seat, error);
        }
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        let seat = &self.0;
        if seat
            .children
            .get()
            .is_some_and(|children| children.running.remove())
        {
            seat.child_failed.wake();
        }
    }
}

/// How one run (`play`) of the member in `seat` is played with its
/// children, in the run's own future (a future of its own would take room
/// in every member's task):
///
/// ```text
/// let cut = CutsChildren::new(seat);
/// let played = Watched::new(seat, play.as_mut()).await;
/// let (played, failure) = match (played, seat.children.get()) {
///     (Some(played), None) => (Some(played), None),
///     (played, _) => Box::pin(after_play(seat, play, played)).await,
/// };
/// cut.disarm();
/// ```
///
/// until `play` has returned and every child has ended, or a child has
/// failed; `played` is `None` if a child's failure cut `play` short.
/// `play`, until it returns (`Some`) or a child of the run fails (`None`).
pub(crate) struct Watched<'a, F> {
    seat: &'a Seat,
    play: Pin<&'a mut F>,
}

impl<'a, F> Watched<'a, F> {
    pub(crate) fn new(seat: &'a Seat, play: Pin<&'a mut F>) -> Self {
        Watched { seat, play }
    }
}

impl<F: Future> Future for Watched<'_, F> {
    type Output = Option<F::Output>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<Self::Output> {
        if let Poll::Ready(played) = self.play.as_mut().poll(cx) {
            return Poll::Ready(Some(played));
        }
        let seat = self.seat;
        seat.child_failed.register(cx.waker());
        if seat
            .children
            .get()
            .is_some_and(|children| children.has_failed())
        {
            return Poll::Ready(None);
        }
        Poll::Pending
    }
}

/// What follows `play` in a run with children: a stop after a child's
/// failure, and the drain.
pub(crate) async fn after_play<T>(
    seat: &Seat,
    mut play: Pin<&mut impl Future<Output = T>>,
    played: Option<T>,
) -> (Option<T>, Option<Error>) {
    // Under a control handle a run has a token of its own: a child's
    // failure then stops the run gracefully, within the member's stop
    // timeout (a conductor stops its members in order), rather than
    // cutting it short.
    let played = match played {
        None => match seat.control.as_ref().and_then(|c| c.run_token()) {
            Some(run) => {
                run.cancel();
                let timeout = seat.stop_timeout().unwrap_or(DEFAULT_TIMEOUT);
                tokio::time::timeout(timeout, play.as_mut()).await.ok()
            }
            None => None,
        },
        played => played,
    };
    let failure = match seat.children.get() {
        Some(children) => children.drain(seat, played.is_none()).await,
        None => None,
    };
    (played, failure)
}

/// Aborts the children of a run dropped before its end (disarmed at the
/// end).
pub(crate) struct CutsChildren<'s>(&'s Seat);

impl<'s> CutsChildren<'s> {
    /// Starts a run: afresh after one that was dropped before its end.
    pub(crate) fn new(seat: &'s Seat) -> Self {
        if let Some(children) = seat.children.get() {
            children.begin_run();
        }
        CutsChildren(seat)
    }

    /// The run ended: nothing to abort.
    pub(crate) fn disarm(self) {
        std::mem::forget(self);
    }
}

impl Drop for CutsChildren<'_> {
    fn drop(&mut self) {
        if let Some(children) = self.0.children.get() {
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
