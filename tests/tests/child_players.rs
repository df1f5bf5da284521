//! Child players started at run time (`ctx.spawn_player`): supervised like
//! declared members, below their parent's path, stopped before their
//! parent's run ends.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use orchestra::{
    Backoff, BoxError, Conductor, Context, Error, EventKind, Monitor, PlayExt, PlayerOptions,
    Restart, player_fn,
};
use support::{kinds, secs};
use tokio::time::sleep;

/// A player that starts `child` as `worker` and then waits for its stop.
fn parent_of<F>(child: F, options: PlayerOptions) -> impl orchestra::Player
where
    F: Fn() -> Box<dyn FnMut(Context) -> BoxedRun + Send> + Send + 'static,
{
    player_fn(move |ctx: Context| {
        let worker = child();
        let options = options.clone();
        async move {
            ctx.spawn_player("worker", player_fn(worker), options)?;
            ctx.cancelled().await;
            Ok(())
        }
    })
}

type BoxedRun = std::pin::Pin<Box<dyn Future<Output = Result<(), BoxError>> + Send>>;

/// Fails its first run after 1 s, then idles until stopped.
fn flaky() -> Box<dyn FnMut(Context) -> BoxedRun + Send> {
    Box::new(|ctx: Context| {
        Box::pin(async move {
            if ctx.attempt() == 1 {
                sleep(secs(1)).await;
                return Err(BoxError::from("lost the connection"));
            }
            ctx.cancelled().await;
            Ok(())
        })
    })
}

#[tokio::test(start_paused = true)]
async fn a_child_player_fails_and_is_restarted_under_its_own_policy_while_its_parent_runs() {
    let monitor = Monitor::new();
    let mut app = Conductor::named("app");
    let options = PlayerOptions::new()
        .restart(Restart::OnFailure)
        .backoff(Backoff::constant(secs(2)));
    app.add("parent", parent_of(flaky, options)).unwrap();

    app.runner()
        .monitor(monitor.clone())
        .play_until(sleep(secs(5)))
        .await
        .unwrap();

    let child = kinds(&monitor, "app/parent/worker");
    let kinds_only: Vec<&EventKind> = child.iter().map(|(_, k)| k).collect();
    assert!(
        matches!(
            kinds_only.as_slice(),
            [
                EventKind::Starting,
                EventKind::Started,
                EventKind::BackingOff { error: Some(_), delay },
                EventKind::Started,
                EventKind::Stopping,
                EventKind::Stopped,
            ] if *delay == secs(2)
        ),
        "{child:?}"
    );
    assert_eq!(child[3].0, secs(3), "restarted after its backoff");
    let parent = kinds(&monitor, "app/parent");
    assert_eq!(
        parent
            .iter()
            .filter(|(_, k)| *k == EventKind::Started)
            .count(),
        1,
        "the parent ran once: {parent:?}"
    );
    let (child_stopped, _) = child.last().unwrap();
    let (parent_stopped, _) = parent.last().unwrap();
    assert!(child_stopped <= parent_stopped);
    assert_eq!(
        monitor.status("app/parent/worker").unwrap().state,
        orchestra::State::Stopped
    );
}

#[tokio::test(start_paused = true)]
async fn a_child_players_final_failure_fails_its_parent_and_names_the_child() {
    let mut app = Conductor::named("app");
    app.add("parent", parent_of(flaky, PlayerOptions::new()))
        .unwrap();

    let error = app.play_until(std::future::pending()).await.unwrap_err();

    assert!(
        matches!(&error, Error::Failed { path, attempt: 1, .. } if &**path == "app/parent/worker"),
        "{error:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_child_player_ignoring_its_stop_is_aborted_at_its_own_timeout() {
    let mut app = Conductor::named("app");
    app.timeout(secs(10));
    app.add(
        "parent",
        player_fn(|ctx: Context| async move {
            let stuck = player_fn(|_ctx: Context| std::future::pending());
            ctx.spawn_player("stuck", stuck, PlayerOptions::new().timeout(secs(2)))?;
            ctx.cancelled().await;
            Ok(())
        }),
    )
    .unwrap();
    let t0 = tokio::time::Instant::now();

    let error = app.play_until(sleep(secs(1))).await.unwrap_err();

    let Error::StopTimedOut { stragglers } = &error else {
        panic!("expected StopTimedOut, got {error:?}");
    };
    assert_eq!(&*stragglers[0].path, "app/parent/stuck");
    assert_eq!(stragglers[0].waited, secs(2));
    assert_eq!(t0.elapsed(), secs(3));
}

#[tokio::test(start_paused = true)]
async fn a_child_player_started_while_its_parent_stops_is_cancelled_at_once() {
    let saw_cancelled = Arc::new(AtomicUsize::new(0));
    let seen = saw_cancelled.clone();
    let mut app = Conductor::named("app");
    app.add(
        "parent",
        player_fn(move |ctx: Context| {
            let seen = seen.clone();
            async move {
                ctx.cancelled().await;
                let late = player_fn(move |ctx: Context| {
                    let seen = seen.clone();
                    async move {
                        if ctx.is_cancelled() {
                            seen.fetch_add(1, Ordering::SeqCst);
                        }
                        ctx.cancelled().await;
                        Ok(())
                    }
                });
                ctx.spawn_player("late", late, PlayerOptions::new())?;
                Ok(())
            }
        }),
    )
    .unwrap();
    let t0 = tokio::time::Instant::now();

    app.play_until(sleep(secs(1))).await.unwrap();

    assert_eq!(saw_cancelled.load(Ordering::SeqCst), 1);
    assert_eq!(t0.elapsed(), secs(1), "nothing waited");
}

#[tokio::test(start_paused = true)]
async fn child_player_names_are_unique_and_well_formed() {
    let mut app = Conductor::named("app");
    app.add(
        "parent",
        player_fn(|ctx: Context| async move {
            let idle = || {
                player_fn(|ctx: Context| async move {
                    ctx.cancelled().await;
                    Ok(())
                })
            };
            ctx.spawn_player("a", idle(), PlayerOptions::new())?;
            let duplicate = ctx.spawn_player("a", idle(), PlayerOptions::new());
            assert!(
                matches!(&duplicate, Err(Error::DuplicateName { conductor, name })
                    if &**conductor == "app/parent" && &**name == "a"),
                "{duplicate:?}"
            );
            let slash = ctx.spawn_player("a/b", idle(), PlayerOptions::new());
            assert!(matches!(slash, Err(Error::Config { .. })), "{slash:?}");
            ctx.cancelled().await;
            Ok(())
        }),
    )
    .unwrap();

    app.play_until(sleep(secs(1))).await.unwrap();
}
