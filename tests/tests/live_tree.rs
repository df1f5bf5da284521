//! Scenarios of tokio-graceful-shutdown's test suite, against orchestra's
//! live tree: partial shutdown of a subtree, its error or panic through the
//! handle, recursive aborts, aborting twice, drop guards in aborted players,
//! hierarchical names, "is it alive" queries.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use orchestra::{
    BoxError, Conductor, Context, Error, Handle, Monitor, PlayExt, Player, PlayerOptions, State,
    player_fn,
};
use support::{Log, millis, secs, stuck};
use tokio::task::JoinHandle;
use tokio::time::{Instant, sleep};

async fn run(app: Conductor) -> (Handle, JoinHandle<Result<(), Error>>) {
    let runner = app.runner().monitor(Monitor::new());
    let handle = runner.handle();
    let run = tokio::spawn(runner.play_until(std::future::pending()));
    sleep(millis(1)).await;
    (handle, run)
}

/// Logs its start and stop, starts the next of `below` below itself, and
/// returns on its stop; fails then if it is named `fails`.
#[derive(Clone)]
struct Node {
    log: Log,
    t0: Instant,
    below: Vec<&'static str>,
    fails: &'static str,
}

impl Player for Node {
    async fn play(&mut self, ctx: Context) -> Result<(), BoxError> {
        self.log.push(format!("{} started", ctx.path()), self.t0);
        if let Some((name, rest)) = self.below.split_first() {
            let child = Node {
                below: rest.to_vec(),
                ..self.clone()
            };
            ctx.spawn_player(name, child, PlayerOptions::new())?;
        }
        ctx.cancelled().await;
        self.log.push(format!("{} stopped", ctx.path()), self.t0);
        if ctx.name() == self.fails {
            return Err("flush failed".into());
        }
        Ok(())
    }
}

/// `app/outer` starts `mid`, which starts `inner`.
fn three_deep(log: &Log, t0: Instant, fails: &'static str) -> Conductor {
    let outer = Node {
        log: log.clone(),
        t0,
        below: vec!["mid", "inner"],
        fails,
    };
    let mut app = Conductor::named("app");
    app.add("outer", outer).unwrap();
    app
}

#[tokio::test(start_paused = true)]
async fn partial_shutdown_of_a_subtree_keeps_the_parent_running() {
    let (log, t0) = Log::new();
    let (handle, run) = run(three_deep(&log, t0, "")).await;
    assert!(log.at("app/outer/mid/inner started").is_some());

    sleep(secs(1)).await;
    handle.stop("app/outer/mid").await.unwrap();

    assert!(log.at("app/outer/mid/inner stopped").is_some());
    assert!(log.at("app/outer/mid stopped").is_some());
    assert!(log.at("app/outer stopped").is_none(), "the parent runs on");
    assert!(handle.is_running("app/outer"));
    assert_eq!(
        handle.status("app/outer/mid").unwrap().state,
        State::Stopped
    );

    handle.stop_all();
    run.await.unwrap().unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_partial_shutdowns_error_comes_back_through_the_handle() {
    let (log, t0) = Log::new();
    let (handle, run) = run(three_deep(&log, t0, "mid")).await;

    let error = handle.stop("app/outer/mid").await.unwrap_err();
    assert!(
        matches!(&error, Error::Failed { path, .. } if &**path == "app/outer/mid"),
        "{error:?}"
    );
    assert!(handle.is_running("app/outer"));

    handle.stop_all();
    run.await.unwrap().unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_partial_shutdowns_panic_comes_back_through_the_handle() {
    let mut app = Conductor::named("app");
    app.add(
        "outer",
        player_fn(|ctx: Context| async move {
            let fragile = player_fn(|ctx: Context| async move {
                ctx.cancelled().await;
                std::panic::panic_any("stop handler bug")
            });
            ctx.spawn_player("fragile", fragile, PlayerOptions::new())?;
            ctx.cancelled().await;
            Ok(())
        }),
    )
    .unwrap();
    let (handle, run) = run(app).await;

    let error = handle.stop("app/outer/fragile").await.unwrap_err();
    assert!(
        matches!(&error, Error::Panicked { path, message, .. }
            if &**path == "app/outer/fragile" && message == "stop handler bug"),
        "{error:?}"
    );
    assert!(handle.is_running("app/outer"));
    handle.stop_all();
    run.await.unwrap().unwrap();
}

#[tokio::test(start_paused = true)]
async fn an_abort_is_recursive_and_runs_the_drop_guards_below() {
    let dropped = Arc::new(AtomicUsize::new(0));
    let below = dropped.clone();
    let mut app = Conductor::named("app");
    app.add_with(
        "d1",
        player_fn(move |ctx: Context| {
            let below = below.clone();
            async move {
                // d1 itself returns at once; its child ignores every stop.
                ctx.spawn_player("d2", stuck(&below), PlayerOptions::new())?;
                Ok(())
            }
        }),
        PlayerOptions::new().timeout(millis(500)),
    )
    .unwrap();
    app.add("steady", support::idle(&Log::default(), Instant::now()))
        .unwrap();
    let (handle, run) = run(app).await;
    assert!(handle.is_running("app/d1/d2"));
    let t0 = Instant::now();

    let error = handle.stop("app/d1").await.unwrap_err();
    assert!(matches!(error, Error::StopTimedOut { .. }), "{error:?}");
    assert_eq!(t0.elapsed(), millis(500), "at d1's stop timeout");
    sleep(millis(1)).await;
    assert_eq!(dropped.load(Ordering::SeqCst), 1, "d2 was aborted with d1");

    // Stopping it again is harmless: it is stopped already.
    handle.stop("app/d1").await.unwrap();
    assert!(handle.is_running("app/steady"));
    handle.stop_all();
    run.await.unwrap().unwrap();
}

#[tokio::test(start_paused = true)]
async fn aborting_twice_is_safe_and_the_drop_guard_of_an_aborted_player_runs() {
    let dropped = Arc::new(AtomicUsize::new(0));
    let mut app = Conductor::named("app");
    app.add("deaf", stuck(&dropped)).unwrap();
    let (handle, run) = run(app).await;

    handle.force("the first");
    handle.force("the second");
    handle.stop_all();

    let error = run.await.unwrap().unwrap_err();
    assert!(
        matches!(&error, Error::Forced { reason, .. } if reason == "the first"),
        "{error:?}"
    );
    assert_eq!(dropped.load(Ordering::SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn names_are_hierarchical() {
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let record = seen.clone();
    let mut app = Conductor::named("app");
    app.add(
        "outer",
        player_fn(move |ctx: Context| {
            let record = record.clone();
            async move {
                let inner_record = record.clone();
                let inner = player_fn(move |ctx: Context| {
                    let record = inner_record.clone();
                    async move {
                        let mut seen = record.lock().unwrap();
                        seen.push((ctx.path().to_owned(), ctx.name().to_owned()));
                        Ok(())
                    }
                });
                record
                    .lock()
                    .unwrap()
                    .push((ctx.path().to_owned(), ctx.name().to_owned()));
                ctx.spawn_player("inner", inner, PlayerOptions::new())?;
                Ok(())
            }
        }),
    )
    .unwrap();

    app.play_until(std::future::pending()).await.unwrap();

    let seen = seen.lock().unwrap().clone();
    assert_eq!(
        seen,
        [
            ("app/outer".to_owned(), "outer".to_owned()),
            ("app/outer/inner".to_owned(), "inner".to_owned()),
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_player_is_alive_while_its_children_are() {
    // d1 returns at 1 s, its child d2 at 2 s: d1's run lasts as long as d2's.
    let mut app = Conductor::named("app");
    app.add(
        "d1",
        player_fn(|ctx: Context| async move {
            let d2 = player_fn(|_ctx: Context| async {
                sleep(secs(2)).await;
                Ok(())
            });
            ctx.spawn_player("d2", d2, PlayerOptions::new())?;
            sleep(secs(1)).await;
            Ok(())
        }),
    )
    .unwrap();
    app.add("steady", support::idle(&Log::default(), Instant::now()))
        .unwrap();
    let (handle, run) = run(app).await;

    assert!(handle.is_running("app/d1") && handle.is_running("app/d1/d2"));
    sleep(millis(1100)).await;
    assert!(handle.is_running("app/d1"), "its child still runs");
    assert!(handle.is_running("app/d1/d2"));
    sleep(millis(1100)).await;
    assert!(!handle.is_running("app/d1/d2"));
    assert!(!handle.is_running("app/d1"));
    assert_eq!(handle.status("app/d1").unwrap().state, State::Stopped);

    handle.stop_all();
    run.await.unwrap().unwrap();
}
