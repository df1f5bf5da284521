//! Start order (`after`, readiness, grace) and reverse stop order.

mod support;

use orchestra::{Conductor, Context, Error, PlayExt, PlayerOptions, player_fn};
use support::{Log, idle, millis, secs};
use tokio::time::{Instant, sleep};

/// Becomes ready after `ready_after`, then runs until cancelled, taking
/// `stop_takes` to stop.
fn service(
    log: &Log,
    t0: Instant,
    ready_after: Duration,
    stop_takes: Duration,
) -> impl orchestra::Player {
    let log = log.clone();
    player_fn(move |ctx: Context| {
        let log = log.clone();
        async move {
            log.push(format!("{} started", ctx.name()), t0);
            sleep(ready_after).await;
            ctx.ready();
            ctx.cancelled().await;
            sleep(stop_takes).await;
            log.push(format!("{} stopped", ctx.name()), t0);
            Ok(())
        }
    })
}

use std::time::Duration;

#[tokio::test(start_paused = true)]
async fn a_player_starts_once_the_one_it_is_after_is_ready() {
    let (log, t0) = Log::new();
    let mut app = Conductor::named("app");
    app.add_with("api", idle(&log, t0), PlayerOptions::new().after("db"))
        .unwrap();
    app.add("db", service(&log, t0, millis(300), Duration::ZERO))
        .unwrap();
    app.add("metrics", idle(&log, t0)).unwrap();

    app.play_until(sleep(secs(1))).await.unwrap();

    assert_eq!(log.at("db started"), Some(secs(0)));
    assert_eq!(
        log.at("app/metrics started"),
        Some(secs(0)),
        "unordered: at once"
    );
    assert_eq!(log.at("app/api started"), Some(millis(300)));
}

#[tokio::test(start_paused = true)]
async fn several_dependencies_are_all_awaited() {
    let (log, t0) = Log::new();
    let mut app = Conductor::named("app");
    app.add("db", service(&log, t0, millis(100), Duration::ZERO))
        .unwrap();
    app.add("cache", service(&log, t0, millis(400), Duration::ZERO))
        .unwrap();
    app.add_with(
        "api",
        idle(&log, t0),
        PlayerOptions::new().after("db").after("cache"),
    )
    .unwrap();

    app.play_until(sleep(secs(1))).await.unwrap();

    assert_eq!(log.at("app/api started"), Some(millis(400)));
}

#[tokio::test(start_paused = true)]
async fn a_player_that_never_calls_ready_counts_as_ready_after_its_grace() {
    let (log, t0) = Log::new();
    let mut app = Conductor::named("app");
    app.add_with(
        "silent",
        idle(&log, t0),
        PlayerOptions::new().grace(millis(250)),
    )
    .unwrap();
    app.add("quiet", idle(&log, t0)).unwrap();
    app.add_with("a", idle(&log, t0), PlayerOptions::new().after("silent"))
        .unwrap();
    app.add_with("b", idle(&log, t0), PlayerOptions::new().after("quiet"))
        .unwrap();

    app.play_until(sleep(secs(3))).await.unwrap();

    assert_eq!(log.at("app/a started"), Some(millis(250)));
    assert_eq!(
        log.at("app/b started"),
        None,
        "no grace by default: `b` waits for `quiet` to call ready()"
    );
}

#[tokio::test(start_paused = true)]
async fn a_dependency_that_is_done_counts_as_ready() {
    let (log, t0) = Log::new();
    let mut app = Conductor::named("app");
    app.add("migrate", support::finishes(&log, t0, millis(700)))
        .unwrap();
    app.add_with(
        "api",
        idle(&log, t0),
        PlayerOptions::new().after("migrate").grace(secs(60)),
    )
    .unwrap();
    app.add_with("web", idle(&log, t0), PlayerOptions::new().after("migrate"))
        .unwrap();

    app.play_until(sleep(secs(2))).await.unwrap();

    // `migrate` never calls ready(): its end (Ok, for good) counts.
    assert_eq!(log.at("app/api started"), Some(millis(700)));
}

#[tokio::test(start_paused = true)]
async fn the_grace_of_a_deferred_player_counts_from_its_start() {
    let (log, t0) = Log::new();
    let mut app = Conductor::named("app");
    app.add_with(
        "late",
        idle(&log, t0),
        PlayerOptions::new().delay(secs(2)).grace(millis(500)),
    )
    .unwrap();
    app.add_with("next", idle(&log, t0), PlayerOptions::new().after("late"))
        .unwrap();

    app.play_until(sleep(secs(5))).await.unwrap();

    assert_eq!(log.at("app/late started"), Some(secs(2)));
    assert_eq!(log.at("app/next started"), Some(millis(2500)));
}

#[tokio::test(start_paused = true)]
async fn the_stop_runs_in_reverse_order_each_level_waiting_for_the_one_above() {
    let (log, t0) = Log::new();
    let mut app = Conductor::named("app");
    app.add("db", service(&log, t0, Duration::ZERO, millis(100)))
        .unwrap();
    app.add_with(
        "api",
        service(&log, t0, Duration::ZERO, millis(200)),
        PlayerOptions::new().after("db"),
    )
    .unwrap();
    app.add_with(
        "edge",
        service(&log, t0, Duration::ZERO, millis(300)),
        PlayerOptions::new().after("api"),
    )
    .unwrap();
    app.add("cron", service(&log, t0, Duration::ZERO, millis(50)))
        .unwrap();

    app.play_until(sleep(secs(1))).await.unwrap();

    assert_eq!(
        log.at("cron stopped"),
        Some(millis(1050)),
        "unordered: at once"
    );
    assert_eq!(log.at("edge stopped"), Some(millis(1300)));
    assert_eq!(log.at("api stopped"), Some(millis(1500)));
    assert_eq!(log.at("db stopped"), Some(millis(1600)));
}

#[tokio::test(start_paused = true)]
async fn a_failure_before_the_dependents_start_leaves_them_unstarted() {
    let (log, t0) = Log::new();
    let mut app = Conductor::named("app");
    app.add("db", support::fails(millis(100), "no disk"))
        .unwrap();
    app.add_with("api", idle(&log, t0), PlayerOptions::new().after("db"))
        .unwrap();

    let error = app.play_until(std::future::pending()).await.unwrap_err();

    assert_eq!(error.path(), Some("app/db"));
    assert!(log.events().is_empty(), "api never started");
}

#[tokio::test(start_paused = true)]
async fn bad_orderings_are_all_reported_before_anything_starts() {
    let (log, t0) = Log::new();
    let mut app = Conductor::named("app");
    app.add_with("a", idle(&log, t0), PlayerOptions::new().after("b"))
        .unwrap();
    app.add_with("b", idle(&log, t0), PlayerOptions::new().after("a"))
        .unwrap();
    app.add_with("c", idle(&log, t0), PlayerOptions::new().after("nope"))
        .unwrap();
    app.add_with("d", idle(&log, t0), PlayerOptions::new().after("d"))
        .unwrap();

    let error = app.play_until(std::future::pending()).await.unwrap_err();

    let messages: Vec<String> = error.iter().map(ToString::to_string).collect();
    assert_eq!(
        messages,
        [
            "invalid configuration of `app/c`: it is ordered `after` `nope`, which is not a player of this conductor; its players are `a`, `b`, `c`, `d`",
            "invalid configuration of `app/d`: it is ordered `after` itself",
            "invalid configuration of `app`: its players are ordered `after` each other in a cycle: `a`, `b`",
        ]
    );
    assert!(log.events().is_empty());
    assert!(matches!(error, Error::Multiple(_)));
}
