use orchestra::{BoxError, Conductor, Context, Player};

struct Http;

impl Player for Http {
    async fn play(&mut self, _: Context) -> Result<(), BoxError> {
        Ok(())
    }
}

#[derive(Conductor)]
struct App {
    #[player(restart = "on-failure", max_restarts = 5)]
    a: Http,
    #[player(restart = "on-failure", within = "1m")]
    b: Http,
}

fn main() {}
