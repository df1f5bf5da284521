//! Strategies, a conductor's restart intensity and escalation, and what a
//! member's end does to its group, in the spirit of Erlang/OTP's
//! `supervisor_SUITE`: exact start and stop order and times on the paused
//! clock.

mod support;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use orchestra::{
    Backoff, BoxError, Conductor, Context, Error, Limit, OnExit, PlayExt, Player, PlayerOptions,
    Restart, RestartNow, Strategy, player_fn,
};
use support::{Log, millis, secs};
use tokio::time::{Instant, sleep};

/// How a scripted run ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    Ok,
    Err,
    Panic,
    RestartNow,
}

/// What a member's runs do: the runs not in its script run until asked to
/// stop, and take 100 ms to stop. Logs `"{name} start #{attempt}"`,
/// `"{name} stop #{attempt}"` and `"{name} exit #{attempt}"`; ready at once.
struct Scripted {
    log: Log,
    t0: Instant,
    script: HashMap<u32, (Duration, End)>,
}

impl Player for Scripted {
    async fn play(&mut self, ctx: Context) -> Result<(), BoxError> {
        let (log, t0) = (&self.log, self.t0);
        let (name, n) = (ctx.name().to_owned(), ctx.attempt());
        log.push(format!("{name} start #{n}"), t0);
        ctx.ready();
        if let Some(&(after, end)) = self.script.get(&n) {
            tokio::select! {
                () = sleep(after) => {
                    log.push(format!("{name} exit #{n}"), t0);
                    return match end {
                        End::Ok => Ok(()),
                        End::Err => Err(BoxError::from("boom")),
                        End::Panic => panic!("boom"),
                        End::RestartNow => Err(RestartNow::because("asked").into()),
                    };
                }
                () = ctx.cancelled() => {}
            }
        } else {
            ctx.cancelled().await;
        }
        sleep(millis(100)).await;
        log.push(format!("{name} stop #{n}"), t0);
        Ok(())
    }
}

fn member(log: &Log, t0: Instant, script: HashMap<u32, (Duration, End)>) -> Scripted {
    Scripted {
        log: log.clone(),
        t0,
        script,
    }
}

fn idle_member(log: &Log, t0: Instant) -> Scripted {
    member(log, t0, HashMap::new())
}

/// `db`; `http` after `db`; `worker` after `http`; `side` on its own.
/// `http`'s first run ends as `end` at 1 s; it restarts as `restart` says,
/// after 1 s (at once for `RestartNow`).
fn service(log: &Log, t0: Instant, strategy: Strategy, end: End, restart: Restart) -> Conductor {
    let side = idle_member(log, t0);
    service_with_side(log, t0, strategy, end, restart, side, PlayerOptions::new())
}

/// [`service`], with `side` of the caller's making.
fn service_with_side(
    log: &Log,
    t0: Instant,
    strategy: Strategy,
    end: End,
    restart: Restart,
    side: impl Player,
    side_options: PlayerOptions,
) -> Conductor {
    let mut app = Conductor::named("app");
    app.strategy(strategy);
    app.add("db", idle_member(log, t0)).unwrap();
    let http = PlayerOptions::new()
        .after("db")
        .restart(restart)
        .backoff(Backoff::constant(secs(1)));
    let script = HashMap::from([(1, (secs(1), end))]);
    app.add_with("http", member(log, t0, script), http).unwrap();
    app.add_with(
        "worker",
        idle_member(log, t0),
        PlayerOptions::new().after("http"),
    )
    .unwrap();
    app.add_with("side", side, side_options).unwrap();
    app
}

/// What the model expects: the events with their times, and whether the
/// run fails.
fn expected(strategy: Strategy, end: End, restart: Restart) -> (Vec<(String, Duration)>, bool) {
    let mut events: Vec<(&str, Duration)> = vec![
        ("db start #1", secs(0)),
        ("http start #1", secs(0)),
        ("worker start #1", secs(0)),
        ("side start #1", secs(0)),
        ("http exit #1", secs(1)),
    ];
    let delay = match (end, restart) {
        (End::RestartNow, _) => Some(Duration::ZERO),
        (End::Ok, Restart::Always) => Some(secs(1)),
        (End::Err | End::Panic, Restart::OnFailure | Restart::Always) => Some(secs(1)),
        _ => None,
    };
    let ms = millis;
    let Some(delay) = delay else {
        // `http` is done for good: after an error its siblings stop at
        // once, after `Ok` at the end of the run (5 s); `db` is no longer
        // waited for by `http`, so all stop together.
        let failed = end != End::Ok;
        let at = if failed { ms(1100) } else { ms(5100) };
        events.extend([
            ("worker stop #1", at),
            ("side stop #1", at),
            ("db stop #1", at),
        ]);
        return (own(events), failed);
    };
    let restarted = |at: Duration| secs(1) + delay.max(at);
    match strategy {
        Strategy::OneForOne => events.extend([
            ("http start #2", restarted(Duration::ZERO)),
            ("worker stop #1", ms(5100)),
            ("side stop #1", ms(5100)),
            ("http stop #2", ms(5200)),
            ("db stop #1", ms(5300)),
        ]),
        // `worker` stops (100 ms), then `http` starts, then `worker`.
        Strategy::RestForOne => events.extend([
            ("worker stop #1", ms(1100)),
            ("http start #2", restarted(ms(100))),
            ("worker start #2", restarted(ms(100))),
            ("worker stop #2", ms(5100)),
            ("side stop #1", ms(5100)),
            ("http stop #2", ms(5200)),
            ("db stop #1", ms(5300)),
        ]),
        // `worker` and `side` stop, then `db`; then `db` and `side`
        // start, then `http` once `db` is ready, then `worker`.
        Strategy::OneForAll => events.extend([
            ("worker stop #1", ms(1100)),
            ("side stop #1", ms(1100)),
            ("db stop #1", ms(1200)),
            ("db start #2", ms(1200)),
            ("side start #2", ms(1200)),
            ("http start #2", restarted(ms(200))),
            ("worker start #2", restarted(ms(200))),
            ("worker stop #2", ms(5100)),
            ("side stop #2", ms(5100)),
            ("http stop #2", ms(5200)),
            ("db stop #2", ms(5300)),
        ]),
    }
    (own(events), false)
}

fn own(events: Vec<(&str, Duration)>) -> Vec<(String, Duration)> {
    let mut events: Vec<_> = events.into_iter().map(|(e, t)| (e.to_owned(), t)).collect();
    events.sort_by(|a, b| (a.1, &a.0).cmp(&(b.1, &b.0)));
    events
}

#[tokio::test(start_paused = true)]
async fn strategy_by_exit_by_restart_policy() {
    let strategies = [
        Strategy::OneForOne,
        Strategy::OneForAll,
        Strategy::RestForOne,
    ];
    let ends = [End::Ok, End::Err, End::Panic, End::RestartNow];
    let policies = [Restart::Never, Restart::OnFailure, Restart::Always];
    for strategy in strategies {
        for end in ends {
            for restart in policies {
                let case = format!("{strategy} / {end:?} / restart = {restart}");
                let (log, t0) = Log::new();
                let app = service(&log, t0, strategy, end, restart);
                let result = app.play_until(sleep(secs(5))).await;
                let (events, fails) = expected(strategy, end, restart);
                let mut seen = log.timed();
                seen.sort_by(|a, b| (a.1, &a.0).cmp(&(b.1, &b.0)));
                assert_eq!(seen, events, "{case}");
                match (&result, end) {
                    (Ok(()), _) if !fails => {}
                    (Err(Error::Failed { path, .. }), End::Err) if fails => {
                        assert_eq!(&**path, "app/http", "{case}");
                    }
                    (Err(Error::Panicked { path, .. }), End::Panic) if fails => {
                        assert_eq!(&**path, "app/http", "{case}");
                    }
                    _ => panic!("{case}: unexpected result {result:?}"),
                }
            }
        }
    }
}

fn timed(log: &Log) -> Vec<(String, Duration)> {
    let mut seen = log.timed();
    seen.sort_by(|a, b| (a.1, &a.0).cmp(&(b.1, &b.0)));
    seen
}

#[tokio::test(start_paused = true)]
async fn another_member_fails_while_the_group_restarts() {
    let (log, t0) = Log::new();
    // `side`'s second run (begun as the group restarted) fails at 1.7 s,
    // while `http` waits for its backoff (until 2 s).
    let side = PlayerOptions::new()
        .restart(Restart::OnFailure)
        .backoff(Backoff::constant(secs(1)));
    let script = HashMap::from([(2, (millis(500), End::Err))]);
    let app = service_with_side(
        &log,
        t0,
        Strategy::OneForAll,
        End::Err,
        Restart::OnFailure,
        member(&log, t0, script),
        side,
    );

    app.play_until(sleep(secs(5))).await.unwrap();

    let ms = millis;
    assert_eq!(
        timed(&log),
        own(vec![
            ("db start #1", ms(0)),
            ("http start #1", ms(0)),
            ("worker start #1", ms(0)),
            ("side start #1", ms(0)),
            ("http exit #1", ms(1000)),
            ("worker stop #1", ms(1100)),
            ("side stop #1", ms(1100)),
            ("db stop #1", ms(1200)),
            ("db start #2", ms(1200)),
            ("side start #2", ms(1200)),
            // `side` fails: `http`, in its backoff, answers at once, then
            // `db` stops; `db` starts again at once, `side` after its
            // backoff, `http` after its own.
            ("side exit #2", ms(1700)),
            ("db stop #2", ms(1800)),
            ("db start #3", ms(1800)),
            ("http start #2", ms(2000)),
            ("worker start #2", ms(2000)),
            ("side start #3", ms(2700)),
            ("worker stop #2", ms(5100)),
            ("side stop #3", ms(5100)),
            ("http stop #2", ms(5200)),
            ("db stop #3", ms(5300)),
        ])
    );
}

/// Fails 100 ms after every start, logging `"{name} start"`.
fn crasher(log: &Log, t0: Instant) -> impl Player {
    let log = log.clone();
    player_fn(move |ctx: Context| {
        let log = log.clone();
        async move {
            log.push(format!("{} start", ctx.name()), t0);
            sleep(millis(100)).await;
            Err(BoxError::from("crash"))
        }
    })
}

#[tokio::test(start_paused = true)]
async fn a_crash_loop_escalates_two_levels_up() {
    let (log, t0) = Log::new();
    let restarts = PlayerOptions::new()
        .restart(Restart::OnFailure)
        .backoff(Backoff::zero());
    // `jobs` allows 2 restarts of its members in 10 s; `mid` restarts
    // `jobs` once within 10 s; `app` does not restart `mid`.
    let mut jobs = Conductor::named("jobs");
    jobs.max_restarts(2, secs(10));
    jobs.add_with("crasher", crasher(&log, t0), restarts.clone())
        .unwrap();
    let mut mid = Conductor::named("mid");
    mid.max_restarts(1, secs(10));
    mid.add_with("jobs", jobs, restarts.clone()).unwrap();
    let mut app = Conductor::named("app");
    app.add("mid", mid).unwrap();
    app.add("web", idle_member(&log, t0)).unwrap();

    let error = app.play_until(sleep(secs(60))).await.unwrap_err();

    // Three runs of `crasher` per run of `jobs`, two runs of `jobs`.
    assert_eq!(
        log.times("crasher start"),
        [0, 100, 200, 300, 400, 500].map(millis)
    );
    // `app` stops `web` as `mid` fails, at 600 ms.
    assert_eq!(log.at("web stop #1"), Some(millis(700)));
    let Error::RestartLimit { path, limit, last } = &error else {
        panic!("{error:?}");
    };
    assert_eq!(&**path, "app/mid");
    assert_eq!(
        *limit,
        Limit::MaxRestarts {
            restarts: 1,
            within: secs(10)
        }
    );
    let Some(Error::RestartLimit { path, last, .. }) = last.as_deref() else {
        panic!("{error:?}");
    };
    assert_eq!(&**path, "app/mid/jobs");
    let Some(Error::Failed { path, .. }) = last.as_deref() else {
        panic!("{error:?}");
    };
    assert_eq!(&**path, "app/mid/jobs/crasher");
}

#[tokio::test(start_paused = true)]
async fn restarts_within_the_conductors_intensity_keep_it_running() {
    let (log, t0) = Log::new();
    let mut app = Conductor::named("app");
    app.max_restarts(3, secs(1));
    // 2 restarts a second: within the intensity, forever.
    let options = PlayerOptions::new()
        .restart(Restart::OnFailure)
        .backoff(Backoff::constant(millis(400)));
    app.add_with("crasher", crasher(&log, t0), options).unwrap();

    app.play_until(sleep(secs(10))).await.unwrap();
    assert_eq!(log.count("crasher start"), 20);
}

#[tokio::test(start_paused = true)]
async fn a_member_that_ends_its_conductor_stops_its_siblings_even_with_ok() {
    let (log, t0) = Log::new();
    let mut app = Conductor::named("app");
    let script = HashMap::from([(1, (secs(2), End::Ok))]);
    app.add_with(
        "http",
        member(&log, t0, script),
        PlayerOptions::new().on_exit(OnExit::Stop),
    )
    .unwrap();
    app.add_with(
        "worker",
        idle_member(&log, t0),
        PlayerOptions::new().after("http"),
    )
    .unwrap();

    app.play_until(sleep(secs(60))).await.unwrap();
    assert_eq!(log.at("http exit #1"), Some(secs(2)));
    assert_eq!(log.at("worker stop #1"), Some(millis(2100)));
}

#[tokio::test(start_paused = true)]
async fn a_member_whose_failure_is_not_its_conductors_fails_alone() {
    let (log, t0) = Log::new();
    let mut app = Conductor::named("app");
    let script = HashMap::from([(1, (secs(2), End::Err))]);
    app.add_with(
        "warmer",
        member(&log, t0, script),
        PlayerOptions::new().on_exit(OnExit::Continue),
    )
    .unwrap();
    app.add("http", idle_member(&log, t0)).unwrap();

    app.play_until(sleep(secs(60))).await.unwrap();
    assert_eq!(log.at("warmer exit #1"), Some(secs(2)));
    assert_eq!(log.at("http stop #1"), Some(millis(60_100)));
}

mod derived {
    use super::*;

    #[derive(orchestra::Conductor)]
    #[conductor(strategy = "rest-for-one", max_restarts = 3, within = "1m")]
    struct App {
        db: Scripted,
        #[player(after = "db", restart = "on-failure", backoff = "zero")]
        http: Scripted,
        #[player(after = "http", on_exit = "stop")]
        worker: Scripted,
        side: Scripted,
    }

    #[tokio::test(start_paused = true)]
    async fn a_derived_conductor_restarts_by_its_strategy_within_its_intensity() {
        let (log, t0) = Log::new();
        let fails = |n| (n, (secs(1), End::Err));
        let app = App {
            db: idle_member(&log, t0),
            http: member(&log, t0, (1..=4).map(fails).collect()),
            worker: idle_member(&log, t0),
            side: idle_member(&log, t0),
        };
        assert_eq!(
            app.describe().to_string().lines().next(),
            Some("app (strategy = rest-for-one, max_restarts = 3 within 60s)")
        );
        let error = app.play_until(sleep(secs(60))).await.unwrap_err();

        // `http` fails a second after each start; `worker` restarts with
        // it (stopped in 100 ms), `db` and `side` do not; the fourth
        // failure is one restart too many for `app`.
        let ms = millis;
        assert_eq!(log.times("http start #1"), [ms(0)]);
        assert_eq!(log.times("http start #4"), [ms(3300)]);
        assert_eq!(log.times("worker start #4"), [ms(3300)]);
        assert_eq!(log.times("worker stop #3"), [ms(3300)]);
        assert_eq!(log.times("http exit #4"), [ms(4300)]);
        assert_eq!(log.times("worker stop #4"), [ms(4400)]);
        // `http`, paused, is asked to stop once `worker` has stopped; then `db`.
        assert_eq!(log.times("db stop #1"), [ms(4500)]);
        assert_eq!(log.count("db start #1"), 1);
        assert_eq!(log.count("side start #1"), 1);
        let Error::RestartLimit { path, last, .. } = &error else {
            panic!("{error:?}");
        };
        assert_eq!(&**path, "app");
        assert!(
            matches!(last.as_deref(), Some(Error::Failed { path, .. }) if &**path == "app/http")
        );
    }

    #[derive(orchestra::Conductor)]
    struct Service {
        #[player(on_exit = "stop")]
        http: Scripted,
        worker: Scripted,
    }

    #[tokio::test(start_paused = true)]
    async fn a_derived_member_that_ends_its_conductor() {
        let (log, t0) = Log::new();
        let app = Service {
            http: member(&log, t0, HashMap::from([(1, (secs(3), End::Ok))])),
            worker: idle_member(&log, t0),
        };
        app.play_until(sleep(secs(60))).await.unwrap();
        assert_eq!(log.times("worker stop #1"), [millis(3100)]);
    }
}

/// A conductor restarted as a whole by its own restart policy: its members'
/// attempts count on, as the report's runs do; their limits start over.
#[tokio::test(start_paused = true)]
async fn members_of_a_conductor_restarted_as_a_whole_count_their_attempts_on() {
    use orchestra::{Monitor, Runner};

    let attempts = Arc::new(Mutex::new(Vec::new()));
    let seen = attempts.clone();
    // `worker` fails after 1 s on each of its runs, and may run twice per
    // run of `jobs` (`max_attempts = 2`); `jobs` is restarted after 1 s,
    // twice.
    let worker = player_fn(move |ctx: Context| {
        let seen = seen.clone();
        async move {
            seen.lock().unwrap().push(ctx.attempt());
            sleep(secs(1)).await;
            Err(BoxError::from("boom"))
        }
    });
    let mut jobs = Conductor::named("jobs");
    let twice = PlayerOptions::new()
        .restart(Restart::OnFailure)
        .backoff(Backoff::zero())
        .max_attempts(2);
    jobs.add_with("worker", worker, twice).unwrap();
    let mut app = Conductor::named("app");
    let jobs_restarts = PlayerOptions::new()
        .restart(Restart::OnFailure)
        .backoff(Backoff::constant(secs(1)))
        .max_attempts(3);
    app.add_with("jobs", jobs, jobs_restarts).unwrap();
    let monitor = Monitor::new();

    let error = Runner::new(app)
        .monitor(monitor.clone())
        .play_until(std::future::pending())
        .await
        .unwrap_err();

    // Three runs of `jobs` (at 0, 3 s and 6 s), two runs of `worker` in each.
    assert_eq!(*attempts.lock().unwrap(), [1, 2, 3, 4, 5, 6]);
    let worker = monitor.status("app/jobs/worker").unwrap();
    assert_eq!((worker.runs, worker.attempt), (6, 6));
    let jobs = monitor.status("app/jobs").unwrap();
    assert_eq!((jobs.runs, jobs.attempt), (3, 3));
    let started: Vec<(Duration, u32)> = monitor
        .report()
        .events("app/jobs/worker")
        .filter(|e| e.kind == orchestra::EventKind::Started)
        .map(|e| (e.elapsed, e.attempt))
        .collect();
    let starts = [0, 1, 3, 4, 6, 7].map(secs);
    assert_eq!(started, starts.into_iter().zip(1..).collect::<Vec<_>>());
    assert!(
        matches!(&error, Error::RestartLimit { path, .. } if &**path == "app/jobs"),
        "{error:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_sibling_that_does_not_end_its_run_for_a_restart_in_time_is_aborted() {
    use std::sync::atomic::{AtomicUsize, Ordering};

    let (log, t0) = Log::new();
    let dropped = Arc::new(AtomicUsize::new(0));
    let mut app = Conductor::named("app");
    app.strategy(Strategy::OneForAll);
    let restart = PlayerOptions::new()
        .restart(Restart::OnFailure)
        .backoff(Backoff::zero());
    let script = HashMap::from([(1, (secs(1), End::Err))]);
    app.add_with("http", member(&log, t0, script), restart)
        .unwrap();
    let stuck = PlayerOptions::new().timeout(secs(2));
    app.add_with("stuck", support::stuck(&dropped), stuck)
        .unwrap();

    let error = app.play_until(sleep(secs(60))).await.unwrap_err();

    // Asked at 1 s, aborted at 3 s; the group stops then.
    let Error::StopTimedOut { stragglers } = &error else {
        panic!("{error:?}");
    };
    assert_eq!(stragglers.len(), 1);
    assert_eq!(&*stragglers[0].path, "app/stuck");
    assert_eq!(stragglers[0].waited, secs(2));
    assert_eq!(dropped.load(Ordering::SeqCst), 1);
    assert_eq!(log.times("http start #1"), [secs(0)]);
    assert_eq!(
        log.count("http start #2"),
        0,
        "not before its siblings stop"
    );
    assert_eq!(log.times("http stop #1").len(), 0);
}
