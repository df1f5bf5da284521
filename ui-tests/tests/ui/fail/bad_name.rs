use orchestra::{BoxError, Conductor, Context, Player};

struct Http;

impl Player for Http {
    async fn play(&mut self, _: Context) -> Result<(), BoxError> {
        Ok(())
    }
}

#[derive(Conductor)]
#[conductor(name = "")]
struct App {
    #[player(name = "jobs/mailer")]
    http: Http,
    #[player(name = 5)]
    jobs: Http,
}

fn main() {}
