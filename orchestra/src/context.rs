//! What a player is given for each run: cancellation, identity, readiness;
//! a facade over the player's seat in the engine (`engine::seat`).

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio_util::sync::{CancellationToken, WaitForCancellationFuture};

use crate::engine::seat::{Root, Seat};
use crate::error::Error;
use crate::execution_id::ExecutionId;
use crate::status::EventKind;

/// The handle a player receives for one run of [`Player::play`](crate::Player::play).
///
/// It tells the player when to stop ([`cancelled`](Context::cancelled)), who
/// it is ([`path`](Context::path), [`attempt`](Context::attempt),
/// [`execution_id`](Context::execution_id)), and lets it announce that it is
/// ready to serve ([`ready`](Context::ready)), which starts the players
/// ordered `after` it. Cloning is cheap: hand clones to helper tasks.
///
/// ```
/// use orchestra::{BoxError, Context, Player};
/// use std::time::Duration;
///
/// struct Ticker;
///
/// impl Player for Ticker {
///     async fn play(&mut self, ctx: Context) -> Result<(), BoxError> {
///         ctx.ready();
///         let mut tick = tokio::time::interval(Duration::from_secs(1));
///         loop {
///             tokio::select! {
///                 _ = ctx.cancelled() => return Ok(()),
///                 _ = tick.tick() => tracing::info!(player = ctx.path(), "tick"),
///             }
///         }
///     }
/// }
/// ```
#[derive(Clone)]
pub struct Context {
    seat: Arc<Seat>,
    attempt: u32,
    execution_id: ExecutionId,
    /// The run's own token, when its group may end the run alone (for a
    /// restart); otherwise the seat's is the run's.
    run: Option<CancellationToken>,
}

impl Context {
    /// A context for running a player on its own, outside any conductor, for
    /// example in the player's unit tests. Cancel `token` to ask it to stop.
    ///
    /// ```
    /// use orchestra::{player_fn, BoxError, CancellationToken, Context, Player};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), BoxError> {
    /// let mut player = player_fn(|ctx: Context| async move {
    ///     ctx.cancelled().await;
    ///     Ok(())
    /// });
    /// let token = CancellationToken::new();
    /// token.cancel();
    /// player.play(Context::new("standalone", token)).await?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn new(name: &str, token: CancellationToken) -> Self {
        Context::for_run(Arc::new(Seat::standalone(name, token)), 1)
    }

    pub(crate) fn for_run(seat: Arc<Seat>, attempt: u32) -> Self {
        Context::in_run(seat, attempt, None)
    }

    /// A context whose run ends when `run` is cancelled, if given.
    pub(crate) fn in_run(seat: Arc<Seat>, attempt: u32, run: Option<CancellationToken>) -> Self {
        Context {
            seat,
            attempt,
            execution_id: ExecutionId::next(),
            run,
        }
    }

    fn token(&self) -> &CancellationToken {
        self.run.as_ref().unwrap_or(&self.seat.token)
    }

    /// Completes once the player is asked to stop. Cancel-safe.
    pub fn cancelled(&self) -> WaitForCancellationFuture<'_> {
        self.token().cancelled()
    }

    /// Whether the player has been asked to stop.
    pub fn is_cancelled(&self) -> bool {
        self.token().is_cancelled()
    }

    /// A token cancelled when this player is asked to stop, for libraries that
    /// take a [`CancellationToken`] (cancelling it yourself stops nothing else).
    pub fn child_token(&self) -> CancellationToken {
        self.token().child_token()
    }

    /// Runs `fut` until it completes or the player is asked to stop, whichever
    /// comes first; `None` means it was asked to stop.
    ///
    /// ```
    /// # use orchestra::{BoxError, Context};
    /// async fn next_job(_ctx: &Context) -> Option<u32> { None }
    /// async fn play(ctx: Context) -> Result<(), BoxError> {
    ///     while let Some(Some(job)) = ctx.run_until_cancelled(next_job(&ctx)).await {
    ///         tracing::info!(job, "processing");
    ///     }
    ///     Ok(())
    /// }
    /// ```
    pub async fn run_until_cancelled<F: Future>(&self, fut: F) -> Option<F::Output> {
        self.token().run_until_cancelled(fut).await
    }

    /// The player's path from the root conductor, such as `app/jobs/mailer`.
    pub fn path(&self) -> &str {
        self.seat.path()
    }

    /// How long the player has to return once asked to stop before its
    /// conductor aborts it (its stop timeout); `None` outside a conductor.
    /// Useful to keep a drain of its own shorter than that.
    pub fn stop_timeout(&self) -> Option<Duration> {
        self.seat.stop_timeout
    }

    /// The player's own name: the last segment of its [`path`](Context::path).
    pub fn name(&self) -> &str {
        let path = self.path();
        path.rsplit_once('/').map_or(path, |(_, name)| name)
    }

    /// Which run of the player this is: 1 for the first, 2 after one restart…
    ///
    /// A conductor restarted as a whole (a restart policy on a nested
    /// conductor) runs its players again: their attempts count on from
    /// their runs under its earlier runs, as a [`Monitor`](crate::Monitor)'s
    /// runs do, while their own limits (`max_attempts`, `max_restarts`,
    /// the backoff) start over. A run ended to restart the player with a
    /// sibling ([`Strategy`](crate::Strategy)) counts as a run too, but
    /// against no limit of its own.
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// An identifier unique to this run within the process.
    pub fn execution_id(&self) -> ExecutionId {
        self.execution_id
    }

    /// Announces that the player is ready (listening, connected…). Players
    /// ordered `after` it start then. Calling it again does nothing.
    pub fn ready(&self) {
        let seat = &*self.seat;
        seat.ready.set();
        if seat.ready_run.swap(self.attempt, Ordering::AcqRel) != self.attempt {
            tracing::debug!(target: "orchestra", player = %self.path(), "ready");
            seat.emit(self.attempt, Some(self.execution_id), || EventKind::Ready);
        }
    }

    /// Hands `value` to the players ordered `after` this one, then announces
    /// readiness ([`ready`](Context::ready)). They take a copy with
    /// [`dependency`](Context::dependency), on every run; the value is
    /// withdrawn when this run ends, and a later run hands its own.
    ///
    /// ```
    /// use orchestra::{BoxError, Context, Player};
    ///
    /// #[derive(Clone)]
    /// struct Pool(std::sync::Arc<str>);
    ///
    /// struct Db;
    /// impl Player for Db {
    ///     async fn play(&mut self, ctx: Context) -> Result<(), BoxError> {
    ///         let pool = Pool("postgres://db/app".into()); // connect, with retries
    ///         ctx.ready_with(pool);
    ///         ctx.cancelled().await;
    ///         Ok(())
    ///     }
    /// }
    ///
    /// struct Http;
    /// impl Player for Http {
    ///     async fn play(&mut self, ctx: Context) -> Result<(), BoxError> {
    ///         let pool: Pool = ctx.dependency("db")?; // ordered `after = "db"`
    ///         # let _ = pool;
    ///         ctx.ready();
    ///         ctx.cancelled().await;
    ///         Ok(())
    ///     }
    /// }
    /// ```
    pub fn ready_with<T: Send + Sync + 'static>(&self, value: T) {
        self.seat.hand_off.publish(value);
        self.ready();
    }

    /// A copy of the value that the sibling `name` handed over with
    /// [`ready_with`](Context::ready_with). The player must be ordered
    /// `after` it, so that it starts once the value is there; under a
    /// [`Strategy::RestForOne`](crate::Strategy::RestForOne) conductor, it
    /// restarts with `name` and so has each new value.
    ///
    /// # Errors
    ///
    /// [`Error::Dependency`](crate::Error::Dependency), naming both players,
    /// if `name` is not a sibling, this player is not ordered `after` it,
    /// it has handed no value over, or its value is not a `T`.
    pub fn dependency<T: Clone + Send + Sync + 'static>(&self, name: &str) -> Result<T, Error> {
        let seat = &*self.seat;
        let error = |message: String| Error::Dependency {
            path: seat.path().clone(),
            provider: Arc::from(name),
            message,
        };
        let Some(parent) = &seat.parent else {
            return Err(error("it does not run under a conductor".into()));
        };
        // Known when a player of the group is ordered after another.
        let siblings = parent.members.get();
        let provider = siblings
            .as_ref()
            .and_then(|siblings| siblings.iter().find(|s| &*s.name == name));
        if let (Some(siblings), None) = (&siblings, provider) {
            let names: Vec<String> = siblings.iter().map(|s| format!("`{}`", s.name)).collect();
            return Err(error(format!(
                "`{name}` is not a player of its conductor; its players are {}",
                names.join(", ")
            )));
        }
        let (true, Some(provider)) = (
            seat.options.after.iter().any(|after| &**after == name),
            provider,
        ) else {
            return Err(error(format!(
                "it is not ordered `after` `{name}`: add `after = \"{name}\"` to it, so that it \
                 starts once `{name}` has handed its value over"
            )));
        };
        match provider.hand_off.get::<T>() {
            Ok(Some(value)) => Ok(value),
            Ok(None) => Err(error(format!(
                "`{name}` has handed no value over: it is not ready, or it calls `ctx.ready()` \
                 rather than `ctx.ready_with(value)`"
            ))),
            Err(handed) => Err(error(format!(
                "it asks for a `{}`, but `{name}` hands over a `{handed}`",
                std::any::type_name::<T>()
            ))),
        }
    }

    /// Whether [`ready`](Context::ready) was called (or the readiness grace
    /// passed) for this player.
    pub fn is_ready(&self) -> bool {
        self.seat.ready.is_ready()
    }

    pub(crate) fn seat(&self) -> &Arc<Seat> {
        &self.seat
    }

    pub(crate) fn root(&self) -> &Arc<Root> {
        &self.seat.root
    }
}

impl fmt::Debug for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Context")
            .field("path", &self.path())
            .field("attempt", &self.attempt())
            .field("execution_id", &self.execution_id())
            .field("cancelled", &self.is_cancelled())
            .finish()
    }
}
