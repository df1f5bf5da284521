//! The scope of one run of a member: spawning its children, draining them
//! before the run ends, failing the run with the first child that fails,
//! aborting them with the member (see `children` for the rules).

use std::any::Any;
use std::ops::Deref;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Poll, ready};

use futures_util::FutureExt;
use pin_project_lite::pin_project;
use tokio::time::{Sleep, sleep};
use tracing::level_filters::LevelFilter;
use tracing::span::Entered;
use tracing::{Instrument, Span};

use super::children::{Children, TaskResult};
use super::seat::Seat;
use crate::error::{BoxError, Chain, Error, panic_message};
use crate::lock::lock;
use crate::player::RestartNow;

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
            Span::none()
        } else {
            Span::current()
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
        let ended = match ended {
            Ok(Ok(())) => return,
            Ok(Err(error)) => Ok(error),
            Err(panic) => Err(panic),
        };
        if let Some(children) = seat.children.get() {
            children.fail(seat, failure(ended, seat, attempt));
        }
    }
}

/// The error of a run (or a child) of the member in `seat`, number
/// `attempt`, that returned `Err` or panicked (`Err` here). An [`Error`]
/// is passed through: a player that runs a conductor itself, or a child
/// player, already names the failing paths.
pub(crate) fn failure(
    ended: Result<BoxError, Box<dyn Any + Send>>,
    seat: &Seat,
    attempt: u32,
) -> Error {
    match ended {
        Ok(error) => match error.downcast::<Error>() {
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

/// How one run ended.
pub(crate) enum Outcome {
    Done,
    RestartNow(RestartNow),
    Failed(Error),
    /// Stopped (or dropped) for a reload, to be run again at once.
    Reloaded,
}

impl Outcome {
    /// How a run stopped by a control handle ended, for its caller.
    pub(super) fn into_result(self) -> Result<(), Error> {
        match self {
            Outcome::Done | Outcome::RestartNow(_) | Outcome::Reloaded => Ok(()),
            Outcome::Failed(error) => Err(error),
        }
    }
}

/// What a run's `play` gives, made an [`Outcome`] by the run: the run knows
/// the member and the attempt, which a future mapping it would carry in
/// every member's task.
pub(crate) trait IntoOutcome {
    /// How run number `attempt` of the member in `seat` ended.
    fn into_outcome(self, seat: &Seat, attempt: u32) -> Outcome;
}

impl IntoOutcome for Outcome {
    fn into_outcome(self, _: &Seat, _: u32) -> Outcome {
        self
    }
}

/// The span of a player's run, boxed when a subscriber records it: most
/// runs have none that is enabled, and a disabled span would take its room
/// (40 bytes) in every member's task for nothing.
pub(crate) struct RunSpan(Option<Box<Span>>);

impl RunSpan {
    /// `span`, if it is enabled.
    #[inline]
    pub(crate) fn new(span: Span) -> Self {
        RunSpan((!span.is_disabled()).then(|| Box::new(span)))
    }

    /// No span (a conductor's run).
    pub(crate) fn none() -> Self {
        RunSpan(None)
    }

    /// Enters the span, if there is one, until the guard is dropped.
    /// Inlined, as the methods below: at every poll of every run, and most
    /// runs have no span.
    #[inline]
    fn enter(&self) -> Option<Entered<'_>> {
        self.0.as_deref().map(Span::enter)
    }

    /// Runs `f` inside the span, if there is one.
    #[inline]
    pub(crate) fn in_scope<T>(&self, f: impl FnOnce() -> T) -> T {
        let _in_span = self.enter();
        f()
    }
}

pin_project! {
    /// One run of the member in `seat`: `play` with its `ready_within`
    /// deadline and its children, inside the run's span, until `play` has
    /// returned and every child has ended, or a child has failed.
    ///
    /// A future of its own rather than an `async` block: every member's
    /// task carries it, and an `async` block would keep the context `play`
    /// was made with, the deadline and the stages after `play` beside it.
    /// What a run rarely needs (a deadline, the drain, a graceful stop after
    /// a child's failure) is boxed when it is needed.
    pub(crate) struct Run<'r, M, F> {
        #[pin]
        play: Play<M, F>,
        seat: &'r Seat,
        span: &'r RunSpan,
        attempt: u32,
        // `ready_within`'s deadline, until it passes or the run is ready.
        ready_by: Option<Pin<Box<Sleep>>>,
        stage: Stage<'r>,
    }

    impl<M, F> PinnedDrop for Run<'_, M, F> {
        /// Dropped before its end, the run aborts its children; `play` is
        /// dropped inside the span, as it ran.
        fn drop(this: Pin<&mut Self>) {
            let mut this = this.project();
            let _in_span = this.span.enter();
            if !matches!(this.stage, Stage::Ended)
                && !matches!(*this.play, Play::Unmade { .. })
                && let Some(children) = this.seat.children.get()
            {
                children.abort_all();
            }
            this.play.set(Play::Over);
        }
    }
}

pin_project! {
    /// A run's `play`: made at the run's first poll, where it is to stay
    /// (made earlier, its future would be moved into place).
    #[project = PlayProj]
    #[project_replace = PlayOwn]
    enum Play<M, F> {
        Unmade { make: M },
        Running { #[pin] play: F },
        /// It ended, or was dropped at its deadline.
        Over,
    }
}

/// How `play` ended (`None`: cut by a child's failure), and the first
/// failure of a child.
type Drained = (Option<Outcome>, Option<Error>);

/// Where a run is.
enum Stage<'r> {
    /// `play` runs, until it returns or a child of the run fails.
    Playing,
    /// A child failed under a control handle, where a run has a token of
    /// its own: `play` was asked to stop, and is given the member's stop
    /// timeout (a conductor stops its members in order) rather than cut.
    Stopping(Pin<Box<Sleep>>),
    /// `play` is over (`None`: cut by a child's failure): the children
    /// drain, and the first to fail gives its error.
    Draining(Pin<Box<dyn Future<Output = Drained> + Send + 'r>>),
    /// The run has ended: nothing to abort.
    Ended,
}

impl<'r, M, F> Run<'r, M, F> {
    /// Run number `attempt` of the member in `seat`, inside `span`: `make`
    /// makes its `play` when it is first polled.
    pub(crate) fn new(seat: &'r Seat, span: &'r RunSpan, attempt: u32, make: M) -> Self {
        Run {
            play: Play::Unmade { make },
            seat,
            span,
            attempt,
            ready_by: None,
            stage: Stage::Playing,
        }
    }
}

impl<M: FnOnce() -> F, F: Future<Output: IntoOutcome>> Future for Run<'_, M, F> {
    type Output = Outcome;

    fn poll(self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<Outcome> {
        let mut this = self.project();
        let _in_span = this.span.enter();
        let seat = *this.seat;
        if let PlayProj::Unmade { .. } = this.play.as_mut().project() {
            begin(seat, this.play.as_mut(), this.ready_by);
        }
        loop {
            let played = match this.stage {
                Stage::Playing => {
                    match poll_play(this.play.as_mut(), this.ready_by, seat, *this.attempt, cx) {
                        // The common end: a run with no children.
                        Poll::Ready(outcome) if seat.children.get().is_none() => {
                            *this.stage = Stage::Ended;
                            return Poll::Ready(outcome);
                        }
                        Poll::Ready(outcome) => Some(outcome),
                        Poll::Pending => {
                            seat.child_failed.register(cx.waker());
                            if !seat.children.get().is_some_and(|c| c.has_failed()) {
                                return Poll::Pending;
                            }
                            if let Some(run) = seat.control.as_ref().and_then(|c| c.run_token()) {
                                run.cancel();
                                let timeout = seat.stop_timeout_or_default();
                                *this.stage = Stage::Stopping(Box::pin(sleep(timeout)));
                                continue;
                            }
                            None
                        }
                    }
                }
                Stage::Stopping(stop_by) => {
                    match poll_play(this.play.as_mut(), this.ready_by, seat, *this.attempt, cx) {
                        Poll::Ready(outcome) => Some(outcome),
                        Poll::Pending => {
                            ready!(stop_by.as_mut().poll(cx));
                            None
                        }
                    }
                }
                Stage::Draining(drain) => {
                    let (played, failure) = ready!(drain.as_mut().poll(cx));
                    *this.stage = Stage::Ended;
                    return Poll::Ready(with_children(played, failure));
                }
                Stage::Ended => panic!("a run polled after it ended"),
            };
            // Boxed: the task of a member that never spawns need not carry
            // the room for the drain.
            match seat.children.get() {
                None => {
                    *this.stage = Stage::Ended;
                    return Poll::Ready(with_children(played, None));
                }
                Some(children) => {
                    *this.stage = Stage::Draining(Box::pin(async move {
                        let failure = children.drain(seat, played.is_none()).await;
                        (played, failure)
                    }));
                }
            }
        }
    }
}

/// Begins a run, inside its span: makes its `play` in place, afresh after
/// a run that was dropped before its end, with its `ready_within` deadline.
fn begin<M: FnOnce() -> F, F>(
    seat: &Seat,
    mut play: Pin<&mut Play<M, F>>,
    ready_by: &mut Option<Pin<Box<Sleep>>>,
) {
    let PlayOwn::Unmade { make } = play.as_mut().project_replace(Play::Over) else {
        return;
    };
    if !seat.conductor {
        tracing::info!(target: "orchestra", "started");
    }
    play.set(Play::Running { play: make() });
    if let Some(children) = seat.children.get() {
        children.begin_run();
    }
    if let Some(within) = seat.options.ready_within {
        *ready_by = Some(Box::pin(sleep(within)));
    }
}

/// Polls `play`, run number `attempt` of the member in `seat`: with a
/// `ready_within` deadline (`ready_by`), if the run has not called
/// `ctx.ready()` by then (and was not asked to stop meanwhile), it is cut
/// there (its future dropped) and counts as a failed run, which its restart
/// policy handles. Inlined: every run's every poll comes through here.
#[inline(always)]
fn poll_play<M, F: Future<Output: IntoOutcome>>(
    mut play: Pin<&mut Play<M, F>>,
    ready_by: &mut Option<Pin<Box<Sleep>>>,
    seat: &Seat,
    attempt: u32,
    cx: &mut std::task::Context<'_>,
) -> Poll<Outcome> {
    // Dropped at its deadline, it has given its outcome already.
    let PlayProj::Running { play: running } = play.as_mut().project() else {
        return Poll::Pending;
    };
    if let Poll::Ready(ended) = running.poll(cx) {
        return Poll::Ready(ended.into_outcome(seat, attempt));
    }
    if ready_by.is_none() || !cut_at_deadline(ready_by, seat, attempt, cx) {
        return Poll::Pending;
    }
    let failed = not_ready_in_time(seat, attempt);
    play.set(Play::Over);
    Poll::Ready(failed)
}

/// Whether run number `attempt` is cut at its `ready_within` deadline
/// (`ready_by`): the deadline has passed, and the run neither called
/// `ctx.ready()` by then nor was asked to stop meanwhile. Out of line, as
/// few runs have a deadline.
#[inline(never)]
fn cut_at_deadline(
    ready_by: &mut Option<Pin<Box<Sleep>>>,
    seat: &Seat,
    attempt: u32,
    cx: &mut std::task::Context<'_>,
) -> bool {
    let Some(deadline) = ready_by else {
        return false;
    };
    if deadline.as_mut().poll(cx).is_pending() {
        return false;
    }
    *ready_by = None;
    seat.ready_run.load(Ordering::Acquire) != attempt && !seat.token().is_cancelled()
}

/// The failure of run number `attempt`, cut at its `ready_within`
/// deadline: out of line, as it is rare.
#[cold]
fn not_ready_in_time(seat: &Seat, attempt: u32) -> Outcome {
    let within = seat.options.ready_within.unwrap_or_default();
    tracing::warn!(
        target: "orchestra",
        ?within,
        "not ready within `ready_within`: the run counts as failed"
    );
    Outcome::Failed(Error::Failed {
        path: seat.path().clone(),
        attempt,
        source: format!(
            "not ready within {within:?} (`ready_within`): it did not call `ctx.ready()` in time"
        )
        .into(),
    })
}

/// How a run ended, with its children: the first child to fail fails a run
/// that did not fail itself (and cut `play` short: `played` is `None`).
fn with_children(played: Option<Outcome>, failure: Option<Error>) -> Outcome {
    match (played, failure) {
        (Some(Outcome::Failed(error)), Some(child)) => {
            tracing::warn!(error = %Chain(&child), "a child task failed too");
            Outcome::Failed(error)
        }
        (_, Some(error)) => Outcome::Failed(error),
        (played, None) => played.unwrap_or(Outcome::Done),
    }
}

/// Aborts the children of the member in its seat when dropped: when the
/// member ends for good, and when its task is aborted.
pub(crate) struct EndsChildren<'s>(pub(crate) &'s Arc<Seat>);

impl Deref for EndsChildren<'_> {
    type Target = Arc<Seat>;

    fn deref(&self) -> &Arc<Seat> {
        self.0
    }
}

impl Drop for EndsChildren<'_> {
    fn drop(&mut self) {
        self.0.ended.store(true, Ordering::Release);
        if let Some(children) = self.0.children.get() {
            children.end(self.0);
        }
    }
}
