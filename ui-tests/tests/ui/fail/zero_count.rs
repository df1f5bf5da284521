use orchestra::{BoxError, Conductor, Context, Player};

struct Http;

impl Player for Http {
    async fn play(&mut self, _: Context) -> Result<(), BoxError> {
        Ok(())
    }
}

#[derive(Conductor)]
struct App {
    #[player(restart = "on-failure", max_attempts = 0)]
    a: Http,
    #[player(restart = "on-failure", max_restarts = 0, within = "1m")]
    b: Http,
    #[player(restart = "on-failure", max_attempts = -1)]
    c: Http,
}

fn main() {}
