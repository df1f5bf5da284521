//! How a run's result becomes the process's exit code.

use std::io::Write;
use std::process::{ExitCode, Termination};

use crate::error::{BoxError, Chain, Error};

/// The exit code of a run that ended cleanly.
const CLEAN: u8 = 0;
/// A player failed or panicked, and its restart policy made it final.
const FAILED: u8 = 1;
/// The run could not start: a bad configuration or signal list.
const CONFIG: u8 = 2;
/// Players did not stop within their timeout and were aborted.
const STOP_TIMED_OUT: u8 = 3;
/// A player reached a restart limit.
const RESTART_LIMIT: u8 = 4;
/// The stop was forced by a second signal (128 + `SIGINT`, as a shell
/// reports a process ended by Ctrl-C).
pub(crate) const FORCED: u8 = 130;

impl Error {
    /// The exit code a process should end with after this error; see
    /// [`Exit`] for the table.
    ///
    /// [`Error::Multiple`] takes the code of its first error: the cause of
    /// the stop comes first, what went wrong while stopping after it.
    ///
    /// ```
    /// use orchestra::Error;
    ///
    /// assert_eq!(Error::NoSignals.exit_code(), 2);
    /// let forced = Error::Forced { reason: "a second SIGINT".into(), aborted: Vec::new() };
    /// assert_eq!(forced.exit_code(), 130);
    /// ```
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Failed { .. }
            | Error::Panicked { .. }
            | Error::Unavailable { .. }
            | Error::UnknownPlayer { .. }
            | Error::Refused { .. } => FAILED,
            Error::RestartLimit { .. } => RESTART_LIMIT,
            Error::StopTimedOut { .. } => STOP_TIMED_OUT,
            Error::Forced { .. } => FORCED,
            Error::DuplicateName { .. }
            | Error::Config { .. }
            | Error::NoSignals
            | Error::Signal { .. } => CONFIG,
            Error::Multiple(errors) => errors.first().map_or(FAILED, Error::exit_code),
        }
    }
}

/// The result of a run as `main` returns it: the process exits with a code
/// that tells why the run ended, and the error, if any, is logged.
///
/// | code | cause |
/// |---|---|
/// | 0 | the run ended cleanly (stopped by a signal, or every player done) |
/// | 1 | a player failed or panicked ([`Error::Failed`], [`Error::Panicked`], [`Error::Unavailable`]); a handle's order refused ([`Error::UnknownPlayer`], [`Error::Refused`]) |
/// | 2 | the run could not start: configuration ([`Error::Config`], [`Error::DuplicateName`], [`Error::NoSignals`]) or a signal that cannot be listened for ([`Error::Signal`]) |
/// | 3 | players did not stop in time and were aborted ([`Error::StopTimedOut`]) |
/// | 4 | a player reached a restart limit ([`Error::RestartLimit`]) |
/// | 130 | the stop was forced by a second signal ([`Error::Forced`]) |
///
/// [`Error::Multiple`] exits with the code of its first error, the cause of
/// the stop. Any other error, such as one met while setting up before the run
/// (a port that cannot be bound), exits 1; an orchestra [`Error`] passed on
/// with `?` as a [`BoxError`] keeps its code.
///
/// The error is logged with its causes as an `ERROR` event of target
/// `orchestra`; with no `tracing` subscriber to record it, it is written to
/// standard error instead, as `main` returning a `Result` would.
///
/// ```no_run
/// use orchestra::{player_fn, Context, Exit, PlayExt};
///
/// #[tokio::main]
/// async fn main() -> Exit {
///     let server = player_fn(|ctx: Context| async move {
///         ctx.cancelled().await;
///         Ok(())
///     });
///     server.play_until_signal().await.into()
/// }
/// ```
///
/// With setup that can fail, a `run` function uses `?` throughout:
///
/// ```no_run
/// use orchestra::{player_fn, BoxError, Conductor, Context, Exit, PlayExt};
///
/// async fn run() -> Result<(), BoxError> {
///     let workers: usize = std::env::var("WORKERS")?.parse()?; // exits 1
///     let mut app = Conductor::named("app");
///     for n in 0..workers {
///         let worker = player_fn(|ctx: Context| async move {
///             ctx.cancelled().await;
///             Ok(())
///         });
///         app.add(&format!("worker-{n}"), worker)?;
///     }
///     app.play_until_signal().await?; // exits with the code of the table
///     Ok(())
/// }
///
/// #[tokio::main]
/// async fn main() -> Exit {
///     run().await.into()
/// }
/// ```
#[derive(Debug)]
#[must_use = "an `Exit` is meant to be returned from `main`"]
pub struct Exit(Result<(), BoxError>);

impl Exit {
    /// The code the process will exit with.
    ///
    /// ```
    /// use orchestra::{Error, Exit};
    ///
    /// assert_eq!(Exit::from(Ok::<(), Error>(())).code(), 0);
    /// assert_eq!(Exit::from(Error::NoSignals).code(), 2);
    /// ```
    pub fn code(&self) -> u8 {
        match &self.0 {
            Ok(()) => CLEAN,
            Err(error) => error
                .downcast_ref::<Error>()
                .map_or(FAILED, Error::exit_code),
        }
    }

    /// The result it was made of.
    pub fn into_result(self) -> Result<(), BoxError> {
        self.0
    }
}

/// From a run's result, or from that of a function running it: any error
/// that converts into a [`BoxError`], `anyhow::Error` included.
impl<E: Into<BoxError>> From<Result<(), E>> for Exit {
    fn from(result: Result<(), E>) -> Self {
        Exit(result.map_err(Into::into))
    }
}

impl From<Error> for Exit {
    fn from(error: Error) -> Self {
        Exit(Err(error.into()))
    }
}

impl Termination for Exit {
    fn report(self) -> ExitCode {
        let code = self.code();
        if let Err(error) = &self.0 {
            if tracing::enabled!(target: "orchestra", tracing::Level::ERROR) {
                tracing::error!(target: "orchestra", code, "{}", Chain(&**error));
            } else {
                // The process is ending: standard error is the last place
                // left to say why, as std's `Termination for Result` does.
                let _ = writeln!(std::io::stderr(), "Error: {}", Chain(&**error));
            }
        }
        ExitCode::from(code)
    }
}

#[cfg(test)]
mod tests {
    use std::fmt;
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use super::*;
    use crate::error::{Limit, Straggler};
    use crate::signal::Signal;

    fn failed() -> Error {
        Error::Failed {
            path: "app/db".into(),
            attempt: 1,
            source: "refused".into(),
        }
    }

    fn stop_timed_out() -> Error {
        Error::StopTimedOut {
            stragglers: vec![Straggler {
                path: "app/stuck".into(),
                waited: Duration::from_secs(1),
            }],
        }
    }

    #[test]
    fn each_cause_has_its_documented_code() {
        let io = || std::io::Error::other("no");
        let cases = [
            (failed(), 1),
            (
                Error::Panicked {
                    path: "a".into(),
                    attempt: 1,
                    message: "boom".into(),
                },
                1,
            ),
            (Error::Unavailable { path: "a".into() }, 1),
            (Error::UnknownPlayer { path: "a".into() }, 1),
            (
                Error::Refused {
                    path: "a".into(),
                    action: "stop",
                    reason: "the run is stopping".into(),
                },
                1,
            ),
            (
                Error::Config {
                    path: "a".into(),
                    message: "bad".into(),
                },
                2,
            ),
            (
                Error::DuplicateName {
                    conductor: "app".into(),
                    name: "a".into(),
                },
                2,
            ),
            (Error::NoSignals, 2),
            (
                Error::Signal {
                    signal: Signal::Hangup,
                    source: io(),
                },
                2,
            ),
            (stop_timed_out(), 3),
            (
                Error::RestartLimit {
                    path: "a".into(),
                    limit: Limit::MaxAttempts(3),
                    last: Some(Box::new(failed())),
                },
                4,
            ),
            (
                Error::Forced {
                    reason: "a second SIGINT".into(),
                    aborted: vec!["app/stuck".into()],
                },
                130,
            ),
        ];
        for (error, code) in cases {
            assert_eq!(error.exit_code(), code, "{error}");
            assert_eq!(Exit::from(error).code(), code);
        }
    }

    /// Records the events it is given, as `target level message`.
    #[derive(Default, Clone)]
    struct Recorder(Arc<Mutex<Vec<String>>>);

    impl tracing::Subscriber for Recorder {
        fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
            true
        }
        fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
            tracing::span::Id::from_u64(1)
        }
        fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
        fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
        fn event(&self, event: &tracing::Event<'_>) {
            struct Message<'a>(&'a mut String);
            impl tracing::field::Visit for Message<'_> {
                fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn fmt::Debug) {
                    *self.0 += &format!(" {}={value:?}", field.name());
                }
            }
            let meta = event.metadata();
            let mut line = format!("{} {}", meta.target(), meta.level());
            event.record(&mut Message(&mut line));
            self.0.lock().unwrap().push(line);
        }
        fn enter(&self, _: &tracing::span::Id) {}
        fn exit(&self, _: &tracing::span::Id) {}
    }

    #[test]
    fn the_error_is_logged_with_its_causes_and_its_code() {
        let recorder = Recorder::default();
        let code = tracing::subscriber::with_default(recorder.clone(), || {
            Exit::from(Error::Multiple(vec![failed(), stop_timed_out()])).report()
        });
        assert_eq!(code, ExitCode::from(1));
        let lines = recorder.0.lock().unwrap();
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert!(
            lines[0].starts_with("orchestra ERROR message=2 failures: "),
            "{lines:?}"
        );
        assert!(lines[0].contains("player `app/db` failed (attempt 1): refused"));
        assert!(lines[0].ends_with(" code=1"), "{lines:?}");
    }

    #[test]
    fn several_failures_exit_with_the_code_of_the_first_cause() {
        let error = Error::Multiple(vec![failed(), stop_timed_out()]);
        assert_eq!(error.exit_code(), 1);
        let error = Error::Multiple(vec![stop_timed_out(), failed()]);
        assert_eq!(error.exit_code(), 3);
    }

    #[test]
    fn a_clean_run_exits_zero_and_keeps_its_result() {
        let clean = || Exit::from(Ok::<(), Error>(()));
        assert_eq!(clean().code(), 0);
        assert_eq!(clean().report(), ExitCode::SUCCESS);
        let kept = Exit::from(Error::NoSignals).into_result().unwrap_err();
        assert!(matches!(kept.downcast_ref(), Some(Error::NoSignals)));
    }

    #[test]
    fn another_error_exits_one_and_an_orchestra_error_boxed_keeps_its_code() {
        let setup: Result<(), std::io::Error> = Err(std::io::Error::other("port in use"));
        assert_eq!(Exit::from(setup).code(), 1);
        let boxed: Result<(), BoxError> = Err(Error::NoSignals.into());
        assert_eq!(Exit::from(boxed).code(), 2);
    }
}
