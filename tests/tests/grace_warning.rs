//! A readiness grace that passes is logged as a warning.
//!
//! Alone in its own test binary: it reads `tracing` events through a
//! thread-local subscriber, and `tracing` caches whether a call site is
//! enabled process-wide, so another test hitting the same call site on
//! another thread at the same moment could cache "disabled" and hide the
//! event (it did, about one run in two, beside the other readiness tests).

mod support;

use std::sync::Arc;

use orchestra::{Conductor, PlayExt, PlayerOptions};
use support::{Log, idle, secs};
use tokio::time::sleep;

#[tokio::test(start_paused = true)]
async fn a_grace_that_passes_is_logged_as_a_warning() {
    let warnings = Arc::new(std::sync::Mutex::new(Vec::new()));
    let _default = tracing::subscriber::set_default(Warnings(warnings.clone()));
    let (log, t0) = Log::new();
    let mut app = Conductor::named("app");
    app.add_with("cache", idle(&log, t0), PlayerOptions::new().grace(secs(2)))
        .unwrap();
    app.add_with("api", idle(&log, t0), PlayerOptions::new().after("cache"))
        .unwrap();
    app.play_until(sleep(secs(5))).await.unwrap();
    let warnings = warnings.lock().unwrap();
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("not ready within its readiness grace")
                && w.contains("player=app/cache")),
        "{warnings:?}"
    );
}

/// Collects the messages of `WARN` events, with their fields.
struct Warnings(Arc<std::sync::Mutex<Vec<String>>>);

impl tracing::Subscriber for Warnings {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        struct Fields(String);
        impl tracing::field::Visit for Fields {
            fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
                self.0.push_str(&format!("{}={value:?} ", field.name()));
            }
        }
        if *event.metadata().level() == tracing::Level::WARN {
            let mut fields = Fields(String::new());
            event.record(&mut fields);
            self.0.lock().unwrap().push(fields.0);
        }
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}
