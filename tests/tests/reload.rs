//! Reload requests: players that reload in place hear of each through
//! `ctx.reload_requested()`; players with `on_reload = "restart"` are
//! restarted gracefully, outside their restart limits; the others keep
//! running.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use orchestra::{
    BoxError, Conductor, Context, EventKind, Monitor, OnReload, PlayExt, Player, PlayerOptions,
    Restart, Runner, State, player_fn,
};
use support::probe::Probe;
use support::{Log, idle, millis, secs, stuck};
use tokio::time::sleep;

/// Logs `"{path} reload"` at every reload request, until asked to stop.
fn reloads_in_place(log: &Log, t0: tokio::time::Instant) -> impl Player {
    let log = log.clone();
    player_fn(move |ctx: Context| {
        let log = log.clone();
        async move {
            loop {
                tokio::select! {
                    () = ctx.cancelled() => return Ok(()),
                    () = ctx.reload_requested() => log.push(format!("{} reload", ctx.path()), t0),
                }
            }
        }
    })
}

/// Plays `player` for 10 s, requesting a reload at each of `at`.
async fn play_with_reloads<P: Player>(player: P, monitor: &Monitor, at: &[u64]) {
    let runner = Runner::new(player).monitor(monitor.clone());
    let reloader = runner.reloader();
    let run = tokio::spawn(runner.play_until(sleep(secs(10))));
    let mut now = 0;
    for &t in at {
        sleep(secs(t - now)).await;
        now = t;
        reloader.reload();
    }
    run.await.unwrap().unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_player_reloading_in_place_hears_every_request() {
    let (log, t0) = Log::new();
    let mut app = Conductor::named("app");
    app.add("config", reloads_in_place(&log, t0)).unwrap();

    play_with_reloads(app, &Monitor::new(), &[1, 3]).await;

    assert_eq!(log.times("app/config reload"), [secs(1), secs(3)]);
}

#[tokio::test(start_paused = true)]
async fn a_request_made_while_the_player_was_busy_completes_its_next_wait() {
    let (log, t0) = Log::new();
    let mut app = Conductor::named("app");
    let late = log.clone();
    app.add(
        "late",
        player_fn(move |ctx: Context| {
            let log = late.clone();
            async move {
                sleep(secs(2)).await; // busy when the reload comes
                ctx.reload_requested().await;
                log.push("heard", t0);
                ctx.cancelled().await;
                Ok(())
            }
        }),
    )
    .unwrap();

    play_with_reloads(app, &Monitor::new(), &[1]).await;

    assert_eq!(log.at("heard"), Some(secs(2)));
}

#[tokio::test(start_paused = true)]
async fn on_reload_restart_restarts_that_player_only() {
    let (log, t0) = Log::new();
    let mut app = Conductor::named("app");
    app.add_with(
        "certs",
        idle(&log, t0),
        PlayerOptions::new().on_reload(OnReload::Restart),
    )
    .unwrap();
    app.add("api", idle(&log, t0)).unwrap();
    let monitor = Monitor::new();

    play_with_reloads(app, &monitor, &[2]).await;

    assert_eq!(log.times("app/certs started"), [secs(0), secs(2)]);
    assert_eq!(log.times("app/certs stopped"), [secs(2), secs(10)]);
    assert_eq!(log.times("app/api started"), [secs(0)], "left running");
    let certs: Vec<(u32, EventKind)> = monitor
        .report()
        .events("app/certs")
        .map(|e| (e.attempt, e.kind.clone()))
        .collect();
    assert!(
        certs
            .windows(2)
            .any(|w| w == [(1, EventKind::Reloading), (2, EventKind::Started)]),
        "{certs:?}"
    );
    let status = monitor.status("app/certs").unwrap();
    assert_eq!((status.runs, status.attempt), (2, 2));
}

#[tokio::test(start_paused = true)]
async fn a_restart_for_a_reload_counts_towards_no_restart_limit() {
    let (log, t0) = Log::new();
    let mut app = Conductor::named("app");
    let flaky = log.clone();
    app.add_with(
        "flaky",
        player_fn(move |ctx: Context| {
            let log = flaky.clone();
            async move {
                log.push(format!("attempt {}", ctx.attempt()), t0);
                if ctx.attempt() == 4 {
                    // After three reloads: one failure, within the limits.
                    sleep(millis(500)).await;
                    return Err(BoxError::from("down"));
                }
                ctx.cancelled().await;
                Ok(())
            }
        }),
        PlayerOptions::new()
            .restart(Restart::OnFailure)
            .max_attempts(2)
            .max_restarts(1, secs(3600))
            .on_reload(OnReload::Restart),
    )
    .unwrap();
    let monitor = Monitor::new();

    play_with_reloads(app, &monitor, &[1, 2, 3]).await;

    assert_eq!(log.count("attempt 5"), 1, "restarted after its failure");
    assert_eq!(monitor.status("app/flaky").unwrap().state, State::Stopped);
}

#[tokio::test(start_paused = true)]
async fn a_player_that_ignores_the_reload_is_dropped_at_its_stop_timeout_and_restarted() {
    let dropped = Arc::new(AtomicUsize::new(0));
    let mut app = Conductor::named("app");
    app.add_with(
        "stuck",
        stuck(&dropped),
        PlayerOptions::new()
            .timeout(secs(2))
            .on_reload(OnReload::Restart),
    )
    .unwrap();
    let monitor = Monitor::new();
    let runner = Runner::new(app).monitor(monitor.clone());
    let reloader = runner.reloader();
    let run = tokio::spawn(runner.play_until(sleep(secs(5))));

    sleep(secs(1)).await;
    reloader.reload();
    sleep(millis(2500)).await;

    assert_eq!(
        dropped.load(Ordering::SeqCst),
        1,
        "its first run was dropped"
    );
    assert_eq!(monitor.status("app/stuck").unwrap().attempt, 2);
    // The second run ignores the stop too: aborted at the stop timeout.
    assert!(run.await.unwrap().is_err());
}

#[derive(orchestra::Conductor)]
struct App {
    #[player(on_reload = "restart")]
    certs: Probe,
    api: Probe,
}

#[tokio::test(start_paused = true)]
async fn the_derive_sets_on_reload() {
    let (log, t0) = Log::new();
    let app = App {
        certs: Probe::idle(&log, t0),
        api: Probe::idle(&log, t0),
    };
    assert_eq!(
        format!("{:#}", app.describe()),
        "app[certs(on_reload = restart), api]"
    );

    play_with_reloads(app, &Monitor::new(), &[1]).await;

    assert_eq!(log.times("app/certs started"), [secs(0), secs(1)]);
    assert_eq!(log.times("app/api started"), [secs(0)]);
}

#[tokio::test(start_paused = true)]
async fn outside_a_run_no_reload_is_ever_requested() {
    let ctx = Context::new("alone", orchestra::CancellationToken::new());
    let waited = tokio::time::timeout(secs(3600), ctx.reload_requested()).await;
    assert!(waited.is_err());
}
