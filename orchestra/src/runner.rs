//! Running a player at the top of a program: until a signal or any other
//! shutdown trigger, optionally watched by a monitor.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio::time::sleep;

use crate::control::Handle;
use crate::describe::Description;
use crate::engine::member::Access;
use crate::engine::seat::Registry;
use crate::engine::shutdown::Shutdown;
use crate::engine::{member_of, play_root};
use crate::error::Error;
use crate::options::SharedOptions;
use crate::player::Player;
use crate::reload::{Reloader, Reloads};
use crate::signal::Signal;
use crate::signals::{Listener, Signals};
use crate::status::{Monitor, RunPhase};
use crate::watchdog::Watchdog;
use crate::woken::Woken;

/// Runs a player (a conductor, typically) at the top of a program, with
/// options: the signals that stop it, a [`Monitor`] watching it.
///
/// [`play_until_signal`] and [`play_until`] are shortcuts for a runner with
/// the defaults.
///
/// ```
/// use orchestra::{player_fn, Context, Monitor, Runner, Signal, Signals};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), orchestra::Error> {
/// let player = player_fn(|ctx: Context| async move {
///     ctx.cancelled().await;
///     Ok(())
/// });
/// let monitor = Monitor::new();
/// let runner = Runner::new(player)
///     .signals(Signals::new([Signal::Terminate])?)
///     .monitor(monitor.clone());
/// # let runner = runner;
/// # runner.play_until(async {}).await?;
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
#[must_use = "a runner does nothing until one of its `play_until…` methods is awaited"]
pub struct Runner<P> {
    player: P,
    signals: Signals,
    monitor: Option<Monitor>,
    /// Made when asked for: a run without one registers nothing.
    handle: OnceLock<Handle>,
    reload_signals: Option<Signals>,
    /// Made when a reload can be requested: by a [`Reloader`], or by a
    /// reload signal.
    reloads: OnceLock<Reloads>,
    drain: Option<Duration>,
}

impl<P: Player> Runner<P> {
    /// A runner with the defaults: `SIGINT` and `SIGTERM` stop, `SIGHUP`
    /// reloads (on Unix), no monitor.
    pub fn new(player: P) -> Self {
        Runner {
            player,
            signals: Signals::default(),
            monitor: None,
            handle: OnceLock::new(),
            reload_signals: Signals::reload_default(),
            reloads: OnceLock::new(),
            drain: None,
        }
    }

    /// A handle to the run, to control it from anywhere once it runs: stop,
    /// start, restart, add or remove one player by path, read statuses, stop
    /// or force the whole run. See [`Handle`].
    ///
    /// Every call gives a handle to the same run. A run with a handle keeps
    /// a [`Monitor`] (the one given, else one of its own) for the statuses.
    pub fn handle(&self) -> Handle {
        self.handle.get_or_init(Handle::new).clone()
    }

    /// The signals that request a reload, for
    /// [`play_until_signal`](Runner::play_until_signal): `SIGHUP` by default
    /// on Unix, none elsewhere. A reload restarts the players whose
    /// [`OnReload`](crate::OnReload) is `Restart`, and completes
    /// [`Context::reload_requested`](crate::Context::reload_requested) for
    /// the others. A signal in both lists stops the run.
    ///
    /// ```
    /// use orchestra::{player_fn, Context, Runner, Signal, Signals};
    ///
    /// let player = player_fn(|ctx: Context| async move { ctx.cancelled().await; Ok(()) });
    /// let runner = Runner::new(player).reload_signals(Signals::new([Signal::User1])?);
    /// # let _ = runner;
    /// # Ok::<(), orchestra::Error>(())
    /// ```
    pub fn reload_signals(mut self, signals: Signals) -> Self {
        self.reload_signals = Some(signals);
        self
    }

    /// No signal requests a reload (a reload can still be requested through
    /// [`reloader`](Runner::reloader)).
    pub fn no_reload_signals(mut self) -> Self {
        self.reload_signals = None;
        self
    }

    /// A handle that requests reloads of this runner's run without a
    /// signal: see [`Reloader`].
    pub fn reloader(&self) -> Reloader {
        Reloader(self.reloads.get_or_init(Reloads::new).clone())
    }

    /// The signals that stop the run, for [`play_until_signal`](Runner::play_until_signal).
    pub fn signals(mut self, signals: Signals) -> Self {
        self.signals = signals;
        self
    }

    /// Records the statuses and events of every player in `monitor`.
    ///
    /// A [`Monitor`] is a handle: pass a clone to keep one for reading.
    pub fn monitor(mut self, monitor: Monitor) -> Self {
        monitor.attach();
        self.monitor = Some(monitor);
        self
    }

    /// Drains for `drain` before the graceful stop (the lame-duck time), in
    /// place of the top conductor's `drain`.
    ///
    /// On the first signal (or when the shutdown future completes) the run
    /// enters its drain phase: every player keeps running, and sees it
    /// ([`Context::draining`](crate::Context::draining)); the health probes
    /// report not ready with the reason "draining", systemd is told
    /// `STOPPING=1`, an `HttpServer` keeps serving but asks its clients to
    /// reconnect elsewhere. Load balancers move traffic away meanwhile.
    /// After `drain` the graceful stop runs as without one. A second signal
    /// during the drain forces the stop at once.
    ///
    /// A zero drain is no drain. Without one nothing of this happens, and
    /// nothing is paid for it.
    ///
    /// ```
    /// use orchestra::{player_fn, Context, Runner};
    /// use std::time::Duration;
    ///
    /// let player = player_fn(|ctx: Context| async move {
    ///     ctx.cancelled().await;
    ///     Ok(())
    /// });
    /// let runner = Runner::new(player).drain(Duration::from_secs(5));
    /// # drop(runner);
    /// ```
    pub fn drain(mut self, drain: Duration) -> Self {
        self.drain = Some(drain);
        self
    }

    /// Runs the player until one of the signals, then stops it gracefully and
    /// waits for it (Go orchestra's `PlayUntilSignal`).
    ///
    /// A second signal during the graceful stop aborts every player still
    /// running at once, and the result is [`Error::Forced`] naming them. If
    /// the player ends by itself first, its result is returned.
    ///
    /// The second signal also ends the **process** within a second, whatever
    /// the players do: a thread of its own (outside the runtime) hears it,
    /// and if the process has not ended 1 s later, exits it with code 130
    /// (as [`Exit`](crate::Exit) would for [`Error::Forced`]), running no
    /// destructor. Only this method arms it: it is the process-level entry
    /// point. After the first signal this stays armed even once this method
    /// has returned, since a process whose runtime waits for a blocked
    /// thread may never end by itself.
    ///
    /// # A player that blocks its thread
    ///
    /// A player that never reaches an `.await` (a `std::thread::sleep`
    /// loop, a busy loop, blocking I/O) cannot be cancelled nor aborted:
    ///
    /// - on a **multi-thread** runtime, with other worker threads free, the
    ///   stop goes on: at its stop timeout the player is aborted, left
    ///   behind 1 s later (logged), and the run returns
    ///   [`Error::StopTimedOut`]. The process then cannot end by itself:
    ///   dropping tokio's runtime (at the end of `#[tokio::main]`) waits for
    ///   the blocked worker thread. A second signal ends it (code 130).
    /// - on a **current-thread** runtime, or a multi-thread one whose every
    ///   worker is blocked, nothing else runs, not even the graceful stop the
    ///   first signal asks for. The second signal ends the process 1 s later
    ///   (code 130).
    ///
    /// # Errors
    ///
    /// Whatever the run ended with, [`Error::Forced`] after a second signal,
    /// or [`Error::Signal`] if the signals cannot be listened for.
    pub async fn play_until_signal(self) -> Result<(), Error> {
        let mut listener = Listener::new(&self.signals)?;
        let mut reload_listener = self
            .reload_signals
            .as_ref()
            .map(Listener::new)
            .transpose()?;
        if reload_listener.is_some() {
            self.reloads.get_or_init(Reloads::new);
        }
        let _watchdog = Watchdog::start(&self.signals);
        let (stage, play) = self.stage();
        let mut play = std::pin::pin!(play);

        let signal = loop {
            tokio::select! {
                biased;
                result = &mut play => return result,
                signal = listener.next() => break signal,
                Some(signal) = next(&mut reload_listener) => {
                    tracing::info!(target: "orchestra", %signal, "reload requested");
                    stage.reloads.request();
                }
            }
        };
        // Draining (if the run drains), then stopping; a second signal
        // during either forces the stop.
        let mut stop = std::pin::pin!(stage.stop(&signal));
        let mut stopping = false;
        let signal = loop {
            tokio::select! {
                biased;
                result = &mut play => return result,
                signal = listener.next() => break signal,
                () = &mut stop, if !stopping => stopping = true,
            }
        };
        let reason = format!("a second {signal}");
        tracing::warn!(target: "orchestra", %reason, "forcing the stop: aborting every player still running");
        stage.shutdown.force(reason.clone());
        // The engine aborts and awaits every task before returning.
        match play.await {
            Err(error) => Err(error),
            Ok(()) => Err(Error::Forced {
                reason,
                aborted: Vec::new(),
            }),
        }
    }

    /// The stage of the run, and the run.
    fn stage(
        self,
    ) -> (
        Stage,
        impl Future<Output = Result<(), Error>> + Send + 'static,
    ) {
        let Runner {
            player,
            monitor,
            handle,
            reloads,
            drain,
            ..
        } = self;
        let reloads = reloads.into_inner().unwrap_or_default();
        Stage::new(player, monitor, handle.get(), reloads, drain)
    }

    /// Runs the player until `shutdown` completes, then stops it gracefully
    /// and waits for it. If the player ends by itself first, its result is
    /// returned.
    ///
    /// There is no second signal here: the stop is never forced, and the
    /// process is never exited. A player that blocks its thread holds the
    /// stop up, as [`play_until_signal`](Runner::play_until_signal) explains,
    /// until its stop timeout (multi-thread runtime), or for as long as it
    /// blocks (current-thread runtime).
    ///
    /// # Errors
    ///
    /// Whatever the run ended with.
    pub async fn play_until<F>(self, shutdown: F) -> Result<(), Error>
    where
        F: Future<Output = ()>,
    {
        let (stage, play) = self.stage();
        let mut play = std::pin::pin!(play);
        tokio::select! {
            biased;
            result = &mut play => return result,
            () = shutdown => {}
        }
        tokio::select! {
            biased;
            result = &mut play => result,
            () = stage.stop(&"the shutdown future") => play.await,
        }
    }
}

/// Runs `player` until `SIGINT` or `SIGTERM`, then stops it gracefully and
/// waits for it (Go orchestra's `PlayUntilSignal`). A second signal forces
/// the stop. See [`Runner::play_until_signal`].
///
/// ```no_run
/// use orchestra::{player_fn, Context};
///
/// #[tokio::main]
/// async fn main() -> Result<(), orchestra::Error> {
///     let server = player_fn(|ctx: Context| async move {
///         ctx.cancelled().await;
///         Ok(())
///     });
///     orchestra::play_until_signal(server).await
/// }
/// ```
///
/// # Errors
///
/// As [`Runner::play_until_signal`].
pub async fn play_until_signal<P: Player>(player: P) -> Result<(), Error> {
    Runner::new(player).play_until_signal().await
}

/// Runs `player` until `shutdown` completes, then stops it gracefully and
/// waits for it. See [`Runner::play_until`].
///
/// ```
/// use orchestra::{player_fn, Context};
/// use tokio::sync::oneshot;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), orchestra::Error> {
/// let (stop, stopped) = oneshot::channel::<()>();
/// let player = player_fn(|ctx: Context| async move {
///     ctx.cancelled().await;
///     Ok(())
/// });
/// let _ = stop.send(());
/// orchestra::play_until(player, async { let _ = stopped.await; }).await?;
/// # Ok(())
/// # }
/// ```
///
/// # Errors
///
/// As [`Runner::play_until`].
pub async fn play_until<P, F>(player: P, shutdown: F) -> Result<(), Error>
where
    P: Player,
    F: Future<Output = ()>,
{
    Runner::new(player).play_until(shutdown).await
}

/// A top-level run: how it shuts down, who watches it, how it reloads.
struct Stage {
    shutdown: Shutdown,
    monitor: Option<Monitor>,
    reloads: Reloads,
    /// The drain phase before the stop, if any.
    drain: Option<Duration>,
}

/// What a run is made of: its shutdown, its monitor, its registry of
/// members (when a handle controls it).
type Parts = (Shutdown, Option<Monitor>, Option<Arc<Registry>>);

impl Stage {
    /// The stage of `player`'s run, and the run. `drain` is the runner's,
    /// in place of the top conductor's.
    fn new<P: Player>(
        player: P,
        monitor: Option<Monitor>,
        handle: Option<&Handle>,
        reloads: Reloads,
        drain: Option<Duration>,
    ) -> (
        Self,
        impl Future<Output = Result<(), Error>> + Send + 'static + use<P>,
    ) {
        let (shutdown, monitor, registry): Parts = match handle {
            Some(handle) => {
                let (shutdown, registry, monitor) = handle.parts(monitor);
                (shutdown, Some(monitor), Some(registry))
            }
            // With no monitor, one is kept anyway when the end-of-run
            // summary would be logged.
            None => (
                Shutdown::new(),
                monitor.or_else(|| {
                    tracing::enabled!(target: "orchestra", tracing::Level::INFO).then(Monitor::new)
                }),
                None,
            ),
        };
        let member = member_of(Access::Own(player), None, SharedOptions::DEFAULTS);
        let drain = drain
            .or_else(|| member.drain_phase())
            .filter(|drain| !drain.is_zero());
        // Awaited beside the shutdown triggers in one task: polled only
        // when one of its players woke it.
        let play = Woken::new(play_root(
            member,
            shutdown.clone(),
            monitor.clone(),
            registry,
            reloads.clone(),
        ));
        let stage = Stage {
            shutdown,
            monitor,
            reloads,
            drain,
        };
        (stage, play)
    }

    /// Drains (if the run has a drain phase), then asks every player to
    /// stop; the run's end is awaited beside it.
    async fn stop(&self, cause: &(dyn std::fmt::Display + Sync)) {
        // Each phase is entered before it is logged, so that whoever reads
        // the log line (a test, an operator) finds the probes already saying so.
        if let Some(drain) = self.drain {
            self.enter(RunPhase::Draining);
            self.shutdown.drain();
            tracing::info!(target: "orchestra", %cause, ?drain, "draining, then stopping gracefully; send it again to force");
            sleep(drain).await;
            tracing::info!(target: "orchestra", "drained; stopping gracefully");
        } else {
            tracing::info!(target: "orchestra", %cause, "stopping gracefully; send it again to force");
        }
        self.enter(RunPhase::Stopping);
        self.shutdown.request();
    }

    fn enter(&self, phase: RunPhase) {
        if let Some(monitor) = &self.monitor {
            monitor.enter(phase);
        }
    }
}

/// The next signal of `listener`, if there is one; never otherwise.
async fn next(listener: &mut Option<Listener>) -> Option<Signal> {
    match listener {
        Some(listener) => Some(listener.next().await),
        None => std::future::pending().await,
    }
}

/// Describes `player` and, if it is a conductor, every player below it:
/// see [`Description`].
pub fn describe<P: Player>(player: &P) -> Description {
    member_of(Access::Show(player), None, SharedOptions::DEFAULTS).describe()
}

/// Runs a player at the top of a program, as a method.
///
/// ```no_run
/// use orchestra::{Conductor, PlayExt};
///
/// #[tokio::main]
/// async fn main() -> Result<(), orchestra::Error> {
///     let app = Conductor::named("app");
///     tracing::info!("starting {}", app.describe());
///     app.play_until_signal().await
/// }
/// ```
pub trait PlayExt: Player + Sized {
    /// [`play_until_signal`] as a method.
    fn play_until_signal(self) -> impl Future<Output = Result<(), Error>> + Send {
        play_until_signal(self)
    }

    /// [`play_until`] as a method.
    ///
    /// The future is `Send` when `shutdown` is.
    fn play_until<F>(self, shutdown: F) -> impl Future<Output = Result<(), Error>>
    where
        F: Future<Output = ()>,
    {
        play_until(self, shutdown)
    }

    /// [`Runner::new`] as a method, for the options.
    fn runner(self) -> Runner<Self> {
        Runner::new(self)
    }

    /// [`describe`] as a method: the tree of players below this one.
    fn describe(&self) -> Description {
        describe(self)
    }
}

impl<P: Player> PlayExt for P {}
