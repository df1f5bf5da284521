//! A derived conductor runs its fields like a runtime-built one: start,
//! done, failure, panic, stop, stop timeouts; and in place, by `play`.

mod support;

use orchestra::CancellationToken;
use orchestra::{Conductor, Context, Error, PlayExt, Player};
use support::probe::{Probe, Script};
use support::{Log, millis, secs};
use tokio::time::sleep;

#[derive(Conductor)]
struct App {
    http: Probe,
    jobs: Probe,
}

#[tokio::test(start_paused = true)]
async fn every_field_stops_when_the_conductor_is_cancelled() {
    let (log, t0) = Log::new();
    let app = App {
        http: Probe::idle(&log, t0),
        jobs: Probe::idle(&log, t0),
    };

    orchestra::play_until(app, sleep(secs(1))).await.unwrap();

    for path in ["app/http", "app/jobs"] {
        assert_eq!(log.at(&format!("{path} started")), Some(secs(0)));
        assert_eq!(log.at(&format!("{path} stopped")), Some(secs(1)));
    }
    assert_eq!(t0.elapsed(), secs(1));
}

#[tokio::test(start_paused = true)]
async fn a_field_that_is_done_leaves_its_siblings_running() {
    let (log, t0) = Log::new();
    let app = App {
        http: Probe::new(&log, t0, Script::Finish(secs(1))),
        jobs: Probe::idle(&log, t0),
    };

    app.play_until(sleep(secs(3))).await.unwrap();

    assert_eq!(log.at("app/http done"), Some(secs(1)));
    assert_eq!(log.at("app/jobs stopped"), Some(secs(3)));
    assert_eq!(log.times("app/http started").len(), 1, "not restarted");
}

#[tokio::test(start_paused = true)]
async fn the_conductor_is_done_when_every_field_is_done() {
    let (log, t0) = Log::new();
    let app = App {
        http: Probe::new(&log, t0, Script::Finish(secs(1))),
        jobs: Probe::new(&log, t0, Script::Finish(secs(5))),
    };

    app.play_until(std::future::pending()).await.unwrap();

    assert_eq!(log.at("app/jobs done"), Some(secs(5)));
    assert_eq!(t0.elapsed(), secs(5));
}

#[tokio::test(start_paused = true)]
async fn a_failing_field_stops_its_siblings_and_is_named_by_its_path() {
    let (log, t0) = Log::new();
    let app = App {
        http: Probe::idle(&log, t0),
        jobs: Probe::new(&log, t0, Script::Fail(secs(2), "queue unreachable")),
    };

    let error = app.play_until(std::future::pending()).await.unwrap_err();

    let Error::Failed {
        path,
        attempt,
        source,
    } = &error
    else {
        panic!("expected Failed, got {error:?}");
    };
    assert_eq!(&**path, "app/jobs");
    assert_eq!(*attempt, 1);
    assert_eq!(source.to_string(), "queue unreachable");
    assert_eq!(log.at("app/http stopped"), Some(secs(2)));
}

#[tokio::test(start_paused = true)]
async fn a_panicking_field_stops_its_siblings_and_its_message_is_kept() {
    let (log, t0) = Log::new();
    let app = App {
        http: Probe::new(&log, t0, Script::Panic(secs(1), "index out of bounds")),
        jobs: Probe::idle(&log, t0),
    };

    let error = app.play_until(std::future::pending()).await.unwrap_err();

    let Error::Panicked { path, message, .. } = &error else {
        panic!("expected Panicked, got {error:?}");
    };
    assert_eq!(&**path, "app/http");
    assert_eq!(message, "index out of bounds");
    assert_eq!(log.at("app/jobs stopped"), Some(secs(1)));
}

#[derive(Conductor)]
#[conductor(timeout = "10s")]
struct Stubborn {
    #[player(timeout = "1s")]
    stuck: Probe,
    polite: Probe,
}

#[tokio::test(start_paused = true)]
async fn a_field_timeout_shorter_than_the_conductor_s_aborts_the_straggler_and_names_it() {
    let (log, t0) = Log::new();
    let app = Stubborn {
        stuck: Probe::new(&log, t0, Script::Stuck),
        polite: Probe::idle(&log, t0),
    };

    let error = app.play_until(sleep(secs(2))).await.unwrap_err();

    let Error::StopTimedOut { stragglers } = &error else {
        panic!("expected StopTimedOut, got {error:?}");
    };
    assert_eq!(stragglers.len(), 1);
    assert_eq!(&*stragglers[0].path, "stubborn/stuck");
    assert_eq!(stragglers[0].waited, secs(1));
    assert_eq!(log.at("stubborn/polite stopped"), Some(secs(2)));
    assert_eq!(t0.elapsed(), secs(3), "aborted after its own 1s, not 10s");
}

#[derive(Conductor)]
#[conductor(name = "lax", timeout = "250ms")]
struct WithConductorTimeout {
    stuck: Probe,
    #[player(timeout = "1s")]
    slower: Probe,
}

/// The conductor's timeout is both its fields' default and the budget of
/// its whole stop: a longer field timeout is cut short.
#[tokio::test(start_paused = true)]
async fn the_conductor_s_timeout_is_its_fields_default_and_its_whole_budget() {
    let (log, t0) = Log::new();
    let app = WithConductorTimeout {
        stuck: Probe::new(&log, t0, Script::Stuck),
        slower: Probe::new(&log, t0, Script::Stuck),
    };

    let error = app.play_until(sleep(secs(1))).await.unwrap_err();

    let Error::StopTimedOut { stragglers } = &error else {
        panic!("expected StopTimedOut, got {error:?}");
    };
    let mut waited: Vec<(&str, _)> = stragglers.iter().map(|s| (&*s.path, s.waited)).collect();
    waited.sort();
    assert_eq!(
        waited,
        [("lax/slower", millis(250)), ("lax/stuck", millis(250))]
    );
    assert_eq!(t0.elapsed(), millis(1250));
}

#[tokio::test(start_paused = true)]
async fn playing_in_place_runs_the_fields_under_the_context_s_path_and_can_be_repeated() {
    let (log, t0) = Log::new();
    let mut app = App {
        http: Probe::idle(&log, t0),
        jobs: Probe::idle(&log, t0),
    };

    for round in 1..=2_u64 {
        let token = CancellationToken::new();
        let stop = async {
            sleep(secs(1)).await;
            token.cancel();
        };
        let (result, ()) = tokio::join!(
            Player::play(&mut app, Context::new("svc", token.clone())),
            stop
        );
        result.unwrap();
        assert_eq!(log.times("svc/http stopped").len() as u64, round);
        assert_eq!(log.times("svc/jobs stopped").len() as u64, round);
    }
}

#[tokio::test(start_paused = true)]
async fn playing_in_place_reports_a_failure_by_its_path() {
    let (log, t0) = Log::new();
    let mut app = App {
        http: Probe::idle(&log, t0),
        jobs: Probe::new(&log, t0, Script::Fail(secs(1), "disk full")),
    };

    let error = Player::play(&mut app, Context::new("svc", CancellationToken::new()))
        .await
        .unwrap_err();

    let error = error.downcast::<Error>().expect("an orchestra::Error");
    assert!(
        matches!(&*error, Error::Failed { path, .. } if &**path == "svc/jobs"),
        "{error:?}"
    );
    assert_eq!(log.at("svc/http stopped"), Some(secs(1)));
}

#[derive(Conductor)]
struct Partial {
    http: Probe,
    #[player(skip)]
    label: &'static str,
}

#[tokio::test(start_paused = true)]
async fn a_skipped_field_is_not_run() {
    let (log, t0) = Log::new();
    let app = Partial {
        http: Probe::idle(&log, t0),
        label: "not a player",
    };
    assert_eq!(app.label, "not a player");
    assert_eq!(app.describe().paths(), ["partial/http"]);

    app.play_until(sleep(secs(1))).await.unwrap();

    assert_eq!(
        log.events(),
        ["partial/http started", "partial/http stopped"]
    );
}

#[tokio::test(start_paused = true)]
async fn no_task_outlives_the_run() {
    let (log, t0) = Log::new();
    let app = Stubborn {
        stuck: Probe::new(&log, t0, Script::Stuck),
        polite: Probe::idle(&log, t0),
    };
    let _ = app.play_until(sleep(secs(1))).await;
    let alive = tokio::runtime::Handle::current()
        .metrics()
        .num_alive_tasks();
    assert_eq!(alive, 0);
}
