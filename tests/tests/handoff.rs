//! The typed hand-off: a player hands a value over as it becomes ready, and
//! the players ordered after it take a copy on every run.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use orchestra::{
    Backoff, BoxError, Conductor, Context, Error, PlayExt, PlayerOptions, Restart, Strategy,
    player_fn,
};
use support::{Log, millis, secs};
use tokio::time::sleep;

/// A connection pool, simulated: which connection it is.
#[derive(Clone, Debug, PartialEq)]
struct Pool(u32);

#[tokio::test(start_paused = true)]
async fn dependents_restart_with_their_provider_and_see_its_new_value() {
    let (log, t0) = Log::new();
    let mut app = Conductor::named("app");
    app.strategy(Strategy::RestForOne);
    let db_log = log.clone();
    let db = player_fn(move |ctx: Context| {
        let log = db_log.clone();
        async move {
            // Connecting takes 100 ms; the first connection drops at 1 s.
            sleep(millis(100)).await;
            ctx.ready_with(Pool(ctx.attempt()));
            log.push(format!("db connected #{}", ctx.attempt()), t0);
            if ctx.attempt() == 1 {
                sleep(millis(900)).await;
                return Err(BoxError::from("connection reset"));
            }
            ctx.cancelled().await;
            Ok(())
        }
    });
    let restart = PlayerOptions::new()
        .restart(Restart::OnFailure)
        .backoff(Backoff::constant(millis(500)));
    app.add_with("db", db, restart).unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    for name in ["http", "consumer"] {
        let seen = seen.clone();
        let log = log.clone();
        let dependent = player_fn(move |ctx: Context| {
            let (seen, log) = (seen.clone(), log.clone());
            async move {
                let pool: Pool = ctx.dependency("db")?;
                log.push(format!("{} uses {pool:?}", ctx.name()), t0);
                seen.lock().unwrap().push((ctx.name().to_owned(), pool));
                ctx.ready();
                ctx.cancelled().await;
                Ok(())
            }
        });
        app.add_with(name, dependent, PlayerOptions::new().after("db"))
            .unwrap();
    }

    app.play_until(sleep(secs(5))).await.unwrap();

    // Connected at 100 ms; lost at 1 s; after 500 ms of backoff, connected
    // again 100 ms later.
    assert_eq!(log.at("db connected #2"), Some(millis(1600)));
    assert_eq!(log.times("http uses Pool(1)"), [millis(100)]);
    assert_eq!(log.times("http uses Pool(2)"), [millis(1600)]);
    assert_eq!(log.times("consumer uses Pool(2)"), [millis(1600)]);
    assert_eq!(seen.lock().unwrap().len(), 4);
}

/// Runs `asker` after `db`, which hands over `"a string"`, and returns the
/// error `asker` fails with.
async fn asking(asker_options: PlayerOptions, ask: fn(&Context) -> Result<(), Error>) -> Error {
    let mut app = Conductor::named("app");
    app.add(
        "db",
        player_fn(|ctx: Context| async move {
            ctx.ready_with(String::from("a string"));
            ctx.cancelled().await;
            Ok(())
        }),
    )
    .unwrap();
    app.add(
        "silent",
        player_fn(|ctx: Context| async move {
            ctx.ready();
            ctx.cancelled().await;
            Ok(())
        }),
    )
    .unwrap();
    app.add_with(
        "http",
        player_fn(move |ctx: Context| async move {
            ask(&ctx)?;
            Ok(())
        }),
        asker_options,
    )
    .unwrap();
    app.play_until(sleep(Duration::from_secs(1)))
        .await
        .unwrap_err()
}

#[tokio::test(start_paused = true)]
async fn a_wrong_type_names_both_players_and_both_types() {
    let after_db = PlayerOptions::new().after("db");
    let error = asking(after_db, |ctx| ctx.dependency::<Pool>("db").map(drop)).await;
    assert_eq!(
        error.to_string(),
        "player `app/http` cannot have the value of `db`: it asks for a `handoff::Pool`, \
         but `db` hands over a `alloc::string::String`"
    );
}

#[tokio::test(start_paused = true)]
async fn an_unknown_name_lists_the_siblings() {
    let after_db = PlayerOptions::new().after("db");
    let error = asking(after_db, |ctx| ctx.dependency::<Pool>("cache").map(drop)).await;
    assert_eq!(
        error.to_string(),
        "player `app/http` cannot have the value of `cache`: `cache` is not a player of its \
         conductor; its players are `db`, `silent`, `http`"
    );
}

#[tokio::test(start_paused = true)]
async fn a_player_not_ordered_after_its_provider_is_told_so() {
    let after_silent = PlayerOptions::new().after("silent");
    let error = asking(after_silent, |ctx| ctx.dependency::<String>("db").map(drop)).await;
    assert!(matches!(&error, Error::Dependency { path, provider, .. }
        if &**path == "app/http" && &**provider == "db"));
    assert!(
        error.to_string().contains("it is not ordered `after` `db`"),
        "{error}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_provider_that_handed_nothing_over_is_named() {
    let after_silent = PlayerOptions::new().after("silent");
    let error = asking(after_silent, |ctx| {
        ctx.dependency::<String>("silent").map(drop)
    })
    .await;
    assert!(
        error
            .to_string()
            .contains("`silent` has handed no value over"),
        "{error}"
    );
    assert_eq!(error.exit_code(), 1);
}

#[tokio::test(start_paused = true)]
async fn the_value_is_handed_to_the_right_type() {
    let after_db = PlayerOptions::new().after("db");
    let error = asking(after_db, |ctx| {
        assert_eq!(ctx.dependency::<String>("db")?, "a string");
        Err(Error::Unavailable { path: "ok".into() })
    })
    .await;
    assert!(matches!(error, Error::Unavailable { .. }), "{error:?}");
}

#[tokio::test(start_paused = true)]
async fn a_group_with_no_order_at_all_says_what_is_missing() {
    let error = asking(PlayerOptions::new(), |ctx| {
        ctx.dependency::<String>("db").map(drop)
    })
    .await;
    assert!(
        error.to_string().contains("it is not ordered `after` `db`"),
        "{error}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_provider_stopped_through_the_handle_withdraws_its_value_while_it_stays_stopped() {
    let mut app = Conductor::named("app");
    app.add(
        "db",
        player_fn(|ctx: Context| async move {
            ctx.ready_with(Pool(ctx.attempt()));
            ctx.cancelled().await;
            Ok(())
        }),
    )
    .unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let api_seen = seen.clone();
    let api = player_fn(move |ctx: Context| {
        let seen = api_seen.clone();
        async move {
            seen.lock()
                .unwrap()
                .push(ctx.dependency::<Pool>("db").map_err(|e| e.to_string()));
            ctx.cancelled().await;
            Ok(())
        }
    });
    app.add_with("api", api, PlayerOptions::new().after("db"))
        .unwrap();
    let runner = app.runner();
    let handle = runner.handle();
    let run = tokio::spawn(runner.play_until(std::future::pending()));
    sleep(millis(1)).await;

    handle.stop("app/db").await.unwrap();
    handle.restart("app/api").await.unwrap();
    sleep(millis(1)).await;
    handle.start("app/db").await.unwrap();
    handle.restart("app/api").await.unwrap();
    sleep(millis(1)).await;
    handle.stop_all();
    run.await.unwrap().unwrap();

    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 3, "{seen:?}");
    assert_eq!(seen[0], Ok(Pool(1)));
    // Stopped, `db` hands nothing over: its run has ended.
    let stopped = seen[1].as_ref().unwrap_err();
    assert!(stopped.contains("has handed no value over"), "{stopped}");
    // Started again, it hands over its new run's value.
    assert_eq!(seen[2], Ok(Pool(2)));
}
