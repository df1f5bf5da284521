//! Reloading: the requests (a generation counter every member can wait on),
//! the handle that makes them, and what a player does on one.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use tokio::sync::watch;

use crate::parse::ParseError;

/// What a player does when a reload is requested (`SIGHUP` by default under
/// [`Runner::play_until_signal`](crate::Runner::play_until_signal), or
/// [`Reloader::reload`]).
///
/// ```
/// use orchestra::{OnReload, PlayerOptions};
///
/// let options = PlayerOptions::new().on_reload(OnReload::Restart);
/// assert_eq!("restart".parse::<OnReload>()?, OnReload::Restart);
/// # let _ = options;
/// # Ok::<(), orchestra::ParseError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnReload {
    /// Keeps running: the player hears of it through
    /// [`Context::reload_requested`](crate::Context::reload_requested), if it
    /// listens, and reloads in place (the default).
    #[default]
    Notify,
    /// Restarts gracefully: its run is cancelled, waited for within its stop
    /// timeout (then dropped), and it is run again at once. Such a restart
    /// is not a failure: it counts towards neither `max_restarts` nor
    /// `max_attempts`, and does not move the backoff; its attempt number
    /// increments.
    Restart,
}

impl OnReload {
    const ALL: [OnReload; 2] = [OnReload::Notify, OnReload::Restart];
}

/// As the derive spells it: `notify`, `restart`.
impl fmt::Display for OnReload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            OnReload::Notify => "notify",
            OnReload::Restart => "restart",
        })
    }
}

/// Parses what [`Display`](fmt::Display) writes (and
/// `#[player(on_reload = "…")]` takes).
impl FromStr for OnReload {
    type Err = ParseError;

    fn from_str(text: &str) -> Result<Self, ParseError> {
        crate::parse::one_of("on_reload", text, OnReload::ALL)
    }
}

/// The reload requests of one run: a generation, one more per request.
///
/// The default is a run that nobody can reload (no [`Reloader`], no reload
/// signal): it has no channel, and its generation stays 0.
#[derive(Debug, Clone, Default)]
pub(crate) struct Reloads {
    generation: Option<Arc<watch::Sender<u64>>>,
}

impl Reloads {
    /// The requests of a run that can be reloaded.
    pub(crate) fn new() -> Self {
        Reloads {
            generation: Some(Arc::new(watch::channel(0).0)),
        }
    }

    /// Asks every player to reload.
    pub(crate) fn request(&self) {
        if let Some(generation) = &self.generation {
            generation.send_modify(|generation| *generation += 1);
        }
    }

    /// How many reloads were requested so far.
    pub(crate) fn generation(&self) -> u64 {
        self.generation.as_ref().map_or(0, |g| *g.borrow())
    }

    /// Completes with the generation once it is past `seen` (never, for a
    /// run that cannot be reloaded).
    pub(crate) async fn past(&self, seen: u64) -> u64 {
        let Some(generation) = &self.generation else {
            return std::future::pending().await;
        };
        let mut generations = generation.subscribe();
        loop {
            let generation = *generations.borrow_and_update();
            if generation > seen {
                return generation;
            }
            // The sender lives as long as `self`: this never fails.
            if generations.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }
}

/// Requests reloads of a run without a signal (from a test, an admin
/// endpoint, a file watcher): see [`Runner::reloader`](crate::Runner::reloader).
/// Cloning shares it. A request reaches the players already started (a
/// player started later reads its configuration as it starts).
///
/// ```
/// use orchestra::{player_fn, Context, Runner};
/// use tokio::sync::oneshot;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), orchestra::Error> {
/// let (started, running) = oneshot::channel();
/// let mut started = Some(started);
/// let player = player_fn(move |ctx: Context| {
///     let started = started.take();
///     async move {
///         let _ = started.map(|s| s.send(()));
///         ctx.reload_requested().await;
///         Ok(()) // done once asked to reload, for the example
///     }
/// });
/// let runner = Runner::new(player);
/// let reloader = runner.reloader();
/// let run = tokio::spawn(runner.play_until(std::future::pending()));
/// // A request is heard by the players started before it.
/// let _ = running.await;
/// reloader.reload();
/// run.await.expect("the run does not panic")?;
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct Reloader(pub(crate) Reloads);

impl Reloader {
    /// Asks every player of the run to reload: those with
    /// [`OnReload::Restart`] are restarted, the others see
    /// [`Context::reload_requested`](crate::Context::reload_requested)
    /// complete.
    pub fn reload(&self) {
        tracing::info!(target: "orchestra", "reload requested");
        self.0.request();
    }
}
