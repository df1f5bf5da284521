//! Every option that takes a duration accepts `Duration::MAX` (as the
//! derive accepts `"18446744073709551615s"`): nothing adds it to a clock
//! and panics, wherever the engine makes a deadline of it.

mod support;

use std::time::Duration;

use orchestra::{
    Backoff, Conductor, Context, EventKind, Monitor, PlayExt, PlayerOptions, Restart, Runner,
    State, player_fn,
};
use support::probe::Probe;
use support::{Log, idle, secs};
use tokio::time::{Instant, sleep};

/// Plays `app` with a monitor attached for `for_`, and returns the monitor.
async fn play_watched(app: Conductor, for_: Duration) -> Monitor {
    let monitor = Monitor::new();
    Runner::new(app)
        .monitor(monitor.clone())
        .play_until(sleep(for_))
        .await
        .unwrap();
    monitor
}

#[tokio::test(start_paused = true)]
async fn a_player_timeout_of_duration_max_when_the_stop_begins() {
    let (log, t0) = Log::new();
    let mut app = Conductor::named("app");
    app.add_with(
        "job",
        idle(&log, t0),
        PlayerOptions::new().timeout(Duration::MAX),
    )
    .unwrap();

    app.play_until(sleep(secs(1))).await.unwrap();

    assert_eq!(log.at("app/job stopped"), Some(secs(1)));
}

#[tokio::test(start_paused = true)]
async fn a_conductor_timeout_of_duration_max_when_the_stop_begins() {
    let (log, t0) = Log::new();
    let mut app = Conductor::named("app");
    app.timeout(Duration::MAX);
    app.add("job", idle(&log, t0)).unwrap();

    app.play_until(sleep(secs(1))).await.unwrap();

    assert_eq!(log.at("app/job stopped"), Some(secs(1)));
}

#[derive(orchestra::Conductor)]
#[conductor(timeout = "18446744073709551615s")]
struct Longest {
    #[player(timeout = "18446744073709551615s", delay = "18446744073709551615s")]
    late: Probe,
    #[player(grace = "18446744073709551615s")]
    job: Probe,
}

#[tokio::test(start_paused = true)]
async fn the_derive_takes_the_longest_duration_it_parses() {
    let (log, t0) = Log::new();
    let app = Longest {
        late: Probe::idle(&log, t0),
        job: Probe::idle(&log, t0),
    };
    let monitor = Monitor::new();

    Runner::new(app)
        .monitor(monitor.clone())
        .play_until(sleep(secs(1)))
        .await
        .unwrap();

    assert_eq!(log.at("longest/job stopped"), Some(secs(1)));
    assert_eq!(log.at("longest/late started"), None, "deferred for ever");
    assert_eq!(
        monitor.status("longest/late").unwrap().state,
        State::Stopped
    );
}

#[tokio::test(start_paused = true)]
async fn a_delay_and_a_grace_of_duration_max_with_a_monitor_attached() {
    let (log, t0) = Log::new();
    let mut app = Conductor::named("app");
    app.add_with(
        "late",
        idle(&log, t0),
        PlayerOptions::new().delay(Duration::MAX),
    )
    .unwrap();
    app.add_with(
        "slow",
        idle(&log, t0),
        PlayerOptions::new().grace(Duration::MAX),
    )
    .unwrap();

    let monitor = play_watched(app, secs(1)).await;

    assert_eq!(log.at("app/slow stopped"), Some(secs(1)));
    assert_eq!(monitor.status("app/late").unwrap().state, State::Stopped);
}

#[tokio::test(start_paused = true)]
async fn a_custom_backoff_yielding_duration_max() {
    let mut app = Conductor::named("app");
    let failing = player_fn(|_ctx: Context| async { Err("down".into()) });
    let options = PlayerOptions::new()
        .restart(Restart::OnFailure)
        .backoff(Backoff::custom(|| std::iter::repeat(Duration::MAX)));
    app.add_with("flaky", failing, options).unwrap();
    let t0 = Instant::now();

    let monitor = play_watched(app, secs(1)).await;

    assert_eq!(t0.elapsed(), secs(1), "the stop cut the backoff short");
    let kinds: Vec<EventKind> = monitor
        .report()
        .events("app/flaky")
        .map(|e| e.kind.clone())
        .collect();
    assert!(
        kinds.iter().any(
            |kind| matches!(kind, EventKind::BackingOff { delay, .. } if *delay == Duration::MAX)
        ),
        "{kinds:?}"
    );
    assert_eq!(kinds.last(), Some(&EventKind::Stopped));
}
