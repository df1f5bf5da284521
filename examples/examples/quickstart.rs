//! Three players under one conductor: a ticker, a worker draining a queue
//! fed by a producer, and a flaky client that fails once and is restarted.
//!
//! ```text
//! cargo run --example quickstart
//! ```
//!
//! Press Ctrl-C to stop gracefully (the worker drains its queue first);
//! press it twice to force the stop (exit code 130). Send `SIGHUP`
//! (`kill -HUP <pid>`) to reload: the ticker is restarted, the others keep
//! running.

use std::time::Duration;

use orchestra::{BoxError, Conductor, Context, Exit, PlayExt, Player};
use tokio::sync::mpsc;
use tokio::time::{interval, sleep};

/// Logs a tick every second.
struct Ticker;

impl Player for Ticker {
    async fn play(&mut self, ctx: Context) -> Result<(), BoxError> {
        ctx.ready();
        let mut tick = interval(Duration::from_secs(1));
        let mut n = 0_u64;
        loop {
            tokio::select! {
                () = ctx.cancelled() => return Ok(()),
                _ = tick.tick() => {
                    n += 1;
                    tracing::info!(n, "tick");
                }
            }
        }
    }
}

/// Feeds the worker a job every 300 ms.
struct Producer {
    jobs: mpsc::Sender<u32>,
}

impl Player for Producer {
    async fn play(&mut self, ctx: Context) -> Result<(), BoxError> {
        let mut id = 0;
        while ctx
            .run_until_cancelled(sleep(Duration::from_millis(300)))
            .await
            .is_some()
        {
            id += 1;
            self.jobs.send(id).await?;
        }
        Ok(())
    }
}

/// Processes jobs; when asked to stop, finishes the ones already queued.
struct Worker {
    jobs: mpsc::Receiver<u32>,
}

impl Player for Worker {
    async fn play(&mut self, ctx: Context) -> Result<(), BoxError> {
        ctx.ready();
        while let Some(Some(job)) = ctx.run_until_cancelled(self.jobs.recv()).await {
            tracing::info!(job, "processed");
        }
        // Drain what is queued, slowly, as a real worker flushing would.
        self.jobs.close();
        let mut drained = 0;
        while let Some(job) = self.jobs.recv().await {
            sleep(Duration::from_millis(200)).await;
            drained += 1;
            tracing::info!(job, "processed while stopping");
        }
        sleep(Duration::from_millis(1500)).await;
        tracing::info!(drained, "queue drained");
        Ok(())
    }
}

/// Loses its connection once, two seconds in; restarted after a backoff.
struct Flaky;

impl Player for Flaky {
    async fn play(&mut self, ctx: Context) -> Result<(), BoxError> {
        if ctx.attempt() == 1 {
            if ctx
                .run_until_cancelled(sleep(Duration::from_secs(2)))
                .await
                .is_none()
            {
                return Ok(()); // asked to stop first
            }
            return Err("lost the connection to upstream".into());
        }
        tracing::info!(attempt = ctx.attempt(), "reconnected");
        ctx.cancelled().await;
        Ok(())
    }
}

/// The service: every field a player, each on a task of its own.
#[derive(Conductor)]
#[conductor(name = "app", timeout = "5s")]
struct App {
    /// Restarted on a reload (`SIGHUP`): its count starts over.
    #[player(on_reload = "restart")]
    ticker: Ticker,
    worker: Worker,
    /// Starts once the worker is ready; stops before it.
    #[player(after = "worker")]
    producer: Producer,
    #[player(restart = "on-failure", backoff(constant, delay = "1s"))]
    flaky: Flaky,
}

impl App {
    fn new() -> Self {
        let (jobs, queue) = mpsc::channel(16);
        App {
            ticker: Ticker,
            worker: Worker { jobs: queue },
            producer: Producer { jobs },
            flaky: Flaky,
        }
    }
}

/// Exits 0 after a clean stop, 130 after a forced one, 1 if a player failed
/// for good (see `orchestra::Exit` for every code); the error is logged.
#[tokio::main]
async fn main() -> Exit {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
        .init();

    let result = App::new().play_until_signal().await;
    if result.is_ok() {
        tracing::info!("stopped cleanly");
    }
    result.into()
}
