//! Statuses, events, listeners and reports, on the paused clock.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use orchestra::{
    Backoff, Conductor, Context, EventKind, Monitor, PlayerOptions, Restart, Runner, State,
    player_fn,
};
use support::{Log, idle, millis, secs, stuck};
use tokio::time::sleep;

/// `(elapsed, path, kind)` of every event, in order.
fn timeline(monitor: &Monitor) -> Vec<(Duration, String, EventKind)> {
    let mut all: Vec<_> = monitor
        .report()
        .players()
        .iter()
        .flat_map(|p| p.events.iter())
        .map(|e| (e.elapsed, e.path.to_string(), e.kind.clone()))
        .collect();
    all.sort_by_key(|(t, _, _)| *t);
    all
}

fn kinds(monitor: &Monitor, path: &str) -> Vec<(Duration, EventKind)> {
    monitor
        .report()
        .events(path)
        .map(|e| (e.elapsed, e.kind.clone()))
        .collect()
}

#[tokio::test(start_paused = true)]
async fn a_clean_run_and_stop() {
    let (log, t0) = Log::new();
    let mut app = Conductor::named("app");
    app.add(
        "http",
        player_fn(|ctx: Context| async move {
            sleep(millis(100)).await;
            ctx.ready();
            ctx.cancelled().await;
            Ok(())
        }),
    )
    .unwrap();
    app.add("idle", idle(&log, t0)).unwrap();
    let monitor = Monitor::new();

    // `idle` never calls ready(), and has no readiness grace.
    Runner::new(app)
        .monitor(monitor.clone())
        .play_until(sleep(millis(500)))
        .await
        .unwrap();

    use EventKind::*;
    assert_eq!(
        kinds(&monitor, "app/http"),
        [
            (secs(0), Starting),
            (secs(0), Started),
            (millis(100), Ready),
            (millis(500), Stopping),
            (millis(500), Stopped),
        ]
    );
    assert_eq!(
        kinds(&monitor, "app"),
        [
            (secs(0), Starting),
            (secs(0), Started),
            (millis(500), Stopping),
            (millis(500), Stopped)
        ]
    );
    let status = monitor.status("app/http").unwrap();
    assert_eq!(
        (status.state, status.runs, status.attempt),
        (State::Stopped, 1, 1)
    );
    assert!(status.last_error.is_none());
}

#[tokio::test(start_paused = true)]
async fn a_failure_with_two_restarts_then_success() {
    let mut app = Conductor::named("app");
    app.add_with(
        "flaky",
        player_fn(|ctx: Context| async move {
            sleep(millis(10)).await;
            if ctx.attempt() <= 2 {
                return Err(format!("attempt {} failed", ctx.attempt()).into());
            }
            Ok(())
        }),
        PlayerOptions::new()
            .restart(Restart::OnFailure)
            .backoff(Backoff::constant(millis(100))),
    )
    .unwrap();
    let monitor = Monitor::new();

    Runner::new(app)
        .monitor(monitor.clone())
        .play_until(std::future::pending())
        .await
        .unwrap();

    use EventKind::*;
    let failed = |n: u32| BackingOff {
        error: Some(format!(
            "player `app/flaky` failed (attempt {n}): attempt {n} failed"
        )),
        delay: millis(100),
    };
    assert_eq!(
        kinds(&monitor, "app/flaky"),
        [
            (millis(0), Starting),
            (millis(0), Started),
            (millis(10), failed(1)),
            (millis(110), Started),
            (millis(120), failed(2)),
            (millis(220), Started),
            (millis(230), Stopped),
        ]
    );
    let attempts: Vec<u32> = monitor
        .report()
        .events("app/flaky")
        .map(|e| e.attempt)
        .collect();
    assert_eq!(attempts, [0, 1, 1, 2, 2, 3, 3]);
    let status = monitor.status("app/flaky").unwrap();
    assert_eq!(
        (status.state, status.runs, status.restarts()),
        (State::Stopped, 3, 2)
    );
    assert_eq!(
        status.last_error.as_deref(),
        Some("player `app/flaky` failed (attempt 2): attempt 2 failed")
    );
}

#[tokio::test(start_paused = true)]
async fn a_straggler_aborted_at_its_timeout() {
    let dropped = Arc::new(AtomicUsize::new(0));
    let mut app = Conductor::named("app");
    app.timeout(secs(2));
    app.add("stuck", stuck(&dropped)).unwrap();
    let monitor = Monitor::new();

    Runner::new(app)
        .monitor(monitor.clone())
        .play_until(sleep(millis(500)))
        .await
        .unwrap_err();

    use EventKind::*;
    assert_eq!(
        kinds(&monitor, "app/stuck"),
        [
            (secs(0), Starting),
            (secs(0), Started),
            (millis(500), Stopping),
            (millis(2500), Aborted { forced: None })
        ]
    );
    assert_eq!(monitor.status("app/stuck").unwrap().state, State::Failed);
    assert!(matches!(
        kinds(&monitor, "app").last(),
        Some((t, Failed { error })) if *t == millis(2500) && error.starts_with("stop timed out: `app/stuck`")
    ));
}

#[tokio::test(start_paused = true)]
async fn a_deferred_start() {
    let (log, t0) = Log::new();
    let mut app = Conductor::named("app");
    app.add_with(
        "late",
        idle(&log, t0),
        PlayerOptions::new().delay(millis(500)),
    )
    .unwrap();
    let monitor = Monitor::new();
    let seen = monitor.clone();
    let during = tokio::spawn(async move {
        sleep(millis(250)).await;
        seen.status("app/late").map(|s| s.state)
    });

    Runner::new(app)
        .monitor(monitor.clone())
        .play_until(sleep(secs(1)))
        .await
        .unwrap();

    use EventKind::*;
    assert_eq!(
        kinds(&monitor, "app/late"),
        [
            (millis(0), Starting),
            (millis(0), Deferred { delay: millis(500) }),
            (millis(500), Started),
            (secs(1), Stopping),
            (secs(1), Stopped),
        ]
    );
    assert_eq!(during.await.unwrap(), Some(State::Deferred));
}

#[tokio::test(start_paused = true)]
async fn listeners_and_subscribers_see_every_event_in_order() {
    let (log, t0) = Log::new();
    let mut app = Conductor::named("app");
    app.add("a", idle(&log, t0)).unwrap();
    app.add("b", idle(&log, t0)).unwrap();
    let monitor = Monitor::new();
    let heard = Arc::new(Mutex::new(Vec::new()));
    let sink = heard.clone();
    monitor.on_event(move |e| {
        sink.lock()
            .unwrap()
            .push((e.path.to_string(), e.kind.clone()))
    });
    let mut events = monitor.subscribe();

    Runner::new(app)
        .monitor(monitor.clone())
        .play_until(sleep(millis(500)))
        .await
        .unwrap();

    let mut received = Vec::new();
    while let Ok(e) = events.try_recv() {
        received.push((e.path.to_string(), e.kind.clone()));
    }
    assert_eq!(received.len(), 12, "{received:?}");
    assert_eq!(
        *heard.lock().unwrap(),
        received,
        "the listener heard all, in order, before the run returned"
    );
    for player in monitor.report().players() {
        let path = player.status.path.to_string();
        let recorded: Vec<&EventKind> = player.events.iter().map(|e| &e.kind).collect();
        let streamed: Vec<&EventKind> = received
            .iter()
            .filter(|(p, _)| *p == path)
            .map(|(_, k)| k)
            .collect();
        assert_eq!(streamed, recorded, "{path}");
    }
    assert_eq!(monitor.dropped(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_slow_listener_does_not_hold_players_back_and_its_losses_are_counted() {
    let mut app = Conductor::named("app");
    app.add_with(
        "looping",
        player_fn(|ctx: Context| async move {
            if ctx.attempt() < 200 {
                Err("again".into())
            } else {
                ctx.cancelled().await;
                Ok(())
            }
        }),
        PlayerOptions::new()
            .restart(Restart::OnFailure)
            .backoff(Backoff::zero()),
    )
    .unwrap();
    let monitor = Monitor::with_capacity(8);
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    monitor.on_event(move |_| {
        counter.fetch_add(1, Ordering::SeqCst);
        // A listener that blocks its thread: it must not block the players.
        std::thread::sleep(Duration::from_millis(1));
    });

    Runner::new(app)
        .monitor(monitor.clone())
        .play_until(sleep(secs(1)))
        .await
        .unwrap();

    assert_eq!(
        monitor.status("app/looping").unwrap().runs,
        200,
        "all restarts happened"
    );
    let heard = calls.load(Ordering::SeqCst) as u64;
    let total = timeline(&monitor).len() as u64;
    assert!(monitor.dropped() > 0, "the listener fell behind");
    assert_eq!(
        heard + monitor.dropped(),
        total,
        "every event was heard or counted lost"
    );
}

#[tokio::test(start_paused = true)]
async fn the_report_table_lists_runs_restarts_and_states() {
    let mut app = Conductor::named("app");
    app.add_with(
        "flaky",
        player_fn(|ctx: Context| async move {
            if ctx.attempt() < 3 {
                Err("boom".into())
            } else {
                ctx.cancelled().await;
                Ok(())
            }
        }),
        PlayerOptions::new()
            .restart(Restart::OnFailure)
            .backoff(Backoff::zero()),
    )
    .unwrap();
    let monitor = Monitor::new();

    Runner::new(app)
        .monitor(monitor.clone())
        .play_until(sleep(secs(1)))
        .await
        .unwrap();

    assert_eq!(
        monitor.report().to_string(),
        "player     runs  restarts  state        last error\n\
         app           1         0  stopped      -\n\
         app/flaky     3         2  stopped      player `app/flaky` failed (attempt 2): boom"
    );
}

#[tokio::test(start_paused = true)]
async fn a_watched_player_that_never_calls_ready_is_ready_after_its_grace() {
    let (log, t0) = Log::new();
    let mut app = Conductor::named("app");
    app.add_with(
        "quiet",
        idle(&log, t0),
        PlayerOptions::new().grace(millis(300)),
    )
    .unwrap();
    let monitor = Monitor::new();

    Runner::new(app)
        .monitor(monitor.clone())
        .play_until(sleep(secs(2)))
        .await
        .unwrap();

    use EventKind::*;
    assert_eq!(
        kinds(&monitor, "app/quiet"),
        [
            (secs(0), Starting),
            (secs(0), Started),
            (millis(300), Ready),
            (secs(2), Stopping),
            (secs(2), Stopped),
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_restarted_player_is_ready_again_once_it_says_so() {
    let mut app = Conductor::named("app");
    app.add_with(
        "conn",
        player_fn(|ctx: Context| async move {
            ctx.ready();
            if ctx.attempt() == 1 {
                sleep(millis(100)).await;
                return Err("dropped".into());
            }
            ctx.cancelled().await;
            Ok(())
        }),
        PlayerOptions::new()
            .restart(Restart::OnFailure)
            .backoff(Backoff::constant(millis(50))),
    )
    .unwrap();
    let monitor = Monitor::new();

    Runner::new(app)
        .monitor(monitor.clone())
        .play_until(sleep(millis(500)))
        .await
        .unwrap();

    let ready: Vec<(Duration, u32)> = monitor
        .report()
        .events("app/conn")
        .filter(|e| e.kind == EventKind::Ready)
        .map(|e| (e.elapsed, e.attempt))
        .collect();
    assert_eq!(ready, [(millis(0), 1), (millis(150), 2)]);
}

#[tokio::test(start_paused = true)]
async fn no_run_starts_once_the_stop_is_requested_even_as_the_backoff_ends() {
    let mut app = Conductor::named("app");
    app.add_with(
        "flaky",
        player_fn(|_ctx: Context| async { Err("down".into()) }),
        PlayerOptions::new()
            .restart(Restart::OnFailure)
            .backoff(Backoff::constant(millis(100))),
    )
    .unwrap();
    let monitor = Monitor::new();

    // The stop and the end of the first backoff fall on the same instant.
    Runner::new(app)
        .monitor(monitor.clone())
        .play_until(sleep(millis(100)))
        .await
        .unwrap();

    let kinds: Vec<EventKind> = monitor
        .report()
        .events("app/flaky")
        .map(|e| e.kind.clone())
        .collect();
    let stopping = kinds
        .iter()
        .position(|k| *k == EventKind::Stopping)
        .expect("a stop");
    assert!(
        !kinds[stopping..].contains(&EventKind::Started),
        "{kinds:?}"
    );
    assert_eq!(kinds.last(), Some(&EventKind::Stopped));
}

#[tokio::test(start_paused = true)]
async fn a_listener_that_never_returns_is_detached_at_the_stop_timeout() {
    let mut app = Conductor::named("app");
    // The bound on the listeners is the top stop timeout, in real time.
    app.timeout(millis(50));
    app.add("job", player_fn(|_ctx: Context| async { Ok(()) }))
        .unwrap();
    let monitor = Monitor::new();
    let (release, blocked) = std::sync::mpsc::channel::<()>();
    monitor.on_event(move |_| {
        let _ = blocked.recv();
    });

    Runner::new(app)
        .monitor(monitor.clone())
        .play_until(std::future::pending())
        .await
        .unwrap();

    assert_eq!(monitor.status("app/job").unwrap().state, State::Stopped);
    drop(release);
}
