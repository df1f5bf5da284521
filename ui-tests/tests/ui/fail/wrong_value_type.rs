use orchestra::{BoxError, Conductor, Context, Player};

struct Http;

impl Player for Http {
    async fn play(&mut self, _: Context) -> Result<(), BoxError> {
        Ok(())
    }
}

#[derive(Conductor)]
struct App {
    #[player(timeout = 5)]
    a: Http,
    #[player(max_attempts = "3", restart = "always")]
    b: Http,
    #[player(timeout)]
    c: Http,
    #[player(skip = true)]
    d: Http,
    #[player(delay("1s"))]
    e: Http,
    #[player(after = db)]
    f: Http,
}

fn main() {}
