use orchestra::{BoxError, Conductor, Context, Player};

struct Http;

impl Player for Http {
    async fn play(&mut self, _: Context) -> Result<(), BoxError> {
        Ok(())
    }
}

#[derive(Conductor)]
struct App {
    #[player(backoff = "zero")]
    a: Http,
    #[player(restart = "never", stable_after = "1m")]
    b: Http,
}

fn main() {}
