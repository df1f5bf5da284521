use orchestra::{BoxError, Conductor, Context, Player};

struct Http;

impl Player for Http {
    async fn play(&mut self, _: Context) -> Result<(), BoxError> {
        Ok(())
    }
}

#[derive(Conductor)]
struct App {
    db: Http,
    #[player(after("db", "http"))]
    http: Http,
}

fn main() {}
