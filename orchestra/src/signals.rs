//! The set of signals that stops a run, and the listener for it.

use std::borrow::Cow;
use std::task::Poll;

use crate::error::Error;
use crate::signal::Signal;

/// The signals that stop a conductor: `SIGINT` and `SIGTERM` by default.
///
/// ```
/// use orchestra::{Error, Signal, Signals};
///
/// let signals = Signals::new([Signal::Terminate, Signal::Hangup])?;
/// assert_eq!(signals.iter().count(), 2);
/// // An empty list would never stop anything: it is refused.
/// assert!(matches!(Signals::new([]), Err(Error::NoSignals)));
/// # Ok::<(), Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signals(Cow<'static, [Signal]>);

/// The defaults are borrowed: a runner that is given none allocates none.
impl Default for Signals {
    fn default() -> Self {
        Signals(Cow::Borrowed(&[Signal::Interrupt, Signal::Terminate]))
    }
}

impl Signals {
    /// The signals that request a reload by default: `SIGHUP` on Unix,
    /// none elsewhere.
    pub(crate) fn reload_default() -> Option<Self> {
        cfg!(unix).then_some(Signals(Cow::Borrowed(&[Signal::Hangup])))
    }

    /// A set of signals, duplicates removed.
    ///
    /// # Errors
    ///
    /// [`Error::NoSignals`] if `signals` is empty.
    pub fn new(signals: impl IntoIterator<Item = Signal>) -> Result<Self, Error> {
        let mut list: Vec<Signal> = Vec::new();
        for signal in signals {
            if !list.contains(&signal) {
                list.push(signal);
            }
        }
        if list.is_empty() {
            return Err(Error::NoSignals);
        }
        Ok(Signals(Cow::Owned(list)))
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
                    .map_err(|source| Error::Signal { signal: s, source })
            })
            .collect::<Result<_, _>>()?;
        Ok(Listener { streams })
    }

    #[cfg(not(unix))]
    pub(crate) fn new(signals: &Signals) -> Result<Self, Error> {
        if let Some(other) = signals.iter().find(|s| *s != Signal::Interrupt) {
            return Err(Error::Signal {
                signal: other,
                source: std::io::Error::new(
                    std::io::ErrorKind::Unsupported,
                    "it exists on Unix only; use `Signal::Interrupt` here",
                ),
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
