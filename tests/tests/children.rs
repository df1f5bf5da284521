//! Child tasks scoped to a player's run (`ctx.spawn`): drained before the
//! run ends, aborted with the player, failing the run when they fail.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use orchestra::{BoxError, Conductor, Context, Error, PlayExt, PlayerOptions, Restart, player_fn};
use support::{DropCounter, alive_tasks, secs};
use tokio::time::{Instant, sleep};

/// Spawns a child that ignores every stop (counting its drop in `dropped`),
/// then returns on its own stop.
fn parent_of_a_deaf_child(dropped: &Arc<AtomicUsize>) -> impl orchestra::Player + use<> {
    deaf_parent_of_a_deaf_child(dropped, true)
}

/// Spawns a child that ignores every stop (counting its drop in `dropped`),
/// then returns on its own stop if it `hears` it, else never.
fn deaf_parent_of_a_deaf_child(
    dropped: &Arc<AtomicUsize>,
    hears: bool,
) -> impl orchestra::Player + use<> {
    let guard = dropped.clone();
    player_fn(move |ctx: Context| {
        let guard = DropCounter(guard.clone());
        async move {
            ctx.spawn(async move {
                let _guard = guard;
                std::future::pending::<()>().await;
            });
            if hears {
                ctx.cancelled().await;
            } else {
                std::future::pending::<()>().await;
            }
            Ok(())
        }
    })
}

/// Lets the tasks woken so far run: an aborted child ends at its next poll.
async fn settle() {
    for _ in 0..4 {
        tokio::task::yield_now().await;
    }
}

#[tokio::test(start_paused = true)]
async fn a_hundred_children_in_flight_at_the_stop_all_finish_within_the_stop_timeout() {
    let finished = Arc::new(AtomicUsize::new(0));
    let count = finished.clone();
    let mut app = Conductor::named("app");
    app.timeout(secs(5));
    app.add(
        "consumer",
        player_fn(move |ctx: Context| {
            let finished = count.clone();
            async move {
                for _ in 0..100 {
                    let finished = finished.clone();
                    ctx.spawn(async move {
                        sleep(secs(3)).await;
                        finished.fetch_add(1, Ordering::SeqCst);
                    });
                }
                ctx.cancelled().await;
                Ok(())
            }
        }),
    )
    .unwrap();
    let t0 = Instant::now();

    // The stop comes at 1 s, while every child is in flight.
    app.play_until(sleep(secs(1))).await.unwrap();

    assert_eq!(finished.load(Ordering::SeqCst), 100, "none is lost");
    assert_eq!(t0.elapsed(), secs(3), "the run ended with its last child");
}

#[tokio::test(start_paused = true)]
async fn a_run_that_returned_waits_for_its_children() {
    let mut app = Conductor::named("app");
    app.add(
        "spawner",
        player_fn(|ctx: Context| async move {
            ctx.spawn(sleep(secs(5)));
            Ok(())
        }),
    )
    .unwrap();
    let t0 = Instant::now();

    app.play_until(std::future::pending()).await.unwrap();

    assert_eq!(t0.elapsed(), secs(5));
}

#[tokio::test(start_paused = true)]
async fn a_child_ignoring_cancellation_is_aborted_with_its_player_and_reported() {
    let dropped = Arc::new(AtomicUsize::new(0));
    let mut app = Conductor::named("app");
    app.timeout(secs(2));
    app.add("parent", parent_of_a_deaf_child(&dropped)).unwrap();
    let tasks_before = alive_tasks();
    let t0 = Instant::now();

    let error = app.play_until(sleep(secs(1))).await.unwrap_err();

    let Error::StopTimedOut { stragglers } = &error else {
        panic!("expected StopTimedOut, got {error:?}");
    };
    assert_eq!(&*stragglers[0].path, "app/parent");
    assert_eq!(
        t0.elapsed(),
        secs(3),
        "aborted at the player's stop timeout"
    );
    // The child ends at its next poll, right after its player.
    settle().await;
    assert_eq!(dropped.load(Ordering::SeqCst), 1, "the child was dropped");
    assert_eq!(alive_tasks(), tasks_before, "no child outlives the run");
}

#[tokio::test(start_paused = true)]
async fn dropping_the_run_aborts_the_children_too() {
    let dropped = Arc::new(AtomicUsize::new(0));
    let mut app = Conductor::named("app");
    app.add("parent", deaf_parent_of_a_deaf_child(&dropped, false))
        .unwrap();
    let shutdown = orchestra::CancellationToken::new();
    let runner = tokio::spawn(app.play_until(shutdown.clone().cancelled_owned()));
    sleep(secs(1)).await;
    shutdown.cancel();
    sleep(secs(1)).await;
    runner.abort();
    let _ = runner.await;
    settle().await;
    assert_eq!(dropped.load(Ordering::SeqCst), 1, "the child was dropped");
}

#[tokio::test(start_paused = true)]
async fn a_childs_error_fails_the_run_cuts_play_short_and_aborts_the_other_children() {
    let dropped = Arc::new(AtomicUsize::new(0));
    let guard = dropped.clone();
    let mut app = Conductor::named("app");
    app.add(
        "parent",
        player_fn(move |ctx: Context| {
            let sibling = DropCounter(guard.clone());
            let play = DropCounter(guard.clone());
            async move {
                let _play = play;
                ctx.spawn(async move {
                    let _sibling = sibling;
                    std::future::pending::<()>().await;
                });
                ctx.spawn(async {
                    sleep(secs(2)).await;
                    Err::<(), BoxError>("bad item".into())
                });
                std::future::pending::<()>().await;
                Ok(())
            }
        }),
    )
    .unwrap();
    let t0 = Instant::now();

    let error = app.play_until(std::future::pending()).await.unwrap_err();

    assert!(
        matches!(&error, Error::Failed { path, attempt: 1, source }
            if &**path == "app/parent" && source.to_string() == "bad item"),
        "{error:?}"
    );
    assert_eq!(t0.elapsed(), secs(2));
    assert_eq!(
        dropped.load(Ordering::SeqCst),
        2,
        "play and the other child were dropped"
    );
}

#[tokio::test(start_paused = true)]
async fn a_childs_panic_fails_the_run_and_the_restart_policy_applies() {
    let runs = Arc::new(AtomicUsize::new(0));
    let counted = runs.clone();
    let mut app = Conductor::named("app");
    app.add_with(
        "parent",
        player_fn(move |ctx: Context| {
            let runs = counted.clone();
            async move {
                if runs.fetch_add(1, Ordering::SeqCst) == 0 {
                    ctx.spawn(async {
                        let bug = true;
                        assert!(!bug, "child bug");
                    });
                }
                ctx.cancelled().await;
                Ok(())
            }
        }),
        PlayerOptions::new()
            .restart(Restart::OnFailure)
            .backoff(orchestra::Backoff::constant(secs(1))),
    )
    .unwrap();

    app.play_until(sleep(secs(5))).await.unwrap();

    assert_eq!(
        runs.load(Ordering::SeqCst),
        2,
        "restarted once after the panic"
    );
}

#[tokio::test(start_paused = true)]
async fn a_childs_panic_names_the_player_and_keeps_its_message() {
    let mut app = Conductor::named("app");
    app.add(
        "parent",
        player_fn(|ctx: Context| async move {
            ctx.spawn(async {
                let bug = true;
                assert!(!bug, "child bug");
            });
            ctx.cancelled().await;
            Ok(())
        }),
    )
    .unwrap();

    let error = app.play_until(std::future::pending()).await.unwrap_err();

    assert!(
        matches!(&error, Error::Panicked { path, message, .. }
            if &**path == "app/parent" && message == "child bug"),
        "{error:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_child_spawned_after_its_player_ended_is_not_run() {
    let (keep, kept) = tokio::sync::oneshot::channel::<Context>();
    let mut keep = Some(keep);
    let mut app = Conductor::named("app");
    app.add(
        "parent",
        player_fn(move |ctx: Context| {
            let keep = keep.take();
            async move {
                if let Some(keep) = keep {
                    let _ = keep.send(ctx);
                }
                Ok(())
            }
        }),
    )
    .unwrap();

    app.play_until(std::future::pending()).await.unwrap();

    let ctx = kept.await.unwrap();
    let ran = Arc::new(AtomicUsize::new(0));
    let counted = ran.clone();
    ctx.spawn(async move {
        counted.fetch_add(1, Ordering::SeqCst);
    });
    sleep(secs(1)).await;
    assert_eq!(ran.load(Ordering::SeqCst), 0);
}

#[tokio::test(start_paused = true)]
async fn a_forced_stop_aborts_the_children_with_their_player() {
    let dropped = Arc::new(AtomicUsize::new(0));
    let mut app = Conductor::named("app");
    app.add("parent", parent_of_a_deaf_child(&dropped)).unwrap();
    let runner = app.runner();
    let handle = runner.handle();
    let run = tokio::spawn(runner.play_until(std::future::pending()));
    sleep(secs(1)).await;
    handle.stop_all();
    sleep(secs(1)).await;
    handle.force("the test");

    let error = run.await.unwrap().unwrap_err();
    assert!(
        matches!(&error, Error::Forced { aborted, .. } if aborted.iter().any(|p| &**p == "app/parent")),
        "{error:?}"
    );
    settle().await;
    assert_eq!(dropped.load(Ordering::SeqCst), 1, "the child was dropped");
}
