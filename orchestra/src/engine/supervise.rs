//! Running one member: deferred start, runs, restarts, backoff, limits.

use std::any::Any;
use std::collections::VecDeque;
use std::fmt;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt;
use futures_util::future::Either;
use tokio::time::{Instant, sleep};
use tokio_util::sync::CancellationToken;

use super::command::{Commanded, parked, run_commanded};
use super::control::Order;
use super::member::DynPlayer;
pub(super) use super::scope::Outcome;
use super::scope::{EndsChildren, IntoOutcome, Run, RunSpan, failure};
use super::seat::{Link, Seat};
use crate::context::Context;
use crate::error::{BoxError, Chain, Error, Limit};
use crate::execution_id::ExecutionId;
use crate::options::{DEFAULT_STABLE_AFTER, PlayerOptions};
use crate::player::{Player, RestartNow};
use crate::reload::OnReload;
use crate::restart::{Backoff, Delays, Restart};
use crate::status::EventKind;

/// What a member runs: a player, or a nested group.
pub(super) trait Target: Send {
    /// One run, until it ends.
    fn play(&mut self, ctx: Context, seat: &Seat) -> impl Future<Output: IntoOutcome> + Send;
}

/// A player whose type is known: its runs are polled inline, unboxed, in
/// the member's task.
pub(super) struct Typed<'r, P>(pub(super) &'r mut P);

// The runs of `Typed` and `Dyn` are combinators, not `async` blocks: an
// `async` block would keep a second copy of `ctx` in every task. What they
// return is made an `Outcome` by the run, which knows the member.
impl<P: Player> Target for Typed<'_, P> {
    fn play(&mut self, ctx: Context, _: &Seat) -> impl Future<Output: IntoOutcome> + Send {
        AssertUnwindSafe(self.0.play(ctx)).catch_unwind()
    }
}

/// A player behind `dyn`, borrowed from a conductor played in place.
pub(super) struct Dyn<'r>(pub(super) &'r mut dyn DynPlayer);

impl Target for Dyn<'_> {
    fn play(&mut self, ctx: Context, _: &Seat) -> impl Future<Output: IntoOutcome> + Send {
        AssertUnwindSafe(self.0.play_dyn(ctx)).catch_unwind()
    }
}

/// How a run ended, from what `play` returned or its panic; the path is
/// made only for an error.
impl IntoOutcome for Result<Result<(), BoxError>, Box<dyn Any + Send>> {
    fn into_outcome(self, seat: &Seat, attempt: u32) -> Outcome {
        outcome(self, seat, attempt)
    }
}

#[inline]
fn outcome(
    played: Result<Result<(), BoxError>, Box<dyn Any + Send>>,
    seat: &Seat,
    attempt: u32,
) -> Outcome {
    match played {
        Ok(Ok(())) => Outcome::Done,
        Ok(Err(error)) => match error.downcast::<RestartNow>() {
            Ok(request) => Outcome::RestartNow(*request),
            Err(error) => Outcome::Failed(failure(Ok(error), seat, attempt)),
        },
        Err(panic) => Outcome::Failed(failure(Err(panic), seat, attempt)),
    }
}

impl<P: Player> DynPlayer for P {
    fn play_dyn(
        &mut self,
        ctx: Context,
    ) -> Pin<Box<dyn Future<Output = Result<(), BoxError>> + Send + '_>> {
        Box::pin(self.play(ctx))
    }
}

/// Runs a member until it is done, its failure is final, or it is asked to
/// stop; restarts it in between as its options say.
pub(super) fn supervise<'s>(
    mut target: impl Target + 's,
    seat: &'s Arc<Seat>,
) -> impl Future<Output = Result<(), Error>> + Send + 's {
    // However the member ends (aborted too), its children end with it. The
    // guard is the task's one copy of the seat: a second would take room.
    let seat = EndsChildren(seat);
    // An `async` block, not an `async fn`: an `async fn` keeps a second copy
    // of its arguments in the task.
    async move {
        // What few members need, boxed when first needed: a control
        // handle's orders (from the start, if the run has a handle), the
        // restart bookkeeping (at the first restart). Most members have
        // neither, and their task need not carry the room.
        let mut extras: Option<Box<Extras<'_>>> = seat
            .control
            .as_ref()
            .and_then(|c| c.take_receiver())
            .map(|commands| {
                Box::new(Extras {
                    commands: Some(commands),
                    restarts: None,
                })
            });
        if let Some(delay) = seat.options.delay {
            tracing::debug!(target: "orchestra", player = %seat.path(), ?delay, "deferred start");
            seat.emit(0, None, || EventKind::Deferred { delay });
            if !wait(&seat, delay).await {
                seat.emit(0, None, || EventKind::Stopped);
                return Ok(());
            }
        }

        // Its attempts count on over its group's earlier runs; its limits start
        // over with each run of its group.
        let mut attempt = seat.runs_before;
        // Restarts for a reload, and runs its group ended to restart it with a
        // sibling: they count towards no limit of its own (one counter, not
        // two: the room of a task is every player's cost).
        let mut uncounted = 0;
        loop {
            // A stop that came as the backoff ended starts nothing more.
            if attempt > seat.runs_before && seat.token().is_cancelled() {
                seat.emit(attempt, None, || EventKind::Stopped);
                return Ok(());
            }
            // With a group that decides restarts, a run begins once its gate is
            // open: the siblings restarted with it have stopped, and the
            // members it is ordered after are ready again. Boxed: the wait
            // takes more room than most players' runs, and only the members
            // of such a group need it.
            if let Some(link) = &seat.link
                && !Box::pin(clear_to_run(&seat, link)).await
            {
                seat.emit(attempt, None, || EventKind::Stopped);
                return Ok(());
            }
            // What an earlier run handed over goes with it.
            seat.hand_off.withdraw();
            attempt += 1;
            seat.runs
                .store(attempt, std::sync::atomic::Ordering::Relaxed);
            // In a block: a local that was borrowed (by the span) would be
            // kept in the task beside the run.
            let (id, span) = {
                let id = ExecutionId::next();
                // A player's run has a span; a conductor's has none, so that its
                // players' spans do not repeat its path.
                let span = if seat.conductor {
                    RunSpan::none()
                } else {
                    RunSpan::new(tracing::info_span!(
                        target: "orchestra",
                        "player",
                        player = %seat.path(),
                        attempt,
                        execution_id = %id,
                    ))
                };
                (id, span)
            };
            seat.emit(attempt, Some(id), || EventKind::Started);
            // When the run began matters to a restart only, and before the
            // first restart there is nothing to start over.
            if let Some(Extras {
                restarts: Some(restarts),
                ..
            }) = extras.as_deref_mut()
            {
                restarts.started = Instant::now();
            }
            // A run restarted on a reload can be stopped alone; its token
            // goes into the boxed run that needs it, not into the task.
            let outcome = match extras.as_mut().and_then(|e| e.commands.as_mut()) {
                // The context is made in the call: a local would be kept
                // in the task beside the run (its drop flag, at least).
                None if seat.options.on_reload != OnReload::Restart => {
                    run(&mut target, context(&seat, attempt, id), &seat, &span).await
                }
                // Boxed: the task of a member that does not restart on a
                // reload need not carry the room for it.
                None => {
                    let (ctx, token) = context(&seat, attempt, id).stoppable_alone();
                    let run = run(&mut target, ctx, &seat, &span);
                    Box::pin(reloadable(run, token, &seat, attempt, id)).await
                }
                // Boxed: the task of a member without a handle need not carry
                // the room for a run under commands. One box per arm, not
                // one box of an `Either`: that box would take the room of a
                // reloadable run for every member (1.7 KB more a player with
                // a control handle, in the bench's features section).
                Some(commands) => {
                    let next = if seat.options.on_reload == OnReload::Restart {
                        let (ctx, token) = context(&seat, attempt, id).stoppable_alone();
                        let run = run(&mut target, ctx, &seat, &span);
                        let run = reloadable(run, token, &seat, attempt, id);
                        Box::pin(under_commands(&seat, commands, run, &span, attempt, id)).await
                    } else {
                        let ctx = context(&seat, attempt, id);
                        let run = run(&mut target, ctx, &seat, &span);
                        Box::pin(under_commands(&seat, commands, run, &span, attempt, id)).await
                    };
                    match next {
                        Next::Judge(outcome) => outcome,
                        Next::Run => continue,
                        Next::End => return Ok(()),
                    }
                }
            };

            seat.hand_off.withdraw();
            // Once asked to stop, nothing restarts; failures are still reported.
            // Read once, and not for a run done for good outside a group that
            // decides restarts, which ends the same either way (the token
            // takes a lock to read).
            let done_for_good =
                matches!(outcome, Outcome::Done) && seat.options.restart != Restart::Always;
            let stopping = (!done_for_good || seat.link.is_some()) && seat.token().is_cancelled();
            // Its group ended the run to restart it with a sibling: how the run
            // ended does not matter.
            if !stopping && seat.link.as_deref().is_some_and(Link::asked) {
                taken_along(&seat, &span, outcome, attempt, id);
                uncounted += 1;
                continue;
            }
            // Moved into a temporary: matched in place with guards, the outcome
            // would be kept in the task through the backoff.
            let (failure, immediate) = match std::convert::identity(outcome) {
                Outcome::Failed(error) if stopping || seat.options.restart == Restart::Never => {
                    return end(&seat, &span, attempt, id, Err(error));
                }
                Outcome::Done if seat.options.restart != Restart::Always => {
                    return end(&seat, &span, attempt, id, Ok(()));
                }
                _ if stopping => return end(&seat, &span, attempt, id, Ok(())),
                // Not a failure: no limit, no backoff.
                Outcome::Reloaded => {
                    uncounted += 1;
                    continue;
                }
                Outcome::Done => (None, false),
                Outcome::RestartNow(request) => {
                    span.in_scope(|| {
                        tracing::info!(target: "orchestra", conductor = whose(&seat), %request, "restarting at once");
                    });
                    (None, true)
                }
                Outcome::Failed(error) => (Some(error), false),
            };

            let restarts = extras
                .get_or_insert_default()
                .restarts
                .get_or_insert_with(|| Restarts::new(&seat.options));
            let runs = attempt - seat.runs_before - uncounted;
            let delay = match restarts.next(runs, immediate) {
                Ok(delay) => delay,
                Err(limit) => {
                    let error = Error::RestartLimit {
                        path: seat.path().clone(),
                        limit,
                        last: failure.map(Box::new),
                    };
                    return end(&seat, &span, attempt, id, Err(error));
                }
            };
            backing_off(&seat, &span, attempt, id, delay, failure);
            if !back_off(&seat, delay).await {
                seat.emit(attempt, Some(id), || EventKind::Stopped);
                return Ok(());
            }
        }
    }
}

/// Logs and reports a restart after `delay`, and hands `failure` to the
/// member's group if it decides restarts. Takes the failure by value: a
/// borrow would keep it in the member's task through the backoff.
fn backing_off(
    seat: &Seat,
    span: &RunSpan,
    attempt: u32,
    id: ExecutionId,
    delay: Duration,
    failure: Option<Error>,
) {
    span.in_scope(|| match &failure {
        Some(error) => tracing::warn!(
            target: "orchestra",
            conductor = whose(seat),
            error = %Cause(error, seat),
            ?delay,
            "failed; restarting"
        ),
        None => {
            tracing::info!(target: "orchestra", conductor = whose(seat), ?delay, "returned; restarting");
        }
    });
    seat.emit(attempt, Some(id), || EventKind::BackingOff {
        error: failure.as_ref().map(|e| Chain(e).to_string()),
        delay,
    });
    // A group that decides restarts learns of this one now, to stop
    // the siblings restarted with it during the backoff.
    match &seat.link {
        Some(link) => link.pause(false, failure),
        None => drop(failure),
    }
}

/// Waits the backoff `delay` unless the member is asked to stop first
/// (`false` then). Asked by its group to restart meanwhile, it answers at
/// once, so that its siblings need not wait for its backoff to stop:
/// boxed then, as only the members of such a group need the room.
fn back_off(seat: &Seat, delay: Duration) -> impl Future<Output = bool> + Send + '_ {
    match seat.link.as_deref().filter(|_| !delay.is_zero()) {
        None => Either::Left(wait(seat, delay)),
        Some(link) => Either::Right(Box::pin(linked_back_off(seat, link, delay))),
    }
}

/// `back_off` for a member whose group decides restarts.
async fn linked_back_off(seat: &Seat, link: &Link, delay: Duration) -> bool {
    let mut slept = std::pin::pin!(sleep(delay));
    loop {
        let run = link.run_token();
        tokio::select! {
            biased;
            () = seat.token().cancelled() => return false,
            () = run.cancelled() => {
                link.renew(seat.token());
                link.pause(true, None);
            }
            () = &mut slept => return true,
        }
    }
}

/// Waits for the member's gate to open; `false` if it is asked to stop
/// first. Whenever its group asks it to restart (its last run ended, or
/// between runs), it tells the group that it has paused.
async fn clear_to_run(seat: &Seat, link: &Link) -> bool {
    loop {
        if link.asked() {
            link.renew(seat.token());
            link.pause(true, None);
        }
        let run = link.run_token();
        tokio::select! {
            biased;
            () = seat.token().cancelled() => return false,
            () = run.cancelled() => {}
            () = link.gate.wait() => {
                if !link.asked() {
                    return true;
                }
            }
        }
    }
}

/// Logs and reports a run that its group ended to restart it with a
/// sibling: how it ended does not matter. Takes the outcome by value: a
/// borrow would keep it in the member's task through the backoff.
fn taken_along(seat: &Seat, span: &RunSpan, outcome: Outcome, attempt: u32, id: ExecutionId) {
    span.in_scope(|| match &outcome {
        Outcome::Failed(error) => {
            tracing::warn!(
                target: "orchestra",
                conductor = whose(seat),
                error = %Cause(error, seat),
                "failed as it was restarted with a sibling"
            );
        }
        _ => tracing::info!(
            target: "orchestra",
            conductor = whose(seat),
            "restarting with a sibling"
        ),
    });
    seat.emit(attempt, Some(id), || EventKind::BackingOff {
        error: None,
        delay: Duration::ZERO,
    });
}

/// What comes after a run under commands.
enum Next {
    /// It ended by itself: its outcome decides, as for any run.
    Judge(Outcome),
    /// It was stopped by an order, and is to run again.
    Run,
    /// It was stopped by an order, and ends for good.
    End,
}

/// A run under a control handle's commands: an order to stop, restart or
/// remove the member stops the run gracefully, and is answered with how it
/// ended; a stopped member waits here for the order to start again.
async fn under_commands(
    seat: &Seat,
    commands: &mut tokio::sync::mpsc::UnboundedReceiver<super::control::Command>,
    run: impl Future<Output = Outcome>,
    span: &RunSpan,
    attempt: u32,
    id: ExecutionId,
) -> Next {
    match run_commanded(seat, commands, run, Outcome::into_result).await {
        Commanded::Ended(outcome) => Next::Judge(outcome),
        Commanded::Stopped {
            order,
            result,
            reply,
        } => {
            // The run has ended: what it handed over goes with it, and a
            // member stopped by an order may stay stopped a long time.
            seat.hand_off.withdraw();
            let _ = reply.send(end(seat, span, attempt, id, result));
            let again = match order {
                Order::Restart => true,
                Order::Stop => parked(seat, commands).await,
                Order::Start | Order::Remove => false,
            };
            if again { Next::Run } else { Next::End }
        }
    }
}

/// The context of run number `attempt` of the member in `seat`: under a
/// group that decides restarts, it ends with the group's run token too.
#[inline]
fn context(seat: &Arc<Seat>, attempt: u32, id: ExecutionId) -> Context {
    let group_run = seat.link.as_deref().map(Link::run_token);
    Context::in_run(seat.clone(), attempt, group_run, id)
}

/// One run of the member, with its children, inside its span. Made where it
/// is awaited: a future bound to a variable and then awaited takes its room
/// twice in the task.
fn run<'r>(
    target: &'r mut impl Target,
    ctx: Context,
    seat: &'r Seat,
    span: &'r RunSpan,
) -> impl Future<Output = Outcome> + Send + 'r {
    let attempt = ctx.attempt();
    Run::new(seat, span, attempt, move || target.play(ctx, seat))
}

/// Runs `run` until it ends, or until a reload is requested: then cancels
/// it through `token`, waits for it within the member's stop timeout (then
/// drops it), and reports [`Outcome::Reloaded`].
async fn reloadable(
    run: impl Future<Output = Outcome>,
    token: CancellationToken,
    seat: &Seat,
    attempt: u32,
    id: ExecutionId,
) -> Outcome {
    let mut run = std::pin::pin!(run);
    tokio::select! {
        outcome = &mut run => return outcome,
        () = seat.reload_requested() => {}
    }
    tracing::info!(target: "orchestra", player = %seat.path(), attempt, "reload requested: restarting");
    seat.emit(attempt, Some(id), || EventKind::Reloading);
    token.cancel();
    let stop_timeout = seat.stop_timeout_or_default();
    match tokio::time::timeout(stop_timeout, run).await {
        Ok(Outcome::Failed(error)) => {
            tracing::warn!(target: "orchestra", player = %seat.path(), error = %Chain(&error), "failed as it stopped for the reload");
        }
        Ok(_) => {}
        Err(_) => tracing::warn!(
            target: "orchestra",
            player = %seat.path(),
            ?stop_timeout,
            "did not stop in time for the reload: dropped"
        ),
    }
    Outcome::Reloaded
}

/// Waits `delay` unless the member is asked to stop first (`false` then).
///
/// No delay means no timer (tokio's would wait for the next millisecond
/// tick), only a yield to the other tasks. A timer is boxed: a member spends
/// little of its life here, and its task need not carry one.
async fn wait(seat: &Seat, delay: Duration) -> bool {
    if delay.is_zero() {
        tokio::task::yield_now().await;
        return !seat.token().is_cancelled();
    }
    Box::pin(seat.token().run_until_cancelled(sleep(delay)))
        .await
        .is_some()
}

/// Logs and reports how a member ended for good, and returns it.
fn end(
    seat: &Seat,
    span: &RunSpan,
    attempt: u32,
    id: ExecutionId,
    result: Result<(), Error>,
) -> Result<(), Error> {
    span.in_scope(|| match &result {
        Ok(()) if seat.conductor => {
            tracing::debug!(target: "orchestra", conductor = %seat.path(), "stopped");
        }
        Ok(()) => tracing::info!(target: "orchestra", "stopped"),
        // A conductor's failure is its players', which they logged; only
        // its own restart limit is news.
        Err(error @ Error::RestartLimit { .. }) if seat.conductor => {
            tracing::error!(target: "orchestra", conductor = %seat.path(), error = %Cause(error, seat), "failed");
        }
        Err(_) if seat.conductor => {}
        Err(error) => tracing::error!(target: "orchestra", error = %Cause(error, seat), "failed"),
    });
    seat.emit(attempt, Some(id), || match &result {
        Ok(()) => EventKind::Stopped,
        Err(error) => EventKind::Failed {
            error: Chain(error).to_string(),
        },
    });
    result
}

/// The member's path if it is a conductor, whose logs have no span to say it.
fn whose(seat: &Seat) -> Option<&str> {
    seat.conductor.then(|| &**seat.path())
}

/// An error of a member, for its logs: what its span already says (its
/// path and attempt) left out.
struct Cause<'e>(&'e Error, &'e Seat);

impl fmt::Display for Cause<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Cause(error, seat) = *self;
        match error {
            Error::Failed { path, source, .. } if **path == **seat.path() => {
                write!(f, "{}", Chain(&**source))
            }
            Error::Panicked { path, message, .. } if **path == **seat.path() => {
                write!(f, "panicked: {message}")
            }
            Error::RestartLimit { path, limit, last } if **path == **seat.path() => {
                write!(f, "will not be restarted: {limit}")?;
                match last {
                    Some(last) => write!(f, "; last failure: {}", Cause(last, seat)),
                    None => Ok(()),
                }
            }
            error => write!(f, "{}", Chain(error)),
        }
    }
}

/// The backoff used when a player's options name none.
static DEFAULT_BACKOFF: Backoff = Backoff::exponential();

/// What few members need, boxed in their task when first needed.
#[derive(Default)]
struct Extras<'o> {
    /// A control handle's orders, if the run has one.
    commands: Option<tokio::sync::mpsc::UnboundedReceiver<super::control::Command>>,
    /// Made at the first restart.
    restarts: Option<Restarts<'o>>,
}

/// The restart bookkeeping of one member: its limits and its backoff.
struct Restarts<'o> {
    options: &'o PlayerOptions,
    /// When the last run began (the first run's start does not matter).
    started: Instant,
    delays: Option<Delays>,
    /// When the restarts within the `max_restarts` window happened.
    window: VecDeque<Instant>,
}

impl<'o> Restarts<'o> {
    fn new(options: &'o PlayerOptions) -> Self {
        Restarts {
            options,
            started: Instant::now(),
            delays: None,
            window: VecDeque::new(),
        }
    }

    /// After run number `attempt` (begun at `self.started`) asked for a restart:
    /// the delay before the next run, or the limit that forbids it.
    fn next(&mut self, attempt: u32, immediate: bool) -> Result<Duration, Limit> {
        let options = self.options;
        if let Some(max) = options.max_attempts
            && attempt >= max
        {
            return Err(Limit::MaxAttempts(max));
        }
        let now = Instant::now();
        if let Some((restarts, within)) = options.max_restarts {
            while self.window.front().is_some_and(|t| now - *t >= within) {
                self.window.pop_front();
            }
            if self.window.len() >= restarts as usize {
                return Err(Limit::MaxRestarts { restarts, within });
            }
            self.window.push_back(now);
        }
        if now - self.started >= options.stable_after.unwrap_or(DEFAULT_STABLE_AFTER) {
            self.delays = None;
        }
        if immediate {
            return Ok(Duration::ZERO);
        }
        let backoff = options.backoff.as_ref().unwrap_or(&DEFAULT_BACKOFF);
        self.delays
            .get_or_insert_with(|| backoff.start())
            .next()
            .ok_or(Limit::BackoffExhausted)
    }
}
