//! The one error type of orchestra.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::signal::Signal;

/// A boxed error, as returned by [`Player::play`](crate::Player::play).
///
/// Any error type converts into it with `?` or `.into()`, `anyhow::Error` included.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why a conductor (or [`play_until_signal`](crate::play_until_signal)) did not end cleanly.
///
/// Every variant that concerns a player names it by its path, such as
/// `app/jobs/mailer`. When several things went wrong (a player failed, then
/// another one did not stop in time), they are kept together in
/// [`Error::Multiple`], the first cause first; [`Error::iter`] walks them all.
///
/// ```
/// use orchestra::{player_fn, Conductor, Error, PlayExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Error> {
/// let mut app = Conductor::named("app");
/// app.add("db", player_fn(|_ctx| async { Err("connection refused".into()) }))?;
///
/// let Err(err) = app.play_until(std::future::pending()).await else {
///     panic!("the player fails");
/// };
/// assert!(matches!(&err, Error::Failed { path, .. } if &**path == "app/db"));
/// assert_eq!(err.to_string(), "player `app/db` failed (attempt 1)");
/// assert_eq!(err.with_causes().to_string(), "player `app/db` failed (attempt 1): connection refused");
/// # Ok(())
/// # }
/// ```
///
/// Paths are `Arc<str>`, shared with the statuses and events of a
/// [`Monitor`](crate::Monitor): `&**path` or [`Error::path`] gives a `&str`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A player returned an error, and its restart policy made the failure final.
    #[error("player `{path}` failed (attempt {attempt})")]
    Failed {
        /// The player's path, such as `app/jobs/mailer`.
        path: Arc<str>,
        /// Which run of the player failed, from 1.
        attempt: u32,
        /// What the player returned.
        #[source]
        source: BoxError,
    },

    /// A player panicked, and its restart policy made the failure final.
    #[error("player `{path}` panicked (attempt {attempt}): {message}")]
    Panicked {
        /// The player's path.
        path: Arc<str>,
        /// Which run of the player panicked, from 1.
        attempt: u32,
        /// The panic's message, when it was a string.
        message: String,
    },

    /// A player was to be restarted but a limit forbade it.
    #[error("player `{path}` will not be restarted: {limit}")]
    RestartLimit {
        /// The player's path.
        path: Arc<str>,
        /// The limit that was reached.
        limit: Limit,
        /// The failure that asked for the restart, if the run failed.
        #[source]
        last: Option<Box<Error>>,
    },

    /// Players did not return within their stop timeout and were aborted
    /// (Go orchestra's `TimeoutErr`, with every straggler named).
    #[error("stop timed out: {} did not stop in time and {} aborted", Stragglers(.stragglers), if .stragglers.len() == 1 { "was" } else { "were" })]
    StopTimedOut {
        /// Every player that was aborted, with how long it was waited for.
        stragglers: Vec<Straggler>,
    },

    /// The graceful stop was cut short (for example by a second signal):
    /// every player still running was aborted.
    #[error("stop forced by {reason}; aborted: {}", Paths(.aborted))]
    Forced {
        /// What forced the stop, such as `a second SIGINT`.
        reason: String,
        /// The paths of the players that were still running and were aborted.
        aborted: Vec<Arc<str>>,
    },

    /// A player was aborted during an earlier run of its conductor, so that
    /// conductor cannot run it again.
    #[error("player `{path}` is gone: it was aborted during an earlier run")]
    Unavailable {
        /// The player's path.
        path: Arc<str>,
    },

    /// A runtime-built conductor already has a player of that name.
    #[error("conductor `{conductor}` already has a player named `{name}`")]
    DuplicateName {
        /// The conductor's name.
        conductor: Arc<str>,
        /// The name that was added twice.
        name: Arc<str>,
    },

    /// A conductor or player was configured with a value it cannot run with.
    #[error("invalid configuration of `{path}`: {message}")]
    Config {
        /// The path of the conductor or player concerned.
        path: Arc<str>,
        /// What is wrong and what is accepted.
        message: String,
    },

    /// A player asked a sibling for the value it hands to the players
    /// ordered after it ([`Context::dependency`](crate::Context::dependency)),
    /// and could not have it: no such sibling, not ordered after it, no
    /// value yet, or a value of another type.
    #[error("player `{path}` cannot have the value of `{provider}`: {message}")]
    Dependency {
        /// The path of the player that asked.
        path: Arc<str>,
        /// The name of the sibling it asked.
        provider: Arc<str>,
        /// What went wrong, naming the types when they differ.
        message: String,
    },

    /// A [`Handle`](crate::Handle) was given a path that names no player of
    /// the run.
    #[error("no player `{path}` in this run")]
    UnknownPlayer {
        /// The path given.
        path: Arc<str>,
    },

    /// A [`Handle`](crate::Handle) could not do what it was asked: the run
    /// is stopping, the player has ended, it is running already…
    #[error("cannot {action} `{path}`: {reason}")]
    Refused {
        /// The path of the player concerned.
        path: Arc<str>,
        /// What was asked: `stop`, `start`, `restart`, `remove`, `add to`.
        action: &'static str,
        /// Why it was refused.
        reason: String,
    },

    /// A [`Signals`](crate::Signals) list was empty, so nothing could stop the run.
    #[error(
        "no signal to stop on: the list of signals is empty; \
         give at least one, such as `Signal::Terminate`"
    )]
    NoSignals,

    /// The process could not listen for a signal (or the platform has no
    /// such signal: outside Unix, only `SIGINT`).
    #[error("cannot listen for {signal}")]
    Signal {
        /// The signal, such as [`Signal::Terminate`].
        signal: Signal,
        /// Why listening failed.
        #[source]
        source: std::io::Error,
    },

    /// Several failures, the first cause first.
    #[error("{} failures: {}", .0.len(), Chained(.0))]
    Multiple(Vec<Error>),
}

impl Error {
    /// Iterates over every single failure, looking inside [`Error::Multiple`].
    ///
    /// ```
    /// # use orchestra::Error;
    /// let err = Error::Multiple(vec![
    ///     Error::Config { path: "a".into(), message: "x".into() },
    ///     Error::Config { path: "b".into(), message: "y".into() },
    /// ]);
    /// assert_eq!(err.iter().count(), 2);
    /// ```
    pub fn iter(&self) -> impl Iterator<Item = &Error> {
        let list: Box<dyn Iterator<Item = &Error>> = match self {
            Error::Multiple(errors) => Box::new(errors.iter().flat_map(Error::iter)),
            single => Box::new(std::iter::once(single)),
        };
        list
    }

    /// Displays the error followed by its causes, `: `-separated, for a
    /// message that says everything on one line (as `main` would log it).
    ///
    /// ```
    /// # use orchestra::Error;
    /// let err = Error::Failed { path: "app/db".into(), attempt: 1, source: "refused".into() };
    /// assert_eq!(err.with_causes().to_string(), "player `app/db` failed (attempt 1): refused");
    /// ```
    pub fn with_causes(&self) -> impl fmt::Display + '_ {
        Chain(self)
    }

    /// The path of the player this error is about, if it is about one player.
    pub fn path(&self) -> Option<&str> {
        match self {
            Error::Failed { path, .. }
            | Error::Panicked { path, .. }
            | Error::RestartLimit { path, .. }
            | Error::Unavailable { path }
            | Error::Dependency { path, .. }
            | Error::UnknownPlayer { path }
            | Error::Refused { path, .. }
            | Error::Config { path, .. } => Some(path),
            _ => None,
        }
    }

    /// Folds a list of failures into one error: `None` when empty, the error
    /// itself when alone, [`Error::Multiple`] otherwise. Stragglers and forced
    /// aborts from several places are merged into one variant each.
    pub(crate) fn combine(errors: Vec<Error>) -> Option<Error> {
        // Every run that ends well comes through here: no work for it.
        if errors.is_empty() {
            return None;
        }
        let mut out = Vec::with_capacity(errors.len());
        let mut stragglers = Vec::new();
        let mut forced: Option<(String, Vec<Arc<str>>)> = None;
        for error in errors.into_iter().flat_map(Error::into_flat) {
            match error {
                Error::StopTimedOut { stragglers: s } => stragglers.extend(s),
                Error::Forced { reason, aborted } => match &mut forced {
                    Some((_, all)) => all.extend(aborted),
                    None => forced = Some((reason, aborted)),
                },
                other => out.push(other),
            }
        }
        if !stragglers.is_empty() {
            out.push(Error::StopTimedOut { stragglers });
        }
        if let Some((reason, aborted)) = forced {
            out.push(Error::Forced { reason, aborted });
        }
        match out.len() {
            0 => None,
            1 => out.pop(),
            _ => Some(Error::Multiple(out)),
        }
    }

    fn into_flat(self) -> Vec<Error> {
        match self {
            Error::Multiple(errors) => errors.into_iter().flat_map(Error::into_flat).collect(),
            single => vec![single],
        }
    }
}

/// A limit that stopped a player from being restarted.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Limit {
    /// `max_attempts`: the player has run this many times.
    MaxAttempts(u32),
    /// `max_restarts` within `within`: the player was restarted this many times
    /// within the window (Erlang/OTP's restart intensity).
    MaxRestarts {
        /// Restarts allowed within the window.
        restarts: u32,
        /// The window.
        within: Duration,
    },
    /// The backoff strategy has no delay left.
    BackoffExhausted,
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Limit::MaxAttempts(n) => write!(f, "reached max_attempts = {n}"),
            Limit::MaxRestarts { restarts, within } => {
                write!(
                    f,
                    "restarted {restarts} times within {within:?} (max_restarts)"
                )
            }
            Limit::BackoffExhausted => f.write_str("its backoff strategy is exhausted"),
        }
    }
}

/// A player that did not stop within its timeout and was aborted.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Straggler {
    /// The player's path.
    pub path: Arc<str>,
    /// How long it had been asked to stop when it was aborted: its own stop
    /// timeout, or less when the timeout of a conductor above it ran out first.
    pub waited: Duration,
}

struct Stragglers<'a>(&'a [Straggler]);

impl fmt::Display for Stragglers<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, s) in self.0.iter().enumerate() {
            let sep = if i == 0 { "" } else { ", " };
            write!(f, "{sep}`{}` (after {:?})", s.path, s.waited)?;
        }
        Ok(())
    }
}

struct Paths<'a>(&'a [Arc<str>]);

impl fmt::Display for Paths<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("nothing was still running");
        }
        for (i, path) in self.0.iter().enumerate() {
            let sep = if i == 0 { "" } else { ", " };
            write!(f, "{sep}`{path}`")?;
        }
        Ok(())
    }
}

struct Chained<'a>(&'a [Error]);

impl fmt::Display for Chained<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, error) in self.0.iter().enumerate() {
            let sep = if i == 0 { "" } else { "; " };
            write!(f, "{sep}{}", Chain(error))?;
        }
        Ok(())
    }
}

/// Displays an error followed by its chain of sources, for logs.
pub(crate) struct Chain<'a>(pub(crate) &'a (dyn std::error::Error + 'static));

impl fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(cause) = source {
            write!(f, ": {cause}")?;
            source = cause.source();
        }
        Ok(())
    }
}

/// The message of a panic payload.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(message) = payload.downcast_ref::<&str>() {
        (*message).to_owned()
    } else if let Some(message) = payload.downcast_ref::<String>() {
        message.clone()
    } else {
        "a panic payload that is not a string".to_owned()
    }
}
