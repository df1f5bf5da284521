//! Running a player until a signal or any other shutdown trigger.

use std::fmt;
use std::sync::Arc;
use std::task::Poll;

use tokio_util::sync::CancellationToken;

use crate::describe::{Description, describe};
use crate::engine::{Run, play_root};
use crate::error::Error;
use crate::options::PlayerOptions;
use crate::player::Player;

/// A signal that can stop a conductor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Signal {
    /// `SIGINT` (Ctrl-C; the only one outside Unix).
    Interrupt,
    /// `SIGTERM`, as sent by Kubernetes, systemd and `kill`.
    Terminate,
    /// `SIGHUP`.
    Hangup,
    /// `SIGQUIT`.
    Quit,
    /// `SIGUSR1`.
    User1,
    /// `SIGUSR2`.
    User2,
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Signal::Interrupt => "SIGINT",
            Signal::Terminate => "SIGTERM",
            Signal::Hangup => "SIGHUP",
            Signal::Quit => "SIGQUIT",
            Signal::User1 => "SIGUSR1",
            Signal::User2 => "SIGUSR2",
        })
    }
}

/// The signals that stop a conductor: `SIGINT` and `SIGTERM` by default.
///
/// ```
/// use orchestra::{Signal, Signals};
///
/// let signals = Signals::new([Signal::Terminate, Signal::Hangup]).unwrap();
/// assert_eq!(signals.iter().count(), 2);
/// // An empty list would never stop anything: it is refused.
/// assert!(Signals::new([]).is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signals(Vec<Signal>);

impl Default for Signals {
    fn default() -> Self {
        Signals(vec![Signal::Interrupt, Signal::Terminate])
    }
}

impl Signals {
    /// A set of signals, duplicates removed.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] if `signals` is empty.
    pub fn new(signals: impl IntoIterator<Item = Signal>) -> Result<Self, Error> {
        let mut list: Vec<Signal> = Vec::new();
        for signal in signals {
            if !list.contains(&signal) {
                list.push(signal);
            }
        }
        if list.is_empty() {
            return Err(Error::Config {
                path: "signals".into(),
                message: "the list of signals is empty, so nothing could stop the conductor; \
                          give at least one, such as `Signal::Terminate`"
                    .into(),
            });
        }
        Ok(Signals(list))
    }

    /// The signals.
    pub fn iter(&self) -> impl Iterator<Item = Signal> + '_ {
        self.0.iter().copied()
    }
}

/// Listens for a set of signals; registered before the players start, so no
/// signal is missed.
struct Listener {
    #[cfg(unix)]
    streams: Vec<(Signal, tokio::signal::unix::Signal)>,
    #[cfg(not(unix))]
    ctrl_c: std::pin::Pin<Box<dyn Future<Output = std::io::Result<()>> + Send>>,
}

impl Listener {
    #[cfg(unix)]
    fn new(signals: &Signals) -> Result<Self, Error> {
        use tokio::signal::unix::{SignalKind, signal};
        let streams = signals
            .iter()
            .map(|s| {
                let kind = match s {
                    Signal::Interrupt => SignalKind::interrupt(),
                    Signal::Terminate => SignalKind::terminate(),
                    Signal::Hangup => SignalKind::hangup(),
                    Signal::Quit => SignalKind::quit(),
                    Signal::User1 => SignalKind::user_defined1(),
                    Signal::User2 => SignalKind::user_defined2(),
                };
                signal(kind)
                    .map(|stream| (s, stream))
                    .map_err(|source| Error::Signal {
                        signal: s.to_string(),
                        source,
                    })
            })
            .collect::<Result<_, _>>()?;
        Ok(Listener { streams })
    }

    #[cfg(not(unix))]
    fn new(signals: &Signals) -> Result<Self, Error> {
        if let Some(other) = signals.iter().find(|s| *s != Signal::Interrupt) {
            return Err(Error::Config {
                path: "signals".into(),
                message: format!("{other} exists on Unix only; use `Signal::Interrupt` here"),
            });
        }
        Ok(Listener {
            ctrl_c: Box::pin(tokio::signal::ctrl_c()),
        })
    }

    /// The next signal received.
    async fn next(&mut self) -> Signal {
        std::future::poll_fn(|cx| {
            #[cfg(unix)]
            for (signal, stream) in &mut self.streams {
                if stream.poll_recv(cx).is_ready() {
                    return Poll::Ready(*signal);
                }
            }
            #[cfg(not(unix))]
            if self.ctrl_c.as_mut().poll(cx).is_ready() {
                self.ctrl_c = Box::pin(tokio::signal::ctrl_c());
                return Poll::Ready(Signal::Interrupt);
            }
            Poll::Pending
        })
        .await
    }
}

/// Runs `player` until `SIGINT` or `SIGTERM`, then stops it gracefully and
/// waits for it (Go orchestra's `PlayUntilSignal`).
///
/// A second signal during the graceful stop aborts every player still
/// running at once, and the result is [`Error::Forced`] naming them. If the
/// player ends by itself first, its result is returned.
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
/// Whatever the player's run ended with, [`Error::Forced`] after a second
/// signal, or [`Error::Signal`] if the signals cannot be listened for.
pub async fn play_until_signal<P: Player>(player: P) -> Result<(), Error> {
    play_until_signals(player, Signals::default()).await
}

/// [`play_until_signal`] with a set of signals of your choosing.
///
/// # Errors
///
/// As [`play_until_signal`].
pub async fn play_until_signals<P: Player>(player: P, signals: Signals) -> Result<(), Error> {
    let mut listener = Listener::new(&signals)?;
    let stage = Stage::default();
    let mut play = std::pin::pin!(stage.play(player));

    tokio::select! {
        result = &mut play => return result,
        signal = listener.next() => {
            tracing::info!(%signal, "stopping gracefully; send it again to force");
            stage.stop.cancel();
        }
    }
    tokio::select! {
        result = &mut play => result,
        signal = listener.next() => {
            let reason = format!("a second {signal}");
            tracing::warn!(%reason, "forcing the stop: aborting every player still running");
            let _ = stage.run.forced.set(reason.clone());
            stage.abort.cancel();
            // The engine aborts and awaits every task before returning.
            match play.await {
                Err(error) => Err(error),
                Ok(()) => Err(Error::Forced { reason, aborted: Vec::new() }),
            }
        }
    }
}

/// Runs `player` until `shutdown` completes, then stops it gracefully and
/// waits for it. If the player ends by itself first, its result is returned.
///
/// ```
/// use orchestra::{player_fn, Context};
/// use tokio::sync::oneshot;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let (stop, stopped) = oneshot::channel::<()>();
/// let player = player_fn(|ctx: Context| async move {
///     ctx.cancelled().await;
///     Ok(())
/// });
/// stop.send(()).unwrap();
/// orchestra::play_until(player, async { let _ = stopped.await; }).await.unwrap();
/// # }
/// ```
///
/// # Errors
///
/// Whatever the player's run ended with.
pub async fn play_until<P, F>(player: P, shutdown: F) -> Result<(), Error>
where
    P: Player,
    F: Future<Output = ()>,
{
    let stage = Stage::default();
    let mut play = std::pin::pin!(stage.play(player));
    tokio::select! {
        result = &mut play => return result,
        () = shutdown => stage.stop.cancel(),
    }
    play.await
}

/// A top-level run: the tokens that stop it and the state it shares.
#[derive(Default)]
struct Stage {
    stop: CancellationToken,
    abort: CancellationToken,
    run: Arc<Run>,
}

impl Stage {
    fn play<P: Player>(
        &self,
        player: P,
    ) -> impl Future<Output = Result<(), Error>> + Send + 'static {
        let member = player.__into_member(None, PlayerOptions::default());
        play_root(
            member,
            self.stop.clone(),
            self.abort.clone(),
            self.run.clone(),
        )
    }
}

/// Runs a player (a conductor, typically) at the top of a program, as a method.
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

    /// [`play_until_signals`] as a method.
    fn play_until_signals(
        self,
        signals: Signals,
    ) -> impl Future<Output = Result<(), Error>> + Send {
        play_until_signals(self, signals)
    }

    /// [`play_until`] as a method.
    fn play_until<F>(self, shutdown: F) -> impl Future<Output = Result<(), Error>> + Send
    where
        F: Future<Output = ()> + Send,
    {
        play_until(self, shutdown)
    }

    /// [`describe`] as a method: the tree of players below this one.
    fn describe(&self) -> Description {
        describe(self)
    }
}

impl<P: Player> PlayExt for P {}
