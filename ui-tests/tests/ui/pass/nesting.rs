//! Derived conductors nest in each other, hold runtime-built conductors,
//! and are added to runtime-built conductors.
#![deny(warnings)]

use orchestra::{BoxError, Conductor, Context, PlayExt, Player, PlayerOptions, Restart};

struct Mailer;

impl Player for Mailer {
    async fn play(&mut self, ctx: Context) -> Result<(), BoxError> {
        ctx.cancelled().await;
        Ok(())
    }
}

#[derive(Conductor)]
struct Jobs {
    mailer: Mailer,
}

#[derive(Conductor)]
#[conductor(name = "app")]
struct Service {
    jobs: Jobs,
    #[player(restart = "on-failure")]
    boxed: Box<Jobs>,
    workers: Conductor,
}

/// A derived conductor runs until a signal on a task of its own.
fn spawnable(app: Service) -> impl Future<Output = Result<(), orchestra::Error>> + Send + 'static {
    app.play_until_signal()
}

fn main() {
    let mut workers = Conductor::named("workers");
    workers.add("w0", Mailer).expect("a new name");
    workers
        .add("jobs", Jobs { mailer: Mailer })
        .expect("a new name");
    let app = Service {
        jobs: Jobs { mailer: Mailer },
        boxed: Box::new(Jobs { mailer: Mailer }),
        workers,
    };
    assert_eq!(
        format!("{:#}", app.describe()),
        "app[jobs[mailer], boxed(restart = on-failure)[mailer], workers[w0, jobs[mailer]]]"
    );
    assert_eq!(
        app.describe().paths(),
        [
            "app/jobs/mailer",
            "app/boxed/mailer",
            "app/workers/w0",
            "app/workers/jobs/mailer"
        ]
    );

    drop(spawnable(Service {
        jobs: Jobs { mailer: Mailer },
        boxed: Box::new(Jobs { mailer: Mailer }),
        workers: Conductor::named("workers"),
    }));

    let mut top = Conductor::named("top");
    top.add_with(
        "service",
        app,
        PlayerOptions::new().restart(Restart::Always),
    )
    .expect("a new name");
    assert_eq!(
        format!("{:#}", top.describe()),
        "top[service(restart = always)[jobs[mailer], boxed(restart = on-failure)[mailer], workers[w0, jobs[mailer]]]]"
    );
}
