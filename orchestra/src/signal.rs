//! The signals that stop a run.

use std::fmt;
use std::task::Poll;

use crate::error::Error;

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
pub(crate) struct Listener {
    #[cfg(unix)]
    streams: Vec<(Signal, tokio::signal::unix::Signal)>,
    #[cfg(not(unix))]
    ctrl_c: std::pin::Pin<Box<dyn Future<Output = std::io::Result<()>> + Send>>,
}

impl Listener {
    #[cfg(unix)]
    pub(crate) fn new(signals: &Signals) -> Result<Self, Error> {
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
    pub(crate) fn new(signals: &Signals) -> Result<Self, Error> {
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
    pub(crate) async fn next(&mut self) -> Signal {
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
