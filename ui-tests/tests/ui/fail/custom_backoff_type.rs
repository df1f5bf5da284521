use orchestra::{BoxError, Conductor, Context, Player};

struct Http;

impl Player for Http {
    async fn play(&mut self, _: Context) -> Result<(), BoxError> {
        Ok(())
    }
}

#[derive(Conductor)]
struct App {
    #[player(restart = "always", backoff = "self::my_backoff")]
    http: Http,
    #[player(restart = "always", backoff = "self::missing")]
    jobs: Http,
}

fn my_backoff() -> std::time::Duration {
    std::time::Duration::from_secs(1)
}

fn main() {}
