//! Running one member: deferred start, runs, restarts, backoff, limits.

use std::any::Any;
use std::collections::VecDeque;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use futures_util::FutureExt;
use tokio::task::JoinHandle;
use tokio::time::{Instant, sleep};
use tracing::Instrument;

use super::member::{DynPlayer, Played};
use super::seat::Seat;
use crate::context::Context;
use crate::error::{BoxError, Chain, Error, Limit};
use crate::execution_id::ExecutionId;
use crate::options::{DEFAULT_STABLE_AFTER, PlayerOptions};
use crate::player::{Player, RestartNow};
use crate::restart::{Backoff, Delays, Restart};
use crate::status::EventKind;

/// What a member runs: a player, or a nested group.
pub(super) trait Target: Send {
    /// One run, until it ends.
    fn play(&mut self, ctx: Context, seat: &Seat) -> impl Future<Output = Outcome> + Send;
}

/// A player whose type is known: its runs are polled inline, unboxed, in
/// the member's task.
pub(super) struct Typed<'r, P>(pub(super) &'r mut P);

impl<P: Player> Target for Typed<'_, P> {
    async fn play(&mut self, ctx: Context, seat: &Seat) -> Outcome {
        let attempt = ctx.attempt();
        let played = AssertUnwindSafe(self.0.play(ctx)).catch_unwind().await;
        outcome(played, attempt, seat)
    }
}

/// A player behind `dyn`, borrowed from a conductor played in place.
pub(super) struct Dyn<'r>(pub(super) &'r mut dyn DynPlayer);

impl Target for Dyn<'_> {
    async fn play(&mut self, ctx: Context, seat: &Seat) -> Outcome {
        let attempt = ctx.attempt();
        let played = AssertUnwindSafe(self.0.play_dyn(ctx)).catch_unwind().await;
        outcome(played, attempt, seat)
    }
}

/// How one run ended.
pub(super) enum Outcome {
    Done,
    RestartNow(RestartNow),
    Failed(Error),
}

/// How a run ended, from what `play` returned or its panic; the path is
/// made only for an error.
fn outcome(
    played: Result<Result<(), BoxError>, Box<dyn Any + Send>>,
    attempt: u32,
    seat: &Seat,
) -> Outcome {
    match played {
        Ok(Ok(())) => Outcome::Done,
        Ok(Err(error)) => match error.downcast::<RestartNow>() {
            Ok(request) => Outcome::RestartNow(*request),
            // A player that runs a conductor itself passes its
            // error through: it already names the failing paths.
            Err(error) => Outcome::Failed(match error.downcast::<Error>() {
                Ok(error) => *error,
                Err(source) => Error::Failed {
                    path: seat.path().clone(),
                    attempt,
                    source,
                },
            }),
        },
        Err(panic) => Outcome::Failed(Error::Panicked {
            path: seat.path().clone(),
            attempt,
            message: panic_message(&*panic),
        }),
    }
}

/// Runs an owned player on a task of its own, typed: its runs are not boxed.
///
/// The task's future is boxed: tokio moves a future several times while
/// spawning and finishing its task, and a box is cheaper to move.
fn spawn_leaf<P: Player>(mut player: Box<P>, seat: Arc<Seat>) -> JoinHandle<Played> {
    tokio::spawn(Box::pin(async move {
        let result = supervise(Typed(&mut *player), &seat).await;
        (player as Box<dyn DynPlayer>, result)
    }))
}

impl<P: Player> DynPlayer for P {
    fn play_dyn(
        &mut self,
        ctx: Context,
    ) -> Pin<Box<dyn Future<Output = Result<(), BoxError>> + Send + '_>> {
        Box::pin(self.play(ctx))
    }

    fn spawn_dyn(self: Box<Self>, seat: Arc<Seat>) -> JoinHandle<Played> {
        spawn_leaf(self, seat)
    }
}

/// Runs a member until it is done, its failure is final, or it is asked to
/// stop; restarts it in between as its options say.
pub(super) async fn supervise(mut target: impl Target, seat: &Arc<Seat>) -> Result<(), Error> {
    let options = &*seat.options;
    if let Some(delay) = options.delay {
        tracing::debug!(player = %seat.path(), ?delay, "deferred start");
        seat.emit(0, None, || EventKind::Deferred { delay });
        if !wait(seat, delay).await {
            seat.emit(0, None, || EventKind::Stopped);
            return Ok(());
        }
    }

    // Boxed at the first restart: most members never restart, and their
    // task need not carry the bookkeeping.
    let mut restarts: Option<Box<Restarts<'_>>> = None;
    let mut attempt = 0;
    loop {
        // A stop that came as the backoff ended starts nothing more.
        if attempt > 0 && seat.token.is_cancelled() {
            seat.emit(attempt, None, || EventKind::Stopped);
            return Ok(());
        }
        attempt += 1;
        let ctx = Context::for_run(seat.clone(), attempt);
        let id = Some(ctx.execution_id());
        let span = tracing::info_span!(
            "player",
            player = %seat.path(),
            attempt,
            execution_id = %ctx.execution_id(),
        );
        seat.emit(attempt, id, || EventKind::Started);
        let started = Instant::now();
        let target = &mut target;
        let outcome = async move {
            tracing::info!("started");
            match options.ready_within {
                None => target.play(ctx, seat).await,
                Some(within) => ready_within(target.play(ctx, seat), seat, attempt, within).await,
            }
        }
        .instrument(span.clone())
        .await;

        // Once asked to stop, nothing restarts; failures are still reported.
        let stopping = seat.token.is_cancelled();
        let (failure, immediate) = match outcome {
            Outcome::Failed(error) if stopping || options.restart == Restart::Never => {
                return end(seat, &span, attempt, id, Err(error));
            }
            Outcome::Done if options.restart != Restart::Always => {
                return end(seat, &span, attempt, id, Ok(()));
            }
            _ if stopping => return end(seat, &span, attempt, id, Ok(())),
            Outcome::Done => (None, false),
            Outcome::RestartNow(request) => {
                span.in_scope(|| tracing::info!(%request, "restarting at once"));
                (None, true)
            }
            Outcome::Failed(error) => (Some(error), false),
        };

        let restarts = restarts.get_or_insert_with(|| Box::new(Restarts::new(options)));
        let delay = match restarts.next(attempt, started, immediate) {
            Ok(delay) => delay,
            Err(limit) => {
                let error = Error::RestartLimit {
                    path: seat.path().clone(),
                    limit,
                    last: failure.map(Box::new),
                };
                return end(seat, &span, attempt, id, Err(error));
            }
        };
        span.in_scope(|| match &failure {
            Some(error) => tracing::warn!(error = %Chain(error), ?delay, "failed; restarting"),
            None => tracing::info!(?delay, "returned; restarting"),
        });
        seat.emit(attempt, id, || EventKind::BackingOff {
            error: failure.as_ref().map(|e| Chain(e).to_string()),
            delay,
        });
        drop(failure);
        if !wait(seat, delay).await {
            seat.emit(attempt, id, || EventKind::Stopped);
            return Ok(());
        }
    }
}

/// Runs `play`, run number `attempt` of the member in `seat`: if the run
/// has not called `ctx.ready()` within `within` (and was not asked to stop
/// meanwhile), it is cut there (its future dropped) and counts as a failed
/// run, which its restart policy handles.
async fn ready_within(
    play: impl Future<Output = Outcome>,
    seat: &Seat,
    attempt: u32,
    within: Duration,
) -> Outcome {
    let mut play = std::pin::pin!(play);
    // Boxed: the deadline is the few members' that set one.
    tokio::select! {
        biased;
        outcome = &mut play => return outcome,
        () = Box::pin(sleep(within)) => {}
    }
    if seat.ready_run.load(Ordering::Acquire) == attempt || seat.token.is_cancelled() {
        return play.await;
    }
    tracing::warn!(
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

/// Waits `delay` unless the member is asked to stop first (`false` then).
///
/// No delay means no timer (tokio's would wait for the next millisecond
/// tick), only a yield to the other tasks. A timer is boxed: a member spends
/// little of its life here, and its task need not carry one.
async fn wait(seat: &Seat, delay: Duration) -> bool {
    if delay.is_zero() {
        tokio::task::yield_now().await;
        return !seat.token.is_cancelled();
    }
    Box::pin(seat.token.run_until_cancelled(sleep(delay)))
        .await
        .is_some()
}

/// Logs and reports how a member ended for good, and returns it.
fn end(
    seat: &Seat,
    span: &tracing::Span,
    attempt: u32,
    id: Option<ExecutionId>,
    result: Result<(), Error>,
) -> Result<(), Error> {
    span.in_scope(|| match &result {
        Ok(()) => tracing::info!("stopped"),
        Err(error) => tracing::error!(error = %Chain(error), "failed"),
    });
    seat.emit(attempt, id, || match &result {
        Ok(()) => EventKind::Stopped,
        Err(error) => EventKind::Failed {
            error: Chain(error).to_string(),
        },
    });
    result
}

/// The backoff used when a player's options name none.
static DEFAULT_BACKOFF: Backoff = Backoff::exponential();

/// The restart bookkeeping of one member: its limits and its backoff.
struct Restarts<'o> {
    options: &'o PlayerOptions,
    delays: Option<Delays>,
    /// When the restarts within the `max_restarts` window happened.
    window: VecDeque<Instant>,
}

impl<'o> Restarts<'o> {
    fn new(options: &'o PlayerOptions) -> Self {
        Restarts {
            options,
            delays: None,
            window: VecDeque::new(),
        }
    }

    /// After run number `attempt` (begun at `started`) asked for a restart:
    /// the delay before the next run, or the limit that forbids it.
    fn next(&mut self, attempt: u32, started: Instant, immediate: bool) -> Result<Duration, Limit> {
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
        if now - started >= options.stable_after.unwrap_or(DEFAULT_STABLE_AFTER) {
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

/// The message of a panic payload.
pub(super) fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(message) = payload.downcast_ref::<&str>() {
        (*message).to_owned()
    } else if let Some(message) = payload.downcast_ref::<String>() {
        message.clone()
    } else {
        "a panic payload that is not a string".to_owned()
    }
}
