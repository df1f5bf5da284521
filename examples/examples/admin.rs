//! An admin endpoint over a running service: lists its players, and stops,
//! starts or restarts one of them through the run's control handle while
//! the others keep running.
//!
//! ```text
//! cargo run --example admin -- --addr 127.0.0.1:3001
//! curl localhost:3001/players                        # path, state, attempt
//! curl -X POST localhost:3001/players/app/worker-1/stop
//! curl -X POST localhost:3001/players/app/worker-1/start
//! curl -X POST localhost:3001/players/app/worker-1/restart
//! ```

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use orchestra::{
    BoxError, Conductor, Context, Error, Exit, Handle, HttpServer, PlayExt, PlayerOptions, Restart,
    player_fn,
};
use tokio::net::TcpListener;

/// `GET /players`: one line per player.
async fn players(State(handle): State<Handle>) -> String {
    let mut out = String::new();
    for status in handle.players() {
        let _ = writeln!(
            out,
            "{:<20} {:<12} attempt {}",
            status.path, status.state, status.attempt
        );
    }
    out
}

/// `POST /players/{*path}`: the last segment of the path is the order
/// (`stop`, `start`, `restart`), the rest the player's path.
async fn order(State(handle): State<Handle>, Path(path): Path<String>) -> (StatusCode, String) {
    let Some((player, action)) = path.rsplit_once('/') else {
        return (
            StatusCode::NOT_FOUND,
            "POST /players/<path>/<order>\n".into(),
        );
    };
    let result = match action {
        "stop" => handle.stop(player).await,
        "start" => handle.start(player).await,
        "restart" => handle.restart(player).await,
        _ => return (StatusCode::NOT_FOUND, format!("no order `{action}`\n")),
    };
    match result {
        Ok(()) => (StatusCode::OK, format!("{action}: {player}: done\n")),
        Err(error @ Error::UnknownPlayer { .. }) => (StatusCode::NOT_FOUND, format!("{error}\n")),
        Err(error @ Error::Refused { .. }) => (StatusCode::CONFLICT, format!("{error}\n")),
        // The stopped run's own error: reported, and the player is stopped.
        Err(error) => (StatusCode::OK, format!("{}\n", error.with_causes())),
    }
}

fn admin(handle: Handle) -> Router {
    Router::new()
        .route("/players", get(players))
        .route("/players/{*path}", post(order))
        .with_state(handle)
}

/// A worker: handles one job a second, each on a child task the run waits for.
fn worker() -> impl orchestra::Player {
    player_fn(|ctx: Context| async move {
        ctx.ready();
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        while ctx.run_until_cancelled(tick.tick()).await.is_some() {
            let job = ctx.clone();
            ctx.spawn(async move {
                tokio::time::sleep(Duration::from_millis(200)).await;
                tracing::debug!(player = job.path(), "job done");
            });
        }
        Ok(())
    })
}

async fn run() -> Result<(), BoxError> {
    let addr: SocketAddr = match std::env::args().skip(1).collect::<Vec<_>>().as_slice() {
        [] => SocketAddr::from(([127, 0, 0, 1], 3001)),
        [flag, addr] if flag == "--addr" => addr.parse()?,
        _ => return Err("usage: admin [--addr HOST:PORT]".into()),
    };
    let listener = TcpListener::bind(addr).await?;
    tracing::info!("admin on http://{}/players", listener.local_addr()?);

    let mut app = Conductor::named("app");
    app.timeout(Duration::from_secs(10));
    for n in 1..=3 {
        let options = PlayerOptions::new().restart(Restart::OnFailure);
        app.add_with(&format!("worker-{n}"), worker(), options)?;
    }
    let runner = app.runner();
    let handle = runner.handle();
    let run = tokio::spawn(runner.play_until_signal());

    // The admin server joins the running service as a member of its own,
    // stopped gracefully with the rest.
    while handle.status("app").is_err() {
        tokio::task::yield_now().await;
    }
    let http = HttpServer::from_listener(listener, admin(handle.clone()));
    handle.add("app", "admin", http, PlayerOptions::new())?;

    run.await??;
    Ok(())
}

/// Exits 0 after a clean stop; otherwise with the code of `orchestra::Exit`'s table.
#[tokio::main]
async fn main() -> Exit {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
        .init();
    run().await.into()
}
