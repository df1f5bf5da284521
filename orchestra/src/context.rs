//! What a player is given for each run: cancellation, identity, readiness;
//! a facade over the player's seat in the engine (`engine::seat`).

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio_util::sync::{CancellationToken, WaitForCancellationFuture};

use crate::engine::children::TaskResult;
use crate::engine::seat::{Root, Seat};
use crate::engine::shutdown::Phase;
use crate::error::Error;
use crate::execution_id::ExecutionId;
use crate::status::EventKind;

/// The handle a player receives for one run of [`Player::play`](crate::Player::play).
///
/// It tells the player when to stop ([`cancelled`](Context::cancelled)), who
/// it is ([`path`](Context::path), [`attempt`](Context::attempt),
/// [`execution_id`](Context::execution_id)), and lets it announce that it is
/// ready to serve ([`ready`](Context::ready)), which starts the players
/// ordered `after` it. Cloning is cheap: hand clones to the tasks it
/// starts with [`spawn`](Context::spawn), which its run waits for.
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
    /// The run's own token, under a control handle (which can stop one run
    /// only) or a group that restarts members with their siblings; else the
    /// seat's stop token is the run's.
    run: Option<CancellationToken>,
    attempt: u32,
    execution_id: ExecutionId,
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
        Context::in_run(seat, attempt, None, ExecutionId::next())
    }

    /// A context whose run ends when `group_run` (the token its group may
    /// cancel to restart it with a sibling) is cancelled, if given; a
    /// control handle's run token is a child of it.
    #[inline]
    pub(crate) fn in_run(
        seat: Arc<Seat>,
        attempt: u32,
        group_run: Option<CancellationToken>,
        execution_id: ExecutionId,
    ) -> Self {
        let run = match (&seat.control, group_run) {
            (Some(control), group_run) => {
                Some(control.begin_run(group_run.as_ref().unwrap_or(seat.token())))
            }
            (None, group_run) => group_run,
        };
        Context {
            seat,
            run,
            attempt,
            execution_id,
        }
    }

    /// Gives this run a stop token of its own (a child of its current one),
    /// so that it can be stopped alone (to restart it on a reload); returns
    /// it. By value: a context borrowed would be kept in the member's task.
    pub(crate) fn stoppable_alone(mut self) -> (Self, CancellationToken) {
        let run = self.token().child_token();
        self.run = Some(run.clone());
        (self, run)
    }

    /// Completes once the player is asked to stop. Cancel-safe.
    pub fn cancelled(&self) -> WaitForCancellationFuture<'_> {
        self.token().cancelled()
    }

    fn token(&self) -> &CancellationToken {
        self.run.as_ref().unwrap_or(self.seat.token())
    }

    /// Whether the player has been asked to stop.
    pub fn is_cancelled(&self) -> bool {
        self.token().is_cancelled()
    }

    /// Completes once the run is draining (the lame-duck time before its
    /// stop, see [`Runner::drain`](crate::Runner::drain)) or this player is
    /// asked to stop, whichever comes first. Cancel-safe.
    ///
    /// A player that takes work from elsewhere stops taking it here, and
    /// goes on with what it holds until [`cancelled`](Context::cancelled).
    /// Without a drain configured, it completes with the stop.
    ///
    /// ```
    /// # use orchestra::{BoxError, Context};
    /// async fn play(ctx: Context) -> Result<(), BoxError> {
    ///     ctx.ready();
    ///     ctx.draining().await;
    ///     tracing::info!("draining: no new work taken");
    ///     ctx.cancelled().await;
    ///     Ok(())
    /// }
    /// ```
    pub async fn draining(&self) {
        if self.is_draining() {
            return;
        }
        tokio::select! {
            () = self.seat.root().shutdown.reached(Phase::Draining) => {}
            () = self.seat.token().cancelled() => {}
        }
    }

    /// Whether the run is draining (or stopping), or this player was asked
    /// to stop: see [`draining`](Context::draining).
    pub fn is_draining(&self) -> bool {
        self.seat.token().is_cancelled() || self.seat.root().shutdown.phase() >= Phase::Draining
    }

    /// A token cancelled when this player is asked to stop, for libraries that
    /// take a [`CancellationToken`] (cancelling it yourself stops nothing else).
    pub fn child_token(&self) -> CancellationToken {
        self.token().child_token()
    }

    /// Completes when a reload is requested (`SIGHUP` under
    /// [`Runner::play_until_signal`](crate::Runner::play_until_signal), or
    /// [`Reloader::reload`](crate::Reloader::reload)), for a player that
    /// reloads in place (its configuration, its certificates). Cancel-safe:
    /// loop on it. A request is heard once per player: one made while the
    /// player was not waiting completes its next wait, and several made
    /// meanwhile count as one.
    ///
    /// Outside a run ([`Context::new`]) no reload is ever requested.
    ///
    /// ```
    /// # use orchestra::{BoxError, Context};
    /// async fn play(ctx: Context) -> Result<(), BoxError> {
    ///     ctx.ready();
    ///     loop {
    ///         tokio::select! {
    ///             () = ctx.cancelled() => return Ok(()),
    ///             () = ctx.reload_requested() => tracing::info!("reloading the configuration"),
    ///         }
    ///     }
    /// }
    /// ```
    pub async fn reload_requested(&self) {
        self.seat.reload_requested().await;
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
        self.seat.stop_timeout()
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
        let Some(parent) = seat.parent() else {
            return Err(error("it does not run under a conductor".into()));
        };
        // Known when a player of the group is ordered after another.
        let siblings = parent.members();
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

    /// Whether [`ready`](Context::ready) was called for this player (by any
    /// of its runs), or its readiness `grace` passed.
    pub fn is_ready(&self) -> bool {
        self.seat.ready.is_ready()
    }

    /// Runs `task` on a tokio task of its own as a child of this run: the
    /// run counts as ended only once `play` has returned **and** every
    /// child has ended (see *Work that lives inside a player* in the crate
    /// docs).
    ///
    /// - The child runs inside the current span: the player's, when spawned
    ///   from `play`. It observes the player's stop through a clone of the
    ///   context ([`cancelled`](Context::cancelled)).
    /// - Once the player is asked to stop, its children share its stop
    ///   timeout: when the player is aborted (the timeout passed, or the
    ///   stop was forced), the children still running are aborted with it
    ///   at their next `.await`, and counted in the log.
    /// - A child that returns an `Err` or panics fails the run as if `play`
    ///   had returned that error (`Error::Failed` or `Error::Panicked`
    ///   naming the player): `play` is dropped where it waits, the other
    ///   children are aborted, and the player's restart policy applies.
    /// - Spawned after the player ended for good, the task is not run.
    ///
    /// Nothing is allocated for the children of a player that never spawns.
    ///
    /// ```
    /// use orchestra::{player_fn, BoxError, Context};
    /// use tokio::sync::mpsc;
    ///
    /// async fn handle(job: u32, ctx: Context) -> Result<(), BoxError> {
    ///     tracing::info!(job, attempt = ctx.attempt(), "handled");
    ///     Ok(())
    /// }
    ///
    /// # let (_tx, mut jobs) = mpsc::channel::<u32>(8);
    /// let consumer = player_fn(move |ctx: Context| {
    ///     # let (_tx, mut jobs) = mpsc::channel::<u32>(8);
    ///     async move {
    ///         while let Some(Some(job)) = ctx.run_until_cancelled(jobs.recv()).await {
    ///             // Finished before the run ends, even when the stop comes
    ///             // while it is in flight.
    ///             ctx.spawn(handle(job, ctx.clone()));
    ///         }
    ///         Ok(())
    ///     }
    /// });
    /// # drop(consumer);
    /// ```
    pub fn spawn<F>(&self, task: F)
    where
        F: Future + Send + 'static,
        F::Output: TaskResult,
    {
        self.seat.children().spawn(&self.seat, self.attempt, task);
    }

    pub(crate) fn seat(&self) -> &Arc<Seat> {
        &self.seat
    }

    pub(crate) fn root(&self) -> &Arc<Root> {
        self.seat.root()
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
