//! Players' metrics in Prometheus' text format.
//!
//! ```text
//! cargo run --example metrics
//! ```
//!
//! Runs a steady player and one that fails twice before it holds, for two
//! seconds, then prints what a Prometheus scrape would read.

use std::time::Duration;

use metrics_exporter_prometheus::PrometheusBuilder;
use orchestra::{
    Backoff, BoxError, Conductor, Context, Exit, PlayExt, PlayerOptions, Restart, player_fn,
};

#[tokio::main]
async fn main() -> Exit {
    run().await.into()
}

async fn run() -> Result<(), BoxError> {
    let prometheus = PrometheusBuilder::new().install_recorder()?;

    let mut app = Conductor::named("app");
    app.add(
        "steady",
        player_fn(|ctx: Context| async move {
            ctx.cancelled().await;
            Ok(())
        }),
    )?;
    app.add_with(
        "flaky",
        player_fn(|ctx: Context| async move {
            if ctx.attempt() <= 2 {
                return Err("upstream unavailable".into());
            }
            ctx.cancelled().await;
            Ok(())
        }),
        PlayerOptions::new()
            .restart(Restart::OnFailure)
            .backoff(Backoff::constant(Duration::from_millis(200))),
    )?;

    app.play_until(tokio::time::sleep(Duration::from_secs(2)))
        .await?;

    #[allow(clippy::print_stdout, reason = "the point of this example")]
    {
        println!("{}", prometheus.render());
    }
    Ok(())
}
