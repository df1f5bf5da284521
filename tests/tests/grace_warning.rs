//! A readiness grace that passes is logged as a warning.
//!
//! Alone in its own test binary: it reads `tracing` events through a
//! thread-local subscriber, and `tracing` caches whether a call site is
//! enabled process-wide, so another test hitting the same call site on
//! another thread at the same moment could cache "disabled" and hide the
//! event (it did, about one run in two, beside the other readiness tests).

mod support;

use orchestra::{Conductor, PlayExt, PlayerOptions};
use support::trace::Recorder;
use support::{Log, idle, secs};
use tokio::time::sleep;
use tracing::Level;

#[tokio::test(start_paused = true)]
async fn a_grace_that_passes_is_logged_as_a_warning() {
    let recorder = Recorder::default();
    let _default = tracing::subscriber::set_default(recorder.clone());
    let (log, t0) = Log::new();
    let mut app = Conductor::named("app");
    app.add_with("cache", idle(&log, t0), PlayerOptions::new().grace(secs(2)))
        .unwrap();
    app.add_with("api", idle(&log, t0), PlayerOptions::new().after("cache"))
        .unwrap();
    app.play_until(sleep(secs(5))).await.unwrap();
    let warnings: Vec<String> = (recorder.events().into_iter())
        .filter(|event| event.level == Level::WARN)
        .map(|event| event.fields)
        .collect();
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("not ready within its readiness grace")
                && w.contains("player=app/cache")),
        "{warnings:?}"
    );
}
