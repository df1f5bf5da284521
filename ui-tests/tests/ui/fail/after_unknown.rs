use orchestra::{BoxError, Conductor, Context, Player};

struct Http;

impl Player for Http {
    async fn play(&mut self, _: Context) -> Result<(), BoxError> {
        Ok(())
    }
}

#[derive(Conductor)]
struct App {
    #[player(name = "database")]
    db: Http,
    #[player(skip)]
    cache: String,
    #[player(after = "dtabase")]
    a: Http,
    #[player(after = "db")]
    b: Http,
    #[player(after = "cache")]
    c: Http,
}

fn main() {}
