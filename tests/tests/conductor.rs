//! The runtime-built conductor: start, done, failure, stop, timeouts, nesting.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use orchestra::CancellationToken;
use orchestra::{Conductor, Context, Error, PlayExt, PlayerOptions, player_fn};
use support::{Log, alive_tasks, fails, finishes, idle, millis, secs, stuck};
use tokio::time::{Instant, sleep};

#[tokio::test(start_paused = true)]
async fn every_player_stops_when_the_conductor_is_cancelled() {
    let (log, t0) = Log::new();
    let mut app = Conductor::named("app");
    for name in ["a", "b", "c"] {
        app.add(name, idle(&log, t0)).unwrap();
    }

    app.play_until(sleep(secs(1))).await.unwrap();

    for name in ["a", "b", "c"] {
        assert_eq!(log.at(&format!("app/{name} started")), Some(secs(0)));
        assert_eq!(log.at(&format!("app/{name} stopped")), Some(secs(1)));
    }
}

#[tokio::test(start_paused = true)]
async fn a_player_that_is_done_leaves_its_siblings_running_and_the_last_one_ends_the_run() {
    let (log, t0) = Log::new();
    let mut app = Conductor::named("app");
    app.add("quick", finishes(&log, t0, secs(1))).unwrap();
    app.add("slow", finishes(&log, t0, secs(5))).unwrap();

    app.play_until(std::future::pending()).await.unwrap();

    assert_eq!(log.at("app/quick done"), Some(secs(1)));
    assert_eq!(log.at("app/slow done"), Some(secs(5)));
    assert_eq!(t0.elapsed(), secs(5));
}

#[tokio::test(start_paused = true)]
async fn a_failure_stops_the_siblings_and_names_the_player_and_its_cause() {
    let (log, t0) = Log::new();
    let mut app = Conductor::named("app");
    app.add("steady", idle(&log, t0)).unwrap();
    app.add("db", fails(secs(2), "connection refused")).unwrap();

    let error = app.play_until(std::future::pending()).await.unwrap_err();

    let Error::Failed {
        path,
        attempt,
        source,
    } = &error
    else {
        panic!("expected Failed, got {error:?}");
    };
    assert_eq!(&**path, "app/db");
    assert_eq!(*attempt, 1);
    assert_eq!(source.to_string(), "connection refused");
    assert_eq!(log.at("app/steady stopped"), Some(secs(2)));
}

#[tokio::test(start_paused = true)]
async fn a_panic_stops_the_siblings_and_keeps_its_message() {
    let (log, t0) = Log::new();
    let mut app = Conductor::named("app");
    app.add("steady", idle(&log, t0)).unwrap();
    app.add(
        "buggy",
        player_fn(|_ctx: Context| async {
            sleep(secs(1)).await;
            panic!("index out of bounds");
        }),
    )
    .unwrap();

    let error = app.play_until(std::future::pending()).await.unwrap_err();

    assert!(
        matches!(&error, Error::Panicked { path, message, .. }
            if &**path == "app/buggy" && message == "index out of bounds"),
        "{error:?}"
    );
    assert_eq!(log.at("app/steady stopped"), Some(secs(1)));
}

#[tokio::test(start_paused = true)]
async fn a_player_ignoring_cancellation_is_aborted_at_its_timeout_and_named() {
    let (log, t0) = Log::new();
    let dropped = Arc::new(AtomicUsize::new(0));
    let mut app = Conductor::named("app");
    app.timeout(secs(3));
    app.add("polite", idle(&log, t0)).unwrap();
    app.add("stuck", stuck(&dropped)).unwrap();
    let tasks_before = alive_tasks();

    let error = app.play_until(sleep(secs(1))).await.unwrap_err();

    let Error::StopTimedOut { stragglers } = &error else {
        panic!("expected StopTimedOut, got {error:?}");
    };
    assert_eq!(stragglers.len(), 1);
    assert_eq!(&*stragglers[0].path, "app/stuck");
    assert_eq!(stragglers[0].waited, secs(3));
    assert_eq!(t0.elapsed(), secs(4), "returned once the timeout ran out");
    assert_eq!(
        dropped.load(Ordering::SeqCst),
        1,
        "the stuck run was dropped"
    );
    assert_eq!(log.at("app/polite stopped"), Some(secs(1)));
    assert_eq!(alive_tasks(), tasks_before, "no task outlives the run");
    assert_eq!(
        error.to_string(),
        "stop timed out: `app/stuck` (after 3s) did not stop in time and was aborted"
    );
}

#[tokio::test(start_paused = true)]
async fn a_player_timeout_shorter_than_the_conductors_is_honoured() {
    let dropped = Arc::new(AtomicUsize::new(0));
    let mut app = Conductor::named("app");
    app.timeout(secs(10));
    app.add_with(
        "quick",
        stuck(&dropped),
        PlayerOptions::new().timeout(millis(500)),
    )
    .unwrap();
    let t0 = Instant::now();

    let error = app.play_until(sleep(secs(1))).await.unwrap_err();

    assert_eq!(t0.elapsed(), millis(1500));
    assert!(
        matches!(&error, Error::StopTimedOut { stragglers } if stragglers[0].waited == millis(500)),
        "{error:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn the_default_stop_timeout_is_nine_seconds() {
    let dropped = Arc::new(AtomicUsize::new(0));
    let mut app = Conductor::named("app");
    app.add("stuck", stuck(&dropped)).unwrap();
    let t0 = Instant::now();

    app.play_until(sleep(secs(1))).await.unwrap_err();

    assert_eq!(t0.elapsed(), secs(10));
}

#[tokio::test(start_paused = true)]
async fn failure_and_stragglers_are_reported_together_first_cause_first() {
    let dropped = Arc::new(AtomicUsize::new(0));
    let mut app = Conductor::named("app");
    app.timeout(secs(1));
    app.add("stuck", stuck(&dropped)).unwrap();
    app.add("db", fails(secs(2), "gone")).unwrap();

    let error = app.play_until(std::future::pending()).await.unwrap_err();

    let all: Vec<&Error> = error.iter().collect();
    assert_eq!(all.len(), 2, "{error:?}");
    assert_eq!(all[0].path(), Some("app/db"));
    assert!(
        matches!(all[1], Error::StopTimedOut { stragglers } if &*stragglers[0].path == "app/stuck")
    );
    assert_eq!(
        error.to_string(),
        "2 failures: player `app/db` failed (attempt 1): gone; \
         stop timed out: `app/stuck` (after 1s) did not stop in time and was aborted"
    );
}

#[tokio::test(start_paused = true)]
async fn errors_returned_during_the_stop_are_reported_not_swallowed() {
    let mut app = Conductor::named("app");
    app.add(
        "flush",
        player_fn(|ctx: Context| async move {
            ctx.cancelled().await;
            Err("could not flush the buffer".into())
        }),
    )
    .unwrap();

    let error = app.play_until(sleep(secs(1))).await.unwrap_err();

    assert_eq!(error.path(), Some("app/flush"));
}

#[tokio::test(start_paused = true)]
async fn nested_conductors_stop_bottom_up_with_full_paths() {
    let (log, t0) = Log::new();
    let mut inner = Conductor::named("ignored");
    inner.add("mailer", idle(&log, t0)).unwrap();
    let mut middle = Conductor::new();
    middle.add("mail", inner).unwrap();
    middle.add("cron", idle(&log, t0)).unwrap();
    let mut app = Conductor::named("app");
    app.add("jobs", middle).unwrap();
    app.add("http", idle(&log, t0)).unwrap();

    app.play_until(sleep(secs(1))).await.unwrap();

    let mut events = log.events();
    events.sort();
    assert_eq!(
        events,
        [
            "app/http started",
            "app/http stopped",
            "app/jobs/cron started",
            "app/jobs/cron stopped",
            "app/jobs/mail/mailer started",
            "app/jobs/mail/mailer stopped",
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn nested_failures_and_stragglers_carry_their_full_paths() {
    let dropped = Arc::new(AtomicUsize::new(0));
    let mut inner = Conductor::new();
    inner.timeout(secs(2));
    inner.add("sender", fails(secs(1), "smtp down")).unwrap();
    inner.add("stuck", stuck(&dropped)).unwrap();
    let mut middle = Conductor::new();
    middle.add("mail", inner).unwrap();
    let mut app = Conductor::named("app");
    app.add("jobs", middle).unwrap();
    let t0 = Instant::now();

    let error = app.play_until(std::future::pending()).await.unwrap_err();

    let all: Vec<&Error> = error.iter().collect();
    assert_eq!(all[0].path(), Some("app/jobs/mail/sender"));
    assert!(
        matches!(all[1], Error::StopTimedOut { stragglers }
            if &*stragglers[0].path == "app/jobs/mail/stuck" && stragglers[0].waited == secs(2)),
        "{error:?}"
    );
    assert_eq!(t0.elapsed(), secs(3));
}

#[tokio::test(start_paused = true)]
async fn a_conductors_timeout_bounds_its_nested_players() {
    let dropped = Arc::new(AtomicUsize::new(0));
    let mut inner = Conductor::new();
    inner.add("stuck", stuck(&dropped)).unwrap();
    let mut app = Conductor::named("app");
    app.add_with("jobs", inner, PlayerOptions::new().timeout(secs(2)))
        .unwrap();
    let t0 = Instant::now();

    let error = app.play_until(sleep(secs(1))).await.unwrap_err();

    assert_eq!(
        t0.elapsed(),
        secs(3),
        "the nested conductor's 2 s budget, not 9 s"
    );
    assert!(
        matches!(&error, Error::StopTimedOut { stragglers } if &*stragglers[0].path == "app/jobs/stuck"),
        "{error:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn duplicate_and_malformed_names_are_rejected() {
    let (log, t0) = Log::new();
    let mut app = Conductor::named("app");
    app.add("worker", idle(&log, t0)).unwrap();

    let duplicate = app.add("worker", idle(&log, t0)).unwrap_err();
    assert!(
        matches!(&duplicate, Error::DuplicateName { conductor, name } if &**conductor == "app" && &**name == "worker")
    );
    assert_eq!(
        duplicate.to_string(),
        "conductor `app` already has a player named `worker`"
    );
    assert!(matches!(
        app.add("", idle(&log, t0)),
        Err(Error::Config { .. })
    ));
    assert!(matches!(
        app.add("a/b", idle(&log, t0)),
        Err(Error::Config { .. })
    ));
    assert_eq!(app.len(), 1);
}

#[tokio::test(start_paused = true)]
async fn room_reserved_between_adds_keeps_every_name_found() {
    let (log, t0) = Log::new();
    let mut app = Conductor::named("app");
    for n in 0..20 {
        app.add(&format!("w{n}"), idle(&log, t0)).unwrap();
    }
    // The names already added move into the larger table.
    app.reserve(1_000);
    for n in 0..20 {
        assert!(
            matches!(
                app.add(&format!("w{n}"), idle(&log, t0)),
                Err(Error::DuplicateName { .. })
            ),
            "w{n} is still known"
        );
    }
    app.add("w20", idle(&log, t0)).unwrap();
    assert_eq!(app.len(), 21);
}

#[tokio::test(start_paused = true)]
async fn a_conductor_can_be_played_again_after_it_stopped() {
    let (log, t0) = Log::new();
    let mut app = Conductor::named("app");
    app.add("a", idle(&log, t0)).unwrap();
    let token = CancellationToken::new();

    let ctx = Context::new("app", token.clone());
    token.cancel();
    orchestra::Player::play(&mut app, ctx).await.unwrap();
    let again = CancellationToken::new();
    let ctx = Context::new("app", again.clone());
    let run = tokio::spawn(async move {
        orchestra::Player::play(&mut app, ctx)
            .await
            .map_err(|e| e.to_string())
    });
    sleep(secs(1)).await;
    again.cancel();
    run.await.unwrap().unwrap();

    assert_eq!(
        log.count("app/a started"),
        1,
        "a cancelled context starts nothing"
    );
    assert_eq!(log.count("app/a stopped"), 1);
}

/// A player's task hands back the player it ran, not a copy: what a run
/// left in it is there for the next run of its conductor.
#[tokio::test(start_paused = true)]
async fn a_player_comes_back_with_what_its_run_left_in_it() {
    struct Counting {
        runs: u32,
        seen: Arc<std::sync::Mutex<Vec<u32>>>,
    }
    impl orchestra::Player for Counting {
        async fn play(&mut self, ctx: Context) -> Result<(), orchestra::BoxError> {
            self.runs += 1;
            self.seen.lock().unwrap().push(self.runs);
            ctx.cancelled().await;
            Ok(())
        }
    }

    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut app = Conductor::named("app");
    app.add(
        "counting",
        Counting {
            runs: 0,
            seen: seen.clone(),
        },
    )
    .unwrap();
    for _ in 0..3 {
        let token = CancellationToken::new();
        let ctx = Context::new("app", token.clone());
        let run = orchestra::Player::play(&mut app, ctx);
        let stop = async {
            sleep(secs(1)).await;
            token.cancel();
        };
        let (result, ()) = tokio::join!(run, stop);
        result.unwrap();
    }

    assert_eq!(*seen.lock().unwrap(), [1, 2, 3]);
}

#[tokio::test(start_paused = true)]
async fn an_empty_conductor_is_done_at_once() {
    Conductor::named("app")
        .play_until(std::future::pending())
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_player_blocking_its_thread_for_good_does_not_hold_the_stop_forever() {
    let unblocked = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = unblocked.clone();
    let mut app = Conductor::named("app");
    app.timeout(millis(50));
    app.add(
        "blocking",
        player_fn(move |_ctx: Context| {
            let flag = flag.clone();
            async move {
                // Blocks its worker thread far longer than the stop may take.
                std::thread::sleep(std::time::Duration::from_secs(3));
                flag.store(true, Ordering::SeqCst);
                Ok(())
            }
        }),
    )
    .unwrap();

    let error = app.play_until(sleep(millis(20))).await.unwrap_err();

    assert!(
        !unblocked.load(Ordering::SeqCst),
        "the run returned while the player still blocked its thread"
    );
    assert!(
        matches!(&error, Error::StopTimedOut { stragglers } if &*stragglers[0].path == "app/blocking"),
        "{error:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_player_blocking_its_thread_cannot_keep_the_run_from_ending() {
    let mut app = Conductor::named("app");
    app.timeout(millis(50));
    app.add(
        "blocking",
        player_fn(|_ctx: Context| async {
            // Blocks its worker thread, then ignores cancellation for good.
            std::thread::sleep(std::time::Duration::from_millis(200));
            std::future::pending::<()>().await;
            Ok(())
        }),
    )
    .unwrap();
    app.add(
        "idle",
        player_fn(|ctx: Context| async move {
            ctx.cancelled().await;
            Ok(())
        }),
    )
    .unwrap();

    let error = app.play_until(sleep(millis(20))).await.unwrap_err();

    assert!(
        matches!(&error, Error::StopTimedOut { stragglers }
            if stragglers.len() == 1 && &*stragglers[0].path == "app/blocking"),
        "{error:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_player_knows_its_stop_timeout() {
    type Seen = Arc<std::sync::Mutex<Vec<(String, Option<std::time::Duration>)>>>;
    let seen = Seen::default();
    let probe = |seen: &Seen| {
        let seen = seen.clone();
        player_fn(move |ctx: Context| {
            seen.lock()
                .unwrap()
                .push((ctx.path().to_owned(), ctx.stop_timeout()));
            async { Ok(()) }
        })
    };
    let mut inner = Conductor::new();
    inner.timeout(secs(4));
    inner.add("deep", probe(&seen)).unwrap();
    let mut app = Conductor::named("app");
    app.add("plain", probe(&seen)).unwrap();
    app.add_with("quick", probe(&seen), PlayerOptions::new().timeout(secs(2)))
        .unwrap();
    app.add("jobs", inner).unwrap();

    app.play_until(std::future::pending()).await.unwrap();

    let mut seen = seen.lock().unwrap().clone();
    seen.sort();
    assert_eq!(
        seen,
        [
            ("app/jobs/deep".to_owned(), Some(secs(4))),
            ("app/plain".to_owned(), Some(secs(9))),
            ("app/quick".to_owned(), Some(secs(2))),
        ]
    );
    let outside = Context::new("alone", CancellationToken::new());
    assert_eq!(outside.stop_timeout(), None);
}

#[tokio::test(start_paused = true)]
async fn nested_conductors_and_child_players_inherit_the_stop_timeout_above_them() {
    type Seen = Arc<std::sync::Mutex<Vec<(String, Option<std::time::Duration>)>>>;
    let seen = Seen::default();
    let record = |seen: &Seen, ctx: &Context| {
        seen.lock()
            .unwrap()
            .push((ctx.path().to_owned(), ctx.stop_timeout()));
    };
    // Records its stop timeout and its child's, then waits for its stop.
    let parent = |seen: &Seen| {
        let seen = seen.clone();
        player_fn(move |ctx: Context| {
            record(&seen, &ctx);
            let seen = seen.clone();
            let child = player_fn(move |ctx: Context| {
                record(&seen, &ctx);
                async { Ok(()) }
            });
            let spawned = ctx.spawn_player("child", child, PlayerOptions::new());
            async move {
                spawned?;
                ctx.cancelled().await;
                Ok(())
            }
        })
    };
    let mut plain = Conductor::new();
    plain.add("inherits", parent(&seen)).unwrap();
    let mut own = Conductor::new();
    own.timeout(secs(4));
    own.add("sets", parent(&seen)).unwrap();
    let mut app = Conductor::named("app");
    app.timeout(secs(3));
    app.add("plain", plain).unwrap();
    app.add("own", own).unwrap();

    app.play_until(sleep(secs(1))).await.unwrap();

    let mut seen = seen.lock().unwrap().clone();
    seen.sort();
    assert_eq!(
        seen,
        [
            ("app/own/sets".to_owned(), Some(secs(4))),
            ("app/own/sets/child".to_owned(), Some(secs(4))),
            ("app/plain/inherits".to_owned(), Some(secs(3))),
            ("app/plain/inherits/child".to_owned(), Some(secs(3))),
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_stop_that_comes_while_players_are_starting_stops_them_all_and_leaks_nothing() {
    let (log, t0) = Log::new();
    let tasks_before = alive_tasks();
    let mut app = Conductor::named("app");
    app.add("first", idle(&log, t0)).unwrap();
    app.add_with("late", idle(&log, t0), PlayerOptions::new().delay(secs(5)))
        .unwrap();
    app.add_with(
        "ordered",
        idle(&log, t0),
        PlayerOptions::new().after("late"),
    )
    .unwrap();

    // The shutdown is already there when the run begins.
    app.play_until(async {}).await.unwrap();

    assert_eq!(
        t0.elapsed(),
        secs(0),
        "nothing waited for the deferred start"
    );
    assert_eq!(log.events(), ["app/first started", "app/first stopped"]);
    assert_eq!(alive_tasks(), tasks_before);
}

#[tokio::test(start_paused = true)]
async fn play_until_takes_a_shutdown_that_is_not_send_and_is_spawnable_with_one_that_is() {
    // A `!Send` shutdown future (an `Rc` held across its await) is accepted,
    // as `Runner::play_until` accepts it.
    let flag = std::rc::Rc::new(());
    let local = async move {
        sleep(secs(1)).await;
        drop(flag);
    };
    Conductor::named("app").play_until(local).await.unwrap();

    // With a `Send` shutdown, the run is `Send`: it can be spawned.
    let (log, t0) = Log::new();
    let mut app = Conductor::named("app");
    app.add("a", idle(&log, t0)).unwrap();
    tokio::spawn(app.play_until(sleep(secs(1))))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(log.at("app/a stopped"), Some(secs(1)));
}

/// A conductor nests "to any depth": ten thousand runtime conductors, one
/// inside the other, start and stop inside a spawned task whose worker
/// thread has the usual 2 MiB stack, each level costing no stack of its own.
#[test]
fn ten_thousand_nested_conductors_start_and_stop_on_a_two_mib_stack() {
    const DEPTH: usize = 10_000;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_stack_size(2 << 20)
        .enable_all()
        .build()
        .unwrap();
    let played = runtime.block_on(async {
        tokio::spawn(async {
            let (started, deepest_started) = tokio::sync::oneshot::channel::<String>();
            let mut started = Some(started);
            let mut conductor = Conductor::named("level");
            conductor
                .add(
                    "deepest",
                    player_fn(move |ctx: Context| {
                        let started = started.take();
                        async move {
                            if let Some(started) = started {
                                let _ = started.send(ctx.path().to_owned());
                            }
                            ctx.cancelled().await;
                            Ok(())
                        }
                    }),
                )
                .unwrap();
            for _ in 1..DEPTH {
                let mut outer = Conductor::named("level");
                outer.add("level", conductor).unwrap();
                conductor = outer;
            }
            let path = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
            let seen = path.clone();
            let result = conductor
                .play_until(async move {
                    *seen.lock().unwrap() = deepest_started.await.unwrap();
                })
                .await;
            let path = path.lock().unwrap().clone();
            (result, path)
        })
        .await
    });
    let (result, path) = played.unwrap();
    result.unwrap();
    assert_eq!(
        path.matches("level").count(),
        DEPTH,
        "the deepest player ran"
    );
    assert!(path.ends_with("level/deepest"));
}
