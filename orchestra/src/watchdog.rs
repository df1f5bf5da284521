//! The last resort of a forced stop: an OS thread, outside the run's
//! runtime, that ends the process soon after a second signal, whatever the
//! players do to the runtime's threads.

use std::time::Duration;

use tokio::sync::oneshot;

use crate::exit::FORCED;
use crate::signals::{Listener, Signals};

/// How long the process has to end by itself after a second signal.
pub(crate) const FORCE_GRACE: Duration = Duration::from_secs(1);

/// Watches the stop signals of a run from a thread of its own, with a
/// runtime of its own (so that it hears signals even when every thread of
/// the run's runtime is blocked by a player).
///
/// At the second signal since the run began, it gives the process
/// [`FORCE_GRACE`] to end, then exits it with code 130. Dropping the
/// watchdog before any signal came disarms it; after the first signal it
/// stays armed, as the process may never end by itself then (tokio's
/// runtime waits for its worker threads when dropped, and a player may be
/// blocking one).
pub(crate) struct Watchdog {
    _run: oneshot::Sender<()>,
}

impl Watchdog {
    /// Starts the watchdog of a run stopped by `signals`; `None` (logged)
    /// when it cannot be started: the run goes on without it.
    pub(crate) fn start(signals: &Signals) -> Option<Watchdog> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|error| {
                tracing::warn!(target: "orchestra", %error, "no watchdog for a forced stop: cannot build its runtime");
            })
            .ok()?;
        let runtime = Background(Some(runtime));
        // Listening from now on, so that no signal is missed.
        let listener = {
            let _entered = runtime.0.as_ref().map(tokio::runtime::Runtime::enter);
            Listener::new(signals)
        };
        let (run, ended) = oneshot::channel();
        let spawned = std::thread::Builder::new()
            .name("orchestra-watchdog".into())
            .spawn(move || watch(&runtime, listener, ended));
        match spawned {
            Ok(_) => Some(Watchdog { _run: run }),
            Err(error) => {
                tracing::warn!(target: "orchestra", %error, "no watchdog for a forced stop: cannot start its thread");
                None
            }
        }
    }
}

/// A runtime that, dropped, does not wait for its tasks: it may be dropped
/// where blocking is not allowed (on the run's runtime, if the watchdog's
/// thread cannot be started).
struct Background(Option<tokio::runtime::Runtime>);

impl Drop for Background {
    fn drop(&mut self) {
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
    }
}

fn watch(
    runtime: &Background,
    listener: Result<Listener, crate::error::Error>,
    mut ended: oneshot::Receiver<()>,
) {
    let mut listener = match listener {
        Ok(listener) => listener,
        Err(error) => {
            tracing::warn!(target: "orchestra", %error, "no watchdog for a forced stop");
            return;
        }
    };
    let Some(runtime) = &runtime.0 else { return };
    let second = runtime.block_on(async {
        tokio::select! {
            _ = &mut ended => return false,
            _ = listener.next() => {}
        }
        listener.next().await;
        true
    });
    if second {
        std::thread::sleep(FORCE_GRACE);
        tracing::error!(
            target: "orchestra",
            grace = ?FORCE_GRACE,
            "the process did not end within its grace after a second signal: exiting now, with code {FORCED}"
        );
        std::process::exit(i32::from(FORCED));
    }
}
