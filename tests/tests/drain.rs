//! The drain phase (lame duck): on the stop, the run drains for a while,
//! with every player still running and told so, then stops gracefully.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use orchestra::{Conductor, Context, Error, Monitor, PlayExt, Player, player_fn};
use tokio::sync::oneshot;
use tokio::time::{Instant, advance};

/// What a player saw, and when (since the test began).
type Seen = Arc<Mutex<Vec<(&'static str, Duration)>>>;

/// A player that notes when the run began draining and when it was asked
/// to stop.
fn watcher(seen: &Seen, t0: Instant) -> impl Player {
    let seen = seen.clone();
    player_fn(move |ctx: Context| {
        let seen = seen.clone();
        async move {
            ctx.ready();
            assert!(!ctx.is_draining());
            ctx.draining().await;
            assert!(ctx.is_draining());
            seen.lock().unwrap().push(("draining", t0.elapsed()));
            ctx.cancelled().await;
            seen.lock().unwrap().push(("cancelled", t0.elapsed()));
            Ok(())
        }
    })
}

fn stop_signal() -> (oneshot::Sender<()>, impl Future<Output = ()> + Send) {
    let (stop, stopped) = oneshot::channel::<()>();
    (stop, async {
        let _ = stopped.await;
    })
}

#[tokio::test(start_paused = true)]
async fn the_run_drains_for_its_drain_then_stops_gracefully() {
    let t0 = Instant::now();
    let seen = Seen::default();
    let mut app = Conductor::named("app");
    app.add("worker", watcher(&seen, t0)).unwrap();
    let (stop, shutdown) = stop_signal();
    let run = tokio::spawn(
        app.runner()
            .drain(Duration::from_secs(5))
            .play_until(shutdown),
    );
    advance(Duration::from_secs(1)).await;
    stop.send(()).unwrap();
    run.await.unwrap().expect("a clean run");
    assert_eq!(
        *seen.lock().unwrap(),
        [
            ("draining", Duration::from_secs(1)),
            ("cancelled", Duration::from_secs(6)),
        ],
        "draining at the stop, asked to stop after the drain"
    );
}

#[tokio::test(start_paused = true)]
async fn without_a_drain_draining_comes_with_the_stop() {
    let t0 = Instant::now();
    let seen = Seen::default();
    let mut app = Conductor::named("app");
    app.add("worker", watcher(&seen, t0)).unwrap();
    let (stop, shutdown) = stop_signal();
    let run = tokio::spawn(app.play_until(shutdown));
    advance(Duration::from_secs(1)).await;
    stop.send(()).unwrap();
    run.await.unwrap().expect("a clean run");
    assert_eq!(
        *seen.lock().unwrap(),
        [
            ("draining", Duration::from_secs(1)),
            ("cancelled", Duration::from_secs(1)),
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn the_top_conductors_drain_is_the_runs_and_the_runner_overrides_it() {
    for (runner_drain, expected) in [(None, 3), (Some(Duration::from_secs(1)), 1)] {
        let t0 = Instant::now();
        let seen = Seen::default();
        let mut app = Conductor::named("app");
        app.drain(Duration::from_secs(3));
        app.add("worker", watcher(&seen, t0)).unwrap();
        let (stop, shutdown) = stop_signal();
        let mut runner = app.runner();
        if let Some(drain) = runner_drain {
            runner = runner.drain(drain);
        }
        let run = tokio::spawn(runner.play_until(shutdown));
        tokio::task::yield_now().await;
        stop.send(()).unwrap();
        run.await.unwrap().expect("a clean run");
        assert_eq!(
            seen.lock().unwrap()[1],
            ("cancelled", Duration::from_secs(expected))
        );
    }
}

#[tokio::test(start_paused = true)]
async fn a_drain_on_a_nested_conductor_is_a_configuration_error() {
    let mut jobs = Conductor::named("jobs");
    jobs.drain(Duration::from_secs(3));
    jobs.add("mailer", player_fn(|_| async { Ok(()) })).unwrap();
    let mut app = Conductor::named("app");
    app.add("jobs", jobs).unwrap();
    let error = app.play_until(std::future::pending()).await.unwrap_err();
    assert!(matches!(error, Error::Config { .. }), "{error:?}");
    assert!(
        error.to_string().contains("app/jobs")
            && error
                .to_string()
                .contains("a drain phase is the whole run's"),
        "{error}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_player_ending_during_the_drain_ends_the_run_early() {
    let mut app = Conductor::named("app");
    app.add(
        "leaves",
        player_fn(|ctx: Context| async move {
            ctx.draining().await;
            Ok(())
        }),
    )
    .unwrap();
    let t0 = Instant::now();
    let (stop, shutdown) = stop_signal();
    let run = tokio::spawn(
        app.runner()
            .drain(Duration::from_secs(30))
            .play_until(shutdown),
    );
    tokio::task::yield_now().await;
    stop.send(()).unwrap();
    run.await.unwrap().expect("a clean run");
    assert!(
        t0.elapsed() < Duration::from_secs(1),
        "not held for the drain"
    );
}

#[cfg(feature = "health")]
#[tokio::test(start_paused = true)]
async fn health_is_not_ready_while_draining_nor_after_the_run() {
    use orchestra::health::Health;

    let monitor = Monitor::new();
    assert_eq!(
        Health::of(&monitor).to_string(),
        "not ready: this monitor was never attached to a run"
    );
    let mut app = Conductor::named("app");
    app.add(
        "http",
        player_fn(|ctx: Context| async move {
            ctx.ready();
            ctx.cancelled().await;
            Ok(())
        }),
    )
    .unwrap();
    let (stop, shutdown) = stop_signal();
    let run = tokio::spawn(
        app.runner()
            .monitor(monitor.clone())
            .drain(Duration::from_secs(5))
            .play_until(shutdown),
    );
    tokio::task::yield_now().await;
    assert_eq!(Health::of(&monitor).to_string(), "ready");
    stop.send(()).unwrap();
    advance(Duration::from_secs(1)).await;
    let health = Health::of(&monitor);
    assert!(!health.is_ready());
    assert_eq!(health.to_string(), "not ready: draining");
    run.await.unwrap().expect("a clean run");
    assert_eq!(
        Health::of(&monitor).to_string(),
        "not ready: the run has ended"
    );
}

/// A player that records when it was asked to stop.
struct Worker(Seen, Instant);

impl Player for Worker {
    async fn play(&mut self, ctx: Context) -> Result<(), orchestra::BoxError> {
        watcher(&self.0, self.1).play(ctx).await
    }
}

#[derive(orchestra::Conductor)]
#[conductor(name = "app", drain = "2s")]
struct Drained {
    worker: Worker,
}

#[tokio::test(start_paused = true)]
async fn a_derived_conductor_drains_for_its_drain_attribute() {
    let t0 = Instant::now();
    let seen = Seen::default();
    let app = Drained {
        worker: Worker(seen.clone(), t0),
    };
    assert_eq!(format!("{:#}", app.describe()), "app(drain = 2s)[worker]");
    let (stop, shutdown) = stop_signal();
    let run = tokio::spawn(app.play_until(shutdown));
    tokio::task::yield_now().await;
    stop.send(()).unwrap();
    run.await.unwrap().expect("a clean run");
    assert_eq!(
        *seen.lock().unwrap(),
        [
            ("draining", Duration::ZERO),
            ("cancelled", Duration::from_secs(2)),
        ]
    );
}
