//! A database pool handed from the player that connects to the players
//! that use it, all under supervision.
//!
//! `db` connects (the first attempt is refused, to show the backoff) and
//! hands its pool over with `ctx.ready_with(pool)`; `http` and `consumer`,
//! ordered `after` it, take it with `ctx.dependency("db")` on every run.
//! When the connection is lost, `db` fails and is restarted with a backoff;
//! the conductor's `rest-for-one` strategy restarts `http` and `consumer`
//! with it, with the new pool. The pool is simulated: no database needed.
//!
//! ```text
//! cargo run --example pool -- --addr 127.0.0.1:3000
//! curl localhost:3000/          # "pool #1"
//! curl localhost:3000/kill-db   # the connection drops: db, http, consumer restart
//! curl localhost:3000/          # "pool #2"
//! ```

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use orchestra::{BoxError, CancellationToken, Context, Exit, HttpServer, PlayExt, Player};
use tokio::net::TcpListener;

/// The service: `http` and `consumer` start once `db` has connected, and
/// restart with it.
#[derive(orchestra::Conductor)]
#[conductor(
    name = "app",
    strategy = "rest-for-one",
    max_restarts = 10,
    within = "1m"
)]
struct App {
    /// Connects, with a backoff between attempts.
    #[player(
        restart = "on-failure",
        backoff(exponential, min = "200ms", max = "5s")
    )]
    db: Db,
    /// Serves HTTP with the pool; the service is over when it is.
    #[player(after = "db", on_exit = "stop")]
    http: Api,
    /// Consumes messages with the pool.
    #[player(after = "db")]
    consumer: Consumer,
}

/// A connection pool, simulated: its number, and a token cancelled when
/// its connection is lost.
#[derive(Clone)]
struct Pool {
    id: u32,
    lost: CancellationToken,
}

/// Connects to the database and keeps the connection.
struct Db {
    attempts: u32,
    pools: u32,
}

impl Player for Db {
    async fn play(&mut self, ctx: Context) -> Result<(), BoxError> {
        self.attempts += 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
        if self.attempts == 1 {
            return Err("connection refused".into());
        }
        self.pools += 1;
        let pool = Pool {
            id: self.pools,
            lost: CancellationToken::new(),
        };
        tracing::info!(pool = pool.id, "connected to the database");
        ctx.ready_with(pool.clone());
        tokio::select! {
            () = ctx.cancelled() => Ok(()),
            () = pool.lost.cancelled() => Err("the database connection was lost".into()),
        }
    }
}

/// Serves HTTP on `addr`, with the pool of the current run.
struct Api {
    addr: SocketAddr,
}

impl Player for Api {
    async fn play(&mut self, ctx: Context) -> Result<(), BoxError> {
        let pool: Pool = ctx.dependency("db")?;
        let router = Router::new()
            .route(
                "/",
                get(|State(pool): State<Pool>| async move { format!("pool #{}\n", pool.id) }),
            )
            .route(
                "/kill-db",
                get(|State(pool): State<Pool>| async move {
                    pool.lost.cancel();
                    "killed\n"
                }),
            )
            .with_state(pool.clone());
        tracing::info!(pool = pool.id, "serving on http://{}", self.addr);
        HttpServer::bind(self.addr, router)
            .shutdown_timeout(Duration::from_secs(5))
            .play(ctx)
            .await
    }
}

/// Consumes a message a second with the pool of the current run.
struct Consumer;

impl Player for Consumer {
    async fn play(&mut self, ctx: Context) -> Result<(), BoxError> {
        let pool: Pool = ctx.dependency("db")?;
        tracing::info!(pool = pool.id, "consumer uses pool #{}", pool.id);
        ctx.ready();
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        while ctx.run_until_cancelled(tick.tick()).await.is_some() {
            tracing::debug!(pool = pool.id, "consumed a message");
        }
        Ok(())
    }
}

/// `--addr HOST:PORT`, 127.0.0.1:3000 by default; port 0 picks a free one.
fn addr() -> Result<SocketAddr, String> {
    let mut args = std::env::args().skip(1);
    match (args.next().as_deref(), args.next()) {
        (None, _) => Ok(SocketAddr::from(([127, 0, 0, 1], 3000))),
        (Some("--addr"), Some(addr)) => addr.parse().map_err(|e| format!("bad --addr: {e}")),
        _ => Err("usage: pool [--addr HOST:PORT]".into()),
    }
}

async fn run() -> Result<(), BoxError> {
    // The port is picked once, so that each run of `http` binds the same.
    let addr = TcpListener::bind(addr()?).await?.local_addr()?;
    let app = App {
        db: Db {
            attempts: 0,
            pools: 0,
        },
        http: Api { addr },
        consumer: Consumer,
    };
    app.play_until_signal().await?;
    Ok(())
}

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
