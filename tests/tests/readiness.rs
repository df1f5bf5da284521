//! Readiness: `after` waits for `ctx.ready()` (no silent grace), what a
//! dependency that ends first means, and the `ready_within` start deadline.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use orchestra::{Conductor, Context, Error, PlayExt, PlayerOptions, Restart, player_fn};
use support::{Log, idle, millis, secs};
use tokio::time::sleep;

#[tokio::test(start_paused = true)]
async fn a_dependent_waits_for_ready_however_long_it_takes() {
    let (log, t0) = Log::new();
    let mut app = Conductor::named("app");
    app.add(
        "db",
        player_fn(|ctx: Context| async move {
            sleep(secs(45)).await;
            ctx.ready();
            ctx.cancelled().await;
            Ok(())
        }),
    )
    .unwrap();
    app.add_with("api", idle(&log, t0), PlayerOptions::new().after("db"))
        .unwrap();
    app.play_until(sleep(secs(60))).await.unwrap();
    assert_eq!(log.at("app/api started"), Some(secs(45)));
}

#[tokio::test(start_paused = true)]
async fn a_dependency_failing_for_good_first_fails_the_group_and_its_dependent_never_starts() {
    let (log, t0) = Log::new();
    let mut app = Conductor::named("app");
    app.add("db", support::fails(millis(300), "no disk"))
        .unwrap();
    app.add_with("api", idle(&log, t0), PlayerOptions::new().after("db"))
        .unwrap();
    let error = app.play_until(sleep(secs(10))).await.unwrap_err();
    assert!(
        matches!(&error, Error::Failed { path, .. } if &**path == "app/db"),
        "{error:?}"
    );
    assert_eq!(log.at("app/api started"), None);
}

#[tokio::test(start_paused = true)]
async fn a_restarted_dependency_is_waited_for_until_a_run_is_ready() {
    let (log, t0) = Log::new();
    let runs = Arc::new(AtomicU32::new(0));
    let mut app = Conductor::named("app");
    let counted = runs.clone();
    app.add_with(
        "db",
        player_fn(move |ctx: Context| {
            let runs = counted.clone();
            async move {
                sleep(millis(100)).await;
                if runs.fetch_add(1, Ordering::SeqCst) == 0 {
                    return Err("not yet".into());
                }
                ctx.ready();
                ctx.cancelled().await;
                Ok(())
            }
        }),
        PlayerOptions::new()
            .restart(Restart::OnFailure)
            .backoff(orchestra::Backoff::constant(secs(1))),
    )
    .unwrap();
    app.add_with("api", idle(&log, t0), PlayerOptions::new().after("db"))
        .unwrap();
    app.play_until(sleep(secs(5))).await.unwrap();
    assert_eq!(
        log.at("app/api started"),
        Some(millis(1200)),
        "after the second run's ready(), not the first run's failure"
    );
}

#[tokio::test(start_paused = true)]
async fn a_run_not_ready_within_its_deadline_fails() {
    let mut app = Conductor::named("app");
    app.add_with(
        "db",
        player_fn(|ctx: Context| async move {
            ctx.cancelled().await;
            Ok(())
        }),
        PlayerOptions::new().ready_within(secs(30)),
    )
    .unwrap();
    let t0 = tokio::time::Instant::now();
    let error = app.play_until(std::future::pending()).await.unwrap_err();
    assert_eq!(t0.elapsed(), secs(30));
    assert_eq!(
        error.with_causes().to_string(),
        "player `app/db` failed (attempt 1): not ready within 30s (`ready_within`): \
         it did not call `ctx.ready()` in time"
    );
}

#[tokio::test(start_paused = true)]
async fn a_late_run_is_restarted_by_its_policy_and_a_ready_one_runs_on() {
    let runs = Arc::new(AtomicU32::new(0));
    let counted = runs.clone();
    let mut app = Conductor::named("app");
    app.add_with(
        "db",
        player_fn(move |ctx: Context| {
            let run = counted.fetch_add(1, Ordering::SeqCst) + 1;
            async move {
                // The first run is never ready; the second is, at 1 s.
                if run == 1 {
                    std::future::pending::<()>().await;
                }
                sleep(secs(1)).await;
                ctx.ready();
                ctx.cancelled().await;
                Ok(())
            }
        }),
        PlayerOptions::new()
            .ready_within(secs(2))
            .restart(Restart::OnFailure)
            .backoff(orchestra::Backoff::zero()),
    )
    .unwrap();
    app.play_until(sleep(secs(60))).await.unwrap();
    assert_eq!(
        runs.load(Ordering::SeqCst),
        2,
        "restarted once, then ran on"
    );
}

#[tokio::test(start_paused = true)]
async fn a_grace_is_opt_in_and_starts_the_dependents_when_it_passes() {
    let (log, t0) = Log::new();
    let mut app = Conductor::named("app");
    app.add_with("cache", idle(&log, t0), PlayerOptions::new().grace(secs(2)))
        .unwrap();
    app.add_with("api", idle(&log, t0), PlayerOptions::new().after("cache"))
        .unwrap();
    app.play_until(sleep(secs(5))).await.unwrap();
    assert_eq!(log.at("app/api started"), Some(secs(2)));
}

#[derive(orchestra::Conductor)]
#[conductor(name = "app")]
struct App {
    #[player(ready_within = "30s", grace = "5s")]
    db: Conductor,
    #[player(readiness = "ignore")]
    upstream: Conductor,
}

#[test]
fn describe_shows_the_readiness_options() {
    let app = App {
        db: Conductor::named("db"),
        upstream: Conductor::named("upstream"),
    };
    assert_eq!(
        format!("{:#}", app.describe()),
        "app[db(grace = 5s, ready_within = 30s)[], upstream(readiness = ignore)[]]"
    );
}
