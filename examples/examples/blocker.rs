//! A player that blocks its thread and ignores cancellation, the worst a
//! player can do: the process test of a forced stop runs it.
//!
//! ```text
//! cargo run --example blocker -- current_thread   # or multi_thread
//! ```
//!
//! The first Ctrl-C cannot stop it (on `current_thread` the graceful stop
//! cannot even run); the second ends the process within a second, with
//! exit code 130.

use std::time::Duration;

use orchestra::{BoxError, Context, Exit, PlayExt, Player};

/// Sleeps its thread in a loop, never awaiting.
struct Blocker;

impl Player for Blocker {
    async fn play(&mut self, ctx: Context) -> Result<(), BoxError> {
        ctx.ready();
        tracing::info!("blocking my thread");
        loop {
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

fn main() -> Exit {
    tracing_subscriber::fmt().with_ansi(false).init();
    let flavour = std::env::args().nth(1).unwrap_or_default();
    let mut builder = match flavour.as_str() {
        "current_thread" => tokio::runtime::Builder::new_current_thread(),
        _ => {
            let mut builder = tokio::runtime::Builder::new_multi_thread();
            builder.worker_threads(2);
            builder
        }
    };
    let runtime = match builder.enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => return Exit::from(Err::<(), _>(error)),
    };
    tracing::info!(%flavour, "starting");
    runtime.block_on(Blocker.play_until_signal()).into()
}
