//! Derived conductors nest in each other and in runtime-built conductors,
//! with full paths in logs and errors, and describe their tree.

mod support;

use orchestra::{Conductor, Error, PlayExt, PlayerOptions, Restart};
use support::probe::{Probe, Script};
use support::{Log, secs};
use tokio::time::{Instant, sleep};

#[derive(Conductor)]
struct Mail {
    mailer: Probe,
    #[player(timeout = "1s")]
    bounces: Probe,
}

#[derive(Conductor)]
struct Jobs {
    mail: Mail,
    cleaner: Probe,
}

#[derive(Conductor)]
#[conductor(name = "app", timeout = "5s")]
struct Service {
    http: Probe,
    jobs: Jobs,
}

fn service(log: &Log, t0: Instant, mailer: Script) -> Service {
    Service {
        http: Probe::idle(log, t0),
        jobs: Jobs {
            mail: Mail {
                mailer: Probe::new(log, t0, mailer),
                bounces: Probe::idle(log, t0),
            },
            cleaner: Probe::idle(log, t0),
        },
    }
}

const LEAVES: [&str; 4] = [
    "app/http",
    "app/jobs/mail/mailer",
    "app/jobs/mail/bounces",
    "app/jobs/cleaner",
];

#[tokio::test(start_paused = true)]
async fn nested_conductors_run_every_leaf_under_its_full_path() {
    let (log, t0) = Log::new();

    service(&log, t0, Script::Idle)
        .play_until(sleep(secs(1)))
        .await
        .unwrap();

    for path in LEAVES {
        assert_eq!(log.at(&format!("{path} started")), Some(secs(0)), "{path}");
        assert_eq!(log.at(&format!("{path} stopped")), Some(secs(1)), "{path}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_failure_three_deep_stops_everything_and_names_its_full_path() {
    let (log, t0) = Log::new();

    let error = service(&log, t0, Script::Fail(secs(2), "smtp refused"))
        .play_until(std::future::pending())
        .await
        .unwrap_err();

    let Error::Failed { path, source, .. } = &error else {
        panic!("expected Failed, got {error:?}");
    };
    assert_eq!(&**path, "app/jobs/mail/mailer");
    assert_eq!(source.to_string(), "smtp refused");
    for path in ["app/http", "app/jobs/mail/bounces", "app/jobs/cleaner"] {
        assert_eq!(log.at(&format!("{path} stopped")), Some(secs(2)), "{path}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_straggler_deep_down_is_named_by_its_full_path() {
    let (log, t0) = Log::new();
    let mut app = service(&log, t0, Script::Idle);
    app.jobs.mail.bounces = Probe::new(&log, t0, Script::Stuck);

    let error = app.play_until(sleep(secs(1))).await.unwrap_err();

    let Error::StopTimedOut { stragglers } = &error else {
        panic!("expected StopTimedOut, got {error:?}");
    };
    assert_eq!(stragglers.len(), 1);
    assert_eq!(&*stragglers[0].path, "app/jobs/mail/bounces");
    assert_eq!(stragglers[0].waited, secs(1));
    assert_eq!(t0.elapsed(), secs(2));
}

#[tokio::test(start_paused = true)]
async fn a_derived_conductor_nests_in_a_runtime_built_one() {
    let (log, t0) = Log::new();
    let mut top = Conductor::named("top");
    top.add("service", service(&log, t0, Script::Idle)).unwrap();
    top.add_with(
        "boxed",
        Box::new(Mail {
            mailer: Probe::idle(&log, t0),
            bounces: Probe::idle(&log, t0),
        }),
        PlayerOptions::new().restart(Restart::OnFailure),
    )
    .unwrap();

    assert_eq!(
        format!("{:#}", top.describe()),
        "top[service(timeout = 5s)[http, jobs[mail[mailer, bounces(timeout = 1s)], cleaner]], \
         boxed(restart = on-failure)[mailer, bounces(timeout = 1s)]]"
    );
    top.play_until(sleep(secs(1))).await.unwrap();

    for path in [
        "top/service/jobs/mail/mailer",
        "top/service/http",
        "top/boxed/mailer",
    ] {
        assert_eq!(log.at(&format!("{path} stopped")), Some(secs(1)), "{path}");
    }
}

#[derive(Conductor)]
struct Fleet {
    #[player(after = "coordinator")]
    workers: Conductor,
    coordinator: Probe,
}

#[tokio::test(start_paused = true)]
async fn a_runtime_built_conductor_nests_in_a_derived_one() {
    let (log, t0) = Log::new();
    let mut workers = Conductor::named("ignored");
    for n in 0..3 {
        workers
            .add(&format!("w{n}"), Probe::idle(&log, t0))
            .unwrap();
    }
    let fleet = Fleet {
        workers,
        coordinator: Probe::new(&log, t0, Script::ReadyAfter(secs(1))),
    };

    fleet.play_until(sleep(secs(2))).await.unwrap();

    for n in 0..3 {
        assert_eq!(
            log.at(&format!("fleet/workers/w{n} started")),
            Some(secs(1))
        );
        assert_eq!(
            log.at(&format!("fleet/workers/w{n} stopped")),
            Some(secs(2))
        );
    }
    // The workers stop before the coordinator they started after.
    let coordinator = log.position("fleet/coordinator stopped").unwrap();
    assert!(log.position("fleet/workers/w0 stopped").unwrap() < coordinator);
}

#[test]
fn a_derived_conductor_describes_its_tree() {
    let (log, t0) = Log::new();
    let app = service(&log, t0, Script::Idle);
    let tree = app.describe();

    assert_eq!(tree.name(), "app");
    assert_eq!(tree.paths(), LEAVES);
    assert_eq!(
        tree.to_string(),
        "\
app (timeout = 5s)
├── http : Probe
└── jobs
    ├── mail
    │   ├── mailer : Probe
    │   └── bounces (timeout = 1s) : Probe
    └── cleaner : Probe"
    );
    let dot = tree.to_dot();
    assert!(dot.contains("\"app/jobs\" -> \"app/jobs/mail\""), "{dot}");
    assert!(
        dot.contains("\"app/jobs/mail\" -> \"app/jobs/mail/bounces\""),
        "{dot}"
    );

    let fleet = Fleet {
        workers: Conductor::named("workers"),
        coordinator: Probe::idle(&log, t0),
    };
    let dot = fleet.describe().to_dot();
    assert!(
        dot.contains("\"fleet/coordinator\" -> \"fleet/workers\" [style=dashed, label=\"after\"]"),
        "{dot}"
    );
}

#[derive(Conductor)]
#[conductor(timeout = "2s")]
struct Strict {
    /// Asks for more than its conductor's whole budget.
    #[player(timeout = "5s")]
    stuck: Probe,
}

#[derive(Conductor)]
#[conductor(timeout = "9s")]
struct Outer {
    strict: Strict,
    http: Probe,
}

#[tokio::test(start_paused = true)]
async fn played_in_place_a_nested_conductor_keeps_its_own_budget_and_paths() {
    use orchestra::CancellationToken;
    use orchestra::{Context, Player};

    let (log, t0) = Log::new();
    let mut outer = Outer {
        strict: Strict {
            stuck: Probe::new(&log, t0, Script::Stuck),
        },
        http: Probe::idle(&log, t0),
    };
    let token = CancellationToken::new();
    let stop = token.clone();
    tokio::spawn(async move {
        sleep(secs(1)).await;
        stop.cancel();
    });

    let error = Player::play(&mut outer, Context::new("svc", token))
        .await
        .expect_err("the stuck player is aborted");

    assert_eq!(
        t0.elapsed(),
        secs(3),
        "Strict's whole budget (2 s) bounds its player's own 5 s"
    );
    let error = error
        .downcast::<Error>()
        .expect("the conductor's own error, passed through");
    assert!(
        matches!(&*error, Error::StopTimedOut { stragglers }
            if stragglers.len() == 1 && &*stragglers[0].path == "svc/strict/stuck"),
        "{error:?}"
    );
}
