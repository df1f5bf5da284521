//! Running a server player in a test.

#![allow(dead_code, unreachable_pub)]

use orchestra::CancellationToken;
use orchestra::{BoxError, Context, HttpServer, Player};
use tokio::task::JoinHandle;

/// Runs `server` on a task of its own until `stop` is cancelled.
pub fn spawn(mut server: HttpServer, stop: &CancellationToken) -> JoinHandle<Result<(), BoxError>> {
    let ctx = Context::new("http", stop.clone());
    tokio::spawn(async move { server.play(ctx).await })
}
