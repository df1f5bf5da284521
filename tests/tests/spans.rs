//! Each run of a player has a span (`player`, with its path, attempt and
//! execution id): its own events, its children's, and what its future logs
//! when it is dropped (cut at its `ready_within`, or aborted) are inside it.
//!
//! Alone in its own test binary: it reads `tracing` spans and events
//! through a thread-local subscriber, and `tracing` caches whether a call
//! site is enabled process-wide (see `grace_warning.rs`).

mod support;

use orchestra::{Conductor, Context, PlayExt, Player, PlayerOptions, Restart, player_fn};
use support::secs;
use support::trace::Recorder;
use tokio::time::sleep;

#[tokio::test(start_paused = true)]
async fn a_runs_events_its_childrens_and_its_drop_are_inside_its_span() {
    let spans = Recorder::default();
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
