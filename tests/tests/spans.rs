//! Each run of a player has a span (`player`, with its path, attempt and
//! execution id): its own events, its children's, and what its future logs
//! when it is dropped (cut at its `ready_within`, or aborted) are inside it.
//!
//! Alone in its own test binary: it reads `tracing` spans and events
//! through a thread-local subscriber, and `tracing` caches whether a call
//! site is enabled process-wide (see `grace_warning.rs`).

mod support;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use orchestra::{Conductor, Context, PlayExt, Player, PlayerOptions, Restart, player_fn};
use support::secs;
use tokio::time::sleep;

#[tokio::test(start_paused = true)]
async fn a_runs_events_its_childrens_and_its_drop_are_inside_its_span() {
    let spans = Spans::default();
    let _default = tracing::subscriber::set_default(spans.clone());
    let mut app = Conductor::named("app");
    app.add(
        "worker",
        player_fn(|ctx: Context| async move {
            tracing::info!("working");
            ctx.spawn(async { tracing::info!("child working") });
            ctx.cancelled().await;
            Ok(())
        }),
    )
    .unwrap();
    // Never ready: cut at its deadline, where its future is dropped.
    app.add_with(
        "late",
        waits_forever("late dropped"),
        PlayerOptions::new()
            .ready_within(secs(1))
            .restart(Restart::Never),
    )
    .unwrap();
    // Does not stop when asked: aborted at its stop timeout.
    app.add_with(
        "stuck",
        waits_forever("stuck dropped"),
        PlayerOptions::new().timeout(secs(1)),
    )
    .unwrap();
    let _ = app.play_until(sleep(secs(5))).await;

    let span_of = |message: &str| spans.span_of(message);
    let worker = span_of("working");
    assert!(worker.starts_with("player "), "{worker}");
    for field in ["player=app/worker", "attempt=1", "execution_id="] {
        assert!(worker.contains(field), "{field} in {worker}");
    }
    assert_eq!(span_of("started"), worker, "the run's own logs");
    assert_eq!(span_of("child working"), worker, "a child's logs");
    let late = span_of("late dropped");
    assert!(late.contains("player=app/late"), "{late}");
    let stuck = span_of("stuck dropped");
    assert!(stuck.contains("player=app/stuck"), "{stuck}");
}

/// A player that waits forever, stop or not, and logs `dropped` when its
/// run's future is dropped.
fn waits_forever(dropped: &'static str) -> impl Player {
    player_fn(move |_ctx: Context| async move {
        let _guard = LogsOnDrop(dropped);
        std::future::pending::<()>().await;
        Ok(())
    })
}

/// Logs `.0` when dropped.
struct LogsOnDrop(&'static str);

impl Drop for LogsOnDrop {
    fn drop(&mut self) {
        tracing::info!("{}", self.0);
    }
}

/// Records each span (its name and fields) and, for each event, the span
/// it was emitted in (the current thread's innermost entered span).
#[derive(Clone, Default)]
struct Spans(Arc<Mutex<Recorded>>);

#[derive(Default)]
struct Recorded {
    spans: HashMap<u64, (String, &'static tracing::Metadata<'static>)>,
    entered: Vec<u64>,
    /// Each event's message, and the span it was emitted in.
    events: Vec<(String, String)>,
}

impl Spans {
    /// The span of the first event whose message is `message`.
    fn span_of(&self, message: &str) -> String {
        let recorded = self.0.lock().unwrap();
        recorded
            .events
            .iter()
            .find(|(m, _)| m == message)
            .map(|(_, span)| span.clone())
            .unwrap_or_else(|| panic!("no event `{message}` in {:?}", recorded.events))
    }
}

/// The fields of a span or an event, as `name=value` pairs.
struct Fields(String);

impl tracing::field::Visit for Fields {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.0.push_str(&format!(" {}={value:?}", field.name()));
    }
}

impl tracing::Subscriber for Spans {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, span: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        let mut fields = Fields(span.metadata().name().to_owned());
        span.record(&mut fields);
        let mut recorded = self.0.lock().unwrap();
        let id = recorded.spans.len() as u64 + 1;
        recorded.spans.insert(id, (fields.0, span.metadata()));
        tracing::span::Id::from_u64(id)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        struct Message(String);
        impl tracing::field::Visit for Message {
            fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
                if field.name() == "message" {
                    self.0 = format!("{value:?}");
                }
            }
        }
        let mut message = Message(String::new());
        event.record(&mut message);
        let mut recorded = self.0.lock().unwrap();
        let span = recorded
            .entered
            .last()
            .and_then(|id| recorded.spans.get(id))
            .map(|(span, _)| span.clone())
            .unwrap_or_default();
        recorded.events.push((message.0, span));
    }
    fn current_span(&self) -> tracing_core::span::Current {
        let recorded = self.0.lock().unwrap();
        match recorded.entered.last() {
            Some(id) => {
                let (_, metadata) = recorded.spans[id];
                tracing_core::span::Current::new(tracing::span::Id::from_u64(*id), metadata)
            }
            None => tracing_core::span::Current::none(),
        }
    }
    fn enter(&self, span: &tracing::span::Id) {
        self.0.lock().unwrap().entered.push(span.into_u64());
    }
    fn exit(&self, span: &tracing::span::Id) {
        let mut recorded = self.0.lock().unwrap();
        if let Some(at) = recorded
            .entered
            .iter()
            .rposition(|id| *id == span.into_u64())
        {
            recorded.entered.remove(at);
        }
    }
}
