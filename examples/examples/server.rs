//! An HTTP server and a background worker in one conductor. On SIGINT or
//! SIGTERM the server stops accepting at once and lets the requests in flight
//! finish — slow ones included — before the process exits.
//!
//! ```text
//! cargo run --example server -- --addr 127.0.0.1:3000
//! curl localhost:3000/slow &  kill -TERM <pid>   # the slow request still completes
//! ```

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use orchestra::{BoxError, Context, Exit, HttpServer, PlayExt, Player};
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

/// `--addr HOST:PORT`, 127.0.0.1:3000 by default; port 0 picks a free one.
fn addr() -> Result<SocketAddr, String> {
    let mut args = std::env::args().skip(1);
    let mut addr = "127.0.0.1:3000".to_owned();
    while let Some(arg) = args.next() {
        match (arg.as_str(), args.next()) {
            ("--addr", Some(value)) => addr = value,
            _ => {
                return Err(format!(
                    "unexpected argument `{arg}`; usage: server [--addr HOST:PORT]"
                ));
            }
        }
    }
    addr.parse()
        .map_err(|error| format!("bad --addr `{addr}`: {error}"))
}

async fn run() -> Result<(), BoxError> {
    // Bound here, so the address (and a port picked by the system) is known
    // before anything runs; a restarted server binds the same port again.
    let listener = TcpListener::bind(addr()?).await?;
    tracing::info!("listening on http://{}", listener.local_addr()?);

    let app = App {
        http: HttpServer::from_listener(listener, router())
            .shutdown_timeout(Duration::from_secs(5)),
        sweeper: Sweeper {
            every: Duration::from_secs(5),
        },
    };
    app.play_until_signal().await?;
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
