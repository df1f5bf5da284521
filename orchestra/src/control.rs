//! A control handle to a running tree of players: stop, start, restart,
//! add and remove one member by path, read its status, stop or force the
//! whole run.

use std::fmt;
use std::sync::{Arc, OnceLock};

use crate::context::Context;
use crate::engine::child_player::spawn_player;
use crate::engine::command::refused;
use crate::engine::control::Order;
use crate::engine::seat::{Registry, Seat};
use crate::engine::shutdown::{Phase, Shutdown};
use crate::error::Error;
use crate::options::PlayerOptions;
use crate::player::Player;
use crate::status::{Monitor, PlayerStatus};

/// A handle to a running tree of players, from [`Runner::handle`](crate::Runner::handle)
/// before the run starts, or from [`Context::handle`] inside it. Cloneable,
/// `Send`, usable from any task: an admin endpoint, a test, a player.
///
/// Members are named by path (`app/jobs/mailer`), as in logs and errors.
///
/// - [`stop`](Handle::stop) stops one member gracefully (within its stop
///   timeout) and answers with how its run ended. A member stopped so is
///   neither failed nor done: its siblings keep running, and its conductor
///   does not end because of it; it waits to be [`start`](Handle::start)ed
///   again, or for the conductor's stop.
/// - [`restart`](Handle::restart) stops its run and starts another at once;
///   [`remove`](Handle::remove) stops it and ends it for good (its
///   conductor counts it done).
/// - [`add`](Handle::add) starts a new member below a running one,
///   supervised like a declared member (see
///   [`Context::spawn_player`]).
/// - [`status`](Handle::status) and [`players`](Handle::players) read the
///   run's [`Monitor`]; [`stop_all`](Handle::stop_all) and
///   [`force`](Handle::force) stop the whole run, gracefully or not.
///
/// ```
/// use orchestra::{player_fn, Conductor, Context, PlayExt, State};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), orchestra::Error> {
/// let idle = || player_fn(|ctx: Context| async move {
///     ctx.cancelled().await;
///     Ok(())
/// });
/// let mut app = Conductor::named("app");
/// app.add("http", idle())?.add("jobs", idle())?;
/// let runner = app.runner();
/// let handle = runner.handle();
/// let run = tokio::spawn(runner.play_until(std::future::pending()));
/// # tokio::task::yield_now().await;
///
/// handle.stop("app/jobs").await?;
/// assert_eq!(handle.status("app/jobs")?.state, State::Stopped);
/// handle.start("app/jobs").await?;
/// handle.stop_all();
/// run.await.expect("the run's task")?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Handle {
    shutdown: Shutdown,
    registry: Arc<Registry>,
    /// The run's monitor, known once the run starts.
    monitor: Arc<OnceLock<Monitor>>,
}

impl Handle {
    /// A handle to a run yet to start.
    pub(crate) fn new() -> Self {
        Handle {
            shutdown: Shutdown::new(),
            registry: Arc::default(),
            monitor: Arc::default(),
        }
    }

    /// What the run is made with: its shutdown and registry; `monitor` is
    /// the run's, the handle's own unless one was given.
    pub(crate) fn parts(&self, monitor: Option<Monitor>) -> (Shutdown, Arc<Registry>, Monitor) {
        let monitor = self
            .monitor
            .get_or_init(|| monitor.unwrap_or_default())
            .clone();
        (self.shutdown.clone(), self.registry.clone(), monitor)
    }

    /// Stops the member at `path` gracefully: cancels its current run and
    /// waits for it to return, within its stop timeout, past which it is
    /// aborted. It then waits to be started again.
    ///
    /// # Errors
    ///
    /// How the stopped run ended: the error it returned (or
    /// [`Error::StopTimedOut`] if it was aborted), which goes to the caller
    /// rather than to its conductor. [`Error::UnknownPlayer`], or
    /// [`Error::Refused`] if the run or the member is stopping or has ended.
    pub async fn stop(&self, path: &str) -> Result<(), Error> {
        self.order(path, Order::Stop, "stop").await
    }

    /// Starts again a member stopped by [`stop`](Handle::stop), as a new
    /// run (its attempt number goes on).
    ///
    /// # Errors
    ///
    /// [`Error::UnknownPlayer`]; [`Error::Refused`] if it is running, or the
    /// run or the member is stopping or has ended.
    pub async fn start(&self, path: &str) -> Result<(), Error> {
        self.order(path, Order::Start, "start").await
    }

    /// Stops the member's current run gracefully, as [`stop`](Handle::stop)
    /// does, and starts another at once (or starts a stopped member).
    ///
    /// # Errors
    ///
    /// As [`stop`](Handle::stop).
    pub async fn restart(&self, path: &str) -> Result<(), Error> {
        self.order(path, Order::Restart, "restart").await
    }

    /// Stops the member gracefully, as [`stop`](Handle::stop) does, and ends
    /// it for good: its conductor counts it done (and ends if it was its
    /// last member running), and its path is free for [`add`](Handle::add).
    ///
    /// # Errors
    ///
    /// As [`stop`](Handle::stop).
    pub async fn remove(&self, path: &str) -> Result<(), Error> {
        self.order(path, Order::Remove, "remove").await
    }

    /// Starts `player` below the running member at `parent` (a conductor,
    /// typically), named `name`: supervised like a declared member, stopped
    /// with its parent, which ends only once it has ended too (see
    /// [`Context::spawn_player`]).
    ///
    /// # Errors
    ///
    /// [`Error::UnknownPlayer`] if `parent` names no member;
    /// [`Error::DuplicateName`] if a member of that name runs there;
    /// [`Error::Refused`] if the run or `parent` is stopping or has ended;
    /// [`Error::Config`] for an invalid name or options.
    pub fn add<P: Player>(
        &self,
        parent: &str,
        name: &str,
        player: P,
        options: PlayerOptions,
    ) -> Result<(), Error> {
        let seat = self.find(parent)?;
        self.check_open(&seat, "add to")?;
        let path = format!("{parent}/{name}");
        if self
            .registry
            .find(&path)
            .is_some_and(|member| !member.ended.load(std::sync::atomic::Ordering::Acquire))
        {
            return Err(Error::DuplicateName {
                conductor: seat.path().clone(),
                name: Arc::from(name),
            });
        }
        spawn_player(&seat, 0, name, player, options)
    }

    /// The status of the member at `path`.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownPlayer`] if no member of the run has that path.
    pub fn status(&self, path: &str) -> Result<PlayerStatus, Error> {
        self.monitor
            .get()
            .and_then(|monitor| monitor.status(path))
            .ok_or_else(|| Error::UnknownPlayer {
                path: Arc::from(path),
            })
    }

    /// Whether the member at `path` has a run going (running or ready).
    pub fn is_running(&self, path: &str) -> bool {
        self.status(path).is_ok_and(|status| {
            matches!(
                status.state,
                crate::status::State::Running | crate::status::State::Ready
            )
        })
    }

    /// The status of every player of the run, in the order they were first
    /// seen.
    pub fn players(&self) -> Vec<PlayerStatus> {
        self.monitor
            .get()
            .map(Monitor::snapshot)
            .unwrap_or_default()
    }

    /// Asks the whole run to stop gracefully, as a signal would.
    pub fn stop_all(&self) {
        self.shutdown.request();
    }

    /// Cuts the stop short: every player still running is aborted at once,
    /// and the run ends with [`Error::Forced`] naming them and `reason`.
    pub fn force(&self, reason: impl Into<String>) {
        self.shutdown.force(reason);
    }

    fn find(&self, path: &str) -> Result<Arc<Seat>, Error> {
        self.registry
            .find(path)
            .ok_or_else(|| Error::UnknownPlayer {
                path: Arc::from(path),
            })
    }

    fn check_open(&self, seat: &Seat, action: &'static str) -> Result<(), Error> {
        if self.shutdown.phase() >= Phase::Stopping {
            return Err(refused(seat, action, "the run is stopping"));
        }
        if seat.ended.load(std::sync::atomic::Ordering::Acquire) {
            return Err(refused(seat, action, "it has ended"));
        }
        if seat.token().is_cancelled() {
            return Err(refused(seat, action, "it is stopping"));
        }
        Ok(())
    }

    async fn order(&self, path: &str, order: Order, action: &'static str) -> Result<(), Error> {
        let seat = self.find(path)?;
        self.check_open(&seat, action)?;
        let Some(control) = &seat.control else {
            return Err(refused(&seat, action, "it takes no orders"));
        };
        let answer = control.send(order);
        answer
            .await
            .unwrap_or_else(|_| Err(refused(&seat, action, "it has ended")))
    }
}

impl fmt::Debug for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handle")
            .field("players", &self.registry.paths())
            .finish_non_exhaustive()
    }
}

impl Context {
    /// A handle to the run this player is part of, when the run was given
    /// one ([`Runner::handle`](crate::Runner::handle)); `None` otherwise.
    pub fn handle(&self) -> Option<Handle> {
        let root = self.root();
        let registry = root.registry.clone()?;
        let monitor = OnceLock::new();
        if let Some(run) = &root.monitor {
            let _ = monitor.set(run.clone());
        }
        Some(Handle {
            shutdown: root.shutdown.clone(),
            registry,
            monitor: Arc::new(monitor),
        })
    }
}
