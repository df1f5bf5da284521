//! The control handle: one member stopped, started, restarted, added and
//! removed by path while the rest of the tree runs; the whole run stopped
//! or forced.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use orchestra::{
    BoxError, Conductor, Context, Error, EventKind, Handle, Monitor, PlayExt, PlayerOptions, State,
    player_fn,
};
use support::{Log, idle, kinds, secs, stuck};
use tokio::task::JoinHandle;
use tokio::time::{Duration, Instant, sleep};

/// Runs `app` on a task of its own with a handle (and `monitor`), and lets
/// it start.
async fn run(app: Conductor, monitor: &Monitor) -> (Handle, JoinHandle<Result<(), Error>>) {
    let runner = app.runner().monitor(monitor.clone());
    let handle = runner.handle();
    let run = tokio::spawn(runner.play_until(std::future::pending()));
    sleep(Duration::from_millis(1)).await;
    (handle, run)
}

#[tokio::test(start_paused = true)]
async fn stop_start_restart_one_member_while_its_siblings_keep_running() {
    let (log, t0) = Log::new();
    let monitor = Monitor::new();
    let mut app = Conductor::named("app");
    app.add("http", idle(&log, t0)).unwrap();
    app.add("jobs", idle(&log, t0)).unwrap();
    let (handle, run) = run(app, &monitor).await;

    sleep(secs(1)).await;
    handle.stop("app/jobs").await.unwrap();
    assert_eq!(handle.status("app/jobs").unwrap().state, State::Stopped);
    assert!(!handle.is_running("app/jobs"));
    assert!(handle.is_running("app/http"), "its sibling runs on");

    sleep(secs(1)).await;
    handle.start("app/jobs").await.unwrap();
    sleep(Duration::from_millis(1)).await;
    assert!(handle.is_running("app/jobs"));
    assert_eq!(handle.status("app/jobs").unwrap().attempt, 2);

    sleep(secs(1)).await;
    handle.restart("app/jobs").await.unwrap();
    sleep(Duration::from_millis(1)).await;
    assert_eq!(handle.status("app/jobs").unwrap().attempt, 3);
    assert!(!run.is_finished());

    handle.stop_all();
    run.await.unwrap().unwrap();

    let jobs: Vec<EventKind> = kinds(&monitor, "app/jobs")
        .into_iter()
        .map(|(_, k)| k)
        .collect();
    assert_eq!(
        jobs,
        [
            EventKind::Starting,
            // It never calls `ready`, and has no readiness grace: no Ready.
            EventKind::Started,
            EventKind::Stopping,
            EventKind::Stopped,
            EventKind::Started,
            EventKind::Stopping,
            EventKind::Stopped,
            EventKind::Started,
            EventKind::Stopping,
            EventKind::Stopped,
        ]
    );
    assert_eq!(log.count("app/http started"), 1, "the sibling ran once");
    assert_eq!(log.count("app/jobs started"), 3);
    assert_eq!(
        log.at("app/jobs stopped"),
        Some(secs(1) + Duration::from_millis(1)),
        "stopped when asked"
    );
}

#[tokio::test(start_paused = true)]
async fn a_stopped_member_is_not_done_and_does_not_end_its_conductor_until_removed() {
    let (log, t0) = Log::new();
    let monitor = Monitor::new();
    let mut app = Conductor::named("app");
    app.add("only", idle(&log, t0)).unwrap();
    let (handle, run) = run(app, &monitor).await;

    handle.stop("app/only").await.unwrap();
    sleep(secs(10)).await;
    assert!(!run.is_finished(), "a stopped member waits to start again");

    handle.remove("app/only").await.unwrap();
    run.await.unwrap().unwrap();
}

#[tokio::test(start_paused = true)]
async fn the_error_of_a_stopped_run_comes_back_through_the_handle_not_to_the_conductor() {
    let monitor = Monitor::new();
    let mut app = Conductor::named("app");
    app.add(
        "flushing",
        player_fn(|ctx: Context| async move {
            ctx.cancelled().await;
            Err(BoxError::from("flush failed"))
        }),
    )
    .unwrap();
    app.add("steady", idle(&Log::default(), Instant::now()))
        .unwrap();
    let (handle, run) = run(app, &monitor).await;

    let error = handle.stop("app/flushing").await.unwrap_err();
    assert!(
        matches!(&error, Error::Failed { path, source, .. }
            if &**path == "app/flushing" && source.to_string() == "flush failed"),
        "{error:?}"
    );
    assert!(handle.is_running("app/steady"));
    assert!(!run.is_finished());
    handle.stop_all();
    run.await.unwrap().unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_member_ignoring_its_stop_is_aborted_at_its_timeout_and_the_handle_says_so() {
    let dropped = Arc::new(AtomicUsize::new(0));
    let monitor = Monitor::new();
    let mut app = Conductor::named("app");
    app.add_with(
        "stuck",
        stuck(&dropped),
        PlayerOptions::new().timeout(secs(2)),
    )
    .unwrap();
    app.add("steady", idle(&Log::default(), Instant::now()))
        .unwrap();
    let (handle, run) = run(app, &monitor).await;
    let t0 = Instant::now();

    let error = handle.stop("app/stuck").await.unwrap_err();
    let Error::StopTimedOut { stragglers } = &error else {
        panic!("expected StopTimedOut, got {error:?}");
    };
    assert_eq!(&*stragglers[0].path, "app/stuck");
    assert_eq!(t0.elapsed(), secs(2));
    assert_eq!(dropped.load(Ordering::SeqCst), 1, "its run was dropped");
    assert!(handle.is_running("app/steady"));

    handle.stop_all();
    run.await.unwrap().unwrap();
}

#[tokio::test(start_paused = true)]
async fn members_added_while_running_are_supervised_below_their_conductor() {
    let (log, t0) = Log::new();
    let monitor = Monitor::new();
    let mut app = Conductor::named("app");
    app.add("http", idle(&log, t0)).unwrap();
    let (handle, run) = run(app, &monitor).await;

    handle
        .add("app", "worker", idle(&log, t0), PlayerOptions::new())
        .unwrap();
    sleep(Duration::from_millis(1)).await;
    assert!(handle.is_running("app/worker"));
    assert!(matches!(
        handle.add("app", "worker", idle(&log, t0), PlayerOptions::new()),
        Err(Error::DuplicateName { .. })
    ));
    assert!(matches!(
        handle.add("app", "http", idle(&log, t0), PlayerOptions::new()),
        Err(Error::DuplicateName { .. })
    ));

    // An added member takes orders too.
    handle.restart("app/worker").await.unwrap();
    handle.remove("app/worker").await.unwrap();
    sleep(Duration::from_millis(1)).await;
    handle
        .add("app", "worker", idle(&log, t0), PlayerOptions::new())
        .unwrap();
    sleep(Duration::from_millis(1)).await;
    assert_eq!(log.count("app/worker started"), 3);

    handle.stop_all();
    run.await.unwrap().unwrap();
    assert_eq!(log.count("app/worker stopped"), 3);
}

#[tokio::test(start_paused = true)]
async fn unknown_paths_and_orders_that_cannot_be_carried_out_are_clear_errors() {
    let monitor = Monitor::new();
    let mut app = Conductor::named("app");
    app.add("http", idle(&Log::default(), Instant::now()))
        .unwrap();
    let (handle, run) = run(app, &monitor).await;

    let unknown = handle.stop("app/nope").await.unwrap_err();
    assert!(matches!(&unknown, Error::UnknownPlayer { path } if &**path == "app/nope"));
    assert_eq!(unknown.to_string(), "no player `app/nope` in this run");
    assert!(matches!(
        handle.status("app/nope"),
        Err(Error::UnknownPlayer { .. })
    ));
    let running = handle.start("app/http").await.unwrap_err();
    assert_eq!(
        running.to_string(),
        "cannot start `app/http`: it is running"
    );

    handle.stop_all();
    let late = handle.add(
        "app",
        "late",
        idle(&Log::default(), Instant::now()),
        PlayerOptions::new(),
    );
    assert!(
        matches!(&late, Err(Error::Refused { reason, .. }) if reason == "the run is stopping"),
        "{late:?}"
    );
    run.await.unwrap().unwrap();
}

#[tokio::test(start_paused = true)]
async fn force_aborts_what_still_runs_and_the_run_says_so() {
    let dropped = Arc::new(AtomicUsize::new(0));
    let monitor = Monitor::new();
    let mut app = Conductor::named("app");
    app.add("stuck", stuck(&dropped)).unwrap();
    let (handle, run) = run(app, &monitor).await;

    handle.stop_all();
    sleep(secs(1)).await;
    handle.force("the admin");
    // Forcing twice is harmless.
    handle.force("the admin again");

    let error = run.await.unwrap().unwrap_err();
    assert!(
        matches!(&error, Error::Forced { reason, aborted }
            if reason == "the admin" && aborted.iter().any(|p| &**p == "app/stuck")),
        "{error:?}"
    );
    assert_eq!(dropped.load(Ordering::SeqCst), 1, "the drop guard ran");
}

#[tokio::test(start_paused = true)]
async fn a_player_reaches_the_handle_through_its_context() {
    let monitor = Monitor::new();
    let mut app = Conductor::named("app");
    app.add(
        "admin",
        player_fn(|ctx: Context| async move {
            let handle = ctx.handle().expect("the run has a handle");
            sleep(secs(1)).await;
            handle.stop("app/worker").await?;
            ctx.cancelled().await;
            Ok(())
        }),
    )
    .unwrap();
    app.add("worker", idle(&Log::default(), Instant::now()))
        .unwrap();
    let (handle, run) = run(app, &monitor).await;

    sleep(secs(2)).await;
    assert_eq!(handle.status("app/worker").unwrap().state, State::Stopped);
    handle.stop_all();
    run.await.unwrap().unwrap();
}

#[tokio::test(start_paused = true)]
async fn an_added_members_failure_stops_its_conductor_gracefully_and_is_named() {
    let (log, t0) = Log::new();
    let monitor = Monitor::new();
    let mut app = Conductor::named("app");
    app.add("http", idle(&log, t0)).unwrap();
    let (handle, run) = run(app, &monitor).await;

    let failing = player_fn(|_ctx: Context| async {
        sleep(secs(1)).await;
        Err(BoxError::from("bad config"))
    });
    handle
        .add("app", "plugin", failing, PlayerOptions::new())
        .unwrap();

    let error = run.await.unwrap().unwrap_err();
    assert!(
        matches!(&error, Error::Failed { path, .. } if &**path == "app/plugin"),
        "{error:?}"
    );
    assert!(
        log.at("app/http stopped").is_some(),
        "its sibling was stopped gracefully"
    );
}
