//! The one trait users implement, and closures as players.

use std::fmt;
use std::pin::Pin;

use crate::context::Context;
use crate::describe::Description;
use crate::engine::{Member, MemberRun, Played, spawn_leaf};
use crate::error::BoxError;
use crate::options::PlayerOptions;
use tokio::task::JoinHandle;

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

    /// How deeply conductors nest below this type: 0 for a leaf player.
    ///
    /// A derived conductor computes it from its fields, so a cycle of
    /// conductor types (A holds B, B holds `Box<A>`) makes rustc report a
    /// cycle while evaluating it, at compile time.
    #[doc(hidden)]
    const __DEPTH: usize = 0;

    /// Hands the player to the engine as an owned member. A leaf becomes one
    /// member; conductors override this to hand over their tree of members.
    #[doc(hidden)]
    fn __into_member(self, name: Option<&str>, options: PlayerOptions) -> Member<'static>
    where
        Self: Sized,
    {
        Member::leaf(name.unwrap_or("player"), options, self)
    }

    /// Lends the player to the engine for one in-place run (a conductor's
    /// `play(&mut self)`): a leaf is polled on the caller's task; conductors
    /// override this to lend their tree of members.
    #[doc(hidden)]
    fn __borrow_member(&mut self, name: Option<&str>, options: PlayerOptions) -> Member<'_>
    where
        Self: Sized,
    {
        Member::borrowed(name.unwrap_or("player"), options, self)
    }

    /// Describes the player and, for conductors, the tree below it.
    #[doc(hidden)]
    fn __describe(&self, name: Option<&str>, options: &PlayerOptions) -> Description {
        Description::leaf(
            name.unwrap_or("player"),
            options.clone(),
            std::any::type_name::<Self>(),
        )
    }
}

impl<P: Player> Player for Box<P> {
    fn play(&mut self, ctx: Context) -> impl Future<Output = Result<(), BoxError>> + Send {
        (**self).play(ctx)
    }

    const __DEPTH: usize = P::__DEPTH;

    fn __into_member(self, name: Option<&str>, options: PlayerOptions) -> Member<'static> {
        (*self).__into_member(name, options)
    }

    fn __borrow_member(&mut self, name: Option<&str>, options: PlayerOptions) -> Member<'_> {
        (**self).__borrow_member(name, options)
    }

    fn __describe(&self, name: Option<&str>, options: &PlayerOptions) -> Description {
        (**self).__describe(name, options)
    }
}

/// The object-safe face of [`Player`] that the engine stores.
pub(crate) trait DynPlayer: Send {
    fn play_dyn(
        &mut self,
        ctx: Context,
    ) -> Pin<Box<dyn Future<Output = Result<(), BoxError>> + Send + '_>>;

    /// Runs the player on a task of its own, typed, so that its runs are
    /// polled inline rather than boxed.
    fn spawn_dyn(self: Box<Self>, m: MemberRun) -> JoinHandle<Played>;
}

impl<P: Player> DynPlayer for P {
    fn play_dyn(
        &mut self,
        ctx: Context,
    ) -> Pin<Box<dyn Future<Output = Result<(), BoxError>> + Send + '_>> {
        Box::pin(self.play(ctx))
    }

    fn spawn_dyn(self: Box<Self>, m: MemberRun) -> JoinHandle<Played> {
        spawn_leaf(self, m)
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
    F: FnMut(Context) -> Fut + Send + 'static,
    Fut: Future<Output = Result<(), BoxError>> + Send + 'static,
{
    PlayerFn(f)
}

/// A closure as a [`Player`]; made by [`player_fn`].
#[derive(Clone)]
pub struct PlayerFn<F>(F);

impl<F> fmt::Debug for PlayerFn<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PlayerFn")
    }
}

impl<F, Fut> Player for PlayerFn<F>
where
    F: FnMut(Context) -> Fut + Send + 'static,
    Fut: Future<Output = Result<(), BoxError>> + Send + 'static,
{
    fn play(&mut self, ctx: Context) -> impl Future<Output = Result<(), BoxError>> + Send {
        (self.0)(ctx)
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
