//! Every `#[conductor]` and `#[player]` attribute, checked in `describe()`.
#![deny(warnings)]

use orchestra::{Backoff, BoxError, Conductor, Context, PlayExt, Player};
use std::time::Duration;

struct Http;

impl Player for Http {
    async fn play(&mut self, ctx: Context) -> Result<(), BoxError> {
        ctx.cancelled().await;
        Ok(())
    }
}

mod backoffs {
    pub(crate) fn slow() -> orchestra::Backoff {
        orchestra::Backoff::constant(std::time::Duration::from_secs(5))
    }
}

fn quick() -> Backoff {
    Backoff::zero().max_times(2)
}

#[derive(Conductor)]
#[conductor(name = "service", timeout = "1m30s")]
struct App {
    #[player(name = "web", timeout = "250ms", grace = "2s")]
    http: Http,
    #[player(restart = "on-failure", backoff = "exponential", max_attempts = 3)]
    exponential: Http,
    #[player(
        restart = "always",
        backoff(
            exponential,
            min = "50ms",
            max = "10s",
            factor = 3.0,
            jitter,
            max_times = 4
        )
    )]
    tuned: Http,
    #[player(
        restart = "on-failure",
        backoff = "fibonacci",
        max_restarts = 5,
        within = "1m"
    )]
    fibonacci: Http,
    #[player(restart = "on-failure", backoff(fibonacci, max = "5s"))]
    fibonacci_tuned: Http,
    #[player(restart = "on-failure", backoff = "constant")]
    constant: Http,
    #[player(
        restart = "on-failure",
        backoff(constant, delay = "2s", jitter, max_times = 1)
    )]
    constant_tuned: Http,
    #[player(restart = "on-failure", backoff = "zero", stable_after = "1h")]
    zero: Http,
    #[player(restart = "on-failure", backoff(zero, max_times = 10))]
    zero_tuned: Http,
    #[player(restart = "on-failure", backoff = "crate::backoffs::slow")]
    custom: Http,
    #[player(restart = "on-failure", backoff = "self::quick")]
    custom_local: Http,
    #[player(restart = "never", delay = "1s500ms", after = "web")]
    deferred: Http,
    #[player(after("web", "deferred"), on_reload = "restart")]
    last: Http,
    /// A field that is not a player.
    #[player(skip)]
    config: String,
    #[cfg(any())]
    compiled_out: Http,
    #[player]
    #[player()]
    plain: Http,
}

fn main() {
    let app = App {
        http: Http,
        exponential: Http,
        tuned: Http,
        fibonacci: Http,
        fibonacci_tuned: Http,
        constant: Http,
        constant_tuned: Http,
        zero: Http,
        zero_tuned: Http,
        custom: Http,
        custom_local: Http,
        deferred: Http,
        last: Http,
        config: String::from("not a player"),
        plain: Http,
    };
    assert_eq!(app.config, "not a player");
    let described = app.describe().to_string();
    let expected = "\
service (timeout = 90s)
├── web (timeout = 250ms, grace = 2s) : Http
├── exponential (restart = on-failure, backoff = exponential(min = 100ms, max = 30s, factor = 2), max_attempts = 3) : Http
├── tuned (restart = always, backoff = exponential(min = 50ms, max = 10s, factor = 3, jitter, max_times = 4)) : Http
├── fibonacci (restart = on-failure, backoff = fibonacci(min = 100ms, max = 30s), max_restarts = 5 within 60s) : Http
├── fibonacci_tuned (restart = on-failure, backoff = fibonacci(min = 100ms, max = 5s)) : Http
├── constant (restart = on-failure, backoff = constant(delay = 1s)) : Http
├── constant_tuned (restart = on-failure, backoff = constant(delay = 2s, jitter, max_times = 1)) : Http
├── zero (restart = on-failure, backoff = zero, stable_after = 3600s) : Http
├── zero_tuned (restart = on-failure, backoff = zero(max_times = 10)) : Http
├── custom (restart = on-failure, backoff = constant(delay = 5s)) : Http
├── custom_local (restart = on-failure, backoff = zero(max_times = 2)) : Http
├── deferred (delay = 1.5s, after = web) : Http
├── last (after = web, after = deferred, on_reload = restart) : Http
└── plain : Http";
    assert_eq!(described, expected, "\n{described}");

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a runtime");
    let stopped = runtime.block_on(async {
        app.play_until(tokio::time::sleep(Duration::from_millis(1)))
            .await
    });
    assert!(stopped.is_ok(), "{stopped:?}");
}
