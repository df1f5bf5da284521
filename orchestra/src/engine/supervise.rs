//! Running one member: deferred start, runs, restarts, backoff, limits.

use std::any::Any;
use std::collections::VecDeque;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt;
use tokio::time::{Instant, sleep};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::{Group, Run, group};
use crate::context::{Context, ExecutionId, Readiness};
use crate::error::{Chain, Error, Limit};
use crate::options::{DEFAULT_STABLE_AFTER, PlayerOptions};
use crate::player::{DynPlayer, RestartNow};
use crate::restart::{Backoff, Delays, Restart};
use crate::status::EventKind;

/// Everything one member needs to run, shared with its task.
#[derive(Clone)]
pub(super) struct MemberRun {
    pub(super) path: Arc<str>,
    pub(super) options: Arc<PlayerOptions>,
    /// Cancelled when the member is asked to stop.
    pub(super) stop: CancellationToken,
    /// Cancelled when the member must be aborted (a nested group aborts its own).
    pub(super) abort: CancellationToken,
    pub(super) ready: Arc<Readiness>,
    pub(super) run: Arc<Run>,
    /// The stop timeout a nested group gives its members by default.
    pub(super) inherited_timeout: Duration,
}

/// What a member runs: a player, or a nested group.
pub(super) enum Target<'r, 'a> {
    Player(&'r mut dyn DynPlayer),
    Group(&'r mut Group<'a>),
}

/// How one run ended.
enum Outcome {
    Done,
    RestartNow(RestartNow),
    Failed(Error),
}

impl Target<'_, '_> {
    fn run<'s>(
        &'s mut self,
        ctx: Context,
        m: &'s MemberRun,
    ) -> Pin<Box<dyn Future<Output = Outcome> + Send + 's>> {
        match self {
            Target::Player(player) => Box::pin(async move {
                let path = ctx.path().to_owned();
                let attempt = ctx.attempt();
                let played = AssertUnwindSafe(player.play_dyn(ctx)).catch_unwind().await;
                match played {
                    Ok(Ok(())) => Outcome::Done,
                    Ok(Err(error)) => match error.downcast::<RestartNow>() {
                        Ok(request) => Outcome::RestartNow(*request),
                        // A player that runs a conductor itself passes its
                        // error through: it already names the failing paths.
                        Err(error) => Outcome::Failed(match error.downcast::<Error>() {
                            Ok(error) => *error,
                            Err(source) => Error::Failed {
                                path,
                                attempt,
                                source,
                            },
                        }),
                    },
                    Err(panic) => Outcome::Failed(Error::Panicked {
                        path,
                        attempt,
                        message: panic_message(&*panic),
                    }),
                }
            }),
            Target::Group(group) => Box::pin(async move {
                match group::run(group, &ctx, &m.abort, m.inherited_timeout).await {
                    Ok(()) => Outcome::Done,
                    Err(error) => Outcome::Failed(error),
                }
            }),
        }
    }
}

/// Runs a member until it is done, its failure is final, or it is asked to
/// stop; restarts it in between as its options say.
pub(super) async fn supervise(mut target: Target<'_, '_>, m: &MemberRun) -> Result<(), Error> {
    let options = &*m.options;
    if let Some(delay) = options.delay {
        tracing::debug!(player = %m.path, ?delay, "deferred start");
        m.run
            .emit(&m.path, 0, None, || EventKind::Deferred { delay });
        if m.stop.run_until_cancelled(sleep(delay)).await.is_none() {
            m.run.emit(&m.path, 0, None, || EventKind::Stopped);
            return Ok(());
        }
    }

    let mut restarts = Restarts::new(options);
    let mut attempt = 0;
    loop {
        // A stop that came as the backoff ended starts nothing more.
        if attempt > 0 && m.stop.is_cancelled() {
            m.run.emit(&m.path, attempt, None, || EventKind::Stopped);
            return Ok(());
        }
        attempt += 1;
        let ctx = Context::for_run(
            m.stop.clone(),
            m.path.clone(),
            attempt,
            m.ready.clone(),
            m.run.clone(),
        );
        let span = tracing::info_span!(
            "player",
            player = %m.path,
            attempt,
            execution_id = %ctx.execution_id(),
        );
        let id = Some(ctx.execution_id());
        m.run.emit(&m.path, attempt, id, || EventKind::Started);
        let started = Instant::now();
        let outcome = async {
            tracing::info!("started");
            target.run(ctx, m).await
        }
        .instrument(span.clone())
        .await;

        // Once asked to stop, nothing restarts; failures are still reported.
        let stopping = m.stop.is_cancelled();
        let (failure, immediate) = match outcome {
            Outcome::Failed(error) if stopping || options.restart == Restart::Never => {
                return end(m, &span, attempt, id, Err(error));
            }
            Outcome::Done if options.restart != Restart::Always => {
                return end(m, &span, attempt, id, Ok(()));
            }
            _ if stopping => return end(m, &span, attempt, id, Ok(())),
            Outcome::Done => (None, false),
            Outcome::RestartNow(request) => {
                span.in_scope(|| tracing::info!(%request, "restarting at once"));
                (None, true)
            }
            Outcome::Failed(error) => (Some(error), false),
        };

        let delay = match restarts.next(attempt, started, immediate) {
            Ok(delay) => delay,
            Err(limit) => {
                let error = Error::RestartLimit {
                    path: m.path.to_string(),
                    limit,
                    last: failure.map(Box::new),
                };
                return end(m, &span, attempt, id, Err(error));
            }
        };
        span.in_scope(|| match &failure {
            Some(error) => tracing::warn!(error = %Chain(error), ?delay, "failed; restarting"),
            None => tracing::info!(?delay, "returned; restarting"),
        });
        m.run.emit(&m.path, attempt, id, || EventKind::BackingOff {
            error: failure.as_ref().map(|e| Chain(e).to_string()),
            delay,
        });
        if m.stop.run_until_cancelled(sleep(delay)).await.is_none() {
            m.run.emit(&m.path, attempt, id, || EventKind::Stopped);
            return Ok(());
        }
    }
}

/// Logs and reports how a member ended for good, and returns it.
fn end(
    m: &MemberRun,
    span: &tracing::Span,
    attempt: u32,
    id: Option<ExecutionId>,
    result: Result<(), Error>,
) -> Result<(), Error> {
    span.in_scope(|| match &result {
        Ok(()) => tracing::info!("stopped"),
        Err(error) => tracing::error!(error = %Chain(error), "failed"),
    });
    m.run.emit(&m.path, attempt, id, || match &result {
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
