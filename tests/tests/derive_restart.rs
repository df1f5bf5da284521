//! The restart, backoff, limit, delay and ordering options of `#[player]`,
//! on the paused clock: each restart happens exactly when and as often as
//! the attributes say.

mod support;

use orchestra::{Backoff, Conductor, Error, Limit, PlayExt};
use support::probe::{Probe, Script};
use support::{Log, millis, secs};
use tokio::time::sleep;

/// The limit that ended a `RestartLimit` error for `path`.
fn limit_of(error: &Error, path: &str) -> Limit {
    match error {
        Error::RestartLimit { path: p, limit, .. } if &**p == path => limit.clone(),
        other => panic!("expected RestartLimit for {path}, got {other:?}"),
    }
}

#[derive(Conductor)]
struct Constant {
    #[player(restart = "on-failure", backoff = "constant", max_attempts = 3)]
    flaky: Probe,
    steady: Probe,
}

#[tokio::test(start_paused = true)]
async fn on_failure_with_a_constant_backoff_restarts_up_to_max_attempts() {
    let (log, t0) = Log::new();
    let app = Constant {
        flaky: Probe::new(&log, t0, Script::Fail(secs(1), "flaky")),
        steady: Probe::idle(&log, t0),
    };

    let error = app.play_until(std::future::pending()).await.unwrap_err();

    assert_eq!(limit_of(&error, "constant/flaky"), Limit::MaxAttempts(3));
    let Error::RestartLimit {
        last: Some(last), ..
    } = &error
    else {
        panic!("the last failure is kept: {error:?}");
    };
    assert!(
        matches!(**last, Error::Failed { attempt: 3, .. }),
        "{last:?}"
    );
    // Runs of 1 s, 1 s apart (the constant backoff's default delay).
    assert_eq!(
        log.times("constant/flaky started"),
        [secs(0), secs(2), secs(4)]
    );
    assert_eq!(log.at("constant/steady stopped"), Some(secs(5)));
}

#[derive(Conductor)]
struct Window {
    #[player(
        restart = "on-failure",
        backoff(constant, delay = "500ms"),
        max_restarts = 2,
        within = "1m"
    )]
    flaky: Probe,
}

#[tokio::test(start_paused = true)]
async fn max_restarts_within_a_window_makes_the_next_failure_final() {
    let (log, t0) = Log::new();
    let app = Window {
        flaky: Probe::new(&log, t0, Script::Fail(secs(1), "flaky")),
    };

    let error = app.play_until(std::future::pending()).await.unwrap_err();

    assert_eq!(
        limit_of(&error, "window/flaky"),
        Limit::MaxRestarts {
            restarts: 2,
            within: secs(60)
        }
    );
    assert_eq!(
        log.times("window/flaky started"),
        [secs(0), millis(1500), secs(3)]
    );
}

#[derive(Conductor)]
struct Always {
    #[player(restart = "always", backoff = "zero", max_attempts = 4)]
    cron: Probe,
}

#[tokio::test(start_paused = true)]
async fn always_restarts_a_player_that_is_done() {
    let (log, t0) = Log::new();
    let app = Always {
        cron: Probe::new(&log, t0, Script::Finish(secs(1))),
    };

    let error = app.play_until(std::future::pending()).await.unwrap_err();

    assert_eq!(limit_of(&error, "always/cron"), Limit::MaxAttempts(4));
    assert_eq!(
        log.times("always/cron started"),
        [secs(0), secs(1), secs(2), secs(3)]
    );
}

#[derive(Conductor)]
struct OnFailure {
    #[player(restart = "on-failure", backoff = "zero")]
    batch: Probe,
    steady: Probe,
}

#[tokio::test(start_paused = true)]
async fn on_failure_does_not_restart_a_player_that_is_done() {
    let (log, t0) = Log::new();
    let app = OnFailure {
        batch: Probe::new(&log, t0, Script::Finish(secs(1))),
        steady: Probe::idle(&log, t0),
    };

    app.play_until(sleep(secs(5))).await.unwrap();

    assert_eq!(log.times("on_failure/batch started"), [secs(0)]);
    assert_eq!(log.at("on_failure/steady stopped"), Some(secs(5)));
}

#[derive(Conductor)]
struct Exhausted {
    #[player(restart = "on-failure", backoff(zero, max_times = 2))]
    flaky: Probe,
}

#[tokio::test(start_paused = true)]
async fn an_exhausted_backoff_makes_the_failure_final() {
    let (log, t0) = Log::new();
    let app = Exhausted {
        flaky: Probe::new(&log, t0, Script::Fail(secs(1), "flaky")),
    };

    let error = app.play_until(std::future::pending()).await.unwrap_err();

    assert_eq!(limit_of(&error, "exhausted/flaky"), Limit::BackoffExhausted);
    assert_eq!(
        log.times("exhausted/flaky started"),
        [secs(0), secs(1), secs(2)]
    );
}

#[derive(Conductor)]
struct Exponential {
    #[player(
        restart = "on-failure",
        backoff(exponential, min = "1s", max = "4s", factor = 2.0),
        max_attempts = 5
    )]
    flaky: Probe,
}

#[tokio::test(start_paused = true)]
async fn an_exponential_backoff_grows_by_its_factor_up_to_its_max() {
    let (log, t0) = Log::new();
    let app = Exponential {
        flaky: Probe::new(&log, t0, Script::Fail(secs(1), "flaky")),
    };

    let error = app.play_until(std::future::pending()).await.unwrap_err();

    assert_eq!(limit_of(&error, "exponential/flaky"), Limit::MaxAttempts(5));
    // Delays of 1, 2, 4 and 4 s after runs of 1 s.
    assert_eq!(
        log.times("exponential/flaky started"),
        [secs(0), secs(2), secs(5), secs(10), secs(15)]
    );
}

#[derive(Conductor)]
struct Fibonacci {
    #[player(
        restart = "on-failure",
        backoff(fibonacci, min = "1s"),
        max_attempts = 5
    )]
    flaky: Probe,
}

#[tokio::test(start_paused = true)]
async fn a_fibonacci_backoff_follows_the_sequence() {
    let (log, t0) = Log::new();
    let app = Fibonacci {
        flaky: Probe::new(&log, t0, Script::Fail(secs(1), "flaky")),
    };

    let error = app.play_until(std::future::pending()).await.unwrap_err();

    assert_eq!(limit_of(&error, "fibonacci/flaky"), Limit::MaxAttempts(5));
    // Delays of 1, 1, 2 and 3 s after runs of 1 s.
    assert_eq!(
        log.times("fibonacci/flaky started"),
        [secs(0), secs(2), secs(4), secs(7), secs(11)]
    );
}

#[derive(Conductor)]
struct LongMin {
    #[player(restart = "on-failure", backoff(exponential, min = "1m"))]
    slow: Probe,
}

/// The derive checks `min` against `max` when both are written; against
/// orchestra's default `max` (30 s), the start does, as for a `Backoff`
/// built in code: the default has one home, the runtime.
#[tokio::test(start_paused = true)]
async fn a_backoff_min_longer_than_the_default_max_is_rejected_at_start() {
    let (log, t0) = Log::new();
    let app = LongMin {
        slow: Probe::idle(&log, t0),
    };

    let error = app.play_until(std::future::pending()).await.unwrap_err();

    assert_eq!(
        error.to_string(),
        "invalid configuration of `long_min/slow`: backoff min_delay (60s) is longer than its max_delay (30s)"
    );
    assert!(log.events().is_empty(), "nothing started");
}

/// 3 s, then 5 s, then give up.
fn two_then_give_up() -> Backoff {
    Backoff::custom(|| [secs(3), secs(5)])
}

#[derive(Conductor)]
struct Custom {
    #[player(restart = "on-failure", backoff = "self::two_then_give_up")]
    flaky: Probe,
}

#[tokio::test(start_paused = true)]
async fn a_custom_backoff_function_gives_the_delays() {
    let (log, t0) = Log::new();
    let app = Custom {
        flaky: Probe::new(&log, t0, Script::Fail(secs(1), "flaky")),
    };

    let error = app.play_until(std::future::pending()).await.unwrap_err();

    assert_eq!(limit_of(&error, "custom/flaky"), Limit::BackoffExhausted);
    assert_eq!(
        log.times("custom/flaky started"),
        [secs(0), secs(4), secs(10)]
    );
}

#[derive(Conductor)]
struct Resets {
    #[player(
        restart = "on-failure",
        backoff(zero, max_times = 1),
        stable_after = "5s",
        max_attempts = 3
    )]
    flaky: Probe,
}

#[derive(Conductor)]
struct Exhausts {
    #[player(restart = "on-failure", backoff(zero, max_times = 1))]
    flaky: Probe,
}

#[tokio::test(start_paused = true)]
async fn a_run_longer_than_stable_after_starts_the_backoff_over() {
    // With the default stable period (10 s), the second failure of runs of
    // 6 s exhausts a backoff of one delay; with 5 s, every run resets it.
    let (log, t0) = Log::new();
    let exhausts = Exhausts {
        flaky: Probe::new(&log, t0, Script::Fail(secs(6), "flaky")),
    };
    let error = exhausts
        .play_until(std::future::pending())
        .await
        .unwrap_err();
    assert_eq!(limit_of(&error, "exhausts/flaky"), Limit::BackoffExhausted);
    assert_eq!(log.times("exhausts/flaky started"), [secs(0), secs(6)]);

    let (log, t0) = Log::new();
    let resets = Resets {
        flaky: Probe::new(&log, t0, Script::Fail(secs(6), "flaky")),
    };
    let error = resets.play_until(std::future::pending()).await.unwrap_err();
    assert_eq!(limit_of(&error, "resets/flaky"), Limit::MaxAttempts(3));
    assert_eq!(
        log.times("resets/flaky started"),
        [secs(0), secs(6), secs(12)]
    );
}

#[derive(Conductor)]
struct Deferred {
    #[player(delay = "2s")]
    late: Probe,
    #[player(delay = "1m")]
    never: Probe,
}

#[tokio::test(start_paused = true)]
async fn delay_defers_the_first_start_and_a_stop_cancels_it() {
    let (log, t0) = Log::new();
    let app = Deferred {
        late: Probe::idle(&log, t0),
        never: Probe::idle(&log, t0),
    };

    app.play_until(sleep(secs(5))).await.unwrap();

    assert_eq!(log.at("deferred/late started"), Some(secs(2)));
    assert_eq!(log.at("deferred/never started"), None);
    assert_eq!(t0.elapsed(), secs(5));
}

#[derive(Conductor)]
struct Ordered {
    #[player(after("db", "cache"))]
    http: Probe,
    db: Probe,
    #[player(grace = "3s")]
    cache: Probe,
}

#[tokio::test(start_paused = true)]
async fn after_starts_a_player_once_its_siblings_are_ready_and_stops_it_first() {
    let (log, t0) = Log::new();
    let app = Ordered {
        http: Probe::idle(&log, t0),
        db: Probe::new(&log, t0, Script::ReadyAfter(secs(1))),
        // Never calls `ready()`: counted as ready after its grace.
        cache: Probe::idle(&log, t0),
    };

    app.play_until(sleep(secs(5))).await.unwrap();

    assert_eq!(log.at("ordered/db ready"), Some(secs(1)));
    assert_eq!(log.at("ordered/http started"), Some(secs(3)));
    let http = log.position("ordered/http stopped").unwrap();
    assert!(http < log.position("ordered/db stopped").unwrap());
    assert!(http < log.position("ordered/cache stopped").unwrap());
}

#[derive(Conductor)]
struct Worker {
    job: Probe,
}

#[derive(Conductor)]
struct Supervisor {
    #[player(restart = "on-failure", backoff = "zero", max_attempts = 2)]
    worker: Worker,
}

#[tokio::test(start_paused = true)]
async fn a_nested_conductor_is_restarted_as_a_whole() {
    let (log, t0) = Log::new();
    let app = Supervisor {
        worker: Worker {
            job: Probe::new(&log, t0, Script::Fail(secs(1), "crashed")),
        },
    };

    let error = app.play_until(std::future::pending()).await.unwrap_err();

    assert_eq!(limit_of(&error, "supervisor/worker"), Limit::MaxAttempts(2));
    let Error::RestartLimit {
        last: Some(last), ..
    } = &error
    else {
        panic!("the last failure is kept: {error:?}");
    };
    assert!(
        matches!(&**last, Error::Failed { path, .. } if &**path == "supervisor/worker/job"),
        "{last:?}"
    );
    assert_eq!(
        log.times("supervisor/worker/job started"),
        [secs(0), secs(1)]
    );
}

#[test]
fn the_options_are_described_as_written() {
    let (log, t0) = Log::new();
    let app = Window {
        flaky: Probe::idle(&log, t0),
    };
    assert_eq!(
        format!("{:#}", app.describe()),
        "window[flaky(restart = on-failure, backoff = constant(delay = 500ms), max_restarts = 2 within 60s)]"
    );
}
