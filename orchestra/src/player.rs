//! The one trait users implement, and closures as players.

use std::fmt;

use crate::context::Context;
use crate::engine::member::{Access, Member};
use crate::error::BoxError;

/// A long-lived part of a service: an HTTP server, a queue consumer, a scheduler…
///
/// [`play`](Player::play) runs until the work is done, fails, or `ctx` is
/// cancelled; after cancellation it must return soon (within its stop
/// timeout, or it is aborted). A restart calls `play` again on the same
/// value, so a player keeps its state across runs and needs neither `Clone`
/// nor a factory.
///
/// Each player runs on its own tokio task. Conductors (derived with
/// `#[derive(Conductor)]` or built at run time with [`Conductor`](struct@crate::Conductor))
/// are players too, so they nest.
///
/// ```
/// use orchestra::{BoxError, Context, Player};
/// use tokio::sync::mpsc;
///
/// struct Consumer {
///     jobs: mpsc::Receiver<String>,
/// }
///
/// impl Player for Consumer {
///     async fn play(&mut self, ctx: Context) -> Result<(), BoxError> {
///         ctx.ready();
///         loop {
///             tokio::select! {
///                 _ = ctx.cancelled() => return Ok(()),
///                 job = self.jobs.recv() => match job {
///                     Some(job) => tracing::info!(%job, "processing"),
///                     None => return Ok(()), // the producer is gone: done
///                 },
///             }
///         }
///     }
/// }
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not an orchestra player",
    label = "not a player",
    note = "implement `orchestra::Player` for `{Self}`, wrap a closure in `orchestra::player_fn`, or `#[derive(orchestra::Conductor)]` on a struct of players",
    note = "a field that is not a player can be marked `#[player(skip)]`"
)]
pub trait Player: Send + 'static {
    /// Runs the player until it is done, it fails, or `ctx` is cancelled.
    ///
    /// Returning `Ok(())` before cancellation means the work is done: the
    /// player is not restarted (unless its policy is `always`) and its
    /// siblings keep running. Returning an error ends the whole conductor,
    /// unless the player's restart policy restarts it. Return [`RestartNow`]
    /// to be restarted at once, whatever the policy.
    fn play(&mut self, ctx: Context) -> impl Future<Output = Result<(), BoxError>> + Send;

    /// How deeply conductors nest below this type: 0 for a leaf player, at
    /// least 1 for a conductor.
    ///
    /// A derived conductor computes it from its fields, so a cycle of
    /// conductor types (A holds B, B holds `Box<A>`) makes rustc report a
    /// cycle while evaluating it, at compile time: the name is what that
    /// error shows.
    #[doc(hidden)]
    const __DEPTH_CYCLES_IF_A_CONDUCTOR_CONTAINS_ITSELF: usize = 0;

    /// A conductor (depth 1 or more) as a member of the engine: its name,
    /// its default stop timeout and its players, given, lent or shown as
    /// `access` is. Never called for a leaf (depth 0), which the engine
    /// holds as it is.
    #[doc(hidden)]
    fn __conductor(access: Access<'_, Self>) -> Member<'_>
    where
        Self: Sized,
    {
        let _ = access;
        Member::conductor(std::any::type_name::<Self>(), None, Vec::new())
    }
}

impl<P: Player> Player for Box<P> {
    fn play(&mut self, ctx: Context) -> impl Future<Output = Result<(), BoxError>> + Send {
        (**self).play(ctx)
    }

    const __DEPTH_CYCLES_IF_A_CONDUCTOR_CONTAINS_ITSELF: usize =
        P::__DEPTH_CYCLES_IF_A_CONDUCTOR_CONTAINS_ITSELF;

    fn __conductor(access: Access<'_, Self>) -> Member<'_> {
        P::__conductor(match access {
            Access::Own(this) => Access::Own(*this),
            Access::Borrow(this) => Access::Borrow(&mut **this),
            Access::Show(this) => Access::Show(&**this),
        })
    }
}

/// Makes a player of a closure returning a future (Go orchestra's `PlayerFunc`).
///
/// The closure is called again for every restart, so it is `FnMut`.
///
/// ```
/// use orchestra::{player_fn, Context};
///
/// let heartbeat = player_fn(|ctx: Context| async move {
///     ctx.cancelled().await;
///     Ok(())
/// });
/// # let _ = heartbeat;
/// ```
pub fn player_fn<F, Fut>(f: F) -> PlayerFn<F>
where
    // The closure's shape, for the type of `ctx` to be inferred; the
    // bounds are `PlayerClosure`'s.
    F: FnMut(Context) -> Fut + PlayerClosure,
{
    PlayerFn(f)
}

/// A closure [`player_fn`] makes a player of: `FnMut(Context) -> Fut`,
/// `Send + 'static`, where `Fut` is a `Send + 'static` future of a
/// `Result<(), BoxError>`. Every such closure is one.
pub trait PlayerClosure: Send + 'static {
    /// The future of one run.
    type Future: Future<Output = Result<(), BoxError>> + Send + 'static;

    /// Starts one run.
    fn call(&mut self, ctx: Context) -> Self::Future;
}

impl<F, Fut> PlayerClosure for F
where
    F: FnMut(Context) -> Fut + Send + 'static,
    Fut: Future<Output = Result<(), BoxError>> + Send + 'static,
{
    type Future = Fut;

    fn call(&mut self, ctx: Context) -> Fut {
        self(ctx)
    }
}

/// A closure as a [`Player`]; made by [`player_fn`].
#[derive(Clone)]
pub struct PlayerFn<F>(F);

impl<F> fmt::Debug for PlayerFn<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PlayerFn")
    }
}

impl<F: PlayerClosure> Player for PlayerFn<F> {
    fn play(&mut self, ctx: Context) -> impl Future<Output = Result<(), BoxError>> + Send {
        self.0.call(ctx)
    }
}

/// Returned by a player to be restarted at once, whatever its restart policy
/// (the request older Go orchestra versions had as `ErrRestart`).
///
/// The restart skips the backoff delay but counts towards `max_attempts` and
/// `max_restarts`.
///
/// ```
/// use orchestra::{player_fn, Context, RestartNow};
///
/// let reloader = player_fn(|ctx: Context| async move {
///     if ctx.attempt() == 1 {
///         return Err(RestartNow::because("configuration changed").into());
///     }
///     ctx.cancelled().await;
///     Ok(())
/// });
/// # let _ = reloader;
/// ```
#[derive(Debug, Default, Clone)]
pub struct RestartNow {
    reason: Option<String>,
}

impl RestartNow {
    /// A restart request with a reason, which is logged.
    pub fn because(reason: impl Into<String>) -> Self {
        RestartNow {
            reason: Some(reason.into()),
        }
    }

    /// The reason given, if any.
    pub fn reason(&self) -> Option<&str> {
        self.reason.as_deref()
    }
}

impl fmt::Display for RestartNow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.reason {
            Some(reason) => write!(f, "restart requested: {reason}"),
            None => f.write_str("restart requested"),
        }
    }
}

impl std::error::Error for RestartNow {}
