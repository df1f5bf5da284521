use orchestra::{BoxError, Conductor, Context, Player};

struct Http;

impl Player for Http {
    async fn play(&mut self, _: Context) -> Result<(), BoxError> {
        Ok(())
    }
}

#[derive(Conductor)]
struct App {
    #[player(restart = "on-failure", backoff = "exponentail")]
    http: Http,
    #[player(restart = "on-failure", backoff = "my_backoff")]
    jobs: Http,
}

fn main() {}
