//! An HTTP server and a background worker in one conductor. On SIGINT or
//! SIGTERM the server stops accepting at once and lets the requests in flight
//! finish — slow ones included — before the process exits.
//!
//! ```text
//! cargo run --example server -- --addr 127.0.0.1:3000
//! curl localhost:3000/slow &  kill -TERM <pid>   # the slow request still completes
//! ```
//!
//! `--drain-ms N` drains for N ms before the graceful stop: `/readyz`
//! answers 503 "draining" while the API goes on serving (with
//! `Connection: close`), so that a load balancer moves clients away first.
//!
//! `--header-timeout-ms N` sets how long a connection may stay silent before
//! its first request (10 s by default); `--max-connections N` caps the open
//! connections (3/4 of the open-files limit by default).

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use orchestra::{BoxError, Context, Exit, HttpServer, Monitor, PlayExt, Player, health};
use tokio::net::TcpListener;

/// The whole service: the HTTP server and the worker, run side by side.
#[derive(orchestra::Conductor)]
#[conductor(name = "app", timeout = "10s")]
struct App {
    /// Serves HTTP; stops within its 5 s shutdown timeout, well under 8 s.
    #[player(timeout = "8s")]
    http: HttpServer,
    /// Sweeps expired sessions; restarted with a backoff if it fails.
    #[player(restart = "on-failure", backoff = "exponential")]
    sweeper: Sweeper,
}

/// A background job: sweeps expired sessions every few seconds.
struct Sweeper {
    every: Duration,
}

impl Player for Sweeper {
    async fn play(&mut self, ctx: Context) -> Result<(), BoxError> {
        ctx.ready();
        let mut tick = tokio::time::interval(self.every);
        let mut sweeps = 0_u64;
        while ctx.run_until_cancelled(tick.tick()).await.is_some() {
            sweeps += 1;
            tracing::info!(sweeps, "swept expired sessions");
        }
        Ok(())
    }
}

/// Takes two seconds, like a report being rendered.
async fn slow() -> &'static str {
    tracing::info!("slow request started");
    tokio::time::sleep(Duration::from_secs(2)).await;
    tracing::info!("slow request done");
    "done\n"
}

fn router() -> Router {
    Router::new()
        .route("/", get(|| async { "hello\n" }))
        .route("/slow", get(slow))
}

/// The command line: `[--addr HOST:PORT] [--drain-ms N] [--header-timeout-ms N]
/// [--max-connections N]`.
struct Args {
    /// 127.0.0.1:3000 by default; port 0 picks a free one.
    addr: SocketAddr,
    drain: Option<Duration>,
    header_timeout: Option<Duration>,
    max_connections: Option<usize>,
}

const USAGE: &str =
    "usage: server [--addr HOST:PORT] [--drain-ms N] [--header-timeout-ms N] [--max-connections N]";

impl Args {
    fn parse() -> Result<Args, String> {
        let mut args = Args {
            addr: SocketAddr::from(([127, 0, 0, 1], 3000)),
            drain: None,
            header_timeout: None,
            max_connections: None,
        };
        let mut words = std::env::args().skip(1);
        while let Some(word) = words.next() {
            let value = words
                .next()
                .ok_or_else(|| format!("`{word}` needs a value; {USAGE}"))?;
            let bad = |error: &dyn std::fmt::Display| format!("bad {word} `{value}`: {error}");
            match word.as_str() {
                "--addr" => args.addr = value.parse().map_err(|e| bad(&e))?,
                "--drain-ms" => {
                    args.drain = Some(Duration::from_millis(value.parse().map_err(|e| bad(&e))?));
                }
                "--header-timeout-ms" => {
                    let ms = value.parse().map_err(|e| bad(&e))?;
                    args.header_timeout = Some(Duration::from_millis(ms));
                }
                "--max-connections" => {
                    args.max_connections = Some(value.parse().map_err(|e| bad(&e))?);
                }
                _ => return Err(format!("unexpected argument `{word}`; {USAGE}")),
            }
        }
        Ok(args)
    }
}

async fn run() -> Result<(), BoxError> {
    // Bound here, so the address (and a port picked by the system) is known
    // before anything runs; a restarted server binds the same port again.
    let args = Args::parse()?;
    let listener = TcpListener::bind(args.addr).await?;
    tracing::info!("listening on http://{}", listener.local_addr()?);

    // The probes (`/readyz`, `/livez`) read the monitor the run is given.
    let monitor = Monitor::new();
    let routes = router().merge(health::router(&monitor));
    let mut http =
        HttpServer::from_listener(listener, routes).shutdown_timeout(Duration::from_secs(5));
    if let Some(timeout) = args.header_timeout {
        http = http.header_timeout(timeout);
    }
    if let Some(max) = args.max_connections {
        http = http.max_connections(max);
    }
    let app = App {
        http,
        sweeper: Sweeper {
            every: Duration::from_secs(5),
        },
    };
    let mut runner = app.runner().monitor(monitor);
    if let Some(drain) = args.drain {
        runner = runner.drain(drain);
    }
    runner.play_until_signal().await?;
    Ok(())
}

/// Exits 0 after a clean stop; otherwise with the code of `orchestra::Exit`'s
/// table (1 for a bad `--addr` or a port that cannot be bound), the error logged.
#[tokio::main]
async fn main() -> Exit {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
        .init();

    let result = run().await;
    if result.is_ok() {
        tracing::info!("stopped cleanly");
    }
    result.into()
}
