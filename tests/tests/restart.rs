//! Restart policies, backoff, limits and deferred starts, on the paused clock.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use orchestra::{
    Backoff, BoxError, Conductor, Context, Error, Limit, PlayExt, PlayerOptions, Restart,
    RestartNow, player_fn,
};
use support::{Log, idle, millis, secs};
use tokio::time::{Instant, sleep};

/// A player that records when each run starts, and ends each run as `script`
/// says for that attempt (the last entry repeats).
fn scripted(
    starts: &Arc<Mutex<Vec<Duration>>>,
    t0: Instant,
    script: Vec<Step>,
) -> impl orchestra::Player {
    let starts = starts.clone();
    let script: Arc<[Step]> = script.into();
    player_fn(move |ctx: Context| {
        let starts = starts.clone();
        let script = script.clone();
        async move {
            starts.lock().unwrap().push(t0.elapsed());
            let step = script[(ctx.attempt() as usize - 1).min(script.len() - 1)];
            match step {
                Step::Fail(after) => {
                    if !after.is_zero() {
                        sleep(after).await;
                    }
                    Err(BoxError::from(format!("attempt {} failed", ctx.attempt())))
                }
                Step::Ok(after) => {
                    sleep(after).await;
                    Ok(())
                }
                Step::Panic => panic!("attempt {} panicked", ctx.attempt()),
                Step::Restart => Err(RestartNow::because("reload").into()),
                Step::Idle => {
                    ctx.cancelled().await;
                    Ok(())
                }
            }
        }
    })
}

#[derive(Clone, Copy)]
enum Step {
    Fail(Duration),
    Ok(Duration),
    Panic,
    Restart,
    Idle,
}

use Step::{Fail, Idle, Panic};

async fn run_one(
    options: PlayerOptions,
    script: Vec<Step>,
    stop_after: Duration,
) -> (Result<(), Error>, Vec<Duration>) {
    let starts = Arc::new(Mutex::new(Vec::new()));
    let t0 = Instant::now();
    let mut app = Conductor::named("app");
    app.add_with("p", scripted(&starts, t0, script), options)
        .unwrap();
    let result = app.play_until(sleep(stop_after)).await;
    let starts = starts.lock().unwrap().clone();
    (result, starts)
}

fn ms(list: &[u64]) -> Vec<Duration> {
    list.iter().copied().map(millis).collect()
}

#[tokio::test(start_paused = true)]
async fn never_is_the_default_a_failure_is_final() {
    let (result, starts) = run_one(PlayerOptions::new(), vec![Fail(millis(10))], secs(60)).await;
    assert_eq!(starts, ms(&[0]));
    assert!(matches!(result, Err(Error::Failed { attempt: 1, .. })));
}

#[tokio::test(start_paused = true)]
async fn on_failure_restarts_after_each_constant_delay() {
    let options = PlayerOptions::new()
        .restart(Restart::OnFailure)
        .backoff(Backoff::constant(millis(100)));
    let script = vec![Fail(millis(10)), Fail(millis(10)), Idle];
    let (result, starts) = run_one(options, script, secs(5)).await;
    assert_eq!(starts, ms(&[0, 110, 220]));
    result.unwrap();
}

#[tokio::test(start_paused = true)]
async fn panics_are_restarted_like_errors() {
    let options = PlayerOptions::new()
        .restart(Restart::OnFailure)
        .backoff(Backoff::zero());
    let (result, starts) = run_one(options, vec![Panic, Panic, Idle], secs(1)).await;
    assert_eq!(starts, ms(&[0, 0, 0]));
    result.unwrap();
}

#[tokio::test(start_paused = true)]
async fn exponential_delays_double_up_to_their_maximum() {
    let options = PlayerOptions::new().restart(Restart::OnFailure).backoff(
        Backoff::exponential()
            .min_delay(millis(100))
            .max_delay(millis(400)),
    );
    let (_, starts) = run_one(options, vec![Fail(Duration::ZERO)], millis(1999)).await;
    // delays 100, 200, 400, 400, 400…
    assert_eq!(starts, ms(&[0, 100, 300, 700, 1100, 1500, 1900]));
}

#[tokio::test(start_paused = true)]
async fn fibonacci_delays_follow_the_sequence() {
    let options = PlayerOptions::new()
        .restart(Restart::OnFailure)
        .backoff(Backoff::fibonacci().min_delay(millis(100)));
    let (_, starts) = run_one(options, vec![Fail(Duration::ZERO)], millis(1999)).await;
    // delays 100, 100, 200, 300, 500, 800
    assert_eq!(starts, ms(&[0, 100, 200, 400, 700, 1200]));
}

#[tokio::test(start_paused = true)]
async fn jittered_delays_stay_within_one_delay_of_the_base() {
    let options = PlayerOptions::new()
        .restart(Restart::OnFailure)
        .backoff(Backoff::constant(millis(100)).jitter());
    let (_, starts) = run_one(options, vec![Fail(Duration::ZERO)], secs(10)).await;
    assert!(starts.len() > 40, "{}", starts.len());
    for pair in starts.windows(2) {
        let delay = pair[1] - pair[0];
        assert!(delay >= millis(100) && delay <= millis(200), "{delay:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn the_backoff_starts_over_after_a_stable_run() {
    let options = PlayerOptions::new()
        .restart(Restart::OnFailure)
        .backoff(Backoff::exponential().min_delay(millis(100)))
        .stable_after(secs(1));
    // Two quick failures (delays 100, 200), then a run of 1 s that fails:
    // stable, so the next delay is 100 again, not 400.
    let script = vec![
        Fail(Duration::ZERO),
        Fail(Duration::ZERO),
        Fail(secs(1)),
        Idle,
    ];
    let (_, starts) = run_one(options, script, secs(5)).await;
    assert_eq!(starts, ms(&[0, 100, 300, 1400]));
}

#[tokio::test(start_paused = true)]
async fn an_exhausted_backoff_makes_the_failure_final() {
    let options = PlayerOptions::new()
        .restart(Restart::OnFailure)
        .backoff(Backoff::constant(millis(10)).max_times(2));
    let (result, starts) = run_one(options, vec![Fail(Duration::ZERO)], secs(60)).await;
    assert_eq!(starts, ms(&[0, 10, 20]));
    let error = result.unwrap_err();
    let Error::RestartLimit { path, limit, last } = &error else {
        panic!("{error:?}")
    };
    assert_eq!(&**path, "app/p");
    assert_eq!(*limit, Limit::BackoffExhausted);
    assert!(matches!(
        last.as_deref(),
        Some(Error::Failed { attempt: 3, .. })
    ));
}

#[tokio::test(start_paused = true)]
async fn max_attempts_counts_every_run() {
    let options = PlayerOptions::new()
        .restart(Restart::OnFailure)
        .backoff(Backoff::zero())
        .max_attempts(3);
    let (result, starts) = run_one(options, vec![Fail(millis(5))], secs(60)).await;
    assert_eq!(starts.len(), 3);
    let error = result.unwrap_err();
    assert!(
        matches!(
            &error,
            Error::RestartLimit {
                limit: Limit::MaxAttempts(3),
                ..
            }
        ),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        "player `app/p` will not be restarted: reached max_attempts = 3"
    );
}

#[tokio::test(start_paused = true)]
async fn the_intensity_window_makes_a_crash_loop_final() {
    let options = PlayerOptions::new()
        .restart(Restart::OnFailure)
        .backoff(Backoff::constant(secs(1)))
        .max_restarts(3, secs(10));
    let (result, starts) = run_one(options, vec![Fail(Duration::ZERO)], secs(60)).await;
    assert_eq!(
        starts,
        ms(&[0, 1000, 2000, 3000]),
        "3 restarts allowed, the 4th refused"
    );
    assert!(matches!(
        result,
        Err(Error::RestartLimit {
            limit: Limit::MaxRestarts { restarts: 3, .. },
            ..
        })
    ));
}

#[tokio::test(start_paused = true)]
async fn restarts_spread_wider_than_the_window_go_on() {
    let options = PlayerOptions::new()
        .restart(Restart::OnFailure)
        .backoff(Backoff::constant(secs(6)))
        .max_restarts(2, secs(10));
    // Restarts at 6, 12, 18, 24: never more than 2 within any 10 s.
    let (result, starts) = run_one(options, vec![Fail(Duration::ZERO)], secs(27)).await;
    assert_eq!(starts.len(), 5);
    result.unwrap();
}

#[tokio::test(start_paused = true)]
async fn always_restarts_after_ok() {
    let options = PlayerOptions::new()
        .restart(Restart::Always)
        .backoff(Backoff::constant(millis(100)));
    let (result, starts) = run_one(options, vec![Step::Ok(millis(100))], millis(950)).await;
    assert_eq!(starts, ms(&[0, 200, 400, 600, 800]));
    result.unwrap();
}

#[tokio::test(start_paused = true)]
async fn on_failure_does_not_restart_after_ok() {
    let options = PlayerOptions::new().restart(Restart::OnFailure);
    let (result, starts) = run_one(options, vec![Step::Ok(millis(100))], secs(10)).await;
    assert_eq!(starts, ms(&[0]));
    result.unwrap();
}

#[tokio::test(start_paused = true)]
async fn restart_now_skips_the_backoff_whatever_the_policy() {
    let options = PlayerOptions::new().backoff(Backoff::constant(secs(30)));
    let (result, starts) =
        run_one(options, vec![Step::Restart, Step::Restart, Idle], secs(1)).await;
    assert_eq!(starts, ms(&[0, 0, 0]));
    result.unwrap();
}

#[tokio::test(start_paused = true)]
async fn restart_now_counts_towards_max_attempts() {
    let options = PlayerOptions::new().max_attempts(2);
    let (result, starts) = run_one(options, vec![Step::Restart], secs(1)).await;
    assert_eq!(starts.len(), 2);
    assert!(matches!(
        result,
        Err(Error::RestartLimit {
            limit: Limit::MaxAttempts(2),
            last: None,
            ..
        })
    ));
}

#[tokio::test(start_paused = true)]
async fn a_stop_during_the_backoff_wait_returns_at_once() {
    let options = PlayerOptions::new()
        .restart(Restart::OnFailure)
        .backoff(Backoff::constant(secs(3600)));
    let t0 = Instant::now();
    let (result, starts) = run_one(options, vec![Fail(Duration::ZERO)], secs(1)).await;
    assert_eq!(t0.elapsed(), secs(1));
    assert_eq!(starts.len(), 1, "no restart after the stop");
    result.unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_restarted_player_never_overlaps_its_previous_run() {
    let running = Arc::new(Mutex::new(0_u32));
    let overlaps = Arc::new(Mutex::new(0_u32));
    let (r, o) = (running.clone(), overlaps.clone());
    let player = player_fn(move |ctx: Context| {
        let (running, overlaps) = (r.clone(), o.clone());
        async move {
            {
                let mut n = running.lock().unwrap();
                *n += 1;
                if *n > 1 {
                    *overlaps.lock().unwrap() += 1;
                }
            }
            sleep(millis(10)).await;
            *running.lock().unwrap() -= 1;
            if ctx.attempt() < 20 {
                Err("again".into())
            } else {
                ctx.cancelled().await;
                Ok(())
            }
        }
    });
    let mut app = Conductor::named("app");
    app.add_with(
        "p",
        player,
        PlayerOptions::new()
            .restart(Restart::Always)
            .backoff(Backoff::zero()),
    )
    .unwrap();
    app.play_until(sleep(secs(1))).await.unwrap();
    assert_eq!(*overlaps.lock().unwrap(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_deferred_start_waits_for_its_delay() {
    let (log, t0) = Log::new();
    let mut app = Conductor::named("app");
    app.add_with(
        "late",
        idle(&log, t0),
        PlayerOptions::new().delay(millis(1500)),
    )
    .unwrap();
    app.play_until(sleep(secs(3))).await.unwrap();
    assert_eq!(log.at("app/late started"), Some(millis(1500)));
}

#[tokio::test(start_paused = true)]
async fn a_stop_during_a_deferred_start_cancels_it() {
    let (log, t0) = Log::new();
    let mut app = Conductor::named("app");
    app.add_with("late", idle(&log, t0), PlayerOptions::new().delay(secs(60)))
        .unwrap();
    app.play_until(sleep(secs(1))).await.unwrap();
    assert_eq!(t0.elapsed(), secs(1));
    assert!(log.events().is_empty(), "never started");
}

#[tokio::test(start_paused = true)]
async fn invalid_options_are_rejected_when_the_conductor_starts() {
    let (log, t0) = Log::new();
    let mut app = Conductor::named("app");
    app.add_with("a", idle(&log, t0), PlayerOptions::new().max_attempts(0))
        .unwrap();
    app.add_with(
        "b",
        idle(&log, t0),
        PlayerOptions::new().max_restarts(3, Duration::ZERO),
    )
    .unwrap();
    let error = app.play_until(std::future::pending()).await.unwrap_err();
    let messages: Vec<String> = error.iter().map(ToString::to_string).collect();
    assert_eq!(
        messages,
        [
            "invalid configuration of `app/a`: max_attempts must be at least 1",
            "invalid configuration of `app/b`: the max_restarts window (`within`) must be longer than zero",
        ]
    );
    assert!(log.events().is_empty(), "nothing started");
}
