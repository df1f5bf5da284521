//! The metrics recorded for a scripted run.

#![cfg(feature = "metrics")]

use std::collections::BTreeMap;
use std::time::Duration;

use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use orchestra::metrics::{FAILED, PLAYER, RESTARTED, RUNNING, STARTED, SUCCEEDED};
use orchestra::{Backoff, Conductor, Context, PlayExt, PlayerOptions, Restart, player_fn};

#[test]
fn counters_and_gauges_follow_a_scripted_run() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .expect("a runtime");

    metrics::with_local_recorder(&recorder, || {
        runtime.block_on(async {
            let mut app = Conductor::named("app");
            // Fails twice, then runs until the stop.
            app.add_with(
                "flaky",
                player_fn(|ctx: Context| async move {
                    if ctx.attempt() <= 2 {
                        return Err("down".into());
                    }
                    ctx.cancelled().await;
                    Ok(())
                }),
                PlayerOptions::new()
                    .restart(Restart::OnFailure)
                    .backoff(Backoff::zero()),
            )
            .expect("a new name");
            // Done at once.
            app.add("once", player_fn(|_ctx: Context| async { Ok(()) }))
                .expect("a new name");
            app.play_until(tokio::time::sleep(Duration::from_secs(1)))
                .await
                .expect("a clean stop");
        });
    });

    let mut values: BTreeMap<(String, String), DebugValue> = BTreeMap::new();
    for (key, _, _, value) in snapshotter.snapshot().into_vec() {
        let player = key
            .key()
            .labels()
            .find(|l| l.key() == PLAYER)
            .map(|l| l.value().to_owned())
            .expect("a player label");
        values.insert((key.key().name().to_owned(), player), value);
    }
    let counter = |name: &str, player: &str| match values.get(&(name.to_owned(), player.to_owned()))
    {
        Some(DebugValue::Counter(n)) => *n,
        other => panic!("{name}{{player={player}}}: {other:?}"),
    };
    let gauge = |name: &str, player: &str| match values.get(&(name.to_owned(), player.to_owned())) {
        Some(DebugValue::Gauge(g)) => g.into_inner(),
        other => panic!("{name}{{player={player}}}: {other:?}"),
    };

    assert_eq!(counter(STARTED, "app/flaky"), 3);
    assert_eq!(counter(RESTARTED, "app/flaky"), 2);
    assert_eq!(counter(FAILED, "app/flaky"), 2);
    assert_eq!(counter(SUCCEEDED, "app/flaky"), 1);
    assert_eq!(counter(STARTED, "app/once"), 1);
    assert_eq!(counter(SUCCEEDED, "app/once"), 1);
    assert!(!values.contains_key(&(FAILED.to_owned(), "app/once".to_owned())));
    assert!(
        values.keys().all(|(_, player)| player != "app"),
        "a conductor is not counted as a player (issue 12)"
    );
    assert_eq!(
        gauge(RUNNING, "app/flaky"),
        0.0,
        "nothing runs after the stop"
    );
}
