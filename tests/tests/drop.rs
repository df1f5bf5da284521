//! A player whose `Drop` panics is reported, by its path, as a panic of
//! the run: at the end of a clean stop, and when it is aborted.

mod support;

use orchestra::{BoxError, Conductor, Context, Error, PlayExt, Player, PlayerOptions};
use support::{millis, secs};
use tokio::time::sleep;

/// Stops when asked (or never, if `stuck`); panics when dropped.
struct Bomb {
    stuck: bool,
}

impl Player for Bomb {
    async fn play(&mut self, ctx: Context) -> Result<(), BoxError> {
        if self.stuck {
            std::future::pending::<()>().await;
        }
        ctx.cancelled().await;
        Ok(())
    }
}

impl Drop for Bomb {
    fn drop(&mut self) {
        panic!("boom in drop");
    }
}

fn assert_panicked_in_drop(result: Result<(), Error>, path: &str) {
    match result {
        Err(Error::Panicked {
            path: at, message, ..
        }) => {
            assert_eq!(&*at, path);
            assert!(message.contains("boom in drop"), "{message}");
        }
        other => panic!("expected a panic of `{path}`, got {other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn a_panic_in_drop_after_a_clean_stop_is_reported() {
    let mut app = Conductor::named("app");
    app.add("bomb", Bomb { stuck: false }).unwrap();

    let result = app.play_until(sleep(secs(1))).await;

    assert_panicked_in_drop(result, "app/bomb");
}

#[derive(orchestra::Conductor)]
struct Armed {
    bomb: Bomb,
}

#[tokio::test(start_paused = true)]
async fn a_panic_in_drop_of_a_derived_conductors_field_is_reported() {
    let result = Armed {
        bomb: Bomb { stuck: false },
    }
    .play_until(sleep(secs(1)))
    .await;

    assert_panicked_in_drop(result, "armed/bomb");
}

#[tokio::test(start_paused = true)]
async fn a_panic_in_drop_at_the_top_is_reported() {
    let result = Bomb { stuck: false }.play_until(sleep(secs(1))).await;

    assert_panicked_in_drop(result, "player");
}

#[tokio::test(start_paused = true)]
async fn a_panic_in_drop_when_aborted_at_the_stop_timeout_is_reported() {
    let mut app = Conductor::named("app");
    app.add_with(
        "bomb",
        Bomb { stuck: true },
        PlayerOptions::new().timeout(millis(100)),
    )
    .unwrap();

    let result = app.play_until(sleep(secs(1))).await;

    assert_panicked_in_drop(result, "app/bomb");
}
